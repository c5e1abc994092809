"""Chunks of clips and their clip-level aggregation, shared by MoFi and the neural models.

Conventions
-----------
- A :class:`ChunkSet` lists items (chunks of notes, audio chunks, or whole clips: one item
  per clip) with their clip, label (quadrant - 1, 0..3) and mode; ``logits`` are
  ``(n_items, 4)`` in item order.
- Clip level averages the logits of a clip's items before the softmax
  (:func:`clip_logits`); chunk level scores each item (:func:`accuracy` gives both).
- :func:`prediction_tables` writes both levels with the columns of :mod:`merflow.training.classical`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from merflow.core.labels import QUADRANTS
from merflow.tokenizers.cp import PAD_WORD
from merflow.training.classical import PROB_COLUMNS


@dataclass
class ChunkSet:
    """Chunks of a set of clips.

    Attributes:
        tokens: (n_chunks, max_len, 4) int64 CP ids, padded.
        minor: (n_chunks,) int64, 1 = the clip's key is minor.
        label: (n_chunks,) int64, quadrant - 1.
        clip: (n_chunks,) int64, index into ``clip_ids``.
        clip_ids: the clips, in order of first appearance.
    """

    tokens: np.ndarray
    minor: np.ndarray
    label: np.ndarray
    clip: np.ndarray
    clip_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    def n_notes(self) -> np.ndarray:
        """Real (non-padding) notes of each chunk, int64 ``(n_chunks,)``."""
        return real_notes(self.tokens)


def real_notes(tokens: np.ndarray) -> np.ndarray:
    """Real (non-padding) notes of each chunk of ``tokens`` ``(n_chunks, max_len, 4)`` -> ``(n_chunks,)``."""
    return (tokens[..., 0] != PAD_WORD[0]).sum(axis=1)


def clip_logits(chunks: ChunkSet, logits: np.ndarray) -> np.ndarray:
    """Mean chunk logits per clip, shape (n_clips, 4), rows in ``chunks.clip_ids`` order."""
    sums = np.zeros((len(chunks.clip_ids), logits.shape[1]))
    np.add.at(sums, chunks.clip, logits)
    counts = np.bincount(chunks.clip, minlength=len(chunks.clip_ids))[:, None]
    return sums / counts


def accuracy(chunks: ChunkSet, logits: np.ndarray) -> tuple[float, float]:
    """(chunk accuracy, clip accuracy)."""
    chunk_acc = float(np.mean(logits.argmax(axis=1) == chunks.label))
    clip_label = np.zeros(len(chunks.clip_ids), dtype=np.int64)
    clip_label[chunks.clip] = chunks.label
    clip_acc = float(np.mean(clip_logits(chunks, logits).argmax(axis=1) == clip_label))
    return chunk_acc, clip_acc


def clip_probabilities(chunks: ChunkSet, logits: np.ndarray) -> np.ndarray:
    """Quadrant probabilities per clip ``(n_clips, 4)``: softmax of the mean chunk logits."""
    return softmax_rows(clip_logits(chunks, logits))


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits ``(n, 4)``, as the prediction tables store probabilities."""
    return torch.softmax(torch.as_tensor(logits), dim=1).numpy()


def prediction_tables(
    chunks: ChunkSet, logits: np.ndarray, split: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clip-level and chunk-level prediction tables.

    Their columns are those of :mod:`merflow.training.classical`.
    """

    def table(ids: list[str], labels: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
        probabilities = softmax_rows(rows)
        out = pd.DataFrame({"clip_id": ids, "split": [split[c] for c in ids], "quadrant": labels + 1})
        out["predicted"] = np.asarray(QUADRANTS)[probabilities.argmax(axis=1)]
        out[PROB_COLUMNS] = probabilities
        return out

    clip_label = np.zeros(len(chunks.clip_ids), dtype=np.int64)
    clip_label[chunks.clip] = chunks.label
    clips = table(chunks.clip_ids, clip_label, clip_logits(chunks, logits))
    chunk_ids = [chunks.clip_ids[c] for c in chunks.clip]
    chunk_table = table(chunk_ids, chunks.label, logits)
    chunk_table.insert(1, "chunk", pd.Series(chunk_ids).groupby(chunk_ids).cumcount().to_numpy())
    return clips, chunk_table
