"""Seconds per training epoch of every neural model and ablation on this machine (synthetic inputs).

Usage: python benchmarks/bench_neural.py [--preset cpu] [--clips 96] [--threads 2] [--batch 32]
       [--tokens 1024] [--frames 1300] [--models zhu,zhao_yoshii]

Builds a synthetic dataset of EMOPIA's shapes (``--clips`` training clips, a quarter of that
for validation and test; 1,024 tokens and 1,300 frames at 43 Hz per clip, every frame
feature of :mod:`merflow.music.audio_features`) and times one epoch of
:func:`merflow.training.neural.train_neural` (training, validation and test prediction) for
each model entry of ``config/neural_cpu.yaml``'s kinds. Prints seconds per epoch and the
estimate for one EMOPIA epoch (767 training clips): the figures to size the CPU preset
against the 2-hour budget of the neural table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from merflow.music.audio_features import FEATURES, AudioFeatureConfig
from merflow.tokenizers import midi_like, refined_midi_like, remi
from merflow.training.neural import NeuralSettings, train_neural

EMOPIA_TRAIN_CLIPS = 767
N_TOKENS = 1024
N_FRAMES = 1300
MODELS = {
    "lstm_attn_midi_like": {"estimator": "lstm_attn", "tokenizer": "midi_like"},
    "lstm_attn_remi": {"estimator": "lstm_attn", "tokenizer": "remi"},
    "short_chunk_resnet": {"estimator": "short_chunk_resnet"},
    "zhao_yoshii": {"estimator": "zhao_yoshii", "tokenizer": "midi_like"},
    "zhao_yoshii_no_attention": {
        "estimator": "zhao_yoshii",
        "tokenizer": "midi_like",
        "ablation": "no_attention",
    },
    "zhu": {"estimator": "zhu", "tokenizer": "refined_midi_like"},
    "zhu_stft_input": {"estimator": "zhu", "tokenizer": "refined_midi_like", "ablation": "stft_input"},
}
VOCABS = {
    "midi_like": midi_like.VOCAB_SIZE,
    "remi": remi.VOCAB_SIZE,
    "refined_midi_like": refined_midi_like.VOCAB_SIZE,
}


def synthetic_tables(
    n_train: int, tokenizer: str, n_tokens: int = N_TOKENS, n_frames: int = N_FRAMES, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Manifest, token table and frame cache of random clips with EMOPIA's sizes."""
    rng = np.random.default_rng(seed)
    n_other = max(n_train // 4, 4)
    splits = ["train"] * n_train + ["val"] * n_other + ["test"] * n_other
    ids = [f"c{i}" for i in range(len(splits))]
    manifest = pd.DataFrame({"clip_id": ids, "quadrant": rng.integers(1, 5, len(ids)), "split": splits})
    tokens = pd.DataFrame(
        {
            "clip_id": ids,
            "tokens": [rng.integers(0, VOCABS[tokenizer], n_tokens) for _ in ids],
            "n_tokens": n_tokens,
        }
    )
    rows = AudioFeatureConfig().feature_rows()
    frames = pd.DataFrame(
        {
            "clip_id": ids,
            "n_frames": n_frames,
            **{
                name: [list(rng.normal(size=(rows[name], n_frames)).astype(np.float32)) for _ in ids]
                for name in FEATURES
            },
        }
    )
    return manifest, {"tokens": tokens, "frames": frames}


def model_tables(
    name: str, n_train: int, n_tokens: int, n_frames: int
) -> tuple[dict[str, str], pd.DataFrame, dict[str, pd.DataFrame]]:
    """The settings of model entry ``name`` and synthetic tables for its tokenizer."""
    model = MODELS[name]
    manifest, tables = synthetic_tables(n_train, model.get("tokenizer", "midi_like"), n_tokens, n_frames)
    return model, manifest, tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--clips", type=int, default=96, help="training clips")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=N_TOKENS, help="tokens per clip (= max_tokens)")
    parser.add_argument("--frames", type=int, default=N_FRAMES, help="frames per clip (= max_frames)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of the models")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = NeuralSettings(
        preset=args.preset,
        epochs=1,
        patience=1,
        batch_size=args.batch,
        max_tokens=args.tokens,
        max_frames=args.frames,
    )
    print(
        f"preset {args.preset}, {args.threads} threads, batch {args.batch}, {args.clips} training clips "
        f"of {args.tokens} tokens and {args.frames} frames"
    )
    for name in args.models.split(","):
        model, manifest, tables = model_tables(name, args.clips, args.tokens, args.frames)
        started = time.perf_counter()
        run = train_neural(manifest, tables, settings, model, "main", 0, torch.device("cpu"))
        seconds = time.perf_counter() - started
        epoch = seconds * EMOPIA_TRAIN_CLIPS / args.clips
        print(
            f"{name:26s} {run.history['n_parameters']:>10,d} parameters: {seconds:6.1f} s per epoch "
            f"(EMOPIA epoch ~{epoch / 60:.1f} min)"
        )


if __name__ == "__main__":
    main()
