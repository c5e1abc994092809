"""MIDI-BERT (Chou et al. 2021) on compound-word (CP) tokens, in plain PyTorch.

Conventions
-----------
* Input: CP tokens, int64 of shape (batch, n_notes, 4), one compound word per note with
  the fields (Bar, Position, Pitch, Duration) in that order (:data:`CP_FIELDS`) and the
  per-field vocabularies of MIDI-BERT's ``CP.pkl`` (``midibert_reference/CP_vocab.json``):
  :data:`CP_VOCAB_SIZES` = (4, 18, 88, 66) ids. In every field the last two ids are
  ``<PAD>`` (size - 2) and ``<MASK>`` (size - 1) (:attr:`MidiBertConfig.pad_ids`,
  :attr:`MidiBertConfig.mask_ids`).
* A note is padding when its Bar field is ``Bar <PAD>``, MIDI-BERT's rule
  (:func:`valid_note_mask`).
* ``attention_mask``: bool (or 0/1) of shape (batch, n_notes), true for the notes that may
  be attended to. ``None`` attends to every position, padding included, which is what
  MIDI-BERT's sequence-level fine-tuning does (it passes all ones).
* Hidden states: a tuple of ``num_layers + 1`` float tensors (batch, n_notes, hidden_size),
  as HF's ``output_hidden_states``: index 0 is the embedding output (the input of layer 1),
  index k the output of layer k.
* Hook positions: position k (0..num_layers) is "after layer k", position 0 "between the
  embeddings and layer 1". An optional ``hook(k, h) -> h`` (:data:`LayerHook`) is applied at
  every position and its result is both what the next layer sees and ``hidden_states[k]``.
  MoFi's FiLM injection (:mod:`merflow.models.film`) is such a hook.
* Parameter names (``state_dict`` keys) and shapes are those of MIDI-BERT's ``MidiBert``
  module built on HF transformers 4.x ``BertModel``, so an official checkpoint loads with
  ``load_state_dict`` (see :mod:`merflow.models.checkpoint`, which drops the
  ``bert.embeddings.position_ids`` buffer).

Architecture (MIDI-BERT's ``MidiBert`` with ``BertConfig(position_embedding_type=
"relative_key_query", max_position_embeddings=512)``, all other settings BERT-base defaults):

1. Four embeddings ``word_emb.i.lut`` (size_i x 256), each multiplied by sqrt(256) = 16,
   concatenated to 1024 features, then ``in_linear`` 1024 -> hidden_size.
2. BERT embeddings: plus ``token_type_embeddings`` row 0 (HF adds token type 0 when no
   ``token_type_ids`` are given), no absolute position embedding (HF adds it only for
   ``"absolute"``), LayerNorm (eps 1e-12), dropout 0.1.
3. ``num_layers`` post-LayerNorm BERT layers. Self-attention with relative key-query
   position scores (Huang et al. 2020, "Improve transformer models with better relative
   position embeddings", method 4, as HF ``BertSelfAttention``)::

       s_ij = (q_i . k_j + q_i . d(i - j) + k_j . d(i - j)) / sqrt(head_size)

   with ``d = distance_embedding`` of (2 * max_len - 1) x head_size rows, shared by all
   heads, indexed by i - j + max_len - 1; softmax over j (masked keys excluded), dropout,
   weighted sum of values; output dense + dropout + residual LayerNorm; intermediate
   dense + GELU (erf form); output dense + dropout + residual LayerNorm.
4. HF weights that this path never uses (``bert.embeddings.word_embeddings`` 30522 x hidden,
   ``bert.embeddings.position_embeddings``, ``bert.pooler``) exist when
   ``config.hf_unused_weights`` so that official checkpoints load strictly; they are
   24.4M of the 111.1M parameters of the ``paper`` preset and are left out of ``cpu``.

Initialisation follows the original: the BERT part as HF (normal, std 0.02, for linear and
embedding weights, zero biases, LayerNorm 1 / 0); ``word_emb``, ``in_linear`` and the MLM
projections with PyTorch defaults (MIDI-BERT builds them outside ``BertModel``).

Presets (:data:`PRESETS`): ``paper`` (12 layers, 12 heads, hidden 768, intermediate 3072:
111,100,160 parameters, the sum of the official checkpoint's key list; the MLM head adds
135,344), ``medium`` (6 layers, 6 heads, hidden 384, intermediate 1536: 11,479,808
parameters; the largest size of the CPU size sweep), ``cpu`` (4 layers, 4 heads, hidden 256,
intermediate 1024: 3,729,408 parameters without the unused HF weights; MLM head 45,232) and
``tiny`` (2 layers, 4 heads,
hidden 128, intermediate 512: 638,784 parameters, for the 2-hour CPU table): one masked-LM step (forward,
backward, AdamW) on 8 chunks of 512 notes takes about 3.7 s of CPU time on one thread, so
an epoch over ~10,000 pretraining chunks is about an hour on 2 cores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

CP_FIELDS = ("Bar", "Position", "Pitch", "Duration")
CP_VOCAB_SIZES = (4, 18, 88, 66)
"""Ids per CP field, ``<PAD>`` and ``<MASK>`` included (MIDI-BERT's ``CP.pkl``)."""
PAD_OFFSET_FROM_END = 2
MASK_OFFSET_FROM_END = 1
N_SPECIAL_TOKENS = 2
CP_EMBEDDING_SIZE = 256
MAX_LEN = 512
HF_VOCAB_SIZE = 30522
HF_TYPE_VOCAB_SIZE = 2
LAYER_NORM_EPS = 1e-12
INITIALIZER_RANGE = 0.02
DROPOUT = 0.1

LayerHook = Callable[[int, Tensor], Tensor]
"""``hook(position, hidden) -> hidden`` with hidden (batch, n_notes, hidden_size)."""


@dataclass(frozen=True)
class MidiBertConfig:
    """Sizes of a MIDI-BERT model; :meth:`preset` gives the named ones.

    ``hf_unused_weights`` keeps the HF ``BertModel`` parameters that the CP input path never
    uses (word and absolute position embeddings, pooler), needed to load official
    checkpoints strictly.
    """

    num_layers: int = 12
    num_heads: int = 12
    hidden_size: int = 768
    intermediate_size: int = 3072
    max_len: int = MAX_LEN
    vocab_sizes: tuple[int, ...] = CP_VOCAB_SIZES
    embedding_size: int = CP_EMBEDDING_SIZE
    dropout: float = DROPOUT
    attention_dropout: float = DROPOUT
    layer_norm_eps: float = LAYER_NORM_EPS
    initializer_range: float = INITIALIZER_RANGE
    hf_unused_weights: bool = True

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}"
            )
        if len(self.vocab_sizes) != len(CP_FIELDS):
            raise ValueError(f"vocab_sizes needs one size per CP field {CP_FIELDS}, got {self.vocab_sizes}")

    @property
    def head_size(self) -> int:
        """Features per attention head."""
        return self.hidden_size // self.num_heads

    @property
    def pad_ids(self) -> tuple[int, ...]:
        """``<PAD>`` id of each CP field."""
        return tuple(size - PAD_OFFSET_FROM_END for size in self.vocab_sizes)

    @property
    def mask_ids(self) -> tuple[int, ...]:
        """``<MASK>`` id of each CP field."""
        return tuple(size - MASK_OFFSET_FROM_END for size in self.vocab_sizes)

    @classmethod
    def preset(cls, name: str, **overrides: object) -> MidiBertConfig:
        """The named preset of :data:`PRESETS` (``paper`` or ``cpu``), with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown MIDI-BERT preset {name!r}; known: {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)


PRESETS: dict[str, MidiBertConfig] = {
    "paper": MidiBertConfig(),
    "medium": MidiBertConfig(
        num_layers=6, num_heads=6, hidden_size=384, intermediate_size=1536, hf_unused_weights=False
    ),
    "cpu": MidiBertConfig(
        num_layers=4, num_heads=4, hidden_size=256, intermediate_size=1024, hf_unused_weights=False
    ),
    "tiny": MidiBertConfig(
        num_layers=2, num_heads=4, hidden_size=128, intermediate_size=512, hf_unused_weights=False
    ),
}


def valid_note_mask(tokens: Tensor, vocab_sizes: tuple[int, ...] = CP_VOCAB_SIZES) -> Tensor:
    """True for real notes of CP ``tokens`` (batch, n_notes, 4): those whose Bar is not ``<PAD>``.

    Returns bool (batch, n_notes).
    """
    return tokens[..., 0] != vocab_sizes[0] - PAD_OFFSET_FROM_END


@dataclass(frozen=True)
class MidiBertOutput:
    """``hidden_states``: ``num_layers + 1`` tensors (batch, n_notes, hidden_size), embeddings first."""

    hidden_states: tuple[Tensor, ...]

    @property
    def last_hidden_state(self) -> Tensor:
        """Output of the last layer, (batch, n_notes, hidden_size)."""
        return self.hidden_states[-1]


class CPEmbedding(nn.Module):
    """Embedding of one CP field scaled by sqrt(size) (MIDI-BERT's ``Embeddings``)."""

    def __init__(self, n_tokens: int, size: int) -> None:
        super().__init__()
        self.lut = nn.Embedding(n_tokens, size)
        self.scale = math.sqrt(size)

    def forward(self, ids: Tensor) -> Tensor:
        """ids (...) int64 -> (..., size)."""
        return self.lut(ids) * self.scale


class BertEmbeddings(nn.Module):
    """HF ``BertEmbeddings`` on ``inputs_embeds``, relative positions: + token type 0, LayerNorm, dropout."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        if config.hf_unused_weights:
            self.word_embeddings = nn.Embedding(HF_VOCAB_SIZE, config.hidden_size)
            self.position_embeddings = nn.Embedding(config.max_len, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(HF_TYPE_VOCAB_SIZE, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, inputs_embeds: Tensor) -> Tensor:
        """(batch, n_notes, hidden) -> (batch, n_notes, hidden)."""
        return self.dropout(self.LayerNorm(inputs_embeds + self.token_type_embeddings.weight[0]))


def relative_distance_index(n_queries: int, n_keys: int, max_len: int, device: torch.device) -> Tensor:
    """``distance_embedding`` row of each (query i, key j): i - j + max_len - 1, int64 (n_queries, n_keys)."""
    queries = torch.arange(n_queries, device=device)[:, None]
    keys = torch.arange(n_keys, device=device)[None, :]
    return queries - keys + max_len - 1


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with relative key-query position scores (HF ``BertSelfAttention``)."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_heads
        self.head_size = config.head_size
        self.max_len = config.max_len
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.distance_embedding = nn.Embedding(2 * config.max_len - 1, config.head_size)
        self.dropout = nn.Dropout(config.attention_dropout)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(batch, n, hidden) -> (batch, heads, n, head_size)."""
        batch, n, _ = x.shape
        return x.view(batch, n, self.num_heads, self.head_size).transpose(1, 2)

    def relative_scores(self, q: Tensor, k: Tensor) -> Tensor:
        """HF's ``relative_key_query`` terms ``q_i . D[i - j] + k_j . D[i - j]`` -> ``(batch, heads, n, n)``.

        ``q``, ``k``: ``(batch, heads, n, head_size)``; ``D[i - j]`` is ``distance_embedding`` row
        ``i - j + max_len - 1``. Instead of gathering an ``(n, n, head_size)`` table of distance
        embeddings (as HF does), each of ``q`` and ``k`` is multiplied by the ``2n - 1`` rows of
        the distances that occur, and the ``(n, 2n - 1)`` products are skewed into ``(n, n)`` by
        a gather: the same sums in the same order (bit-identical here), 1.5x faster for the
        attention's forward and backward at n = 512 on 2 CPU cores
        (``benchmarks/bench_relative_attention.py``).
        """
        n = q.shape[-2]
        table = self.distance_embedding.weight[self.max_len - n : self.max_len + n - 1].to(q.dtype)
        offset = relative_distance_index(n, n, n, q.device)  # i - j + n - 1, in 0..2n-2
        shape = (*q.shape[:-2], n, n)
        by_query = (q @ table.T).gather(-1, offset.expand(shape))  # [i, j] = q_i . D[i - j]
        by_key = (k @ table.T).gather(-1, offset.T.expand(shape))  # [j, i] = k_j . D[i - j]
        return by_query + by_key.transpose(-1, -2)

    def forward(self, hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """hidden (batch, n, hidden), attention_mask bool (batch, n) or None -> context (batch, n, hidden)."""
        n = hidden.shape[1]
        if n > self.max_len:
            raise ValueError(f"{n} notes exceed the maximum length {self.max_len}")
        q = self._split_heads(self.query(hidden))
        k = self._split_heads(self.key(hidden))
        v = self._split_heads(self.value(hidden))
        scores = (q @ k.transpose(-1, -2) + self.relative_scores(q, k)) / math.sqrt(self.head_size)
        if attention_mask is not None:
            scores = scores.masked_fill(~attention_mask[:, None, None, :], torch.finfo(scores.dtype).min)
        probs = self.dropout(scores.softmax(dim=-1))
        context = probs @ v  # (batch, heads, n, head_size)
        return context.transpose(1, 2).reshape(hidden.shape)


class DenseAddNorm(nn.Module):
    """LayerNorm(residual + dropout(dense(x))): HF ``BertSelfOutput`` and ``BertOutput``."""

    def __init__(self, in_features: int, config: MidiBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        """x (..., in_features), residual (..., hidden) -> (..., hidden)."""
        return self.LayerNorm(residual + self.dropout(self.dense(x)))


class BertAttention(nn.Module):
    """Self-attention followed by its output projection and residual LayerNorm."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.self = RelativeSelfAttention(config)
        self.output = DenseAddNorm(config.hidden_size, config)

    def forward(self, hidden: Tensor, attention_mask: Tensor | None) -> Tensor:
        """(batch, n, hidden) -> (batch, n, hidden)."""
        return self.output(self.self(hidden, attention_mask), hidden)


class BertIntermediate(nn.Module):
    """dense hidden -> intermediate, then GELU."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = nn.GELU()

    def forward(self, hidden: Tensor) -> Tensor:
        """(..., hidden) -> (..., intermediate)."""
        return self.activation(self.dense(hidden))


class BertLayer(nn.Module):
    """One post-LayerNorm transformer layer."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = DenseAddNorm(config.intermediate_size, config)

    def forward(self, hidden: Tensor, attention_mask: Tensor | None) -> Tensor:
        """(batch, n, hidden) -> (batch, n, hidden)."""
        attended = self.attention(hidden, attention_mask)
        return self.output(self.intermediate(attended), attended)


class BertEncoder(nn.Module):
    """The stack of layers (``bert.encoder.layer.i``)."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_layers))


class BertPooler(nn.Module):
    """HF's pooler weights, kept for checkpoint compatibility; MIDI-BERT never uses its output."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)


class BertBackbone(nn.Module):
    """HF ``BertModel`` fed with ``inputs_embeds`` (the ``bert.`` part of MIDI-BERT)."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        if config.hf_unused_weights:
            self.pooler = BertPooler(config)
        self.apply(lambda module: _init_bert_weights(module, config.initializer_range))

    def forward(
        self, inputs_embeds: Tensor, attention_mask: Tensor | None = None, hook: LayerHook | None = None
    ) -> tuple[Tensor, ...]:
        """inputs_embeds (batch, n, hidden) -> ``num_layers + 1`` hidden states (batch, n, hidden)."""
        hidden = self.embeddings(inputs_embeds)
        states = []
        for position in range(len(self.encoder.layer) + 1):
            if position > 0:
                hidden = self.encoder.layer[position - 1](hidden, attention_mask)
            if hook is not None:
                hidden = hook(position, hidden)
            states.append(hidden)
        return tuple(states)


def _init_bert_weights(module: nn.Module, std: float) -> None:
    """HF ``BertPreTrainedModel._init_weights``."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class MidiBert(nn.Module):
    """MIDI-BERT encoder: CP embeddings -> ``in_linear`` -> BERT with relative key-query attention."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.config = config
        self.word_emb = nn.ModuleList(CPEmbedding(size, config.embedding_size) for size in config.vocab_sizes)
        self.in_linear = nn.Linear(config.embedding_size * len(config.vocab_sizes), config.hidden_size)
        self.bert = BertBackbone(config)

    def embed(self, tokens: Tensor) -> Tensor:
        """CP tokens int64 (batch, n, 4) -> merged embeddings (batch, n, hidden), before BERT's LayerNorm."""
        fields = [emb(tokens[..., i]) for i, emb in enumerate(self.word_emb)]
        return self.in_linear(torch.cat(fields, dim=-1))

    def forward(
        self, tokens: Tensor, attention_mask: Tensor | None = None, hook: LayerHook | None = None
    ) -> MidiBertOutput:
        """CP tokens int64 (batch, n, 4), optional mask (batch, n) and hook -> all hidden states."""
        mask = None if attention_mask is None else attention_mask.to(torch.bool)
        return MidiBertOutput(self.bert(self.embed(tokens), mask, hook))


class MaskedLMHead(nn.Module):
    """One linear classifier per CP field on the last hidden state (MIDI-BERT's ``MLM``)."""

    def __init__(self, config: MidiBertConfig) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(config.hidden_size, size) for size in config.vocab_sizes)

    def forward(self, hidden: Tensor) -> list[Tensor]:
        """(batch, n, hidden) -> logits (batch, n, vocab_size_i) for each CP field."""
        return [proj(hidden) for proj in self.proj]


class MidiBertLM(nn.Module):
    """MIDI-BERT with its masked-LM head (``midibert.*`` and ``mask_lm.proj.i`` keys)."""

    def __init__(self, midibert: MidiBert) -> None:
        super().__init__()
        self.midibert = midibert
        self.mask_lm = MaskedLMHead(midibert.config)

    def forward(self, tokens: Tensor, attention_mask: Tensor | None = None) -> list[Tensor]:
        """CP tokens (batch, n, 4), mask (batch, n) -> logits (batch, n, vocab_size_i) per field."""
        return self.mask_lm(self.midibert(tokens, attention_mask).last_hidden_state)
