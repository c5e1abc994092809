"""Refined MIDI-like events of Zhu et al. (2023), "Symbolic & Acoustic: Multi-domain Music Emotion Modeling".

Conventions
-----------
Zhu et al. describe each note by "the onset time, harmonic, velocity, time shift, and
offset time", i.e. the four event types of Oore et al.'s MIDI-like representation
(NOTE_ON, SET_VELOCITY, TIME_SHIFT, NOTE_OFF) plus a new attribute, *harmonic*, "the
number of sounding notes at the onset of a note". The paper gives no event layout or
quantisation (its Figure 2 is a picture), so this module keeps Oore's representation
exactly as :mod:`merflow.tokenizers.midi_like` writes it (same ids 0..387, 10 ms grid,
32 velocity bins, SET_VELOCITY only when the bin changes) and adds one HARMONIC token
right after every NOTE_ON (the paper lists harmonic right after the onset):

=============  ===========  ===================================================
event          token ids    meaning
=============  ===========  ===================================================
NOTE_ON        0..127       start pitch ``token`` at the current time
NOTE_OFF       128..255     end pitch ``token - 128`` at the current time
TIME_SHIFT     256..355     advance time by ``(token - 255) * 10`` ms (10 ms..1 s)
SET_VELOCITY   356..387     velocity bin ``token - 356`` for later NOTE_ONs
HARMONIC       388..403     ``token - 387`` notes (1..16) sound at the preceding NOTE_ON
=============  ===========  ===================================================

* Harmonic of a note = the number of notes sounding on its 10 ms onset step after all
  events of that step: the note itself, the notes struck on the same step (all notes of
  a chord get the chord's size) and the notes struck earlier and not yet released. A note
  released on that step does not count (NOTE_OFFs precede NOTE_ONs within a step, as in
  MIDI-like). Counts above :data:`MAX_HARMONIC` (16, beyond ten fingers plus a few
  pedal-held notes) are written as 16.
* The harmonic is computed from the MIDI-like events themselves, so it follows their
  quantisation and one-sounding-note-per-pitch rule; it adds no information a decoder
  needs and :func:`decode` ignores HARMONIC tokens (and any misplaced one), then decodes
  the rest as MIDI-like.

The input is :class:`merflow.music.midi.Notes` in seconds, as produced by automatic
transcription (the paper's use). ``decode(encode(notes))`` equals ``notes`` up to the
10 ms grid and velocity binning, as for MIDI-like.
"""

from __future__ import annotations

import numpy as np

from merflow.music.midi import Notes
from merflow.tokenizers import midi_like
from merflow.tokenizers.midi_like import NOTE_OFF_OFFSET, TIME_SHIFT_OFFSET, VELOCITY_OFFSET

MAX_HARMONIC = 16
HARMONIC_OFFSET = midi_like.VOCAB_SIZE  # 388
VOCAB_SIZE = HARMONIC_OFFSET + MAX_HARMONIC  # 404


def note_on_harmonics(tokens: np.ndarray) -> np.ndarray:
    """Harmonic (sounding-note count, unclipped) at every NOTE_ON of a MIDI-like sequence.

    Args:
        tokens: shape (T,), MIDI-like token ids (:mod:`merflow.tokenizers.midi_like`)
            with every NOTE_ON released later, as :func:`midi_like.encode` writes them.

    Returns:
        shape (number of NOTE_ONs,), int64, in sequence order.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    is_shift = (tokens >= TIME_SHIFT_OFFSET) & (tokens < VELOCITY_OFFSET)
    step = np.cumsum(np.where(is_shift, tokens - TIME_SHIFT_OFFSET + 1, 0))
    is_on = tokens < NOTE_OFF_OFFSET
    is_off = (tokens >= NOTE_OFF_OFFSET) & (tokens < TIME_SHIFT_OFFSET)
    sounding = np.cumsum(is_on.astype(np.int64) - is_off)
    end_of_step = np.searchsorted(step, step, side="right") - 1
    return sounding[end_of_step][is_on]


def encode(notes: Notes) -> np.ndarray:
    """Tokens of a performance.

    Args:
        notes: the performance; onsets must be >= 0 s and pitches in 0..127.

    Returns:
        shape (T,), int64, token ids in ``[0, VOCAB_SIZE)``; empty for no notes.

    Raises:
        ValueError: for negative onsets or pitches outside 0..127.
    """
    events = midi_like.encode(notes)
    is_on = events < NOTE_OFF_OFFSET
    harmonic = np.minimum(note_on_harmonics(events), MAX_HARMONIC)
    # each event moves right by the number of HARMONICs inserted before it
    where = np.arange(len(events)) + np.cumsum(is_on) - is_on
    tokens = np.empty(len(events) + int(is_on.sum()), dtype=np.int64)
    tokens[where] = events
    tokens[where[is_on] + 1] = HARMONIC_OFFSET + harmonic - 1
    return tokens


def decode(tokens: np.ndarray) -> Notes:
    """Notes of a token sequence (HARMONIC tokens are ignored; see :func:`midi_like.decode`).

    Args:
        tokens: shape (T,), integer token ids in ``[0, VOCAB_SIZE)``.

    Returns:
        the notes, times in seconds on the 10 ms grid.

    Raises:
        ValueError: if ``tokens`` is not 1-D or holds ids outside the vocabulary.
    """
    tokens = midi_like.check_tokens(tokens, VOCAB_SIZE)
    return midi_like.decode(tokens[tokens < HARMONIC_OFFSET])


def token_names(tokens: np.ndarray) -> list[str]:
    """Readable names, e.g. ``['SET_VELOCITY_19', 'NOTE_ON_60', 'HARMONIC_3']``."""
    names = []
    for token in np.asarray(tokens, dtype=np.int64).tolist():
        if HARMONIC_OFFSET <= token < VOCAB_SIZE:
            names.append(f"HARMONIC_{token - HARMONIC_OFFSET + 1}")
        else:
            names.extend(midi_like.token_names([token]))
    return names
