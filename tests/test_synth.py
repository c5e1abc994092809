"""Tests for the built-in piano synthesizer against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from merflow.music.midi import Notes
from merflow.music.synth import PEAK_LIMIT, RELEASE_S, render

SR = 22050


def _notes(onsets, offsets, pitches, velocities) -> Notes:
    return Notes.from_arrays(onsets, offsets, pitches, velocities)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_length_is_last_offset_plus_tail():
    notes = _notes([0.1, 0.4], [1.3, 0.9], [60, 64], [80, 80])
    audio = render(notes, sample_rate=8000, tail_s=0.25)
    assert audio.dtype == np.float32
    assert audio.shape == (round((1.3 + 0.25) * 8000),)


def test_empty_notes_give_tail_of_silence():
    empty = _notes([], [], [], [])
    audio = render(empty, sample_rate=8000, tail_s=0.5)
    assert audio.shape == (4000,)
    assert not audio.any()


def test_a4_spectral_peak_is_440_hz():
    audio = render(_notes([0.0], [1.0], [69], [100]), sample_rate=SR)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1.0 / SR)
    assert abs(freqs[np.argmax(spectrum)] - 440.0) <= SR / len(audio)


def test_silence_before_onset_and_after_release():
    audio = render(_notes([0.5], [1.0], [60], [90]), sample_rate=SR, tail_s=0.5)
    assert not audio[: round(0.5 * SR)].any()
    assert audio[round(0.5 * SR) : round(0.6 * SR)].any()
    assert not audio[round((1.0 + RELEASE_S) * SR) + 1 :].any()


def test_louder_velocity_gives_higher_rms_on_the_dls_curve():
    soft = render(_notes([0.0], [1.0], [60], [40]), sample_rate=SR)
    loud = render(_notes([0.0], [1.0], [60], [100]), sample_rate=SR)
    assert _rms(loud) > _rms(soft)
    # Amplitude goes as (velocity / 127) ** 2 with a fixed gain: ratio (100 / 40) ** 2.
    assert _rms(loud) / _rms(soft) == pytest.approx((100 / 40) ** 2, rel=1e-3)


def test_dense_loud_texture_is_finite_and_not_clipped():
    pitches = np.arange(36, 96)
    notes = _notes(np.zeros(len(pitches)), np.full(len(pitches), 0.5), pitches, np.full(len(pitches), 127))
    audio = render(notes, sample_rate=SR)
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() == pytest.approx(PEAK_LIMIT, abs=1e-6)


def test_high_notes_decay_faster_than_low_notes():
    def late_to_early(pitch: int) -> float:
        audio = render(_notes([0.0], [2.0], [pitch], [100]), sample_rate=SR)
        return _rms(audio[round(1.5 * SR) : 2 * SR]) / _rms(audio[: round(0.5 * SR)])

    assert late_to_early(84) < late_to_early(48)
