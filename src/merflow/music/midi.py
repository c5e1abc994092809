"""Reading and writing piano MIDI as flat note arrays.

Conventions
-----------
A :class:`Notes` holds every non-drum note of a file, all tracks merged, sorted by onset
then pitch. Times are in seconds (tempo map applied), pitches are MIDI numbers 0..127,
velocities 1..127. This is the one symbolic representation the tonality, feature and
tokenizer modules take as input; tick-based tokenizers (CP, REMI) read the score itself
through :func:`read_score` and merge its tracks with :func:`score_note_arrays` (ticks).

Failure behaviour: unreadable files raise :class:`~merflow.core.errors.InputError` with reason
``corrupt_midi``, and so do files that parse but cannot be timed (a time division of 0 or
SMPTE frames, a tempo of 0 microseconds per quarter note) or whose header declares tracks
of which none is present (a file cut after its header); files without any pitched note
raise it with reason ``no_notes``. Pitches outside the piano's 21..108 are kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

from merflow.core.errors import InputError
from merflow.core.io import atomic_path


@dataclass(frozen=True)
class Notes:
    """Notes of one piece, sorted by (onset, pitch).

    Attributes:
        onset: shape (n,), float64, seconds.
        offset: shape (n,), float64, seconds, ``offset > onset``.
        pitch: shape (n,), int64, MIDI note number.
        velocity: shape (n,), int64, 1..127.
        quarters: shape (n,), float64, durations in quarter notes on the MIDI file's own beat
            grid (ticks / ticks per quarter), or None for notes that did not come from a
            MIDI file (e.g. straight from a transcriber).
    """

    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    quarters: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.onset)
        if not (len(self.offset) == len(self.pitch) == len(self.velocity) == n):
            raise ValueError("Notes arrays must have equal length")
        if self.quarters is not None and len(self.quarters) != n:
            raise ValueError("Notes.quarters must have one value per note")

    def __len__(self) -> int:
        return len(self.onset)

    @property
    def duration(self) -> np.ndarray:
        """Note durations in seconds, shape (n,)."""
        return self.offset - self.onset

    @property
    def end_time(self) -> float:
        """Time of the last note offset in seconds (0 for no notes)."""
        return float(self.offset.max()) if len(self) else 0.0

    @classmethod
    def from_arrays(cls, onset, offset, pitch, velocity, quarters=None) -> Notes:
        """Build sorted notes from unsorted array-likes; zero-length notes get 1 ms."""
        onset = np.asarray(onset, dtype=np.float64)
        offset = np.maximum(np.asarray(offset, dtype=np.float64), onset + 1e-3)
        pitch = np.asarray(pitch, dtype=np.int64)
        velocity = np.clip(np.asarray(velocity, dtype=np.int64), 1, 127)
        order = np.lexsort((pitch, onset))
        beats = None if quarters is None else np.asarray(quarters, dtype=np.float64)[order]
        return cls(onset[order], offset[order], pitch[order], velocity[order], beats)

    def transpose(self, semitones: int) -> Notes:
        """All pitches shifted by ``semitones``."""
        return Notes(self.onset, self.offset, self.pitch + semitones, self.velocity, self.quarters)


def read_score(path: str | Path, item: str | None = None) -> symusic.Score:
    """Parse a MIDI file with symusic (tick time), raising :class:`InputError` if unreadable."""
    path = Path(path)
    item = item or path.stem
    if not path.is_file():
        raise InputError(item, "missing_file", "MIDI file does not exist", path)
    if path.stat().st_size == 0:
        raise InputError(item, "corrupt_midi", "MIDI file is empty (0 bytes)", path)
    try:
        score = symusic.Score(str(path))
    except Exception as exc:  # symusic raises RuntimeError/ValueError with a parser message
        raise InputError(item, "corrupt_midi", f"cannot parse MIDI: {exc}", path) from exc
    problem = _untimable(score) or (_missing_tracks(path) if not len(score.tracks) else None)
    if problem:
        raise InputError(item, "corrupt_midi", problem, path)
    return score


def _untimable(score: symusic.Score) -> str | None:
    """Why ``score``'s ticks cannot be converted to seconds, or None."""
    if score.ticks_per_quarter <= 0:
        return f"invalid time division ({score.ticks_per_quarter} ticks per quarter note)"
    if any(tempo.mspq <= 0 for tempo in score.tempos):
        return "tempo event of 0 microseconds per quarter note"
    return None


def _missing_tracks(path: Path) -> str | None:
    """For a file parsed without tracks: a message if its header declares tracks it does not hold."""
    data = path.read_bytes()
    declared = int.from_bytes(data[10:12], "big") if data[:4] == b"MThd" and len(data) >= 12 else 0
    if declared and b"MTrk" not in data:
        return f"header declares {declared} track(s) but the file holds none (truncated after the header)"
    return None


NOTE_FIELDS = ("time", "duration", "pitch", "velocity", "track")
"""Keys of :func:`score_note_arrays`."""


def score_note_arrays(score: symusic.Score, include_drums: bool = False) -> dict[str, np.ndarray]:
    """The notes of all tracks of ``score`` merged into flat arrays, in track order.

    Times stay in the score's own time unit: int64 for a tick score (the ticks themselves),
    float64 otherwise (quarter notes or seconds). Notes are not sorted.

    Args:
        score: any symusic score.
        include_drums: also merge drum tracks (by default only pitched tracks are read).

    Returns:
        dict with the keys of :data:`NOTE_FIELDS`, each of shape (n,): ``time`` (onset) and
        ``duration`` in the score's time unit; ``pitch``, ``velocity`` and ``track`` (index
        of the note's track in ``score.tracks``) as int64. Empty arrays if there is no note.
    """
    time_dtype = np.int64 if score.ttype == symusic.TimeUnit.tick else np.float64
    dtypes = {"time": time_dtype, "duration": time_dtype, "pitch": np.int64, "velocity": np.int64}
    columns: dict[str, list[np.ndarray]] = {key: [np.zeros(0, dtype=np.int64)] for key in NOTE_FIELDS}
    for index, track in enumerate(score.tracks):
        if (include_drums or not track.is_drum) and len(track.notes):
            part = track.notes.numpy()
            for key in dtypes:
                columns[key].append(part[key])
            columns["track"].append(np.full(len(part["time"]), index, dtype=np.int64))
    return {key: np.concatenate(parts).astype(dtypes.get(key, np.int64)) for key, parts in columns.items()}


def score_to_notes(score: symusic.Score) -> Notes:
    """Merge the pitched (non-drum) notes of all tracks of ``score`` into :class:`Notes` (seconds).

    See :func:`score_note_arrays` for the same notes in the score's own time unit.
    """
    notes = score_note_arrays(score.to("second"))
    onset = notes["time"]
    quarters = None
    if score.ttype == symusic.TimeUnit.tick:
        quarters = score_note_arrays(score)["duration"] / score.ticks_per_quarter
    return Notes.from_arrays(onset, onset + notes["duration"], notes["pitch"], notes["velocity"], quarters)


def read_notes(path: str | Path, item: str | None = None) -> Notes:
    """Read the pitched notes of a MIDI file.

    Raises:
        InputError: ``corrupt_midi`` if the file cannot be parsed, ``no_notes`` if it has
            no pitched note (empty, or drums only).
    """
    item = item or Path(path).stem
    return checked_notes(read_score(path, item), item, path)


def checked_notes(score: symusic.Score, item: str, path: str | Path) -> Notes:
    """Notes of a score read from ``path`` (:func:`read_score`), checked as :func:`read_notes` does.

    Raises:
        InputError: ``corrupt_midi`` for non-finite note times, ``no_notes`` without a pitched note.
    """
    notes = score_to_notes(score)
    if not (np.isfinite(notes.onset).all() and np.isfinite(notes.offset).all()):
        raise InputError(item, "corrupt_midi", "note times are not finite", path)
    if len(notes) == 0:
        raise InputError(item, "no_notes", "MIDI file has no pitched notes", path)
    return notes


def write_notes(notes: Notes, path: str | Path, tempo_bpm: float = 120.0, ticks_per_beat: int = 480) -> None:
    """Write ``notes`` as a one-track piano MIDI file (atomically).

    Seconds are converted to ticks at the constant ``tempo_bpm``.
    """
    ticks_per_second = ticks_per_beat * tempo_bpm / 60.0
    score = symusic.Score(ticks_per_beat)
    score.tempos.append(symusic.Tempo(0, float(tempo_bpm)))
    track = symusic.Track("piano", 0, False)
    starts = np.round(notes.onset * ticks_per_second).astype(np.int64)
    ends = np.maximum(np.round(notes.offset * ticks_per_second).astype(np.int64), starts + 1)
    for start, end, pitch, velocity in zip(starts, ends, notes.pitch, notes.velocity, strict=True):
        track.notes.append(symusic.Note(int(start), int(end - start), int(pitch), int(velocity)))
    score.tracks.append(track)
    with atomic_path(path) as tmp:
        score.dump_midi(str(tmp))
