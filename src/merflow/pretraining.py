"""Masked-language-model masking and loss on CP tokens, as MIDI-BERT's pretraining (BERT's 15% / 80-10-10).

Conventions
-----------
* Tokens: CP compound words, int64 (batch, n_notes, 4) with the field order and vocabulary
  of :mod:`merflow.models.midibert` (``<PAD>`` = size - 2, ``<MASK>`` = size - 1 per field);
  a note is padding when its Bar is ``<PAD>``.
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

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import cross_entropy

from merflow.models.midibert import CP_VOCAB_SIZES, MASK_OFFSET_FROM_END, N_SPECIAL_TOKENS, valid_note_mask

CHOSEN_FRACTION = 0.15
MASK_TOKEN_FRACTION = 0.8
RANDOM_TOKEN_FRACTION = 0.1
PADDING_SORT_KEY = 2.0
"""Sort key of padding notes: above every uniform [0, 1) key, so padding ranks last."""


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
