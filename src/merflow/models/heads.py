"""Sequence-level emotion head: self-attentive pooling (Lin et al. 2017) and an MLP classifier.

Conventions
-----------
* Input: hidden states, float (batch, n_notes, hidden_size), e.g. one entry of
  :attr:`merflow.models.midibert.MidiBertOutput.hidden_states`; optional ``mask`` bool
  (batch, n_notes), true for notes that may receive attention weight (None: every position,
  padding included, as MIDI-BERT's fine-tuning).
* Attention matrix A: float (batch, r, n_notes), each of the r rows a softmax over notes
  (Lin et al.'s ``A = softmax(W_s2 tanh(W_s1 H^T))``, no biases), da = 128 and r = 4 by default.
* Pooled M = A H: (batch, r, hidden_size), flattened to r * hidden_size (3072 for hidden 768),
  then Linear -> 256 -> ReLU -> Linear -> n_classes logits (4 quadrants).
* Parameter names equal MIDI-BERT's ``SequenceClassification`` head (``attention.ws1``,
  ``attention.ws2``, ``classifier.0``, ``classifier.2``), so a fine-tuned checkpoint's head
  maps one to one (see :mod:`merflow.models.checkpoint`).
* :func:`attention_penalty` is Lin et al.'s P = ||A A^T - I||_F^2 (averaged over the batch);
  MIDI-BERT does not use it, callers add ``coefficient * P`` to the loss if they want it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

ATTENTION_SIZE = 128
"""da of Lin et al."""
ATTENTION_HOPS = 4
"""r of Lin et al."""
CLASSIFIER_HIDDEN = 256
N_QUADRANTS = 4


class SelfAttentivePooling(nn.Module):
    """r attention distributions over notes: A = softmax_notes(ws2 tanh(ws1 h))."""

    def __init__(
        self, input_size: int, attention_size: int = ATTENTION_SIZE, hops: int = ATTENTION_HOPS
    ) -> None:
        super().__init__()
        self.ws1 = nn.Linear(input_size, attention_size, bias=False)
        self.ws2 = nn.Linear(attention_size, hops, bias=False)

    def forward(self, hidden: Tensor, mask: Tensor | None = None) -> Tensor:
        """hidden (batch, n, input_size), mask bool (batch, n) or None -> A (batch, hops, n)."""
        scores = self.ws2(torch.tanh(self.ws1(hidden))).transpose(1, 2)  # (batch, hops, n)
        if mask is not None:
            scores = scores.masked_fill(~mask.to(torch.bool)[:, None, :], torch.finfo(scores.dtype).min)
        return scores.softmax(dim=-1)


def attention_penalty(attention: Tensor) -> Tensor:
    """Lin et al.'s penalty ||A A^T - I||_F^2 of A (batch, r, n), averaged over the batch: a scalar."""
    gram = attention @ attention.transpose(1, 2)
    identity = torch.eye(attention.shape[1], dtype=attention.dtype, device=attention.device)
    return (gram - identity).square().sum(dim=(1, 2)).mean()


@dataclass(frozen=True)
class HeadOutput:
    """``logits`` (batch, n_classes) and the pooling ``attention`` (batch, r, n_notes)."""

    logits: Tensor
    attention: Tensor


class EmotionHead(nn.Module):
    """Self-attentive pooling -> flatten (r * hidden) -> 256 -> ReLU -> n_classes (MIDI-BERT's head)."""

    def __init__(
        self,
        hidden_size: int,
        n_classes: int = N_QUADRANTS,
        attention_size: int = ATTENTION_SIZE,
        hops: int = ATTENTION_HOPS,
        classifier_hidden: int = CLASSIFIER_HIDDEN,
    ) -> None:
        super().__init__()
        self.attention = SelfAttentivePooling(hidden_size, attention_size, hops)
        self.classifier = nn.Sequential(
            nn.Linear(hops * hidden_size, classifier_hidden),
            nn.ReLU(),
            nn.Linear(classifier_hidden, n_classes),
        )

    def forward(self, hidden: Tensor, mask: Tensor | None = None) -> HeadOutput:
        """hidden (batch, n, hidden_size), mask bool (batch, n) or None -> logits and attention."""
        attention = self.attention(hidden, mask)
        pooled = attention @ hidden  # (batch, r, hidden)
        return HeadOutput(self.classifier(pooled.flatten(start_dim=1)), attention)
