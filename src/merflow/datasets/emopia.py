"""EMOPIA 1.0: the clip manifest, with both published splits and the clips' audio timestamps.

Conventions
-----------
``root`` is the EMOPIA dataset folder (``<mirror>/emopia``, see :mod:`.archive`) holding
the release ``EMOPIA_1.0/`` and one folder per split (:data:`DEFAULT_SPLIT_DIRS`).

Release files used:

- ``label.csv`` (``ID,4Q,annotator``): one row per clip. Clip IDs are
  ``Q<quadrant>_<youtube id>_<k>``; the YouTube ID may itself contain ``_`` or start with
  one (``Q1__BK2o77sTc0_1`` is song ``_BK2o77sTc0``). The ID's quadrant must equal ``4Q``.
  ``k`` numbers the clips of a song (0-based, with gaps where clips were dropped); two
  clips of one song may share ``k`` with different quadrants (``Q1_9v2WSpn4FCw_5`` and
  ``Q2_9v2WSpn4FCw_5``: the song was tagged twice).
- ``midis/<clip_id>.mid``: the clip's MIDI (times relative to the clip start).
- ``songs_lists/Q<n>.txt``: ``<YouTube URL>[,1]`` per line. 14 songs of ``label.csv``
  are in no list; their URL is built from the ID (:data:`YOUTUBE_URL`), which is the
  form every listed URL has.
- ``tagging_lists/Q<n>_<song>.txt``: the raw tagging of a song, two rows per tagged clip,
  ``<seconds> <level> <t>_<q>``: the clip's start, then its end (seconds in the song's
  YouTube audio), ``t`` the 1-based tag number, ``q`` the quadrant the tagger gave; the
  middle column is unused. ``tagging_lists/converted/Q<n>_<song>.txt``: an older format
  of 71 songs, one ``h:mm:ss h:mm:ss`` (start, end) line per clip, no quadrant.

Tagging-list mapping: clip ``Q<q>_<song>_<k>`` is tag number ``t = k + 1`` of the song's
tagging list, and line ``k`` (0-based) of a ``converted`` list. The ``Q<n>_`` prefix of a
tagging list's file name is not the clips' quadrant. Where a song has both formats (one
song) the raw list wins. Evidence: the tag's quadrant equals the clip's for all but 11 of
the 868 clips with a well-formed tag, and every accepted clip's MIDI lasts within
-5..+9 s of its tagged span (median +3.6 s). A clip gets timestamps only when its tag is
trustworthy; otherwise ``start_s``/``end_s`` are NaN, ``has_timestamps`` is False and
``timestamp_issue`` says why:

- ``no_tagging_list``: the song has no tagging list (57 songs) or an empty one;
- ``tag_missing``: the list has no tag ``k + 1`` (no line ``k``);
- ``after_malformed_tag``: the list has a malformed tag (not exactly two rows, rows
  with different quadrants, end before start, unparsable line) numbered at or below
  ``k + 1``: after such a slip the taggers' numbering is off (e.g. ``2Z9SjI131jA``,
  whose clips 5-15 match tags 7-17 by quadrant and length, and ``DYBBfpEx-JI``), so
  no later tag is trusted;
- ``tag_quadrant_mismatch``: tag ``k + 1`` has another quadrant, i.e. the clip came from
  a tagging pass that is not in the release (e.g. ``Q1_9v2WSpn4FCw_5``).

Splits: ``split_official/{train,val,test}.csv`` (``fname,label``; the authors'
song-disjoint split, 767/198/86 clips, 27 clips in none) and
``split_midibert/{train,valid,test}.txt`` (one clip ID per line; MIDI-BERT's clip-level
random split, 864/107/107, songs leak). Each split becomes a column ``split_<name>``
(``train``/``val``/``test``/``none``); ``split`` is the chosen one.

The manifest is :data:`~merflow.datasets.manifest.CLIP_COLUMNS` followed by
:data:`EXTRA_COLUMNS`, sorted by ``clip_id``; ``midi_path`` is ``root``-based, so it is
absolute exactly when ``root`` is.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from merflow.core.errors import InputError
from merflow.core.labels import arousal_of, valence_of
from merflow.datasets.archive import obtain_dataset
from merflow.datasets.common import check_count, finish_manifest, require_paths

DATASET = "emopia"
RELEASE_DIR = "EMOPIA_1.0"
LABEL_FILE = "label.csv"
MIDI_DIR = "midis"
SONG_LIST_DIR = "songs_lists"
TAGGING_DIR = "tagging_lists"
CONVERTED_DIR = "converted"
N_CLIPS = 1078
YOUTUBE_URL = "https://www.youtube.com/watch?v={}"
CLIP_ID_RE = re.compile(r"^Q(?P<quadrant>[1-4])_(?P<song>.+)_(?P<index>\d+)$")
TAG_RE = re.compile(r"^(?P<tag>\d+)_(?P<quadrant>[1-4])$")
VIDEO_ID_RE = re.compile(r"[?&]v=(?P<id>[^&#]+)")
ROWS_PER_TAG = 2  # a tag is a start row and an end row
FIELDS_PER_TAG_ROW = 3  # seconds, level, <t>_<q>

DEFAULT_SPLIT_DIRS = {"official": "split_official", "midibert": "split_midibert"}
SPLIT_PARTS = ("train", "val", "test")
# File stems tried for each part, in order (MIDI-BERT calls the validation part "valid").
PART_STEMS = {"train": ("train",), "val": ("val", "valid"), "test": ("test",)}
NO_SPLIT = "none"
RELEASE_MARKERS = (
    f"{RELEASE_DIR}/{LABEL_FILE}",
    f"{RELEASE_DIR}/{MIDI_DIR}",
    f"{RELEASE_DIR}/{SONG_LIST_DIR}",
    f"{RELEASE_DIR}/{TAGGING_DIR}",
)
#: A mirror (layout of ../shared/data/emopia) holds the release and both split folders.
MARKERS = (*RELEASE_MARKERS, *DEFAULT_SPLIT_DIRS.values())
EXTRA_COLUMNS_TAIL = ["annotator", "has_timestamps", "timestamp_issue"]
EXTRA_COLUMNS = [*(f"split_{name}" for name in DEFAULT_SPLIT_DIRS), *EXTRA_COLUMNS_TAIL]


@dataclass(frozen=True)
class TaggingList:
    """The clip spans of one song's tagging list.

    Attributes:
        spans: clip index ``k`` -> (start_s, end_s, quadrant or None) for well-formed tags.
        first_malformed: the lowest clip index whose tag is malformed (``inf`` if none);
            tags from there on are not trusted.
    """

    spans: dict[int, tuple[float, float, int | None]]
    first_malformed: float = math.inf

    def lookup(self, index: int, quadrant: int) -> tuple[float, float, str]:
        """(start_s, end_s, issue) of clip ``index``: NaN times and a reason if untrusted."""
        if index >= self.first_malformed:
            return math.nan, math.nan, "after_malformed_tag"
        if index not in self.spans:
            return math.nan, math.nan, "tag_missing"
        start, end, tag_quadrant = self.spans[index]
        if tag_quadrant is not None and tag_quadrant != quadrant:
            return math.nan, math.nan, "tag_quadrant_mismatch"
        return start, end, ""


def build_emopia_manifest(
    root: str | Path, split: str = "official", split_dirs: Mapping[str, str | Path] | None = None
) -> pd.DataFrame:
    """Build the EMOPIA 1.0 clip manifest (see the module docstring for every rule).

    Args:
        root: the EMOPIA dataset folder.
        split: which split fills the ``split`` column (a key of ``split_dirs``).
        split_dirs: split name -> folder (relative to ``root`` or absolute), each with
            ``{train,val|valid,test}.{csv,txt}``; default :data:`DEFAULT_SPLIT_DIRS`.
            Each gives a column ``split_<name>``.

    Returns:
        One row per clip: manifest columns, then ``split_<name>`` per split,
        ``annotator``, ``has_timestamps`` (bool) and ``timestamp_issue`` (str, '' if none).

    Raises:
        InputError: a release file or folder is missing, the clip count is not
            :data:`N_CLIPS`, MIDI files and labels disagree, or a split names an unknown
            clip or puts one clip in two parts.
        ValueError: ``split`` is not a key of ``split_dirs``.
    """
    root = Path(root)
    split_dirs = dict(DEFAULT_SPLIT_DIRS if split_dirs is None else split_dirs)
    if split not in split_dirs:
        raise ValueError(f"EMOPIA split {split!r} is not one of {sorted(split_dirs)}")
    release = root / RELEASE_DIR
    require_paths(DATASET, release, (LABEL_FILE, MIDI_DIR, SONG_LIST_DIR, TAGGING_DIR))

    clips = read_labels(release)
    midi_paths = {path.stem: path for path in (release / MIDI_DIR).glob("*.mid")}
    check_count(DATASET, "MIDI files", len(midi_paths), N_CLIPS, release / MIDI_DIR)
    unmatched = sorted(set(midi_paths) ^ set(clips["clip_id"]))
    if unmatched:
        message = f"MIDI files and label rows differ: {unmatched[:5]}"
        raise InputError(DATASET, "label_mismatch", message, release)
    clips["midi_path"] = [str(midi_paths[c]) for c in clips["clip_id"]]
    clips["valence"] = valence_of(clips["quadrant"].to_numpy())
    clips["arousal"] = arousal_of(clips["quadrant"].to_numpy())

    urls = read_song_lists(release / SONG_LIST_DIR)
    clips["url"] = [urls.get(song, YOUTUBE_URL.format(song)) for song in clips["song_id"]]

    tagging = read_tagging_lists(release / TAGGING_DIR)
    times = [
        tagging[song].lookup(index, quadrant) if song in tagging else (math.nan, math.nan, "no_tagging_list")
        for song, index, quadrant in zip(clips["song_id"], clips["index"], clips["quadrant"], strict=True)
    ]
    clips["start_s"], clips["end_s"], clips["timestamp_issue"] = zip(*times, strict=True)
    clips["has_timestamps"] = clips["timestamp_issue"] == ""

    known = set(clips["clip_id"])
    split_columns = []
    for name, folder in split_dirs.items():
        folder = Path(folder) if Path(folder).is_absolute() else root / folder
        parts = read_split(folder, known)
        clips[f"split_{name}"] = clips["clip_id"].map(parts).fillna(NO_SPLIT)
        split_columns.append(f"split_{name}")
    clips["split"] = clips[f"split_{split}"]
    return finish_manifest(clips, [*split_columns, *EXTRA_COLUMNS_TAIL], f"{DATASET} manifest ({root})")


def parse_clip_id(clip_id: str) -> tuple[int, str, int]:
    """``Q<q>_<song>_<k>`` -> (quadrant, song ID, clip index).

    Raises:
        ValueError: if ``clip_id`` does not have that form.
    """
    match = CLIP_ID_RE.match(clip_id)
    if match is None:
        raise ValueError(f"not an EMOPIA clip ID: {clip_id!r}")
    return int(match["quadrant"]), match["song"], int(match["index"])


def read_labels(release: Path) -> pd.DataFrame:
    """``label.csv`` as columns clip_id, song_id, index, quadrant, annotator (IDs checked).

    Raises:
        InputError: wrong row count, a malformed or duplicate ID, or an ID whose
            quadrant prefix disagrees with the ``4Q`` column.
    """
    path = release / LABEL_FILE
    labels = pd.read_csv(path, dtype={"ID": str, "annotator": str})
    check_count(DATASET, "label rows", len(labels), N_CLIPS, path)
    try:
        parsed = [parse_clip_id(clip_id) for clip_id in labels["ID"]]
    except ValueError as exc:
        raise InputError(DATASET, "bad_format", str(exc), path) from exc
    if labels["ID"].duplicated().any():
        raise InputError(DATASET, "bad_format", "duplicate clip IDs", path)
    prefix = np.array([quadrant for quadrant, _, _ in parsed])
    if (prefix != labels["4Q"].to_numpy()).any():
        raise InputError(DATASET, "label_mismatch", "clip ID prefix disagrees with the 4Q column", path)
    return pd.DataFrame(
        {
            "clip_id": labels["ID"],
            "song_id": [song for _, song, _ in parsed],
            "index": [index for _, _, index in parsed],
            "quadrant": labels["4Q"].astype("int64"),
            "annotator": labels["annotator"],
        }
    )


def read_song_lists(folder: Path) -> dict[str, str]:
    """YouTube ID -> URL from every ``Q*.txt`` of ``songs_lists`` (first listing wins)."""
    urls: dict[str, str] = {}
    for path in sorted(folder.glob("Q*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            url = line.split(",")[0].strip()
            match = VIDEO_ID_RE.search(url)
            if match:
                urls.setdefault(match["id"], url)
    return urls


def read_tagging_lists(folder: Path) -> dict[str, TaggingList]:
    """Song ID -> :class:`TaggingList`, from ``tagging_lists`` and its ``converted`` folder.

    Song IDs are file stems without the ``Q<n>_`` prefix; the raw format wins over
    ``converted`` when a song has both.
    """
    result: dict[str, TaggingList] = {}
    for path, parse in ((folder, parse_tagging_lines), (folder / CONVERTED_DIR, parse_converted_lines)):
        for file in sorted(path.glob("Q[1-4]_*.txt")):
            song = file.stem[len("Q1_") :]
            lines = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
            if lines and song not in result:
                result[song] = parse(lines)
    return result


def parse_tagging_lines(lines: list[str]) -> TaggingList:
    """Parse the raw ``<seconds> <level> <t>_<q>`` format (tag ``t`` is clip ``t - 1``)."""
    rows: dict[int, list[tuple[float, int]]] = defaultdict(list)
    malformed = math.inf
    for line in lines:
        parts = line.split()
        match = TAG_RE.match(parts[-1]) if len(parts) == FIELDS_PER_TAG_ROW else None
        seconds = _to_float(parts[0]) if match else None
        if match is None or seconds is None:
            malformed = 0  # an unreadable row could belong to any tag
            continue
        rows[int(match["tag"]) - 1].append((seconds, int(match["quadrant"])))
    spans: dict[int, tuple[float, float, int | None]] = {}
    for index, tag_rows in rows.items():
        quadrants = {quadrant for _, quadrant in tag_rows}
        if len(tag_rows) != ROWS_PER_TAG or len(quadrants) != 1 or tag_rows[1][0] <= tag_rows[0][0]:
            malformed = min(malformed, index)
        else:
            spans[index] = (tag_rows[0][0], tag_rows[1][0], quadrants.pop())
    return TaggingList(spans, malformed)


def parse_converted_lines(lines: list[str]) -> TaggingList:
    """Parse the ``converted`` format: line ``k`` is ``h:mm:ss h:mm:ss`` of clip ``k``."""
    spans: dict[int, tuple[float, float, int | None]] = {}
    for index, line in enumerate(lines):
        parts = [_hms_to_seconds(part) for part in line.split()]
        if len(parts) != ROWS_PER_TAG or None in parts or parts[1] <= parts[0]:
            return TaggingList(spans, index)
        spans[index] = (float(parts[0]), float(parts[1]), None)
    return TaggingList(spans)


def read_split(folder: Path, known: set[str]) -> dict[str, str]:
    """Clip ID -> part (``train``/``val``/``test``) from one split folder.

    Each part is ``<stem>.csv`` (clip IDs in column ``fname``) or ``<stem>.txt`` (one ID
    per line), with the stems of :data:`PART_STEMS`.

    Raises:
        InputError: a part file is missing, names a clip not in ``known``, or a clip is
            in two parts.
    """
    parts: dict[str, str] = {}
    for part in SPLIT_PARTS:
        candidates = [folder / f"{stem}{ext}" for stem in PART_STEMS[part] for ext in (".csv", ".txt")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise InputError(DATASET, "missing_file", f"no {part} file in split folder", folder)
        if path.suffix == ".csv":
            ids = pd.read_csv(path, dtype=str)["fname"].str.strip().tolist()
        else:
            ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        unknown = sorted(set(ids) - known)
        if unknown:
            raise InputError(DATASET, "label_mismatch", f"unknown clip IDs {unknown[:5]}", path)
        counts = pd.Series(ids).value_counts()
        twice = sorted({clip for clip in ids if clip in parts} | set(counts.index[counts > 1]))
        if twice:
            raise InputError(DATASET, "bad_format", f"clips listed twice, e.g. {twice[:5]}", path)
        parts.update(dict.fromkeys(ids, part))
    return parts


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _hms_to_seconds(text: str) -> int | None:
    fields = text.split(":")
    if not fields or not all(f.isdigit() for f in fields):
        return None
    seconds = 0
    for field in fields:
        seconds = seconds * 60 + int(field)
    return seconds


def obtain_emopia(
    root: str | Path,
    mirror: str | Path | None,
    url: str,
    checksum: str | None,
    split_sources: Mapping[str, Mapping[str, str]],
) -> tuple[Path, dict[str, Path]]:
    """The EMOPIA folder and its split folders, from a mirror or from the public archives.

    With a mirror, ``<mirror>/emopia`` holds the release and both split folders. Without
    one, the release comes from ``url`` (Zenodo record 5090631) and each split from its
    ``split_sources`` entry: ``url`` (an archive, or a local folder), ``checksum`` and
    ``subdir`` (the folder inside the archive holding the lists). Splits whose ``url`` is
    empty are left out.

    Returns:
        The dataset folder and ``split name -> folder`` (absolute, so that
        :func:`build_emopia_manifest` does not resolve them against the dataset folder).
    """
    if mirror:
        folder = obtain_dataset(DATASET, root, mirror, None, None, markers=MARKERS)
        return folder, {name: (folder / sub).resolve() for name, sub in DEFAULT_SPLIT_DIRS.items()}
    folder = obtain_dataset(DATASET, root, None, url, checksum or None, markers=RELEASE_MARKERS)
    split_dirs: dict[str, Path] = {}
    for name, source in split_sources.items():
        if not source.get("url"):
            continue
        if Path(source["url"]).is_dir():
            split_dirs[name] = Path(source["url"]).resolve()
            continue
        split_dirs[name] = obtain_dataset(
            f"{DATASET}_split_{name}",
            Path(root).with_name(f"{Path(root).name}_split_{name}"),
            None,
            source["url"],
            source.get("checksum") or None,
            archive_subdir=source.get("subdir") or None,
        ).resolve()
    return folder, split_dirs
