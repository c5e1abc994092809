"""What every PyTorch training job shares: device, seeds, threads and atomic checkpoints.

Conventions
-----------
- The device comes from the environment: CUDA when PyTorch sees a GPU, else the CPU
  (``MERFLOW_DEVICE`` overrides, e.g. ``cpu`` to keep a GPU free).
- :func:`seed_everything` seeds Python, NumPy and PyTorch (all devices) from one integer.
- Checkpoints are written atomically (:func:`merflow.core.io.atomic_path`), so a job killed
  while saving leaves the previous checkpoint intact and resumes from it.
- :func:`train_with_early_stopping` is the epoch loop of every supervised trainer (MoFi
  fine-tuning, the neural models, probing heads): train, validate, log with ETA, stop early,
  restore the best epoch's weights. Given a :class:`Resume`, it checkpoints after every epoch
  (weights, optimizer, early-stopping state, history, and every random state the epochs
  draw from) and, when started again after a kill, continues from the last finished epoch:
  the result equals that of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from merflow.core.io import atomic_path

DEVICE_ENV = "MERFLOW_DEVICE"

log = logging.getLogger(__name__)


def select_device() -> torch.device:
    """``MERFLOW_DEVICE`` if set, else ``cuda`` when available, else ``cpu``."""
    if os.environ.get(DEVICE_ENV):
        return torch.device(os.environ[DEVICE_ENV])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a CPU generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)  # third-party code may use the global state
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads (the job's Snakemake ``threads``)."""
    torch.set_num_threads(max(1, int(threads)))


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` of ``state`` to ``path``, atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors only, no pickled code)."""
    return torch.load(path, map_location=device, weights_only=True)


class EarlyStopping:
    """Keeps the weights of the best epoch and says when to stop.

    ``update(score, model, epoch)`` with a comparable score (higher is better; a tuple
    compares its parts in order) stores a copy of the weights when the score improves and
    returns True once it has not improved for ``patience`` epochs; :meth:`restore` puts the
    best weights back.
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_score: Any = None
        self.best_epoch = -1
        self.stale = 0
        self._best_state: dict[str, torch.Tensor] | None = None

    def update(self, score: Any, model: torch.nn.Module, epoch: int) -> bool:
        """Record ``epoch``'s validation ``score``; True when training should stop."""
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_epoch, self.stale = score, epoch, 0
            self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.stale += 1
        return self.stale >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`load_state_dict` needs to continue (the best weights included)."""
        return {k: getattr(self, k) for k in ("best_score", "best_epoch", "stale", "_best_state")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best epoch's weights into ``model`` (no-op before the first update)."""
        if self._best_state is not None:
            model.load_state_dict(self._best_state)


@dataclass
class Resume:
    """Where a training checkpoints each epoch, and the state it must restore to continue exactly.

    Attributes:
        path: the checkpoint file (written atomically after every epoch).
        identity: what the run is (settings, seed, code, inputs): a checkpoint written under
            another identity is ignored, with a log line, and training starts over.
        optimizer: its state is saved and restored.
        generator: the torch generator of batch order and masking.
        rng: the NumPy generator of crops and chunks, if the training draws from one.
        scheduler: the learning-rate scheduler, if any.
    """

    path: Path
    identity: str
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    rng: np.random.Generator | None = None
    scheduler: Any = None

    def save(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        """Checkpoint ``model`` and the loop's ``state`` with every random state."""
        save_checkpoint(
            {
                "identity": self.identity,
                "model": model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "numpy_rng": None if self.rng is None else self.rng.bit_generator.state,
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "loop": state,
            },
            self.path,
        )

    def load(self, model: torch.nn.Module) -> dict[str, Any] | None:
        """Restore everything from the checkpoint and return the loop's state; None to start over."""
        if not self.path.is_file():
            return None
        checkpoint = load_checkpoint(self.path)
        if checkpoint.get("identity") != self.identity:
            log.info("ignoring %s: written by another run (settings, seed, code or inputs)", self.path)
            return None
        model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.generator.set_state(checkpoint["generator"])
        torch.set_rng_state(checkpoint["torch_rng"])
        if self.rng is not None and checkpoint["numpy_rng"] is not None:
            self.rng.bit_generator.state = checkpoint["numpy_rng"]
        if self.scheduler is not None and checkpoint["scheduler"] is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        return checkpoint["loop"]


def train_with_early_stopping(
    model: torch.nn.Module,
    epochs: int,
    patience: int,
    train_epoch: Callable[[], float],
    validate: Callable[[], tuple[Any, dict[str, float]]],
    resume: Resume | None = None,
) -> dict[str, Any]:
    """Train for at most ``epochs`` epochs, stop after ``patience`` without improvement, keep the best.

    Args:
        model: put in train mode before each ``train_epoch``; its best weights are restored.
        train_epoch: one pass over the training data (optimizer steps included); returns the
            epoch's mean training loss.
        validate: returns ``(score, metrics)``: a comparable score (higher is better, see
            :class:`EarlyStopping`) and named validation metrics, logged and recorded.

        resume: checkpoint every epoch there, and continue from it if it exists (:class:`Resume`).

    Returns:
        History: per-epoch ``train_loss`` and ``val_<name>`` for every metric (in the order
        ``validate`` gives them), ``best_epoch`` (0-based), ``epochs_run``, ``seconds`` (of
        all sessions), ``resumed_at`` (the first epoch of the last session, 0 = not resumed).
    """
    history: dict[str, Any] = {"train_loss": []}
    stopper = EarlyStopping(patience)
    first, stopped, earlier_seconds = 0, False, 0.0
    loop = resume.load(model) if resume is not None else None
    if loop is not None:
        history, first, stopped = loop["history"], loop["next_epoch"], loop["stopped"]
        earlier_seconds = loop["seconds"]
        stopper.load_state_dict(loop["early_stopping"])
        log.info("resumed at epoch %d/%d from %s", first + 1, epochs, resume.path)
    started = time.perf_counter()
    for epoch in range(first, epochs):
        if stopped:
            break
        model.train()
        history["train_loss"].append(float(train_epoch()))
        score, metrics = validate()
        for name, value in metrics.items():
            history.setdefault(f"val_{name}", []).append(value)
        elapsed = time.perf_counter() - started
        log.info(
            "epoch %d/%d: train loss %.4f, %s (%.0f s, ETA <= %.0f s)",
            epoch + 1,
            epochs,
            history["train_loss"][-1],
            ", ".join(f"val {name} {value:.4f}" for name, value in metrics.items()),
            elapsed,
            elapsed / (epoch + 1 - first) * (epochs - epoch - 1),
        )
        stopped = stopper.update(score, model, epoch)
        if stopped:
            log.info("early stop: no validation improvement for %d epochs", patience)
        if resume is not None:
            resume.save(
                model,
                {
                    "history": history,
                    "next_epoch": epoch + 1,
                    "stopped": stopped,
                    "seconds": earlier_seconds + time.perf_counter() - started,
                    "early_stopping": stopper.state_dict(),
                },
            )
    stopper.restore(model)
    history["best_epoch"] = stopper.best_epoch
    history["epochs_run"] = len(history["train_loss"])
    history["seconds"] = earlier_seconds + time.perf_counter() - started
    history["resumed_at"] = first
    return history
