"""Building blocks shared by the multimodal (Zhao & Yoshii, Zhu et al.) and baseline emotion models.

Conventions
-----------
- Batch first everywhere. A token batch is ``tokens`` int64 ``(batch, seq_len)`` with a boolean
  ``mask`` ``(batch, seq_len)``, True at real tokens; every row has at least one real token, and
  values at padded positions are ignored (they may be anything, even out of the vocabulary).
- A frame-feature batch (:mod:`merflow.music.audio_features`) is float ``(batch, n_rows, n_frames)``;
  2D convolutions see it as a one-channel image ``(batch, 1, n_rows, n_frames)`` (rows = height,
  frames = width), and "time" always means the last axis.
- Emotion targets are 0-based quadrant indices ``quadrant - 1`` (:mod:`merflow.core.labels`): 0 = Q1
  (high valence, high arousal), 1 = Q2 (low V, high A), 2 = Q3 (low V, low A), 3 = Q4 (high V,
  low A). Valence/arousal outputs are logits in the column order :data:`VA_COLUMNS`, 1 = high.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

from merflow.core.labels import QUADRANTS, arousal_of, quadrant_of, valence_of

#: Column order of every valence/arousal output and target.
VA_COLUMNS = ("valence", "arousal")
#: Number of Russell quadrants (classes of the 4Q task).
N_QUADRANTS = len(QUADRANTS)
#: Channel multipliers of the seven residual blocks of Won et al.'s short-chunk ResNet
#: (``sota-music-tagging-models``: n, n, 2n, 2n, 2n, 2n, 4n for a base width n).
RESNET_CHANNEL_MULTIPLIERS = (1, 1, 2, 2, 2, 2, 4)
#: Kernel size and stride of the residual blocks (Won et al.; Zhao & Yoshii's MFCC CNN).
RESIDUAL_KERNEL = 3
RESIDUAL_STRIDE = 2

#: ``_VA_OF_QUADRANT[q] = (valence bit, arousal bit)`` for 0-based quadrant index ``q``.
_VA_OF_QUADRANT = np.stack([valence_of(np.array(QUADRANTS)), arousal_of(np.array(QUADRANTS))], axis=1)


def count_parameters(module: nn.Module | None) -> int:
    """Number of trainable parameters of ``module`` (0 for None)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_token_batch(tokens: Tensor, mask: Tensor) -> None:
    """Raise ValueError unless ``tokens``, ``mask`` are ``(batch, seq_len)`` with >= 1 real token per row."""
    if tokens.ndim != 2 or mask.shape != tokens.shape or mask.dtype != torch.bool:
        raise ValueError(
            f"expected tokens (batch, seq_len) and a bool mask of the same shape, got "
            f"{tuple(tokens.shape)} and {tuple(mask.shape)} {mask.dtype}"
        )
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every sequence needs at least one real (unmasked) token")


def check_frames(frames: Tensor, n_rows: int, name: str) -> None:
    """Raise ValueError unless ``frames`` is ``(batch, n_rows, n_frames)`` with ``n_frames >= 1``."""
    if frames.ndim != 3 or frames.shape[1] != n_rows or frames.shape[2] < 1:
        raise ValueError(f"{name}: expected (batch, {n_rows}, n_frames), got {tuple(frames.shape)}")


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` ``(batch, seq_len, dim)`` over the real positions of ``mask`` -> ``(batch, dim)``."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1)


def va_targets(quadrant_index: Tensor) -> Tensor:
    """Valence and arousal bits of 0-based quadrant indices ``(batch,)`` -> float ``(batch, 2)``."""
    table = torch.as_tensor(_VA_OF_QUADRANT, dtype=torch.float32, device=quadrant_index.device)
    return table[quadrant_index]


def quadrant_probabilities_from_va(va_logits: Tensor) -> Tensor:
    """4Q probabilities ``(batch, 4)`` from valence/arousal logits ``(batch, 2)``, V and A independent.

    ``P(Qk) = P(V = v_k) * P(A = a_k)`` with ``(v_k, a_k)`` the bits of quadrant ``k``; the rows sum
    to 1 and their argmax is the quadrant of the thresholded bits (:func:`quadrants_from_va`).
    """
    p_high = torch.sigmoid(va_logits)  # (batch, 2)
    bits = torch.as_tensor(_VA_OF_QUADRANT, dtype=p_high.dtype, device=p_high.device)  # (4, 2)
    per_bit = bits * p_high.unsqueeze(1) + (1 - bits) * (1 - p_high.unsqueeze(1))  # (batch, 4, 2)
    return per_bit.prod(dim=-1)


def quadrants_from_va(va_logits: Tensor) -> np.ndarray:
    """Quadrants 1..4 (int64 ``(batch,)``) of valence/arousal logits ``(batch, 2)`` thresholded at 0.

    A logit > 0 (probability > 0.5) is "high"; :func:`merflow.core.labels.quadrant_of` maps the bits.
    """
    high = (va_logits.detach() > 0).cpu().numpy()
    return quadrant_of(high[:, 0], high[:, 1])


class FrameNorm(nn.Module):
    """Learned per-row standardisation of a frame feature: BatchNorm over batch and frames.

    Rows of a stacked feature have unrelated units (dB, Hz, linear RMS), so each row gets its own
    running mean and variance (``BatchNorm1d`` with rows as channels). Shapes: ``(batch, n_rows,
    n_frames)`` -> same.
    """

    def __init__(self, n_rows: int) -> None:
        super().__init__()
        self.n_rows = n_rows
        self.norm = nn.BatchNorm1d(n_rows)

    def forward(self, frames: Tensor) -> Tensor:
        return self.norm(frames)


class ConvBlock2d(nn.Module):
    """Conv2d with "same" padding (stride 1), BatchNorm, ReLU, then an optional max-pool.

    Padding keeps the height and width for any kernel, even-sized ones included (the extra row or
    column goes after); ``padding_mode`` is ``"zeros"`` or ``"circular"``. Max-pooling uses
    ``ceil_mode`` so that no axis ever shrinks to 0. Shapes: ``(batch, in_channels, H, W)`` ->
    ``(batch, out_channels, ceil(H / pool_h), ceil(W / pool_w))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int],
        pool: tuple[int, int] | None = None,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        if padding_mode not in ("zeros", "circular"):
            raise ValueError(f"padding_mode must be 'zeros' or 'circular', got {padding_mode!r}")
        kh, kw = kernel
        # F.pad order: (left, right, top, bottom); total k - 1 per axis, the odd one after.
        self.padding = ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)
        self.pad_mode = "constant" if padding_mode == "zeros" else "circular"
        self.conv = nn.Conv2d(in_channels, out_channels, kernel)
        self.bn = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(pool, ceil_mode=True) if pool is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, self.padding, mode=self.pad_mode)
        return self.pool(F.relu(self.bn(self.conv(x))))


class ResidualBlock2d(nn.Module):
    """Residual block of Won et al.'s short-chunk ResNet (``Res_2d``).

    ``relu(bn(conv3x3(relu(bn(conv3x3_stride2(x))))) + shortcut(x))``; the shortcut is a strided
    3x3 conv + BN when the stride or the width changes, else the identity. Shapes: ``(batch,
    in_channels, H, W)`` -> ``(batch, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = RESIDUAL_STRIDE) -> None:
        super().__init__()
        k, pad = RESIDUAL_KERNEL, RESIDUAL_KERNEL // 2
        self.conv1 = nn.Conv2d(in_channels, out_channels, k, stride=stride, padding=pad)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, k, padding=pad)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, k, stride=stride, padding=pad),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class ResidualEncoder2d(nn.Module):
    """Seven :class:`ResidualBlock2d` (stride 2) over a normalised frame feature, global max-pooled.

    The encoder of Won et al.'s short-chunk ResNet, also Zhao & Yoshii's MFCC branch ("seven
    convolutional blocks as in [14]"). Widths are ``base_channels`` times
    :data:`RESNET_CHANNEL_MULTIPLIERS`. Shapes: ``(batch, n_rows, n_frames)`` -> ``(batch,
    out_dim)`` with ``out_dim = 4 * base_channels``; any ``n_rows, n_frames >= 1`` works (each
    block halves both axes, rounding up).
    """

    def __init__(self, n_rows: int, base_channels: int) -> None:
        super().__init__()
        widths = [base_channels * m for m in RESNET_CHANNEL_MULTIPLIERS]
        self.n_rows = n_rows
        self.norm = FrameNorm(n_rows)
        self.blocks = nn.Sequential(
            *(ResidualBlock2d(c_in, c_out) for c_in, c_out in zip([1, *widths[:-1]], widths, strict=True))
        )
        self.out_dim = widths[-1]

    def forward(self, frames: Tensor) -> Tensor:
        x = self.blocks(self.norm(frames).unsqueeze(1))  # (batch, out_dim, H', W')
        return x.amax(dim=(2, 3))


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row of ``x`` ``(batch, seq_len, dim)`` within its first ``lengths[b]`` positions.

    Positions at and after ``lengths[b]`` (padding) stay where they are, so the operation is its
    own inverse. ``lengths``: int64 ``(batch,)``, each in ``1..seq_len``.
    """
    positions = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, seq_len)
    last = (lengths.to(x.device) - 1).unsqueeze(1)  # (batch, 1)
    index = torch.where(positions <= last, last - positions, positions)  # (batch, seq_len)
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


class BiRecurrentEncoder(nn.Module):
    """Token embedding and a stacked bidirectional GRU or LSTM that never reads padding.

    Returns ``(outputs, summary)``: ``outputs`` ``(batch, seq_len, 2 * hidden)``, the top layer's
    states with both directions concatenated (zeros at padded positions), and ``summary`` ``(batch,
    2 * hidden)``, the top layer's final forward state (at the last real token) concatenated with
    its final backward state (at the first token).

    The exact padded form of a packed bidirectional RNN, at the cost of dense tensors: each layer
    runs its forward direction on the right-padded batch (padding comes after every real
    position, so no real state reads it) and its backward direction on each sequence reversed
    within its own length (:func:`reverse_within_lengths`), whose outputs are reversed back.
    Packed sequences give the same numbers (to float rounding) but their backward pass cost
    19-66x this form on CPU (``shared/findings/packed-rnn-backward.md``). The weights live in
    one ``nn.GRU``/``nn.LSTM(bidirectional=True)`` (``rnn.weight_ih_l0``,
    ``rnn.weight_ih_l0_reverse``...), so checkpoints of the packed form load unchanged.
    Dropout (``dropout``, between layers in training) is applied as ``nn.LSTM`` applies it.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden: int,
        n_layers: int,
        cell: str = "gru",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        rnn_classes: dict[str, type[nn.GRU] | type[nn.LSTM]] = {"gru": nn.GRU, "lstm": nn.LSTM}
        if cell not in rnn_classes:
            raise ValueError(f"cell must be one of {sorted(rnn_classes)}, got {cell!r}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = rnn_classes[cell](
            embedding_dim,
            hidden,
            num_layers=n_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.cell = cell
        self.out_dim = 2 * hidden

    def _direction(self, x: Tensor, layer: int, suffix: str) -> Tensor:
        """One direction of one layer: ``(batch, seq_len, in_dim)`` -> ``(batch, seq_len, hidden)``."""
        rnn = self.rnn
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        weights = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in names]
        h0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
        if self.cell == "lstm":
            return torch.lstm(x, (h0, h0), weights, True, 1, 0.0, self.training, False, True)[0]
        return torch.gru(x, h0, weights, True, 1, 0.0, self.training, False, True)[0]

    def forward(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        check_token_batch(tokens, mask)
        x = self.embedding(tokens.masked_fill(~mask, 0))
        lengths = mask.sum(dim=1)
        rows = torch.arange(x.shape[0], device=x.device)
        for layer in range(self.rnn.num_layers):
            if layer > 0:
                x = F.dropout(x, self.rnn.dropout, self.training)
            forward_states = self._direction(x, layer, "")
            backward_reversed = self._direction(reverse_within_lengths(x, lengths), layer, "_reverse")
            x = torch.cat([forward_states, reverse_within_lengths(backward_reversed, lengths)], dim=-1)
        outputs = x * mask.unsqueeze(-1).to(x.dtype)
        summary = torch.cat([forward_states[rows, lengths - 1], backward_reversed[rows, lengths - 1]], dim=-1)
        return outputs, summary


class MLPHead(nn.Module):
    """Two fully connected layers: ``Linear -> [BatchNorm1d] -> ReLU -> Dropout -> Linear``.

    Shapes: ``(batch, in_dim)`` -> ``(batch, out_dim)`` (logits).
    """

    def __init__(
        self, in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0, batch_norm: bool = False
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.BatchNorm1d(hidden) if batch_norm else nn.Identity(),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def pooled_length(n: int, factors: Sequence[int]) -> int:
    """Length of an axis of ``n`` after ceil-mode pooling (or striding) by each of ``factors`` in turn."""
    for factor in factors:
        n = -(-n // factor)
    return n
