"""Handcrafted symbolic statistics of a piano piece, for SVM / logistic-regression baselines.

Conventions
-----------
Input is :class:`merflow.music.midi.Notes` (seconds, MIDI pitch and velocity). Every piece
gives the same :data:`SYMBOLIC_FEATURE_NAMES`, in that order, all finite floats, also for
a one-note piece (statistics that need two notes or two onsets are then 0, or the neutral
value stated below). A piece without notes is an error.

* Pitches in MIDI numbers, intervals in semitones, times and durations in seconds,
  velocities in MIDI units 1..127, densities per second, tempo in BPM; standard
  deviations are population ones (ddof=0).
* The *span* of a piece runs from its first onset to its last offset (leading silence
  does not dilute densities).
* *Onset groups*: notes whose onsets follow each other within
  :data:`ONSET_GROUP_TOLERANCE_S` belong to one group (a chord as played, its notes
  slightly spread). The *top voice* is the highest pitch of each group.
* A 100 Hz frame grid starting at the first onset (:data:`FRAME_RATE`) is used for
  silence, chords and tempo.

Features (in order):

``pitch_mean, pitch_std, pitch_min, pitch_max, pitch_range``
    over all notes.
``register_low, register_high``
    mean pitch of the lowest / highest quarter of the notes (at least one note).
``pitch_class_entropy``
    entropy in bits (0..log2 12) of the duration-weighted pitch-class distribution.
``interval_mean_abs, interval_std``
    of the melodic intervals between consecutive top-voice notes (signed for the std).
``note_density, onset_density``
    notes and onset groups per second of span.
``polyphony_mean``
    notes sounding at each onset group (at its last onset), averaged over groups.
``velocity_mean, velocity_std, duration_mean, duration_std``
    over all notes.
``articulation``
    median over notes of duration / inter-onset interval (time from the note's onset to
    the next onset group): < 1 detached, about 1 legato, > 1 overlapping (pedalled);
    1 when there is only one onset group.
``tempo_bpm``
    :func:`estimate_tempo`.
``key_strength, key_margin, mode``
    Krumhansl-Kessler correlation of the best key, its lead over the runner-up, and 1 for
    a major / 0 for a minor best key (:mod:`merflow.music.tonality`).
``chord_major, chord_minor, chord_diminished, chord_augmented, chord_other``
    :func:`chord_quality_histogram`.
``silence_fraction``
    fraction of the span's frames in which no note sounds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from merflow.music.midi import Notes
from merflow.music.tonality import N_PITCH_CLASSES, estimate_key, pitch_class_profile

FRAME_RATE = 100.0  # frames per second of the analysis grid
ONSET_GROUP_TOLERANCE_S = 0.03
REGISTER_QUANTILE = 0.25
NEUTRAL_ARTICULATION = 1.0

# tempo: autocorrelation of the onset envelope with a log-normal prior (as librosa.beat)
MIN_TEMPO_BPM = 40.0
MAX_TEMPO_BPM = 240.0
PRIOR_TEMPO_BPM = 120.0
PRIOR_OCTAVES = 1.0  # standard deviation of the prior in octaves (log2 BPM)
DEFAULT_TEMPO_BPM = PRIOR_TEMPO_BPM
ENVELOPE_SMOOTHING_S = 0.02  # Gaussian smoothing of the onset envelope (timing jitter)

# chords
CHORD_WINDOW_S = 0.5
CHORD_MIN_PC_SHARE = 0.1  # a pitch class counts as present above this share of a window
CHORD_MIN_EXPLAINED = 0.6  # a triad must cover this share of a window's pitch-class time
CHORD_QUALITIES = ("major", "minor", "diminished", "augmented")
TRIAD_INTERVALS = {"major": (0, 4, 7), "minor": (0, 3, 7), "diminished": (0, 3, 6), "augmented": (0, 4, 8)}

SYMBOLIC_FEATURE_NAMES: tuple[str, ...] = (
    "pitch_mean",
    "pitch_std",
    "pitch_min",
    "pitch_max",
    "pitch_range",
    "register_low",
    "register_high",
    "pitch_class_entropy",
    "interval_mean_abs",
    "interval_std",
    "note_density",
    "onset_density",
    "polyphony_mean",
    "velocity_mean",
    "velocity_std",
    "duration_mean",
    "duration_std",
    "articulation",
    "tempo_bpm",
    "key_strength",
    "key_margin",
    "mode",
    *(f"chord_{quality}" for quality in (*CHORD_QUALITIES, "other")),
    "silence_fraction",
)


def _triad_templates() -> np.ndarray:
    """Binary pitch-class sets of the 48 triads, shape (48, 12), row ``12 * quality + root``."""
    templates = np.zeros((len(CHORD_QUALITIES), N_PITCH_CLASSES, N_PITCH_CLASSES))
    for q, quality in enumerate(CHORD_QUALITIES):
        for root in range(N_PITCH_CLASSES):
            templates[q, root, (root + np.array(TRIAD_INTERVALS[quality])) % N_PITCH_CLASSES] = 1.0
    return templates.reshape(-1, N_PITCH_CLASSES)


_TRIADS = _triad_templates()


def _frames(times: np.ndarray, start: float) -> np.ndarray:
    """Index on the :data:`FRAME_RATE` grid starting at ``start`` of each time, int64."""
    return np.rint((times - start) * FRAME_RATE).astype(np.int64)


def _pitch_class_roll(notes: Notes) -> np.ndarray:
    """Whether each pitch class sounds in each frame of the span, shape (n_frames, 12), bool."""
    start = notes.onset[0]
    on = _frames(notes.onset, start)
    off = np.maximum(_frames(notes.offset, start), on + 1)
    change = np.zeros((off.max() + 1, N_PITCH_CLASSES))
    pitch_class = notes.pitch % N_PITCH_CLASSES
    np.add.at(change, (on, pitch_class), 1.0)
    np.add.at(change, (off, pitch_class), -1.0)
    return np.cumsum(change, axis=0)[:-1] > 0


def chord_quality_histogram(notes: Notes) -> np.ndarray:
    """Fractions of :data:`CHORD_WINDOW_S` windows holding each triad quality.

    The span is cut into consecutive windows from the first onset. In each window with
    sound, a pitch class's weight is the time it sounds there; pitch classes below
    :data:`CHORD_MIN_PC_SHARE` of the window's total are ignored. The window is a triad
    of quality q if some triad has all three pitch classes present and its pitch classes
    carry at least :data:`CHORD_MIN_EXPLAINED` of the total (the best-covering triad wins;
    ties go to major, minor, diminished, augmented in that order), otherwise "other" (single
    notes, dyads, clusters, ...).

    Returns:
        shape (5,), float64, fractions of windows with sound that are major, minor,
        diminished, augmented, other; sums to 1 (all zeros for no notes).
    """
    if len(notes) == 0:
        return np.zeros(len(CHORD_QUALITIES) + 1)
    return _chord_histogram(_pitch_class_roll(notes))


def _chord_histogram(roll: np.ndarray) -> np.ndarray:
    """:func:`chord_quality_histogram` of a pitch-class roll (n_frames, 12), n_frames > 0."""
    frames_per_window = round(CHORD_WINDOW_S * FRAME_RATE)
    n_windows = -(-len(roll) // frames_per_window)
    padded = np.zeros((n_windows * frames_per_window, N_PITCH_CLASSES))
    padded[: len(roll)] = roll
    weight = padded.reshape(n_windows, frames_per_window, N_PITCH_CLASSES).sum(axis=1)
    total = weight.sum(axis=1)
    weight, total = weight[total > 0], total[total > 0]
    present = (weight >= CHORD_MIN_PC_SHARE * total[:, np.newaxis]).astype(np.float64)
    complete = present @ _TRIADS.T == 3
    explained = np.where(complete, weight @ _TRIADS.T / total[:, np.newaxis], 0.0)
    best = explained.argmax(axis=1)
    is_triad = explained.max(axis=1) >= CHORD_MIN_EXPLAINED
    quality = np.where(is_triad, best // N_PITCH_CLASSES, len(CHORD_QUALITIES))
    return np.bincount(quality, minlength=len(CHORD_QUALITIES) + 1) / len(quality)


def estimate_tempo(notes: Notes) -> float:
    """Global tempo of a piece in BPM, from the periodicity of its note onsets.

    A velocity-weighted onset envelope on the 100 Hz grid, smoothed by a Gaussian of
    :data:`ENVELOPE_SMOOTHING_S`, is autocorrelated; lags between :data:`MAX_TEMPO_BPM`
    and :data:`MIN_TEMPO_BPM` are weighted by a log-normal prior centred on
    :data:`PRIOR_TEMPO_BPM` with :data:`PRIOR_OCTAVES` octaves' standard deviation (the
    global form of librosa's ``feature.rhythm.tempo``, Ellis 2007), and the best lag is
    the beat period. The prior resolves the octave ambiguity of pulse trains towards the
    beat level (eighth notes at 120 BPM give 120, not 240). Resolution is one frame of
    lag (about 2 % at 120 BPM).

    Returns:
        tempo in BPM, in [MIN_TEMPO_BPM, MAX_TEMPO_BPM]; :data:`DEFAULT_TEMPO_BPM` when
        the onsets show no periodicity in that range (a single onset time, or a piece
        too short for any lag in range).
    """
    if len(notes) == 0:
        return DEFAULT_TEMPO_BPM
    onset_frames = _frames(notes.onset, notes.onset[0])
    envelope = np.bincount(onset_frames, weights=notes.velocity.astype(np.float64))
    sigma = ENVELOPE_SMOOTHING_S * FRAME_RATE
    offsets = np.arange(-round(4 * sigma), round(4 * sigma) + 1)
    envelope = np.convolve(envelope, np.exp(-0.5 * (offsets / sigma) ** 2), mode="full")
    spectrum = np.fft.rfft(envelope, n=2 * len(envelope))
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2)[: len(envelope)]
    min_lag = int(np.ceil(60.0 * FRAME_RATE / MAX_TEMPO_BPM))
    max_lag = min(int(np.floor(60.0 * FRAME_RATE / MIN_TEMPO_BPM)), len(envelope) - 1)
    lags = np.arange(min_lag, max_lag + 1)
    if len(lags) == 0 or autocorrelation[lags].max() <= 1e-9 * autocorrelation[0]:
        return DEFAULT_TEMPO_BPM
    bpm = 60.0 * FRAME_RATE / lags
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_TEMPO_BPM) / PRIOR_OCTAVES) ** 2)
    return float(bpm[np.argmax(autocorrelation[lags] * prior)])


def _onset_groups(onset: np.ndarray) -> np.ndarray:
    """Group number 0.. of each (sorted) onset; a gap above the tolerance starts a group."""
    return np.r_[0, np.cumsum(np.diff(onset) > ONSET_GROUP_TOLERANCE_S)]


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and population std, (0, 0) for no values."""
    return (float(values.mean()), float(values.std())) if len(values) else (0.0, 0.0)


def symbolic_statistics(notes: Notes) -> dict[str, float]:
    """Handcrafted statistics of one piece (see the module docstring for each feature).

    Args:
        notes: the piece, at least one note.

    Returns:
        feature name -> finite float, keys in :data:`SYMBOLIC_FEATURE_NAMES` order.

    Raises:
        ValueError: if ``notes`` is empty.
    """
    if len(notes) == 0:
        raise ValueError("cannot compute symbolic statistics of a piece without notes")
    pitch = notes.pitch.astype(np.float64)
    n = len(pitch)
    span = max(float(notes.offset.max() - notes.onset[0]), 1.0 / FRAME_RATE)

    sorted_pitch = np.sort(pitch)
    k = max(1, int(np.ceil(REGISTER_QUANTILE * n)))

    profile = pitch_class_profile(notes)
    p = profile[profile > 0] / profile.sum()
    entropy = 0.0 - float((p * np.log2(p)).sum())

    group = _onset_groups(notes.onset)
    group_start = np.flatnonzero(np.r_[True, np.diff(group) > 0])
    n_groups = len(group_start)
    top_voice = np.maximum.reduceat(pitch, group_start)
    intervals = np.diff(top_voice)
    group_last_onset = notes.onset[np.r_[group_start[1:], n] - 1]
    sounding = np.searchsorted(notes.onset, group_last_onset, side="right") - np.searchsorted(
        np.sort(notes.offset), group_last_onset, side="right"
    )

    has_next = group < n_groups - 1
    next_onset = notes.onset[group_start[np.minimum(group + 1, n_groups - 1)]]
    ioi = (next_onset - notes.onset)[has_next]
    articulation = (
        float(np.median(notes.duration[has_next] / ioi)) if has_next.any() else NEUTRAL_ARTICULATION
    )

    key = estimate_key(notes)
    roll = _pitch_class_roll(notes)

    values = [
        *_mean_std(pitch),
        pitch.min(),
        pitch.max(),
        pitch.max() - pitch.min(),
        sorted_pitch[:k].mean(),
        sorted_pitch[-k:].mean(),
        entropy,
        np.abs(intervals).mean() if len(intervals) else 0.0,
        _mean_std(intervals)[1],
        n / span,
        n_groups / span,
        sounding.mean(),
        *_mean_std(notes.velocity.astype(np.float64)),
        *_mean_std(notes.duration),
        articulation,
        estimate_tempo(notes),
        key.correlation,
        key.correlation - key.runner_up_correlation,
        1.0 if key.mode == "major" else 0.0,
        *_chord_histogram(roll),
        1.0 - roll.any(axis=1).mean(),
    ]
    return dict(zip(SYMBOLIC_FEATURE_NAMES, map(float, values), strict=True))


def symbolic_statistics_table(notes_by_clip: dict[str, Notes]) -> pd.DataFrame:
    """Symbolic statistics of many clips.

    Args:
        notes_by_clip: clip ID -> notes (each with at least one note).

    Returns:
        one row per clip in input order; columns ``clip_id`` then
        :data:`SYMBOLIC_FEATURE_NAMES`, float64.
    """
    rows = [{"clip_id": clip, **symbolic_statistics(notes)} for clip, notes in notes_by_clip.items()]
    table = pd.DataFrame(rows, columns=["clip_id", *SYMBOLIC_FEATURE_NAMES])
    return table.astype(dict.fromkeys(SYMBOLIC_FEATURE_NAMES, np.float64))
