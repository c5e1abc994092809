"""Frame-level audio features from one STFT, and their per-clip summary statistics.

Conventions
-----------
- Audio: mono float32, shape ``(n_samples,)``, at ``cfg.sample_rate`` Hz (see :func:`load_audio`).
- One STFT per clip (``librosa.stft``, Hann window, ``center=True``): ``n_frames = 1 +
  n_samples // hop_length`` frames, frame ``t`` centred on sample ``t * hop_length``, i.e. a
  frame rate of ``sample_rate / hop_length`` Hz (43.07 Hz with the defaults). Every feature
  is derived from that STFT's magnitude ``|X|`` or power ``|X|**2``.
- Features, each shaped ``(n_rows, n_frames)``, in this order (:data:`FEATURES`):

  ================== ============== =================================================
  name               n_rows         content
  ================== ============== =================================================
  log_mel            n_mels         mel power spectrogram in dB (``power_to_db``, ref 1)
  mfcc               n_mfcc         DCT-II of ``log_mel`` (row 0 ~ overall level)
  mfcc_coarse        coarse_n_mfcc  DCT-II of a ``coarse_n_mels``-band log-mel (Zhao &
                                    Yoshii's tone-colour input: 23 bands, see below)
  chroma             n_chroma       chroma from the power spectrogram, row 0 = C, 9 = A
  spectral_centroid  1              centroid of the magnitude spectrum, Hz
  rms                1              RMS of the Hann-windowed frame, from the magnitude
                                    spectrum (librosa); ~0.61 x the signal's RMS
  stft               stft_rows      linear-frequency STFT power in dB: ``stft_pool``
                                    adjacent bins summed per row (Zhu et al.'s
                                    ``stft_input`` ablation); row ``r`` covers bins
                                    ``[r * stft_pool, (r + 1) * stft_pool)``
  ================== ============== =================================================

- Zhao & Yoshii's MFCC ("23 mel filterbanks ... 25-dimensional MFCCs"): a DCT-II of 23
  log-mel bands has only 23 coefficients; librosa silently returns ``n_mels`` rows when asked
  for more, and a 25-point formula would only add an all-zero row (k = 23) and a negated copy
  of row 22 (k = 24). We keep the paper's 23-band filterbank and its 23 informative
  coefficients (``coarse_n_mfcc = 23``), and :class:`AudioFeatureConfig` rejects any
  ``n_mfcc > n_mels`` instead of truncating silently.
- The ``stft`` feature pools the one STFT (no second transform) so that its rows stay
  linear in frequency at ``stft_pool * sample_rate / n_fft`` Hz per row (43 Hz with the
  defaults, 257 rows up to Nyquist), small enough to cache for every clip.

- Statistics: mean and (population) standard deviation over frames of every row of the
  :data:`STAT_FEATURES`, named
  ``<feature>_<row>_<stat>`` with the row zero-padded to the width of the largest index
  (``mfcc_03_mean``, ``log_mel_127_std``), or ``<feature>_<stat>`` for one-row features
  (``rms_mean``); ordered by feature, then row, then mean before std
  (:func:`audio_stat_names`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from merflow.core.errors import InputError
from merflow.core.io import wav_shortfall

#: Feature names, in output order.
FEATURES = ("log_mel", "mfcc", "mfcc_coarse", "chroma", "spectral_centroid", "rms", "stft")
#: Features summarised by :func:`audio_statistics` (the Audio-LR baseline's input); the
#: model-specific inputs ``mfcc_coarse`` and ``stft`` are left out.
STAT_FEATURES = ("log_mel", "mfcc", "chroma", "spectral_centroid", "rms")
#: Summary statistics over frames, in output order.
STATS = ("mean", "std")
#: Peak absolute amplitude (full scale 1.0) below which audio counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4


@dataclass(frozen=True)
class AudioFeatureConfig:
    """Analysis parameters: sample rate (Hz), STFT size and hop (samples), feature sizes (rows)."""

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 20
    coarse_n_mels: int = 23
    coarse_n_mfcc: int = 23
    n_chroma: int = 12
    stft_pool: int = 4

    def __post_init__(self) -> None:
        for n_mfcc, n_mels in ((self.n_mfcc, self.n_mels), (self.coarse_n_mfcc, self.coarse_n_mels)):
            if n_mfcc > n_mels:
                raise ValueError(
                    f"{n_mfcc} MFCCs from {n_mels} mel bands: a DCT-II of {n_mels} bands has only "
                    f"{n_mels} coefficients (librosa would silently return {n_mels} rows)"
                )
        if self.stft_pool < 1:
            raise ValueError(f"stft_pool must be >= 1, got {self.stft_pool}")

    @property
    def frame_rate(self) -> float:
        """Frames per second, Hz."""
        return self.sample_rate / self.hop_length

    @property
    def stft_rows(self) -> int:
        """Rows of the pooled ``stft`` feature: ``ceil((n_fft // 2 + 1) / stft_pool)``."""
        return -(-(self.n_fft // 2 + 1) // self.stft_pool)

    def feature_rows(self) -> dict[str, int]:
        """Number of rows of each feature, in :data:`FEATURES` order."""
        return {
            "log_mel": self.n_mels,
            "mfcc": self.n_mfcc,
            "mfcc_coarse": self.coarse_n_mfcc,
            "chroma": self.n_chroma,
            "spectral_centroid": 1,
            "rms": 1,
            "stft": self.stft_rows,
        }


def frame_features(y: np.ndarray, cfg: AudioFeatureConfig) -> dict[str, np.ndarray]:
    """Frame-level features of mono audio ``y`` (``(n_samples,)`` at ``cfg.sample_rate`` Hz).

    Returns:
        ``{name: array}`` in :data:`FEATURES` order, each ``(n_rows, n_frames)`` float32 with
        ``n_frames = 1 + n_samples // cfg.hop_length`` (see the module conventions).
    """
    if y.ndim != 1:
        raise ValueError(f"expected mono audio of shape (n_samples,), got {y.shape}")
    sr, n_fft, hop = cfg.sample_rate, cfg.n_fft, cfg.hop_length
    magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True))
    power = magnitude**2
    log_mel = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=sr, n_fft=n_fft, n_mels=cfg.n_mels)
    )
    coarse_log_mel = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=sr, n_fft=n_fft, n_mels=cfg.coarse_n_mels)
    )
    features = {
        "log_mel": log_mel,
        "mfcc": librosa.feature.mfcc(S=log_mel, n_mfcc=cfg.n_mfcc),
        "mfcc_coarse": librosa.feature.mfcc(S=coarse_log_mel, n_mfcc=cfg.coarse_n_mfcc),
        "chroma": librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, n_chroma=cfg.n_chroma),
        "spectral_centroid": librosa.feature.spectral_centroid(S=magnitude, sr=sr, n_fft=n_fft),
        "rms": librosa.feature.rms(S=magnitude, frame_length=n_fft, hop_length=hop),
        "stft": librosa.power_to_db(pool_rows(power, cfg.stft_pool)),
    }
    return {name: values.astype(np.float32, copy=False) for name, values in features.items()}


def pool_rows(values: np.ndarray, size: int) -> np.ndarray:
    """Sum groups of ``size`` adjacent rows of ``(n_rows, n_frames)``; the last group may be shorter.

    Returns:
        ``(ceil(n_rows / size), n_frames)``.
    """
    starts = np.arange(0, values.shape[0], size)
    return np.add.reduceat(values, starts, axis=0)


def _row_names(feature: str, n_rows: int) -> list[str]:
    """``feature_00`` .. ``feature_<n_rows-1>`` (zero-padded), or ``[feature]`` for one row."""
    if n_rows == 1:
        return [feature]
    width = max(2, len(str(n_rows - 1)))
    return [f"{feature}_{i:0{width}d}" for i in range(n_rows)]


def _stat_names(feature: str, n_rows: int) -> list[str]:
    return [f"{row}_{stat}" for row in _row_names(feature, n_rows) for stat in STATS]


def audio_stat_names(cfg: AudioFeatureConfig) -> list[str]:
    """Names of :func:`audio_statistics`' values for features computed with ``cfg``, in order."""
    rows = cfg.feature_rows()
    return [name for feature in STAT_FEATURES for name in _stat_names(feature, rows[feature])]


def audio_statistics(frames: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean and standard deviation over frames of every row of the :data:`STAT_FEATURES`.

    Args:
        frames: output of :func:`frame_features`, ``{name: (n_rows, n_frames)}``.

    Returns:
        ``{stat_name: value}`` ordered as :func:`audio_stat_names`; all values finite.

    Raises:
        ValueError: if a feature has no frames or a non-finite value (a bug upstream).
    """
    stats: dict[str, float] = {}
    for feature in STAT_FEATURES:
        values = frames[feature]
        if values.ndim != 2 or values.shape[1] == 0 or not np.isfinite(values).all():
            raise ValueError(f"feature {feature!r} of shape {values.shape} is empty or not finite")
        summary = np.stack([values.mean(axis=1), values.std(axis=1)], axis=1).ravel()  # row-major: mean, std
        stats.update(zip(_stat_names(feature, values.shape[0]), summary.tolist(), strict=True))
    return stats


def load_audio(
    path: Path, sample_rate: int, item: str, silence_peak: float | None = SILENCE_PEAK
) -> np.ndarray:
    """Read an audio file as mono float32 at ``sample_rate`` Hz, shape ``(n_samples,)``.

    Channels are averaged; other sample rates are resampled (soxr, librosa's default).
    Also the loader of basic-pitch transcription
    (:func:`merflow.transcription.basic_pitch.load_audio`), which accepts silence.

    Args:
        path: the audio file (anything libsndfile reads; the pipeline's clips are WAV).
        sample_rate: the output sample rate in Hz.
        item: name used in errors.
        silence_peak: audio whose peak amplitude is below this is ``silent_audio``; None
            accepts silent audio.

    Raises:
        InputError: for ``item``: ``missing_file``; ``corrupt_audio`` (not readable as audio,
            a truncated WAV file (:func:`merflow.core.io.wav_shortfall`), no samples, non-finite samples);
            ``silent_audio`` (peak below ``silence_peak``, by default :data:`SILENCE_PEAK`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(item, "missing_file", "audio file does not exist", path)
    shortfall = wav_shortfall(path)
    if shortfall:
        raise InputError(item, "corrupt_audio", shortfall, path)
    try:
        y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise InputError(item, "corrupt_audio", f"not readable as audio: {exc}", path) from exc
    if y.shape[0] == 0 or not np.isfinite(y).all():
        raise InputError(
            item, "corrupt_audio", f"no samples or non-finite samples ({y.shape[0]} frames)", path
        )
    mono = y.mean(axis=1)
    peak = float(np.abs(mono).max())
    if silence_peak is not None and peak < silence_peak:
        raise InputError(item, "silent_audio", f"peak amplitude {peak:.2e} < {silence_peak:.0e}", path)
    if file_sr != sample_rate:
        mono = librosa.resample(mono, orig_sr=file_sr, target_sr=sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)
