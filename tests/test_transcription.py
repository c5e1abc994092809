"""Transcription backends and the cached batch runner, on synthesized audio with known notes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile

from merflow.core.errors import InputError
from merflow.core.ledger import Ledger
from merflow.music.midi import Notes, read_notes, write_notes
from merflow.transcription import (
    CACHED,
    FAILED,
    RESULT_COLUMNS,
    TRANSCRIBED,
    TRANSCRIBERS,
    get_transcriber,
    transcribe_clips,
)

SAMPLE_RATE = 22050
ARPEGGIO = np.array([60, 64, 67, 72])  # C4 E4 G4 C5
NOTE_SECONDS = 0.5
N_PARTIALS = 5
ONSET_TOLERANCE_S = 0.05
MIN_F1 = 0.75


def harmonic_tone(pitch: int, seconds: float) -> np.ndarray:
    """Piano-like tone: partials with amplitude 1/k^2, each decaying at 2k per second."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12)
    k = np.arange(1, N_PARTIALS + 1)[:, None]
    return np.sum(np.sin(2 * np.pi * k * f0 * t) * np.exp(-2.0 * k * t) / k**2, axis=0)


def write_arpeggio(path: Path) -> Path:
    audio = np.concatenate([harmonic_tone(p, NOTE_SECONDS) for p in ARPEGGIO])
    soundfile.write(path, 0.3 * audio / np.abs(audio).max(), SAMPLE_RATE)
    return path


@pytest.fixture(scope="module")
def basic_pitch():
    return get_transcriber("basic_pitch")


@pytest.fixture
def arpeggio_wav(tmp_path: Path) -> Path:
    return write_arpeggio(tmp_path / "arpeggio.wav")


@pytest.fixture
def silent_wav(tmp_path: Path) -> Path:
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    return path


@pytest.fixture
def text_wav(tmp_path: Path) -> Path:
    path = tmp_path / "not_audio.wav"
    path.write_text("this is not a wave file\n")
    return path


def test_basic_pitch_recovers_arpeggio(basic_pitch, arpeggio_wav):
    notes = basic_pitch.transcribe(arpeggio_wav, "arp")
    onsets = np.arange(len(ARPEGGIO)) * NOTE_SECONDS
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        np.stack([onsets, onsets + NOTE_SECONDS], axis=1),
        mir_eval.util.midi_to_hz(ARPEGGIO),
        np.stack([notes.onset, notes.offset], axis=1),
        mir_eval.util.midi_to_hz(notes.pitch),
        onset_tolerance=ONSET_TOLERANCE_S,
        offset_ratio=None,
    )
    assert f1 >= MIN_F1
    assert notes.velocity.min() >= 1 and notes.velocity.max() <= 127


def test_basic_pitch_notes_equal_basic_pitch_predict(basic_pitch, arpeggio_wav):
    """Our windowing, one-thread session and decoding give basic-pitch's own notes."""
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import predict

    notes = basic_pitch.transcribe(arpeggio_wav, "arp")
    _, _, events = predict(arpeggio_wav, ICASSP_2022_MODEL_PATH)
    expected = sorted((round(start, 4), pitch) for start, _, pitch, _, _ in events)
    assert sorted(zip(np.round(notes.onset, 4).tolist(), notes.pitch.tolist(), strict=True)) == expected


def test_basic_pitch_session_takes_one_core_without_spinning(basic_pitch, arpeggio_wav):
    from merflow.transcription.basic_pitch import _model

    basic_pitch.transcribe(arpeggio_wav, "arp")
    options = _model().model.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_silence_gives_no_notes(basic_pitch, silent_wav):
    with pytest.raises(InputError) as info:
        basic_pitch.transcribe(silent_wav, "quiet")
    assert (info.value.item, info.value.reason) == ("quiet", "no_notes")


def test_text_file_gives_corrupt_audio(basic_pitch, text_wav):
    with pytest.raises(InputError) as info:
        basic_pitch.transcribe(text_wav, "text")
    assert info.value.reason == "corrupt_audio"


def test_missing_file(basic_pitch, tmp_path):
    with pytest.raises(InputError) as info:
        basic_pitch.transcribe(tmp_path / "absent.wav", "absent")
    assert info.value.reason == "missing_file"


def test_transcribe_clips_writes_caches_and_ledgers(basic_pitch, tmp_path, text_wav, caplog):
    good = {name: write_arpeggio(tmp_path / f"{name}.wav") for name in ("a", "b")}
    paths = {**good, "bad": text_wav}
    out_dir = tmp_path / "midi"
    ledger = Ledger("transcribe", "synthetic")
    with caplog.at_level(logging.INFO, logger="merflow.transcription"):
        first = transcribe_clips(paths, basic_pitch, out_dir, ledger)
    assert list(first.columns) == RESULT_COLUMNS
    assert list(first.clip_id) == ["a", "b", "bad"]
    assert list(first.status) == [TRANSCRIBED, TRANSCRIBED, FAILED]
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.mid", "b.mid"]
    assert (first.n_notes[:2] == len(read_notes(out_dir / "a.mid"))).all()
    np.testing.assert_allclose(first.audio_seconds[:2], len(ARPEGGIO) * NOTE_SECONDS, atol=1e-3)
    assert (first.realtime_factor[:2] > 0).all() and np.isnan(first.realtime_factor[2])
    assert [(r["item"], r["reason"]) for r in ledger.rows] == [("bad", "corrupt_audio")]
    assert "clips/s" in caplog.text and "ETA" in caplog.text

    second = transcribe_clips(paths, basic_pitch, out_dir, Ledger("transcribe", "synthetic"))
    assert list(second.status) == [CACHED, CACHED, FAILED]
    assert list(second.n_notes) == list(first.n_notes)


def test_transcribe_clips_redoes_stale_and_drops_failed_outputs(tmp_path):
    """A MIDI older than its source is redone; a failed redo deletes the stale MIDI."""
    oracle = get_transcriber("oracle")
    reference = Notes.from_arrays([0.0, 0.5], [0.5, 1.0], [60, 64], [80, 90])
    source, broken = tmp_path / "ref.mid", tmp_path / "broken.mid"
    write_notes(reference, source)
    out_dir = tmp_path / "out"
    write_notes(reference, out_dir / "ref.mid")
    write_notes(reference, out_dir / "broken.mid")
    broken.write_bytes(b"not midi")
    for path in (out_dir / "ref.mid", out_dir / "broken.mid"):
        os.utime(path, ns=(0, 0))  # older than the sources
    ledger = Ledger("transcribe", "synthetic")
    table = transcribe_clips({"ref": source, "broken": broken}, oracle, out_dir, ledger)
    assert list(table.status) == [TRANSCRIBED, FAILED]
    assert not (out_dir / "broken.mid").exists()
    assert [r["reason"] for r in ledger.rows] == ["corrupt_midi"]
    copied = read_notes(out_dir / "ref.mid")
    np.testing.assert_array_equal(copied.pitch, reference.pitch)
    np.testing.assert_allclose(copied.onset, reference.onset, atol=1e-3)
    assert np.isnan(table.audio_seconds).all()


def test_unknown_backend_lists_valid_names():
    with pytest.raises(ValueError, match="basic_pitch") as info:
        get_transcriber("no_such_backend")
    assert all(name in str(info.value) for name in TRANSCRIBERS)


def test_invalid_option_rejected():
    with pytest.raises(ValueError, match="onset_threshold"):
        get_transcriber("basic_pitch", onset_threshold=1.5)
    with pytest.raises(TypeError):
        get_transcriber("oracle", onset_threshold=0.5)
