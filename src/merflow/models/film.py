"""MoFi (Huang et al., AAAI 2026): MIDI-BERT with FiLM injection of the major/minor mode.

Conventions
-----------
* Condition c: the Krumhansl-Kessler mode as a float one-hot (batch, 2), index 0 = major,
  1 = minor, the order of :data:`merflow.music.tonality.MODES` (:func:`mode_one_hot`).
* FiLM(x, c) = gamma * x + beta with [gamma, beta] = f_cond(c), f_cond a two-layer MLP
  2 -> ``cond_hidden`` (64) -> ReLU -> 2 * features; gamma and beta (batch, features) are
  broadcast over the notes of x (batch, n_notes, features). The last layer starts with zero
  weights and a bias of 1 for gamma and 0 for beta, so at initialisation gamma = 1 and
  beta = 0 exactly and FiLM is exactly the identity (the paper's "gamma = 1, beta = 0"
  initialisation; its MLP width is not given, 64 is ours).
* Injection point (:func:`injection_position`), a hook position of
  :class:`merflow.models.midibert.MidiBert` (k = after layer k, 0 = before layer 1):
  ``"before_layer_1"`` (MoFi: between the CP embedding, i.e. BERT's embedding output after
  its LayerNorm, and layer 1) -> 0; ``"after_layer_k"`` -> k (``"after_layer_6"`` is the
  paper's layer-6 ablation); ``"after_middle_layer"`` -> num_layers // 2 (the same
  ablation for any depth: 6 of 12 layers, 2 of 4, 1 of 2); ``"before_layer_k"`` -> k - 1;
  ``"after_last_layer"`` -> num_layers; ``"none"`` -> no FiLM module at all.
* The modulated tensor replaces the hidden state at that position: it is what the next
  layer sees and what ``hidden_states[k]`` holds (so probing sees it too).
* :class:`MoFi` = MIDI-BERT + optional FiLM + :class:`merflow.models.heads.EmotionHead` on
  ``hidden_states[layer]`` (default the last layer). State-dict keys: ``midibert.*``,
  ``film.*``, ``head.*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from merflow.models.heads import N_QUADRANTS, EmotionHead
from merflow.models.midibert import MidiBert
from merflow.music.tonality import MODES

N_MODES = len(MODES)
FILM_COND_HIDDEN = 64
INJECTION_NONE = "none"
INJECTION_MOFI = "before_layer_1"
INJECTION_AFTER_LAST = "after_last_layer"
INJECTION_AFTER_MIDDLE = "after_middle_layer"
_INJECTION_PATTERN = re.compile(r"(before|after)_layer_(\d+)")
LAST_LAYER = -1


def mode_one_hot(is_minor: Tensor) -> Tensor:
    """Mode flags (batch,) bool or 0/1 -> one-hot float (batch, 2): [1, 0] major, [0, 1] minor."""
    return nn.functional.one_hot(is_minor.to(torch.long), N_MODES).to(torch.get_default_dtype())


def injection_position(injection: str, num_layers: int) -> int | None:
    """Hook position 0..num_layers of an injection name (see Conventions), None for ``"none"``."""
    if injection == INJECTION_NONE:
        return None
    if injection == INJECTION_AFTER_LAST:
        return num_layers
    if injection == INJECTION_AFTER_MIDDLE:
        return max(num_layers // 2, 1)
    match = _INJECTION_PATTERN.fullmatch(injection)
    if match is None or not 1 <= int(match.group(2)) <= num_layers:
        raise ValueError(
            f"unknown FiLM injection point {injection!r} for {num_layers} layers: use 'none', "
            f"'before_layer_k' or 'after_layer_k' with 1 <= k <= {num_layers}, '{INJECTION_AFTER_MIDDLE}' "
            f"or '{INJECTION_AFTER_LAST}'"
        )
    layer = int(match.group(2))
    return layer - 1 if match.group(1) == "before" else layer


class FiLM(nn.Module):
    """Feature-wise linear modulation conditioned on a small vector (the mode one-hot)."""

    def __init__(
        self, features: int, condition_size: int = N_MODES, cond_hidden: int = FILM_COND_HIDDEN
    ) -> None:
        super().__init__()
        self.features = features
        self.cond = nn.Sequential(
            nn.Linear(condition_size, cond_hidden), nn.ReLU(), nn.Linear(cond_hidden, 2 * features)
        )
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        """Zero the last layer's weight, bias 1 for gamma and 0 for beta: FiLM becomes the identity."""
        last = self.cond[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias[: self.features] = 1.0
            last.bias[self.features :] = 0.0

    def coefficients(self, condition: Tensor) -> tuple[Tensor, Tensor]:
        """condition (batch, condition_size) -> gamma, beta, each (batch, features)."""
        gamma, beta = self.cond(condition).split(self.features, dim=-1)
        return gamma, beta

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        """x (batch, ..., features), condition (batch, condition_size) -> gamma * x + beta, shape of x."""
        gamma, beta = self.coefficients(condition)
        broadcast = (x.shape[0],) + (1,) * (x.dim() - 2) + (self.features,)
        return gamma.view(broadcast) * x + beta.view(broadcast)


@dataclass(frozen=True)
class EmotionOutput:
    """``logits`` (batch, n_classes), pooling ``attention`` (batch, r, n_notes), all ``hidden_states``."""

    logits: Tensor
    attention: Tensor
    hidden_states: tuple[Tensor, ...]


class MoFi(nn.Module):
    """MIDI-BERT with FiLM mode injection at a configurable point and the emotion head.

    ``injection="none"`` is plain MIDI-BERT fine-tuning (MIDI-BERT's ``SequenceClassification``).
    """

    def __init__(
        self,
        midibert: MidiBert,
        injection: str = INJECTION_MOFI,
        n_classes: int = N_QUADRANTS,
        cond_hidden: int = FILM_COND_HIDDEN,
    ) -> None:
        super().__init__()
        hidden = midibert.config.hidden_size
        self.midibert = midibert
        self.injection = injection
        self.film_position = injection_position(injection, midibert.config.num_layers)
        self.film = None if self.film_position is None else FiLM(hidden, N_MODES, cond_hidden)
        self.head = EmotionHead(hidden, n_classes)

    def encode(
        self, tokens: Tensor, mode: Tensor | None = None, attention_mask: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        """CP tokens (batch, n, 4), mode one-hot (batch, 2), mask (batch, n) -> hidden states after FiLM."""
        if self.film is None:
            return self.midibert(tokens, attention_mask).hidden_states
        if mode is None:
            raise ValueError(
                f"MoFi with FiLM at {self.injection!r} needs the mode one-hot (batch, {N_MODES})"
            )
        film, position = self.film, self.film_position

        def inject(at: int, hidden: Tensor) -> Tensor:
            return film(hidden, mode) if at == position else hidden

        return self.midibert(tokens, attention_mask, hook=inject).hidden_states

    def forward(
        self,
        tokens: Tensor,
        mode: Tensor | None = None,
        attention_mask: Tensor | None = None,
        layer: int = LAST_LAYER,
    ) -> EmotionOutput:
        """CP tokens (batch, n, 4), mode (batch, 2), mask (batch, n) -> logits from ``hidden_states[layer]``.

        The same ``attention_mask`` masks the encoder's attention and the pooling; None attends
        to every position (MIDI-BERT's fine-tuning).
        """
        states = self.encode(tokens, mode, attention_mask)
        head = self.head(states[layer], attention_mask)
        return EmotionOutput(head.logits, head.attention, states)
