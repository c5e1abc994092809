"""A small built-in piano-like synthesizer: notes in, mono audio out, no soundfont needed.

Conventions
-----------
Input is a :class:`~merflow.music.midi.Notes` (seconds); output is float32 mono in [-1, 1] at
``sample_rate`` Hz whose length is ``round((notes.end_time + tail_s) * sample_rate)``
samples. Time 0 of the audio is time 0 of the notes, so silence before the first onset
is kept.

Tone model, per note of fundamental ``f0`` (equal temperament, A4 = 440 Hz):

- :data:`N_PARTIALS` harmonic partials ``k * f0`` (no inharmonicity), amplitudes
  proportional to ``k ** -PARTIAL_ROLLOFF`` and normalised to sum to 1, so one note never
  peaks above its velocity amplitude; partials at or above the Nyquist frequency are
  dropped.
- Exponential decay ``exp(-rate * t)`` (amplitude); the fundamental's rate is
  :data:`DECAY_RATE_AT_C4` per second at MIDI 60 and doubles every
  :data:`DECAY_DOUBLING_SEMITONES` semitones (high notes die away faster), and partial
  ``k`` decays ``k ** PARTIAL_DECAY_EXPONENT`` times faster than the fundamental.
- Linear attack of :data:`ATTACK_S`, linear release of :data:`RELEASE_S` starting at the
  note offset (the damper); a note whose decay has reached :data:`SILENCE_DB` is cut.
- Amplitude from velocity on the MIDI DLS perceptual curve ``(velocity / 127) ** 2``
  (40 dB from velocity 1 to 127).

Loudness: the mix is multiplied by the fixed :data:`OUTPUT_GAIN`, so renders of different
pieces are directly comparable and velocity differences survive as RMS differences. Only
if the mix would still exceed :data:`PEAK_LIMIT` is the whole render scaled down to peak
exactly at :data:`PEAK_LIMIT` (no clipping); this happens only for very dense, very loud
textures.

Speed: each distinct pitch's decaying tone is computed once per render (vectorised over
time and partials); each note is then a slice of it times its release envelope and
amplitude, so rendering costs about one multiply-add per sounding sample.
"""

from __future__ import annotations

import numpy as np

from merflow.music.midi import Notes

N_PARTIALS = 6
PARTIAL_ROLLOFF = 1.5
PARTIAL_DECAY_EXPONENT = 0.7
DECAY_RATE_AT_C4 = 1.2  # 1/s, amplitude decay rate of the fundamental of MIDI 60
DECAY_REFERENCE_PITCH = 60
DECAY_DOUBLING_SEMITONES = 18.0
ATTACK_S = 0.005
RELEASE_S = 0.08
SILENCE_DB = -60.0
VELOCITY_EXPONENT = 2.0  # MIDI DLS: 40 * log10(velocity / 127) dB
MAX_VELOCITY = 127
OUTPUT_GAIN = 0.4
PEAK_LIMIT = 0.99
A4_PITCH = 69
A4_HZ = 440.0
SEMITONES_PER_OCTAVE = 12


def pitch_to_hz(pitch: np.ndarray | int) -> np.ndarray:
    """Equal-tempered frequency in Hz of MIDI pitch(es), A4 (69) = 440 Hz."""
    return A4_HZ * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - A4_PITCH) / SEMITONES_PER_OCTAVE)


def decay_rate(pitch: np.ndarray | int) -> np.ndarray:
    """Amplitude decay rate (1/s) of the fundamental of MIDI pitch(es)."""
    semis = np.asarray(pitch, dtype=np.float64) - DECAY_REFERENCE_PITCH
    return DECAY_RATE_AT_C4 * 2.0 ** (semis / DECAY_DOUBLING_SEMITONES)


def velocity_amplitude(velocity: np.ndarray | int) -> np.ndarray:
    """Linear peak amplitude (0..1] of MIDI velocity(ies) 1..127 on the DLS curve."""
    v = np.clip(np.asarray(velocity, dtype=np.float64), 1, MAX_VELOCITY)
    return (v / MAX_VELOCITY) ** VELOCITY_EXPONENT


def ring_seconds(pitch: int) -> float:
    """Seconds until the fundamental of ``pitch`` has decayed to :data:`SILENCE_DB`."""
    return float(-np.log(10.0 ** (SILENCE_DB / 20.0)) / decay_rate(pitch))


def _tone(pitch: int, n_samples: int, sample_rate: int) -> np.ndarray:
    """Unit-amplitude decaying harmonic tone with attack, shape (n_samples,), float64."""
    f0 = float(pitch_to_hz(pitch))
    k = np.arange(1, N_PARTIALS + 1, dtype=np.float64)
    k = k[k * f0 < sample_rate / 2.0]
    amps = k**-PARTIAL_ROLLOFF
    amps /= amps.sum()
    rates = float(decay_rate(pitch)) * k**PARTIAL_DECAY_EXPONENT
    t = np.arange(n_samples, dtype=np.float64) / sample_rate
    partials = np.sin(2.0 * np.pi * f0 * np.outer(k, t)) * np.exp(-np.outer(rates, t))
    tone = amps @ partials
    n_attack = min(n_samples, max(1, round(ATTACK_S * sample_rate)))
    tone[:n_attack] *= np.arange(1, n_attack + 1) / n_attack
    return tone


def render(notes: Notes, sample_rate: int = 22050, tail_s: float = 0.5) -> np.ndarray:
    """Render ``notes`` to piano-like mono audio.

    Args:
        notes: the notes to play (seconds).
        sample_rate: output sample rate in Hz.
        tail_s: seconds of audio kept after the last note offset (for the release).

    Returns:
        float32 array of shape ``(round((notes.end_time + tail_s) * sample_rate),)`` with
        values in [-1, 1] (peak at most :data:`PEAK_LIMIT`); see the module docstring for
        the fixed gain.
    """
    n_out = round((notes.end_time + tail_s) * sample_rate)
    mix = np.zeros(n_out, dtype=np.float64)
    if len(notes) == 0:
        return mix.astype(np.float32)
    starts = np.round(notes.onset * sample_rate).astype(np.int64)
    holds = np.maximum(np.round(notes.duration * sample_rate).astype(np.int64), 1)
    n_release = max(1, round(RELEASE_S * sample_rate))
    release = np.linspace(1.0, 0.0, n_release, endpoint=False)
    amps = velocity_amplitude(notes.velocity)

    pitches = np.unique(notes.pitch)
    rings = {int(p): round(ring_seconds(int(p)) * sample_rate) for p in pitches}
    lengths = np.minimum(holds + n_release, [rings[int(p)] for p in notes.pitch])
    lengths = np.minimum(lengths, n_out - starts)
    tones = {}
    for p in pitches:
        longest = int(lengths[notes.pitch == p].max())
        tones[int(p)] = _tone(int(p), max(longest, 1), sample_rate)

    for start, hold, length, pitch, amp in zip(starts, holds, lengths, notes.pitch, amps, strict=True):
        if length <= 0:
            continue
        segment = tones[int(pitch)][:length] * amp
        if length > hold:
            segment[hold:] *= release[: length - hold]
        mix[start : start + length] += segment

    mix *= OUTPUT_GAIN
    peak = float(np.abs(mix).max())
    if peak > PEAK_LIMIT:
        mix *= PEAK_LIMIT / peak
    return mix.astype(np.float32)
