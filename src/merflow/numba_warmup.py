"""The numba functions merflow calls, compiled once: run by :mod:`merflow.core.numba_cache` as
``python -m merflow.numba_warmup`` in a process whose ``NUMBA_CACHE_DIR`` is its own, whose
folder is then published as the snapshot every process copies.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path


def warm_up() -> None:
    """Compile the numba functions merflow's own code calls, on a few seconds of noise.

    Covers :func:`merflow.music.audio_features.frame_features` (STFT, mel, MFCC, chroma with its
    tuning estimate, centroid, RMS), :func:`merflow.transcription.beat_grid.estimate_beats` (onset envelope,
    beat tracker) and basic-pitch's note decoding. A function outside these still works: a
    process compiles it into its private folder.
    """
    import numpy as np

    from merflow.music.audio_features import AudioFeatureConfig, frame_features
    from merflow.music.midi import Notes
    from merflow.transcription.beat_grid import estimate_beats

    noise = np.random.default_rng(0).standard_normal(22050 * 3).astype(np.float32)
    frame_features(noise, AudioFeatureConfig())
    onsets = np.arange(16) * 0.5
    estimate_beats(Notes.from_arrays(onsets, onsets + 0.4, np.full(16, 60), np.full(16, 80)))
    if importlib.util.find_spec("basic_pitch") is not None:
        from merflow.transcription.basic_pitch import BasicPitchTranscriber, model_output

        transcriber = BasicPitchTranscriber()
        with contextlib.suppress(Exception):  # noise may give no notes; the decoder has compiled
            transcriber.notes_from_output(model_output(noise), Path("noise"), "noise")


if __name__ == "__main__":
    warm_up()
