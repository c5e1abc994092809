"""Fine-tuning MIDI-BERT / MoFi for 4Q emotion, with chunk- and clip-level predictions.

Conventions
-----------
- Input: CP tokens per clip (:mod:`merflow.tokenizers.cp`, shape (n_notes, 4)), cut into
  chunks of ``max_len`` notes (:func:`merflow.tokenizers.cp.chunk_cp`; MIDI-BERT's 512).
  Every chunk carries its clip's label (quadrant - 1, 0..3) and mode (0 major, 1 minor,
  from the Krumhansl-Kessler key of the whole clip, :mod:`merflow.music.tonality`).
- Chunk level is what MIDI-BERT reports; clip level averages the chunk logits of a clip
  before the softmax.
- Training: AdamW, at most ``epochs`` epochs, early stopping when the validation clip
  accuracy has not improved for ``patience`` epochs; the best epoch's weights are kept.
  Optional mode-preserving transposition augmentation (MoFi's MoGE experiment): every
  training chunk is shifted by a random interval among those that keep all its pitches in
  the CP range (:mod:`merflow.training.augmentation`); the mode does not change.
- Padding notes are masked in attention and pooling. Batches hold chunks of similar note
  counts (:mod:`merflow.training.length_buckets`, shuffled and reproducible per seed in training) and
  are cut after their longest chunk (:func:`trimmed`), which changes no output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from merflow.core.labels import QUADRANTS
from merflow.datasets.splits import split_for_part
from merflow.models.film import MoFi, mode_one_hot
from merflow.models.midibert import MidiBert, valid_note_mask
from merflow.tokenizers.cp import MAX_LEN, N_PITCHES, PITCH, chunk_cp
from merflow.training.augmentation import DEFAULT_SHIFTS
from merflow.training.clip_aggregation import (
    ChunkSet,
    accuracy,
    prediction_tables,
    real_notes,
)
from merflow.training.length_buckets import evaluation_batches, training_batches
from merflow.training.torch_utils import Resume, seed_everything, train_with_early_stopping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    """Optimisation settings (MIDI-BERT's defaults: AdamW 2e-5, batch 12, <= 20 epochs, patience 3)."""

    epochs: int = 20
    patience: int = 3
    batch_size: int = 12
    lr: float = 2e-5
    weight_decay: float = 0.01
    max_len: int = MAX_LEN
    augmentation: bool = False
    shifts: tuple[int, ...] = tuple(DEFAULT_SHIFTS)

    @classmethod
    def from_config(cls, finetune: dict[str, Any], augmentation: bool = False) -> FinetuneSettings:
        """Settings from the config's ``midibert.finetune`` section."""
        keys = ("epochs", "patience", "batch_size", "lr", "max_len")
        return cls(**{key: finetune[key] for key in keys}, augmentation=augmentation)


def trimmed(tokens: np.ndarray) -> np.ndarray:
    """A batch of chunks ``(batch, max_len, 4)`` cut after its longest chunk's last real note.

    Exact for MIDI-BERT with its attention mask: padded keys are masked, positions are relative,
    and the pooling skips padding, so trailing padding changes no output (to float rounding).
    Chunks of EMOPIA's official training split hold 228 notes at the median, so a batch padded
    to 512 is about half padding.
    """
    return tokens[:, : max(1, int(real_notes(tokens).max()))]


def build_chunks(
    tokens: dict[str, np.ndarray], minor: dict[str, int], quadrant: dict[str, int], max_len: int = MAX_LEN
) -> ChunkSet:
    """Chunk every clip of ``tokens`` (clip ID -> (n_notes, 4)) that has a mode and a label."""
    parts, minors, labels, clips, clip_ids = [], [], [], [], []
    for clip_id, clip_tokens in tokens.items():
        if clip_id not in minor or clip_id not in quadrant or len(clip_tokens) == 0:
            continue
        chunks = chunk_cp(np.asarray(clip_tokens, dtype=np.int64).reshape(-1, 4), max_len)
        parts.append(chunks)
        minors += [int(minor[clip_id])] * len(chunks)
        labels += [int(quadrant[clip_id]) - 1] * len(chunks)
        clips += [len(clip_ids)] * len(chunks)
        clip_ids.append(clip_id)
    if not parts:
        raise ValueError("no clip has tokens, a key and a label")
    return ChunkSet(
        tokens=np.concatenate(parts),
        minor=np.asarray(minors, dtype=np.int64),
        label=np.asarray(labels, dtype=np.int64),
        clip=np.asarray(clips, dtype=np.int64),
        clip_ids=clip_ids,
    )


def transpose_chunks(tokens: Tensor, shifts: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Shift the pitches of every chunk (batch, n, 4) by a random interval that keeps them in range.

    Only real notes move (padding and mask ids lie above the pitch range and stay); a chunk
    whose notes allow no shift but 0 is returned unchanged.
    """
    pitch = tokens[..., PITCH]
    real = pitch < N_PITCHES
    low = torch.where(real, pitch, torch.full_like(pitch, N_PITCHES)).amin(dim=1)
    high = torch.where(real, pitch, torch.full_like(pitch, -1)).amax(dim=1)
    candidates = torch.tensor(shifts, dtype=torch.long)
    allowed = (low[:, None] + candidates[None, :] >= 0) & (high[:, None] + candidates[None, :] < N_PITCHES)
    allowed |= candidates[None, :] == 0
    choice = torch.multinomial(allowed.float(), 1, generator=generator).squeeze(1)
    shift = candidates[choice]
    out = tokens.clone()
    out[..., PITCH] = torch.where(real, pitch + shift[:, None], pitch)
    return out


def predict_logits(
    model: MoFi, chunks: ChunkSet, device: torch.device, batch_size: int, layer: int = -1
) -> np.ndarray:
    """Chunk logits, shape (n_chunks, 4): batches of similar note counts, trimmed (:func:`trimmed`)."""
    model.eval()
    logits = np.zeros((len(chunks), len(QUADRANTS)), dtype=np.float32)
    with torch.no_grad():
        for index in evaluation_batches(chunks.n_notes(), batch_size):
            tokens = torch.as_tensor(trimmed(chunks.tokens[index]), device=device)
            mode = mode_one_hot(torch.as_tensor(chunks.minor[index], device=device))
            out = model(tokens, mode, valid_note_mask(tokens), layer=layer)
            logits[index] = out.logits.float().cpu().numpy()
    return logits


def finetune_step(
    model: MoFi,
    optimizer: torch.optim.Optimizer,
    train: ChunkSet,
    index: np.ndarray,
    settings: FinetuneSettings,
    generator: torch.Generator,
    device: torch.device,
) -> Tensor:
    """One optimisation step on the chunks ``index`` of ``train`` (transposed if augmenting).

    Returns:
        the batch's cross-entropy, detached, on ``device`` (no synchronisation).
    """
    tokens = torch.as_tensor(trimmed(train.tokens[index]))
    if settings.augmentation:
        tokens = transpose_chunks(tokens, settings.shifts, generator)
    tokens = tokens.to(device)
    mode = mode_one_hot(torch.as_tensor(train.minor[index], device=device))
    labels = torch.as_tensor(train.label[index], device=device)
    loss = nn.functional.cross_entropy(model(tokens, mode, valid_note_mask(tokens)).logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def finetune(
    model: MoFi,
    train: ChunkSet,
    val: ChunkSet,
    settings: FinetuneSettings,
    device: torch.device,
    generator: torch.Generator,
    resume: tuple[Path, str] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place; keep the weights of the best validation epoch.

    Args:
        resume: (checkpoint path, run identity): checkpoint every epoch there and continue
            from it if it holds the same identity (:class:`~merflow.training.torch_utils.Resume`);
            a resumed run ends where an uninterrupted one would.

    Returns:
        History: per-epoch ``train_loss``, ``val_chunk_accuracy``, ``val_clip_accuracy``,
        ``best_epoch`` (0-based), ``epochs_run``, ``seconds`` (of every session), ``resumed_at``.
    """
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    resumable = None if resume is None else Resume(*resume, optimizer, generator)
    train_notes = train.n_notes()

    def train_epoch() -> float:
        losses = [
            finetune_step(model, optimizer, train, index, settings, generator, device)
            for index in training_batches(train_notes, settings.batch_size, generator)
        ]
        return float(torch.stack(losses).mean())

    def validate() -> tuple[float, dict[str, float]]:
        chunk_acc, clip_acc = accuracy(val, predict_logits(model, val, device, settings.batch_size))
        score = clip_acc + 1e-3 * chunk_acc  # clip accuracy first, chunk accuracy breaks ties
        return score, {"chunk_accuracy": chunk_acc, "clip_accuracy": clip_acc}

    return train_with_early_stopping(
        model, settings.epochs, settings.patience, train_epoch, validate, resumable
    )


def partition_chunks(
    manifest: pd.DataFrame, tokens: pd.DataFrame, keys: pd.DataFrame, part: str, max_len: int
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """Chunk sets ``train``, ``val``, ``test`` and ``all`` of one partition, and each clip's split.

    Args:
        manifest: the clip manifest (labels, splits).
        tokens: CP token table (``clip_id``, ``tokens`` as a list of 4-lists).
        keys: Krumhansl-Kessler key table (``clip_id``, ``is_major``).
        part: partition (``main`` or ``fold<k>``).
        max_len: notes per chunk.
    """
    split = dict(zip(manifest["clip_id"], split_for_part(manifest, part), strict=True))
    quadrant = dict(zip(manifest["clip_id"], manifest["quadrant"], strict=True))
    minor = {c: 1 - int(m) for c, m in zip(keys["clip_id"], keys["is_major"], strict=True)}
    clip_tokens = {
        c: np.asarray(list(t), dtype=np.int64).reshape(-1, 4) if len(t) else np.zeros((0, 4), dtype=np.int64)
        for c, t in zip(tokens["clip_id"], tokens["tokens"], strict=True)
    }

    def chunk_set(splits: tuple[str, ...]) -> ChunkSet:
        chosen = {c: t for c, t in clip_tokens.items() if split.get(c) in splits}
        return build_chunks(chosen, minor, quadrant, max_len)

    sets = {name: chunk_set((name,)) for name in ("train", "val", "test")}
    sets["all"] = chunk_set(("train", "val", "test"))
    return sets, split


def encoder_pretraining(history: dict[str, Any]) -> dict[str, Any]:
    """What a fine-tuned model states of its encoder, from the pretraining's ``history.json``.

    Args:
        history: the history of :func:`merflow.training.pretraining.pretrain_to_files`.

    Returns:
        ``preset``, ``steps`` (optimisation steps done), ``train_minutes`` (training wall time
        over every resumption, held-out measures excluded) and ``held_out_accuracy`` (the last
        held-out masked-LM accuracy; NaN when the run held nothing out).
    """
    held_out = history.get("held_out", {}).get("accuracy") or [float("nan")]
    return {
        "preset": history.get("preset", ""),
        "steps": int(history["steps_done"]),
        "train_minutes": float(history["train_seconds"]) / 60,
        "held_out_accuracy": float(held_out[-1]),
    }


@dataclass
class MoFiRun:
    """A fine-tuned model, its clip- and chunk-level predictions, and its history."""

    model: MoFi
    predictions: pd.DataFrame
    chunk_predictions: pd.DataFrame
    history: dict[str, Any]


def run_mofi(
    manifest: pd.DataFrame,
    tokens: pd.DataFrame,
    keys: pd.DataFrame,
    encoder: MidiBert,
    injection: str,
    settings: FinetuneSettings,
    part: str,
    seed: int,
    device: torch.device,
    resume: tuple[Path, str] | None = None,
) -> MoFiRun:
    """Fine-tune MoFi (``injection``) from ``encoder`` on one partition and predict every clip.

    Args:
        manifest: the clip manifest (labels, splits).
        tokens: CP token table (``clip_id``, ``tokens`` as a list of 4-lists).
        keys: Krumhansl-Kessler key table (``clip_id``, ``is_major``).
        encoder: the pretrained MIDI-BERT (modified in place).
        injection: FiLM injection point (see :mod:`merflow.models.film`).
        settings: optimisation settings.
        part: partition (``main`` or ``fold<k>``).
        seed: seeds the head initialisation, batch order and augmentation.
        device: where to train.
        resume: (checkpoint path, run identity) of a per-epoch checkpoint (see :func:`finetune`).
    """
    generator = seed_everything(seed)
    sets, split = partition_chunks(manifest, tokens, keys, part, settings.max_len)
    train, val, every = sets["train"], sets["val"], sets["all"]
    log.info(
        "%d/%d/%d train/val/all chunks from %d clips", len(train), len(val), len(every), len(every.clip_ids)
    )
    model = MoFi(encoder, injection=injection)
    history = finetune(model, train, val, settings, device, generator, resume)
    logits = predict_logits(model, every, device, settings.batch_size)
    predictions, chunk_predictions = prediction_tables(every, logits, split)
    history["n_chunks"] = {"train": len(train), "val": len(val), "all": len(every)}
    return MoFiRun(model, predictions, chunk_predictions, history)
