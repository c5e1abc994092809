"""EMOPIA's neural baselines: LSTM-Attn over symbolic tokens and the short-chunk ResNet over mel-spectrograms.

Conventions
-----------
- :class:`LSTMAttn` input: ``tokens`` int64 ``(batch, seq_len)`` in ``[0, vocab_size)`` (MIDI-like,
  388 ids, :mod:`merflow.tokenizers.midi_like`; or REMI, whose vocabulary size is passed in) with
  ``token_mask`` bool ``(batch, seq_len)``, True at real tokens. Output :class:`LSTMAttnOutput`:
  4Q logits ``(batch, 4)`` (columns = 0-based quadrant index) and the attention ``(batch, r,
  seq_len)`` (rows sum to 1 over real tokens, 0 on padding).
- :class:`ShortChunkResNet` input: log-mel chunks ``(n_chunks, n_mels, chunk_frames)`` in dB
  (:mod:`merflow.music.audio_features`, 43.07 frames/s with the defaults); output 4Q logits
  ``(n_chunks, 4)``, one row per chunk. A clip is cut into chunks with :func:`split_into_chunks`
  and its prediction is the mean of its chunks' logits (:func:`average_chunk_logits`); training
  uses one random chunk per clip and step (:func:`random_chunk`), as Won et al. do.

Design:

- LSTM-Attn (Lin et al. 2017, as run by EMOPIA's ``midi_cls``): embedding (300) -> one-layer
  BiLSTM (128 per direction) -> structured self-attention (d_a = 128, r = 16 hops; the pooling
  and penalty of :mod:`merflow.models.heads`) -> flatten
  (2 x 128 x 16 = 4096) -> Linear 256 -> ReLU -> Linear 4, sizes from EMOPIA's released
  hyper-parameters. Unlike that code, padding is masked by default (the BiLSTM's backward
  direction starts at each clip's last real token, the attention gives padding weight 0);
  ``reads_padding`` gives that code's form: padding is a token of its own (id ``vocab_size``)
  that the BiLSTM reads in both directions and the attention covers, so a clip's prediction
  depends on the longest clip of its batch.
  The loss is plain cross-entropy, as EMOPIA's ``midi_cls`` trains; ``penalty_weight`` > 0 adds
  Lin et al.'s penalty ``||A A^T - I||_F^2`` times that weight (Lin et al. use 1.0 on two of
  their three tasks; a model's config entry sets it with ``penalty_weight``).
- Short-chunk ResNet (Won et al. 2020, ``ShortChunkCNN_Res``): per-row normalisation of the
  log-mel input (Won: one BatchNorm over the whole spectrogram; per row here, the shared
  :class:`~merflow.models.blocks.FrameNorm`), seven residual blocks of stride 2 (128, 128, 256,
  256, 256, 256, 512 channels), global max-pooling, Linear 512 -> BN -> ReLU -> dropout 0.5 ->
  Linear 4. Chunks: Won et al. use 3.69 s (59,049 samples at 16 kHz); EMOPIA's audio baseline,
  whose numbers the papers quote, used 3 s at 22.05 kHz, which the ``paper`` preset follows
  (129 frames at 43.07 Hz).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

from merflow.models.blocks import (
    N_QUADRANTS,
    BiRecurrentEncoder,
    MLPHead,
    ResidualEncoder2d,
    check_frames,
)
from merflow.models.heads import SelfAttentivePooling, attention_penalty
from merflow.tokenizers.midi_like import VOCAB_SIZE

#: Chunk length of Won et al.'s short-chunk models, seconds (59,049 samples at 16 kHz).
WON_CHUNK_SECONDS = 3.69
#: Chunk length of EMOPIA's audio baseline (``audio_cls``, ``input_length: 3``), seconds.
EMOPIA_CHUNK_SECONDS = 3.0


def _pick_preset(presets: dict[str, dict[str, Any]], name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(presets)}")
    return {**presets[name], **overrides}


@dataclass(frozen=True)
class LSTMAttnConfig:
    """Sizes (ids, dims, hops) and the penalty weight; :meth:`preset` gives ``paper`` / ``cpu``."""

    vocab_size: int = VOCAB_SIZE
    embedding_dim: int = 300
    lstm_hidden: int = 128
    lstm_layers: int = 1
    attention_dim: int = 128
    n_hops: int = 16
    fc_hidden: int = 256
    penalty_weight: float = 0.0
    #: EMOPIA_cls's form: padding is an input token (id ``vocab_size``), read and attended.
    reads_padding: bool = False

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> LSTMAttnConfig:
        """``paper`` (EMOPIA's sizes) or ``cpu`` (small), then ``overrides`` (e.g. a REMI ``vocab_size``)."""
        presets: dict[str, dict[str, Any]] = {
            "paper": {},
            "cpu": {
                "embedding_dim": 32,
                "lstm_hidden": 32,
                "attention_dim": 32,
                "n_hops": 4,
                "fc_hidden": 32,
            },
        }
        return cls(**_pick_preset(presets, name, overrides))


@dataclass
class LSTMAttnOutput:
    """4Q logits ``(batch, 4)`` and the self-attention ``(batch, n_hops, seq_len)``."""

    logits: Tensor
    attention: Tensor


class LSTMAttn(nn.Module):
    """BiLSTM with Lin et al.'s structured self-attention; see the module docstring."""

    def __init__(self, config: LSTMAttnConfig) -> None:
        super().__init__()
        self.config = c = config
        vocab = c.vocab_size + 1 if c.reads_padding else c.vocab_size  # + the padding token
        self.encoder = BiRecurrentEncoder(vocab, c.embedding_dim, c.lstm_hidden, c.lstm_layers, "lstm")
        self.attention = SelfAttentivePooling(self.encoder.out_dim, c.attention_dim, c.n_hops)
        self.classifier = MLPHead(c.n_hops * self.encoder.out_dim, c.fc_hidden, N_QUADRANTS)

    def forward(self, tokens: Tensor, token_mask: Tensor) -> LSTMAttnOutput:
        """Logits and attention for ``tokens`` / ``token_mask`` ``(batch, seq_len)``."""
        if self.config.reads_padding:  # every position is input: padding becomes its own token
            tokens = tokens.masked_fill(~token_mask, self.config.vocab_size)
            token_mask = torch.ones_like(token_mask)
        states, _ = self.encoder(tokens, token_mask)
        attention = self.attention(states, token_mask)  # (batch, n_hops, seq_len)
        pooled = (attention @ states).flatten(1)  # M = A H, (batch, n_hops * encoder.out_dim)
        return LSTMAttnOutput(self.classifier(pooled), attention)

    def loss(self, output: LSTMAttnOutput, quadrant_index: Tensor) -> Tensor:
        """``CE + penalty_weight * ||A A^T - I||_F^2`` for 0-based quadrants ``(batch,)`` -> scalar."""
        loss = F.cross_entropy(output.logits, quadrant_index)
        if self.config.penalty_weight > 0:
            loss = loss + self.config.penalty_weight * attention_penalty(output.attention)
        return loss

    @staticmethod
    def quadrant_probabilities(output: LSTMAttnOutput) -> Tensor:
        """4Q probabilities ``(batch, 4)``."""
        return torch.softmax(output.logits, dim=-1)


@dataclass(frozen=True)
class ShortChunkResNetConfig:
    """Input rows, widths, dropout and chunk length (s); :meth:`preset` gives ``paper`` / ``cpu``."""

    n_mels: int = 128
    base_channels: int = 128
    dropout: float = 0.5
    chunk_seconds: float = EMOPIA_CHUNK_SECONDS

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ShortChunkResNetConfig:
        """``paper`` (Won et al.'s widths, EMOPIA's 3 s chunks) or ``cpu`` (base width 8), + ``overrides``."""
        presets: dict[str, dict[str, Any]] = {"paper": {}, "cpu": {"base_channels": 8}}
        return cls(**_pick_preset(presets, name, overrides))

    def chunk_frames(self, frame_rate: float) -> int:
        """Chunk length in frames at ``frame_rate`` Hz (rounded, >= 1)."""
        return max(1, round(self.chunk_seconds * frame_rate))


class ShortChunkResNet(nn.Module):
    """Won et al.'s short-chunk ResNet; ``(n_chunks, n_mels, chunk_frames)`` -> logits ``(n_chunks, 4)``."""

    def __init__(self, config: ShortChunkResNetConfig) -> None:
        super().__init__()
        self.config = c = config
        self.encoder = ResidualEncoder2d(c.n_mels, c.base_channels)
        width = self.encoder.out_dim
        self.classifier = MLPHead(width, width, N_QUADRANTS, c.dropout, batch_norm=True)

    def forward(self, chunks: Tensor) -> Tensor:
        """Per-chunk 4Q logits."""
        check_frames(chunks, self.config.n_mels, "log_mel chunks")
        return self.classifier(self.encoder(chunks))

    @staticmethod
    def loss(chunk_logits: Tensor, quadrant_index: Tensor) -> Tensor:
        """Cross-entropy of chunk logits ``(n_chunks, 4)`` against their clips' quadrants ``(n_chunks,)``."""
        return F.cross_entropy(chunk_logits, quadrant_index)


def split_into_chunks(frames: np.ndarray, chunk_frames: int) -> np.ndarray:
    """Cut a clip's feature ``(n_rows, n_frames)`` into chunks ``(n_chunks, n_rows, chunk_frames)``.

    Chunks do not overlap; the trailing remainder shorter than a chunk is dropped, except for a
    clip shorter than one chunk, which becomes one chunk padded at the end with its minimum value
    (silence in dB).
    """
    n_rows, n_frames = frames.shape
    if n_frames < chunk_frames:
        padded = np.full((n_rows, chunk_frames), frames.min(), dtype=frames.dtype)
        padded[:, :n_frames] = frames
        return padded[None]
    n_chunks = n_frames // chunk_frames
    usable = frames[:, : n_chunks * chunk_frames]
    return usable.reshape(n_rows, n_chunks, chunk_frames).transpose(1, 0, 2).copy()


def random_chunk(frames: np.ndarray, chunk_frames: int, rng: np.random.Generator) -> np.ndarray:
    """One chunk ``(n_rows, chunk_frames)`` at a random start (padded as :func:`split_into_chunks`)."""
    n_frames = frames.shape[1]
    if n_frames <= chunk_frames:
        return split_into_chunks(frames, chunk_frames)[0]
    start = int(rng.integers(0, n_frames - chunk_frames + 1))
    return frames[:, start : start + chunk_frames]


def average_chunk_logits(chunk_logits: Tensor, clip_index: Tensor, n_clips: int) -> Tensor:
    """Mean of the chunk logits of each clip: ``(n_chunks, C)``, clip ids ``(n_chunks,)`` -> ``(n_clips, C)``.

    Raises:
        ValueError: if a clip in ``0..n_clips-1`` has no chunk.
    """
    counts = torch.bincount(clip_index, minlength=n_clips)
    if counts.numel() != n_clips or bool((counts == 0).any()):
        raise ValueError(f"every clip 0..{n_clips - 1} needs at least one chunk; counts {counts.tolist()}")
    sums = torch.zeros(n_clips, chunk_logits.shape[1], dtype=chunk_logits.dtype, device=chunk_logits.device)
    sums.index_add_(0, clip_index, chunk_logits)
    return sums / counts.unsqueeze(1).to(chunk_logits.dtype)
