"""The clip manifest: one table that every later stage reads.

Conventions
-----------
A manifest is a parquet table with one row per clip and the columns of
:data:`CLIP_COLUMNS`:

- ``clip_id`` (str): unique clip identifier, used as file stem everywhere.
- ``song_id`` (str): the song (recording) the clip was cut from.
- ``quadrant`` (int 1..4), ``valence`` and ``arousal`` (0/1): labels, see :mod:`merflow.core.labels`.
- ``midi_path`` (str): the dataset's own MIDI of the clip (the "oracle" transcription),
  times relative to the clip start; empty if the dataset has none.
- ``url`` (str): where the song's audio is downloaded from (YouTube or ``file://``).
- ``start_s``, ``end_s`` (float): the clip's position in the song audio, seconds.
- ``split`` (str): ``train``, ``val``, ``test`` or ``none`` (in no split).

Songs are derived from clips (``songs_of``), so there is one source of truth.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from merflow.core.errors import InputError
from merflow.core.labels import arousal_of, valence_of

CLIP_COLUMNS = [
    "clip_id",
    "song_id",
    "quadrant",
    "valence",
    "arousal",
    "midi_path",
    "url",
    "start_s",
    "end_s",
    "split",
]
SPLITS = ("train", "val", "test", "none")


def validate_manifest(clips: pd.DataFrame, source: str | Path = "manifest") -> pd.DataFrame:
    """Check columns, types, unique clip IDs, label consistency and splits; return a clean copy.

    The copy has :data:`CLIP_COLUMNS` first, then the dataset's own extra columns unchanged.

    Raises:
        ValueError: naming ``source`` and the first problem found.
    """
    missing = [c for c in CLIP_COLUMNS if c not in clips.columns]
    if missing:
        raise ValueError(f"{source}: missing columns {missing}")
    extra = [c for c in clips.columns if c not in CLIP_COLUMNS]
    clips = clips[[*CLIP_COLUMNS, *extra]].copy()
    clips["clip_id"] = clips["clip_id"].astype(str)
    clips["song_id"] = clips["song_id"].astype(str)
    for col in ("quadrant", "valence", "arousal"):
        clips[col] = clips[col].astype("int64")
    for col in ("start_s", "end_s"):
        clips[col] = clips[col].astype("float64")
    for col in ("midi_path", "url", "split"):
        clips[col] = clips[col].fillna("").astype(str)
    dup = clips["clip_id"][clips["clip_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: duplicate clip_id {dup.iloc[0]!r}")
    bits_ok = (clips["valence"] == valence_of(clips["quadrant"])) & (
        clips["arousal"] == arousal_of(clips["quadrant"])
    )
    if not bits_ok.all():
        raise ValueError(f"{source}: valence/arousal bits disagree with quadrant")
    bad_split = set(clips["split"]) - set(SPLITS)
    if bad_split:
        raise ValueError(f"{source}: unknown split names {sorted(bad_split)}")
    if (clips["end_s"] < clips["start_s"]).any():
        raise ValueError(f"{source}: a clip ends before it starts")
    return clips.reset_index(drop=True)


def songs_of(clips: pd.DataFrame) -> pd.DataFrame:
    """One row per song: ``song_id``, ``url``, ``n_clips``, ``end_s`` (latest clip end)."""
    return (
        clips.groupby("song_id", sort=True)
        .agg(url=("url", "first"), n_clips=("clip_id", "size"), end_s=("end_s", "max"))
        .reset_index()
    )


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest parquet."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path.name, "missing_file", "manifest does not exist", path)
    return validate_manifest(pd.read_parquet(path), path)
