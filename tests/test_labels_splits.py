from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from merflow.core.labels import arousal_of, quadrant_of, valence_of
from merflow.datasets.splits import split_for_part


def test_quadrant_bits_follow_russell():
    q = np.array([1, 2, 3, 4])
    assert arousal_of(q).tolist() == [1, 1, 0, 0]
    assert valence_of(q).tolist() == [1, 0, 0, 1]
    assert quadrant_of(valence_of(q), arousal_of(q)).tolist() == [1, 2, 3, 4]


def test_invalid_quadrant_rejected():
    with pytest.raises(ValueError, match=r"1\.\.4"):
        arousal_of(np.array([0, 5]))


def test_fold_partition_rotates_test_and_validation():
    manifest = pd.DataFrame({"fold": [0, 1, 2, 0, 1, 2], "split": ["none"] * 6})
    assert split_for_part(manifest, "fold0").tolist() == ["test", "val", "train", "test", "val", "train"]
    assert split_for_part(manifest, "fold2").tolist() == ["val", "train", "test", "val", "train", "test"]
    assert split_for_part(manifest, "main").tolist() == ["none"] * 6
    with pytest.raises(ValueError, match="only 3 folds"):
        split_for_part(manifest, "fold3")
    with pytest.raises(ValueError, match="unknown partition"):
        split_for_part(manifest, "holdout")


def test_named_split_partition_reads_its_column():
    manifest = pd.DataFrame(
        {
            "split": ["train", "test", "val"],
            "split_official": ["train", "test", "val"],
            "split_midibert": ["test", "train", "train"],
        }
    )
    assert split_for_part(manifest, "midibert").tolist() == ["test", "train", "train"]
    assert split_for_part(manifest, "official").tolist() == ["train", "test", "val"]
    with pytest.raises(ValueError, match=r"\['midibert', 'official'\]"):
        split_for_part(manifest, "random")
