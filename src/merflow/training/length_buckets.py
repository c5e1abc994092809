"""Batches of clips of similar length: what a padded batch costs is its longest clip.

Conventions
-----------
- ``lengths``: int ``(n_items,)``, each item's cost length (tokens of a token model, frames
  after cropping of a frame model). A batch is padded to its longest item, so random batches
  of 8 EMOPIA clips (MIDI-like tokens: median 946, longest 3,691) are 86% padding, and
  batches cut from the length order 1.6% (``shared/findings/packed-rnn-backward.md``).
- :func:`training_batches`: every item exactly once per epoch. Items are sorted by their
  length times a random factor ``exp(u)``, ``u ~ U(-jitter, jitter)`` (so that clips of
  similar length meet in different batches from one epoch to the next), cut into batches of
  ``batch_size`` in that order, and the batches are shuffled. All randomness comes from the
  ``generator``: one seed, one sequence of epochs. A lone last item joins its neighbour batch
  (BatchNorm needs two items in training). With equal lengths this is a shuffled batching.
- :func:`evaluation_batches`: the items in length order (stable), cut into batches; the
  caller puts the outputs back in item order with the concatenated indices.
"""

from __future__ import annotations

import numpy as np
import torch

#: Half-width of the log-length jitter of :func:`training_batches` (factors 0.90..1.11).
DEFAULT_JITTER = 0.1


def _cut(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    size = max(2, batch_size)
    batches = [order[start : start + size] for start in range(0, len(order), size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def training_batches(
    lengths: np.ndarray, batch_size: int, generator: torch.Generator, jitter: float = DEFAULT_JITTER
) -> list[np.ndarray]:
    """One epoch of length-bucketed, shuffled batches of item indices (see the module conventions)."""
    lengths = np.asarray(lengths, dtype=np.float64)
    u = (torch.rand(len(lengths), generator=generator, dtype=torch.float64).numpy() * 2 - 1) * jitter
    order = np.argsort(lengths * np.exp(u), kind="stable")
    batches = _cut(order, batch_size)
    shuffled = torch.randperm(len(batches), generator=generator).numpy()
    return [batches[i] for i in shuffled]


def evaluation_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Item indices in length order, cut into batches of ``batch_size`` (the last may be smaller)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[start : start + max(1, batch_size)] for start in range(0, len(order), max(1, batch_size))]


def padding_fraction(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Share of the padded positions of ``batches`` that are padding (0 = none)."""
    lengths = np.asarray(lengths)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    return 1.0 - lengths.sum() / padded if padded else 0.0
