from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from merflow.music.midi import Notes
from merflow.music.tonality import (
    KEY_NAMES,
    KK_MAJOR,
    estimate_key,
    estimate_keys,
    key_table,
    pitch_class_profile,
)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_tonality.py"
N_RANDOM_PIECES = 30

C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]
A_HARMONIC_MINOR_SCALE = [57, 59, 60, 62, 64, 65, 68, 69]
# A minor: arpeggio, harmonic-minor scale, E major (dominant) arpeggio, arpeggio.
A_MINOR_PIECE = [57, 60, 64, 69, *A_HARMONIC_MINOR_SCALE, 64, 68, 71, 64, 57, 60, 64, 69]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_tonality", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def melody(pitches: list[int], step: float = 0.5) -> Notes:
    n = len(pitches)
    onset = np.arange(n) * step
    return Notes.from_arrays(onset, onset + step, pitches, [80] * n)


def test_pitch_class_profile_is_duration_weighted():
    notes = Notes.from_arrays([0.0, 1.0, 1.0], [3.0, 2.0, 1.5], [60, 72, 66], [80, 80, 80])
    expected = np.zeros(12)
    expected[0] = 3.0 + 1.0
    expected[6] = 0.5
    np.testing.assert_allclose(pitch_class_profile(notes), expected)


def test_c_major_scale_is_c_major():
    key = estimate_key(melody(C_MAJOR_SCALE))
    assert (key.name, key.tonic, key.mode) == ("C major", 0, "major")


@pytest.mark.parametrize("pitches", [A_HARMONIC_MINOR_SCALE, A_MINOR_PIECE])
def test_a_harmonic_minor_is_a_minor(pitches):
    key = estimate_key(melody(pitches))
    assert (key.name, key.tonic, key.mode) == ("A minor", 9, "minor")


def test_profile_equal_to_key_profile_has_correlation_one():
    est = estimate_keys(np.roll(KK_MAJOR, 7)[np.newaxis] * 3.0)
    assert est.key.tolist() == ["G major"]
    assert est.correlation[0] == pytest.approx(1.0)


@pytest.mark.parametrize("pitches", [C_MAJOR_SCALE, A_MINOR_PIECE])
def test_transposition_moves_tonic(pitches):
    piece = melody(pitches)
    base = estimate_key(piece)
    for k in range(-6, 12):
        moved = estimate_key(piece.transpose(k))
        assert moved.tonic == (base.tonic + k) % 12
        assert moved.mode == base.mode
        assert moved.correlation == pytest.approx(base.correlation)


def test_estimate_keys_batch_matches_single_and_runner_up_differs():
    pieces = [melody(C_MAJOR_SCALE), melody(A_MINOR_PIECE), melody(C_MAJOR_SCALE).transpose(3)]
    est = estimate_keys(np.stack([pitch_class_profile(p) for p in pieces]))
    assert est.key.tolist() == ["C major", "A minor", "D# major"]
    assert est.tonic.tolist() == [0, 9, 3]
    assert est.is_major.tolist() == [True, False, True]
    assert est.correlations.shape == (3, 24)
    assert np.all(est.runner_up_index != est.key_index)
    assert np.all(est.runner_up_correlation <= est.correlation)
    np.testing.assert_allclose(est.correlation, est.correlations.max(axis=1))
    for i, piece in enumerate(pieces):
        single = estimate_key(piece)
        assert (est[i].name, est[i].runner_up) == (single.name, single.runner_up)
        assert est[i].correlation == pytest.approx(single.correlation)


def test_key_names_use_sharps_and_key_index_layout():
    assert len(KEY_NAMES) == 24
    assert KEY_NAMES[0] == "C major" and KEY_NAMES[1] == "C# major" and KEY_NAMES[12 + 9] == "A minor"


def test_empty_piece_raises():
    empty = Notes.from_arrays([], [], [], [])
    with pytest.raises(ValueError, match="without notes"):
        estimate_key(empty)
    with pytest.raises(ValueError, match=r"all-zero profile.*rows \[1\]"):
        estimate_keys(np.stack([np.ones(12), np.zeros(12)]))
    with pytest.raises(ValueError, match="shape"):
        estimate_keys(np.ones(12))


def test_constant_profile_gives_zero_correlation():
    est = estimate_keys(np.ones((1, 12)))
    assert est.correlation[0] == 0.0 and est.key[0] == "C major"


def test_key_table_columns_and_values():
    table = key_table({"a": melody(C_MAJOR_SCALE), "b": melody(A_MINOR_PIECE)})
    assert list(table.columns) == [
        "clip_id",
        "key",
        "tonic",
        "mode",
        "correlation",
        "runner_up",
        "runner_up_correlation",
        "is_major",
    ]
    assert table["clip_id"].tolist() == ["a", "b"]
    assert table["key"].tolist() == ["C major", "A minor"]
    assert table["is_major"].tolist() == [1, 0]
    assert (table["runner_up"] != table["key"]).all()


def test_agrees_with_music21_krumhansl_kessler():
    bench = _bench()
    rng = np.random.default_rng(20240501)
    agree = 0
    for _ in range(N_RANDOM_PIECES):
        events = bench.synthetic_piece(rng, n_events=int(rng.integers(10, 40)))
        ours = estimate_key(bench.to_notes(events))
        theirs = bench.to_stream(events).analyze("key.krumhanslkessler")
        same = ours.tonic == theirs.tonic.pitchClass and ours.mode == theirs.mode
        agree += same
        if same:
            assert ours.correlation == pytest.approx(theirs.correlationCoefficient, abs=1e-9)
            second = theirs.alternateInterpretations[0]
            assert ours.runner_up_correlation == pytest.approx(second.correlationCoefficient, abs=1e-9)
        assert ours.runner_up != ours.name
    rate = agree / N_RANDOM_PIECES
    print(f"music21 key.krumhanslkessler tonic+mode agreement: {agree}/{N_RANDOM_PIECES} = {rate:.1%}")
    assert rate >= 0.95


def test_agreement_with_music21_on_emopia_clips(shared_data):
    """A sample of real EMOPIA clips (every 27th of 1,078); the benchmark covers all of them."""
    from merflow.music.key_agreement import key_agreement

    paths = sorted((shared_data / "emopia/EMOPIA_1.0/midis").glob("*.mid"))[::27]
    table = key_agreement(paths)
    rate = table["agree"].mean()
    print(f"K-K agreement with music21 on {len(table)} EMOPIA clips: {rate:.1%}")
    assert len(table) == 40
    assert rate >= 0.95


def test_quantize_quarters_snaps_like_music21s_midi_import() -> None:
    from merflow.music.tonality import quantize_quarters

    got = quantize_quarters(np.array([1.0, 0.385, 0.7, 0.01, 0.0, 2.26, 1.5]))
    np.testing.assert_allclose(got, [1.0, 1 / 3, 2 / 3, 0.25, 0.25, 2.25, 1.5])


def test_profile_of_a_midi_file_weighs_quantized_quarters(tmp_path) -> None:
    from merflow.music.midi import read_notes, write_notes

    # write_notes uses 120 bpm: one quarter note = 0.5 s
    notes = Notes.from_arrays([0.0, 1.0, 2.0], [1.0, 1.005, 2.26], [60, 61, 62], [80, 80, 80])
    write_notes(notes, tmp_path / "n.mid")
    read = read_notes(tmp_path / "n.mid")
    np.testing.assert_allclose(read.quarters, [2.0, 0.01, 0.52], atol=0.01)
    profile = pitch_class_profile(read)
    np.testing.assert_allclose(profile[:3], [2.0, 0.25, 0.5])  # the 5 ms grace note weighs 1/4
    np.testing.assert_allclose(pitch_class_profile(notes)[:3], [1.0, 0.005, 0.26])  # no grid: seconds
