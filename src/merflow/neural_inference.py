"""A trained neural run (LSTM-Attn, short-chunk ResNet, Zhao & Yoshii, Zhu et al.) as a file classifier.

Conventions
-----------
**Run.** A folder written by the pipeline's ``train_neural`` rule: ``model.pt`` (the model's
state dict, :func:`merflow.torch_utils.save_checkpoint`) and ``training.json`` with
``settings`` (the model's config entry: ``estimator``, ``tokenizer``, ``ablation``) and
``neural`` (the :class:`~merflow.neural_training.NeuralSettings` of the run: preset,
``max_tokens``, ``max_frames``, ``frame_rate_hz``). :func:`load_neural_classifier` rebuilds
the model from them (same preset sizes and ablation; frame-feature rows of the run's
:class:`~merflow.features.audio.AudioFeatureConfig`) and loads the weights strictly, so a
run of another merflow version or another feature setting is refused, not misread.

**Inputs, as in training.** Per file, a :class:`NeuralInput`: the token ids of the run's
tokenizer (:func:`merflow.features.caches.clip_tokens`: the tokens the pipeline caches),
and the frame features of the audio (:func:`merflow.features.audio.frame_features` as
float32, as cached). The run keeps the first ``max_tokens`` tokens and the central
``max_frames`` frames, as at evaluation (the short-chunk ResNet: every chunk, clip logits =
mean chunk logits).

**Output.** Quadrant probabilities ``(n_files, 4)`` (columns Q1..Q4): the softmax of the clip
logits, as the run's ``predictions.parquet`` stores them (Zhao & Yoshii: its valence x
arousal product probabilities, renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from merflow.config import neural_input_tables
from merflow.features.audio import AudioFeatureConfig
from merflow.finetuning import clip_logits
from merflow.models.baselines import ShortChunkResNetConfig
from merflow.neural_training import (
    ClipSet,
    NeuralSettings,
    build_model,
    frame_arrays,
    neural_model_config,
    predict_scores,
)
from merflow.torch_utils import load_checkpoint

#: The state dict of a neural run, beside its ``training.json``.
NEURAL_MODEL_FILE = "model.pt"
CPU = torch.device("cpu")


class NeuralRunError(ValueError):
    """``training.json`` and ``model.pt`` do not describe a model this version can rebuild."""


@dataclass(frozen=True)
class NeuralInput:
    """What one file gives a neural model.

    Attributes:
        tokens: token ids ``(n_tokens,)`` of the run's tokenizer, or None if it reads none.
        frames: frame features by name, each ``(n_rows, n_frames)`` float32, or None.
    """

    tokens: np.ndarray | None
    frames: dict[str, np.ndarray] | None


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
                    np.asarray(item.tokens, dtype=np.int64)[: self.settings.max_tokens]
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
        logits = torch.as_tensor(clip_logits(index, scores))
        return torch.softmax(logits, dim=1).numpy().astype(np.float64)


def load_neural_classifier(
    run_dir: Path, training: dict[str, Any], audio_config: AudioFeatureConfig
) -> NeuralClassifier:
    """The model of a neural run folder (``model.pt`` + its parsed ``training.json``).

    Raises:
        NeuralRunError: ``training.json`` lacks the neural settings, names an unknown
            estimator or setting, or ``model.pt`` does not fit the model they describe.
    """
    where = run_dir / NEURAL_MODEL_FILE
    try:
        model_settings = dict(training["settings"])
        known = {f.name for f in fields(NeuralSettings)}
        settings = NeuralSettings(**{k: v for k, v in training["neural"].items() if k in known})
        model_config = neural_model_config(settings, model_settings, audio_config.feature_rows())
        model = build_model(model_config)
    except (KeyError, TypeError, ValueError) as exc:
        raise NeuralRunError(f"{run_dir / 'training.json'}: cannot rebuild the model ({exc})") from exc
    try:
        model.load_state_dict(load_checkpoint(where, CPU))  # strict: sizes and names must match
    except Exception as exc:  # unpickling and shape mismatches raise many types
        raise NeuralRunError(f"{where}: does not fit {type(model).__name__} ({exc})") from exc
    model.eval()
    reads = neural_input_tables(model_settings)
    tokenizer = model_settings.get("tokenizer", "midi_like") if "tokens" in reads else None
    return NeuralClassifier(model, model_config, settings, tokenizer, reads)
