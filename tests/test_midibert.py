"""MIDI-BERT, MoFi's FiLM, the emotion head, checkpoint import and MLM masking."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.functional import cross_entropy, one_hot

from merflow.models.checkpoint import load_emotion_checkpoint, load_midibert_checkpoint
from merflow.models.film import FiLM, MoFi, injection_position, mode_one_hot
from merflow.models.heads import EmotionHead, SelfAttentivePooling, attention_penalty
from merflow.models.midibert import (
    CP_VOCAB_SIZES,
    MidiBert,
    MidiBertConfig,
    MidiBertLM,
    RelativeSelfAttention,
    relative_distance_index,
)
from merflow.training.pretraining import mask_cp_tokens, mlm_loss

PAPER_PARAMETERS = 111_100_160
CPU_PARAMETERS = 3_729_408
PRETRAIN_KEYS = "midibert_reference/midibert_pretrain_statedict_keys_tf4.30.2.txt"
FINETUNE_KEYS = "midibert_reference/midibert_emotion_finetune_statedict_keys_tf4.30.2.txt"
TINY = MidiBertConfig(
    num_layers=3,
    num_heads=2,
    hidden_size=32,
    intermediate_size=64,
    max_len=64,
    hf_unused_weights=False,
    dropout=0.0,
    attention_dropout=0.0,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_tokens(generator: torch.Generator, batch: int, n_notes: int, lengths: list[int] | None = None):
    """Regular CP tokens (batch, n_notes, 4), padded with <PAD> after ``lengths[b]`` notes."""
    tokens = torch.stack(
        [torch.randint(0, size - 2, (batch, n_notes), generator=generator) for size in CP_VOCAB_SIZES], dim=-1
    )
    pad = torch.tensor(MidiBertConfig().pad_ids)
    for b, length in enumerate(lengths or []):
        tokens[b, length:] = pad
    return tokens


def parse_key_list(path: Path) -> dict[str, tuple[int, ...]]:
    """``key<TAB>(shape)`` lines of a state-dict key list, comments skipped."""
    shapes = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split("\t")
            shapes[key] = tuple(ast.literal_eval(shape))
    return shapes


def n_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- presets, paper size


@pytest.fixture(scope="module")
def paper_model() -> MidiBert:
    torch.manual_seed(0)
    return MidiBert(MidiBertConfig.preset("paper")).eval()


@pytest.fixture(scope="module")
def official_state(shared_data: Path) -> dict[str, torch.Tensor]:
    """A random state dict with exactly the official pretraining checkpoint's keys and shapes."""
    generator = torch.Generator().manual_seed(1)
    state = {}
    for key, shape in parse_key_list(shared_data / PRETRAIN_KEYS).items():
        if key.endswith("position_ids"):
            state[key] = torch.arange(shape[-1]).view(shape)
        else:
            state[key] = torch.randn(shape, generator=generator)
    return state


def test_preset_parameter_counts(paper_model: MidiBert) -> None:
    assert n_parameters(paper_model) == PAPER_PARAMETERS
    assert n_parameters(MidiBert(MidiBertConfig.preset("cpu"))) == CPU_PARAMETERS
    assert MidiBertConfig.preset("cpu", num_layers=2).num_layers == 2
    with pytest.raises(ValueError, match="unknown MIDI-BERT preset"):
        MidiBertConfig.preset("huge")


def test_paper_parameters_equal_official_key_list(shared_data: Path, paper_model: MidiBert) -> None:
    shapes = parse_key_list(shared_data / PRETRAIN_KEYS)
    listed = sum(math.prod(shape) for key, shape in shapes.items() if not key.endswith("position_ids"))
    assert listed == PAPER_PARAMETERS
    ours = {key: tuple(value.shape) for key, value in paper_model.state_dict().items()}
    assert ours == {key: shape for key, shape in shapes.items() if not key.endswith("position_ids")}


def test_paper_forward_under_no_grad(paper_model: MidiBert) -> None:
    tokens = random_tokens(torch.Generator().manual_seed(2), 1, 16)
    with torch.no_grad():
        out = paper_model(tokens)
        logits = MidiBertLM(paper_model)(tokens)
    assert len(out.hidden_states) == 13
    assert all(h.shape == (1, 16, 768) for h in out.hidden_states)
    assert torch.isfinite(out.last_hidden_state).all()
    assert [lg.shape[-1] for lg in logits] == list(CP_VOCAB_SIZES)


# ---------------------------------------------------------------- attention


def naive_relative_attention(attention: RelativeSelfAttention, hidden: torch.Tensor, mask: torch.Tensor):
    """Loops over batch, heads, i, j: softmax_j((q_i.k_j + q_i.d(i-j) + k_j.d(i-j)) / sqrt(d)) v_j."""
    batch, n, width = hidden.shape
    heads, size = attention.num_heads, attention.head_size
    q, k, v = (
        layer(hidden).view(batch, n, heads, size)
        for layer in (attention.query, attention.key, attention.value)
    )
    table = attention.distance_embedding.weight
    out = torch.zeros(batch, n, heads, size)
    for b in range(batch):
        for h in range(heads):
            for i in range(n):
                scores = torch.full((n,), -math.inf)
                for j in range(n):
                    if mask[b, j]:
                        d = table[i - j + attention.max_len - 1]
                        qi, kj = q[b, i, h], k[b, j, h]
                        scores[j] = (qi @ kj + qi @ d + kj @ d) / math.sqrt(size)
                out[b, i, h] = scores.softmax(0) @ v[b, :, h]
    return out.reshape(batch, n, width)


def test_relative_key_query_attention_matches_naive_loops() -> None:
    torch.manual_seed(3)
    attention = RelativeSelfAttention(MidiBertConfig(num_heads=2, hidden_size=8, max_len=6)).eval()
    torch.nn.init.normal_(attention.distance_embedding.weight)
    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    with torch.no_grad():
        expected = naive_relative_attention(attention, hidden, mask)
        torch.testing.assert_close(attention(hidden, mask), expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            attention(hidden), naive_relative_attention(attention, hidden, torch.ones(2, 5, dtype=bool))
        )


def test_padding_does_not_change_real_notes() -> None:
    torch.manual_seed(4)
    model = MidiBert(TINY).eval()
    generator = torch.Generator().manual_seed(4)
    tokens = random_tokens(generator, 2, 10, lengths=[10, 6])
    other = tokens.clone()
    other[1, 6:] = random_tokens(generator, 1, 4)[0]  # different content in the masked positions
    mask = torch.tensor([[True] * 10, [True] * 6 + [False] * 4])
    with torch.no_grad():
        a, b = model(tokens, mask).last_hidden_state, model(other, mask).last_hidden_state
    torch.testing.assert_close(a[1, :6], b[1, :6])
    assert not torch.allclose(a[1, 6:], b[1, 6:])


# ---------------------------------------------------------------- FiLM / MoFi


def test_film_is_exactly_identity_at_init() -> None:
    torch.manual_seed(5)
    film = FiLM(16)
    x = torch.randn(3, 7, 16)
    mode = mode_one_hot(torch.tensor([0, 1, 1]))
    assert torch.equal(mode, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    gamma, beta = film.coefficients(mode)
    assert torch.equal(gamma, torch.ones(3, 16)) and torch.equal(beta, torch.zeros(3, 16))
    assert torch.equal(film(x, mode), x)


def test_injection_positions() -> None:
    assert injection_position("before_layer_1", 12) == 0
    assert injection_position("after_layer_6", 12) == 6
    assert injection_position("before_layer_7", 12) == 6
    assert injection_position("after_last_layer", 12) == 12
    assert injection_position("none", 12) is None
    assert [injection_position("after_middle_layer", n) for n in (12, 4, 3, 2, 1)] == [6, 2, 1, 1, 1]
    for bad in ("after_layer_13", "before_layer_0", "middle"):
        with pytest.raises(ValueError, match="FiLM injection point"):
            injection_position(bad, 12)


@pytest.mark.parametrize(
    ("injection", "position"), [("before_layer_1", 0), ("after_layer_2", 2), ("after_last_layer", 3)]
)
def test_film_changes_exactly_its_layer(injection: str, position: int) -> None:
    torch.manual_seed(6)
    model = MoFi(MidiBert(TINY), injection).eval()
    tokens = random_tokens(torch.Generator().manual_seed(6), 2, 12)
    mode = mode_one_hot(torch.tensor([0, 1]))
    with torch.no_grad():
        plain = model.midibert(tokens).hidden_states
        assert all(torch.equal(a, b) for a, b in zip(model.encode(tokens, mode), plain, strict=True))
        torch.nn.init.normal_(model.film.cond[-1].weight)  # move FiLM away from the identity
        injected = model.encode(tokens, mode)
        for k in range(position):
            assert torch.equal(injected[k], plain[k])
        torch.testing.assert_close(injected[position], model.film(plain[position], mode))
        assert not torch.allclose(injected[position], plain[position])
        assert not torch.allclose(injected[-1], plain[-1])
    with pytest.raises(ValueError, match="needs the mode"):
        model(tokens)


def test_none_injection_has_no_film_parameters() -> None:
    model = MoFi(MidiBert(TINY), "none")
    assert model.film is None
    assert not [name for name, _ in model.named_parameters() if "film" in name]
    assert n_parameters(model) == n_parameters(model.midibert) + n_parameters(model.head)
    assert model(random_tokens(torch.Generator().manual_seed(7), 2, 5)).logits.shape == (2, 4)


# ---------------------------------------------------------------- head


def test_self_attentive_pooling_known_answers() -> None:
    torch.manual_seed(8)
    pooling = SelfAttentivePooling(6)
    hidden = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    attention = pooling(hidden, mask)
    assert attention.shape == (2, 4, 5)
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 4))
    assert torch.equal(attention[1, :, 2:], torch.zeros(4, 3))
    constant = torch.ones(1, 5, 6) * torch.arange(6.0)
    head = EmotionHead(6)
    pooled = head.attention(constant) @ constant
    torch.testing.assert_close(pooled, torch.arange(6.0).expand(1, 4, 6))


def test_attention_penalty_known_answers() -> None:
    orthogonal = torch.eye(4, 6)[None]  # each hop on its own note: A A^T = I
    assert attention_penalty(orthogonal).item() == 0.0
    uniform = torch.full((1, 4, 5), 0.2)  # A A^T = 0.2 everywhere
    expected = 4 * (0.2 - 1) ** 2 + 12 * 0.2**2
    assert attention_penalty(uniform).item() == pytest.approx(expected)


def test_head_sizes_match_midibert() -> None:
    head = EmotionHead(768)
    assert head.classifier[0].weight.shape == (256, 3072)
    assert head.classifier[2].weight.shape == (4, 256)
    assert head.attention.ws1.weight.shape == (128, 768) and head.attention.ws2.weight.shape == (4, 128)


# ---------------------------------------------------------------- checkpoints


def test_official_checkpoint_loads(official_state: dict[str, torch.Tensor]) -> None:
    assert "bert.embeddings.position_ids" in official_state  # tolerated and dropped
    model = load_midibert_checkpoint(official_state, MidiBertConfig.preset("paper"))
    layer = model.bert.encoder.layer[7]
    key = "bert.encoder.layer.7.attention.self.distance_embedding.weight"
    assert torch.equal(layer.attention.self.distance_embedding.weight, official_state[key])
    assert torch.equal(
        layer.output.LayerNorm.bias, official_state["bert.encoder.layer.7.output.LayerNorm.bias"]
    )
    assert torch.equal(model.word_emb[2].lut.weight, official_state["word_emb.2.lut.weight"])


def test_official_emotion_checkpoint_loads(
    shared_data: Path, official_state: dict[str, torch.Tensor]
) -> None:
    head_shapes = parse_key_list(shared_data / FINETUNE_KEYS)
    state = {f"midibert.{key}": value for key, value in official_state.items()}
    state |= {key: torch.randn(shape) for key, shape in head_shapes.items()}
    model = load_emotion_checkpoint({"state_dict": state, "epoch": 7}, MidiBertConfig.preset("paper"))
    assert torch.equal(model.head.classifier[0].weight, state["classifier.0.weight"])
    assert torch.equal(model.head.attention.ws2.weight, state["attention.ws2.weight"])
    assert torch.equal(model.midibert.in_linear.bias, state["midibert.in_linear.bias"])


def test_checkpoint_without_relative_attention_fails(official_state: dict[str, torch.Tensor]) -> None:
    state = {key: value for key, value in official_state.items() if "distance_embedding" not in key}
    with pytest.raises(
        ValueError, match=r"relative_key_query.*layer\.0\.attention\.self\.distance_embedding"
    ):
        load_midibert_checkpoint(state, MidiBertConfig.preset("paper"))


def test_checkpoint_shape_mismatch_and_key_errors(official_state: dict[str, torch.Tensor]) -> None:
    paper = MidiBertConfig.preset("paper")
    state = dict(official_state) | {"in_linear.weight": torch.zeros(768, 1000)}
    with pytest.raises(
        ValueError, match=r"in_linear\.weight: checkpoint \(768, 1000\) vs model \(768, 1024\)"
    ):
        load_midibert_checkpoint(state, paper)
    state = {key: value for key, value in official_state.items() if key != "in_linear.bias"}
    with pytest.raises(ValueError, match=r"missing keys: in_linear\.bias"):
        load_midibert_checkpoint(state | {"mask_lm.proj.0.weight": torch.zeros(4, 768)}, paper)
    with pytest.raises(ValueError, match=r"unexpected keys: bert\.embeddings\.word_embeddings\.weight"):
        load_midibert_checkpoint(official_state, MidiBertConfig(hf_unused_weights=False))


def test_checkpoint_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(9)
    source = MidiBert(TINY)
    path = tmp_path / "model.ckpt"
    torch.save({"epoch": 3, "best_acc": 0.5, "state_dict": source.state_dict()}, path)
    loaded = load_midibert_checkpoint(path, TINY)
    assert all(
        torch.equal(a, b)
        for a, b in zip(source.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    finetuned = MoFi(source, "none").state_dict()
    encoder = load_midibert_checkpoint(finetuned, TINY, prefix="midibert.")
    assert torch.equal(encoder.in_linear.weight, source.in_linear.weight)


# ---------------------------------------------------------------- MLM masking and loss


def test_mlm_masking_rates_and_padding() -> None:
    lengths_generator = torch.Generator().manual_seed(10)
    lengths = torch.randint(20, 513, (64,), generator=lengths_generator).tolist()
    tokens = random_tokens(lengths_generator, 64, 512, lengths)
    batch = mask_cp_tokens(tokens, torch.Generator().manual_seed(11))
    valid = batch.attention_mask
    assert valid.sum(1).tolist() == lengths
    assert not (batch.loss_mask & ~valid).any()
    assert batch.loss_mask.sum(1).tolist() == [max(1, round(0.15 * n)) for n in lengths]
    chosen = batch.loss_mask.sum().item()
    assert batch.loss_mask.sum().item() / valid.sum().item() == pytest.approx(0.15, abs=0.002)
    assert batch.masked.sum().item() / chosen == pytest.approx(0.8, abs=0.01)
    assert batch.randomized.sum().item() / chosen == pytest.approx(0.1, abs=0.01)
    mask_ids = torch.tensor(MidiBertConfig().mask_ids)
    assert (batch.inputs[batch.masked] == mask_ids).all()
    kept = batch.loss_mask & ~batch.masked & ~batch.randomized
    assert torch.equal(batch.inputs[~batch.loss_mask], tokens[~batch.loss_mask])
    assert torch.equal(batch.inputs[kept], tokens[kept])
    randomized = batch.inputs[batch.randomized]
    assert (randomized < torch.tensor(CP_VOCAB_SIZES) - 2).all()
    assert (randomized[:, 2] != tokens[batch.randomized][:, 2]).float().mean() > 0.9  # pitch: 86 choices
    again = mask_cp_tokens(tokens, torch.Generator().manual_seed(11))
    assert torch.equal(again.inputs, batch.inputs) and torch.equal(again.loss_mask, batch.loss_mask)
    other = mask_cp_tokens(tokens, torch.Generator().manual_seed(12))
    assert not torch.equal(other.loss_mask, batch.loss_mask)


def test_mlm_loss_known_answers() -> None:
    tokens = random_tokens(torch.Generator().manual_seed(13), 2, 8)
    loss_mask = torch.zeros(2, 8, dtype=torch.bool)
    loss_mask[:, :3] = True
    uniform = [torch.zeros(2, 8, size) for size in CP_VOCAB_SIZES]
    loss = mlm_loss(uniform, tokens, loss_mask)
    expected = sum(n * math.log(n) for n in CP_VOCAB_SIZES) / sum(CP_VOCAB_SIZES)
    assert loss.total.item() == pytest.approx(expected)
    assert [x.item() for x in loss.per_field] == pytest.approx([math.log(n) for n in CP_VOCAB_SIZES])
    perfect = [100 * one_hot(tokens[..., i], size).float() for i, size in enumerate(CP_VOCAB_SIZES)]
    assert mlm_loss(perfect, tokens, loss_mask).total.item() < 1e-6
    with pytest.raises(ValueError, match="no chosen notes"):
        mlm_loss(uniform, tokens, torch.zeros(2, 8, dtype=torch.bool))


# ---------------------------------------------------------------- training


def test_one_batch_overfit_drives_loss_down() -> None:
    torch.manual_seed(14)
    model = MoFi(MidiBert(TINY), "before_layer_1")
    generator = torch.Generator().manual_seed(14)
    tokens = random_tokens(generator, 8, 24, lengths=[24, 20, 16, 24, 12, 24, 18, 24])
    mask = tokens[..., 0] != MidiBertConfig().pad_ids[0]
    mode = mode_one_hot(torch.tensor([0, 1] * 4))
    labels = torch.tensor([0, 1, 2, 3] * 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(100):
        loss = cross_entropy(model(tokens, mode, mask).logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 50


def test_pretraining_resumes_exactly_after_a_stop(tmp_path):
    from merflow.models.midibert import MidiBertLM
    from merflow.training.pretraining import PretrainSettings, pretrain_mlm

    config = MidiBertConfig.preset(
        "cpu", num_layers=1, num_heads=2, hidden_size=32, intermediate_size=64, max_len=32
    )
    rng = np.random.default_rng(0)
    chunks = np.stack(
        [
            rng.integers(0, 4, (16, 32)),
            rng.integers(0, 16, (16, 32)),
            rng.integers(0, 86, (16, 32)),
            rng.integers(0, 64, (16, 32)),
        ],
        axis=-1,
    )
    cpu = torch.device("cpu")

    held_out = chunks[:5]

    def run(path, steps):
        torch.manual_seed(0)
        model = MidiBertLM(MidiBert(config))
        settings = PretrainSettings(
            steps=steps, batch_size=4, lr=1e-3, checkpoint_every=3, log_every=1, eval_every=2, warmup_steps=4
        )
        return pretrain_mlm(model, chunks[5:], settings, path, cpu, seed=0, held_out=held_out)

    straight = run(tmp_path / "a.pt", 6)
    run(tmp_path / "b.pt", 3)  # "killed" after 3 steps (its checkpoint survives)
    resumed = run(tmp_path / "b.pt", 6)
    assert resumed["steps"] == straight["steps"] == [1, 2, 3, 4, 5, 6]
    assert np.allclose(resumed["loss"], straight["loss"])
    assert np.allclose(resumed["accuracy"], straight["accuracy"])
    assert all(0 <= a <= 1 for a in straight["accuracy"]) and len(straight["accuracy"]) == 6
    assert resumed["steps_done"] == 6
    # held-out measures at step 0, every 2 steps and at the stop (step 3 of the cut run)
    assert straight["held_out"]["steps"] == [0, 2, 4, 6]
    assert resumed["held_out"]["steps"] == [0, 2, 3, 4, 6]
    for key in ("loss", "accuracy"):
        a, b = straight["held_out"][key], resumed["held_out"][key]
        assert np.allclose([a[0], a[1], a[2], a[3]], [b[0], b[1], b[3], b[4]])
    seconds = resumed["held_out"]["train_seconds"]
    assert seconds == sorted(seconds) and seconds[0] < 1.0  # training time, summed over both calls
    assert resumed["train_seconds"] >= seconds[-1]


def test_warmup_raises_the_learning_rate_linearly_then_holds_it():
    from merflow.training.pretraining import PretrainSettings

    settings = PretrainSettings(lr=1e-3, warmup_steps=4)
    assert [settings.learning_rate(k) for k in (1, 2, 4, 5, 100)] == pytest.approx(
        [2.5e-4, 5e-4, 1e-3, 1e-3, 1e-3]
    )
    assert PretrainSettings(lr=1e-3).learning_rate(1) == 1e-3


def test_pretraining_time_budget_counts_every_resumption(tmp_path):
    from merflow.models.midibert import MidiBertLM
    from merflow.training.pretraining import PretrainSettings, pretrain_mlm

    config = MidiBertConfig.preset("cpu", num_layers=1, num_heads=2, hidden_size=32, intermediate_size=64)
    chunks = np.stack([np.random.default_rng(0).integers(0, v, (8, 16)) for v in (4, 16, 86, 64)], axis=-1)
    settings = PretrainSettings(steps=50, batch_size=2, lr=1e-3, checkpoint_every=10, max_seconds=0.0)
    model = MidiBertLM(MidiBert(config))
    first = pretrain_mlm(model, chunks, settings, tmp_path / "c.pt", torch.device("cpu"), seed=0)
    assert first["steps_done"] == 1  # the budget (0 s) is spent by the first step
    again = pretrain_mlm(model, chunks, settings, tmp_path / "c.pt", torch.device("cpu"), seed=0)
    assert again["steps_done"] == 1
    assert again["train_seconds"] == pytest.approx(first["train_seconds"], abs=0.05)


def test_held_out_evaluation_is_deterministic_and_leaves_training_state_alone():
    from merflow.models.midibert import MidiBertLM
    from merflow.training.pretraining import mlm_evaluate

    config = MidiBertConfig.preset("cpu", num_layers=1, num_heads=2, hidden_size=32, intermediate_size=64)
    rng = np.random.default_rng(1)
    limits = (4, 16, 86, 64)
    chunks = np.stack([rng.integers(0, v, (6, 24)) for v in limits], axis=-1)
    chunks[0, 12:] = np.array(MidiBertConfig().pad_ids)  # a short chunk: padding is never scored
    torch.manual_seed(0)
    model = MidiBertLM(MidiBert(config)).train()
    rng_state = torch.get_rng_state()
    first = mlm_evaluate(model, chunks, CP_VOCAB_SIZES, torch.device("cpu"), batch_size=4)
    second = mlm_evaluate(model, chunks, CP_VOCAB_SIZES, torch.device("cpu"), batch_size=2)
    assert first == pytest.approx(second)  # the same masks whatever the batching
    assert model.training and torch.equal(torch.get_rng_state(), rng_state)
    loss, accuracy = first
    assert 0 <= accuracy <= 1 and loss > 0
    with pytest.raises(ValueError, match="no real note"):
        mlm_evaluate(model, chunks[:1, 12:], CP_VOCAB_SIZES, torch.device("cpu"))


def _hf_relative_scores(attention, q, k):
    """HF BertSelfAttention's relative_key_query terms: a gathered (n, n, head_size) table."""
    n = q.shape[-2]
    distance = attention.distance_embedding(relative_distance_index(n, n, attention.max_len, q.device))
    return torch.einsum("bhld,lrd->bhlr", q, distance) + torch.einsum("bhrd,lrd->bhlr", k, distance)


@pytest.mark.parametrize("n", [1, 7, 32])
def test_skewed_relative_scores_equal_hf_form_values_and_gradients(n):
    torch.manual_seed(0)
    attention = RelativeSelfAttention(MidiBertConfig.preset("cpu", max_len=32))
    q = torch.randn(2, attention.num_heads, n, attention.head_size, requires_grad=True)
    k = torch.randn(2, attention.num_heads, n, attention.head_size, requires_grad=True)
    ours, reference = attention.relative_scores(q, k), _hf_relative_scores(attention, q, k)
    assert torch.allclose(ours, reference, atol=1e-5)
    weights = torch.randn_like(ours)
    params = [q, k, attention.distance_embedding.weight]
    grads = torch.autograd.grad((ours * weights).sum(), params)
    expected = torch.autograd.grad((reference * weights).sum(), params)
    for grad, want in zip(grads, expected, strict=True):
        assert torch.allclose(grad, want, atol=1e-5)


def test_relative_attention_with_a_mask_equals_the_hf_computation():
    """The whole attention (skewed relative scores, mask, softmax, values) against HF's form."""
    torch.manual_seed(1)
    attention = RelativeSelfAttention(MidiBertConfig.preset("cpu", max_len=32)).eval()
    hidden = torch.randn(3, 20, attention.query.in_features)
    mask = torch.arange(20)[None, :] < torch.tensor([20, 7, 1])[:, None]
    q, k, v = (
        attention._split_heads(layer(hidden)) for layer in (attention.query, attention.key, attention.value)
    )
    scores = (q @ k.transpose(-1, -2) + _hf_relative_scores(attention, q, k)) / math.sqrt(attention.head_size)
    scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
    expected = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(hidden.shape)
    with torch.no_grad():
        assert torch.allclose(attention(hidden, mask), expected, atol=1e-5)
