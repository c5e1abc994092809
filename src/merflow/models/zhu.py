"""Zhu et al.'s symbolic & acoustic multi-domain emotion model with bidirectional cross-domain attention.

Conventions
-----------
- Inputs (either may be None when its branch is switched off; an input given to a switched-off
  branch is ignored):

  * ``tokens`` int64 ``(batch, seq_len)`` refined MIDI-like ids in ``[0, vocab_size)`` (the
    vocabulary size is a config parameter, set from the tokenizer), with ``token_mask`` bool
    ``(batch, seq_len)``, True at real tokens;
  * ``acoustic`` float ``(batch, acoustic_rows, n_frames)``: the mixed feature of
    :func:`mixed_acoustic_features` (MFCC 20 + log-mel 128 + spectral centroid + RMS = 150 rows,
    frame-aligned because all come from one STFT, :mod:`merflow.music.audio_features`), or the
    linear-frequency STFT power in dB ``(batch, stft_rows, n_frames)`` (feature ``stft`` of
    :mod:`merflow.music.audio_features`: 257 rows by default) for the ``stft_input`` ablation. One batch
    shares ``n_frames``; row scales are learned (:class:`~merflow.models.blocks.FrameNorm`).
- Output: :class:`ZhuOutput`: 4Q logits ``(batch, 4)`` (columns = 0-based quadrant index), the
  auxiliary valence logit ``(batch,)`` of the symbolic branch and arousal logit ``(batch,)`` of the
  acoustic branch (None when that branch is off).
- Loss (:meth:`Zhu.loss`): ``CE(4Q) + w_v * BCE(valence) + w_a * BCE(arousal)``; a zero weight
  leaves its term out of the graph entirely (``single_loss`` ablation: both weights 0).

Architecture (paper, Sec. 3) and the choices where it is silent (marked *ours*):

- Symbolic branch: token embedding scaled by sqrt(d) + sinusoidal positions -> four "original"
  Transformer encoder layers (Vaswani et al.: d = 512, 8 heads, feed-forward 2048, dropout 0.1,
  post-norm). The paper pretrains it on MAESTRO; we pretrain it by masked-LM on the
  pretraining corpora (:class:`SymbolicLM`, rule ``pretrain_zhu``) and load the result into
  :attr:`Zhu.symbolic_encoder`. Auxiliary valence head: linear
  layer on the masked mean of the encoder outputs (*ours*).
- Acoustic branch: Table 1: three 3x3 convolutions, stride 1, 64/128/256 channels, each followed
  by 2x2 max-pooling; *ours*: BN + ReLU after each conv (:class:`~merflow.models.blocks.ConvBlock2d`).
  "Flattened and combined in the channel dimension": at each pooled frame the 256 channels x
  pooled rows are flattened and projected linearly to d, giving a sequence of ``ceil(n_frames / 8)``
  acoustic tokens. Auxiliary arousal head: linear layer on their mean (*ours*).
- Cross-domain attention (Eqs. 1-3), bidirectional: the acoustic sequence queries the symbolic
  one and vice versa, multi-head (*ours*: 8 heads), each with a residual connection and layer
  normalisation (*ours*, as in the cross-modal transformer it cites). Each output is mean-pooled
  (symbolic: over real tokens), the two are concatenated and classified by two fully connected
  layers (*ours*: 256 hidden, ReLU, dropout 0.1) into 4Q logits.
- Ablations (paper Table 4): ``symbolic_only`` / ``acoustic_only`` (the other branch, its aux
  head and both attentions are not built; the classifier sees the pooled branch), ``stft_input``
  (the acoustic branch takes ``stft_rows`` STFT rows, so its projection is wider),
  ``single_loss`` (aux weights 0). Aux weights 1.0 in the full model (*ours*; not given).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

from merflow.models.blocks import (
    N_QUADRANTS,
    ConvBlock2d,
    FrameNorm,
    MLPHead,
    check_frames,
    check_token_batch,
    masked_mean,
    pooled_length,
    va_targets,
)

#: Acoustic encoder (paper Table 1): output channels of the three convolutions.
ACOUSTIC_CHANNELS = (64, 128, 256)
#: Their kernel and max-pooling sizes (rows, frames).
ACOUSTIC_KERNEL = (3, 3)
ACOUSTIC_POOL = (2, 2)
#: Frame features stacked into the mixed acoustic input, in row order (names of merflow.music.audio_features).
MIXED_FEATURES = ("mfcc", "log_mel", "spectral_centroid", "rms")
#: Acoustic input kinds: the paper's mixed feature, or an STFT magnitude (ablation).
ACOUSTIC_INPUTS = ("mixed", "stft")
#: Base of the sinusoidal position encoding (Vaswani et al.).
POSITION_BASE = 10000.0
#: Column of valence and arousal in :func:`~merflow.models.blocks.va_targets`.
VALENCE, AROUSAL = 0, 1
#: Ablations of the paper's Table 4, as config overrides.
ABLATIONS: dict[str, dict[str, Any]] = {
    "full": {},
    "symbolic_only": {"use_acoustic": False},
    "acoustic_only": {"use_symbolic": False},
    "stft_input": {"acoustic_input": "stft"},
    "single_loss": {"aux_valence_weight": 0.0, "aux_arousal_weight": 0.0},
}


@dataclass(frozen=True)
class ZhuConfig:
    """Sizes (ids, dims, rows), ablation switches and loss weights; :meth:`preset` gives ``paper`` / ``cpu``.

    ``n_mfcc`` and ``n_mels`` (mixed input) or ``stft_rows`` (STFT input) must match the feature
    extraction (:class:`merflow.music.audio_features.AudioFeatureConfig`) and fix :attr:`acoustic_rows`.
    """

    vocab_size: int
    d_model: int = 512
    n_heads: int = 8
    ff_dim: int = 2048
    n_layers: int = 4
    dropout: float = 0.1
    cda_heads: int = 8
    fc_hidden: int = 256
    acoustic_input: str = "mixed"
    n_mfcc: int = 20
    n_mels: int = 128
    stft_rows: int = 257
    acoustic_channels: tuple[int, ...] = ACOUSTIC_CHANNELS
    use_symbolic: bool = True
    use_acoustic: bool = True
    aux_valence_weight: float = 1.0
    aux_arousal_weight: float = 1.0

    def __post_init__(self) -> None:
        if not (self.use_symbolic or self.use_acoustic):
            raise ValueError("at least one of use_symbolic, use_acoustic must be True")
        if self.acoustic_input not in ACOUSTIC_INPUTS:
            raise ValueError(f"acoustic_input must be one of {ACOUSTIC_INPUTS}, got {self.acoustic_input!r}")
        if min(self.aux_valence_weight, self.aux_arousal_weight) < 0:
            raise ValueError("auxiliary loss weights must be >= 0")

    @classmethod
    def preset(cls, name: str, vocab_size: int, **overrides: Any) -> ZhuConfig:
        """``paper`` (the sizes above) or ``cpu`` (small) for ``vocab_size`` token ids, + ``overrides``."""
        presets: dict[str, dict[str, Any]] = {
            "paper": {},
            "cpu": {
                "d_model": 32,
                "n_heads": 4,
                "ff_dim": 64,
                "n_layers": 2,
                "cda_heads": 4,
                "fc_hidden": 32,
                "acoustic_channels": (8, 16, 16),
            },
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(presets)}")
        return cls(vocab_size=vocab_size, **{**presets[name], **overrides})

    def with_ablation(self, name: str) -> ZhuConfig:
        """This config with one of :data:`ABLATIONS` applied."""
        if name not in ABLATIONS:
            raise ValueError(f"unknown ablation {name!r}; choose from {sorted(ABLATIONS)}")
        return dataclasses.replace(self, **ABLATIONS[name])

    @property
    def acoustic_rows(self) -> int:
        """Rows of the acoustic input: ``n_mfcc + n_mels + 2`` (mixed) or ``stft_rows`` (STFT)."""
        return self.n_mfcc + self.n_mels + 2 if self.acoustic_input == "mixed" else self.stft_rows


def mixed_acoustic_features(frames: dict[str, np.ndarray]) -> np.ndarray:
    """Stack MFCC, log-mel, spectral centroid and RMS rows of one clip: ``(n_mfcc + n_mels + 2, n_frames)``.

    Args:
        frames: :func:`merflow.music.audio_features.frame_features` output, ``{name: (n_rows, n_frames)}``,
            all from one STFT and so already frame-aligned.

    Raises:
        ValueError: if a feature is missing or the frame counts differ.
    """
    missing = [name for name in MIXED_FEATURES if name not in frames]
    if missing:
        raise ValueError(f"mixed acoustic input needs {missing}")
    n_frames = {frames[name].shape[1] for name in MIXED_FEATURES}
    if len(n_frames) != 1:
        raise ValueError(f"features are not frame-aligned: frame counts {sorted(n_frames)}")
    return np.concatenate([frames[name] for name in MIXED_FEATURES], axis=0).astype(np.float32, copy=False)


def sinusoidal_positions(n_positions: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Vaswani et al.'s position encoding ``(n_positions, dim)``: sin on even, cos on odd columns."""
    position = torch.arange(n_positions, dtype=torch.float32, device=device).unsqueeze(1)
    inverse_wavelength = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(POSITION_BASE) / dim)
    )
    table = torch.zeros(n_positions, dim, device=device)
    table[:, 0::2] = torch.sin(position * inverse_wavelength)
    table[:, 1::2] = torch.cos(position * inverse_wavelength)[:, : dim // 2]
    return table


class SymbolicEncoder(nn.Module):
    """Embedding + sinusoidal positions + Transformer encoder: ``(batch, seq_len)`` -> ``(.., d_model)``."""

    def __init__(
        self, vocab_size: int, d_model: int, n_heads: int, ff_dim: int, n_layers: int, dropout: float
    ):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, ff_dim, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        check_token_batch(tokens, mask)
        x = self.embedding(tokens.masked_fill(~mask, 0)) * math.sqrt(self.d_model)
        x = self.dropout(x + sinusoidal_positions(tokens.shape[1], self.d_model, tokens.device))
        return self.encoder(x, src_key_padding_mask=~mask)


class SymbolicLM(nn.Module):
    """Masked-LM pretraining model of the symbolic branch: :class:`SymbolicEncoder` + a linear head.

    The paper pretrains its symbolic Transformer on MAESTRO before emotion training; this is
    the BERT-style masked-LM version of that step (:func:`merflow.training.pretraining.pretrain_mlm`
    on refined MIDI-like chunks). ``config.vocab_size`` must count ``<PAD>`` and ``<MASK>``
    (:func:`merflow.training.pretraining.special_token_vocab`). After pretraining,
    ``encoder.state_dict()`` loads into :attr:`Zhu.symbolic_encoder` of a model of the same sizes.

    Shapes: tokens ``(batch, n, 1)`` (the one-field layout of the pretraining module), mask
    ``(batch, n)`` -> ``[logits (batch, n, vocab_size)]``.
    """

    def __init__(self, config: ZhuConfig) -> None:
        super().__init__()
        c = config
        self.encoder = SymbolicEncoder(c.vocab_size, c.d_model, c.n_heads, c.ff_dim, c.n_layers, c.dropout)
        self.head = nn.Linear(c.d_model, c.vocab_size)

    def forward(self, tokens: Tensor, attention_mask: Tensor) -> list[Tensor]:
        return [self.head(self.encoder(tokens[..., 0], attention_mask))]


class AcousticEncoder(nn.Module):
    """Three conv blocks (3x3, max-pool 2x2) over the acoustic input, then one token per pooled frame.

    Shapes: ``(batch, n_rows, n_frames)`` -> ``(batch, ceil(n_frames / 8), d_model)``.
    """

    def __init__(self, n_rows: int, channels: tuple[int, ...], d_model: int) -> None:
        super().__init__()
        self.n_rows = n_rows
        self.norm = FrameNorm(n_rows)
        self.convs = nn.Sequential(
            *(
                ConvBlock2d(c_in, c_out, ACOUSTIC_KERNEL, pool=ACOUSTIC_POOL)
                for c_in, c_out in zip([1, *channels[:-1]], channels, strict=True)
            )
        )
        pooled_rows = pooled_length(n_rows, [ACOUSTIC_POOL[0]] * len(channels))
        self.projection = nn.Linear(channels[-1] * pooled_rows, d_model)

    def forward(self, acoustic: Tensor) -> Tensor:
        check_frames(acoustic, self.n_rows, "acoustic")
        x = self.convs(self.norm(acoustic).unsqueeze(1))  # (batch, channels, rows', frames')
        return self.projection(x.flatten(1, 2).transpose(1, 2))


class CrossDomainAttention(nn.Module):
    """Multi-head attention of one domain's sequence (queries) over the other's (keys and values).

    ``LayerNorm(query + MHA(query, other, other))``; ``other_mask`` (True = real) hides padding.
    Shapes: ``(batch, n_q, d)``, ``(batch, n_kv, d)`` -> ``(batch, n_q, d)``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, query: Tensor, other: Tensor, other_mask: Tensor | None = None) -> Tensor:
        padding = None if other_mask is None else ~other_mask
        attended = self.attention(query, other, other, key_padding_mask=padding, need_weights=False)[0]
        return self.norm(query + attended)


@dataclass
class ZhuOutput:
    """Model outputs: 4Q logits ``(batch, 4)``, aux valence / arousal logits ``(batch,)`` or None."""

    quadrant_logits: Tensor
    valence_logit: Tensor | None
    arousal_logit: Tensor | None


class Zhu(nn.Module):
    """The two-branch model; see the module docstring for inputs, outputs and design choices."""

    def __init__(self, config: ZhuConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.d_model
        both = c.use_symbolic and c.use_acoustic
        self.symbolic_encoder = (
            SymbolicEncoder(c.vocab_size, d, c.n_heads, c.ff_dim, c.n_layers, c.dropout)
            if c.use_symbolic
            else None
        )
        self.valence_head = nn.Linear(d, 1) if c.use_symbolic else None
        self.acoustic_encoder = (
            AcousticEncoder(c.acoustic_rows, c.acoustic_channels, d) if c.use_acoustic else None
        )
        self.arousal_head = nn.Linear(d, 1) if c.use_acoustic else None
        self.acoustic_cda = CrossDomainAttention(d, c.cda_heads, c.dropout) if both else None
        self.symbolic_cda = CrossDomainAttention(d, c.cda_heads, c.dropout) if both else None
        n_pooled = int(c.use_symbolic) + int(c.use_acoustic)
        self.classifier = MLPHead(n_pooled * d, c.fc_hidden, N_QUADRANTS, c.dropout)

    def forward(
        self, tokens: Tensor | None = None, token_mask: Tensor | None = None, acoustic: Tensor | None = None
    ) -> ZhuOutput:
        """4Q and auxiliary logits from the inputs of the enabled branches (module conventions)."""
        symbolic = acoustic_seq = None
        valence = arousal = None
        if self.symbolic_encoder is not None and self.valence_head is not None:
            if tokens is None or token_mask is None:
                raise ValueError("the symbolic branch needs tokens and token_mask")
            symbolic = self.symbolic_encoder(tokens, token_mask)  # (batch, seq_len, d)
            valence = self.valence_head(masked_mean(symbolic, token_mask)).squeeze(-1)
        if self.acoustic_encoder is not None and self.arousal_head is not None:
            if acoustic is None:
                raise ValueError("the acoustic branch needs acoustic")
            acoustic_seq = self.acoustic_encoder(acoustic)  # (batch, n_tokens, d)
            arousal = self.arousal_head(acoustic_seq.mean(dim=1)).squeeze(-1)
        pooled = []
        if symbolic is not None and acoustic_seq is not None:
            assert self.acoustic_cda is not None and self.symbolic_cda is not None
            pooled.append(self.acoustic_cda(acoustic_seq, symbolic, token_mask).mean(dim=1))
            pooled.append(masked_mean(self.symbolic_cda(symbolic, acoustic_seq), token_mask))
        elif symbolic is not None:
            pooled.append(masked_mean(symbolic, token_mask))
        elif acoustic_seq is not None:
            pooled.append(acoustic_seq.mean(dim=1))
        return ZhuOutput(self.classifier(torch.cat(pooled, dim=-1)), valence, arousal)

    def loss(self, output: ZhuOutput, quadrant_index: Tensor) -> Tensor:
        """``CE + w_v * BCE(valence) + w_a * BCE(arousal)`` for 0-based quadrants ``(batch,)`` -> scalar.

        A term whose weight is 0 or whose branch is off is not computed, so its head gets no gradient.
        """
        total = F.cross_entropy(output.quadrant_logits, quadrant_index)
        targets = va_targets(quadrant_index)
        aux = (
            (self.config.aux_valence_weight, output.valence_logit, VALENCE),
            (self.config.aux_arousal_weight, output.arousal_logit, AROUSAL),
        )
        for weight, logit, column in aux:
            if weight > 0 and logit is not None:
                total = total + weight * F.binary_cross_entropy_with_logits(logit, targets[:, column])
        return total

    @staticmethod
    def quadrant_probabilities(output: ZhuOutput) -> Tensor:
        """4Q probabilities ``(batch, 4)`` (softmax of the 4Q logits)."""
        return torch.softmax(output.quadrant_logits, dim=-1)
