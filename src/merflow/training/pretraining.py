"""Masked-language-model masking and loss on CP tokens, as MIDI-BERT's pretraining (BERT's 15% / 80-10-10).

Conventions
-----------
* Tokens: CP compound words, int64 (batch, n_notes, 4) with the field order and vocabulary
  of :mod:`merflow.models.midibert` (``<PAD>`` = size - 2, ``<MASK>`` = size - 1 per field);
  a note is padding when its Bar is ``<PAD>``. A flat token stream (Zhu et al.'s refined
  MIDI-like tokens) is the one-field case: (batch, n, 1) with ``vocab_sizes = (V + 2,)``,
  ``<PAD>`` = V and ``<MASK>`` = V + 1 (:func:`special_token_vocab`); everything below holds
  for it with "note" read as "token".
* Per sequence with v real notes, exactly ``max(1, round(0.15 * v))`` of them are chosen
  (none when v = 0), uniformly without replacement; padding is never chosen. Of the c chosen,
  ``round(0.8 * c)`` get ``<MASK>`` in all four fields, ``round(0.1 * c)`` get a random
  token in each field (uniform over that field's regular ids, ``<PAD>``/``<MASK>`` excluded)
  and the rest stay unchanged. Rounding is Python's (half to even), as MIDI-BERT's.
* The loss is computed on the chosen notes only: for each field the mean cross-entropy
  (natural log, nats) over chosen notes, then the four are averaged with weights equal to
  the field vocabulary sizes (4, 18, 88, 66), as MIDI-BERT's trainer.
* Randomness comes only from the ``torch.Generator`` passed in: equal seeds give equal masks.

Deliberate differences from MIDI-BERT's ``BERTTrainer``: it chooses 15% of all 512
positions (padding included, so short sequences get padding masked and predicted), its
random tokens may be ``<PAD>`` or ``<MASK>``, and its attention mask is recomputed from the
corrupted input (a masked padding note becomes attended). Here the choice is 15% of the real
notes, random tokens are regular ones, and ``attention_mask`` comes from the original tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import cross_entropy

from merflow.models.midibert import (
    CP_VOCAB_SIZES,
    MASK_OFFSET_FROM_END,
    N_SPECIAL_TOKENS,
    valid_note_mask,
)
from merflow.training.torch_utils import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

CHOSEN_FRACTION = 0.15
MASK_TOKEN_FRACTION = 0.8
RANDOM_TOKEN_FRACTION = 0.1
PADDING_SORT_KEY = 2.0
"""Sort key of padding notes: above every uniform [0, 1) key, so padding ranks last."""


def special_token_vocab(n_regular: int) -> tuple[int]:
    """The one-field vocabulary of a flat stream of ``n_regular`` token ids plus ``<PAD>``, ``<MASK>``."""
    return (n_regular + N_SPECIAL_TOKENS,)


@dataclass(frozen=True)
class MaskedTokens:
    """A corrupted batch; every field is (batch, n_notes) or (batch, n_notes, 4).

    ``inputs`` int64 (batch, n, 4): what the model sees; ``targets``: the original tokens;
    ``loss_mask`` bool: chosen notes (the loss is computed there); ``masked`` / ``randomized``
    bool: chosen notes replaced by ``<MASK>`` / by random tokens (the others chosen are kept);
    ``attention_mask`` bool: real (non-padding) notes of the original tokens.
    """

    inputs: Tensor
    targets: Tensor
    loss_mask: Tensor
    masked: Tensor
    randomized: Tensor
    attention_mask: Tensor


def _round(x: Tensor) -> Tensor:
    return torch.round(x).to(torch.long)


def mask_cp_tokens(
    tokens: Tensor,
    generator: torch.Generator,
    vocab_sizes: tuple[int, ...] = CP_VOCAB_SIZES,
    chosen_fraction: float = CHOSEN_FRACTION,
    mask_token_fraction: float = MASK_TOKEN_FRACTION,
    random_token_fraction: float = RANDOM_TOKEN_FRACTION,
) -> MaskedTokens:
    """BERT masking of CP tokens (batch, n, 4) (see Conventions); randomness from ``generator`` only."""
    batch, n_notes, n_fields = tokens.shape
    device = tokens.device
    valid = valid_note_mask(tokens, vocab_sizes)
    n_valid = valid.sum(dim=1)
    n_chosen = torch.where(n_valid > 0, _round(n_valid * chosen_fraction).clamp(min=1), 0)
    n_masked = _round(n_chosen * mask_token_fraction)
    n_random = _round(n_chosen * random_token_fraction)

    keys = torch.rand(batch, n_notes, generator=generator, device=generator.device).to(device)
    keys = keys.masked_fill(~valid, PADDING_SORT_KEY)
    rank = keys.argsort(dim=1).argsort(dim=1)  # place of each note in a random order of real notes
    chosen = rank < n_chosen[:, None]
    masked = rank < n_masked[:, None]
    randomized = (rank >= n_masked[:, None]) & (rank < (n_masked + n_random)[:, None])

    n_regular = torch.tensor(vocab_sizes, device=device) - N_SPECIAL_TOKENS
    uniform = torch.rand(batch, n_notes, n_fields, generator=generator, device=generator.device).to(device)
    random_tokens = torch.minimum((uniform * n_regular).to(torch.long), n_regular - 1)
    mask_ids = torch.tensor(vocab_sizes, device=device) - MASK_OFFSET_FROM_END
    inputs = torch.where(
        masked[..., None], mask_ids, torch.where(randomized[..., None], random_tokens, tokens)
    )
    return MaskedTokens(inputs, tokens, chosen, masked, randomized, valid)


@dataclass(frozen=True)
class MlmLoss:
    """``total``: vocabulary-size-weighted mean of ``per_field`` (4 scalars, nats per chosen note)."""

    total: Tensor
    per_field: tuple[Tensor, ...]


def mlm_loss(
    logits: Sequence[Tensor],
    targets: Tensor,
    loss_mask: Tensor,
    vocab_sizes: tuple[int, ...] = CP_VOCAB_SIZES,
) -> MlmLoss:
    """Cross-entropy of per-field logits (batch, n, vocab_size_i) vs targets (batch, n, 4) on loss_mask."""
    if not bool(loss_mask.any()):
        raise ValueError("no chosen notes in the batch: the masked-LM loss is undefined")
    per_field = tuple(
        cross_entropy(field_logits[loss_mask], targets[..., i][loss_mask])
        for i, field_logits in enumerate(logits)
    )
    weights = torch.tensor(vocab_sizes, dtype=per_field[0].dtype, device=per_field[0].device)
    total = (torch.stack(per_field) * weights).sum() / weights.sum()
    return MlmLoss(total, per_field)


@dataclass(frozen=True)
class PretrainSettings:
    """Masked-LM optimisation (MIDI-BERT: AdamW lr 2e-5, batch 12); ``steps`` bounds the run.

    ``max_seconds`` stops the run early (after a checkpoint) when its training time, summed
    over every resumption and without the held-out measures, reaches it: a time-capped run
    gets the same budget however often it was preempted;
    ``eval_every`` is the number of steps between two measures of the held-out masked-LM
    loss and accuracy (when held-out chunks are given; also at step 0 and at the end);
    ``warmup_steps`` > 0 raises the learning rate linearly over the first steps (step k,
    1-based, uses ``lr * min(1, k / warmup_steps)``; a function of the step alone, so a
    resumed run follows the same schedule), as BERT's pretraining does.
    """

    steps: int = 1000
    batch_size: int = 12
    lr: float = 2e-5
    weight_decay: float = 0.01
    checkpoint_every: int = 100
    log_every: int = 10
    max_seconds: float = float("inf")
    eval_every: int = 500
    warmup_steps: int = 0

    def learning_rate(self, step: int) -> float:
        """Learning rate of optimisation step ``step`` (1-based)."""
        if self.warmup_steps <= 0:
            return self.lr
        return self.lr * min(1.0, step / self.warmup_steps)

    @classmethod
    def from_config(cls, pretrain: dict[str, Any]) -> PretrainSettings:
        """Settings from a config ``pretrain`` section (``max_minutes`` becomes ``max_seconds``)."""
        keys = ("steps", "batch_size", "lr", "checkpoint_every")
        eval_every = pretrain.get("eval_every", pretrain["checkpoint_every"])
        return cls(
            **{key: pretrain[key] for key in keys},
            max_seconds=60.0 * pretrain["max_minutes"],
            eval_every=eval_every,
            warmup_steps=pretrain.get("warmup_steps", 0),
        )


@dataclass(frozen=True)
class MlmStepResult:
    """One masked-LM step, every field a detached scalar tensor on the model's device.

    ``loss``: the batch's masked-LM loss (nats); ``correct`` / ``predicted``: fields of the
    chosen notes predicted right / predicted (chosen notes x fields); ``notes``: real notes in
    the batch (what the model read).
    """

    loss: Tensor
    correct: Tensor
    predicted: Tensor
    notes: Tensor


def correct_fields(logits: Sequence[Tensor], targets: Tensor, loss_mask: Tensor) -> Tensor:
    """Fields of the chosen notes predicted right: a scalar tensor (no synchronisation).

    ``logits``: one (batch, n, vocab_sizes[i]) tensor per field; ``targets`` (batch, n,
    n_fields); ``loss_mask`` bool (batch, n).
    """
    return sum((field.argmax(dim=-1) == targets[..., i])[loss_mask].sum() for i, field in enumerate(logits))


def mlm_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    chunks: np.ndarray,
    generator: torch.Generator,
    vocab_sizes: tuple[int, ...],
    device: torch.device,
) -> MlmStepResult:
    """One masked-LM step on ``chunks`` (batch, n, n_fields): mask with ``generator``, then optimise.

    Returns:
        the loss and the counts of the masked-LM accuracy, on ``device`` (no synchronisation).
    """
    batch = mask_cp_tokens(torch.as_tensor(chunks), generator, vocab_sizes)
    targets, loss_mask = batch.targets.to(device), batch.loss_mask.to(device)
    logits = model(batch.inputs.to(device), batch.attention_mask.to(device))
    loss = mlm_loss(logits, targets, loss_mask, vocab_sizes).total
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        correct = correct_fields(logits, targets, loss_mask)
        predicted = loss_mask.sum() * len(logits)
    return MlmStepResult(loss.detach(), correct, predicted, batch.attention_mask.sum())


HELD_OUT_SEED = 1234
"""Seed of the held-out masks: the same chosen notes at every evaluation and in every run."""


@torch.no_grad()
def mlm_evaluate(
    model: torch.nn.Module,
    chunks: np.ndarray,
    vocab_sizes: tuple[int, ...],
    device: torch.device,
    batch_size: int = 16,
) -> tuple[float, float]:
    """Masked-LM loss (nats, mean over batches weighted by chosen notes) and accuracy of the
    chosen notes' fields on held-out ``chunks`` (n_chunks, n, n_fields), in eval mode.

    All chunks are corrupted at once by a generator seeded with :data:`HELD_OUT_SEED`, so two
    evaluations (of two checkpoints, or two model sizes, in any batch size) score the same
    corrupted inputs; the training generator and torch's global RNG are not touched.
    """
    was_training = model.training
    model.eval()
    corrupted = mask_cp_tokens(
        torch.as_tensor(chunks), torch.Generator().manual_seed(HELD_OUT_SEED), vocab_sizes
    )
    loss_sum, chosen, correct, predicted = 0.0, 0.0, 0.0, 0.0
    for start in range(0, len(chunks), batch_size):
        rows = slice(start, start + batch_size)
        targets, loss_mask = corrupted.targets[rows].to(device), corrupted.loss_mask[rows].to(device)
        logits = model(corrupted.inputs[rows].to(device), corrupted.attention_mask[rows].to(device))
        n_chosen = float(loss_mask.sum())
        if n_chosen == 0:
            continue
        loss_sum += float(mlm_loss(logits, targets, loss_mask, vocab_sizes).total) * n_chosen
        chosen += n_chosen
        correct += float(correct_fields(logits, targets, loss_mask))
        predicted += n_chosen * len(logits)
    model.train(was_training)
    if chosen == 0:
        raise ValueError("held-out chunks hold no real note to score")
    return loss_sum / chosen, correct / predicted


def pretrain_mlm(
    model: torch.nn.Module,
    chunks: np.ndarray,
    settings: PretrainSettings,
    checkpoint_path: Path,
    device: torch.device,
    seed: int,
    vocab_sizes: tuple[int, ...] = CP_VOCAB_SIZES,
    held_out: np.ndarray | None = None,
) -> dict[str, Any]:
    """Masked-LM pretraining on chunks (n_chunks, n, n_fields), resumable after a kill.

    ``model(inputs, attention_mask)`` maps tokens (batch, n, n_fields) and a mask (batch, n)
    to one logits tensor (batch, n, vocab_sizes[i]) per field: :class:`MidiBertLM` on CP
    chunks (the default ``vocab_sizes``), or :class:`merflow.models.zhu.SymbolicLM` on a
    flat token stream (``vocab_sizes`` from :func:`special_token_vocab`).

    Every ``checkpoint_every`` steps (and at the end) the model, optimizer, step, loss curve
    and generator state are saved atomically to ``checkpoint_path``; if that file exists
    when the function starts, training resumes from it. Batches are drawn by a seeded
    generator, so a resumed run continues the same sequence of batches.

    With ``held_out`` chunks (of pieces never trained on), :func:`mlm_evaluate` measures the
    held-out loss and accuracy at step 0, every ``eval_every`` steps and at the end.

    Returns:
        ``loss`` (mean masked-LM loss per logged interval, nats), ``accuracy`` (masked-LM
        accuracy of the chosen notes' fields per logged interval), ``steps`` (the step of
        each entry), ``steps_done``, ``seconds`` (this call's wall time),
        ``train_seconds`` (training wall time of every call so far, evaluations excluded) and
        ``held_out``: ``steps``, ``train_seconds``, ``loss``, ``accuracy`` of each evaluation.
    """
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, Any] = {"loss": [], "accuracy": [], "steps": []}
    held_out_curve: dict[str, list[float]] = {"steps": [], "train_seconds": [], "loss": [], "accuracy": []}
    step, train_seconds_before = 0, 0.0
    if checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])  # dropout
        history = {
            "loss": list(state["loss"]),
            "accuracy": list(state.get("accuracy", [])),
            "steps": list(state["loss_steps"]),
        }
        step = int(state["step"])
        train_seconds_before = float(state.get("train_seconds", 0.0))
        held_out_curve = {key: list(values) for key, values in state.get("held_out", held_out_curve).items()}
        log.info("resumed masked-LM pretraining at step %d from %s", step, checkpoint_path)

    def save() -> None:
        save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "loss": history["loss"],
                "accuracy": history["accuracy"],
                "loss_steps": history["steps"],
                "train_seconds": train_seconds(),
                "held_out": held_out_curve,
            },
            checkpoint_path,
        )

    evaluation_seconds = 0.0

    def train_seconds() -> float:
        """Training wall time so far, over every call, evaluations excluded."""
        return train_seconds_before + time.perf_counter() - started - evaluation_seconds

    def evaluate() -> float:
        """Measure the held-out loss and accuracy once per step; return the seconds it took."""
        nonlocal evaluation_seconds
        if held_out is None or (held_out_curve["steps"] and held_out_curve["steps"][-1] == step):
            return 0.0
        trained, began = train_seconds(), time.perf_counter()  # training time before this measure
        loss, accuracy = mlm_evaluate(model, held_out, vocab_sizes, device, settings.batch_size)
        for key, value in (("steps", step), ("train_seconds", trained), ("loss", loss)):
            held_out_curve[key].append(value)
        held_out_curve["accuracy"].append(accuracy)
        spent = time.perf_counter() - began
        evaluation_seconds += spent
        log.info(
            "held-out masked-LM at step %d: loss %.4f, accuracy %.3f (%d chunks, %.0f s of training)",
            step,
            loss,
            accuracy,
            len(held_out),
            held_out_curve["train_seconds"][-1],
        )
        return spent

    started = interval_start = time.perf_counter()
    first_step, interval = step, []
    model.train()
    if step == 0:
        interval_start += evaluate()
    budget_spent = train_seconds_before > settings.max_seconds
    if budget_spent:
        log.info("time budget of %.0f s already spent at step %d", settings.max_seconds, step)
    while step < settings.steps and not budget_spent:
        index = torch.randint(len(chunks), (settings.batch_size,), generator=generator)
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate(step + 1)
        result = mlm_step(model, optimizer, chunks[index.numpy()], generator, vocab_sizes, device)
        step += 1
        interval.append(result)  # synced once per logged interval
        spent = train_seconds()  # the run's training time, over every resumption
        if step % settings.log_every == 0 or step == settings.steps:
            history["loss"].append(float(torch.stack([r.loss for r in interval]).mean()))
            correct = float(sum(r.correct for r in interval))
            history["accuracy"].append(correct / max(float(sum(r.predicted for r in interval)), 1.0))
            history["steps"].append(step)
            notes_per_s = float(sum(r.notes for r in interval)) / (time.perf_counter() - interval_start)
            interval, interval_start = [], time.perf_counter()
            rate = (step - first_step) / (spent - train_seconds_before)  # this call's steps/s
            log.info(
                "step %d/%d: masked-LM loss %.4f, accuracy %.3f (%.2f steps/s, %.0f notes/s, ETA %.0f s)",
                step,
                settings.steps,
                history["loss"][-1],
                history["accuracy"][-1],
                rate,
                notes_per_s,
                min((settings.steps - step) / rate, max(settings.max_seconds - spent, 0.0)),
            )
        if step % settings.eval_every == 0:
            interval_start += evaluate()  # notes/s counts training only
        if step % settings.checkpoint_every == 0 or spent > settings.max_seconds:
            save()
        if spent > settings.max_seconds:
            log.info("time budget of %.0f s reached at step %d", settings.max_seconds, step)
            break
    evaluate()
    save()
    return {
        **history,
        "steps_done": step,
        "seconds": time.perf_counter() - started,
        "train_seconds": train_seconds(),
        "held_out": held_out_curve,
    }


def pretrain_to_files(
    model: torch.nn.Module,
    encoder: torch.nn.Module,
    chunks_path: str | Path,
    settings: dict[str, Any],
    checkpoint_path: str | Path,
    encoder_path: str | Path,
    history_path: str | Path,
    description: dict[str, Any],
    vocab_sizes: tuple[int, ...] = CP_VOCAB_SIZES,
    held_out_path: str | Path | None = None,
) -> dict[str, Any]:
    """Pretrain ``model`` on the chunks in ``chunks_path`` and save ``encoder``'s weights and the history.

    The pipeline's pretraining job, for any masked-LM model: seeds everything with
    ``settings["seed"]``, runs :func:`pretrain_mlm` (resuming from ``checkpoint_path``) on
    the device picked from the environment, then writes ``encoder.state_dict()`` (the part
    fine-tuning loads; a submodule of ``model``) and a JSON history (``description``, device,
    number of chunks, loss curve, steps, seconds).

    Args:
        model: the masked-LM model (e.g. :class:`MidiBertLM`).
        encoder: the submodule of ``model`` to save.
        chunks_path: ``.npy`` of chunks (n_chunks, n, n_fields).
        held_out_path: ``.npy`` of held-out chunks (pieces never trained on), scored as the
            run goes (see :func:`pretrain_mlm`); none when ``None``.
        settings: a config ``pretrain`` section (see :meth:`PretrainSettings.from_config`, + ``seed``).
        description: fields that identify the run in the history (e.g. ``{"preset": "tiny"}``).
    """
    from merflow.core.io import write_json
    from merflow.training.torch_utils import seed_everything, select_device

    seed_everything(settings["seed"])
    chunks = np.load(chunks_path).astype(np.int64)
    held_out = None if held_out_path is None else np.load(held_out_path).astype(np.int64)
    if held_out is not None and len(held_out) == 0:
        log.warning("%s holds no chunk: no held-out masked-LM measure", held_out_path)
        held_out = None
    device = select_device()
    history = pretrain_mlm(
        model,
        chunks,
        PretrainSettings.from_config(settings),
        Path(checkpoint_path),
        device,
        settings["seed"],
        vocab_sizes,
        held_out,
    )
    save_checkpoint(encoder.state_dict(), encoder_path)
    n_held_out = 0 if held_out is None else len(held_out)
    n_parameters = sum(p.numel() for p in encoder.parameters())
    record = {
        **description,
        "device": str(device),
        "n_chunks": len(chunks),
        "n_held_out_chunks": n_held_out,
        "n_encoder_parameters": n_parameters,
        "threads": torch.get_num_threads(),
        **history,
    }
    write_json(record, history_path)
    return record
