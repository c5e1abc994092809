"""transkun (Yan & Duan, 2024) piano transcription backend, run in its own Python environment.

Conventions
-----------
transkun imports ``torchaudio``, whose PyPI build does not load beside the main
environment's CPU torch 2.13, so it is installed in a separate environment (``make
transkun-env`` builds ``.venv-transkun`` from ``envs/transkun.txt``: torch 2.9.1,
torchaudio 2.9.1, transkun 2.0.1 with its 56 MB checkpoint inside the wheel). The
config key ``transcription.transkun.python`` names that environment's interpreter.

:class:`TranskunTranscriber` starts :mod:`merflow.transcription.transkun_worker` there once
(the model loads once per job, not per clip) and talks to it over a line-based JSON protocol
(see that module). The main process decodes each clip itself with
:func:`merflow.music.audio_features.load_audio` at the model's rate (44.1 kHz, channels averaged),
so missing, corrupt and silent audio get the same ledger reasons as with every other backend,
and hands the worker a float32 ``.npy`` file. Notes come back in seconds with transkun's
velocities; sustain-pedal events are left out. A clip yielding no notes raises ``no_notes``;
a worker that dies or answers garbage raises :class:`TranskunError` (a broken environment,
not a bad clip, so the job fails loudly).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from merflow.core.errors import InputError
from merflow.music.audio_features import load_audio
from merflow.music.midi import Notes

#: The worker script, run by the transkun environment's interpreter.
WORKER = Path(__file__).with_name("transkun_worker.py")
#: Where ``make transkun-env`` puts the environment's interpreter (relative to the repository).
DEFAULT_PYTHON = ".venv-transkun/bin/python"

log = logging.getLogger(__name__)


def _forward_lines(stream: IO[str] | None) -> None:
    """Log each line the worker writes to stderr (its warnings and tracebacks) in the job's log."""
    if stream is None:
        return
    for line in stream:
        if line.strip():
            log.info("transkun worker: %s", line.rstrip())


class TranskunError(RuntimeError):
    """The transkun environment is missing or its worker failed (not a property of one clip)."""


class TranskunTranscriber:
    """Transcribe piano audio with transkun in a worker process (see the module conventions).

    Args:
        python: interpreter of the transkun environment.
        device: torch device of the worker (``auto``: CUDA when available, else CPU).
        threads: torch threads of the worker (0 = torch's default).
        weight, conf: another checkpoint and model conf (default: those in the transkun wheel).
    """

    name = "transkun"

    def __init__(
        self,
        python: str = DEFAULT_PYTHON,
        device: str = "auto",
        threads: int = 0,
        weight: str | None = None,
        conf: str | None = None,
    ) -> None:
        # -P: the worker's folder must not shadow the `transkun` package (this module's name)
        self.command = [str(python), "-P", str(WORKER), "--device", device, "--threads", str(threads)]
        self.command += [
            arg for flag, value in (("--weight", weight), ("--conf", conf)) if value for arg in (flag, value)
        ]
        self.python = Path(python)
        self._process: subprocess.Popen[str] | None = None
        self.sample_rate = 0
        self.version = ""

    def _start(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        if not self.python.is_file():
            raise TranskunError(
                f"transkun environment not found: {self.python} does not exist; build it with "
                "`make transkun-env` or set transcription.transkun.python"
            )
        log.info("starting transkun worker: %s", " ".join(self.command))
        self._process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=_forward_lines, args=(self._process.stderr,), daemon=True).start()
        hello = self._read_reply(self._process.stdout)
        if not hello.get("ready"):
            raise TranskunError(f"transkun worker did not start: {hello}")
        self.sample_rate, self.version = int(hello["sample_rate"]), str(hello["transkun"])
        log.info("transkun %s ready on %s (%d Hz)", self.version, hello.get("device"), self.sample_rate)
        return self._process

    def _read_reply(self, stream: IO[str] | None) -> dict[str, Any]:
        line = stream.readline() if stream is not None else ""
        if not line:
            code = self._process.wait() if self._process is not None else None
            raise TranskunError(f"transkun worker exited (code {code}); its messages are in this job's log")
        try:
            return json.loads(line)
        except json.JSONDecodeError as exc:
            raise TranskunError(f"transkun worker answered something else than JSON: {line[:200]!r}") from exc

    def transcribe(self, audio_path: Path, item: str) -> Notes:
        """Notes of the audio file ``audio_path`` (clip ``item``), times in seconds.

        Raises:
            InputError: ``missing_file``, ``corrupt_audio``, ``silent_audio`` (from
                :func:`load_audio`), ``no_notes``, or ``transcription_failed`` when transkun
                raises on this clip.
            TranskunError: the environment is missing or the worker died.
        """
        process = self._start()
        audio = load_audio(Path(audio_path), self.sample_rate, item)
        with tempfile.TemporaryDirectory(prefix="merflow-transkun-") as tmp:
            array_path = Path(tmp) / "audio.npy"
            np.save(array_path, audio)
            assert process.stdin is not None
            process.stdin.write(json.dumps({"audio": str(array_path)}) + "\n")
            process.stdin.flush()
            reply = self._read_reply(process.stdout)
        if "error" in reply:
            raise InputError(item, "transcription_failed", f"transkun: {reply['error']}", audio_path)
        rows = np.asarray(reply["notes"], dtype=np.float64).reshape(-1, 4)
        rows = rows[rows[:, 1] > rows[:, 0]]
        rows = rows[np.lexsort((rows[:, 2], rows[:, 0]))]  # by onset, then pitch
        if len(rows) == 0:
            raise InputError(item, "no_notes", "transkun detected no notes", audio_path)
        return Notes(
            onset=rows[:, 0],
            offset=rows[:, 1],
            pitch=rows[:, 2].astype(np.int64),
            velocity=np.clip(rows[:, 3], 1, 127).astype(np.int64),
        )

    def close(self) -> None:
        """End the worker (closing its stdin), waiting for it to exit."""
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._process = None

    def __del__(self) -> None:
        if sys is not None and self._process is not None:  # not during interpreter shutdown
            self.close()
