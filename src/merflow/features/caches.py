"""Feature caches of a dataset: parquet tables keyed by ``clip_id``.

Conventions
-----------
- Symbolic caches (per dataset and source) come from one pass over the source's MIDI
  index (:mod:`merflow.sources`): every MIDI is parsed once, then key/mode
  (:mod:`merflow.tonality`), handcrafted statistics (:mod:`merflow.features.symbolic`) and
  four tokenizations (:data:`TOKENIZERS`: MIDI-like, refined MIDI-like, REMI, CP), each a
  table with ``clip_id``, ``tokens`` (list column; CP: a list of 4-lists) and ``n_tokens``.
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
from merflow.midi import Notes, read_notes, read_score
from merflow.sources import usable_midi
from merflow.tokenizers import cp, midi_like, refined_midi_like, remi
from merflow.tonality import key_table

#: Token tables written by the symbolic stage, by tokenizer name.
TOKENIZERS = ("midi_like", "refined_midi_like", "remi", "cp")

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


def symbolic_caches(
    midi_index: pd.DataFrame, ledger: Ledger, cp_rescale: bool = False
) -> dict[str, pd.DataFrame]:
    """Key table, statistics and the four tokenizations of every readable clip of a MIDI index.

    Args:
        midi_index: the source's MIDI index.
        ledger: receives unreadable or empty files.
        cp_rescale: rescale ticks to 480 per beat before CP (False = MIDI-BERT's own tokens).

    Returns:
        ``{"keys", "statistics", "tokens_<tokenizer>" for each of TOKENIZERS}``, keyed by
        ``clip_id``; a clip missing from one table (e.g. CP drops every note outside
        22..107) is recorded in the ledger.
    """
    paths = usable_midi(midi_index)
    notes = read_clip_notes(paths, ledger)
    tokens: dict[str, dict[str, list]] = {name: {} for name in TOKENIZERS}
    for clip_id, clip_notes in notes.items():
        tokens["midi_like"][clip_id] = midi_like.encode(clip_notes).tolist()
        tokens["refined_midi_like"][clip_id] = refined_midi_like.encode(clip_notes).tolist()
        try:
            score = read_score(paths[clip_id], clip_id)
            tokens["remi"][clip_id] = remi.encode(score).tolist()
            tokens["cp"][clip_id] = cp.encode_cp(paths[clip_id], rescale=cp_rescale, item=clip_id).tolist()
        except InputError as err:
            ledger.record(err)
    tables = {
        f"tokens_{name}": pd.DataFrame(
            {
                "clip_id": list(by_clip),
                "tokens": list(by_clip.values()),
                "n_tokens": [len(t) for t in by_clip.values()],
            }
        )
        for name, by_clip in tokens.items()
    }
    return {"keys": key_table(notes), "statistics": symbolic_statistics_table(notes), **tables}


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
