"""Metrics of a run, and their summary over seeds and folds.

Conventions
-----------
Inputs are quadrant labels 1..4 (see :mod:`merflow.core.labels`).

Metrics
-------
- ``accuracy``: 4Q accuracy; ``macro_f1``: unweighted mean of the four per-class F1.
- ``arousal_accuracy`` / ``valence_accuracy``: accuracy of the binary arousal
  (Q1,Q2 vs Q3,Q4) and valence (Q1,Q4 vs Q2,Q3) read off the predicted quadrant.
- ``per_class``: precision, recall, F1 and support of each quadrant.
- ``confusion``: 4x4 counts, rows = true quadrant, columns = predicted.
Summaries over runs give mean, sample standard deviation (ddof=1; 0 for one run) and a
95% Student-t confidence interval of the mean (runs = seeds x partitions, a sample of the
training's randomness; none for one run). A percentile bootstrap of three seeds could never
reach past the smallest and largest run, so it would state far too narrow an interval.

Paired comparison
-----------------
:func:`mcnemar_test` compares two models on the same clips: an exact two-sided binomial
test on the discordant pairs (clips one model gets right and the other wrong).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest
from scipy.stats import t as student_t
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from merflow.core.labels import QUADRANT_NAMES, QUADRANTS, arousal_of, valence_of
from merflow.core.plots import png_figure

HEADLINE_METRICS = ("accuracy", "macro_f1", "arousal_accuracy", "valence_accuracy")
CONFIDENCE = 0.95


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """All metrics of the module docstring for quadrant arrays of shape (n,).

    Raises:
        ValueError: if the arrays are empty or differ in length.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if len(y_true) == 0 or len(y_true) != len(y_pred):
        raise ValueError(
            f"need equal, non-zero numbers of labels and predictions ({len(y_true)}, {len(y_pred)})"
        )
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(QUADRANTS), zero_division=0
    )
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(QUADRANTS), average="macro", zero_division=0)),
        "arousal_accuracy": float(np.mean(arousal_of(y_true) == arousal_of(y_pred))),
        "valence_accuracy": float(np.mean(valence_of(y_true) == valence_of(y_pred))),
        "per_class": {
            f"Q{q}": {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, q in enumerate(QUADRANTS)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=list(QUADRANTS)).tolist(),
    }


def summarize(values: list[float] | np.ndarray) -> dict[str, float]:
    """Mean, std (ddof=1) and the 95% Student-t CI of the mean of per-run values.

    With one run the std is 0 and the interval unknown (NaN): one seed says nothing of
    the spread between seeds.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("cannot summarise zero runs")
    mean = float(values.mean())
    if len(values) == 1:
        return {"mean": mean, "std": 0.0, "ci_low": float("nan"), "ci_high": float("nan"), "n_runs": 1}
    std = float(values.std(ddof=1))
    half_width = float(student_t.ppf((1 + CONFIDENCE) / 2, df=len(values) - 1)) * std / np.sqrt(len(values))
    return {
        "mean": mean,
        "std": std,
        "ci_low": mean - half_width,
        "ci_high": mean + half_width,
        "n_runs": len(values),
    }


def mcnemar_test(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, float]:
    """Exact McNemar test of two models' predictions on the same clips, shape (n,) each.

    Returns:
        ``n``, ``a_only`` (clips only model A gets right), ``b_only``, ``accuracy_a``,
        ``accuracy_b`` and the two-sided ``p_value`` (1.0 when there is no discordant pair).
    """
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not (len(y_true) == len(pred_a) == len(pred_b)) or len(y_true) == 0:
        raise ValueError("McNemar needs equal, non-zero numbers of labels and predictions")
    right_a, right_b = pred_a == y_true, pred_b == y_true
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    discordant = a_only + b_only
    p_value = binomtest(a_only, discordant, 0.5).pvalue if discordant else 1.0
    return {
        "n": len(y_true),
        "a_only": a_only,
        "b_only": b_only,
        "accuracy_a": float(right_a.mean()),
        "accuracy_b": float(right_b.mean()),
        "p_value": float(p_value),
    }


def plot_confusion(confusion: list[list[int]], path: str | Path, title: str) -> None:
    """Save a labelled confusion-matrix heat map as PNG (atomically)."""
    counts = np.asarray(confusion)
    with png_figure(path, (4.6, 4.0)) as ax:
        ax.imshow(counts, cmap="Blues")
        names = [QUADRANT_NAMES[q] for q in QUADRANTS]
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=9)
        for (row, col), count in np.ndenumerate(counts):
            color = "white" if count > counts.max() / 2 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=color)
