from __future__ import annotations

import numpy as np
import pytest
import symusic

from merflow.music.midi import Notes
from merflow.music.tonality import KEY_NAMES, estimate_key
from merflow.training.augmentation import (
    CP_RANGE,
    DEFAULT_SHIFTS,
    PIANO_RANGE,
    augment,
    shift_key,
    transpose_notes,
    transpose_score,
    transpositions,
    valid_shifts,
)


def piece(chords, beat: float = 0.5) -> Notes:
    """Block chords, one per beat, each (pitches...) lasting a beat."""
    onset, pitch = [], []
    for i, chord in enumerate(chords):
        onset += [i * beat] * len(chord)
        pitch += list(chord)
    onset = np.array(onset)
    return Notes.from_arrays(onset, onset + beat, pitch, [70] * len(pitch))


# I - IV - V7 - I in C major and i - iv - V7 - i in A minor, melody on top
C_MAJOR = piece([(48, 60, 64, 67, 72), (53, 60, 65, 69, 77), (55, 59, 62, 65, 74), (48, 60, 64, 67, 76)])
A_MINOR = piece([(45, 57, 60, 64, 69), (50, 57, 62, 65, 74), (52, 56, 59, 62, 71), (45, 57, 60, 64, 69)])


def test_default_shifts_and_ranges():
    assert DEFAULT_SHIFTS == (-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6)
    assert PIANO_RANGE == (21, 108) and CP_RANGE == (22, 107)


@pytest.mark.parametrize(("notes", "key"), [(C_MAJOR, "C major"), (A_MINOR, "A minor")])
def test_krumhansl_key_moves_with_the_shift_and_keeps_the_mode(notes, key):
    original = estimate_key(notes)
    assert original.name == key
    key_index = KEY_NAMES.index(key)
    for k in DEFAULT_SHIFTS:
        moved = estimate_key(transpose_notes(notes, k))
        assert moved.mode == original.mode
        assert moved.tonic == (original.tonic + k) % 12
        assert moved.name == KEY_NAMES[shift_key(key_index, k)]
        np.testing.assert_allclose(moved.correlation, original.correlation)


def test_shift_key():
    assert shift_key(0, 7) == 7  # C major -> G major
    assert shift_key(21, 3) == 12  # A minor -> C minor
    assert shift_key(12, -1) == 23  # C minor -> B minor
    np.testing.assert_array_equal(shift_key(np.array([0, 11, 12, 23]), 1), [1, 0, 13, 12])


def test_valid_shifts():
    assert valid_shifts([21, 100]).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert valid_shifts([30, 105]).tolist() == [-5, -4, -3, -2, -1, 0, 1, 2, 3]
    assert valid_shifts([22, 107], *CP_RANGE).tolist() == [0]
    assert valid_shifts([22, 108], *CP_RANGE).tolist() == []  # already out of range
    assert valid_shifts([], *CP_RANGE).tolist() == list(DEFAULT_SHIFTS)
    assert valid_shifts([60], 21, 108, shifts=[-12, 0, 12]).tolist() == [-12, 0, 12]


def test_seeded_augmentation_is_deterministic_and_in_range():
    notes = Notes.from_arrays([0, 1, 2], [1, 2, 3], [40, 60, 104], [64] * 3)  # room for -5..+4
    draws = [augment(notes, np.random.default_rng(7)) for _ in range(2)]
    assert draws[0][1] == draws[1][1]
    np.testing.assert_array_equal(draws[0][0].pitch, draws[1][0].pitch)
    rng = np.random.default_rng(0)
    chosen = {augment(notes, rng)[1] for _ in range(300)}
    assert chosen == set(range(-5, 5))  # +5 and +6 would push 104 above 108
    shifted, k = augment(notes, np.random.default_rng(3))
    np.testing.assert_array_equal(shifted.pitch, notes.pitch + k)
    np.testing.assert_array_equal(shifted.onset, notes.onset)


def test_augment_without_valid_shift_keeps_the_piece():
    wide = Notes.from_arrays([0, 0], [1, 1], [21, 108], [64, 64])
    notes, k = augment(wide, np.random.default_rng(0), low=CP_RANGE[0], high=CP_RANGE[1])
    assert k == 0 and notes is wide


def test_transpositions():
    pairs = transpositions(C_MAJOR)
    assert [k for k, _ in pairs] == list(DEFAULT_SHIFTS)
    assert [int(n.pitch.min()) for _, n in pairs] == [48 + k for k in DEFAULT_SHIFTS]
    assert [k for k, _ in transpositions(C_MAJOR, low=45, high=80)] == [-3, -2, -1, 0, 1, 2, 3]


def test_transpose_notes_outside_midi_range():
    with pytest.raises(ValueError, match="MIDI range"):
        transpose_notes(Notes.from_arrays([0], [1], [125], [64]), 3)


def test_transpose_score():
    score = symusic.Score(480)
    piano = symusic.Track("piano", 0, False)
    drums = symusic.Track("drums", 0, True)
    for pitch in (60, 64, 67):
        piano.notes.append(symusic.Note(0, 480, pitch, 80))
    drums.notes.append(symusic.Note(0, 120, 36, 100))
    score.tracks.extend([piano, drums])
    for time, sharps, minor in ((0, 0, 0), (480, -1, 0), (960, 0, 1)):  # C major, F major, A minor
        score.key_signatures.append(symusic.KeySignature(time, sharps, minor))

    up = transpose_score(score, 2)
    assert up.tracks[0].notes.numpy()["pitch"].tolist() == [62, 66, 69]
    assert up.tracks[1].notes.numpy()["pitch"].tolist() == [36]  # drums stay
    assert [k.key for k in up.key_signatures] == [2, 1, 2]  # D major, G major, B minor
    assert [k.tonality for k in up.key_signatures] == [0, 0, 1]
    assert score.tracks[0].notes.numpy()["pitch"].tolist() == [60, 64, 67]  # input untouched
    assert [k.key for k in transpose_score(score, 1).key_signatures] == [-5, 6, -5]  # Db, F#, Bb minor
    assert [k.key for k in transpose_score(score, -2).key_signatures] == [-2, -3, -2]  # Bb, Eb, G minor
    with pytest.raises(ValueError, match="MIDI range"):
        transpose_score(score, 70)
