"""Seconds per training step of neural models in both memory layouts (synthetic inputs).

Usage: python benchmarks/bench_training_step.py [--preset cpu] [--threads 1] [--batch 32]
       [--tokens 256] [--frames 325] [--steps 8] [--models zhu,zhu_stft_input,zhao_yoshii]

One optimisation step = forward, the model's loss, backward and an Adam update on one batch
of ``--batch`` synthetic clips with EMOPIA's shapes (``bench_neural.synthetic_tables``),
cropped and padded as in training (:func:`merflow.training.neural_inputs.build_clip_set`). Each
model is timed as :func:`merflow.training.neural.build_model` builds it (4-D weights in
channels-last layout) and converted back to PyTorch's default contiguous layout. Prints the
median over ``--steps`` steps after two warm-up steps: the per-step figures behind the CPU
preset's sizes (``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from bench_neural import model_tables

from merflow.models.baselines import ShortChunkResNetConfig
from merflow.training.neural import NeuralSettings, build_model, neural_model_config
from merflow.training.neural_inputs import build_clip_set, frame_rows, model_batch

WARM_UP_STEPS = 2
LAYOUTS = {"channels-last": torch.channels_last, "contiguous": torch.contiguous_format}


def step_seconds(model: torch.nn.Module, batch: dict, labels: torch.Tensor, steps: int) -> float:
    """Median seconds of one training step of ``model`` on ``batch`` (after warm-up steps)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for _ in range(WARM_UP_STEPS + steps):
        started = time.perf_counter()
        loss = model.loss(model(**batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return statistics.median(times[WARM_UP_STEPS:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=256, help="tokens per clip (= max_tokens)")
    parser.add_argument("--frames", type=int, default=325, help="frames per clip (= max_frames)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--models", default="zhu,zhu_stft_input,zhao_yoshii")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = NeuralSettings(preset=args.preset, max_tokens=args.tokens, max_frames=args.frames)
    print(
        f"preset {args.preset}, {args.threads} threads, batch {args.batch}, "
        f"{args.tokens} tokens, {args.frames} frames: seconds per training step (median)"
    )
    for name in args.models.split(","):
        model_settings, manifest, tables = model_tables(name, args.batch, args.tokens, args.frames)
        config = neural_model_config(settings, model_settings, frame_rows(tables["frames"]))
        clips, _, _ = build_clip_set(manifest, tables, config, "main", args.tokens)
        train = clips.subset(np.arange(args.batch))  # the manifest lists the training clips first
        chunk_frames = (
            config.chunk_frames(settings.frame_rate_hz)
            if isinstance(config, ShortChunkResNetConfig)
            else None
        )
        batch = model_batch(train, settings.max_frames, chunk_frames, np.random.default_rng(0))
        labels = torch.as_tensor(train.labels)
        figures = []
        for layout, memory_format in LAYOUTS.items():
            torch.manual_seed(0)
            model = build_model(config).to(memory_format=memory_format)
            figures.append(f"{layout} {step_seconds(model, batch, labels, args.steps):.3f} s")
        print(f"{name:26s} " + ", ".join(figures))


if __name__ == "__main__":
    main()
