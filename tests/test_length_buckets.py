"""Length-bucketed batches: every clip once an epoch, little padding, reproducible per seed."""

from __future__ import annotations

import numpy as np
import torch

from merflow.training.length_buckets import evaluation_batches, padding_fraction, training_batches

# A spread like EMOPIA's MIDI-like token counts (median ~950, long tail).
LENGTHS = np.random.default_rng(0).lognormal(mean=6.85, sigma=0.5, size=767).astype(int) + 1


def test_every_clip_once_per_epoch_and_no_lone_clip():
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        batches = training_batches(LENGTHS, 8, generator)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(LENGTHS)))
        assert min(len(b) for b in batches) >= 2 and max(len(b) for b in batches) <= 9
    nine = training_batches(np.ones(9), 4, torch.Generator().manual_seed(0))
    assert sorted(len(b) for b in nine) == [4, 5]


def test_buckets_pad_little_and_random_batches_pad_much():
    bucketed = training_batches(LENGTHS, 8, torch.Generator().manual_seed(0))
    order = np.random.default_rng(1).permutation(len(LENGTHS))
    random = [order[i : i + 8] for i in range(0, len(order), 8)]
    assert padding_fraction(LENGTHS, bucketed) < 0.08
    assert padding_fraction(LENGTHS, random) > 0.3


def test_reproducible_per_seed_and_different_across_epochs():
    def epochs(seed):
        generator = torch.Generator().manual_seed(seed)
        return [[b.tolist() for b in training_batches(LENGTHS, 8, generator)] for _ in range(2)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert first == again and first != other
    assert first[0] != first[1]  # batch order and membership change from epoch to epoch
    assert {tuple(sorted(b)) for b in first[0]} != {tuple(sorted(b)) for b in first[1]}


def test_evaluation_batches_follow_length_order():
    batches = evaluation_batches(np.array([5, 1, 4, 2, 3]), 2)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 2], [0]]
