"""Zhao & Yoshii, Zhu et al. and the neural baselines: shapes, padding, overfitting, ablations, losses, 4Q."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

from merflow.core.labels import arousal_of, valence_of
from merflow.models.baselines import (
    LSTMAttn,
    LSTMAttnConfig,
    ShortChunkResNet,
    ShortChunkResNetConfig,
    average_chunk_logits,
    random_chunk,
    split_into_chunks,
)
from merflow.models.blocks import (
    count_parameters,
    quadrant_probabilities_from_va,
    quadrants_from_va,
    va_targets,
)
from merflow.models.heads import attention_penalty
from merflow.models.zhao_yoshii import ChromaCNN, ZhaoYoshii, ZhaoYoshiiConfig
from merflow.models.zhu import Zhu, ZhuConfig, mixed_acoustic_features, sinusoidal_positions
from merflow.tokenizers.midi_like import VOCAB_SIZE

BATCH = 8
MAX_LEN = 24
LENGTHS = (24, 20, 16, 12, 10, 8, 6, 5)
N_FRAMES = 48
MFCC_ROWS = 20
N_MELS = 128
ZHU_VOCAB = 60
LABELS = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
#: Overfitting one batch must cut the loss by at least this factor within OVERFIT_STEPS steps.
OVERFIT_FACTOR = 10.0
OVERFIT_STEPS = 100
OVERFIT_LR = 3e-3
#: Zhao & Yoshii forward() arguments of each branch.
ZHAO_INPUTS = {"symbolic": ("tokens", "token_mask"), "chroma": ("chroma",), "mfcc": ("mfcc",)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def token_batch(vocab_size: int, lengths: tuple[int, ...] = LENGTHS, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random tokens ``(len(lengths), max(lengths))``; padding holds out-of-vocabulary junk."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    tokens = torch.randint(0, vocab_size, mask.shape, generator=g)
    return tokens.masked_fill(~mask, vocab_size + 7), mask


def frames(rows: int, n_frames: int = N_FRAMES, batch: int = BATCH, seed: int = 1) -> Tensor:
    return torch.randn(batch, rows, n_frames, generator=torch.Generator().manual_seed(seed))


def zhao_inputs() -> dict[str, Tensor]:
    tokens, mask = token_batch(VOCAB_SIZE)
    return {"tokens": tokens, "token_mask": mask, "chroma": frames(12).abs(), "mfcc": frames(MFCC_ROWS)}


def zhu_inputs(config: ZhuConfig) -> dict[str, Tensor]:
    tokens, mask = token_batch(ZHU_VOCAB)
    return {"tokens": tokens, "token_mask": mask, "acoustic": frames(config.acoustic_rows)}


def lstm_inputs() -> dict[str, Tensor]:
    tokens, mask = token_batch(VOCAB_SIZE)
    return {"tokens": tokens, "token_mask": mask}


def zhao_cpu(**overrides: object) -> ZhaoYoshii:
    return ZhaoYoshii(ZhaoYoshiiConfig.preset("cpu", **overrides))


def zhu_cpu(**overrides: object) -> Zhu:
    return Zhu(ZhuConfig.preset("cpu", vocab_size=ZHU_VOCAB, **overrides))


# ---------------------------------------------------------------- quadrants from valence / arousal


def test_quadrant_from_va_follows_russell():
    logits = torch.tensor([[3.0, 3.0], [-3.0, 3.0], [-3.0, -3.0], [3.0, -3.0]])  # (V, A)
    assert quadrants_from_va(logits).tolist() == [1, 2, 3, 4]
    assert ZhaoYoshii.predict_quadrants(logits).tolist() == [1, 2, 3, 4]
    assert ZhaoYoshii.quadrant_probabilities(logits).argmax(dim=1).tolist() == [0, 1, 2, 3]
    # Targets are the labels module's bits of quadrants 1..4.
    q = np.array([1, 2, 3, 4])
    expected = np.stack([valence_of(q), arousal_of(q)], axis=1)
    assert va_targets(torch.tensor([0, 1, 2, 3])).tolist() == expected.tolist()


def test_quadrant_probabilities_are_products_of_va_probabilities():
    # P(V high) = 0.75, P(A high) = 0.5 -> Q1 .375, Q2 .125, Q3 .125, Q4 .375.
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    probs = quadrant_probabilities_from_va(logits)
    assert torch.allclose(probs, torch.tensor([[0.375, 0.125, 0.125, 0.375], [0.25] * 4]))


# ---------------------------------------------------------------- shapes and padding


def test_output_shapes_on_cpu_presets():
    zhao = zhao_cpu().eval()
    assert zhao(**zhao_inputs()).shape == (BATCH, 2)
    zhu = zhu_cpu().eval()
    out = zhu(**zhu_inputs(zhu.config))
    assert out.quadrant_logits.shape == (BATCH, 4)
    assert out.valence_logit is not None and out.valence_logit.shape == (BATCH,)
    assert out.arousal_logit is not None and out.arousal_logit.shape == (BATCH,)
    lstm = LSTMAttn(LSTMAttnConfig.preset("cpu")).eval()
    lstm_out = lstm(**lstm_inputs())
    n_hops = lstm.config.n_hops
    assert lstm_out.logits.shape == (BATCH, 4)
    assert lstm_out.attention.shape == (BATCH, n_hops, MAX_LEN)
    _, mask = token_batch(VOCAB_SIZE)
    assert torch.allclose(lstm_out.attention.sum(dim=2), torch.ones(BATCH, n_hops))
    assert bool((lstm_out.attention.masked_select(~mask.unsqueeze(1)) == 0).all())
    resnet = ShortChunkResNet(ShortChunkResNetConfig.preset("cpu")).eval()
    assert resnet(frames(N_MELS, 129, batch=3)).shape == (3, 4)


def _trimmed(inputs: dict[str, Tensor], row: int) -> dict[str, Tensor]:
    """The inputs of one batch row, with its token padding cut off."""
    length = int(inputs["token_mask"][row].sum())
    out = {key: value[row : row + 1] for key, value in inputs.items()}
    out["tokens"], out["token_mask"] = out["tokens"][:, :length], out["token_mask"][:, :length]
    return out


@pytest.mark.parametrize("name", ["zhao", "zhu", "lstm"])
def test_padding_does_not_change_outputs(name: str):
    torch.manual_seed(0)
    builders: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module], dict[str, Tensor]]]] = {
        "zhao": (zhao_cpu, lambda m: zhao_inputs()),
        "zhu": (zhu_cpu, lambda m: zhu_inputs(m.config)),
        "lstm": (lambda: LSTMAttn(LSTMAttnConfig.preset("cpu")), lambda m: lstm_inputs()),
    }
    build, make_inputs = builders[name]
    model = build().eval()
    inputs = make_inputs(model)
    first = {"zhao": lambda o: o, "zhu": lambda o: o.quadrant_logits, "lstm": lambda o: o.logits}[name]
    with torch.no_grad():
        batched = first(model(**inputs))
        row = BATCH - 1  # the shortest sequence, most padding
        alone = first(model(**_trimmed(inputs, row)))
    assert torch.allclose(batched[row], alone[0], atol=1e-5)


# ---------------------------------------------------------------- overfitting one batch


def _overfit(model: nn.Module, loss_fn: Callable[[], Tensor]) -> tuple[float, float]:
    """Adam on one batch; returns (initial loss, final loss)."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=OVERFIT_LR)
    model.train()
    losses = []
    for _ in range(OVERFIT_STEPS):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], loss_fn().item()


@pytest.mark.parametrize("name", ["zhao", "zhu", "lstm", "resnet"])
def test_one_batch_overfits(name: str):
    torch.manual_seed(0)
    if name == "zhao":
        zhao = zhao_cpu(dropout=0.0)
        inputs = zhao_inputs()
        initial, final = _overfit(zhao, lambda: zhao.loss(zhao(**inputs), LABELS))
    elif name == "zhu":
        zhu = zhu_cpu(dropout=0.0)
        inputs = zhu_inputs(zhu.config)
        initial, final = _overfit(zhu, lambda: zhu.loss(zhu(**inputs), LABELS))
    elif name == "lstm":
        lstm = LSTMAttn(LSTMAttnConfig.preset("cpu"))
        inputs = lstm_inputs()
        initial, final = _overfit(lstm, lambda: lstm.loss(lstm(**inputs), LABELS))
    else:
        resnet = ShortChunkResNet(ShortChunkResNetConfig.preset("cpu", dropout=0.0))
        chunks = frames(N_MELS, 64)
        initial, final = _overfit(resnet, lambda: resnet.loss(resnet(chunks), LABELS))
    assert final < initial / OVERFIT_FACTOR, (initial, final)


# ---------------------------------------------------------------- Zhao & Yoshii ablations


@pytest.mark.parametrize("kept", ["symbolic", "chroma", "mfcc"])
def test_zhao_single_branch_ablation_removes_the_other_branches(kept: str):
    torch.manual_seed(0)
    full = zhao_cpu()
    ablated = ZhaoYoshii(full.config.with_ablation(f"{kept}_only"))
    removed = [b for b in ("symbolic", "chroma", "mfcc") if b != kept]
    c = full.config
    # Gone: the removed branches, their projections, and their columns of the first FC layer.
    expected_drop = (
        sum(
            count_parameters(getattr(full, f"{b}_branch")) + count_parameters(full.projections[b])
            for b in removed
        )
        + len(removed) * c.fusion_dim * c.fc_hidden
    )
    assert count_parameters(full) - count_parameters(ablated) == expected_drop
    for b in removed:
        assert getattr(ablated, f"{b}_branch") is None
    # The removed branches' inputs are ignored: leaving them out changes nothing.
    ablated.eval()
    inputs = zhao_inputs()
    removed_keys = {k for b in removed for k in ZHAO_INPUTS[b]}
    with torch.no_grad():
        reference = ablated(**inputs)
        assert torch.equal(ablated(**{k: v for k, v in inputs.items() if k not in removed_keys}), reference)


def test_zhao_without_attention_drops_exactly_the_mhsa():
    full, concat = zhao_cpu(), ZhaoYoshii(ZhaoYoshiiConfig.preset("cpu").with_ablation("no_attention"))
    d = full.config.fusion_dim
    # In/out projections of Q, K, V, O with biases: 4 d^2 + 4 d.
    assert count_parameters(full) - count_parameters(concat) == 4 * d * d + 4 * d
    assert concat.fusion_attention is None
    calls: list[int] = []
    assert full.fusion_attention is not None
    full.fusion_attention.register_forward_hook(lambda *_: calls.append(1))
    full.eval()
    with torch.no_grad():
        full(**zhao_inputs())
    assert calls == [1]


def test_zhao_chroma_branch_is_transposition_invariant():
    # Circular padding on the pitch-class axis + global max-pooling: rolling the chromagram by
    # k semitones leaves the branch output unchanged (at initialisation, every row is normalised alike).
    torch.manual_seed(0)
    branch = ChromaCNN(4, 6, 4).eval()
    chroma = frames(12, batch=2).abs()
    with torch.no_grad():
        assert torch.allclose(branch(torch.roll(chroma, 5, dims=1)), branch(chroma), atol=1e-5)


# ---------------------------------------------------------------- Zhu et al. ablations and loss


@pytest.mark.parametrize(
    ("ablation", "removed"), [("symbolic_only", "acoustic"), ("acoustic_only", "symbolic")]
)
def test_zhu_single_domain_ablation_removes_the_other_branch(ablation: str, removed: str):
    torch.manual_seed(0)
    full = zhu_cpu()
    ablated = Zhu(full.config.with_ablation(ablation))
    aux_head = {"acoustic": "arousal_head", "symbolic": "valence_head"}[removed]
    gone = [f"{removed}_encoder", aux_head, "acoustic_cda", "symbolic_cda"]
    c = full.config
    expected_drop = sum(count_parameters(getattr(full, name)) for name in gone) + c.d_model * c.fc_hidden
    assert count_parameters(full) - count_parameters(ablated) == expected_drop
    assert all(getattr(ablated, name) is None for name in gone)
    ablated.eval()
    inputs = zhu_inputs(c)
    dropped_keys = {"acoustic": ("acoustic",), "symbolic": ("tokens", "token_mask")}[removed]
    with torch.no_grad():
        reference = ablated(**inputs)
        alone = ablated(**{k: v for k, v in inputs.items() if k not in dropped_keys})
    assert torch.equal(alone.quadrant_logits, reference.quadrant_logits)
    assert (reference.arousal_logit is None) == (removed == "acoustic")
    assert (reference.valence_logit is None) == (removed == "symbolic")


def test_zhu_stft_input_changes_only_the_input_rows():
    mixed, stft = zhu_cpu(), Zhu(ZhuConfig.preset("cpu", vocab_size=ZHU_VOCAB).with_ablation("stft_input"))
    assert (mixed.config.acoustic_rows, stft.config.acoustic_rows) == (20 + 128 + 2, 257)
    # Three 2x2 pools: ceil(257 / 8) = 33 and ceil(150 / 8) = 19 rows reach the projection; the
    # input norm has 2 affine parameters per row.
    c = mixed.config
    expected = (33 - 19) * c.acoustic_channels[-1] * c.d_model + (257 - 150) * 2
    assert count_parameters(stft) - count_parameters(mixed) == expected
    stft.eval()
    with torch.no_grad():
        assert stft(**zhu_inputs(stft.config)).quadrant_logits.shape == (BATCH, 4)
        with pytest.raises(ValueError, match=r"acoustic: expected \(batch, 257, n_frames\)"):
            stft(**zhu_inputs(mixed.config))


def test_zhu_loss_combines_ce_and_auxiliary_bces():
    torch.manual_seed(0)
    model = zhu_cpu(aux_valence_weight=0.5, aux_arousal_weight=2.0).eval()
    out = model(**zhu_inputs(model.config))
    valence_bits = torch.tensor([1.0, 0, 0, 1, 1, 0, 0, 1])
    arousal_bits = torch.tensor([1.0, 1, 0, 0, 1, 1, 0, 0])
    assert out.valence_logit is not None and out.arousal_logit is not None
    expected = (
        F.cross_entropy(out.quadrant_logits, LABELS)
        + 0.5 * F.binary_cross_entropy_with_logits(out.valence_logit, valence_bits)
        + 2.0 * F.binary_cross_entropy_with_logits(out.arousal_logit, arousal_bits)
    )
    assert torch.allclose(model.loss(out, LABELS), expected)


def test_zhu_single_loss_ignores_the_auxiliary_heads():
    torch.manual_seed(0)
    for ablation, aux_trained in (("full", True), ("single_loss", False)):
        model = Zhu(ZhuConfig.preset("cpu", vocab_size=ZHU_VOCAB).with_ablation(ablation))
        out = model(**zhu_inputs(model.config))
        loss = model.loss(out, LABELS)
        loss.backward()
        for head in (model.valence_head, model.arousal_head):
            assert head is not None
            grads = [p.grad for p in head.parameters()]
            if aux_trained:
                assert all(g is not None and bool(g.abs().sum() > 0) for g in grads)
            else:
                assert all(g is None for g in grads)
        if not aux_trained:
            assert torch.equal(loss, F.cross_entropy(out.quadrant_logits, LABELS))
        assert any(p.grad is not None for p in model.classifier.parameters())


def test_mixed_acoustic_features_stack_in_order():
    n = 7
    clip = {
        "log_mel": np.full((128, n), 2.0, np.float32),
        "mfcc": np.full((20, n), 1.0, np.float32),
        "chroma": np.zeros((12, n), np.float32),
        "spectral_centroid": np.full((1, n), 3.0, np.float32),
        "rms": np.full((1, n), 4.0, np.float32),
    }
    stacked = mixed_acoustic_features(clip)
    assert stacked.shape == (150, n)
    assert stacked[:, 0].tolist() == [1.0] * 20 + [2.0] * 128 + [3.0, 4.0]
    clip["rms"] = np.zeros((1, n + 1), np.float32)
    with pytest.raises(ValueError, match="frame-aligned"):
        mixed_acoustic_features(clip)


def test_sinusoidal_positions_known_values():
    table = sinusoidal_positions(3, 4)
    assert torch.allclose(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(table[1], torch.tensor([math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]))


# ---------------------------------------------------------------- baselines


def test_self_attention_penalty_known_values():
    one_hot = torch.tensor([[[1.0, 0, 0, 0], [0, 1.0, 0, 0]]])  # two hops on distinct tokens
    assert attention_penalty(one_hot).item() == 0.0
    uniform = torch.full((1, 2, 4), 0.25)  # A A^T = 0.25 everywhere: 2 (0.75)^2 + 2 (0.25)^2
    assert attention_penalty(uniform).item() == pytest.approx(1.25)


def test_lstm_attn_penalty_weight_switches_the_penalty():
    torch.manual_seed(0)
    model = LSTMAttn(LSTMAttnConfig.preset("cpu", penalty_weight=0.0))
    out = model(**lstm_inputs())
    assert torch.equal(model.loss(out, LABELS), F.cross_entropy(out.logits, LABELS))
    weighted = LSTMAttn(dataclasses.replace(model.config, penalty_weight=0.5))
    weighted.load_state_dict(model.state_dict())
    expected = F.cross_entropy(out.logits, LABELS) + 0.5 * attention_penalty(out.attention)
    assert torch.allclose(weighted.loss(weighted(**lstm_inputs()), LABELS), expected)


def test_lstm_attn_reading_padding_is_emopia_cls_form_plain_lstm_and_unmasked_attention():
    """``reads_padding``: padding is token ``vocab_size``, the BiLSTM runs over the whole padded
    batch (nn.LSTM, no packing) and the attention covers every position, as EMOPIA_cls's SAN."""
    torch.manual_seed(0)
    model = LSTMAttn(LSTMAttnConfig.preset("cpu", reads_padding=True)).eval()
    assert model.encoder.embedding.num_embeddings == VOCAB_SIZE + 1
    tokens, mask = token_batch(VOCAB_SIZE)
    with torch.no_grad():
        out = model(tokens, mask)
        padded = tokens.masked_fill(~mask, VOCAB_SIZE)
        states, _ = model.encoder.rnn(model.encoder.embedding(padded))
        scores = model.attention.ws2(torch.tanh(model.attention.ws1(states))).transpose(1, 2)
        attention = scores.softmax(dim=-1)
        logits = model.classifier((attention @ states).flatten(1))
    assert torch.allclose(out.attention, attention, atol=1e-6)
    assert torch.allclose(out.logits, logits, atol=1e-5)
    assert (out.attention[~mask[:, None, :].expand_as(out.attention)] > 0).all()  # padding attended
    masked = LSTMAttn(LSTMAttnConfig.preset("cpu")).eval()
    with torch.no_grad():
        assert (masked(tokens, mask).attention[:, :, mask.shape[1] - 1][~mask[:, -1]] == 0).all()
        shorter = model(tokens[1:, : mask[1:].sum(1).max()], mask[1:, : mask[1:].sum(1).max()])
    # a clip's prediction depends on the longest clip of its batch when padding is read
    assert not torch.allclose(shorter.logits, out.logits[1:], atol=1e-4)


def test_chunking_and_chunk_averaging_known_answers():
    clip = np.arange(20, dtype=np.float32).reshape(2, 10)
    chunks = split_into_chunks(clip, 4)
    assert chunks.shape == (2, 2, 4)
    assert chunks[1].tolist() == [[4, 5, 6, 7], [14, 15, 16, 17]]
    short = split_into_chunks(clip[:, :3], 4)
    assert short.tolist() == [[[0, 1, 2, 0], [10, 11, 12, 0]]]  # padded with the clip's minimum
    rng = np.random.default_rng(0)
    piece = random_chunk(clip, 4, rng)
    start = int(piece[0, 0])
    assert piece.tolist() == clip[:, start : start + 4].tolist()
    logits = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    averaged = average_chunk_logits(logits, torch.tensor([0, 0, 1]), 2)
    assert averaged.tolist() == [[2.0, 1.0], [5.0, 5.0]]
    with pytest.raises(ValueError, match="at least one chunk"):
        average_chunk_logits(logits, torch.tensor([0, 0, 2]), 3)
    # 3 s (EMOPIA) and 3.69 s (Won et al.) at 22,050 / 512 = 43.07 frames/s.
    frame_rate = 22050 / 512
    assert ShortChunkResNetConfig.preset("paper").chunk_frames(frame_rate) == 129
    assert ShortChunkResNetConfig(chunk_seconds=3.69).chunk_frames(frame_rate) == 159


# ---------------------------------------------------------------- paper presets


def test_paper_presets_build_and_run_forward():
    torch.manual_seed(0)
    tokens, mask = token_batch(VOCAB_SIZE, lengths=(32, 20))
    with torch.no_grad():
        zhao = ZhaoYoshii(ZhaoYoshiiConfig.preset("paper", mfcc_rows=MFCC_ROWS)).eval()
        va = zhao(tokens, mask, frames(12, 64, batch=2).abs(), frames(MFCC_ROWS, 64, batch=2))
        assert va.shape == (2, 2)
        zhu = Zhu(ZhuConfig.preset("paper", vocab_size=VOCAB_SIZE)).eval()
        out = zhu(tokens, mask, frames(zhu.config.acoustic_rows, 64, batch=2))
        assert out.quadrant_logits.shape == (2, 4)
        lstm = LSTMAttn(LSTMAttnConfig.preset("paper")).eval()
        assert lstm(tokens, mask).logits.shape == (2, 4)
        resnet = ShortChunkResNet(ShortChunkResNetConfig.preset("paper")).eval()
        assert resnet(frames(N_MELS, 129, batch=2)).shape == (2, 4)
    # EMOPIA's LSTM-Attn: embedding 388 x 300, BiLSTM 2 x 4 (128 (300 + 128) + 2 x 128),
    # attention 256 x 128 + 128 x 16, classifier 4096 x 256 + 256 + 256 x 4 + 4.
    assert count_parameters(lstm) == 116_400 + 440_320 + 32_768 + 2_048 + 1_049_860
    assert zhu.config.d_model == 512 and zhu.config.n_layers == 4


def test_zhu_symbolic_pretraining_learns_and_loads_into_zhu(tmp_path):
    from merflow.models.zhu import SymbolicLM
    from merflow.tokenizers.chunks import chunk_rows
    from merflow.training.pretraining import PretrainSettings, pretrain_mlm, special_token_vocab

    vocab = special_token_vocab(ZHU_VOCAB)
    assert vocab == (ZHU_VOCAB + 2,)
    pad = [ZHU_VOCAB]
    rng = np.random.default_rng(0)
    # a learnable stream: each token is followed by token + 1 (mod the vocabulary)
    pieces = [(rng.integers(ZHU_VOCAB) + np.arange(n)) % ZHU_VOCAB for n in (70, 45, 90)]
    chunks = np.concatenate([chunk_rows(piece, 16, pad) for piece in pieces])
    assert chunks.shape[1:] == (16, 1) and (chunks[-1, -1] == pad).all()
    config = ZhuConfig.preset("cpu", vocab[0], dropout=0.0)
    torch.manual_seed(0)
    model = SymbolicLM(config)
    settings = PretrainSettings(steps=150, batch_size=8, lr=3e-3, checkpoint_every=50, log_every=10)
    history = pretrain_mlm(model, chunks, settings, tmp_path / "ckpt.pt", torch.device("cpu"), 0, vocab)
    assert history["steps_done"] == 150
    assert history["loss"][-1] < 0.8 * history["loss"][0]  # chance level is ln(62) = 4.1 nats
    zhu = Zhu(config)
    zhu.symbolic_encoder.load_state_dict(model.encoder.state_dict())  # strict: same keys and shapes
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(zhu.symbolic_encoder.state_dict()[name], value)
