from __future__ import annotations

import numpy as np
import pytest

from merflow.music.midi import Notes
from merflow.tokenizers.midi_like import (
    NOTE_OFF_OFFSET,
    NOTE_ON_OFFSET,
    TIME_SHIFT_OFFSET,
    VELOCITY_OFFSET,
    VOCAB_SIZE,
    bin_to_velocity,
    decode,
    encode,
    token_names,
    velocity_to_bin,
)


def random_notes(seed: int, n: int = 200, restrikes: bool = False) -> Notes:
    """Random polyphonic notes; unless ``restrikes``, no pitch is struck again while it sounds."""
    rng = np.random.default_rng(seed)
    onset = np.sort(rng.uniform(0, 60, n))
    offset = onset + rng.uniform(0.02, 3.0, n)
    pitch = rng.integers(21, 109, n)
    velocity = rng.integers(1, 128, n)
    notes = Notes.from_arrays(onset, offset, pitch, velocity)
    if restrikes:
        return notes
    keep = np.ones(n, dtype=bool)  # drop notes that start while the same pitch sounds
    last_end = {}
    for i, (on, off, p) in enumerate(zip(notes.onset, notes.offset, notes.pitch, strict=True)):
        if on < last_end.get(p, -1.0) + 0.02:
            keep[i] = False
        else:
            last_end[p] = off
    return Notes(notes.onset[keep], notes.offset[keep], notes.pitch[keep], notes.velocity[keep])


def test_vocabulary_layout():
    assert VOCAB_SIZE == 388
    assert (NOTE_ON_OFFSET, NOTE_OFF_OFFSET, TIME_SHIFT_OFFSET, VELOCITY_OFFSET) == (0, 128, 256, 356)
    names = token_names([0, 127, 128, 255, 256, 355, 356, 387])
    assert names == [
        "NOTE_ON_0",
        "NOTE_ON_127",
        "NOTE_OFF_0",
        "NOTE_OFF_127",
        "TIME_SHIFT_10ms",
        "TIME_SHIFT_1000ms",
        "SET_VELOCITY_0",
        "SET_VELOCITY_31",
    ]


def test_single_note_tokens():
    notes = Notes.from_arrays([0.5], [0.75], [60], [80])
    assert token_names(encode(notes)) == [
        "TIME_SHIFT_500ms",
        "SET_VELOCITY_19",
        "NOTE_ON_60",
        "TIME_SHIFT_250ms",
        "NOTE_OFF_60",
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip(seed):
    notes = random_notes(seed)
    tokens = encode(notes)
    assert tokens.dtype == np.int64 and tokens.ndim == 1
    assert tokens.min() >= 0 and tokens.max() < VOCAB_SIZE
    back = decode(tokens)
    assert len(back) == len(notes)
    # notes less than 10 ms apart may swap places once on the grid: compare in grid order
    order = np.lexsort((notes.pitch, np.rint(notes.onset / 0.01)))
    notes = Notes(notes.onset[order], notes.offset[order], notes.pitch[order], notes.velocity[order])
    half_step = 0.005 + 1e-9
    np.testing.assert_allclose(back.onset, notes.onset, atol=half_step)
    np.testing.assert_allclose(back.offset, notes.offset, atol=half_step)
    np.testing.assert_array_equal(back.pitch, notes.pitch)
    assert np.abs(back.velocity - notes.velocity).max() <= 2
    np.testing.assert_array_equal(velocity_to_bin(back.velocity), velocity_to_bin(notes.velocity))
    np.testing.assert_array_equal(encode(back), tokens)


def test_encode_decode_encode_is_stable_with_restrikes():
    notes = random_notes(3, n=400, restrikes=True)
    tokens = encode(notes)
    np.testing.assert_array_equal(encode(decode(tokens)), tokens)
    assert len(decode(tokens)) <= len(notes)


def test_long_gap_is_split_into_maximal_shifts():
    notes = Notes.from_arrays([0.0, 2.6], [0.1, 2.7], [60, 62], [64, 64])
    names = token_names(encode(notes))
    off = names.index("NOTE_OFF_60")
    assert names[off + 1 : off + 4] == ["TIME_SHIFT_1000ms", "TIME_SHIFT_1000ms", "TIME_SHIFT_500ms"]
    assert names[off + 4] == "NOTE_ON_62"
    assert decode(encode(notes)).onset[1] == pytest.approx(2.6)


def test_times_quantized_to_10ms():
    notes = Notes.from_arrays([0.123], [0.5678], [60], [64])
    back = decode(encode(notes))
    assert back.onset[0] == pytest.approx(0.12) and back.offset[0] == pytest.approx(0.57)


def test_velocity_binning():
    np.testing.assert_array_equal(
        velocity_to_bin([1, 4, 5, 8, 64, 124, 125, 127]), [0, 0, 1, 1, 15, 30, 31, 31]
    )
    np.testing.assert_array_equal(bin_to_velocity([0, 15, 31]), [3, 63, 127])
    # a SET_VELOCITY only when the bin changes: 80 and 78 share bin 19, 90 is bin 22
    notes = Notes.from_arrays(
        [0.0, 0.1, 0.2, 0.3], [0.05, 0.15, 0.25, 0.35], [60, 61, 62, 63], [80, 78, 90, 90]
    )
    velocity_tokens = [t for t in encode(notes) if t >= VELOCITY_OFFSET]
    assert velocity_tokens == [VELOCITY_OFFSET + 19, VELOCITY_OFFSET + 22]
    np.testing.assert_array_equal(decode(encode(notes)).velocity, [79, 79, 91, 91])


def test_repeated_pitch_releases_before_restrike():
    # same pitch: the first note ends exactly when the second starts, and a third note
    # is struck while the second still sounds (the second is cut at the restrike)
    notes = Notes.from_arrays([0.0, 0.5, 0.8], [0.5, 1.5, 1.0], [60, 60, 60], [64, 64, 64])
    names = token_names(encode(notes))
    assert names == [
        "SET_VELOCITY_15",
        "NOTE_ON_60",
        "TIME_SHIFT_500ms",
        "NOTE_OFF_60",
        "NOTE_ON_60",
        "TIME_SHIFT_300ms",
        "NOTE_OFF_60",
        "NOTE_ON_60",
        "TIME_SHIFT_200ms",
        "NOTE_OFF_60",
    ]
    back = decode(encode(notes))
    np.testing.assert_allclose(back.onset, [0.0, 0.5, 0.8])
    np.testing.assert_allclose(back.offset, [0.5, 0.8, 1.0])


def test_chord_offs_before_ons_at_same_time():
    notes = Notes.from_arrays([0.0, 0.0, 0.5], [0.5, 0.5, 1.0], [64, 60, 62], [64, 64, 64])
    assert token_names(encode(notes))[2:7] == [
        "NOTE_ON_64",
        "TIME_SHIFT_500ms",
        "NOTE_OFF_60",
        "NOTE_OFF_64",
        "NOTE_ON_62",
    ]


def test_decode_is_lenient():
    # NOTE_ON without velocity or NOTE_OFF, stray NOTE_OFF
    tokens = [NOTE_OFF_OFFSET + 70, NOTE_ON_OFFSET + 60, TIME_SHIFT_OFFSET + 49]
    back = decode(tokens)
    assert back.pitch.tolist() == [60] and back.velocity.tolist() == [64]
    assert back.offset[0] == pytest.approx(0.5)


def test_empty_and_invalid():
    assert encode(Notes.from_arrays([], [], [], [])).shape == (0,)
    assert len(decode(np.zeros(0, dtype=np.int64))) == 0
    with pytest.raises(ValueError, match="token ids"):
        decode([VOCAB_SIZE])
    with pytest.raises(ValueError, match="pitches"):
        encode(Notes.from_arrays([0.0], [1.0], [128], [64]))
