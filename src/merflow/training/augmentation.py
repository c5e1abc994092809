"""Mode-preserving transposition, the data augmentation of MoFi's MoGE diagnosis.

Conventions
-----------
* A transposition shifts every pitched note of a piece by the same number of semitones
  (positive = up). Intervals between notes are unchanged, so the mode (major/minor) is
  too; the key's tonic moves by the shift: key index ``12 * is_minor + tonic`` (the
  convention of :mod:`merflow.music.tonality`) becomes ``12 * is_minor + (tonic + k) % 12``
  (:func:`shift_key`).
* MoFi shifts "within an octave": the default candidate shifts are
  :data:`DEFAULT_SHIFTS` = -5..+6, twelve intervals that reach every tonic once
  (0 = the original).
* A shift is *valid* for a piece when every shifted pitch stays in ``[low, high]``
  (inclusive MIDI numbers): the piano range 21..108 by default, or the CP tokenizer's
  pitch range 22..107 (:data:`CP_RANGE`) for MIDIBERT inputs. Invalid shifts are never
  used; a piece with no valid shift (one that already leaves the range, or spans more
  than it) is left as it is (shift 0).
* Drum tracks of a score are not transposed. Key signatures of a score move with the
  shift (major tonic spelled with at most 6 sharps or 5 flats, e.g. F# not Gb, Db not C#).
* Randomness comes only from the ``numpy.random.Generator`` passed in, so a seeded
  generator gives the same choices on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import symusic

from merflow.music.midi import Notes, score_note_arrays
from merflow.music.tonality import N_PITCH_CLASSES

#: Lowest and highest key of an 88-key piano (A0, C8), MIDI numbers.
PIANO_RANGE = (21, 108)
#: Pitch range of the CP tokenizer of MIDI-BERT (its 86 pitch tokens), MIDI numbers.
CP_RANGE = (22, 107)
#: MoFi's shifts within an octave, in semitones (0 keeps the original).
DEFAULT_SHIFTS = tuple(range(-5, 7))
MIDI_PITCH_RANGE = (0, 127)
#: Sharps added per semitone of transposition: 7 (a fifth) is its own inverse mod 12.
SHARPS_PER_SEMITONE = 7
MAX_SHARPS = 6  # key signatures with more are written with flats


def _check_midi_range(low: int, high: int, semitones: int) -> None:
    """Raise ValueError if pitches ``low..high`` shifted by ``semitones`` leave 0..127."""
    if low + semitones < MIDI_PITCH_RANGE[0] or high + semitones > MIDI_PITCH_RANGE[1]:
        raise ValueError(
            f"transposing pitches {low}..{high} by {semitones} semitones leaves the MIDI range 0..127"
        )


def transpose_notes(notes: Notes, semitones: int) -> Notes:
    """All notes shifted by ``semitones`` (times and velocities unchanged).

    Raises:
        ValueError: if a shifted pitch would leave 0..127.
    """
    if len(notes):
        _check_midi_range(int(notes.pitch.min()), int(notes.pitch.max()), semitones)
    return notes.transpose(int(semitones))


def shift_key(key_index: int | np.ndarray, semitones: int) -> int | np.ndarray:
    """Key index (``12 * is_minor + tonic``, 0..23) after a transposition; the mode is kept."""
    mode, tonic = np.divmod(key_index, N_PITCH_CLASSES)
    shifted = mode * N_PITCH_CLASSES + (tonic + semitones) % N_PITCH_CLASSES
    return int(shifted) if np.ndim(shifted) == 0 else shifted


def _shift_key_signature(sharps: int, semitones: int) -> int:
    """Sharps (negative: flats) of a key signature after a transposition, in -5..6.

    A signature names a major key and its relative minor alike; each semitone up adds
    7 sharps modulo 12 (the major tonic is ``7 * sharps mod 12``, and 7 * 7 = 1 mod 12).
    """
    new = (sharps + SHARPS_PER_SEMITONE * semitones) % N_PITCH_CLASSES
    return new - N_PITCH_CLASSES if new > MAX_SHARPS else new


def transpose_score(score: symusic.Score, semitones: int) -> symusic.Score:
    """A copy of ``score`` with its pitched tracks and key signatures shifted by ``semitones``.

    Raises:
        ValueError: if a shifted pitch would leave 0..127.
    """
    pitches = score_note_arrays(score)["pitch"]
    if len(pitches):
        _check_midi_range(int(pitches.min()), int(pitches.max()), semitones)
    out = score.copy()
    for track in out.tracks:
        if not track.is_drum:
            track.shift_pitch(int(semitones), inplace=True)
    for signature in out.key_signatures:
        signature.key = _shift_key_signature(signature.key, semitones)
    return out


def valid_shifts(
    pitches: np.ndarray,
    low: int = PIANO_RANGE[0],
    high: int = PIANO_RANGE[1],
    shifts: Sequence[int] = DEFAULT_SHIFTS,
) -> np.ndarray:
    """The shifts that keep every pitch in ``[low, high]``.

    Args:
        pitches: shape (n,), MIDI pitches of a piece.
        low: lowest allowed pitch (inclusive).
        high: highest allowed pitch (inclusive).
        shifts: candidate shifts in semitones.

    Returns:
        shape (m,), int64, the valid shifts in the order of ``shifts`` (all of them when
        ``pitches`` is empty; none when the piece cannot fit).
    """
    shifts = np.asarray(shifts, dtype=np.int64).reshape(-1)
    pitches = np.asarray(pitches, dtype=np.int64)
    if pitches.size == 0:
        return shifts
    ok = (pitches.min() + shifts >= low) & (pitches.max() + shifts <= high)
    return shifts[ok]


def augment(
    notes: Notes,
    rng: np.random.Generator,
    shifts: Sequence[int] = DEFAULT_SHIFTS,
    low: int = PIANO_RANGE[0],
    high: int = PIANO_RANGE[1],
) -> tuple[Notes, int]:
    """One random mode-preserving transposition of a piece.

    Args:
        notes: the piece.
        rng: source of randomness (seed it for reproducible choices).
        shifts: candidate shifts in semitones.
        low: lowest allowed pitch after shifting (inclusive).
        high: highest allowed pitch after shifting (inclusive).

    Returns:
        the transposed notes and the shift, drawn uniformly from the valid shifts
        (:func:`valid_shifts`); ``(notes, 0)`` when no shift is valid. Move the key label
        with :func:`shift_key`.
    """
    candidates = valid_shifts(notes.pitch, low, high, shifts)
    if candidates.size == 0:
        return notes, 0
    semitones = int(rng.choice(candidates))
    return transpose_notes(notes, semitones), semitones


def transpositions(
    notes: Notes,
    shifts: Sequence[int] = DEFAULT_SHIFTS,
    low: int = PIANO_RANGE[0],
    high: int = PIANO_RANGE[1],
) -> list[tuple[int, Notes]]:
    """Every valid transposition of a piece (offline augmentation of a training set).

    Returns:
        ``(shift, notes)`` pairs in the order of ``shifts``, only valid shifts.
    """
    return [(int(k), transpose_notes(notes, int(k))) for k in valid_shifts(notes.pitch, low, high, shifts)]
