"""Layer-wise probing of a frozen MIDI-BERT (MoFi's MoGE diagnosis, part b).

Conventions
-----------
The encoder is frozen; for every hidden state ``k`` (0 = the embedding output, k = after
layer k, as in :class:`merflow.models.midibert.MidiBert`) a fresh emotion head
(self-attentive pooling + classifier, :class:`merflow.models.heads.EmotionHead`) is trained
on the training chunks with the fine-tuning loop of :mod:`merflow.training.finetuning` (early
stopping on validation), then evaluated on the test chunks and clips. The accuracy per
layer shows where emotion, and the mode information FiLM injects, is linearly available.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from merflow.core.plots import png_figure
from merflow.models.film import EmotionOutput, injection_position
from merflow.models.heads import EmotionHead
from merflow.models.midibert import MidiBert
from merflow.training.clip_aggregation import ChunkSet, accuracy
from merflow.training.finetuning import FinetuneSettings, finetune, predict_logits

log = logging.getLogger(__name__)


class LayerProbe(nn.Module):
    """A frozen encoder and a trainable emotion head on its hidden state ``layer``."""

    def __init__(self, encoder: MidiBert, layer: int) -> None:
        super().__init__()
        self.encoder = encoder.requires_grad_(False)
        self.layer = layer
        self.head = EmotionHead(encoder.config.hidden_size)

    def train(self, mode: bool = True) -> LayerProbe:
        """Train the head only; the encoder stays in evaluation mode (no dropout)."""
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(
        self,
        tokens: Tensor,
        mode: Tensor | None = None,
        attention_mask: Tensor | None = None,
        layer: int = -1,
    ) -> EmotionOutput:
        """CP tokens (batch, n, 4) -> logits (batch, 4) from hidden state ``self.layer`` (``mode`` unused)."""
        with torch.no_grad():
            states = self.encoder(tokens, attention_mask).hidden_states
        out = self.head(states[self.layer], attention_mask)
        return EmotionOutput(out.logits, out.attention, ())


def probe_layers(
    encoder: MidiBert,
    train: ChunkSet,
    val: ChunkSet,
    test: ChunkSet,
    settings: FinetuneSettings,
    device: torch.device,
    seed: int,
) -> pd.DataFrame:
    """Train and test one probe per hidden state.

    Returns:
        One row per layer (0..num_layers): ``layer``, ``best_epoch``, ``val_clip_accuracy``,
        ``test_chunk_accuracy``, ``test_clip_accuracy``.
    """
    rows = []
    for layer in range(encoder.config.num_layers + 1):
        torch.manual_seed(seed)
        probe = LayerProbe(encoder, layer)
        history = finetune(probe, train, val, settings, device, torch.Generator().manual_seed(seed))
        chunk_acc, clip_acc = accuracy(test, predict_logits(probe, test, device, settings.batch_size))
        log.info("layer %d: test accuracy chunk %.3f clip %.3f", layer, chunk_acc, clip_acc)
        rows.append(
            {
                "layer": layer,
                "best_epoch": history.get("best_epoch", -1),
                "val_clip_accuracy": float(np.max(history["val_clip_accuracy"])),
                "test_chunk_accuracy": chunk_acc,
                "test_clip_accuracy": clip_acc,
            }
        )
    return pd.DataFrame(rows)


def plot_probing(table: pd.DataFrame, injection: str, path: str | Path, title: str) -> None:
    """Test accuracy per hidden state (PNG), with MoFi's FiLM injection point marked."""
    with png_figure(path, (5.0, 3.6)) as ax:
        ax.plot(table["layer"], table["test_clip_accuracy"], marker="o", label="clip")
        ax.plot(table["layer"], table["test_chunk_accuracy"], marker="s", label="chunk")
        position = injection_position(injection, int(table["layer"].max()))
        if position is not None:
            ax.axvline(position, color="#c44e52", linestyle="--", label=f"FiLM ({injection})")
        ax.axhline(0.25, color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_xticks(table["layer"], ["emb"] + [str(k) for k in table["layer"][1:]])
        ax.set_ylim(0, 1)
        ax.set_xlabel("hidden state (emb = embedding output, k = after layer k)")
        ax.set_ylabel("4Q accuracy (test)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
