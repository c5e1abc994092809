from __future__ import annotations

import numpy as np
import pytest

from merflow.music.midi import Notes
from merflow.tokenizers import midi_like
from merflow.tokenizers.refined_midi_like import (
    HARMONIC_OFFSET,
    MAX_HARMONIC,
    VOCAB_SIZE,
    decode,
    encode,
    token_names,
)


def harmonics(notes: Notes) -> list[int]:
    """The HARMONIC values of a sequence, in order."""
    return [int(n.split("_")[1]) for n in token_names(encode(notes)) if n.startswith("HARMONIC")]


def test_vocabulary_layout():
    assert (HARMONIC_OFFSET, MAX_HARMONIC, VOCAB_SIZE) == (388, 16, 404)
    assert token_names([0, 387, 388, 403]) == ["NOTE_ON_0", "SET_VELOCITY_31", "HARMONIC_1", "HARMONIC_16"]


def test_triad_tokens():
    triad = Notes.from_arrays([0.5] * 3, [0.75] * 3, [60, 64, 67], [80] * 3)
    assert token_names(encode(triad)) == [
        "TIME_SHIFT_500ms",
        "SET_VELOCITY_19",
        "NOTE_ON_60",
        "HARMONIC_3",
        "NOTE_ON_64",
        "HARMONIC_3",
        "NOTE_ON_67",
        "HARMONIC_3",
        "TIME_SHIFT_250ms",
        "NOTE_OFF_60",
        "NOTE_OFF_64",
        "NOTE_OFF_67",
    ]


def test_held_and_released_notes():
    # C3 held 0-2 s; a dyad at 1 s (3 sounding); C5 at 2 s, when C3 ends (released first:
    # the dyad and C5 sound, 3); D5 at 2.5 s after the dyad ended (C5 and D5: 2); E5 alone
    notes = Notes.from_arrays(
        [0.0, 1.0, 1.0, 2.0, 2.5, 4.0],
        [2.0, 2.2, 2.2, 3.0, 3.0, 4.5],
        [48, 64, 67, 72, 74, 76],
        [64] * 6,
    )
    assert harmonics(notes) == [1, 3, 3, 3, 2, 1]


def test_notes_on_neighbouring_steps_count_each_other():
    rolled = Notes.from_arrays([0.0, 0.02, 0.04], [1.0] * 3, [60, 64, 67], [64] * 3)
    assert harmonics(rolled) == [1, 2, 3]


def test_harmonic_is_clipped():
    cluster = Notes.from_arrays([0.0] * 20, [1.0] * 20, np.arange(40, 60), [64] * 20)
    assert harmonics(cluster) == [MAX_HARMONIC] * 20


def random_notes(seed: int, n: int = 300) -> Notes:
    rng = np.random.default_rng(seed)
    onset = np.round(rng.uniform(0, 30, n), 2)  # on the grid: chords are common
    onset[rng.random(n) < 0.3] = onset[0]
    offset = onset + rng.uniform(0.02, 3.0, n)
    return Notes.from_arrays(onset, offset, rng.integers(21, 109, n), rng.integers(1, 128, n))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_midi_like_plus_harmonic_and_round_trip(seed):
    notes = random_notes(seed)
    tokens = encode(notes)
    assert tokens.dtype == np.int64 and tokens.min() >= 0 and tokens.max() < VOCAB_SIZE
    base = midi_like.encode(notes)
    is_harmonic = tokens >= HARMONIC_OFFSET
    np.testing.assert_array_equal(tokens[~is_harmonic], base)  # MIDI-like with HARMONICs added
    assert (tokens[np.flatnonzero(is_harmonic) - 1] < midi_like.NOTE_OFF_OFFSET).all()  # after NOTE_ONs
    assert is_harmonic.sum() == (base < midi_like.NOTE_OFF_OFFSET).sum()

    back = decode(tokens)
    expected = midi_like.decode(base)
    for field in ("onset", "offset", "pitch", "velocity"):
        np.testing.assert_array_equal(getattr(back, field), getattr(expected, field))

    # brute force on the quantised notes: sounding at the onset step, by (onset, pitch)
    on = np.rint(back.onset / 0.01).astype(int)
    off = np.rint(back.offset / 0.01).astype(int)
    counts = [int(((on <= t) & (off > t)).sum()) for t in on]
    assert harmonics(notes) == np.minimum(counts, MAX_HARMONIC).tolist()


def test_decode_ignores_harmonics_and_checks_ids():
    tokens = np.array([HARMONIC_OFFSET + 4, 60, 300, HARMONIC_OFFSET, 188])  # NOTE_ON 60, 450 ms, NOTE_OFF
    notes = decode(tokens)
    assert notes.pitch.tolist() == [60]
    np.testing.assert_allclose([notes.onset[0], notes.offset[0]], [0.0, 0.45])
    assert len(encode(Notes.from_arrays([], [], [], []))) == 0
    with pytest.raises(ValueError):
        decode(np.array([VOCAB_SIZE]))
    with pytest.raises(ValueError):
        decode(np.zeros((1, 2), dtype=int))
