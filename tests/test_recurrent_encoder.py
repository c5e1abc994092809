"""BiRecurrentEncoder's exact padded form against packed sequences (the form it replaced).

The reference below is the packed encoder as landed before (pack_padded_sequence through the
same nn.GRU/nn.LSTM module): the padded form must give its outputs, final states and
gradients on batches of mixed lengths, for GRU and LSTM, 1 and 2 layers.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from merflow.models.blocks import BiRecurrentEncoder, reverse_within_lengths

#: float32 rounding of the two orders of the same sums (measured: at most 6e-7 on states).
ATOL = 1e-5
LENGTHS = [7, 1, 13, 4, 13, 9]


def packed_reference(encoder: BiRecurrentEncoder, tokens: torch.Tensor, mask: torch.Tensor):
    """The landed packed form: outputs (zeros at padding) and [h_n forward, h_n backward]."""
    embedded = encoder.embedding(tokens.masked_fill(~mask, 0))
    lengths = mask.sum(dim=1).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
    packed_out, final = encoder.rnn(packed)
    h_n = final[0] if isinstance(final, tuple) else final
    outputs, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=tokens.shape[1])
    return outputs, torch.cat([h_n[-2], h_n[-1]], dim=-1)


def mixed_batch(vocab: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (len(LENGTHS), max(LENGTHS)), generator=generator)
    mask = torch.arange(max(LENGTHS)).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)
    tokens[~mask] = vocab + 5  # padding may hold anything, even ids outside the vocabulary
    return tokens, mask


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("n_layers", [1, 2])
def test_padded_form_equals_packed_outputs_states_and_gradients(cell: str, n_layers: int):
    torch.manual_seed(1)
    encoder = BiRecurrentEncoder(vocab_size=30, embedding_dim=12, hidden=10, n_layers=n_layers, cell=cell)
    tokens, mask = mixed_batch(30)
    outputs, summary = encoder(tokens, mask)
    reference_outputs, reference_summary = packed_reference(encoder, tokens, mask)
    assert torch.allclose(outputs, reference_outputs, atol=ATOL)
    assert torch.allclose(summary, reference_summary, atol=ATOL)
    assert (outputs[~mask] == 0).all()
    # Gradients of the same scalar through each form, for every parameter.
    weights = torch.randn_like(outputs)
    grads = torch.autograd.grad((outputs * weights).sum() + summary.sum(), list(encoder.parameters()))
    reference = torch.autograd.grad(
        (reference_outputs * weights).sum() + reference_summary.sum(), list(encoder.parameters())
    )
    for (name, _), grad, expected in zip(encoder.named_parameters(), grads, reference, strict=True):
        assert torch.allclose(grad, expected, atol=ATOL), name


def test_dropout_between_layers_acts_in_training_only():
    torch.manual_seed(2)
    encoder = BiRecurrentEncoder(
        vocab_size=30, embedding_dim=8, hidden=6, n_layers=2, cell="gru", dropout=0.5
    )
    tokens, mask = mixed_batch(30, seed=3)
    encoder.eval()
    assert torch.allclose(encoder(tokens, mask)[0], packed_reference(encoder, tokens, mask)[0], atol=ATOL)
    encoder.train()
    first, second = encoder(tokens, mask)[0], encoder(tokens, mask)[0]
    assert not torch.allclose(first, second)


def test_parameter_names_are_those_of_the_packed_module():
    encoder = BiRecurrentEncoder(vocab_size=10, embedding_dim=4, hidden=3, n_layers=2, cell="lstm")
    names = set(encoder.state_dict())
    assert {
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0_reverse",
        "rnn.bias_ih_l1",
        "rnn.bias_hh_l1_reverse",
    } <= names
    assert all(name.startswith(("embedding.", "rnn.")) for name in names)


def test_reverse_within_lengths_keeps_padding_in_place_and_is_an_involution():
    x = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1)
    reversed_ = reverse_within_lengths(x, torch.tensor([3, 5]))
    assert reversed_[..., 0].tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    assert torch.equal(reverse_within_lengths(reversed_, torch.tensor([3, 5])), x)


def test_a_model_trained_with_the_packed_form_loads_and_gives_its_stored_probabilities(monkeypatch):
    """Weights and probabilities as a run of the packed era stored them, read back by today's code."""
    from merflow.models.baselines import LSTMAttn, LSTMAttnConfig

    torch.manual_seed(3)
    old = LSTMAttn(LSTMAttnConfig.preset("cpu")).eval()
    tokens, mask = mixed_batch(388, seed=4)
    monkeypatch.setattr(BiRecurrentEncoder, "forward", packed_reference)
    with torch.no_grad():
        stored = torch.softmax(old(tokens, mask).logits, dim=-1)
    checkpoint = old.state_dict()
    monkeypatch.undo()
    new = LSTMAttn(LSTMAttnConfig.preset("cpu")).eval()
    new.load_state_dict(checkpoint)  # strict: the same names and shapes
    with torch.no_grad():
        assert torch.allclose(torch.softmax(new(tokens, mask).logits, dim=-1), stored, atol=1e-6)
