"""MIDI-like performance events of Oore et al. (2018), "This time with feeling" (Performance RNN).

Conventions
-----------
A performance is a sequence of 388 event types, each an integer token:

=============  ===========  ===================================================
event          token ids    meaning
=============  ===========  ===================================================
NOTE_ON        0..127       start pitch ``token`` at the current time
NOTE_OFF       128..255     end pitch ``token - 128`` at the current time
TIME_SHIFT     256..355     advance time by ``(token - 255) * 10`` ms (10 ms..1 s)
SET_VELOCITY   356..387     velocity bin ``token - 356`` for later NOTE_ONs
=============  ===========  ===================================================

* Time starts at 0 s and is quantized to 10 ms steps (onsets and offsets are rounded to
  the nearest step). A gap longer than 1 s is written as several maximal shifts followed
  by the remainder (2.5 s -> 1 s, 1 s, 0.5 s). Notes shorter than one step after
  rounding last one step.
* Velocities 1..127 fall into 32 bins of 4 (1-4, 5-8, ..., 125-127); decoding gives the
  bin's value ``4 * bin + 3`` (at most 2 away from the original). A SET_VELOCITY event is
  emitted before a NOTE_ON only when the bin differs from the previous NOTE_ON's bin (the
  first NOTE_ON always gets one).
* At one time step, all NOTE_OFFs come before all NOTE_ONs, each group by ascending pitch,
  so a repeated pitch is released before it is struck again.
* A pitch sounds at most once at a time: a note struck again before its release is cut
  at the new onset, and of several notes with the same pitch and onset only the longest
  is kept.
* Decoding is lenient about model output: a NOTE_ON of a pitch that is already sounding
  ends the earlier note, a NOTE_OFF of a silent pitch is ignored, notes never released
  end at the last time of the sequence (at least one step after their onset), and
  NOTE_ONs before any SET_VELOCITY get velocity :data:`DEFAULT_VELOCITY`.

With these rules ``decode(encode(notes))`` equals ``notes`` up to the 10 ms time grid and
velocity binning, and ``encode(decode(tokens)) == tokens`` for any output of
:func:`encode`.

This is written here rather than taken from miditok because miditok's ``MIDILike``
works in beats and ticks (time shifts relative to the tempo, a configurable beat
resolution, optional tokens such as tempo or sustain pedal), so its vocabulary is
neither Oore's fixed 388-token layout nor in absolute 10 ms steps.
"""

from __future__ import annotations

import numpy as np

from merflow.music.midi import Notes

STEP_SECONDS = 0.01
N_PITCHES = 128
N_TIME_SHIFTS = 100
N_VELOCITY_BINS = 32
VELOCITY_BIN_WIDTH = 4
DEFAULT_VELOCITY = 64

NOTE_ON_OFFSET = 0
NOTE_OFF_OFFSET = NOTE_ON_OFFSET + N_PITCHES  # 128
TIME_SHIFT_OFFSET = NOTE_OFF_OFFSET + N_PITCHES  # 256
VELOCITY_OFFSET = TIME_SHIFT_OFFSET + N_TIME_SHIFTS  # 356
VOCAB_SIZE = VELOCITY_OFFSET + N_VELOCITY_BINS  # 388

_MAX_SHIFT_TOKEN = TIME_SHIFT_OFFSET + N_TIME_SHIFTS - 1


def velocity_to_bin(velocity: np.ndarray) -> np.ndarray:
    """Velocity bin 0..31 of MIDI velocities 1..127 (array-like of any shape, int64 out)."""
    velocity = np.clip(np.asarray(velocity, dtype=np.int64), 1, 127)
    return (velocity - 1) // VELOCITY_BIN_WIDTH


def bin_to_velocity(velocity_bin: np.ndarray) -> np.ndarray:
    """MIDI velocity (``4 * bin + 3``, 3..127) of velocity bins 0..31 (int64 out)."""
    return np.asarray(velocity_bin, dtype=np.int64) * VELOCITY_BIN_WIDTH + 1 + VELOCITY_BIN_WIDTH // 2


def _quantized(notes: Notes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Onset step, offset step, pitch and velocity bin of each note, one sounding note per pitch.

    Returns four int64 arrays of equal length, sorted by (pitch, onset).
    """
    on = np.rint(notes.onset / STEP_SECONDS).astype(np.int64)
    off = np.maximum(np.rint(notes.offset / STEP_SECONDS).astype(np.int64), on + 1)
    pitch = np.asarray(notes.pitch, dtype=np.int64)
    vel_bin = velocity_to_bin(notes.velocity)
    order = np.lexsort((-off, on, pitch))  # by pitch, then onset, longest first
    on, off, pitch, vel_bin = on[order], off[order], pitch[order], vel_bin[order]
    duplicate = np.r_[False, (pitch[1:] == pitch[:-1]) & (on[1:] == on[:-1])]
    on, off, pitch, vel_bin = on[~duplicate], off[~duplicate], pitch[~duplicate], vel_bin[~duplicate]
    restruck = np.r_[pitch[1:] == pitch[:-1], False]
    off = np.where(restruck, np.minimum(off, np.r_[on[1:], 0]), off)
    return on, off, pitch, vel_bin


def encode(notes: Notes) -> np.ndarray:
    """Tokens of a performance.

    Args:
        notes: the performance; onsets must be >= 0 s and pitches in 0..127.

    Returns:
        shape (T,), int64, token ids in ``[0, VOCAB_SIZE)``; empty for no notes.

    Raises:
        ValueError: for negative onsets or pitches outside 0..127.
    """
    if len(notes) == 0:
        return np.zeros(0, dtype=np.int64)
    if notes.onset.min() < 0 or notes.pitch.min() < 0 or notes.pitch.max() >= N_PITCHES:
        raise ValueError("MIDI-like encoding needs onsets >= 0 s and pitches in 0..127")
    on, off, pitch, vel_bin = _quantized(notes)
    n = len(on)
    # events: note-offs then note-ons, sorted by (time, off before on, pitch)
    time = np.concatenate([off, on])
    is_on = np.r_[np.zeros(n, dtype=bool), np.ones(n, dtype=bool)]
    event_pitch = np.concatenate([pitch, pitch])
    event_bin = np.concatenate([vel_bin, vel_bin])
    order = np.lexsort((event_pitch, is_on, time))
    time, is_on, event_pitch, event_bin = time[order], is_on[order], event_pitch[order], event_bin[order]
    event_token = np.where(is_on, NOTE_ON_OFFSET, NOTE_OFF_OFFSET) + event_pitch

    on_bins = event_bin[is_on]
    has_velocity = np.zeros(2 * n, dtype=bool)
    has_velocity[is_on] = np.r_[True, on_bins[1:] != on_bins[:-1]][: len(on_bins)]

    gap = np.diff(time, prepend=0)
    n_shifts = -(-gap // N_TIME_SHIFTS)  # ceil: full 1 s shifts, then the remainder
    last_shift = gap - N_TIME_SHIFTS * (n_shifts - 1)

    # each event is a block [shifts..., velocity?, event]; fill all blocks at once
    lengths = n_shifts + has_velocity + 1
    owner = np.repeat(np.arange(2 * n), lengths)
    within = np.arange(lengths.sum()) - (np.cumsum(lengths) - lengths)[owner]
    k = n_shifts[owner]
    tokens = event_token[owner]
    tokens = np.where(within < k - 1, _MAX_SHIFT_TOKEN, tokens)
    tokens = np.where(within == k - 1, TIME_SHIFT_OFFSET - 1 + last_shift[owner], tokens)
    tokens = np.where((within == k) & has_velocity[owner], VELOCITY_OFFSET + event_bin[owner], tokens)
    return tokens.astype(np.int64)


def check_tokens(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """``tokens`` as a 1-D int64 array, checked against a vocabulary of ``vocab_size`` ids.

    Shared by the decoders of the MIDI-like, refined MIDI-like and REMI tokenizers.

    Raises:
        ValueError: if ``tokens`` is not 1-D or holds ids outside ``[0, vocab_size)``.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.ndim != 1:
        raise ValueError(f"tokens must be 1-D, got shape {tokens.shape}")
    if len(tokens) and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    return tokens


def decode(tokens: np.ndarray) -> Notes:
    """Notes of a token sequence (see the module conventions for malformed sequences).

    Args:
        tokens: shape (T,), integer token ids in ``[0, VOCAB_SIZE)``.

    Returns:
        the notes, times in seconds on the 10 ms grid.

    Raises:
        ValueError: if ``tokens`` is not 1-D or holds ids outside the vocabulary.
    """
    tokens = check_tokens(tokens, VOCAB_SIZE)
    if len(tokens) == 0:
        return Notes.from_arrays([], [], [], [])
    position = np.arange(len(tokens))
    is_shift = (tokens >= TIME_SHIFT_OFFSET) & (tokens < VELOCITY_OFFSET)
    time = np.cumsum(np.where(is_shift, tokens - TIME_SHIFT_OFFSET + 1, 0))
    last_velocity = np.maximum.accumulate(np.where(tokens >= VELOCITY_OFFSET, position, -1))
    velocity = np.where(
        last_velocity >= 0, bin_to_velocity(tokens[last_velocity] - VELOCITY_OFFSET), DEFAULT_VELOCITY
    )

    # note events grouped by pitch, in sequence order: a NOTE_ON lasts until the next
    # event of its pitch (NOTE_OFF or a new NOTE_ON) or the end of the sequence
    events = np.flatnonzero(tokens < TIME_SHIFT_OFFSET)
    event_pitch = tokens[events] % N_PITCHES
    order = np.lexsort((events, event_pitch))
    events, event_pitch = events[order], event_pitch[order]
    same_pitch_next = np.r_[event_pitch[1:] == event_pitch[:-1], False]
    end = np.where(same_pitch_next, time[np.r_[events[1:], 0]], time[-1])
    starts = tokens[events] < NOTE_OFF_OFFSET
    onset = time[events[starts]]
    offset = np.maximum(end[starts], onset + 1)
    return Notes.from_arrays(
        onset * STEP_SECONDS, offset * STEP_SECONDS, event_pitch[starts], velocity[events[starts]]
    )


def token_names(tokens: np.ndarray) -> list[str]:
    """Readable names of tokens, e.g. ``['SET_VELOCITY_19', 'NOTE_ON_60', 'TIME_SHIFT_500ms']``."""
    names = []
    for token in np.asarray(tokens, dtype=np.int64).tolist():
        if not 0 <= token < VOCAB_SIZE:
            raise ValueError(f"token id {token} outside [0, {VOCAB_SIZE})")
        if token < NOTE_OFF_OFFSET:
            names.append(f"NOTE_ON_{token - NOTE_ON_OFFSET}")
        elif token < TIME_SHIFT_OFFSET:
            names.append(f"NOTE_OFF_{token - NOTE_OFF_OFFSET}")
        elif token < VELOCITY_OFFSET:
            names.append(f"TIME_SHIFT_{round((token - TIME_SHIFT_OFFSET + 1) * STEP_SECONDS * 1000)}ms")
        else:
            names.append(f"SET_VELOCITY_{token - VELOCITY_OFFSET}")
    return names
