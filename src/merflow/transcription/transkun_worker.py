"""Transkun worker: runs inside the transkun environment, never imported by merflow itself.

transkun needs ``torchaudio``, whose PyPI build does not load beside the CPU torch of the
main environment, so transkun lives in an environment of its own (``make transkun-env``:
torch 2.9.1 + torchaudio 2.9.1 + transkun 2.0.1, see ``envs/transkun.txt``). This file is
started there as a script (``<transkun python> -P transkun_worker.py``; ``-P`` keeps this
folder, which holds merflow's own ``transkun.py``, off ``sys.path``) by
:class:`merflow.transcription.transkun.TranskunTranscriber`; it imports only the standard
library, NumPy, PyTorch and transkun.

Protocol (one JSON object per line):

- on start the worker loads the model bundled in the transkun wheel (or ``--weight`` /
  ``--conf``) and writes ``{"ready": true, "sample_rate": <Hz>, "transkun": <version>}``;
- each request on stdin is ``{"audio": <path of a .npy float32 (n_samples,) mono array at
  the model's sample rate>}``; the reply is ``{"notes": [[onset_s, offset_s, pitch,
  velocity], ...]}`` (onset order; sustain-pedal events, which transkun reports with
  pitch <= 0, are left out) or ``{"error": "<message>"}``;
- end of stdin ends the worker.

Logs and library warnings go to stderr; stdout carries only the protocol.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from importlib import metadata, resources


def load_model(weight: str | None, conf: str | None, device: str):
    """The transkun model (eval mode) from its bundled checkpoint, or the given files."""
    import moduleconf
    import torch

    pretrained = resources.files("transkun") / "pretrained"
    conf_path = conf or str(pretrained / "2.0.conf")
    weight_path = weight or str(pretrained / "2.0.pt")
    conf_manager = moduleconf.parseFromFile(conf_path)
    model_class = conf_manager["Model"].module.TransKun
    checkpoint = torch.load(weight_path, map_location=device)
    model = model_class(conf=conf_manager["Model"].config).to(device)
    state = checkpoint.get("best_state_dict", checkpoint.get("state_dict"))
    model.load_state_dict(state, strict=False)  # transkun's own loader is non-strict too
    model.eval()
    return model


def transcribe(model, audio_path: str, device: str) -> list[list[float]]:
    """Notes ``[onset_s, offset_s, pitch, velocity]`` of the mono float32 array in ``audio_path``."""
    import numpy as np
    import torch

    audio = np.load(audio_path).astype(np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"expected a non-empty mono array, got shape {audio.shape}")
    with torch.no_grad():
        notes = model.transcribe(torch.from_numpy(audio[:, None]).to(device), discardSecondHalf=False)
    rows = [[float(n.start), float(n.end), int(n.pitch), int(n.velocity)] for n in notes if n.pitch > 0]
    return sorted(rows)


def serve(model, device: str, requests, replies) -> None:
    """Answer each request line of ``requests`` on ``replies`` (see the module protocol)."""
    for line in requests:
        if not line.strip():
            continue
        try:
            reply = {"notes": transcribe(model, json.loads(line)["audio"], device)}
        except Exception as exc:  # one bad clip must not end the worker
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="torch device; auto = cuda if available, else cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = default)")
    parser.add_argument("--weight", default=None, help="checkpoint (default: the wheel's 2.0.pt)")
    parser.add_argument("--conf", default=None, help="model conf (default: the wheel's 2.0.conf)")
    args = parser.parse_args(argv)
    # transkun runs its inference under torch.utils.checkpoint, which warns once per call
    warnings.filterwarnings("ignore", message="None of the inputs have requires_grad")
    warnings.filterwarnings("ignore", message=".*use_reentrant parameter should be passed")
    protocol = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # stray prints must not corrupt the protocol
        import torch

        if args.threads > 0:
            torch.set_num_threads(args.threads)
        if args.device == "auto":
            args.device = "cuda" if torch.cuda.is_available() else "cpu"
        model = load_model(args.weight, args.conf, args.device)
    protocol.write(
        json.dumps(
            {
                "ready": True,
                "sample_rate": int(model.fs),
                "transkun": metadata.version("transkun"),
                "device": args.device,
            }
        )
        + "\n"
    )
    protocol.flush()
    with contextlib.redirect_stdout(sys.stderr):
        serve(model, args.device, sys.stdin, protocol)


if __name__ == "__main__":
    main()
