"""Feature caches of a dataset: parquet tables keyed by ``clip_id``.

Conventions
-----------
- Symbolic caches (per dataset and source) come from one pass over the source's MIDI
  index (:mod:`merflow.sources`): every MIDI is parsed once, then key/mode
  (:mod:`merflow.tonality`), handcrafted statistics (:mod:`merflow.features.symbolic`) and
  MIDI-like tokens (:mod:`merflow.tokenizers.midi_like`, a list column) are computed.
- Acoustic caches (per dataset) hold the frame features of every clip
  (:mod:`merflow.features.audio`) as nested list columns ``(n_rows, n_frames)`` plus
  ``n_frames``, with the frame rate, hop and STFT size in the parquet metadata, and their
  per-clip statistics.
- A clip that cannot be read is recorded in the ledger and absent from every table.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import numpy as np
import pandas as pd

from merflow.errors import InputError
from merflow.features.audio import FEATURES, AudioFeatureConfig, audio_statistics, frame_features, load_audio
from merflow.features.symbolic import symbolic_statistics_table
from merflow.ledger import Ledger
from merflow.logs import Progress
from merflow.midi import Notes, read_notes
from merflow.sources import usable_midi
from merflow.tokenizers import midi_like
from merflow.tonality import key_table

log = logging.getLogger(__name__)


def read_clip_notes(midi_paths: dict[str, str], ledger: Ledger) -> dict[str, Notes]:
    """Parse every clip's MIDI; unreadable or empty files go to ``ledger``."""
    notes: dict[str, Notes] = {}
    for clip_id, path in midi_paths.items():
        try:
            notes[clip_id] = read_notes(path, clip_id)
        except InputError as err:
            ledger.record(err)
    log.info("parsed %d of %d MIDI files", len(notes), len(midi_paths))
    return notes


def symbolic_caches(midi_index: pd.DataFrame, ledger: Ledger) -> dict[str, pd.DataFrame]:
    """Key table, statistics and MIDI-like tokens of every readable clip of a MIDI index.

    Returns:
        ``{"keys": ..., "statistics": ..., "tokens": ...}``, each keyed by ``clip_id``;
        ``tokens`` has ``tokens`` (list of int, vocabulary :data:`midi_like.VOCAB_SIZE`)
        and ``n_tokens``.
    """
    notes = read_clip_notes(usable_midi(midi_index), ledger)
    tokens = [midi_like.encode(clip_notes) for clip_notes in notes.values()]
    return {
        "keys": key_table(notes),
        "statistics": symbolic_statistics_table(notes),
        "tokens": pd.DataFrame(
            {
                "clip_id": list(notes),
                "tokens": [t.tolist() for t in tokens],
                "n_tokens": [len(t) for t in tokens],
            }
        ),
    }


def audio_caches(
    audio_paths: dict[str, str], cfg: AudioFeatureConfig, ledger: Ledger
) -> dict[str, pd.DataFrame]:
    """Frame features and their statistics for every readable clip.

    Returns:
        ``{"frames": ..., "statistics": ...}`` keyed by ``clip_id``.
    """
    frames_rows, stats_rows = [], []
    progress = Progress(log, len(audio_paths), "clips", every=25)
    for clip_id, path in audio_paths.items():
        try:
            frames = frame_features(load_audio(path, cfg.sample_rate, clip_id), cfg)
        except InputError as err:
            ledger.record(err)
        else:
            frames_rows.append(
                {
                    "clip_id": clip_id,
                    "n_frames": int(frames[FEATURES[0]].shape[1]),
                    **{name: frames[name].astype(np.float32).tolist() for name in FEATURES},
                }
            )
            stats_rows.append({"clip_id": clip_id, **audio_statistics(frames)})
        progress.step()
    return {"frames": pd.DataFrame(frames_rows), "statistics": pd.DataFrame(stats_rows)}


def audio_cache_metadata(cfg: AudioFeatureConfig) -> dict[str, object]:
    """Parquet metadata of the acoustic caches: STFT settings and the frame rate (Hz)."""
    return {**asdict(cfg), "frame_rate_hz": cfg.sample_rate / cfg.hop_length, "features": list(FEATURES)}
