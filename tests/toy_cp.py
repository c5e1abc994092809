"""Toy CP datasets and a tiny MIDI-BERT for fast fine-tuning and probing tests."""

from __future__ import annotations

import numpy as np

from merflow.models.midibert import MidiBertConfig
from merflow.tokenizers.cp import N_PITCHES

TINY = MidiBertConfig.preset(
    "cpu", num_layers=2, num_heads=2, hidden_size=32, intermediate_size=64, max_len=64
)


def clip_tokens(rng: np.random.Generator, n: int, pitch_center: int) -> np.ndarray:
    tokens = np.zeros((n, 4), dtype=np.int64)
    tokens[:, 0] = rng.integers(0, 2, n)
    tokens[:, 1] = rng.integers(0, 16, n)
    tokens[:, 2] = np.clip(pitch_center + rng.integers(-3, 4, n), 0, N_PITCHES - 1)
    tokens[:, 3] = rng.integers(0, 64, n)
    return tokens


def toy_dataset(n_clips: int = 16, seed: int = 0):
    """Quadrant q's clips use pitches around 10 + 15 q: learnable from the tokens alone."""
    rng = np.random.default_rng(seed)
    tokens, minor, quadrant = {}, {}, {}
    for i in range(n_clips):
        q = i % 4 + 1
        clip = f"c{i:02d}"
        tokens[clip] = clip_tokens(rng, int(rng.integers(20, 90)), 10 + 15 * q)
        minor[clip] = int(q in (2, 3))
        quadrant[clip] = q
    return tokens, minor, quadrant
