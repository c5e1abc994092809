"""Training of the classical baselines (logistic regression, SVM) on a feature table.

Conventions
-----------
Features come from a parquet cache keyed by ``clip_id`` (one row per clip, numeric
columns = features). Labels and splits come from the manifest and the partition (see
:mod:`merflow.datasets.splits`). The regularisation strength ``C`` is chosen on the validation
split (highest 4Q accuracy; ties go to the smaller C, i.e. the simpler model) and the
model is refit on the training split. Clips without features (failed upstream, listed in
the ledger) are left out and counted.

Predictions are a table with ``clip_id``, ``split``, ``quadrant`` (true, 1..4),
``predicted`` (1..4) and ``prob_q1`` .. ``prob_q4`` (summing to 1), for every clip of
the partition that has features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from merflow.core.labels import QUADRANTS
from merflow.datasets.splits import split_for_part

log = logging.getLogger(__name__)

MAX_ITER = 5000
SVM_CALIBRATION_FOLDS = 3
PROB_COLUMNS = [f"prob_q{q}" for q in QUADRANTS]


@dataclass
class TrainResult:
    """A fitted model, its predictions on every split, and what happened while fitting."""

    model: Pipeline
    predictions: pd.DataFrame
    history: dict[str, Any] = field(default_factory=dict)


def build_estimator(
    estimator: str, C: float, seed: int, calibration_folds: int = SVM_CALIBRATION_FOLDS
) -> Pipeline:
    """Standardisation followed by the classifier ``estimator`` (``logistic_regression`` or ``svm``).

    ``calibration_folds`` (>= 2) is the number of internal folds of the SVM's probability
    calibration; it must not exceed the smallest class count of the training data.
    """
    if estimator == "logistic_regression":
        classifier = LogisticRegression(C=C, max_iter=MAX_ITER, random_state=seed)
    elif estimator == "svm":
        # Platt-scaled probabilities fitted on internal cross-validation folds (what
        # SVC(probability=True) did before scikit-learn 1.9 deprecated it).
        classifier = CalibratedClassifierCV(
            SVC(C=C, kernel="rbf", random_state=seed),
            method="sigmoid",
            cv=calibration_folds,
            ensemble=False,
        )
    else:
        raise ValueError(f"unknown estimator {estimator!r}: expected logistic_regression or svm")
    return make_pipeline(StandardScaler(), classifier)


def design_table(features: pd.DataFrame, manifest: pd.DataFrame, part: str) -> tuple[pd.DataFrame, list[str]]:
    """Join features to labels and the partition's splits.

    Returns:
        The joined table (``clip_id``, ``split``, ``quadrant`` and the feature columns) for
        clips that have features and belong to a split, and the feature column names.
    """
    feature_names = [
        c for c in features.columns if c != "clip_id" and pd.api.types.is_numeric_dtype(features[c])
    ]
    labels = manifest[["clip_id", "quadrant"]].assign(split=split_for_part(manifest, part).to_numpy())
    joined = labels.merge(features[["clip_id", *feature_names]], on="clip_id", how="inner")
    joined = joined[joined["split"].isin(["train", "val", "test"])].reset_index(drop=True)
    return joined, feature_names


def train_classical(
    features: pd.DataFrame, manifest: pd.DataFrame, settings: dict[str, Any], part: str, seed: int
) -> TrainResult:
    """Select C on validation, refit on train, predict every clip of the partition.

    Args:
        features: feature cache, one row per clip.
        manifest: the dataset's clip manifest.
        settings: the model's config entry (``estimator``, ``C_grid``).
        part: partition name (``main`` or ``fold<k>``).
        seed: random seed of the classifier.

    Raises:
        ValueError: if the training split lacks a class or has no clips.
    """
    table, feature_names = design_table(features, manifest, part)
    x = table[feature_names].to_numpy(dtype=np.float64)
    y = table["quadrant"].to_numpy()
    is_train = (table["split"] == "train").to_numpy()
    is_val = (table["split"] == "val").to_numpy()
    classes, class_counts = np.unique(y[is_train], return_counts=True)
    if len(classes) < 2 or class_counts.min() < 2:
        raise ValueError(
            f"partition {part!r}: the training split needs at least two clips of each of at least two "
            f"quadrants (has {dict(zip(classes.tolist(), class_counts.tolist(), strict=True))})"
        )
    folds = int(min(SVM_CALIBRATION_FOLDS, class_counts.min()))
    val_accuracy: dict[str, float] = {}
    for C in settings["C_grid"]:
        model = build_estimator(settings["estimator"], C, seed, folds).fit(x[is_train], y[is_train])
        val_accuracy[str(C)] = (
            float(accuracy_score(y[is_val], model.predict(x[is_val]))) if is_val.any() else 0.0
        )
        log.info("C=%g: validation accuracy %.3f", C, val_accuracy[str(C)])
    best_C = max(settings["C_grid"], key=lambda c: (val_accuracy[str(c)], -c))
    model = build_estimator(settings["estimator"], best_C, seed, folds).fit(x[is_train], y[is_train])
    probabilities = probabilities_per_quadrant(model, x)
    predictions = table[["clip_id", "split", "quadrant"]].copy()
    predictions["predicted"] = np.asarray(QUADRANTS)[probabilities.argmax(axis=1)]
    predictions[PROB_COLUMNS] = probabilities
    n_missing = int((split_for_part(manifest, part).isin(["train", "val", "test"])).sum() - len(table))
    history = {
        "selection": "C with the highest validation accuracy, refit on train",
        "val_accuracy_by_C": val_accuracy,
        "best_C": best_C,
        "feature_names": feature_names,
        "n_clips": {s: int((table["split"] == s).sum()) for s in ("train", "val", "test")},
        "n_clips_without_features": n_missing,
    }
    return TrainResult(model=model, predictions=predictions, history=history)


def probabilities_per_quadrant(model: Pipeline, x: np.ndarray) -> np.ndarray:
    """Class probabilities of a fitted classifier, shape (n_clips, 4), columns Q1..Q4.

    ``model`` is fitted on quadrants 1..4 (its ``classes_``); a quadrant it never saw gets
    probability 0. Used by training's evaluation and by :mod:`merflow.inference.prediction`.
    """
    raw = model.predict_proba(x)
    out = np.zeros((len(x), len(QUADRANTS)))
    for column, quadrant in enumerate(model.classes_):
        out[:, QUADRANTS.index(int(quadrant))] = raw[:, column]
    return out
