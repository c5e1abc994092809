"""Results tables: our mean +- std over seeds (and folds) next to the papers' numbers.

Conventions
-----------
One table per dataset and split, one row per model, built from the ``metrics.json`` of
each run. Every row states dataset, split, level (``clip``), seeds, number of runs,
preset and code version. Published numbers come from ``paper_numbers.yaml`` (package
data); ``diff_accuracy`` is ours minus the paper's.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import pandas as pd
import yaml

from merflow.evaluation import HEADLINE_METRICS, summarize

PAPER_NUMBERS_FILE = "paper_numbers.yaml"


def paper_numbers(dataset: str, split: str) -> dict[str, dict[str, Any]]:
    """Published numbers for ``dataset``/``split`` keyed by merflow model name."""
    table = yaml.safe_load(files("merflow").joinpath(PAPER_NUMBERS_FILE).read_text(encoding="utf-8"))
    return table.get(dataset, {}).get(split, {})


def results_table(runs: list[dict[str, Any]], dataset: str, split: str) -> pd.DataFrame:
    """One row per model over all of its runs (seeds x partitions) on ``dataset``/``split``."""
    published = paper_numbers(dataset, split)
    rows = []
    by_model: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_model.setdefault(run["model"], []).append(run)
    for model, model_runs in sorted(by_model.items()):
        first = model_runs[0]
        row: dict[str, Any] = {
            "dataset": dataset,
            "split": split,
            "level": "clip",
            "model": model,
            "estimator": first["settings"]["estimator"],
            "features": first["settings"]["features"],
            "source": first["settings"]["source"],
            "seeds": ",".join(str(s) for s in sorted({r["seed"] for r in model_runs})),
            "parts": ",".join(sorted({r["part"] for r in model_runs})),
            "n_runs": len(model_runs),
            "n_test_clips": int(sum(r["test"]["n"] for r in model_runs) / len(model_runs)),
            "preset": first.get("preset", "classical"),
            "code_version": ",".join(sorted({r["code_version"] for r in model_runs})),
        }
        for metric in HEADLINE_METRICS:
            stats = summarize([r["test"][metric] for r in model_runs])
            row[f"{metric}_mean"] = stats["mean"]
            row[f"{metric}_std"] = stats["std"]
            row[f"{metric}_ci_low"] = stats["ci_low"]
            row[f"{metric}_ci_high"] = stats["ci_high"]
        paper = published.get(model, {})
        row["paper_reference"] = paper.get("reference", "")
        for metric in HEADLINE_METRICS:
            row[f"paper_{metric}"] = paper.get(metric, float("nan"))
        row["diff_accuracy"] = row["accuracy_mean"] - row["paper_accuracy"]
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, dataset: str, split: str) -> str:
    """A readable Markdown rendering of :func:`results_table`'s output."""

    def pm(row: pd.Series, metric: str) -> str:
        return f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_std']:.3f}"

    def paper(row: pd.Series, metric: str) -> str:
        value = row[f"paper_{metric}"]
        return "" if pd.isna(value) else f"{value:.3f}"

    lines = [
        f"# {dataset}, split {split}",
        "",
        "Test-split metrics, mean ± std over runs (seeds × partitions); level = clip.",
        "",
        "| model | source | 4Q acc | paper | Δ | macro-F1 | arousal acc | paper A | valence acc | paper V "
        "| seeds | runs | test clips | preset | code |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        diff = "" if pd.isna(row["diff_accuracy"]) else f"{row['diff_accuracy']:+.3f}"
        lines.append(
            f"| {row['model']} | {row['source']} | {pm(row, 'accuracy')} | {paper(row, 'accuracy')} | {diff} "
            f"| {pm(row, 'macro_f1')} | {pm(row, 'arousal_accuracy')} | {paper(row, 'arousal_accuracy')} "
            f"| {pm(row, 'valence_accuracy')} | {paper(row, 'valence_accuracy')} | {row['seeds']} "
            f"| {row['n_runs']} | {row['n_test_clips']} | {row['preset']} | {row['code_version']} |"
        )
    references = sorted({r for r in table["paper_reference"] if r})
    if references:
        lines += ["", "Published numbers: " + "; ".join(references) + "."]
    return "\n".join(lines) + "\n"
