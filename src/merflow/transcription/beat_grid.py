"""A beat grid for transcribed MIDI: tempo and beats estimated from the note onsets.

Conventions
-----------
Transcription gives notes in seconds with no beat grid, but CP and REMI need bars and
positions. :func:`estimate_beats` builds an onset-strength envelope from the notes
(velocity-weighted onset impulses at :data:`ENVELOPE_RATE_HZ`, Gaussian-smoothed by
:data:`ENVELOPE_SMOOTHING_S`) and runs librosa's dynamic-programming beat tracker (Ellis
2007) on it; the beats are extended at the median beat period so they cover the whole
piece from time 0. :func:`beat_aligned_score` then maps seconds to ticks by linear
interpolation between beats (beat k = tick ``k * 480``, shifted so that time 0 is tick 0)
and writes a tempo map with one tempo per beat, so that the score's ticks follow the
estimated beats while its times in seconds stay those of the transcription.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import symusic
from scipy.ndimage import gaussian_filter1d

from merflow.core.io import atomic_path
from merflow.music.midi import Notes
from merflow.music.symbolic_features import estimate_tempo

TICKS_PER_BEAT = 480
ENVELOPE_RATE_HZ = 100
ENVELOPE_SMOOTHING_S = 0.02
DEFAULT_TEMPO_BPM = 120.0
SECONDS_PER_MINUTE = 60.0
#: Longer pieces get a constant-tempo grid: librosa's tracker needs about 4 GB for 15 minutes.
MAX_TRACKED_SECONDS = 300.0


def onset_envelope(notes: Notes, rate_hz: int = ENVELOPE_RATE_HZ) -> np.ndarray:
    """Velocity-weighted onset impulses, smoothed; shape (n_frames,), frame rate ``rate_hz``."""
    n_frames = int(np.ceil(notes.end_time * rate_hz)) + 1
    envelope = np.zeros(n_frames)
    np.add.at(envelope, np.round(notes.onset * rate_hz).astype(int), notes.velocity / 127.0)
    return gaussian_filter1d(envelope, ENVELOPE_SMOOTHING_S * rate_hz)


def estimate_beats(notes: Notes) -> np.ndarray:
    """Beat times in seconds, shape (n_beats,), with the first beat <= 0 and the last >= the end.

    Falls back to :data:`DEFAULT_TEMPO_BPM` from time 0 when the tracker finds under two beats,
    and to a constant grid at the tempo of :func:`merflow.music.symbolic_features.estimate_tempo`
    for pieces longer than :data:`MAX_TRACKED_SECONDS`.
    """
    if notes.end_time > MAX_TRACKED_SECONDS:
        period = SECONDS_PER_MINUTE / estimate_tempo(notes)
        return np.arange(int(np.ceil(notes.end_time / period)) + 1) * period
    envelope = onset_envelope(notes)
    _, beats = librosa.beat.beat_track(
        onset_envelope=envelope, sr=ENVELOPE_RATE_HZ, hop_length=1, units="time", trim=False
    )
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 2:
        beats = np.array([0.0, SECONDS_PER_MINUTE / DEFAULT_TEMPO_BPM])
    period = float(np.median(np.diff(beats)))
    before = np.arange(int(np.ceil(beats[0] / period)), 0, -1) * -period + beats[0]
    after_count = max(0, int(np.ceil((notes.end_time - beats[-1]) / period)))
    after = beats[-1] + period * np.arange(1, after_count + 1)
    return np.concatenate([before, beats, after])


def beat_aligned_score(notes: Notes, beats: np.ndarray | None = None) -> symusic.Score:
    """A one-track piano score at 480 ticks per beat whose ticks follow ``beats`` (estimated if None)."""
    beats = estimate_beats(notes) if beats is None else np.asarray(beats, dtype=np.float64)
    beat_ticks = TICKS_PER_BEAT * np.arange(len(beats), dtype=np.float64)

    def ticks(times: np.ndarray) -> np.ndarray:
        # linear inside the grid, extrapolated with the first/last beat period outside it
        inside = np.interp(times, beats, beat_ticks)
        first, last = TICKS_PER_BEAT / (beats[1] - beats[0]), TICKS_PER_BEAT / (beats[-1] - beats[-2])
        inside = np.where(times < beats[0], (times - beats[0]) * first, inside)
        inside = np.where(times > beats[-1], beat_ticks[-1] + (times - beats[-1]) * last, inside)
        return inside

    origin = float(ticks(np.array([0.0]))[0])
    score = symusic.Score(TICKS_PER_BEAT)
    previous_tick = -1
    for k in range(len(beats) - 1):
        if beats[k + 1] <= 0:
            continue
        tick = max(0, round(beat_ticks[k] - origin))
        qpm = SECONDS_PER_MINUTE / (beats[k + 1] - beats[k])
        if tick == previous_tick:
            score.tempos[-1] = symusic.Tempo(tick, qpm)
        elif not score.tempos or not np.isclose(score.tempos[-1].qpm, qpm, rtol=1e-6):
            score.tempos.append(symusic.Tempo(tick, qpm))  # only where the tempo changes
        previous_tick = tick
    start = np.maximum(np.round(ticks(notes.onset) - origin), 0).astype(np.int64)
    end = np.maximum(np.round(ticks(notes.offset) - origin).astype(np.int64), start + 1)
    track = symusic.Track("piano", 0, False)
    for s, e, pitch, velocity in zip(start, end, notes.pitch, notes.velocity, strict=True):
        track.notes.append(symusic.Note(int(s), int(e - s), int(pitch), int(velocity)))
    score.tracks.append(track)
    return score


def write_beat_aligned(notes: Notes, path: str | Path) -> None:
    """Write :func:`beat_aligned_score` of ``notes`` to ``path`` (atomically)."""
    score = beat_aligned_score(notes)
    with atomic_path(path) as tmp:
        score.dump_midi(str(tmp))
