"""Zhao & Yoshii's multimodal multifaceted emotion model: MIDI-like tokens, chroma and MFCC, fused by MHSA.

Conventions
-----------
- Inputs (any of them may be None when its branch is switched off; an input given to a switched-off
  branch is ignored):

  * ``tokens`` int64 ``(batch, seq_len)`` MIDI-like ids in ``[0, vocab_size)``
    (:mod:`merflow.tokenizers.midi_like`, 388 ids) with ``token_mask`` bool ``(batch, seq_len)``,
    True at real tokens (padding is skipped by the GRU);
  * ``chroma`` float ``(batch, 12, n_frames)`` (:mod:`merflow.music.audio_features`, row 0 = C), any
    ``n_frames >= 1``;
  * ``mfcc`` float ``(batch, mfcc_rows, n_frames)``, any ``n_frames >= 1``.

  Audio inputs of one batch share ``n_frames`` (crop or pad upstream); their scales are learned
  per row (:class:`~merflow.models.blocks.FrameNorm`), so raw dB and coefficient values are fine.
- Output: valence/arousal logits ``(batch, 2)``, columns ``(valence, arousal)``; the paper's
  sigmoid outputs are ``sigmoid(logits)``. The 4Q prediction is derived from the thresholded V/A
  bits with :func:`merflow.core.labels.quadrant_of` (:meth:`ZhaoYoshii.predict_quadrants`), and 4Q
  probabilities as ``P(V) * P(A)`` (:meth:`ZhaoYoshii.quadrant_probabilities`).
- Loss: binary cross-entropy of both logits against the V/A bits of the quadrant label, averaged.

Architecture (paper, Sec. III) and the choices where it is silent (marked *ours*):

- Symbolic branch: embedding (*ours*: 256 dims) -> 2-layer Bi-GRU, 256 hidden units -> the top
  layer's final forward and backward states, concatenated (*ours*; 512 dims).
- Harmony branch on the chromagram: three convolutions with (12, 1) kernels, then three with (1, 48)
  kernels. *Ours*: each is Conv -> BN -> ReLU; the vertical convolutions pad the pitch-class axis
  circularly (the chroma circle, so the 12 rows survive all three and a transposition shifts the
  feature map), 64 channels each; the horizontal ones pad time with zeros and are followed by
  max-pooling by 4 in time, 128 channels each; global max-pooling over pitch class and time
  (128 dims). The paper says "Conv1D" for (12, 1) and (1, 48) kernels, i.e. 2D convolutions with
  a single-row or single-column kernel, which is what this is.
- Tone-colour branch on the MFCCs: seven residual blocks as in Won et al. [14] (two 3x3 convs,
  BN, ReLU, residual connection), global max-pooling. The paper says stride 2 "for every Conv2D
  layer"; we follow [14]'s block (stride 2 on the first conv and the shortcut, 1 on the second),
  the only reading in which the residual sum has matching shapes without a stride-4 shortcut.
  *Ours*: [14]'s widths with base 64 (64 .. 256 channels; [14] uses 128 for mel-spectrograms,
  but the MFCC input is 5x smaller).
- Fusion: each branch vector is projected by a linear layer to ``fusion_dim`` (*ours*: 256) and
  the branch vectors form a sequence of up to 3 tokens; 4-head self-attention over it (no
  residual or normalisation, as in the paper's equations), flatten, two fully connected layers
  (*ours*: 256 hidden, ReLU, dropout 0.3), 2 outputs.
- Ablations (paper Table III): one branch alone (``use_symbolic`` / ``use_chroma`` / ``use_mfcc``:
  a switched-off branch and its projection are not built, so its parameters are gone), and
  ``use_attention_fusion=False``: the projected branch vectors are concatenated without MHSA.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

from merflow.models.blocks import (
    BiRecurrentEncoder,
    ConvBlock2d,
    FrameNorm,
    MLPHead,
    ResidualEncoder2d,
    check_frames,
    quadrant_probabilities_from_va,
    quadrants_from_va,
    va_targets,
)
from merflow.tokenizers.midi_like import VOCAB_SIZE

#: Chroma rows (pitch classes); the vertical kernels span all of them.
N_CHROMA = 12
#: Kernel of the vertical (pitch-class) chroma convolutions.
CHROMA_VERTICAL_KERNEL = (N_CHROMA, 1)
#: Kernel of the horizontal (time) chroma convolutions, frames (48 frames = 1.11 s at 43.07 Hz).
CHROMA_HORIZONTAL_KERNEL = (1, 48)
#: Attention heads of the fusion MHSA (paper: four-headed).
FUSION_HEADS = 4
#: Number of V/A outputs.
N_VA = 2
#: Branch names, in the order of the fusion sequence.
BRANCHES = ("symbolic", "chroma", "mfcc")
#: Ablations of the paper's Table III, as config overrides.
ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "symbolic_only": {"use_chroma": False, "use_mfcc": False},
    "chroma_only": {"use_symbolic": False, "use_mfcc": False},
    "mfcc_only": {"use_symbolic": False, "use_chroma": False},
    "no_attention": {"use_attention_fusion": False},
}


@dataclass(frozen=True)
class ZhaoYoshiiConfig:
    """Sizes (units: ids, channels, dims) and ablation switches; :meth:`preset` gives ``paper`` / ``cpu``."""

    vocab_size: int = VOCAB_SIZE
    embedding_dim: int = 256
    gru_hidden: int = 256
    gru_layers: int = 2
    chroma_vertical_channels: int = 64
    chroma_horizontal_channels: int = 128
    chroma_time_pool: int = 4
    mfcc_rows: int = 20
    mfcc_base_channels: int = 64
    fusion_dim: int = 256
    fc_hidden: int = 256
    dropout: float = 0.3
    use_symbolic: bool = True
    use_chroma: bool = True
    use_mfcc: bool = True
    use_attention_fusion: bool = True

    def __post_init__(self) -> None:
        if not (self.use_symbolic or self.use_chroma or self.use_mfcc):
            raise ValueError("at least one of use_symbolic, use_chroma, use_mfcc must be True")
        if self.fusion_dim % FUSION_HEADS:
            raise ValueError(f"fusion_dim {self.fusion_dim} must be divisible by {FUSION_HEADS} heads")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ZhaoYoshiiConfig:
        """``paper`` (the sizes above) or ``cpu`` (small, trains in minutes on 2 cores), + ``overrides``."""
        presets = {
            "paper": {},
            "cpu": {
                "embedding_dim": 32,
                "gru_hidden": 32,
                "chroma_vertical_channels": 8,
                "chroma_horizontal_channels": 16,
                "mfcc_base_channels": 4,
                "fusion_dim": 32,
                "fc_hidden": 32,
            },
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(presets)}")
        return cls(**{**presets[name], **overrides})

    def with_ablation(self, name: str) -> ZhaoYoshiiConfig:
        """This config with one of :data:`ABLATIONS` applied."""
        if name not in ABLATIONS:
            raise ValueError(f"unknown ablation {name!r}; choose from {sorted(ABLATIONS)}")
        return dataclasses.replace(self, **ABLATIONS[name])

    @property
    def branches(self) -> tuple[str, ...]:
        """Enabled branches, in fusion order."""
        flags = (self.use_symbolic, self.use_chroma, self.use_mfcc)
        return tuple(name for name, on in zip(BRANCHES, flags, strict=True) if on)


class ChromaCNN(nn.Module):
    """Harmony branch: three (12, 1) then three (1, 48) convolutions over a chromagram, global max-pool.

    Shapes: ``(batch, 12, n_frames)`` -> ``(batch, horizontal_channels)``.
    """

    def __init__(self, vertical_channels: int, horizontal_channels: int, time_pool: int) -> None:
        super().__init__()
        self.norm = FrameNorm(N_CHROMA)
        vertical = [vertical_channels] * 3
        horizontal = [horizontal_channels] * 3
        self.vertical = nn.Sequential(
            *(
                ConvBlock2d(c_in, c_out, CHROMA_VERTICAL_KERNEL, padding_mode="circular")
                for c_in, c_out in zip([1, *vertical[:-1]], vertical, strict=True)
            )
        )
        self.horizontal = nn.Sequential(
            *(
                ConvBlock2d(c_in, c_out, CHROMA_HORIZONTAL_KERNEL, pool=(1, time_pool))
                for c_in, c_out in zip([vertical[-1], *horizontal[:-1]], horizontal, strict=True)
            )
        )
        self.out_dim = horizontal_channels

    def forward(self, chroma: Tensor) -> Tensor:
        check_frames(chroma, N_CHROMA, "chroma")
        x = self.horizontal(self.vertical(self.norm(chroma).unsqueeze(1)))
        return x.amax(dim=(2, 3))


class ZhaoYoshii(nn.Module):
    """The three-branch model; see the module docstring for inputs, outputs and design choices."""

    def __init__(self, config: ZhaoYoshiiConfig) -> None:
        super().__init__()
        self.config = c = config
        self.symbolic_branch = (
            BiRecurrentEncoder(c.vocab_size, c.embedding_dim, c.gru_hidden, c.gru_layers, "gru", c.dropout)
            if c.use_symbolic
            else None
        )
        self.chroma_branch = (
            ChromaCNN(c.chroma_vertical_channels, c.chroma_horizontal_channels, c.chroma_time_pool)
            if c.use_chroma
            else None
        )
        self.mfcc_branch = ResidualEncoder2d(c.mfcc_rows, c.mfcc_base_channels) if c.use_mfcc else None
        self.projections = nn.ModuleDict(
            {name: nn.Linear(self._branch(name).out_dim, c.fusion_dim) for name in c.branches}
        )
        self.fusion_attention = (
            nn.MultiheadAttention(c.fusion_dim, FUSION_HEADS, batch_first=True)
            if c.use_attention_fusion
            else None
        )
        self.head = MLPHead(len(c.branches) * c.fusion_dim, c.fc_hidden, N_VA, c.dropout)

    def _branch(self, name: str) -> nn.Module:
        branch = getattr(self, f"{name}_branch")
        assert branch is not None, name
        return branch

    def forward(
        self,
        tokens: Tensor | None = None,
        token_mask: Tensor | None = None,
        chroma: Tensor | None = None,
        mfcc: Tensor | None = None,
    ) -> Tensor:
        """V/A logits ``(batch, 2)`` from the inputs of the enabled branches (module conventions)."""
        features: dict[str, Tensor] = {}
        if self.symbolic_branch is not None:
            if tokens is None or token_mask is None:
                raise ValueError("the symbolic branch needs tokens and token_mask")
            features["symbolic"] = self.symbolic_branch(tokens, token_mask)[1]
        if self.chroma_branch is not None:
            if chroma is None:
                raise ValueError("the chroma branch needs chroma")
            features["chroma"] = self.chroma_branch(chroma)
        if self.mfcc_branch is not None:
            if mfcc is None:
                raise ValueError("the MFCC branch needs mfcc")
            check_frames(mfcc, self.config.mfcc_rows, "mfcc")
            features["mfcc"] = self.mfcc_branch(mfcc)
        fused = torch.stack([self.projections[name](features[name]) for name in self.config.branches], dim=1)
        if self.fusion_attention is not None:  # (batch, n_branches, fusion_dim)
            fused = self.fusion_attention(fused, fused, fused, need_weights=False)[0]
        return self.head(fused.flatten(1))

    @staticmethod
    def loss(va_logits: Tensor, quadrant_index: Tensor) -> Tensor:
        """Mean BCE of the V/A logits ``(batch, 2)`` against the bits of 0-based quadrants ``(batch,)``."""
        return F.binary_cross_entropy_with_logits(va_logits, va_targets(quadrant_index))

    @staticmethod
    def quadrant_probabilities(va_logits: Tensor) -> Tensor:
        """4Q probabilities ``(batch, 4)`` (columns = 0-based quadrant index), ``P(V) * P(A)``."""
        return quadrant_probabilities_from_va(va_logits)

    @staticmethod
    def predict_quadrants(va_logits: Tensor) -> np.ndarray:
        """Quadrants 1..4 ``(batch,)`` of the thresholded V/A outputs.

        As :func:`merflow.core.labels.quadrant_of` maps valence and arousal signs.
        """
        return quadrants_from_va(va_logits)
