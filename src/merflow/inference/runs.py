"""Trained runs under a results folder: their files, which can label music, the best one.

A run folder is ``<results>/<dataset>/models/<model>/<part>/seed<k>`` (:data:`RUN_PATTERN`)
with ``training.json`` (settings, identity), ``metrics.json`` (test metrics, once
evaluated) and its weights: ``model.joblib`` for classical runs, ``model.pt`` for neural and
MoFi runs. :func:`find_run` picks the evaluated run with the best test accuracy, preferring
real datasets to the synthetic demo (:func:`synthetic_run_warning` says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merflow.core.io import read_json

MODEL_FILE = "model.joblib"
NEURAL_MODEL_FILE = "model.pt"  # neural and MoFi runs' weights (torch state dict)
TRAINING_FILE = "training.json"
METRICS_FILE = "metrics.json"
#: Run folders below a results folder: ``<dataset>/models/<model>/<part>/seed<k>``.
RUN_PATTERN = "*/models/*/*/seed*"
NEURAL = "neural"  # runs of merflow.training.neural (tokens and/or audio frames)
CP = "cp"  # MoFi runs (CP tokens and the key's mode)


#: Datasets merflow composes itself (the embedded demo's songs): a model trained on them learns
#: the demo's composition rules, not emotion in real music.
SYNTHETIC_DATASETS = frozenset({"demo"})
#: The shortest run that trains real models (EMOPIA and VGMIDI from their MIDI; about 2 minutes
#: on 2 cores, README "Results").
REAL_TRAINING_COMMAND = (
    "snakemake --cores 2 --configfile config/symbolic.yaml --config data_mirror=<datasets>"
)


def synthetic_run_warning(dataset: str) -> str | None:
    """The warning for a run trained on ``dataset`` if that is synthetic (the demo), else None."""
    if dataset not in SYNTHETIC_DATASETS:
        return None
    return (
        f"warning: this model was trained on merflow's synthetic '{dataset}' songs, composed by the "
        "pipeline with scripted major/minor, tempo and register rules. It learned those rules, not "
        "emotion: its labels of real music mean nothing, and its test accuracy is on demo songs. "
        "Train a model on EMOPIA and VGMIDI (about 2 minutes on 2 cores; <datasets> is a folder "
        f"with their mirror, see config/symbolic.yaml): {REAL_TRAINING_COMMAND}"
    )


class RunError(ValueError):
    """A trained run cannot be found or loaded: missing files, or files that disagree."""


def read_run_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (a run's ``training.json`` or ``metrics.json``).

    Raises:
        RunError: the file cannot be read or holds no JSON object.
    """
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise RunError(f"{path}: expected a JSON object")
    return data


def test_accuracy(metrics: dict[str, Any]) -> float | None:
    """The 4Q test accuracy in a run's metrics, None if absent."""
    accuracy = metrics.get("test", {}).get("accuracy") if isinstance(metrics.get("test"), dict) else None
    return None if accuracy is None else float(accuracy)


def model_file_of(features: str) -> str:
    """The model file of a run whose ``settings.features`` is ``features``."""
    return NEURAL_MODEL_FILE if features in (NEURAL, CP) else MODEL_FILE


def _can_label_files(run_dir: Path) -> bool:
    """A classical run with its ``model.joblib``, or a neural or MoFi run with its ``model.pt``."""
    if (run_dir / MODEL_FILE).is_file():
        return True
    training = run_dir / TRAINING_FILE
    if not training.is_file():
        return False
    settings = read_run_json(training).get("settings")
    features = settings.get("features") if isinstance(settings, dict) else None
    return features in (NEURAL, CP) and (run_dir / model_file_of(features)).is_file()


def list_runs(results_dir: str | Path) -> pd.DataFrame:
    """Evaluated runs under ``results_dir`` (layout :data:`RUN_PATTERN`) that can label files.

    Returns:
        one row per run with ``run_dir`` (Path), ``name`` (path relative to ``results_dir``),
        ``dataset``, ``model``, ``test_accuracy`` (NaN without ``metrics.json`` test metrics),
        sorted by ``name``.
    """
    results_dir = Path(results_dir)
    rows = []
    for run_dir in sorted(results_dir.glob(RUN_PATTERN)):
        if not _can_label_files(run_dir):
            continue
        metrics_path = run_dir / METRICS_FILE
        accuracy = test_accuracy(read_run_json(metrics_path)) if metrics_path.is_file() else None
        rows.append(
            {
                "run_dir": run_dir,
                "name": run_dir.relative_to(results_dir).as_posix(),
                "dataset": run_dir.parents[3].name,
                "model": run_dir.parents[1].name,
                "test_accuracy": np.nan if accuracy is None else accuracy,
            }
        )
    return pd.DataFrame(rows, columns=["run_dir", "name", "dataset", "model", "test_accuracy"])


def find_run(results_dir: str | Path, dataset: str | None = None, model: str | None = None) -> Path:
    """The evaluated run with the best test 4Q accuracy (ties: first relative path by name).

    Runs of real datasets are preferred: a synthetic (demo) run is returned only when no run
    of a real dataset matches.

    Args:
        results_dir: the pipeline's results folder.
        dataset: only runs of this dataset (all when None).
        model: only runs of this model name (all when None).

    Raises:
        RunError: no evaluated run matches (the message lists the models found).
    """
    runs = list_runs(results_dir)
    chosen = runs
    if dataset is not None:
        chosen = chosen[chosen["dataset"] == dataset]
    if model is not None:
        chosen = chosen[chosen["model"] == model]
    chosen = chosen.dropna(subset=["test_accuracy"])
    real = chosen[~chosen["dataset"].isin(SYNTHETIC_DATASETS)]
    if not real.empty:
        chosen = real
    if chosen.empty:
        available = sorted({f"{r.dataset}/{r.model}" for r in runs.itertuples()})
        wanted = ", ".join(f"{k}={v}" for k, v in (("dataset", dataset), ("model", model)) if v) or "any"
        raise RunError(
            f"no evaluated run ({RUN_PATTERN}/{METRICS_FILE}) under {results_dir} matches {wanted}; "
            f"found: {', '.join(available) or 'none'}"
        )
    best = chosen.sort_values(["test_accuracy", "name"], ascending=[False, True]).iloc[0]
    return Path(best["run_dir"])
