"""What the neural models read: clip sets joined from the caches, and padded batches of them.

Conventions (the inputs per estimator are listed in :mod:`merflow.training.neural`):

- :func:`required_inputs` / :func:`frame_columns`: the input tables (``tokens``, ``frames``)
  and frame-cache columns a model config's enabled branches read.
- :func:`build_clip_set`: the clips of one partition that have every required input, in
  manifest order, with their labels (quadrant - 1) and per-clip arrays; clips lacking an input
  are dropped and counted.
- :func:`model_batch`: forward arguments of a few clips: ``tokens`` padded with id 0 and their
  ``token_mask``; frame features cropped to ``max_frames`` (random start with an ``rng``, else
  centred) and padded with each row's minimum; or one random chunk per clip (``chunks``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from merflow.datasets.splits import split_for_part
from merflow.models.baselines import LSTMAttnConfig, ShortChunkResNetConfig, random_chunk
from merflow.models.zhao_yoshii import ZhaoYoshiiConfig
from merflow.models.zhu import MIXED_FEATURES, ZhuConfig, mixed_acoustic_features

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class MissingFeatureError(ValueError):
    """A model configuration needs a feature that the pipeline does not cache."""


@dataclass
class ClipSet:
    """Inputs and labels of a set of clips.

    Attributes:
        clip_ids: the clips, in manifest order.
        labels: (n_clips,) int64, quadrant - 1.
        inputs: forward-argument name -> per-clip arrays: ``tokens`` int64 ``(n_tokens,)``,
            frame features float32 ``(n_rows, n_frames)``.
    """

    clip_ids: list[str]
    labels: np.ndarray
    inputs: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def lengths(self, max_frames: int) -> np.ndarray:
        """Each clip's padded-batch cost length, int64 ``(n_clips,)``: its tokens if the model reads
        tokens, else its frames after cropping to ``max_frames``; 1 for chunk models (equal chunks)."""
        if "tokens" in self.inputs:
            return np.array([len(t) for t in self.inputs["tokens"]], dtype=np.int64)
        frames = [name for name in self.inputs if name != "chunks"]
        if frames:
            return np.array([min(f.shape[1], max_frames) for f in self.inputs[frames[0]]], dtype=np.int64)
        return np.ones(len(self), dtype=np.int64)

    def subset(self, index: np.ndarray) -> ClipSet:
        """The clips at positions ``index``."""
        return ClipSet(
            [self.clip_ids[i] for i in index],
            self.labels[index],
            {name: [values[i] for i in index] for name, values in self.inputs.items()},
        )


def required_inputs(model_config: Any) -> tuple[str, ...]:
    """Input tables (``tokens``, ``frames``) the enabled branches of ``model_config`` read."""
    if isinstance(model_config, LSTMAttnConfig):
        return ("tokens",)
    if isinstance(model_config, ShortChunkResNetConfig):
        return ("frames",)
    if isinstance(model_config, ZhaoYoshiiConfig):
        uses = {
            "tokens": model_config.use_symbolic,
            "frames": model_config.use_chroma or model_config.use_mfcc,
        }
    else:
        uses = {"tokens": model_config.use_symbolic, "frames": model_config.use_acoustic}
    return tuple(name for name, used in uses.items() if used)


def frame_columns(model_config: Any) -> tuple[str, ...]:
    """Columns of the frame cache (features of :mod:`merflow.music.audio_features`) ``model_config`` reads."""
    if isinstance(model_config, ShortChunkResNetConfig):
        return ("log_mel",)
    if isinstance(model_config, ZhaoYoshiiConfig):
        used = {"chroma": model_config.use_chroma, "mfcc_coarse": model_config.use_mfcc}
        return tuple(name for name, use in used.items() if use)
    if isinstance(model_config, ZhuConfig) and model_config.use_acoustic:
        return ("stft",) if model_config.acoustic_input == "stft" else MIXED_FEATURES
    return ()


def frame_arrays(row: Mapping[str, Any], model_config: Any) -> dict[str, np.ndarray]:
    """Forward-argument name -> float32 ``(n_rows, n_frames)`` of one clip's frame features.

    ``row``: a frame-cache row (nested lists per feature) or a dict of ``(n_rows, n_frames)``
    arrays (:func:`merflow.music.audio_features.frame_features`).
    """

    def feature(name: str) -> np.ndarray:
        value = row[name]  # a 2-D array (view), or a sequence of row arrays
        matrix = value if isinstance(value, np.ndarray) and value.ndim == 2 else np.stack(value)
        return matrix.astype(np.float32, copy=False)

    if isinstance(model_config, ShortChunkResNetConfig):
        return {"chunks": feature("log_mel")}
    if isinstance(model_config, ZhaoYoshiiConfig):
        out = {"chroma": feature("chroma")} if model_config.use_chroma else {}
        return out | ({"mfcc": feature("mfcc_coarse")} if model_config.use_mfcc else {})
    if model_config.acoustic_input == "stft":
        return {"acoustic": feature("stft")}
    return {"acoustic": mixed_acoustic_features({name: feature(name) for name in MIXED_FEATURES})}


def frame_rows(frames: pd.DataFrame | None) -> dict[str, int]:
    """Rows of each nested-list feature of a frame cache (from its first row); {} if empty or None."""
    if frames is None or frames.empty:
        return {}
    first = frames.iloc[0]
    return {name: len(first[name]) for name in frames.columns if name not in ("clip_id", "n_frames")}


def truncated_tokens(tokens: Any, max_tokens: int) -> np.ndarray:
    """The first ``max_tokens`` token ids of one clip, int64 ``(min(n_tokens, max_tokens),)``."""
    return np.asarray(tokens, dtype=np.int64)[:max_tokens]


def build_clip_set(
    manifest: pd.DataFrame,
    inputs: dict[str, pd.DataFrame],
    model_config: Any,
    part: str,
    max_tokens: int,
) -> tuple[ClipSet, dict[str, str], dict[str, Any]]:
    """Join the manifest and the input tables of every clip of partition ``part``.

    Returns:
        The clips that have every required input (manifest order), each clip's split, and the
        counts ``{"n_clips": in the partition, "n_dropped": dropped, "missing": {input: n}}``.
    """
    split = dict(zip(manifest["clip_id"], split_for_part(manifest, part), strict=True))
    in_part = manifest[manifest["clip_id"].map(split).isin(SPLITS)]
    needed = required_inputs(model_config)
    absent = [name for name in needed if name not in inputs]
    if absent:
        raise ValueError(f"{type(model_config).__name__} needs input tables {absent}; got {sorted(inputs)}")
    tokens: dict[str, np.ndarray] = {}
    if "tokens" in needed:
        table = inputs["tokens"]
        tokens = {
            c: truncated_tokens(t, max_tokens)
            for c, t in zip(table["clip_id"], table["tokens"], strict=True)
            if len(t) > 0
        }
    frame_rows_by_clip = None
    if "frames" in needed:
        lacking_columns = sorted(set(frame_columns(model_config)) - set(inputs["frames"].columns))
        if lacking_columns:
            raise MissingFeatureError(
                f"{type(model_config).__name__} needs frame features {lacking_columns}, which this audio "
                "frame cache lacks (written by an older merflow: rerun rule audio_features)"
            )
        frame_rows_by_clip = inputs["frames"].set_index("clip_id")
    missing = {name: 0 for name in needed}
    kept, labels, arrays = [], [], {}
    for clip_id, quadrant in zip(in_part["clip_id"], in_part["quadrant"], strict=True):
        has = {
            "tokens": clip_id in tokens,
            "frames": frame_rows_by_clip is not None and clip_id in frame_rows_by_clip.index,
        }
        lacking = [name for name in needed if not has[name]]
        for name in lacking:
            missing[name] += 1
        if lacking:
            continue
        clip_inputs = {"tokens": tokens[clip_id]} if "tokens" in needed else {}
        if frame_rows_by_clip is not None:
            clip_inputs |= frame_arrays(frame_rows_by_clip.loc[clip_id], model_config)
        for name, value in clip_inputs.items():
            arrays.setdefault(name, []).append(value)
        kept.append(clip_id)
        labels.append(int(quadrant) - 1)
    counts = {"n_clips": len(in_part), "n_dropped": len(in_part) - len(kept), "missing": missing}
    if counts["n_dropped"]:
        log.warning("dropped %d of %d clips missing an input: %s", counts["n_dropped"], len(in_part), missing)
    return ClipSet(kept, np.asarray(labels, dtype=np.int64), arrays), split, counts


def pad_tokens(sequences: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Pad id sequences (each ``(n_tokens,)``, n >= 1) -> ``tokens``, ``token_mask`` ``(batch, max_n)``."""
    longest = max(len(s) for s in sequences)
    tokens = torch.zeros(len(sequences), longest, dtype=torch.long)
    mask = torch.zeros(len(sequences), longest, dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = True
    return tokens, mask


def crop_frames(frames: np.ndarray, max_frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """At most ``max_frames`` frames of ``(n_rows, n_frames)``: random with ``rng``, else centred."""
    n_frames = frames.shape[1]
    if n_frames <= max_frames:
        return frames
    start = (
        int(rng.integers(0, n_frames - max_frames + 1)) if rng is not None else (n_frames - max_frames) // 2
    )
    return frames[:, start : start + max_frames]


def pad_frames(clips: list[np.ndarray]) -> Tensor:
    """Stack ``(n_rows, n_frames_i)`` into ``(batch, n_rows, max_i n_frames_i)``, padded with row minima."""
    longest = max(c.shape[1] for c in clips)
    out = np.empty((len(clips), clips[0].shape[0], longest), dtype=np.float32)
    for row, clip in enumerate(clips):
        out[row, :, : clip.shape[1]] = clip
        out[row, :, clip.shape[1] :] = clip.min(axis=1, keepdims=True)
    return torch.from_numpy(out)


def model_batch(
    clips: ClipSet, max_frames: int, chunk_frames: int | None, rng: np.random.Generator | None
) -> dict[str, Tensor]:
    """Forward arguments of a whole (small) clip set: random crops/chunks with ``rng``, else centred
    crops of at most ``max_frames`` frames."""
    batch: dict[str, Tensor] = {}
    for name, values in clips.inputs.items():
        if name == "tokens":
            batch["tokens"], batch["token_mask"] = pad_tokens(values)
        elif name == "chunks":
            assert chunk_frames is not None and rng is not None
            batch["chunks"] = torch.from_numpy(np.stack([random_chunk(v, chunk_frames, rng) for v in values]))
        else:
            batch[name] = pad_frames([crop_frames(v, max_frames, rng) for v in values])
    return batch
