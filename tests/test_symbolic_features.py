from __future__ import annotations

import numpy as np
import pytest

from merflow.music.midi import Notes
from merflow.music.symbolic_features import (
    SYMBOLIC_FEATURE_NAMES,
    chord_quality_histogram,
    estimate_tempo,
    symbolic_statistics,
    symbolic_statistics_table,
)

C_MAJOR_TRIAD = [60, 64, 67]
A_MINOR_PIECE = [57, 60, 64, 69, 57, 59, 60, 62, 64, 65, 68, 69, 64, 68, 71, 64, 57, 60, 64, 69]


def sequence(events: list[list[int]], step: float = 0.5, duration: float | None = None, velocity: int = 80):
    """Events (lists of simultaneous pitches) every ``step`` seconds, each ``duration`` long."""
    duration = step if duration is None else duration
    onset = [i * step for i, pitches in enumerate(events) for _ in pitches]
    pitch = [p for pitches in events for p in pitches]
    onset = np.array(onset)
    return Notes.from_arrays(onset, onset + duration, pitch, [velocity] * len(pitch))


def melody(pitches: list[int], **kwargs) -> Notes:
    return sequence([[p] for p in pitches], **kwargs)


def test_density_of_ten_notes_in_five_seconds():
    stats = symbolic_statistics(melody([60] * 10))
    assert stats["note_density"] == pytest.approx(2.0)
    assert stats["onset_density"] == pytest.approx(2.0)
    assert stats["polyphony_mean"] == pytest.approx(1.0)
    dyads = symbolic_statistics(sequence([[60, 67]] * 10))
    assert dyads["note_density"] == pytest.approx(4.0)
    assert dyads["onset_density"] == pytest.approx(2.0)
    assert dyads["polyphony_mean"] == pytest.approx(2.0)


def test_slightly_spread_chord_is_one_onset_group():
    notes = Notes.from_arrays([0.0, 0.01, 0.02, 1.0], [1.0, 1.0, 1.0, 2.0], [60, 64, 67, 72], [80] * 4)
    stats = symbolic_statistics(notes)
    assert stats["onset_density"] == pytest.approx(1.0)  # 2 groups in 2 s
    assert stats["polyphony_mean"] == pytest.approx(2.0)  # 3 sounding at 0.02, 1 at 1.0


@pytest.mark.parametrize(
    ("triad", "quality"),
    [
        (C_MAJOR_TRIAD, "major"),
        ([57, 60, 64], "minor"),
        ([59, 62, 65], "diminished"),
        ([60, 64, 68], "augmented"),
        ([60, 62], "other"),
    ],
)
def test_repeated_triad_gives_its_chord_quality(triad, quality):
    stats = symbolic_statistics(sequence([triad] * 8))
    chords = {name: stats[f"chord_{name}"] for name in ("major", "minor", "diminished", "augmented", "other")}
    assert chords == {name: float(name == quality) for name in chords}


def test_arpeggiated_triad_and_seventh_chord_are_major():
    alberti = melody([48, 55, 52, 55] * 4, step=0.125)  # C G E G in eighths at 120 BPM
    np.testing.assert_array_equal(chord_quality_histogram(alberti), [1, 0, 0, 0, 0])
    dominant_seventh = sequence([[55, 59, 62, 65]] * 4)  # G B D F: G major triad wins the tie
    np.testing.assert_array_equal(chord_quality_histogram(dominant_seventh), [1, 0, 0, 0, 0])


def test_passing_note_does_not_break_triad():
    triad = sequence([C_MAJOR_TRIAD] * 4, step=0.5)
    passing = Notes.from_arrays(
        np.r_[triad.onset, 0.2], np.r_[triad.offset, 0.23], np.r_[triad.pitch, 74], np.r_[triad.velocity, 80]
    )
    np.testing.assert_array_equal(chord_quality_histogram(passing), [1, 0, 0, 0, 0])


def test_mode_major_and_minor():
    assert symbolic_statistics(sequence([C_MAJOR_TRIAD] * 8))["mode"] == 1.0
    minor = symbolic_statistics(melody(A_MINOR_PIECE))
    assert minor["mode"] == 0.0
    assert minor["key_strength"] > 0.8 and minor["key_margin"] > 0


def test_louder_piece_has_higher_velocity_mean():
    soft = symbolic_statistics(melody(A_MINOR_PIECE, velocity=40))
    loud = symbolic_statistics(melody(A_MINOR_PIECE, velocity=100))
    assert (soft["velocity_mean"], loud["velocity_mean"]) == (40.0, 100.0)
    assert soft["velocity_std"] == 0.0


def test_pitch_and_register_statistics():
    stats = symbolic_statistics(melody([48, 60, 72, 84]))
    assert stats["pitch_mean"] == 66.0 and stats["pitch_std"] == pytest.approx(np.std([48, 60, 72, 84]))
    assert (stats["pitch_min"], stats["pitch_max"], stats["pitch_range"]) == (48.0, 84.0, 36.0)
    assert (stats["register_low"], stats["register_high"]) == (48.0, 84.0)
    assert stats["pitch_class_entropy"] == 0.0  # all C
    chromatic = symbolic_statistics(melody(list(range(60, 72))))
    assert chromatic["pitch_class_entropy"] == pytest.approx(np.log2(12))


def test_intervals_follow_the_top_voice():
    tune = [60, 64, 62, 67]  # +4, -2, +5
    with_bass = sequence([[48, p] for p in tune])
    for notes in (melody(tune), with_bass):
        stats = symbolic_statistics(notes)
        assert stats["interval_mean_abs"] == pytest.approx(11 / 3)
        assert stats["interval_std"] == pytest.approx(np.std([4, -2, 5]))


def test_articulation_and_durations():
    staccato = symbolic_statistics(melody([60, 62, 64, 65], step=0.5, duration=0.25))
    assert staccato["articulation"] == pytest.approx(0.5)
    assert (staccato["duration_mean"], staccato["duration_std"]) == (pytest.approx(0.25), pytest.approx(0.0))
    legato = symbolic_statistics(melody([60, 62, 64, 65], step=0.5))
    assert legato["articulation"] == pytest.approx(1.0)


def test_silence_fraction():
    notes = Notes.from_arrays([0.0, 2.0], [1.0, 3.0], [60, 62], [80, 80])
    assert symbolic_statistics(notes)["silence_fraction"] == pytest.approx(1 / 3)
    assert symbolic_statistics(melody([60] * 4))["silence_fraction"] == 0.0


@pytest.mark.parametrize(("step", "bpm"), [(0.5, 120.0), (0.6, 100.0), (0.4, 150.0), (0.75, 80.0)])
def test_tempo_of_a_metronome(step, bpm):
    assert estimate_tempo(melody([60] * 24, step=step, duration=step / 2)) == pytest.approx(bpm)


def test_tempo_prior_prefers_the_beat_over_eighth_notes():
    assert estimate_tempo(melody([60, 64, 67, 72] * 8, step=0.25)) == pytest.approx(120.0)


def test_single_note_piece_is_finite():
    stats = symbolic_statistics(Notes.from_arrays([0.3], [1.3], [60], [70]))
    assert list(stats) == list(SYMBOLIC_FEATURE_NAMES)
    assert all(np.isfinite(v) and isinstance(v, float) for v in stats.values())
    assert stats["note_density"] == 1.0 and stats["onset_density"] == 1.0
    assert (stats["interval_mean_abs"], stats["interval_std"], stats["articulation"]) == (0.0, 0.0, 1.0)
    assert stats["tempo_bpm"] == 120.0 and stats["chord_other"] == 1.0


def test_table_column_order_and_rows():
    clips = {"major": sequence([C_MAJOR_TRIAD] * 8), "minor": melody(A_MINOR_PIECE)}
    table = symbolic_statistics_table(clips)
    assert list(table.columns) == ["clip_id", *SYMBOLIC_FEATURE_NAMES]
    assert table["clip_id"].tolist() == ["major", "minor"]
    assert table["mode"].tolist() == [1.0, 0.0]
    assert table.loc[1, "velocity_mean"] == symbolic_statistics(clips["minor"])["velocity_mean"]
    assert np.isfinite(table[list(SYMBOLIC_FEATURE_NAMES)].to_numpy()).all()
    empty = symbolic_statistics_table({})
    assert list(empty.columns) == ["clip_id", *SYMBOLIC_FEATURE_NAMES] and len(empty) == 0


def test_feature_names_are_unique_and_no_notes_raises():
    assert len(set(SYMBOLIC_FEATURE_NAMES)) == len(SYMBOLIC_FEATURE_NAMES)
    with pytest.raises(ValueError, match="without notes"):
        symbolic_statistics(Notes.from_arrays([], [], [], []))
