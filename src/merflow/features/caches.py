"""Feature caches of a dataset: parquet tables keyed by ``clip_id``.

Conventions
-----------
- Symbolic caches (per dataset and source) come from one pass over the source's MIDI
  index (:mod:`merflow.datasets.sources`): every MIDI is parsed once, then key/mode
  (:mod:`merflow.music.tonality`), handcrafted statistics (:mod:`merflow.music.symbolic_features`) and
  four tokenizations (:data:`TOKENIZERS`: MIDI-like, refined MIDI-like, REMI, CP), each a
  table with ``clip_id``, ``tokens`` (list column; CP: a list of 4-lists) and ``n_tokens``.
- Acoustic caches (per dataset) hold the frame features of every clip
  (:mod:`merflow.music.audio_features`) as nested list columns ``(n_rows, n_frames)`` plus
  ``n_frames``, with the frame rate, hop and STFT size in the parquet metadata, and their
  per-clip statistics.
- A clip that cannot be read is recorded in the ledger and absent from every table.
- Per-clip caching: with a :class:`~merflow.acquisition.clip_cache.ClipCache` (the pipeline keeps one
  in :data:`CACHE_FOLDER` beside the outputs, versioned by the code version and settings),
  a clip whose input file and version are unchanged is not recomputed when the job reruns.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, fields
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import symusic

from merflow.acquisition.clip_cache import ClipCache, cached_result
from merflow.core.io import matrix_list_array
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress
from merflow.datasets.sources import usable_midi
from merflow.music.audio_features import (
    FEATURES,
    AudioFeatureConfig,
    audio_statistics,
    frame_features,
    load_audio,
)
from merflow.music.midi import Notes, checked_notes, read_score
from merflow.music.symbolic_features import SYMBOLIC_FEATURE_NAMES, symbolic_statistics
from merflow.music.tonality import KEY_COLUMNS, estimate_key
from merflow.tokenizers import cp, midi_like, refined_midi_like, remi
from merflow.tokenizers.sustain import pedal_notes

#: Folder (beside a stage's outputs) of its per-clip cache, see :mod:`merflow.acquisition.clip_cache`.
CACHE_FOLDER = ".clip_cache"
#: Token tables written by the symbolic stage, by tokenizer name.
TOKENIZERS = ("midi_like", "midi_like_pedal", "refined_midi_like", "remi", "cp")
#: Tokenizers of a parsed score (CP re-reads the file: :func:`merflow.tokenizers.cp.encode_cp`).
NOTE_TOKENIZERS = ("midi_like", "midi_like_pedal", "refined_midi_like", "remi")

log = logging.getLogger(__name__)


def _symbolic_result(clip_id: str, path: str, cp_rescale: bool) -> dict[str, Any]:
    """Key, statistics and the four tokenizations of one clip (raises InputError)."""
    score = read_score(path, clip_id)  # parsed once for the key, statistics and REMI
    notes = checked_notes(score, clip_id, path)
    key = estimate_key(notes)
    return {
        "key": {
            "key": key.name,
            "tonic": key.tonic,
            "mode": key.mode,
            "correlation": key.correlation,
            "runner_up": key.runner_up,
            "runner_up_correlation": key.runner_up_correlation,
            "is_major": int(key.mode == "major"),
        },
        "statistics": symbolic_statistics(notes),
        "tokens": {
            **{name: clip_tokens(score, notes, name).tolist() for name in NOTE_TOKENIZERS},
            "cp": cp.encode_cp(path, rescale=cp_rescale, item=clip_id).tolist(),
        },
    }


def clip_tokens(
    score: symusic.Score, notes: Notes, tokenizer: str, cp_rescale: bool = False, item: str | None = None
) -> np.ndarray:
    """Token ids of one clip for a tokenizer of :data:`TOKENIZERS`: ``(n_tokens,)``, or
    ``(n_notes, 4)`` for CP (``cp_rescale``: see :func:`merflow.tokenizers.cp.encode_cp`).

    ``score`` and ``notes`` are the same MIDI file (:func:`merflow.music.midi.read_score` and
    :func:`merflow.music.midi.checked_notes`): REMI and CP read the score's ticks, the others the notes.
    ``midi_like_pedal`` is MIDI-like of the score's notes with its sustain pedal applied
    (:mod:`merflow.tokenizers.sustain`; a transcription has no pedal: its notes unchanged).
    """
    if tokenizer == "midi_like_pedal":
        return midi_like.encode(pedal_notes(score))
    if tokenizer == "remi":
        return remi.encode(score)
    if tokenizer == "cp":
        return cp.encode_cp(score, rescale=cp_rescale, item=item)
    if tokenizer not in NOTE_TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}; choose from {TOKENIZERS}")
    return {"midi_like": midi_like, "refined_midi_like": refined_midi_like}[tokenizer].encode(notes)


def symbolic_caches(
    midi_index: pd.DataFrame, ledger: Ledger, cp_rescale: bool = False, cache: ClipCache | None = None
) -> dict[str, pd.DataFrame]:
    """Key table, statistics and the four tokenizations of every readable clip of a MIDI index.

    Args:
        midi_index: the source's MIDI index.
        ledger: receives unreadable or empty files (a clip that fails any step is left out
            of every table).
        cp_rescale: rescale ticks to 480 per beat before CP (False = MIDI-BERT's own tokens).
        cache: per-clip results of earlier runs (see :mod:`merflow.acquisition.clip_cache`); None
            computes everything.

    Returns:
        ``{"keys", "statistics", "tokens_<tokenizer>" for each of TOKENIZERS}``, keyed by
        ``clip_id``.
    """
    results: dict[str, dict[str, Any]] = {}
    for clip_id, path in usable_midi(midi_index).items():
        compute = partial(_symbolic_result, clip_id, path, cp_rescale)
        result = cached_result(cache, clip_id, path, compute, ledger)
        if result is not None:
            results[clip_id] = result
    if cache is not None:
        log.info("symbolic caches: %d clips reused, %d computed", cache.hits, cache.misses)
    ids = list(results)
    keys = pd.DataFrame([{"clip_id": c, **results[c]["key"]} for c in ids], columns=KEY_COLUMNS)
    statistics = pd.DataFrame(
        [{"clip_id": c, **results[c]["statistics"]} for c in ids],
        columns=["clip_id", *SYMBOLIC_FEATURE_NAMES],
    ).astype(dict.fromkeys(SYMBOLIC_FEATURE_NAMES, np.float64))
    tables = {
        f"tokens_{name}": pd.DataFrame(
            {
                "clip_id": ids,
                "tokens": [results[c]["tokens"][name] for c in ids],
                "n_tokens": [len(results[c]["tokens"][name]) for c in ids],
            }
        )
        for name in TOKENIZERS
    }
    return {"keys": keys, "statistics": statistics, **tables}


def _audio_result(clip_id: str, path: str, cfg: AudioFeatureConfig) -> dict[str, Any]:
    """Frame features (float32 arrays) and their statistics of one clip (raises InputError)."""
    frames = frame_features(load_audio(path, cfg.sample_rate, clip_id), cfg)
    return {
        "frames": {name: frames[name].astype(np.float32) for name in FEATURES},
        "statistics": audio_statistics(frames),
    }


def audio_caches(
    audio_paths: dict[str, str], cfg: AudioFeatureConfig, ledger: Ledger, cache: ClipCache | None = None
) -> dict[str, pd.DataFrame]:
    """Frame features and their statistics for every readable clip.

    Args:
        audio_paths: clip ID -> wav.
        cfg: STFT and feature settings.
        ledger: receives unreadable or silent clips.
        cache: per-clip results of earlier runs; None computes everything.

    Returns:
        ``{"frames": an Arrow table (:func:`frame_table`), "statistics": a DataFrame}``, keyed
        by ``clip_id``.
    """
    clip_ids, frame_sets, stats_rows = [], [], []
    progress = Progress(log, len(audio_paths), "clips", every=25)
    for clip_id, path in audio_paths.items():
        result = cached_result(cache, clip_id, path, partial(_audio_result, clip_id, path, cfg), ledger)
        progress.step()
        if result is None:
            continue
        clip_ids.append(clip_id)
        frame_sets.append(result["frames"])
        stats_rows.append({"clip_id": clip_id, **result["statistics"]})
    return {"frames": frame_table(clip_ids, frame_sets), "statistics": pd.DataFrame(stats_rows)}


def frame_table(clip_ids: list[str], frame_sets: list[dict[str, np.ndarray]]) -> pa.Table:
    """Arrow table ``clip_id``, ``n_frames`` and one ``list<list<float32>>`` column per feature.

    Built from the float32 arrays directly (no Python floats), so that a dataset's frames
    (about 2.5 GB of float32 for EMOPIA) fit in memory while they are written.
    """
    columns: dict[str, pa.Array] = {
        "clip_id": pa.array(clip_ids, type=pa.string()),
        "n_frames": pa.array([int(f[FEATURES[0]].shape[1]) for f in frame_sets], type=pa.int64()),
    }
    for name in FEATURES:
        columns[name] = matrix_list_array([f[name] for f in frame_sets])
    return pa.table(columns)


def audio_feature_settings(metadata: dict[str, object]) -> dict[str, object]:
    """The :class:`AudioFeatureConfig` fields of an acoustic cache's metadata
    (:func:`audio_cache_metadata`); {} for a table that is not an acoustic cache."""
    known = {f.name for f in fields(AudioFeatureConfig)}
    return {key: value for key, value in metadata.items() if key in known}


def audio_cache_metadata(cfg: AudioFeatureConfig) -> dict[str, object]:
    """Parquet metadata of the acoustic caches: STFT settings and the frame rate (Hz)."""
    return {**asdict(cfg), "frame_rate_hz": cfg.sample_rate / cfg.hop_length, "features": list(FEATURES)}
