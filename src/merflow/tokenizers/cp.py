"""Compound-word (CP) tokens of MIDI-BERT (Chou et al. 2021), built exactly as its data scripts build them.

Conventions
-----------
A piece is an int64 array of shape (n_notes, 4): one row per note, columns
``[Bar, Position, Pitch, Duration]`` (:data:`BAR`, :data:`POSITION`, :data:`PITCH`,
:data:`DURATION`), each an id in its own vocabulary (:class:`CPVocab`, equal to MIDI-BERT's
``CP.pkl`` / ``CP_vocab.json``):

==========  =====  ================================================================
field       size   ids
==========  =====  ================================================================
Bar         4      0 New (first note of a bar), 1 Continue, 2 PAD, 3 MASK
Position    18     0..15 onset in 16ths of a 4/4 bar (``Position k/16`` = id k-1), 16 PAD, 17 MASK
Pitch       88     0..85 MIDI pitch 22..107 (id = pitch - 22), 86 PAD, 87 MASK
Duration    66     0..63 duration bin of 60 ticks (bin b = (b + 1) * 60 ticks), 64 PAD, 65 MASK
==========  =====  ================================================================

Times are MIDI ticks at :data:`TICKS_PER_BEAT` = 480 per beat; a bar is always 4 beats
(1,920 ticks, time signatures are ignored) and a Position step is a 16th note (120 ticks).
The rules are those of MIDI-BERT's ``data_creation/prepare_data`` (``utils.py``,
``model.py``), re-implemented here with vectorised numpy (verified token for token against
MIDI-BERT's own EMOPIA validation tokens):

* **Notes.** Every note of every track is read, drum tracks included (miditoolkit does not
  set them apart). A note-off ends the oldest sounding note of its pitch and channel, as in
  miditoolkit >= 1.0 and symusic (MIDI-BERT's 2021 miditoolkit 0.1.x ended all of them at
  once; the two differ only for overlapping notes of one pitch, of which EMOPIA has none).
  Files whose notes are all in one track (one program and channel) are parsed with symusic
  (fast); files with several are parsed with miditoolkit, whose instrument order (by first
  note-off, MIDI track by MIDI track) decides the order of simultaneous notes and differs
  from symusic's track order. A :class:`symusic.Score` passed in keeps its own track order.
* **Order.** Notes are sorted by their *original* onset, then track, then pitch (then
  offset); the order is kept through quantization, so two notes that quantize to the same
  16th stay in the order of their unquantized onsets, not by pitch.
* **Quantization.** Each onset moves to the nearest point of a 120-tick grid (ties go to the
  earlier point) and its offset moves with it (durations are not quantized). The grid is
  ``0, 120, ...`` up to but *excluding* the latest onset, as MIDI-BERT builds it with
  ``np.arange(0, last_onset, 120)``: the latest notes therefore land on the last grid point
  before their onset, one 16th early when that onset is itself on the grid.
* **Bars.** Bars are 1,920-tick windows from tick 0 up to the offset of the last note in the
  sort order (rounded up to a bar line); the first note of each bar gets ``Bar New``, the
  others ``Bar Continue``. Bars without notes produce nothing, so empty bars are lost.
* **Duration.** ``offset - onset`` goes to the nearest of 60, 120, ..., 3840 ticks (ties go to
  the shorter bin): 0..90 ticks are bin 0, a quarter note (480) bin 7, anything longer than
  3,810 ticks bin 63.
* **Chunks.** :func:`chunk_cp` cuts a piece into chunks of 512 notes and pads only the last
  one, with ``[Bar PAD, Position PAD, Pitch PAD, Duration PAD] = [2, 16, 86, 64]``; a piece
  of exactly k * 512 notes gets no padding.

Choices where MIDI-BERT does not define the behaviour (its script crashes):

* Pitches outside 22..107 (including the piano's own A0 = 21 and C8 = 108) are **dropped**
  after quantization and bar grouping, so the other notes keep the tokens they would have
  had; a bar whose first note is dropped starts with its next kept note (``Bar New``).
* A file whose notes all start at tick 0 (empty grid in MIDI-BERT) quantizes to tick 0.
* A file without a tempo event is tokenized like any other (tempo is not a CP field).
* Resolution: MIDI-BERT reads raw ticks as if they were at 480 per beat, whatever the
  file's resolution. With ``rescale=True`` (the default) ticks are first rescaled to 480 per
  beat (rounded half up), so a bar really is 4 beats. EMOPIA's MIDI files are at 384 ticks
  per beat, so MIDI-BERT's EMOPIA tokens are reproduced only with ``rescale=False`` (its
  "bar" is then 5 beats and its "16th" 5/16 of a beat).

Corrupt or missing files raise :class:`~merflow.core.errors.InputError` (``corrupt_midi``,
``missing_file``); a piece left without any note raises it with reason ``no_notes``, where
MIDI-BERT skips the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import miditoolkit
import numpy as np
import symusic

from merflow.core.errors import InputError
from merflow.music.midi import read_score, score_note_arrays
from merflow.tokenizers.chunks import chunk_rows

TICKS_PER_BEAT = 480
BEATS_PER_BAR = 4
TICKS_PER_BAR = TICKS_PER_BEAT * BEATS_PER_BAR  # 1920
POSITIONS_PER_BAR = 16
TICKS_PER_POSITION = TICKS_PER_BAR // POSITIONS_PER_BAR  # 120
PITCH_MIN = 22
PITCH_MAX = 107
N_PITCHES = PITCH_MAX - PITCH_MIN + 1  # 86
DURATION_STEP = 60
N_DURATION_BINS = 64
MAX_LEN = 512

FIELDS = ("Bar", "Position", "Pitch", "Duration")
BAR, POSITION, PITCH, DURATION = range(len(FIELDS))
BAR_NEW = 0
BAR_CONTINUE = 1
PAD_LABEL = "<PAD>"
MASK_LABEL = "<MASK>"


def _field_values() -> dict[str, list[str]]:
    """The ordinary (non-special) values of each field, in id order, as MIDI-BERT names them."""
    return {
        "Bar": ["New", "Continue"],
        "Position": [f"{k}/{POSITIONS_PER_BAR}" for k in range(1, POSITIONS_PER_BAR + 1)],
        "Pitch": [str(p) for p in range(PITCH_MIN, PITCH_MAX + 1)],
        "Duration": [str(b) for b in range(N_DURATION_BINS)],
    }


@dataclass(frozen=True)
class CPVocab:
    """MIDI-BERT's CP vocabulary: per field, event name (``"Pitch 60"``) <-> id.

    Attributes:
        event2word: ``{field: {event: id}}`` for the fields of :data:`FIELDS`, in that order.
    """

    event2word: dict[str, dict[str, int]]

    @classmethod
    def default(cls) -> CPVocab:
        """The vocabulary built from MIDI-BERT's rules (its ``make_dict.py``): each field's
        values in order, then ``<PAD>`` and ``<MASK>``. Equal to MIDI-BERT's ``CP.pkl``."""
        event2word = {}
        for field, values in _field_values().items():
            names = [f"{field} {v}" for v in values] + [f"{field} {PAD_LABEL}", f"{field} {MASK_LABEL}"]
            event2word[field] = {name: i for i, name in enumerate(names)}
        return cls(event2word)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> CPVocab:
        """Vocabulary from a ``CP_vocab.json``-like mapping (``{"event2word": ..., ...}``) or
        from its ``event2word`` part alone."""
        event2word = mapping.get("event2word", mapping)
        return cls({field: {str(k): int(v) for k, v in event2word[field].items()} for field in FIELDS})

    def to_mapping(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{"event2word": ..., "word2event": ...}`` as in ``CP_vocab.json`` (JSON object keys,
        so the ids of ``word2event`` are strings)."""
        word2event = {f: {str(i): e for e, i in words.items()} for f, words in self.event2word.items()}
        return {
            "event2word": {f: dict(words) for f, words in self.event2word.items()},
            "word2event": word2event,
        }

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of ids per field, (4, 18, 88, 66)."""
        return tuple(len(self.event2word[f]) for f in FIELDS)

    @property
    def pad_word(self) -> np.ndarray:
        """The padding row, shape (4,), int64: ``[2, 16, 86, 64]``."""
        return np.array([self.event2word[f][f"{f} {PAD_LABEL}"] for f in FIELDS], dtype=np.int64)

    @property
    def mask_word(self) -> np.ndarray:
        """The mask row used by masked-LM pre-training, shape (4,), int64: ``[3, 17, 87, 65]``."""
        return np.array([self.event2word[f][f"{f} {MASK_LABEL}"] for f in FIELDS], dtype=np.int64)

    def events(self, row: np.ndarray) -> list[str]:
        """Event names of one token row of shape (4,), e.g. ``['Bar New', 'Position 5/16', ...]``."""
        names = {f: {i: e for e, i in words.items()} for f, words in self.event2word.items()}
        return [names[f][int(i)] for f, i in zip(FIELDS, row, strict=True)]


VOCAB = CPVocab.default()
PAD_WORD = VOCAB.pad_word


class CPNotes(NamedTuple):
    """Notes decoded from CP tokens, all int64 arrays of shape (n,), ticks at 480 per beat."""

    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray


def _score_notes(score: symusic.Score) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Onset, offset (ticks), pitch and track index of every note of ``score``, drums included; shape (n,)."""
    notes = score_note_arrays(score, include_drums=True)
    return notes["time"], notes["time"] + notes["duration"], notes["pitch"], notes["track"]


def _miditoolkit_notes(path: Path, item: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`_score_notes`, with miditoolkit's instruments (and their order) as tracks."""
    try:
        midi = miditoolkit.MidiFile(str(path))
    except Exception as exc:  # mido raises OSError/ValueError/EOFError on bad files
        raise InputError(item, "corrupt_midi", f"cannot parse MIDI: {exc}", path) from exc
    parts = []
    for instrument in midi.instruments:
        notes = np.array([(n.start, n.end, n.pitch) for n in instrument.notes], dtype=np.int64).reshape(-1, 3)
        parts.append(tuple(notes.T))
    return _concat_tracks(parts)


def _concat_tracks(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate per-track (onset, offset, pitch) arrays, adding the track index."""
    if not parts:
        parts = [(np.zeros(0),) * 3]
    onset, offset, pitch = (np.concatenate(column).astype(np.int64) for column in zip(*parts, strict=True))
    track = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    return onset, offset, pitch, track


def _read_notes(
    source: str | Path | symusic.Score, item: str | None
) -> tuple[str, int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Item name, ticks per beat and the notes of ``source`` (see :func:`_score_notes`).

    Files are parsed with symusic; a file with notes in more than one track is parsed again
    with miditoolkit, whose instrument order (which decides the order of simultaneous notes)
    symusic does not keep.
    """
    if not isinstance(source, str | Path):
        score = source if isinstance(source, symusic.core.ScoreTick) else source.to("tick")
        return item or "score", score.ticks_per_quarter, _score_notes(score)
    item = item or Path(source).stem
    score = read_score(source, item)
    if sum(len(track.notes) > 0 for track in score.tracks) > 1:
        return item, score.ticks_per_quarter, _miditoolkit_notes(Path(source), item)
    return item, score.ticks_per_quarter, _score_notes(score)


def _rescale_ticks(ticks: np.ndarray, ticks_per_beat: int) -> np.ndarray:
    """Ticks at ``ticks_per_beat`` per beat -> ticks at 480 per beat, rounded half up."""
    return (ticks * TICKS_PER_BEAT * 2 + ticks_per_beat) // (2 * ticks_per_beat)


def _quantize_onsets(onset: np.ndarray) -> np.ndarray:
    """MIDI-BERT's onset grid: nearest multiple of 120 ticks (ties down), capped at the last
    multiple of 120 *below* the latest onset (0 if the latest onset is 0). Shape kept."""
    latest = int(onset.max())
    cap = ((latest - 1) // TICKS_PER_POSITION) * TICKS_PER_POSITION if latest > 0 else 0
    nearest = (onset + TICKS_PER_POSITION // 2 - 1) // TICKS_PER_POSITION * TICKS_PER_POSITION
    return np.minimum(nearest, cap)


def duration_bin(duration: np.ndarray) -> np.ndarray:
    """Duration bin 0..63 of durations in ticks at 480 per beat (nearest multiple of 60,
    ties to the shorter, clamped to 60..3840). Any shape; int64 out."""
    duration = np.asarray(duration, dtype=np.int64)
    nearest = (duration + DURATION_STEP // 2 - 1) // DURATION_STEP - 1
    return np.clip(nearest, 0, N_DURATION_BINS - 1)


def encode_cp(
    source: str | Path | symusic.Score, *, rescale: bool = True, item: str | None = None
) -> np.ndarray:
    """CP tokens of a MIDI file or symusic score, one row per note (rules in the module docstring).

    Args:
        source: MIDI path, or a :class:`symusic.Score` (any time unit; converted to ticks).
        rescale: rescale ticks from the file's resolution to 480 per beat first; ``False``
            reads raw ticks as MIDI-BERT does (needed to reproduce its EMOPIA tokens).
        item: name used in errors (default: the file stem, or ``"score"``).

    Returns:
        int64 array of shape (n_notes, 4): ``[Bar, Position, Pitch, Duration]`` ids.

    Raises:
        InputError: ``missing_file`` / ``corrupt_midi`` if the file cannot be read,
            ``no_notes`` if no note in pitch range 22..107 remains.
    """
    item, ticks_per_beat, (onset, offset, pitch, track) = _read_notes(source, item)
    path = source if isinstance(source, str | Path) else None
    if len(onset) == 0:
        raise InputError(item, "no_notes", "MIDI file has no notes", path)
    if rescale and ticks_per_beat != TICKS_PER_BEAT:
        onset = _rescale_ticks(onset, ticks_per_beat)
        offset = _rescale_ticks(offset, ticks_per_beat)

    order = np.lexsort((offset, pitch, track, onset))
    onset, offset, pitch = onset[order], offset[order], pitch[order]
    start = _quantize_onsets(onset)
    end_of_last = int(offset[-1] + start[-1] - onset[-1])
    last_bar_line = -(-end_of_last // TICKS_PER_BAR) * TICKS_PER_BAR
    keep = (start < last_bar_line) & (pitch >= PITCH_MIN) & (pitch <= PITCH_MAX)
    if not keep.any():
        raise InputError(
            item, "no_notes", f"no note left to encode (pitch range {PITCH_MIN}..{PITCH_MAX})", path
        )
    start, duration, pitch = start[keep], (offset - onset)[keep], pitch[keep]

    bar = start // TICKS_PER_BAR
    tokens = np.empty((len(start), len(FIELDS)), dtype=np.int64)
    tokens[:, BAR] = np.where(np.diff(bar, prepend=-1) != 0, BAR_NEW, BAR_CONTINUE)
    tokens[:, POSITION] = (start % TICKS_PER_BAR) // TICKS_PER_POSITION
    tokens[:, PITCH] = pitch - PITCH_MIN
    tokens[:, DURATION] = duration_bin(duration)
    return tokens


def chunk_cp(tokens: np.ndarray, max_len: int = MAX_LEN, pad_word: np.ndarray = PAD_WORD) -> np.ndarray:
    """Cut a piece into chunks of ``max_len`` notes, padding the last one as MIDI-BERT does.

    Args:
        tokens: int64 array of shape (n_notes, 4) from :func:`encode_cp`.
        max_len: notes per chunk (MIDI-BERT: 512).
        pad_word: padding row, shape (4,) (default ``[2, 16, 86, 64]``).

    Returns:
        int64 array of shape (ceil(n_notes / max_len), max_len, 4); (0, max_len, 4) for no notes.
    """
    return chunk_rows(tokens, max_len, pad_word)


def decode_cp(tokens: np.ndarray) -> CPNotes:
    """Notes of CP tokens (a piece or its chunks), skipping rows with any PAD or MASK id.

    The first note is in bar 0 and each ``Bar New`` starts the next bar (empty bars were
    never encoded, so later onsets are early by the empty bars before them). Durations are
    the bins' values, ``(bin + 1) * 60`` ticks.

    Args:
        tokens: int64 array of shape (n, 4) or (n_chunks, max_len, 4).

    Returns:
        :class:`CPNotes` with onsets and durations in ticks at 480 per beat and MIDI pitches.
    """
    rows = np.asarray(tokens, dtype=np.int64).reshape(-1, len(FIELDS))
    n_ordinary = np.array([len(v) for v in _field_values().values()])
    rows = rows[(rows < n_ordinary).all(axis=1)]
    bar = np.maximum(np.cumsum(rows[:, BAR] == BAR_NEW) - 1, 0)
    onset = bar * TICKS_PER_BAR + rows[:, POSITION] * TICKS_PER_POSITION
    duration = (rows[:, DURATION] + 1) * DURATION_STEP
    return CPNotes(onset, duration, rows[:, PITCH] + PITCH_MIN)
