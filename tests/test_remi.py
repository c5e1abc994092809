from __future__ import annotations

import numpy as np
import pytest
import symusic

from merflow.tokenizers.remi import (
    BAR_ID,
    CHORD_LABELS,
    CHORD_OFFSET,
    DURATION_OFFSET,
    PITCH_OFFSET,
    POSITION_OFFSET,
    TEMPO_CLASS_OFFSET,
    TEMPO_VALUE_OFFSET,
    VELOCITY_OFFSET,
    VOCAB,
    VOCAB_SIZE,
    decode,
    decode_score,
    encode,
    estimate_chords,
    tempo_tokens,
)
from merflow.training.augmentation import transpose_score

TRIAD = [(0, 480, 60, 80), (0, 480, 64, 80), (0, 480, 67, 80)]


def make_score(notes, tpq=480, tempos=((0, 120.0),), drums=()) -> symusic.Score:
    """Score from (tick, duration, pitch, velocity) tuples, ticks at ``tpq`` per beat."""
    score = symusic.Score(tpq)
    for tick, bpm in tempos:
        score.tempos.append(symusic.Tempo(tick, float(bpm)))
    for is_drum, part in ((False, notes), (True, drums)):
        track = symusic.Track("drums" if is_drum else "piano", 0, is_drum)
        for tick, duration, pitch, velocity in part:
            track.notes.append(symusic.Note(tick, duration, pitch, velocity))
        score.tracks.append(track)
    return score


def names(score: symusic.Score) -> list[str]:
    return VOCAB.to_names(encode(score))


def test_vocabulary_layout():
    assert VOCAB_SIZE == len(VOCAB) == 365
    assert (BAR_ID, POSITION_OFFSET, CHORD_OFFSET, TEMPO_CLASS_OFFSET, TEMPO_VALUE_OFFSET) == (
        0,
        1,
        17,
        78,
        81,
    )
    assert (VELOCITY_OFFSET, PITCH_OFFSET, DURATION_OFFSET) == (141, 173, 301)
    assert len(CHORD_LABELS) == 61 and CHORD_LABELS[:2] == ("C:maj", "C:min") and CHORD_LABELS[-1] == "N:N"
    assert VOCAB.to_names([0, 1, 16, 17, 77, 78, 80, 81, 140, 141, 172, 173, 300, 301, 364]) == [
        "Bar",
        "Position_1/16",
        "Position_16/16",
        "Chord_C:maj",
        "Chord_N:N",
        "Tempo Class_slow",
        "Tempo Class_fast",
        "Tempo Value_0",
        "Tempo Value_59",
        "Note Velocity_0",
        "Note Velocity_31",
        "Note On_0",
        "Note On_127",
        "Note Duration_1",
        "Note Duration_64",
    ]
    assert VOCAB.id("Note On_60") == 233
    assert VOCAB.ids(VOCAB.names).tolist() == list(range(VOCAB_SIZE))
    with pytest.raises(ValueError):
        VOCAB.name(VOCAB_SIZE)


@pytest.mark.parametrize("tpq", [480, 96, 384])
def test_c_major_triad_on_beat_one(tpq):
    # a quarter note (8 32nds) at 120 BPM, velocity 80 -> bin (80 - 1) // 4 = 19
    triad = [(0, tpq, pitch, 80) for pitch in (60, 64, 67)]
    assert names(make_score(triad, tpq)) == [
        "Bar",
        "Position_1/16",
        "Chord_C:maj",
        "Tempo Class_mid",
        "Tempo Value_30",
        "Note Velocity_19",
        "Note On_60",
        "Note Duration_8",
        "Note Velocity_19",
        "Note On_64",
        "Note Duration_8",
        "Note Velocity_19",
        "Note On_67",
        "Note Duration_8",
    ]


def test_empty_bars_and_position():
    # an 8th note on the second half of beat 2 of bar 3: tick 2 * 1920 + 1.5 * 480 = 4560,
    # 16th 38 = bar 3 position 7; a lone pitch class makes no chord
    tokens = names(make_score([(4560, 240, 72, 100)], tempos=[(0, 90.0)]))
    assert tokens == [
        "Bar",
        "Position_1/16",
        "Tempo Class_mid",
        "Tempo Value_0",
        "Bar",
        "Bar",
        "Position_7/16",
        "Note Velocity_24",
        "Note On_72",
        "Note Duration_4",
    ]


def test_grid_rounding_and_duration_clipping():
    # 60 ticks is half a 16th: ties go to the earlier grid point; 61 rounds up.
    # 30 ticks (half a 32nd) -> 1 32nd (the minimum); 90 ticks (1.5 32nds) -> 1; 5000 -> 64.
    # One pitch class: no chord
    notes = [(60, 30, 60, 64), (61, 90, 72, 64), (1920, 5000, 48, 64)]
    tokens = names(make_score(notes, tempos=[]))
    assert tokens == [
        "Bar",
        "Position_1/16",
        "Tempo Class_mid",
        "Tempo Value_30",  # no tempo in the file: 120 BPM
        "Note Velocity_15",
        "Note On_60",
        "Note Duration_1",
        "Position_2/16",
        "Note Velocity_15",
        "Note On_72",
        "Note Duration_1",
        "Bar",
        "Position_1/16",
        "Note Velocity_15",
        "Note On_48",
        "Note Duration_64",
    ]


def test_tempo_bins():
    classes, values = tempo_tokens(np.array([25, 30, 89.4, 89.6, 120, 150, 209, 250]))
    assert (classes - TEMPO_CLASS_OFFSET).tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert (values - TEMPO_VALUE_OFFSET).tolist() == [0, 0, 59, 0, 30, 0, 59, 59]


def test_tempo_changes():
    # 120 BPM, 150 BPM from bar 2, a repeated 150 (not written) and a change after the
    # last onset (dropped)
    notes = [(0, 480, 60, 64), (1920, 480, 62, 64)]
    tempos = [(0, 120.0), (1920, 150.0), (2400, 150.2), (3840, 60.0)]
    assert names(make_score(notes, tempos=tempos)) == [
        "Bar",
        "Position_1/16",
        "Tempo Class_mid",
        "Tempo Value_30",
        "Note Velocity_15",
        "Note On_60",
        "Note Duration_8",
        "Bar",
        "Position_1/16",
        "Tempo Class_fast",
        "Tempo Value_0",
        "Note Velocity_15",
        "Note On_62",
        "Note Duration_8",
    ]


def chord_label(pitches) -> str:
    chord = estimate_chords(np.zeros(len(pitches), int), np.full(len(pitches), 16), np.array(pitches))
    return CHORD_LABELS[chord[0]]


@pytest.mark.parametrize(
    ("pitches", "label"),
    [
        ([60, 64, 67], "C:maj"),
        ([57, 60, 64], "A:min"),
        ([55, 59, 62, 65], "G:dom"),
        ([59, 62, 65], "B:dim"),
        ([60, 64, 68], "C:aug"),  # symmetric: ties go to the lowest root
        ([66, 70, 73], "F#:maj"),
        ([48, 60, 72], "N:N"),  # one pitch class
        ([60, 67], "C:maj"),  # an open fifth matches the major and minor triads alike
    ],
)
def test_chord_templates(pitches, label):
    assert chord_label(pitches) == label


def test_chord_tokens_per_half_bar():
    # C major for beats 1-2, F major for beats 3-4, F major again in bar 2 (no new token)
    c_major = [(0, 960, p, 64) for p in (60, 64, 67)]
    f_major = [(960, 960, p, 64) for p in (60, 65, 69)] + [(1920, 960, p, 64) for p in (60, 65, 69)]
    tokens = names(make_score(c_major + f_major))
    chords = [(tokens[i - 1], t) for i, t in enumerate(tokens) if t.startswith("Chord")]
    assert chords == [("Position_1/16", "Chord_C:maj"), ("Position_9/16", "Chord_F:maj")]


def test_drums_ignored_and_empty_score():
    with_drums = make_score(TRIAD, drums=[(0, 120, 36, 100), (3840, 120, 38, 100)])
    assert names(with_drums) == names(make_score(TRIAD))
    assert encode(make_score([])).shape == (0,)
    assert encode(make_score([], drums=[(0, 120, 36, 100)])).dtype == np.int64
    with pytest.raises(ValueError, match="tick"):
        encode(make_score(TRIAD).to("second"))


def random_score(seed: int, n: int = 300, tpq: int = 384) -> symusic.Score:
    rng = np.random.default_rng(seed)
    onset = rng.integers(0, 40 * 4 * tpq, n)
    duration = rng.integers(1, 3 * 4 * tpq, n)
    pitch = rng.integers(21, 109, n)
    velocity = rng.integers(1, 128, n)
    tempos = [(0, 100.0), (int(onset.max()) // 2, 140.0)]
    return make_score(list(zip(onset, duration, pitch, velocity, strict=True)), tpq, tempos)


@pytest.mark.parametrize("seed", [0, 1])
def test_round_trip(seed):
    tpq = 384
    score = random_score(seed, tpq=tpq)
    tokens = encode(score)
    assert tokens.dtype == np.int64 and tokens.ndim == 1
    assert tokens.min() >= 0 and tokens.max() < VOCAB_SIZE
    decoded = decode_score(tokens)
    assert decoded.ticks_per_quarter == 480
    original = score.tracks[0].notes.numpy()
    back = decoded.tracks[0].notes.numpy()
    assert len(back["time"]) == len(original["time"])
    # compare note by note in (grid, pitch, duration) order
    onset_480 = original["time"].astype(np.int64) * 480 / tpq
    duration_480 = original["duration"].astype(np.int64) * 480 / tpq
    grid = np.rint(onset_480 / 120 - 1e-9)
    order = np.lexsort((duration_480, original["pitch"], grid))
    back_order = np.lexsort((back["duration"], back["pitch"], back["time"]))
    np.testing.assert_array_equal(back["pitch"][back_order], original["pitch"][order])
    assert np.abs(back["time"][back_order] - onset_480[order]).max() <= 60
    short = duration_480[order] <= 64 * 60
    err = np.abs(back["duration"][back_order] - np.maximum(duration_480[order], 60))
    assert err[short].max() <= 30
    assert (back["duration"][back_order][~short] == 64 * 60).all()
    assert (np.abs(back["velocity"][back_order].astype(int) - original["velocity"][order]) <= 3).all()
    # the tempo change survives and re-encoding is the identity
    assert [round(t.qpm) for t in decoded.tempos] == [100, 140]
    np.testing.assert_array_equal(encode(decoded), tokens)


def test_decode_to_seconds():
    notes = decode(encode(make_score([*TRIAD, (1920, 240, 72, 100)])))
    np.testing.assert_allclose(notes.onset, [0, 0, 0, 2.0])  # 120 BPM: a 4/4 bar lasts 2 s
    np.testing.assert_allclose(notes.offset, [0.5, 0.5, 0.5, 2.25])
    assert notes.pitch.tolist() == [60, 64, 67, 72]
    assert notes.velocity.tolist() == [79, 79, 79, 99]


def test_lenient_decode():
    tokens = VOCAB.ids(
        [
            "Note On_60",  # before any Bar: bar 1; default velocity and duration
            "Bar",
            "Position_5/16",
            "Tempo Value_0",  # no class: mid -> 90 BPM
            "Note Velocity_31",
            "Note On_62",
            "Note Duration_4",
            "Note Duration_8",  # no pending note: ignored
        ]
    )
    score = decode_score(tokens)
    notes = score.tracks[0].notes.numpy()
    assert notes["time"].tolist() == [0, 480]
    assert notes["duration"].tolist() == [120, 240]
    assert notes["velocity"].tolist() == [64, 127]
    assert [(t.time, round(t.qpm)) for t in score.tempos] == [(0, 120), (480, 90)]
    with pytest.raises(ValueError):
        decode_score(np.array([VOCAB_SIZE]))
    with pytest.raises(ValueError):
        decode_score(np.zeros((2, 2), dtype=int))


def test_transposition_shifts_pitches_and_chord_roots():
    # C - Am - F - G7, one chord per half bar
    progression = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62, 65)]
    notes = [(i * 960, 960, p, 70) for i, chord in enumerate(progression) for p in chord]
    score = make_score(notes)
    tokens = encode(score)
    shifted = encode(transpose_score(score, 3))
    is_pitch = (tokens >= PITCH_OFFSET) & (tokens < DURATION_OFFSET)
    is_chord = (tokens >= CHORD_OFFSET) & (tokens < CHORD_OFFSET + len(CHORD_LABELS) - 1)
    expected = tokens.copy()
    expected[is_pitch] += 3
    root, quality = np.divmod(tokens[is_chord] - CHORD_OFFSET, 5)
    expected[is_chord] = CHORD_OFFSET + ((root + 3) % 12) * 5 + quality
    np.testing.assert_array_equal(shifted, expected)
    assert [VOCAB.name(t) for t in shifted[is_chord]] == [
        "Chord_D#:maj",
        "Chord_C:min",
        "Chord_G#:maj",
        "Chord_A#:dom",
    ]
