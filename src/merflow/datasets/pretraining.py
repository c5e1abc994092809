"""Pretraining corpora for MIDIBERT: one manifest of unlabelled piano MIDI, deduplicated and test-free.

Conventions
-----------
Sources are ``corpus name -> folder``; every ``*.mid``/``*.midi`` file under a folder
(recursively, any letter case) is one piece. :data:`DEFAULT_CORPORA` gives the mirror's
layout (``<mirror>/pretrain/...``); :func:`default_sources` adds an optional user folder.

- **POP909** (``pop909/<id>.mid``, flat, 909 files): each file has three tracks, ``MELODY``,
  ``BRIDGE`` and ``PIANO``, which together are the piano arrangement. All tracks are merged
  (the ``PIANO`` track alone lacks the tune), as MIDI-BERT's ``read_items`` does: it reads
  every instrument of a POP909 file. MIDI-BERT's 4/4-only filter (865 pieces) is not applied.
- **Pop1K7** (``pop1k7/src_<folder>_<n>.mid``, one track) and **VGMIDI unlabelled**
  (``vgmidi_unlabelled/<game>_<piece>.mid``, one or more tracks, some not piano) are read
  the same way: every non-drum track is merged, as in :func:`merflow.music.midi.score_note_arrays`.

Manifest (:data:`MANIFEST_COLUMNS`), one row per kept piece, in **canonical order**: the
order of ``sources`` (insertion order of the dict; :data:`DEFAULT_CORPORA` is POP909,
Pop1K7, VGMIDI unlabelled, then the user folder), then the piece's path relative to its
folder, sorted as strings. ``piece_id`` is that relative path without its suffix (POSIX
separators); ``path`` is the file; ``n_notes`` counts non-drum notes; ``duration_s`` is
the last note offset in seconds (tempo map applied); ``sha256`` hashes the file bytes.

Content hash (``content_hash``): the SHA-256 of the merged non-drum notes as int64 triples
``(onset, pitch, duration)`` in ticks rescaled to :data:`HASH_TICKS_PER_QUARTER`
(``round(tick * 480 / tpq)``), onsets measured from the first onset, sorted by (onset,
pitch, duration). It ignores velocities, tempo, track layout, programs, channels, meta
events and leading silence, so a file re-saved by another program, split into other
tracks or written at another resolution hashes the same as long as every tick lands
exactly on the 480-tpq grid (480 <-> 960 tpq, 96 -> 480 tpq...). A lossy re-quantisation
(e.g. 480 -> 220 tpq) changes the hash; such near copies are not removed (the n-gram
check below only compares pieces against test clips).

Duplicates: pieces with equal ``content_hash`` are one piece; the first in canonical order
is kept, the others go to the dropped table with reason ``duplicate``.

Test exclusion (:class:`ExclusionSet`, from the test clips of the evaluation manifests): a
piece is dropped if

- ``test_content_hash``: its content hash equals a test clip's;
- ``test_song_id``: its file stem equals a test song ID, or contains one as a run of
  ``_``-separated fields (``Q1_<id>_0``) when the ID is at least
  :data:`MIN_PARTIAL_ID_CHARS` characters long (short IDs such as POP909's ``001`` only
  match exactly);
- ``test_clip_contained``: it contains a test clip's notes (EMOPIA clips are excerpts of
  songs). A fingerprint is the set of hashed :data:`NGRAM`-grams of consecutive notes (all
  non-drum tracks merged, sorted by onset, then pitch); a note's symbol is its pitch and
  whether the next onset is at least :data:`SIMULTANEOUS_S` later (chord or not). Onset
  times enter only through that flag, so the fingerprint survives re-timing: VGMIDI's
  labelled phrases were re-saved at 120 BPM with other ticks than the pieces they were cut
  from, which breaks fingerprints built on inter-onset intervals in seconds or in beats.
  The piece is dropped when the fraction of the clip's distinct n-grams found in the
  piece, ``|clip ∩ piece| / |clip|``, is at least :data:`CONTAINMENT_THRESHOLD` (0.5).
  Evidence on the mirror (all 204 VGMIDI phrases and 1,078 EMOPIA clips against the 3,476
  readable pretraining pieces): 197 of the 198 phrase/piece pairs whose names say they are
  the same piece score >= 0.78 (median 1.0; the exception is another game's arrangement of
  the tune, 0.13); unrelated pairs score at most 0.28 (a 48-note phrase), EMOPIA clips
  against POP909/Pop1K7 at most 0.21. The one unrelated pair near the threshold, 0.48, is
  Ocarina of Time's "Medley of Time", which quotes the "Song of Storms" phrase. Clips with
  fewer than :data:`MIN_CLIP_NGRAMS` distinct n-grams are too short to fingerprint and are
  only checked by hash and song ID.

A whole duplicate group is dropped if any member matches the test set (members that do not
match themselves get reason ``test_duplicate``), so no copy of test music survives under
another name. Dropped pieces are one row each in the dropped table
(:data:`DROPPED_COLUMNS`): the manifest columns plus ``reason`` and ``detail`` (the kept
piece a duplicate repeats, or the test clip / song ID matched and the containment).

Failure behaviour: unreadable files and files without pitched notes become ledger rows
(reasons ``corrupt_midi``, ``no_notes``), named ``<corpus>/<piece_id>``; the build goes on.
Unreadable test clips are ledger rows of :func:`build_exclusion_set` and excluded from the
fingerprint check only (their song IDs still count).

Speed: files are parsed in a process pool (:func:`build_pretraining_manifest`'s
``workers``); the 3,477 mirror files, checked against 127 test clips, take 1.7 s on 2
cores (3.0 s in one process).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import symusic

from merflow.core.errors import InputError
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress
from merflow.music.midi import Notes, read_score, score_note_arrays, score_to_notes

log = logging.getLogger(__name__)

#: Corpus name -> folder relative to the dataset mirror, in canonical (deduplication) order.
DEFAULT_CORPORA = {
    "pop909": "pretrain/pop909",
    "pop1k7": "pretrain/pop1k7",
    "vgmidi_unlabelled": "pretrain/vgmidi_unlabelled",
}
USER_CORPUS = "user"
MIDI_SUFFIXES = (".mid", ".midi")
MANIFEST_COLUMNS = ["corpus", "piece_id", "path", "n_notes", "duration_s", "content_hash", "sha256"]
DROPPED_COLUMNS = [*MANIFEST_COLUMNS, "reason", "detail"]

HASH_TICKS_PER_QUARTER = 480
NGRAM = 8
SIMULTANEOUS_S = 0.03  # onsets closer than this (seconds) are one chord
ONSET_FLAGS = 2
MIN_CLIP_NGRAMS = 16
CONTAINMENT_THRESHOLD = 0.5
MIN_PARTIAL_ID_CHARS = 6
NGRAM_HASH_BASE = np.uint64(1_000_003)
DEFAULT_MAX_WORKERS = 8
PROGRESS_EVERY = 250
CHUNKSIZE = 16

DUPLICATE = "duplicate"
TEST_HASH = "test_content_hash"
TEST_SONG = "test_song_id"
TEST_CONTAINED = "test_clip_contained"
TEST_DUPLICATE = "test_duplicate"


# ---------------------------------------------------------------------------- fingerprints


def grid_notes(score: symusic.Score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merged non-drum notes of ``score`` on the 480-tpq grid, from the first onset.

    Returns:
        ``(onset, pitch, duration)``, int64 arrays of shape ``(n,)``, onset and duration in
        ticks at :data:`HASH_TICKS_PER_QUARTER` per quarter note (``round(tick * 480 /
        tpq)``), sorted by (onset, pitch, duration); empty arrays if there is no note.
    """
    notes = score_note_arrays(score)
    if not len(notes["time"]):
        return notes["time"], notes["pitch"], notes["duration"]
    scale = HASH_TICKS_PER_QUARTER / score.ticks_per_quarter
    onset = np.round(notes["time"] * scale).astype(np.int64)
    duration = np.round(notes["duration"] * scale).astype(np.int64)
    pitch = notes["pitch"]
    order = np.lexsort((duration, pitch, onset))
    return onset[order] - onset.min(), pitch[order], duration[order]


def content_hash(score: symusic.Score) -> str:
    """SHA-256 (hex) of :func:`grid_notes` of ``score`` as little-endian int64 triples.

    See the module docstring: velocities, tempo and track layout are ignored.
    """
    triples = np.stack(grid_notes(score), axis=1)
    return hashlib.sha256(np.ascontiguousarray(triples, dtype="<i8").tobytes()).hexdigest()


def ngram_fingerprint(notes: Notes, n: int = NGRAM) -> np.ndarray:
    """Sorted distinct hashes of the ``n``-grams of (pitch, new-onset flag) of ``notes``.

    Note ``i``'s symbol is its pitch and whether the next note starts at least
    :data:`SIMULTANEOUS_S` later (0 within a chord, 1 otherwise); see the module docstring.

    Args:
        notes: sorted by onset, then pitch (as :class:`~merflow.music.midi.Notes` always are).
        n: n-gram length in notes.

    Returns:
        uint64 array of shape ``(m,)``, ``m <= len(notes) - n``; empty if ``len(notes) <= n``.
    """
    if len(notes) <= n:
        return np.zeros(0, dtype=np.uint64)
    new_onset = np.diff(notes.onset) >= SIMULTANEOUS_S
    symbols = (notes.pitch[:-1] * ONSET_FLAGS + new_onset).astype(np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(symbols, n)
    powers = NGRAM_HASH_BASE ** np.arange(n - 1, -1, -1, dtype=np.uint64)  # wraps mod 2**64
    return np.unique(windows @ powers)


# ---------------------------------------------------------------------------- exclusion set


@dataclass(frozen=True)
class ExclusionSet:
    """What pretraining must not see: test clips' song IDs, content hashes and fingerprints.

    Attributes:
        song_ids: identifiers of test songs (EMOPIA YouTube IDs, VGMIDI piece names...).
        content_hashes: content hash -> test clip ID.
        fingerprints: test clip ID -> its :func:`ngram_fingerprint` (only clips with at
            least :data:`MIN_CLIP_NGRAMS` n-grams).
        threshold: containment at or above which a piece is dropped.
    """

    song_ids: frozenset[str] = frozenset()
    content_hashes: Mapping[str, str] = field(default_factory=dict)
    fingerprints: Mapping[str, np.ndarray] = field(default_factory=dict)
    threshold: float = CONTAINMENT_THRESHOLD

    def __post_init__(self) -> None:
        long_ids = sorted((s for s in self.song_ids if len(s) >= MIN_PARTIAL_ID_CHARS), key=len, reverse=True)
        pattern = "(?:^|_)(" + "|".join(map(re.escape, long_ids)) + ")(?:_|$)" if long_ids else None
        object.__setattr__(self, "_id_pattern", re.compile(pattern) if pattern else None)
        hashes = list(self.fingerprints.values())
        union = np.unique(np.concatenate(hashes)) if hashes else np.zeros(0, dtype=np.uint64)
        object.__setattr__(self, "_union", union)

    def song_match(self, stem: str) -> str | None:
        """The test song ID that file stem ``stem`` names, or None (rules: module docstring)."""
        if stem in self.song_ids:
            return stem
        match = self._id_pattern.search(stem) if self._id_pattern is not None else None  # type: ignore[attr-defined]
        return match.group(1) if match else None

    def best_containment(self, fingerprint: np.ndarray) -> tuple[str, float]:
        """(test clip ID, containment) of the clip most contained in a piece.

        Args:
            fingerprint: the piece's :func:`ngram_fingerprint`.

        Returns:
            The clip and the fraction of its n-grams found in the piece; ``("", 0.0)`` when
            no test clip shares an n-gram with the piece.
        """
        shared = fingerprint[np.isin(fingerprint, self._union, assume_unique=True)]  # type: ignore[attr-defined]
        best_clip, best = "", 0.0
        if len(shared) == 0:
            return best_clip, best
        for clip_id, clip_fp in self.fingerprints.items():
            found = np.isin(clip_fp, shared, assume_unique=True).sum() / len(clip_fp)
            if found > best:
                best_clip, best = clip_id, float(found)
        return best_clip, best

    def match(self, stem: str, piece_hash: str, fingerprint: np.ndarray) -> tuple[str, str] | None:
        """(reason, detail) if a piece must be excluded, else None; checks hash, ID, then notes."""
        if piece_hash in self.content_hashes:
            return TEST_HASH, f"same notes as test clip {self.content_hashes[piece_hash]}"
        song = self.song_match(stem)
        if song is not None:
            return TEST_SONG, f"names test song {song}"
        clip_id, found = self.best_containment(fingerprint)
        if found >= self.threshold:
            return TEST_CONTAINED, f"contains {found:.2f} of test clip {clip_id}'s {NGRAM}-grams"
        return None


def build_exclusion_set(
    midi_paths: Mapping[str, str | Path] | Iterable[str | Path],
    song_ids: Iterable[str],
    ledger: Ledger,
    threshold: float = CONTAINMENT_THRESHOLD,
) -> ExclusionSet:
    """Fingerprint the test clips and collect the test song IDs.

    Args:
        midi_paths: test clip ID -> MIDI file, or MIDI files (clip ID = file stem); empty
            paths (clips without MIDI) are ignored.
        song_ids: identifiers of the test songs.
        ledger: receives unreadable clips, which are then skipped.
        threshold: see :class:`ExclusionSet`.
    """
    if not isinstance(midi_paths, Mapping):
        midi_paths = {Path(path).stem: path for path in midi_paths if str(path)}
    hashes: dict[str, str] = {}
    fingerprints: dict[str, np.ndarray] = {}
    for clip_id, path in midi_paths.items():
        if not str(path):
            continue
        try:
            score = read_score(path, clip_id)
        except InputError as err:
            ledger.record(err)
            continue
        hashes.setdefault(content_hash(score), clip_id)
        fingerprint = ngram_fingerprint(score_to_notes(score))
        if len(fingerprint) >= MIN_CLIP_NGRAMS:
            fingerprints[clip_id] = fingerprint
    ids = frozenset(str(s) for s in song_ids if str(s))
    log.info(
        "exclusion set: %d test clips (%d fingerprinted), %d song IDs",
        len(hashes),
        len(fingerprints),
        len(ids),
    )
    return ExclusionSet(ids, hashes, fingerprints, threshold)


def exclusion_from_manifests(
    manifests: Iterable[pd.DataFrame],
    ledger: Ledger,
    splits: Sequence[str] = ("test",),
    id_columns: Sequence[str] = (),
) -> ExclusionSet:
    """:func:`build_exclusion_set` from the rows of clip manifests in ``splits``.

    One pretrained model serves every partition of a dataset, so a cross-validated dataset
    (VGMIDI's k folds, where every phrase is a test phrase of some fold) must pass all its
    rows: ``splits=merflow.datasets.manifest.SPLITS``.

    Args:
        manifests: clip manifests (``clip_id``, ``midi_path``, ``song_id``, ``split``).
        ledger: receives unreadable test clips.
        splits: the splits pretraining must not see.
        id_columns: extra identifier columns taken as song IDs where present (e.g.
            VGMIDI's ``piece``); ``song_id`` is always used.
    """
    paths: dict[str, str] = {}
    ids: list[str] = []
    for manifest in manifests:
        rows = manifest[manifest["split"].isin(list(splits))]
        paths.update(zip(rows["clip_id"].astype(str), rows["midi_path"].astype(str), strict=True))
        for column in ("song_id", *id_columns):
            if column in rows.columns:
                ids += rows[column].astype(str).tolist()
    return build_exclusion_set(paths, ids, ledger)


# ---------------------------------------------------------------------------- scanning

_worker_exclusion: ExclusionSet | None = None


def _init_worker(exclude: ExclusionSet | None) -> None:
    global _worker_exclusion
    _worker_exclusion = exclude


def _scan(task: tuple[str, str, str]) -> dict[str, object]:
    """Read one piece: its manifest fields and test match, or ``error`` = (reason, message).

    Errors are returned, not raised: :class:`InputError` does not survive pickling.
    """
    corpus, piece_id, path = task
    row: dict[str, object] = {"corpus": corpus, "piece_id": piece_id, "path": path}
    try:
        score = read_score(path, f"{corpus}/{piece_id}")
    except InputError as err:
        return {**row, "error": (err.reason, err.message)}
    notes = score_to_notes(score)
    if len(notes) == 0:
        return {**row, "error": ("no_notes", "MIDI file has no pitched notes")}
    piece_hash = content_hash(score)
    row.update(
        n_notes=len(notes),
        duration_s=notes.end_time,
        content_hash=piece_hash,
        sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
    )
    if _worker_exclusion is not None:
        row["test_match"] = _worker_exclusion.match(Path(path).stem, piece_hash, ngram_fingerprint(notes))
    return row


def list_pieces(sources: Mapping[str, str | Path]) -> list[tuple[str, str, str]]:
    """``(corpus, piece_id, path)`` of every MIDI file of ``sources``, in canonical order.

    Raises:
        InputError: ``missing_folder`` if a source folder does not exist.
    """
    tasks = []
    for corpus, folder in sources.items():
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(corpus, "missing_folder", "pretraining corpus folder does not exist", folder)
        files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES]
        for relative in sorted(p.relative_to(folder).as_posix() for p in files):
            tasks.append((corpus, str(Path(relative).with_suffix("").as_posix()), str(folder / relative)))
    return tasks


def default_sources(mirror: str | Path, user_dir: str | Path | None = None) -> dict[str, Path]:
    """:data:`DEFAULT_CORPORA` under ``mirror``, then ``user_dir`` as corpus ``user`` if given."""
    sources = {name: Path(mirror) / relative for name, relative in DEFAULT_CORPORA.items()}
    if user_dir:
        sources[USER_CORPUS] = Path(user_dir)
    return sources


def default_workers() -> int:
    """The CPUs this process may use, at most :data:`DEFAULT_MAX_WORKERS`."""
    return max(1, min(len(os.sched_getaffinity(0)), DEFAULT_MAX_WORKERS))


def build_pretraining_manifest(
    sources: Mapping[str, str | Path],
    exclude: ExclusionSet | None,
    ledger: Ledger,
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan the pretraining corpora; drop duplicates and (if ``exclude``) test music.

    Args:
        sources: corpus name -> folder, in canonical order (see the module docstring).
        exclude: the test set to keep out of pretraining; None disables the check (the
            pipeline passes one by default).
        ledger: receives unreadable files and files without notes.
        workers: processes parsing files (default :func:`default_workers`; 1 = in-process).

    Returns:
        ``(manifest, dropped)``: the kept pieces (:data:`MANIFEST_COLUMNS`, canonical order)
        and the dropped ones (:data:`DROPPED_COLUMNS`), both with a fresh index.

    Raises:
        InputError: a source folder is missing.
    """
    tasks = list_pieces(sources)
    workers = default_workers() if workers is None else max(1, workers)
    progress = Progress(log, len(tasks), "MIDI files", every=PROGRESS_EVERY)
    rows: list[dict[str, object]] = []

    def collect(results: Iterable[dict[str, object]]) -> None:
        for row in results:
            progress.step()
            if "error" in row:
                reason, message = row["error"]  # type: ignore[misc]
                item = f"{row['corpus']}/{row['piece_id']}"
                ledger.record(InputError(item, str(reason), str(message), str(row["path"])))
            else:
                rows.append(row)

    if workers == 1:
        _init_worker(exclude)
        try:
            collect(map(_scan, tasks))
        finally:
            _init_worker(None)
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(exclude,)) as pool:
            collect(pool.map(_scan, tasks, chunksize=CHUNKSIZE))

    table = pd.DataFrame(rows, columns=[*MANIFEST_COLUMNS, "test_match"])
    reasons, details = _drop_reasons(table)
    table["reason"], table["detail"] = reasons, details
    kept = table[table["reason"] == ""]
    dropped = table[table["reason"] != ""]
    log.info(
        "pretraining manifest: %d pieces kept, %d dropped (%s)",
        len(kept),
        len(dropped),
        dropped["reason"].value_counts().to_dict(),
    )
    return kept[MANIFEST_COLUMNS].reset_index(drop=True), dropped[DROPPED_COLUMNS].reset_index(drop=True)


def _drop_reasons(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Per row (canonical order): drop reason and detail, ``""`` for kept pieces."""
    reasons = [""] * len(table)
    details = [""] * len(table)
    first_of: dict[str, int] = {}
    tainted: dict[str, int] = {}  # content hash -> first row matching the test set
    for i, (piece_hash, match) in enumerate(zip(table["content_hash"], table["test_match"], strict=True)):
        first_of.setdefault(piece_hash, i)
        if isinstance(match, tuple):
            reasons[i], details[i] = match
            tainted.setdefault(piece_hash, i)
    labels = [f"{c}/{p}" for c, p in zip(table["corpus"], table["piece_id"], strict=True)]
    for i, piece_hash in enumerate(table["content_hash"]):
        if reasons[i]:
            continue
        if piece_hash in tainted:
            reasons[i], details[i] = TEST_DUPLICATE, f"same notes as {labels[tainted[piece_hash]]}"
        elif first_of[piece_hash] != i:
            reasons[i], details[i] = DUPLICATE, f"same notes as {labels[first_of[piece_hash]]}"
    return reasons, details


def is_held_out(corpus: str, piece_id: str, fraction: float) -> bool:
    """Whether the piece ``<corpus>/<piece_id>`` is held out of masked-LM training.

    A piece is held out when the first 8 bytes of the SHA-256 of ``"<corpus>/<piece_id>"``,
    read as an integer in [0, 1), fall under ``fraction``: whole pieces (no chunk of a held-out
    piece is trained on), the same pieces for every model size, seed and run, and a piece
    keeps its side when other pieces are added to the corpus.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")
    digest = hashlib.sha256(f"{corpus}/{piece_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
