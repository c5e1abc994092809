"""Evaluation partitions of a manifest.

Conventions
-----------
A *partition* (``part``) names one train/val/test assignment of a dataset's clips:
``main`` is the manifest's own ``split`` column (the demo's song-disjoint split); a split
name such as ``official`` or ``midibert`` is the manifest's ``split_<name>`` column (EMOPIA
carries both published splits); ``fold<k>`` is fold ``k`` of a k-fold cross-validation
(VGMIDI): fold ``k`` is test, fold ``k+1 mod K`` is validation, the rest is train.
"""

from __future__ import annotations

import re

import pandas as pd

FOLD_PATTERN = re.compile(r"fold(\d+)")


def split_for_part(manifest: pd.DataFrame, part: str) -> pd.Series:
    """The split (train/val/test/none) of every clip in partition ``part``, indexed like ``manifest``."""
    if part == "main":
        return manifest["split"]
    match = FOLD_PATTERN.fullmatch(part)
    if match is None:
        if f"split_{part}" in manifest.columns:
            return manifest[f"split_{part}"]
        named = sorted(c.removeprefix("split_") for c in manifest.columns if c.startswith("split_"))
        raise ValueError(f"unknown partition {part!r}: expected 'main', 'fold<k>' or a split of {named}")
    if "fold" not in manifest.columns:
        raise ValueError(f"partition {part!r} needs a 'fold' column in the manifest")
    k = int(match.group(1))
    n_folds = int(manifest["fold"].max()) + 1
    if k >= n_folds:
        raise ValueError(f"partition {part!r}: the manifest has only {n_folds} folds")
    fold = manifest["fold"].astype(int)
    split = pd.Series("train", index=manifest.index)
    split[fold == (k + 1) % n_folds] = "val"
    split[fold == k] = "test"
    return split
