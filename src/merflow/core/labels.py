"""Russell four-quadrant labels and their valence/arousal bits.

Conventions
-----------
``quadrant`` is an integer 1..4 everywhere (files, tables, configs):
Q1 = high valence / high arousal, Q2 = low V / high A, Q3 = low V / low A,
Q4 = high V / low A. ``arousal`` and ``valence`` are 0/1 (1 = high).
Model outputs use 0-based class indices ``quadrant - 1``.
"""

from __future__ import annotations

import numpy as np

QUADRANTS = (1, 2, 3, 4)
QUADRANT_NAMES = {1: "Q1 happy", 2: "Q2 tense", 3: "Q3 sad", 4: "Q4 calm"}


def arousal_of(quadrant: np.ndarray | int) -> np.ndarray:
    """High arousal (1) for Q1 and Q2, low (0) for Q3 and Q4."""
    q = np.asarray(quadrant)
    _check(q)
    return np.isin(q, (1, 2)).astype(np.int64)


def valence_of(quadrant: np.ndarray | int) -> np.ndarray:
    """High valence (1) for Q1 and Q4, low (0) for Q2 and Q3."""
    q = np.asarray(quadrant)
    _check(q)
    return np.isin(q, (1, 4)).astype(np.int64)


def quadrant_of(valence: np.ndarray | int, arousal: np.ndarray | int) -> np.ndarray:
    """Inverse of :func:`valence_of` / :func:`arousal_of` for 0/1 bits."""
    v = np.asarray(valence).astype(bool)
    a = np.asarray(arousal).astype(bool)
    return np.where(a, np.where(v, 1, 2), np.where(v, 4, 3)).astype(np.int64)


def _check(q: np.ndarray) -> None:
    if not np.isin(q, QUADRANTS).all():
        raise ValueError(f"quadrants must be in 1..4, got {np.unique(q).tolist()}")
