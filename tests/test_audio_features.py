"""Audio features against known answers: a 440 Hz sine, frame counts, loading errors."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from merflow.core.errors import InputError
from merflow.music.audio_features import (
    FEATURES,
    AudioFeatureConfig,
    audio_stat_names,
    audio_statistics,
    frame_features,
    load_audio,
    pool_rows,
)

CFG = AudioFeatureConfig()
A_INDEX = 9  # chroma rows start at C


def sine(
    freq_hz: float = 440.0, seconds: float = 2.0, sr: int = CFG.sample_rate, amp: float = 0.5
) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def a440() -> dict[str, np.ndarray]:
    return frame_features(sine(), CFG)


def test_sine_chroma_peaks_at_a(a440: dict[str, np.ndarray]) -> None:
    assert int(a440["chroma"].mean(axis=1).argmax()) == A_INDEX
    assert (a440["chroma"].argmax(axis=0) == A_INDEX).all()


def test_sine_centroid_near_440(a440: dict[str, np.ndarray]) -> None:
    inner = a440["spectral_centroid"][0, 4:-4]  # edge frames see the zero padding's click
    np.testing.assert_allclose(inner, 440.0, atol=2.0)


def test_shapes_and_frame_count(a440: dict[str, np.ndarray]) -> None:
    n_frames = 1 + len(sine()) // CFG.hop_length
    assert list(a440) == list(FEATURES)
    assert {k: v.shape for k, v in a440.items()} == {
        "log_mel": (128, n_frames),
        "mfcc": (20, n_frames),
        "mfcc_coarse": (23, n_frames),
        "chroma": (12, n_frames),
        "spectral_centroid": (1, n_frames),
        "rms": (1, n_frames),
        "stft": (257, n_frames),
    }
    assert CFG.frame_rate == pytest.approx(22050 / 512)


@pytest.mark.parametrize("n_samples", [2100, 22050, 22051, 44100 + 511])
def test_frame_count_is_one_plus_len_over_hop(n_samples: int) -> None:
    frames = frame_features(sine(seconds=n_samples / CFG.sample_rate), CFG)
    assert {v.shape[1] for v in frames.values()} == {1 + n_samples // CFG.hop_length}


def test_one_stft(monkeypatch) -> None:
    calls = []
    real_stft = librosa.stft

    def counting_stft(*args, **kwargs):
        calls.append(1)
        return real_stft(*args, **kwargs)

    # librosa.feature.* would reach core.spectrum.stft if they recomputed a spectrogram
    monkeypatch.setattr(librosa, "stft", counting_stft)
    monkeypatch.setattr(librosa.core.spectrum, "stft", counting_stft)
    frame_features(sine(seconds=0.5), CFG)
    assert len(calls) == 1


def test_coarse_mfcc_is_librosas_23_band_mfcc() -> None:
    y = sine(seconds=1.0)
    expected = librosa.feature.mfcc(
        y=y, sr=CFG.sample_rate, n_mfcc=23, n_mels=23, n_fft=CFG.n_fft, hop_length=CFG.hop_length
    )
    np.testing.assert_allclose(frame_features(y, CFG)["mfcc_coarse"], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(("n_mfcc", "n_mels"), [(25, 23), (21, 20)])
def test_more_mfccs_than_mel_bands_is_rejected(n_mfcc: int, n_mels: int) -> None:
    with pytest.raises(ValueError, match=f"{n_mfcc} MFCCs from {n_mels} mel bands"):
        AudioFeatureConfig(coarse_n_mfcc=n_mfcc, coarse_n_mels=n_mels)
    with pytest.raises(ValueError, match="only"):
        AudioFeatureConfig(n_mfcc=n_mfcc, n_mels=n_mels)


def test_stft_rows_are_pooled_linear_bins(a440: dict[str, np.ndarray]) -> None:
    row_hz = CFG.stft_pool * CFG.sample_rate / CFG.n_fft  # 43.07 Hz per row
    assert int(a440["stft"].mean(axis=1).argmax()) == int(440.0 // row_hz)  # row 10
    power = np.abs(librosa.stft(sine(), n_fft=CFG.n_fft, hop_length=CFG.hop_length)) ** 2
    pooled = np.stack([power[i : i + 4].sum(axis=0) for i in range(0, power.shape[0], 4)])
    np.testing.assert_allclose(a440["stft"], librosa.power_to_db(pooled), rtol=1e-4, atol=1e-3)


def test_pool_rows_sums_groups_and_keeps_the_short_last_one() -> None:
    values = np.arange(10, dtype=np.float32).reshape(5, 2)
    np.testing.assert_array_equal(pool_rows(values, 2), [[2, 4], [10, 12], [8, 9]])
    assert AudioFeatureConfig(n_fft=2048, stft_pool=4).stft_rows == 257
    assert AudioFeatureConfig(n_fft=2048, stft_pool=1).stft_rows == 1025


def test_statistics_names_order_and_values(a440: dict[str, np.ndarray]) -> None:
    stats = audio_statistics(a440)
    names = audio_stat_names(CFG)
    assert list(stats) == names
    assert len(names) == 2 * (128 + 20 + 12 + 1 + 1)
    assert names[:2] == ["log_mel_000_mean", "log_mel_000_std"]
    assert names[-4:] == ["spectral_centroid_mean", "spectral_centroid_std", "rms_mean", "rms_std"]
    assert stats["mfcc_03_mean"] == pytest.approx(float(a440["mfcc"][3].mean()), rel=1e-6)
    assert stats["chroma_09_std"] == pytest.approx(float(a440["chroma"][9].std()), rel=1e-6)
    assert all(np.isfinite(list(stats.values())))


def test_statistics_reject_non_finite(a440: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="rms"):
        audio_statistics({**a440, "rms": np.array([[0.1, np.nan]])})


def test_load_audio_downmixes_and_resamples(tmp_path: Path) -> None:
    tone = sine(sr=44100)
    sf.write(tmp_path / "s.wav", np.stack([tone, tone], axis=1), 44100)
    y = load_audio(tmp_path / "s.wav", CFG.sample_rate, "c1")
    assert y.dtype == np.float32 and y.shape == (len(tone) // 2,)
    assert float(np.abs(y).max()) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (lambda p: sf.write(p, np.zeros(22050, dtype=np.float32), 22050), "silent_audio"),
        (lambda p: sf.write(p, np.full(22050, 1e-5, dtype=np.float32), 22050), "silent_audio"),
        (lambda p: p.write_text("this is not a wav file\n"), "corrupt_audio"),
        (lambda p: None, "missing_file"),
    ],
)
def test_load_audio_errors(tmp_path: Path, write, reason: str) -> None:
    path = tmp_path / "clip.wav"
    write(path)
    with pytest.raises(InputError) as info:
        load_audio(path, CFG.sample_rate, "c1")
    assert (info.value.item, info.value.reason, info.value.path) == ("c1", reason, str(path))
