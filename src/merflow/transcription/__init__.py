"""Audio-to-MIDI transcription: pluggable backends and a cached, failure-tolerant batch runner.

Conventions
-----------
A backend is any object satisfying :class:`Transcriber`: a ``name`` and a
``transcribe(audio_path, item) -> Notes`` that raises :class:`~merflow.core.errors.InputError`
for a bad input. :func:`get_transcriber` builds one by name (:data:`TRANSCRIBERS`:
``basic_pitch``, ``transkun`` (in its own environment, :mod:`merflow.transcription.transkun`),
``oracle``); backends are imported only when asked for, so importing this package does not
load basic-pitch.

:func:`transcribe_clips` writes ``out_dir/<clip_id>.mid`` per clip (atomically, one piano
track): with ``beat_grid`` (the default) on a beat grid estimated from the notes
(:mod:`merflow.transcription.beat_grid`: 480 ticks per beat, a tempo per beat, times in seconds
preserved), so that bar/position tokenizers (CP, REMI) see real beats; otherwise at a
constant 120 bpm (:func:`merflow.music.midi.write_notes`). It skips clips
whose MIDI is newer than their source file, records each failed clip in the ledger and
carries on. Its table reports the processing time and the realtime factor
(processing seconds / audio seconds) of every clip transcribed in this call.

Oracle: the ``oracle`` backend is the dataset's own MIDI passed through the same runner.
Its "audio" path for a clip is the clip's reference MIDI file, which it reads with
:func:`merflow.music.midi.read_notes`. Keeping it a backend (rather than a special case in the
caller) means every condition, oracle included, yields the same ``<clip_id>.mid`` layout,
the same normalised MIDI format, the same table and ledger rows (``corrupt_midi``,
``no_notes``), and cache invalidation against the file actually read, with no mapping or
state inside the backend. Its ``audio_seconds`` / realtime factor are NaN.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import soundfile

from merflow.core.errors import InputError
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress
from merflow.music.midi import Notes, read_notes, write_notes
from merflow.transcription.beat_grid import write_beat_aligned

#: Columns of the table returned by :func:`transcribe_clips`.
RESULT_COLUMNS = [
    "clip_id",
    "midi_path",
    "status",
    "n_notes",
    "seconds",
    "audio_seconds",
    "realtime_factor",
]
#: Values of the ``status`` column.
TRANSCRIBED, CACHED, FAILED = "transcribed", "cached", "failed"
#: Minimum seconds between two progress log lines (the last clip is always logged).
PROGRESS_INTERVAL_S = 10.0
MIDI_SUFFIX = ".mid"

log = logging.getLogger(__name__)


@runtime_checkable
class Transcriber(Protocol):
    """An audio-to-notes backend.

    Attributes:
        name: registry name of the backend (``basic_pitch``, ``oracle``...).
    """

    name: str

    def transcribe(self, audio_path: Path, item: str) -> Notes:
        """Transcribe the recording at ``audio_path`` (clip ``item``) into notes in seconds.

        Raises:
            InputError: the file is missing, unreadable, or yields no notes.
        """
        ...


class OracleTranscriber:
    """The ground-truth "transcription": reads the clip's reference MIDI file.

    ``transcribe(midi_path, item)`` returns :func:`merflow.music.midi.read_notes` of ``midi_path``
    (all pitched tracks merged), so it raises ``missing_file``, ``corrupt_midi`` or ``no_notes``.
    """

    name = "oracle"

    def transcribe(self, audio_path: Path, item: str) -> Notes:
        """Read the reference MIDI at ``audio_path`` (named so for the protocol)."""
        return read_notes(audio_path, item)


def _basic_pitch(**options: Any) -> Transcriber:
    from merflow.transcription.basic_pitch import BasicPitchTranscriber

    return BasicPitchTranscriber(**options)


def _transkun(**options: Any) -> Transcriber:
    from merflow.transcription.transkun import TranskunTranscriber

    return TranskunTranscriber(**options)


def _oracle(**options: Any) -> Transcriber:
    if options:
        raise TypeError(f"the oracle transcriber takes no options, got {sorted(options)}")
    return OracleTranscriber()


_FACTORIES: dict[str, Callable[..., Transcriber]] = {
    "basic_pitch": _basic_pitch,
    "transkun": _transkun,
    "oracle": _oracle,
}
#: Names accepted by :func:`get_transcriber`.
TRANSCRIBERS = tuple(_FACTORIES)


def get_transcriber(name: str, **options: Any) -> Transcriber:
    """Build the backend called ``name`` with backend-specific keyword ``options``.

    ``basic_pitch`` options: see :class:`merflow.transcription.basic_pitch.BasicPitchTranscriber`
    (``onset_threshold``, ``frame_threshold``, ``minimum_note_length_ms``,
    ``minimum_frequency``, ``maximum_frequency``, ``melodia_trick``). ``transkun`` options: see
    :class:`merflow.transcription.transkun.TranskunTranscriber` (``python`` of its own
    environment, ``device``, ``threads``, ``weight``, ``conf``). ``oracle`` takes none.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names).
        TypeError: an option the backend does not take.
    """
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown transcriber {name!r}; valid names: {', '.join(TRANSCRIBERS)}") from None
    return factory(**options)


def evenly_spaced(clips: pd.DataFrame, max_clips: int) -> pd.DataFrame:
    """At most ``max_clips`` rows of ``clips``, evenly spaced over its order (0 = all rows).

    For a slow backend on a subset: spread over the whole table (EMOPIA's clip IDs start with
    the quadrant, so the first N would all be Q1), deterministic, index reset.
    """
    if max_clips <= 0 or len(clips) <= max_clips:
        return clips.reset_index(drop=True)
    rows = np.unique(np.linspace(0, len(clips) - 1, max_clips).round().astype(int))
    return clips.iloc[rows].reset_index(drop=True)


def audio_seconds(path: Path) -> float:
    """Duration of an audio file in seconds from its header; NaN if it cannot be read."""
    try:
        return float(soundfile.info(str(path)).duration)
    except Exception:  # not audio, missing, or a format libsndfile cannot open
        return math.nan


def _is_fresh(midi_path: Path, source_path: Path) -> bool:
    """True when ``midi_path`` exists and was modified after ``source_path``."""
    if not (midi_path.is_file() and source_path.is_file()):
        return False
    return midi_path.stat().st_mtime_ns > source_path.stat().st_mtime_ns


def transcribe_clips(
    audio_paths: Mapping[str, Path],
    transcriber: Transcriber,
    out_dir: Path,
    ledger: Ledger,
    beat_grid: bool = True,
) -> pd.DataFrame:
    """Transcribe every clip to ``out_dir/<clip_id>.mid``, reusing up-to-date MIDI files.

    A clip is ``cached`` (not recomputed) when its MIDI exists, is newer than its source file
    and can be read. A clip whose backend raises :class:`InputError` is recorded in
    ``ledger``, any stale MIDI of it is deleted, and the run continues; other exceptions
    propagate. Progress (count, clips/s, ETA) is logged at INFO every
    :data:`PROGRESS_INTERVAL_S` seconds.

    Args:
        audio_paths: clip ID -> source file (audio; the reference MIDI for ``oracle``).
        transcriber: backend from :func:`get_transcriber`.
        out_dir: output folder, created if needed.
        ledger: failures are recorded here (not written; the caller writes it).

    Returns:
        one row per clip, in input order, with :data:`RESULT_COLUMNS`: ``clip_id``,
        ``midi_path`` (str, empty when failed), ``status`` (transcribed/cached/failed),
        ``n_notes`` (0 when failed), ``seconds`` (processing seconds in this call; NaN when
        cached), ``audio_seconds`` (source duration from its header; NaN if not audio) and
        ``realtime_factor`` (seconds / audio_seconds, for transcribed clips only, else NaN).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    counts = {TRANSCRIBED: 0, CACHED: 0, FAILED: 0}
    progress = Progress(log, len(audio_paths), "clips", interval_s=PROGRESS_INTERVAL_S)
    for clip_id, source in audio_paths.items():
        source = Path(source)
        midi_path = out_dir / f"{clip_id}{MIDI_SUFFIX}"
        duration = audio_seconds(source)
        row = _cached_row(clip_id, source, midi_path) if _is_fresh(midi_path, source) else None
        if row is None:
            row = _transcribe_one(clip_id, source, midi_path, transcriber, ledger, beat_grid)
            if row["status"] == TRANSCRIBED and duration > 0:
                row["realtime_factor"] = row["seconds"] / duration
        row["audio_seconds"] = duration
        rows.append(row)
        counts[row["status"]] += 1
        progress.step(detail=", ".join(f"{status} {n}" for status, n in counts.items()))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _cached_row(clip_id: str, source: Path, midi_path: Path) -> dict[str, Any] | None:
    """The ``cached`` row of an up-to-date MIDI, or None when it is unreadable (and must be redone)."""
    try:
        n_notes = len(read_notes(midi_path, clip_id))
    except InputError as error:
        log.warning("%s: cached MIDI is unusable (%s); transcribing %s again", clip_id, error.reason, source)
        return None
    return _row(clip_id, str(midi_path), CACHED, n_notes, math.nan)


def _transcribe_one(
    clip_id: str, source: Path, midi_path: Path, transcriber: Transcriber, ledger: Ledger, beat_grid: bool
) -> dict[str, Any]:
    tic = time.perf_counter()
    try:
        notes = transcriber.transcribe(source, clip_id)
    except InputError as error:
        ledger.record(error)
        midi_path.unlink(missing_ok=True)  # a stale output must not outlive a failed redo
        return _row(clip_id, "", FAILED, 0, time.perf_counter() - tic)
    (write_beat_aligned if beat_grid else write_notes)(notes, midi_path)
    return _row(clip_id, str(midi_path), TRANSCRIBED, len(notes), time.perf_counter() - tic)


def _row(clip_id: str, midi_path: str, status: str, n_notes: int, seconds: float) -> dict[str, Any]:
    return {
        "clip_id": clip_id,
        "midi_path": midi_path,
        "status": status,
        "n_notes": n_notes,
        "seconds": seconds,
        "audio_seconds": math.nan,
        "realtime_factor": math.nan,
    }


__all__ = [
    "CACHED",
    "FAILED",
    "RESULT_COLUMNS",
    "TRANSCRIBED",
    "TRANSCRIBERS",
    "OracleTranscriber",
    "Transcriber",
    "audio_seconds",
    "evenly_spaced",
    "get_transcriber",
    "transcribe_clips",
]
