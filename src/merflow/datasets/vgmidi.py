"""VGMIDI labelled phrases: the clip manifest, with seeded piece-disjoint stratified folds.

Conventions
-----------
``root`` is the VGMIDI dataset folder (``<mirror>/vgmidi``, see :mod:`.archive`) with
``vgmidi_labelled.csv`` (``id,series,console,game,piece,midi,valence,arousal``) and
``phrases/``, which holds the MIDI files the CSV's ``midi`` column names (only their base
names are used). VGMIDI has no audio: ``url`` is ``''``, ``start_s`` 0 and ``end_s`` the
MIDI's length (last note offset, seconds).

Pieces: a phrase file is named ``<series>_<console>_<game>_<piece>_<n>.mid``, ``n`` the
phrase's 0-based index within its piece, so the piece is the file name without
``_<n>.mid`` (the CSV's own ``piece`` field is not reliable: ``Stage_Clear`` is cut to
``Stage``). Pieces and the CSV's ``id`` correspond one to one (checked), so IDs are built
from ``id``, which, unlike the file names (spaces, apostrophes), is safe in file paths:
``song_id`` = ``vgmidi_<id>``, ``clip_id`` = ``vgmidi_<id>_<n>``; ``piece`` keeps the
readable name. 204 phrases of 200 pieces.

Labels: valence and arousal are -1/+1; +1 is high (bit 1). Quadrants via
:func:`merflow.core.labels.quadrant_of`: Q1 76, Q2 39, Q3 27, Q4 62 (checked).

Splits (VGMIDI has no official one at HEAD): ``fold`` (0..k-1) comes from
:class:`sklearn.model_selection.StratifiedGroupKFold` (shuffled, ``seed``) with the
quadrant as class and the piece as group, so folds are piece-disjoint and keep the
class balance. For ``fold=f`` the ``split`` column is ``test`` for fold ``f``, ``val``
for fold ``(f + 1) % k`` and ``train`` for the rest. ``fold=None`` gives one split of the
same kind, finer-grained: pieces are dealt into :data:`SINGLE_SPLIT_PARTS` stratified
piece-disjoint parts (same seed); the first :data:`SINGLE_SPLIT_TEST_PARTS` are test,
the next :data:`SINGLE_SPLIT_VAL_PARTS` val, the rest train (70/15/15).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from merflow.core.errors import InputError
from merflow.core.labels import QUADRANTS, arousal_of, quadrant_of, valence_of
from merflow.datasets.common import check_count, finish_manifest, require_paths
from merflow.music.midi import read_notes

DATASET = "vgmidi"
LABEL_FILE = "vgmidi_labelled.csv"
PHRASE_DIR = "phrases"
MARKERS = (LABEL_FILE, PHRASE_DIR)
N_PHRASES = 204
N_PIECES = 200
QUADRANT_COUNTS = {1: 76, 2: 39, 3: 27, 4: 62}
LABEL_VALUES = (-1, 1)
PHRASE_FILE_RE = re.compile(r"^(?P<piece>.+)_(?P<phrase>\d+)\.mid$")
ID_PREFIX = "vgmidi"
SINGLE_SPLIT_PARTS = 20
SINGLE_SPLIT_TEST_PARTS = 3
SINGLE_SPLIT_VAL_PARTS = 3
EXTRA_COLUMNS = ["piece", "phrase", "fold"]


def build_vgmidi_manifest(
    root: str | Path, n_folds: int = 5, seed: int = 0, fold: int | None = None
) -> pd.DataFrame:
    """Build the VGMIDI clip manifest (see the module docstring for every rule).

    Args:
        root: the VGMIDI dataset folder.
        n_folds: number of cross-validation folds k (>= 3: test, val and train).
        seed: seeds the fold assignment; equal seeds give identical manifests.
        fold: the fold used as test set (0..k-1), or None for the single 70/15/15 split.

    Returns:
        One row per phrase: manifest columns, then ``piece`` (str), ``phrase`` (int,
        index within the piece) and ``fold`` (int, 0..k-1).

    Raises:
        InputError: a file is missing or unreadable, counts differ from
            :data:`N_PHRASES` / :data:`N_PIECES` / :data:`QUADRANT_COUNTS`, a label is
            not -1/+1, or pieces and CSV ids do not correspond one to one.
        ValueError: ``n_folds`` < 3 or ``fold`` out of range.
    """
    if n_folds < len(("train", "val", "test")):
        raise ValueError(f"n_folds must be at least 3, got {n_folds}")
    if fold is not None and not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1} or None, got {fold}")
    root = Path(root)
    require_paths(DATASET, root, MARKERS)
    phrases = read_phrases(root)
    phrases["fold"] = stratified_group_parts(phrases["quadrant"], phrases["song_id"], n_folds, seed)
    if fold is None:
        parts = stratified_group_parts(phrases["quadrant"], phrases["song_id"], SINGLE_SPLIT_PARTS, seed)
        test_end = SINGLE_SPLIT_TEST_PARTS
        val_end = test_end + SINGLE_SPLIT_VAL_PARTS
        phrases["split"] = np.where(parts < test_end, "test", np.where(parts < val_end, "val", "train"))
    else:
        val_fold = (fold + 1) % n_folds
        phrases["split"] = np.where(
            phrases["fold"] == fold, "test", np.where(phrases["fold"] == val_fold, "val", "train")
        )
    return finish_manifest(phrases, EXTRA_COLUMNS, f"{DATASET} manifest ({root})")


def read_phrases(root: Path) -> pd.DataFrame:
    """The labelled phrases with IDs, labels, MIDI paths and lengths (split columns excepted).

    Raises:
        InputError: see :func:`build_vgmidi_manifest`.
    """
    path = root / LABEL_FILE
    table = pd.read_csv(path, dtype={"midi": str})
    check_count(DATASET, "labelled phrases", len(table), N_PHRASES, path)
    for column in ("valence", "arousal"):
        if not table[column].isin(LABEL_VALUES).all():
            raise InputError(DATASET, "bad_format", f"{column} values must be -1 or +1", path)
    names = table["midi"].map(lambda m: Path(m).name)
    matches = [PHRASE_FILE_RE.match(name) for name in names]
    if not all(matches):
        bad = [name for name, match in zip(names, matches, strict=True) if match is None]
        raise InputError(DATASET, "bad_format", f"phrase file names without _<n>.mid: {bad[:5]}", path)
    piece = pd.Series([m["piece"] for m in matches])
    ids = table["id"].astype(str)
    if piece.groupby(ids).nunique().max() > 1 or ids.groupby(piece).nunique().max() > 1:
        raise InputError(DATASET, "label_mismatch", "CSV ids and pieces do not correspond one to one", path)
    check_count(DATASET, "pieces", piece.nunique(), N_PIECES, path)

    quadrant = quadrant_of(table["valence"] > 0, table["arousal"] > 0)
    found = {q: int((quadrant == q).sum()) for q in QUADRANTS}
    if found != QUADRANT_COUNTS:
        raise InputError(
            DATASET, "count_mismatch", f"quadrant counts {found}, expected {QUADRANT_COUNTS}", path
        )

    phrase = [int(m["phrase"]) for m in matches]
    midi_paths = [root / PHRASE_DIR / name for name in names]
    clip_ids = [f"{ID_PREFIX}_{i}_{n}" for i, n in zip(ids, phrase, strict=True)]
    lengths = [read_notes(p, clip).end_time for p, clip in zip(midi_paths, clip_ids, strict=True)]
    return pd.DataFrame(
        {
            "clip_id": clip_ids,
            "song_id": [f"{ID_PREFIX}_{i}" for i in ids],
            "quadrant": quadrant,
            "valence": valence_of(quadrant),
            "arousal": arousal_of(quadrant),
            "midi_path": [str(p) for p in midi_paths],
            "url": "",
            "start_s": 0.0,
            "end_s": lengths,
            "piece": piece,
            "phrase": phrase,
        }
    )


def stratified_group_parts(labels: pd.Series, groups: pd.Series, n_parts: int, seed: int) -> np.ndarray:
    """Deal rows into ``n_parts`` group-disjoint, label-stratified parts; returns part per row.

    Uses :class:`StratifiedGroupKFold` (shuffled, ``random_state=seed``): part ``i`` is
    the test fold of its ``i``-th split.
    """
    splitter = StratifiedGroupKFold(n_splits=n_parts, shuffle=True, random_state=seed)
    parts = np.full(len(labels), -1, dtype=np.int64)
    for part, (_, test_rows) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        parts[test_rows] = part
    return parts
