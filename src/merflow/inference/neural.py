"""A trained neural run (LSTM-Attn, short-chunk ResNet, Zhao & Yoshii, Zhu et al., MoFi) as a file classifier.

Conventions
-----------
**Run.** A folder written by the pipeline's ``train_neural`` rule: ``model.pt`` (the model's
state dict, :func:`merflow.training.torch_utils.save_checkpoint`) and ``training.json`` with
``settings`` (the model's config entry: ``estimator``, ``tokenizer``, ``ablation``) and
``neural`` (the :class:`~merflow.training.neural.NeuralSettings` of the run: preset,
``max_tokens``, ``max_frames``, ``frame_rate_hz``). :func:`load_neural_classifier` rebuilds
the model from them (same preset sizes and ablation; frame-feature rows of the run's
:class:`~merflow.music.audio_features.AudioFeatureConfig`) and loads the weights strictly, so a
run of another merflow version or another feature setting is refused, not misread.

**Inputs, as in training.** Per file, a :class:`NeuralInput`: the token ids of the run's
tokenizer (:func:`merflow.features.caches.clip_tokens`: the tokens the pipeline caches),
and the frame features of the audio (:func:`merflow.music.audio_features.frame_features` as
float32, as cached). The run keeps the first ``max_tokens`` tokens and the central
``max_frames`` frames, as at evaluation (the short-chunk ResNet: every chunk, clip logits =
mean chunk logits).

**MoFi runs** (``train_mofi``: ``settings.features`` = ``cp``) hold ``model.pt`` (the
fine-tuned :class:`~merflow.models.film.MoFi`), and ``training.json`` with ``preset`` (the
MIDI-BERT size), ``settings.injection``, ``finetune.max_len`` (notes per chunk) and
``cp_rescale`` (how the CP tokens were made). A file gives its CP tokens and the mode of its
Krumhansl-Kessler key; its chunks of ``max_len`` notes are scored and the clip logits are
the mean chunk logits, as in fine-tuning.

**Output.** Quadrant probabilities ``(n_files, 4)`` (columns Q1..Q4): the softmax of the clip
logits, as the run's ``predictions.parquet`` stores them (Zhao & Yoshii: its valence x
arousal product probabilities, renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from merflow.core.config import neural_input_tables
from merflow.models.baselines import ShortChunkResNetConfig
from merflow.models.film import MoFi
from merflow.models.midibert import MidiBert, MidiBertConfig
from merflow.music.audio_features import AudioFeatureConfig
from merflow.training.clip_aggregation import clip_probabilities
from merflow.training.finetuning import build_chunks, predict_logits
from merflow.training.neural import NeuralSettings, build_model, neural_model_config, predict_scores
from merflow.training.neural_inputs import ClipSet, frame_arrays, truncated_tokens
from merflow.training.torch_utils import load_checkpoint

CPU = torch.device("cpu")


class NeuralRunError(ValueError):
    """``training.json`` and ``model.pt`` do not describe a model this version can rebuild."""


@dataclass(frozen=True)
class NeuralInput:
    """What one file gives a neural model.

    Attributes:
        tokens: token ids ``(n_tokens,)`` of the run's tokenizer (CP: ``(n_notes, 4)``), or
            None if it reads none.
        frames: frame features by name, each ``(n_rows, n_frames)`` float32, or None.
        minor: 1 if the file's key is minor, 0 if major (MoFi's FiLM mode), None if unused.
    """

    tokens: np.ndarray | None
    frames: dict[str, np.ndarray] | None
    minor: int | None = None


@dataclass
class NeuralClassifier:
    """A neural run ready to score :class:`NeuralInput` s; build it with :func:`load_neural_classifier`.

    Attributes:
        model: the network, in eval mode on the CPU.
        model_config: its config (sizes, ablation switches).
        settings: the run's neural settings (``max_tokens``, ``max_frames``, frame rate).
        tokenizer: the tokenizer of its symbolic branch (None if it reads no tokens).
        reads: the input tables it reads (``tokens``, ``frames``).
    """

    model: torch.nn.Module
    model_config: Any
    settings: NeuralSettings
    tokenizer: str | None
    reads: tuple[str, ...]

    @property
    def needs_frames(self) -> bool:
        return "frames" in self.reads

    def probabilities(self, inputs: list[NeuralInput]) -> np.ndarray:
        """Quadrant probabilities ``(len(inputs), 4)`` (see the module conventions)."""
        arrays: dict[str, list[np.ndarray]] = {}
        for item in inputs:
            if "tokens" in self.reads:
                arrays.setdefault("tokens", []).append(
                    truncated_tokens(item.tokens, self.settings.max_tokens)
                )
            if self.needs_frames:
                for name, value in frame_arrays(item.frames, self.model_config).items():
                    arrays.setdefault(name, []).append(value)
        ids = [str(i) for i in range(len(inputs))]
        clips = ClipSet(ids, np.zeros(len(inputs), dtype=np.int64), arrays)
        chunk_frames = (
            self.model_config.chunk_frames(self.settings.frame_rate_hz)
            if isinstance(self.model_config, ShortChunkResNetConfig)
            else None
        )
        index, scores = predict_scores(self.model, clips, self.settings, chunk_frames, CPU)
        return clip_probabilities(index, scores).astype(np.float64)


def load_neural_classifier(
    model_path: Path, training: dict[str, Any], audio_config: AudioFeatureConfig
) -> NeuralClassifier:
    """The model of a neural run: its weights (``model.pt``) and its parsed ``training.json``.

    Raises:
        NeuralRunError: ``training.json`` lacks the neural settings, names an unknown
            estimator or setting, or ``model.pt`` does not fit the model they describe.
    """
    try:
        model_settings = dict(training["settings"])
        neural = training["neural"]
        settings = NeuralSettings.from_config(neural, neural.get("frame_rate_hz"))
        model_config = neural_model_config(settings, model_settings, audio_config.feature_rows())
        model = build_model(model_config)
    except (KeyError, TypeError, ValueError) as exc:
        raise NeuralRunError(
            f"{model_path.parent / 'training.json'}: cannot rebuild the model ({exc})"
        ) from exc
    _load_weights(model, model_path)
    reads = neural_input_tables(model_settings)
    tokenizer = model_settings.get("tokenizer", "midi_like") if "tokens" in reads else None
    return NeuralClassifier(model, model_config, settings, tokenizer, reads)


@dataclass
class MoFiClassifier:
    """A fine-tuned MoFi run ready to score :class:`NeuralInput` s (CP tokens and mode).

    Attributes:
        model: the fine-tuned MoFi, in eval mode on the CPU.
        max_len: notes per chunk.
        cp_rescale: how the run's CP tokens were made.
    """

    model: torch.nn.Module
    max_len: int
    cp_rescale: bool
    tokenizer: str = "cp"
    needs_frames: bool = False
    batch_size: int = 12

    def probabilities(self, inputs: list[NeuralInput]) -> np.ndarray:
        """Quadrant probabilities ``(len(inputs), 4)``: softmax of the mean chunk logits."""
        ids = [str(i) for i in range(len(inputs))]
        chunks = build_chunks(
            {i: item.tokens for i, item in zip(ids, inputs, strict=True)},
            {i: int(item.minor) for i, item in zip(ids, inputs, strict=True)},
            dict.fromkeys(ids, 1),  # labels are not used
            self.max_len,
        )
        logits = predict_logits(self.model, chunks, CPU, self.batch_size)
        return clip_probabilities(chunks, logits).astype(np.float64)


def load_mofi_classifier(model_path: Path, training: dict[str, Any]) -> MoFiClassifier:
    """The fine-tuned model of a MoFi run: its weights (``model.pt``) and its parsed ``training.json``.

    Raises:
        NeuralRunError: ``training.json`` lacks the preset, injection point, ``finetune.max_len``
            or ``cp_rescale`` (runs trained before merflow recorded them: retrain), or
            ``model.pt`` does not fit the model they describe.
    """
    try:
        config = MidiBertConfig.preset(training["preset"])
        model = MoFi(MidiBert(config), injection=training["settings"]["injection"])
        max_len = int(training["finetune"]["max_len"])
        cp_rescale = training["cp_rescale"]
        if not isinstance(cp_rescale, bool):
            raise TypeError(f"cp_rescale is {cp_rescale!r}, not a boolean")
    except (KeyError, TypeError, ValueError) as exc:
        raise NeuralRunError(
            f"{model_path.with_name('training.json')}: cannot rebuild the MoFi model "
            f"({type(exc).__name__}: {exc}); runs trained before merflow recorded the chunk "
            "length and CP settings must be retrained"
        ) from exc
    _load_weights(model, model_path)
    return MoFiClassifier(model, max_len, cp_rescale)


def _load_weights(model: torch.nn.Module, model_path: Path) -> None:
    """Load ``model_path`` into ``model`` strictly (names and sizes must match); eval mode."""
    try:
        model.load_state_dict(load_checkpoint(model_path, CPU))
    except Exception as exc:  # unpickling and shape mismatches raise many types
        raise NeuralRunError(f"{model_path}: does not fit {type(model).__name__} ({exc})") from exc
    model.eval()
