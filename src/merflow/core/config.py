"""The one validated configuration of a merflow run.

Conventions
-----------
The schema (``schemas/config.schema.yaml``, also linked as
``workflow/schemas/config.schema.yaml``) documents every key with a description and a
default. Snakemake validates its config against it at start-up; the ``merflow`` CLI loads
configs through :func:`load_config`, so both see the same defaults.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"
NEURAL_ESTIMATORS = ("lstm_attn", "short_chunk_resnet", "zhao_yoshii", "zhu")
#: Neural estimators that read audio frames, and those that read tokens.
AUDIO_NEURAL_ESTIMATORS = ("short_chunk_resnet", "zhao_yoshii", "zhu")
TOKEN_NEURAL_ESTIMATORS = ("lstm_attn", "zhao_yoshii", "zhu")


#: The input table a single-branch ablation no longer reads: (estimator, ablation) -> table.
#: ``tests/test_neural_training.py`` checks it against the built models' enabled branches.
ABLATION_UNREAD_INPUT = {
    ("zhao_yoshii", "symbolic_only"): "frames",
    ("zhao_yoshii", "chroma_only"): "tokens",
    ("zhao_yoshii", "mfcc_only"): "tokens",
    ("zhu", "symbolic_only"): "frames",
    ("zhu", "acoustic_only"): "tokens",
}


def neural_input_tables(model: dict[str, Any]) -> tuple[str, ...]:
    """Input tables (``tokens``, ``frames``) a neural model's enabled branches read; () if not neural."""
    estimator = model["estimator"]
    unread = ABLATION_UNREAD_INPUT.get((estimator, model.get("ablation", "full")))
    tables = {"tokens": TOKEN_NEURAL_ESTIMATORS, "frames": AUDIO_NEURAL_ESTIMATORS}
    return tuple(name for name, readers in tables.items() if estimator in readers and name != unread)


def reads_symbolic(model: dict[str, Any]) -> bool:
    """True when a model reads notes (symbolic statistics, CP or neural tokens) of its ``source``."""
    return model["features"] in ("symbolic", "cp") or "tokens" in neural_input_tables(model)


def input_source(model: dict[str, Any]) -> str:
    """The model's ``source`` (``oracle`` or an AMT backend) if it reads notes, else ``audio``."""
    return model["source"] if reads_symbolic(model) else "audio"


def uses_audio(model: dict[str, Any]) -> bool:
    """True when a model's input comes from audio (audio features, a transcription, audio frames)."""
    return (
        model["features"] == "audio"
        or "frames" in neural_input_tables(model)
        or (reads_symbolic(model) and model["source"] != "oracle")
    )


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` against the schema and return a copy with defaults filled in.

    Raises:
        ValueError: with the schema violation, if any.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    resolved = copy.deepcopy(config)
    try:
        validate(resolved, str(SCHEMA_PATH), set_default=True)
    except WorkflowError as exc:
        raise ValueError(f"invalid merflow config: {exc}") from exc
    for name, model in resolved["models"].items():
        if model["features"] == "audio":
            model["source"] = "audio"
        elif model["source"] == "audio":
            raise ValueError(f"model {name!r}: symbolic features need a symbolic source, not 'audio'")
        if (model["estimator"] == "mofi") != (model["features"] == "cp"):
            raise ValueError(f"model {name!r}: mofi models and only they read `cp` tokens")
        if (model["estimator"] in NEURAL_ESTIMATORS) != (model["features"] == "neural"):
            raise ValueError(f"model {name!r}: neural estimators and only they have `features: neural`")
    for pair in resolved["contrasts"]:
        unknown = [name for name in pair if name not in resolved["models"]]
        if unknown or pair[0] == pair[1]:
            reason = f"{unknown} not in models" if unknown else "a model against itself"
            raise ValueError(f"contrasts: pair {pair}: {reason}")
    audio = resolved["features"]["audio"]
    if audio["n_mfcc"] > audio["n_mels"]:
        raise ValueError("features.audio.n_mfcc must not exceed n_mels (librosa returns only n_mels rows)")
    return resolved


def validate_config_cached(config: dict[str, Any], cache_dir: str | Path) -> dict[str, Any]:
    """:func:`validate_config`, remembered in ``cache_dir`` for the same config and schema.

    Every Snakemake invocation (a no-op, each cluster job) validates the config; importing
    jsonschema and validating cost about 0.35 s of a 2.5 s no-op. The resolved config is
    stored as JSON under the SHA-256 of the config (JSON, sorted keys) and of the schema file,
    so a hit is exactly what validation would return; configs that JSON cannot represent
    exactly (non-string keys) are validated every time. Invalid configs are never stored.
    """
    try:
        encoded = json.dumps(config, sort_keys=True).encode()
    except TypeError:
        return validate_config(config)
    key = hashlib.sha256(encoded + SCHEMA_PATH.read_bytes()).hexdigest()[:32]
    cached = Path(cache_dir) / f"{key}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    resolved = validate_config(config)
    text = json.dumps(resolved)
    if json.loads(text) == resolved:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(cached)
        except OSError:
            pass
    return resolved


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config (or start from the defaults), apply ``overrides``, validate."""
    config: dict[str, Any] = {}
    if path is not None:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    config.update(overrides or {})
    return validate_config(config)


def config_hash(config: dict[str, Any]) -> str:
    """Stable 12-digit hash of a resolved config (key order does not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


#: The keys of a model's config entry that its jobs read, by estimator (the schema fills every
#: key's default into every entry; a job gets only its own, so that changing a default of one
#: family reruns no job of another).
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "logistic_regression": ("estimator", "features", "source", "C_grid"),
    "svm": ("estimator", "features", "source", "C_grid"),
    "mofi": ("estimator", "features", "source", "injection", "augmentation"),
    "lstm_attn": ("estimator", "features", "source", "tokenizer", "training", "penalty_weight", "padding"),
    "short_chunk_resnet": ("estimator", "features", "source", "training"),
    "zhao_yoshii": ("estimator", "features", "source", "tokenizer", "ablation", "training"),
    "zhu": ("estimator", "features", "source", "tokenizer", "ablation", "training"),
}
#: Keys of section ``midibert`` that fine-tuning and probing jobs read.
FINETUNE_KEYS = ("preset", "checkpoint", "cp_rescale", "finetune")
#: Keys of section ``neural`` that neural training jobs read (not ``zhu_pretrain``, whose rule has its own).
NEURAL_TRAINING_KEYS = (
    "preset",
    "epochs",
    "patience",
    "batch_size",
    "lr",
    "weight_decay",
    "restart_epochs",
    "max_tokens",
    "max_frames",
)


def canonical(value: Any) -> Any:
    """``value`` rebuilt with every mapping's keys in sorted order (lists keep theirs).

    Snakemake compares a job's params by their ``repr``, and a dict's repr follows its key
    order: the same settings written in another order in another config file would rerun the
    job. Every rule's params go through this (``workflow/rules/common.smk``).
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return type(value)(canonical(item) for item in value)
    return value


def only(section: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The entries of ``section`` named in ``keys``, canonical (see :func:`canonical`)."""
    return canonical({key: section[key] for key in keys if key in section})


def finetune_job_settings(midibert: dict[str, Any], dataset: str) -> dict[str, Any]:
    """What a fine-tuning or probing job on ``dataset`` reads of section ``midibert``, canonical.

    ``finetune.batch_size_by_dataset`` (MoFi's batch 16 on EMOPIA, 8 on VGMIDI) is resolved
    here into ``finetune.batch_size`` for this dataset and then dropped, so that changing one
    dataset's batch size reruns no job of another.
    """
    settings = only(midibert, FINETUNE_KEYS)
    finetune = dict(settings.get("finetune", {}))
    by_dataset = finetune.pop("batch_size_by_dataset", None) or {}
    if dataset in by_dataset:
        finetune["batch_size"] = by_dataset[dataset]
    settings["finetune"] = finetune
    return canonical(settings)


def model_job_settings(entry: dict[str, Any]) -> dict[str, Any]:
    """What a model's jobs read of its config entry (:data:`MODEL_KEYS` of its estimator), canonical."""
    return only(entry, MODEL_KEYS[entry["estimator"]])
