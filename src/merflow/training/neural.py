"""Training of the neural models (LSTM-Attn, short-chunk ResNet, Zhao & Yoshii, Zhu et al.) on one partition.

Conventions
-----------
- Inputs: the clip manifest (labels, splits; :func:`merflow.datasets.splits.split_for_part`) and the
  feature tables an estimator reads (:data:`INPUTS`), keyed by ``clip_id``:

  * ``tokens``: a token table of :mod:`merflow.features.caches` (``clip_id``, ``tokens`` list of
    ids, ``n_tokens``), of the model's ``tokenizer``; the first ``max_tokens`` tokens are kept;
  * ``frames``: the audio frame cache (``clip_id``, ``n_frames`` and one nested-list column
    ``(n_rows, n_frames)`` per feature of :mod:`merflow.music.audio_features`).

  Per estimator (names = the models' ``forward`` arguments):

  ================== ============================================================
  lstm_attn          ``tokens`` (MIDI-like or REMI)
  short_chunk_resnet ``chunks`` <- ``log_mel`` (n_mels, T), cut into chunks
  zhao_yoshii        ``tokens`` (MIDI-like), ``chroma`` (12, T), ``mfcc`` <- ``mfcc_coarse``
                     (23, T: 23 mel bands, see :mod:`merflow.music.audio_features`)
  zhu                ``tokens`` (refined MIDI-like), ``acoustic`` (150, T) =
                     :func:`merflow.models.zhu.mixed_acoustic_features`, or ``acoustic``
                     <- ``stft`` (257, T) for the ``stft_input`` ablation
  ================== ============================================================

  Only the frame columns a model reads are loaded from the cache
  (:func:`merflow.training.neural_inputs.frame_columns`; clip sets and batches:
  :mod:`merflow.training.neural_inputs`).

  Only the inputs of the enabled branches are required (e.g. Zhao & Yoshii ``symbolic_only``
  reads no frames). A clip of the partition that lacks a required input (absent from the table,
  or without tokens) is dropped and counted in ``history["missing"]`` (per input) and
  ``history["n_dropped"]``.
- A frame cache without a column a model needs (written by an older version) raises
  :class:`merflow.training.neural_inputs.MissingFeatureError` instead of substituting another feature.
- Frames: a clip longer than ``max_frames`` is cropped to ``max_frames`` (random start when
  training, centred when evaluating); a batch is padded at the end to its longest clip with
  each row's minimum (silence in dB). The short-chunk ResNet instead sees one random chunk of
  ``chunk_seconds`` per clip and step in training, and all chunks of the whole clip at test
  (clip logits = mean of its chunk logits, :func:`merflow.training.clip_aggregation.clip_logits`).
- Tokens: a batch is padded with id 0 at the end; ``token_mask`` (True = real token) hides it.
- Scores: every model's item scores are 4Q logits (``(n_items, 4)``, softmax = probabilities):
  the logits of LSTM-Attn, the short-chunk ResNet and Zhu et al.; for Zhao & Yoshii the log of
  its ``P(V) * P(A)`` quadrant probabilities (:meth:`ZhaoYoshii.quadrant_probabilities`), whose
  softmax gives those probabilities back. Prediction tables come from
  :func:`merflow.training.clip_aggregation.prediction_tables` (columns of :mod:`merflow.training.classical`).
- Training: Adam (``lr``), at most ``epochs`` epochs of shuffled, length-bucketed batches of
  ``batch_size`` clips (:mod:`merflow.training.length_buckets`: clips of similar token count, or frame
  count for audio-only models, share a batch; at least 2 a batch, as BatchNorm needs two),
  each model's own ``loss``; early stopping when the validation clip accuracy has not improved
  for ``patience`` epochs (ties broken by the lower validation cross-entropy of the clip
  probabilities); the best epoch's weights are restored. Seeded by
  :func:`merflow.training.torch_utils.seed_everything` (initialisation, batch order, crops).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from merflow.core.config import NEURAL_TRAINING_KEYS
from merflow.models.baselines import (
    LSTMAttn,
    LSTMAttnConfig,
    ShortChunkResNet,
    ShortChunkResNetConfig,
    split_into_chunks,
)
from merflow.models.blocks import N_QUADRANTS
from merflow.models.zhao_yoshii import ZhaoYoshii, ZhaoYoshiiConfig
from merflow.models.zhu import Zhu, ZhuConfig
from merflow.music.audio_features import AudioFeatureConfig
from merflow.tokenizers import midi_like, refined_midi_like, remi
from merflow.training.clip_aggregation import ChunkSet, accuracy, clip_logits, prediction_tables
from merflow.training.length_buckets import evaluation_batches, training_batches
from merflow.training.neural_inputs import (
    SPLITS,
    ClipSet,
    build_clip_set,
    frame_columns,
    frame_rows,
    model_batch,
)
from merflow.training.pretraining import special_token_vocab
from merflow.training.torch_utils import Resume, seed_everything, train_with_early_stopping

log = logging.getLogger(__name__)

#: Estimators trained here.
ESTIMATORS = ("lstm_attn", "short_chunk_resnet", "zhao_yoshii", "zhu")
#: Input tables each estimator can read (``tokens``: token table, ``frames``: audio frame cache).
INPUTS: dict[str, tuple[str, ...]] = {
    "lstm_attn": ("tokens",),
    "short_chunk_resnet": ("frames",),
    "zhao_yoshii": ("tokens", "frames"),
    "zhu": ("tokens", "frames"),
}
#: Vocabulary size of each token table.
VOCAB_SIZES = {
    "midi_like": midi_like.VOCAB_SIZE,
    "midi_like_pedal": midi_like.VOCAB_SIZE,
    "refined_midi_like": refined_midi_like.VOCAB_SIZE,
    "remi": remi.VOCAB_SIZE,
}
#: Smallest probability whose log is taken (Zhao & Yoshii's scores).
MIN_PROBABILITY = 1e-12


@dataclass(frozen=True)
class NeuralSettings:
    """The config's ``neural`` section (a model's ``training`` entry over it), plus the frame rate.

    ``lr`` and ``weight_decay`` are Adam's (``torch.optim.Adam``: L2 added to the gradient, as
    EMOPIA_cls); ``restart_epochs`` > 0 anneals the learning rate on a cosine with warm
    restarts every that many epochs (``CosineAnnealingWarmRestarts(T_0)``, stepped once per
    epoch as EMOPIA_cls's Lightning runner does), 0 keeps it constant. ``patience`` = ``epochs``
    or more trains every epoch, testing the best validation epoch (EMOPIA_cls's protocol).
    """

    preset: str = "cpu"
    epochs: int = 30
    patience: int = 5
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.0
    restart_epochs: int = 0
    max_tokens: int = 1024
    max_frames: int = 1300
    frame_rate_hz: float = AudioFeatureConfig().frame_rate

    #: Keys a model's ``training`` entry may override (all but the preset).
    OVERRIDABLE = tuple(key for key in NEURAL_TRAINING_KEYS if key != "preset")

    @classmethod
    def from_config(
        cls,
        neural: dict[str, Any],
        frame_rate_hz: float | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> NeuralSettings:
        """Settings from the config's ``neural`` section, a model's ``training`` ``overrides``
        (keys of :data:`OVERRIDABLE`) and the frame cache's ``frame_rate_hz``."""
        unknown = sorted(set(overrides or {}) - set(cls.OVERRIDABLE))
        if unknown:
            raise ValueError(f"a model's training entry cannot set {unknown}; it may set {cls.OVERRIDABLE}")
        merged = {**neural, **(overrides or {})}
        keys = ("preset", *cls.OVERRIDABLE)
        rate = {} if frame_rate_hz is None else {"frame_rate_hz": float(frame_rate_hz)}
        return cls(**{key: merged[key] for key in keys if key in merged}, **rate)


def neural_model_config(
    settings: NeuralSettings, model_settings: dict[str, Any], rows: dict[str, int]
) -> Any:
    """The model config of ``model_settings`` (preset, ablation) for frame features of ``rows`` rows."""
    estimator = model_settings["estimator"]
    ablation = model_settings.get("ablation", "full")
    vocab_size = VOCAB_SIZES[model_settings.get("tokenizer", "midi_like")]
    if estimator in ("lstm_attn", "short_chunk_resnet") and ablation != "full":
        raise ValueError(f"{estimator} has no ablations; got {ablation!r}")
    if estimator == "lstm_attn":
        penalty = (
            {"penalty_weight": model_settings["penalty_weight"]} if "penalty_weight" in model_settings else {}
        )
        reads_padding = model_settings.get("padding", "masked") == "read"
        return LSTMAttnConfig.preset(
            settings.preset, vocab_size=vocab_size, reads_padding=reads_padding, **penalty
        )
    if estimator == "short_chunk_resnet":
        return ShortChunkResNetConfig.preset(settings.preset, n_mels=rows.get("log_mel", 128))
    if estimator == "zhao_yoshii":
        config = ZhaoYoshiiConfig.preset(
            settings.preset, vocab_size=vocab_size, mfcc_rows=rows.get("mfcc_coarse", 23)
        )
        return config.with_ablation(ablation)
    if estimator == "zhu":
        return ZhuConfig.preset(
            settings.preset,
            special_token_vocab(vocab_size)[0],  # <PAD>, <MASK> of the masked-LM pretraining
            n_mfcc=rows.get("mfcc", 20),
            n_mels=rows.get("log_mel", 128),
            stft_rows=rows.get("stft", 257),
        ).with_ablation(ablation)
    raise ValueError(f"unknown neural estimator {estimator!r}; choose from {ESTIMATORS}")


def build_model(model_config: Any) -> nn.Module:
    """The model of ``model_config`` (randomly initialised), its 4-D weights in channels-last layout.

    Channels-last convolutions are faster on CPU (one Zhu et al. `cpu` training step: 0.75 s ->
    0.58 s, ``benchmarks/bench_training_step.py``); the layout changes no shape or parameter, only
    the float rounding of the convolutions. Training and inference build models here, so both
    use the same layout.
    """
    classes = {
        LSTMAttnConfig: LSTMAttn,
        ShortChunkResNetConfig: ShortChunkResNet,
        ZhaoYoshiiConfig: ZhaoYoshii,
        ZhuConfig: Zhu,
    }
    return classes[type(model_config)](model_config).to(memory_format=torch.channels_last)


def frame_columns_for(settings: NeuralSettings, model_settings: dict[str, Any]) -> list[str]:
    """Columns of the frame cache to load for ``model_settings`` (with ``clip_id`` and ``n_frames``)."""
    return ["clip_id", "n_frames", *frame_columns(neural_model_config(settings, model_settings, {}))]


def item_scores(model: nn.Module, output: Any) -> Tensor:
    """4Q logits ``(batch, 4)`` of a forward ``output`` (see the module conventions)."""
    if isinstance(model, ShortChunkResNet):
        return output
    if isinstance(model, ZhaoYoshii):
        return torch.log(model.quadrant_probabilities(output).clamp_min(MIN_PROBABILITY))
    if isinstance(model, Zhu):
        return output.quadrant_logits
    return output.logits


def _to(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {name: value.to(device) for name, value in batch.items()}


def evaluation_items(clips: ClipSet, chunk_frames: int | None) -> tuple[ChunkSet, list[np.ndarray] | None]:
    """The scored items of ``clips``: one per clip, or every chunk of every clip (short-chunk ResNet).

    Returns:
        A :class:`~merflow.training.clip_aggregation.ChunkSet` index of the items (``label``, ``clip``,
        ``clip_ids``; no tokens) and, for chunk models, the chunks ``(n_rows, chunk_frames)``.
    """
    if chunk_frames is None:
        clip = np.arange(len(clips))
        chunks = None
    else:
        per_clip = [split_into_chunks(frames, chunk_frames) for frames in clips.inputs["chunks"]]
        clip = np.repeat(np.arange(len(clips)), [len(c) for c in per_clip])
        chunks = [chunk for clip_chunks in per_clip for chunk in clip_chunks]
    index = ChunkSet(
        tokens=np.zeros((len(clip), 0), dtype=np.int64),
        minor=np.zeros(len(clip), dtype=np.int64),
        label=clips.labels[clip],
        clip=clip,
        clip_ids=list(clips.clip_ids),
    )
    return index, chunks


def batching_lengths(model: nn.Module, lengths: np.ndarray) -> np.ndarray:
    """The lengths that batches group ``lengths`` ``(n_items,)`` by: all equal for a model that
    reads its padding (EMOPIA_cls's LSTM-Attn), whose batches are then shuffled in training and
    kept in clip order in evaluation, as that code's data loaders make them."""
    if getattr(getattr(model, "config", None), "reads_padding", False):
        return np.ones_like(lengths)
    return lengths


def predict_scores(
    model: nn.Module,
    clips: ClipSet,
    settings: NeuralSettings,
    chunk_frames: int | None,
    device: torch.device,
) -> tuple[ChunkSet, np.ndarray]:
    """Item index and 4Q logits ``(n_items, 4)`` of every clip (centred crops; all chunks of chunk models)."""
    index, chunks = evaluation_items(clips, chunk_frames)
    lengths = clips.lengths(settings.max_frames) if chunks is None else np.ones(len(index), dtype=np.int64)
    lengths = batching_lengths(model, lengths)
    model.eval()
    scores = np.zeros((len(index), N_QUADRANTS), dtype=np.float32)
    with torch.no_grad():
        for rows in evaluation_batches(lengths, settings.batch_size):
            if chunks is not None:
                batch = {"chunks": torch.from_numpy(np.stack([chunks[i] for i in rows]))}
            else:
                batch = model_batch(clips.subset(rows), settings.max_frames, None, None)
            scores[rows] = item_scores(model, model(**_to(batch, device))).float().cpu().numpy()
    return index, scores


def clip_cross_entropy(index: ChunkSet, scores: np.ndarray) -> float:
    """Mean cross-entropy (nats) of the clip probabilities against the clip labels."""
    logits = torch.as_tensor(clip_logits(index, scores))
    labels = torch.zeros(len(index.clip_ids), dtype=torch.long)
    labels[torch.as_tensor(index.clip)] = torch.as_tensor(index.label)
    return float(nn.functional.cross_entropy(logits, labels))


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_clips: ClipSet,
    settings: NeuralSettings,
    chunk_frames: int | None,
    rng: np.random.Generator,
    device: torch.device,
) -> Tensor:
    """One optimisation step on the clips of one batch (random crops or chunks from ``rng``).

    Returns:
        the batch's loss, detached, on ``device`` (no synchronisation).
    """
    batch = _to(model_batch(batch_clips, settings.max_frames, chunk_frames, rng), device)
    loss = model.loss(model(**batch), torch.as_tensor(batch_clips.labels, device=device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def fit(
    model: nn.Module,
    train: ClipSet,
    val: ClipSet,
    settings: NeuralSettings,
    chunk_frames: int | None,
    device: torch.device,
    generator: torch.Generator,
    rng: np.random.Generator,
    resume: tuple[Path, str] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place with Adam and early stopping; keep the best validation epoch's weights.

    ``resume`` = (checkpoint path, run identity): checkpoint every epoch and continue from an
    earlier checkpoint of the same identity (:class:`merflow.training.torch_utils.Resume`).

    Returns:
        History: per-epoch ``train_loss``, ``val_clip_accuracy``, ``val_chunk_accuracy`` (= clip
        accuracy for clip models), ``val_loss`` (clip cross-entropy, nats), and ``best_epoch``
        (0-based), ``epochs_run``, ``seconds``.
    """
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = None
    if settings.restart_epochs > 0:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=settings.restart_epochs
        )
    train_lengths = batching_lengths(model, train.lengths(settings.max_frames))

    def train_epoch() -> float:
        losses = [
            training_step(model, optimizer, train.subset(rows), settings, chunk_frames, rng, device)
            for rows in training_batches(train_lengths, settings.batch_size, generator)
        ]
        if scheduler is not None:
            scheduler.step()
        return float(torch.stack(losses).mean())

    def validate() -> tuple[tuple[float, float], dict[str, float]]:
        index, scores = predict_scores(model, val, settings, chunk_frames, device)
        chunk_acc, clip_acc = accuracy(index, scores)
        val_loss = clip_cross_entropy(index, scores)
        metrics = {"clip_accuracy": clip_acc, "chunk_accuracy": chunk_acc, "loss": val_loss}
        return (clip_acc, -val_loss), metrics

    resumable = None if resume is None else Resume(*resume, optimizer, generator, rng, scheduler)
    return train_with_early_stopping(
        model, settings.epochs, settings.patience, train_epoch, validate, resumable
    )


@dataclass
class NeuralRun:
    """A trained model, its clip-level (and, for chunk models, chunk-level) predictions, its history."""

    model: nn.Module
    predictions: pd.DataFrame
    chunk_predictions: pd.DataFrame | None
    history: dict[str, Any]


def train_neural(
    manifest: pd.DataFrame,
    inputs: dict[str, pd.DataFrame],
    settings: NeuralSettings,
    model_settings: dict[str, Any],
    part: str,
    seed: int,
    device: torch.device,
    pretrained_symbolic: dict[str, Tensor] | None = None,
    resume: tuple[Path, str] | None = None,
) -> NeuralRun:
    """Train one neural model on partition ``part`` and predict every clip of it.

    Args:
        manifest: the clip manifest (labels, splits).
        inputs: ``{"tokens": token table, "frames": frame cache}``, those the estimator reads
            (:data:`INPUTS`).
        settings: the ``neural`` section (preset, optimisation, crops) and the frame rate.
        model_settings: the model's config entry (``estimator``, ``tokenizer``, ``ablation``).
        part: partition (``main`` or ``fold<k>``).
        seed: seeds initialisation, batch order and crops.
        device: where to train.
        pretrained_symbolic: a state dict of :class:`merflow.models.zhu.SymbolicEncoder`
            (masked-LM pretraining, :class:`merflow.models.zhu.SymbolicLM`) loaded into the
            symbolic branch of a Zhu et al. model before training; None trains it from scratch.
        resume: (checkpoint path, run identity): checkpoint each epoch there and continue from
            it after a kill (see :func:`fit`).

    Raises:
        MissingFeatureError: if the frame cache lacks a feature column the model reads.
        ValueError: if the training or validation split has no clip with every input.
    """
    model_config = neural_model_config(settings, model_settings, frame_rows(inputs.get("frames")))
    generator = seed_everything(seed)
    rng = np.random.default_rng(seed)
    clips, split, counts = build_clip_set(manifest, inputs, model_config, part, settings.max_tokens)
    sets = {name: clips.subset(np.flatnonzero([split[c] == name for c in clips.clip_ids])) for name in SPLITS}
    for name in ("train", "val"):
        if len(sets[name]) == 0:
            raise ValueError(f"partition {part!r}: no {name} clip has every input ({counts})")
    chunk_frames = (
        model_config.chunk_frames(settings.frame_rate_hz)
        if isinstance(model_config, ShortChunkResNetConfig)
        else None
    )
    log.info(
        "%s (%s, %s): %d/%d/%d train/val/test clips, %d dropped",
        model_settings["estimator"],
        settings.preset,
        model_settings.get("ablation", "full"),
        *(len(sets[name]) for name in SPLITS),
        counts["n_dropped"],
    )
    model = build_model(model_config)
    if pretrained_symbolic is not None:
        if getattr(model, "symbolic_encoder", None) is None:
            raise ValueError(f"{type(model).__name__} ({model_settings}) has no symbolic encoder to load")
        model.symbolic_encoder.load_state_dict(pretrained_symbolic)  # strict: sizes must match
        log.info("symbolic encoder initialised from masked-LM pretraining")
    history = fit(model, sets["train"], sets["val"], settings, chunk_frames, device, generator, rng, resume)
    index, scores = predict_scores(model, clips, settings, chunk_frames, device)
    predictions, chunk_predictions = prediction_tables(index, scores, split)
    history |= counts | {"n_split": {name: len(sets[name]) for name in SPLITS}}
    history["n_parameters"] = sum(p.numel() for p in model.parameters())
    history["pretrained_symbolic"] = pretrained_symbolic is not None
    return NeuralRun(model, predictions, chunk_predictions if chunk_frames is not None else None, history)
