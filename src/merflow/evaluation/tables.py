"""Results tables: our mean +- std over seeds (and folds) next to the papers' numbers.

Conventions
-----------
One table per dataset and split, one row per model, built from the ``metrics.json`` of
each run. Every row states dataset, split, level (``clip``), seeds, number of runs,
preset and code version. Published numbers come from ``paper_numbers.yaml`` (package
data); ``diff_accuracy`` is ours minus the paper's.

Paired comparisons (:func:`paired_comparisons`) test every pair of models on the clips
both predicted, run by run (same partition and seed): exact McNemar tests per run and on
the pooled counts of all runs.
"""

from __future__ import annotations

from importlib.resources import files
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
import yaml

from merflow.core.config import input_source, uses_audio
from merflow.core.plots import png_figure
from merflow.evaluation.metrics import HEADLINE_METRICS, mcnemar_test, summarize

PAPER_NUMBERS_FILE = "paper_numbers.yaml"


def paper_numbers(dataset: str, split: str) -> dict[str, dict[str, Any]]:
    """Published numbers for ``dataset``/``split`` keyed by merflow model name."""
    table = yaml.safe_load(
        files("merflow.evaluation").joinpath(PAPER_NUMBERS_FILE).read_text(encoding="utf-8")
    )
    return table.get(dataset, {}).get(split, {})


LEVELS = ("clip", "chunk")
PAIRED_COLUMNS = [
    "model_a",
    "model_b",
    "seed",
    "n_parts",
    "n_clips",
    "accuracy_a",
    "accuracy_b",
    "a_only",
    "b_only",
    "p_value",
]


def _test_metrics(run: dict[str, Any], level: str) -> dict[str, Any] | None:
    """A run's test metrics at ``level`` (chunk metrics only exist for chunk-based models)."""
    return run["test"] if level == "clip" else run.get("chunk", {}).get("test")


def training_effort(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Epoch cap, epochs run, best epoch (1-based) and training minutes of a model's runs (means).

    Neural runs record their cap in ``neural.epochs``, fine-tuned MoFi runs in
    ``finetune.epochs``; runs that record no history (classical) give NaN.
    """
    caps = {r.get("neural", r.get("finetune", {})).get("epochs") for r in runs} - {None}
    histories = [r.get("history", {}) for r in runs]

    def mean(key: str, offset: int = 0) -> float:
        values = [h[key] + offset for h in histories if isinstance(h.get(key), int | float)]
        return float(np.mean(values)) if len(values) == len(histories) else float("nan")

    return {
        "epoch_cap": ",".join(str(c) for c in sorted(caps)),
        "epochs_run": mean("epochs_run"),
        "best_epoch": mean("best_epoch", 1),
        "train_minutes": mean("seconds") / 60,
    }


def encoder_pretraining(runs: list[dict[str, Any]]) -> str:
    """How the encoder a model fine-tuned was pretrained: steps, minutes, held-out masked-LM accuracy.

    From each run's ``encoder_pretraining`` (:func:`merflow.training.finetuning.encoder_pretraining`);
    ``""`` for models without one (classical, neural, an official checkpoint), and every
    distinct description joined by ``; `` if the runs used different encoders.
    """

    def describe(summary: dict[str, Any]) -> str:
        accuracy = summary["held_out_accuracy"]
        held_out = "" if np.isnan(accuracy) else f", held-out MLM acc {accuracy:.3f}"
        return f"{summary['steps']} steps, {summary['train_minutes']:.0f} min{held_out}"

    described = {describe(r["encoder_pretraining"]) for r in runs if r.get("encoder_pretraining")}
    return "; ".join(sorted(described))


def results_table(
    runs: list[dict[str, Any]], dataset: str, split: str, audio_source: str = ""
) -> pd.DataFrame:
    """One row per model and level over all of its runs (seeds x partitions) on ``dataset``/``split``.

    ``audio_source`` (``youtube``, ``render``) is stated on the rows of models that use audio
    (audio features or a transcription); symbolic models on the dataset's MIDI get ``-``.
    """
    published = paper_numbers(dataset, split)
    rows = []
    by_model: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_model.setdefault(run["model"], []).append(run)
    for (model, model_runs), level in product(sorted(by_model.items()), LEVELS):
        tests = [_test_metrics(run, level) for run in model_runs]
        if any(test is None for test in tests):
            continue
        first = model_runs[0]
        row: dict[str, Any] = {
            "dataset": dataset,
            "split": split,
            "level": level,
            "model": model,
            "estimator": first["settings"]["estimator"],
            "features": first["settings"]["features"],
            "source": input_source(first["settings"]),
            "audio_source": audio_source if uses_audio(first["settings"]) else "-",
            "seeds": ",".join(str(s) for s in sorted({r["seed"] for r in model_runs})),
            "parts": ",".join(sorted({r["part"] for r in model_runs})),
            "n_runs": len(model_runs),
            "n_test_items": int(sum(t["n"] for t in tests) / len(tests)),
            "preset": first.get("preset", "classical"),
            "encoder_pretraining": encoder_pretraining(model_runs),
            "code_version": ",".join(sorted({r["code_version"] for r in model_runs})),
            **training_effort(model_runs),
        }
        for metric in HEADLINE_METRICS:
            stats = summarize([t[metric] for t in tests])
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

    def ci(row: pd.Series, metric: str) -> str:
        low, high = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        return "-" if pd.isna(low) else f"{low:.3f}-{high:.3f}"

    def paper(row: pd.Series, metric: str) -> str:
        value = row[f"paper_{metric}"]
        return "" if pd.isna(value) else f"{value:.3f}"

    def effort(row: pd.Series) -> str:
        """``epochs run (cap) | best epoch | training minutes``, blank where not recorded."""
        if pd.isna(row.get("epochs_run", float("nan"))):
            return "- | - | -"
        cap = f" ({row['epoch_cap']})" if row.get("epoch_cap") else ""
        return f"{row['epochs_run']:.1f}{cap} | {row['best_epoch']:.1f} | {row['train_minutes']:.1f}"

    def preset(row: pd.Series) -> str:
        """The size preset, with the pretraining of a fine-tuned encoder."""
        pretraining = row.get("encoder_pretraining", "")
        return f"{row['preset']} ({pretraining})" if pretraining else row["preset"]

    lines = [
        f"# {dataset}, split {split}",
        "",
        "Test-split metrics, mean ± std over runs (seeds × partitions), and the 95% Student-t",
        "interval of the mean 4Q accuracy (none for one run); level = clip, or chunk of notes",
        "for chunk-based models (512 in MIDI-BERT, which reports chunk level).",
        "",
        "| model | level | source | audio | 4Q acc | 95% CI | paper | Δ | macro-F1 | arousal acc | paper A "
        "| valence acc | paper V | seeds | runs | test items | preset | epochs (cap) | best epoch "
        "| train min | code |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        diff = "" if pd.isna(row["diff_accuracy"]) else f"{row['diff_accuracy']:+.3f}"
        lines.append(
            f"| {row['model']} | {row['level']} | {row['source']} | {row['audio_source']} "
            f"| {pm(row, 'accuracy')} | {ci(row, 'accuracy')} | {paper(row, 'accuracy')} | {diff} "
            f"| {pm(row, 'macro_f1')} | {pm(row, 'arousal_accuracy')} | {paper(row, 'arousal_accuracy')} "
            f"| {pm(row, 'valence_accuracy')} | {paper(row, 'valence_accuracy')} | {row['seeds']} "
            f"| {row['n_runs']} | {row['n_test_items']} | {preset(row)} | {effort(row)} "
            f"| {row['code_version']} |"
        )
    references = sorted({r for r in table["paper_reference"] if r})
    if references:
        lines += ["", "Published numbers: " + "; ".join(references) + "."]
    return "\n".join(lines) + "\n"


def paired_comparisons(predictions: dict[tuple[str, str, int], pd.DataFrame]) -> pd.DataFrame:
    """McNemar tests between every pair of models, one per seed.

    For each seed the test clips of all partitions are pooled (partitions such as folds
    have disjoint test clips, so every clip counts once); seeds are not pooled because
    they reuse the same clips.

    Args:
        predictions: ``(model, part, seed) -> predictions table`` (``clip_id``, ``split``,
            ``quadrant``, ``predicted``); only test clips are compared.

    Returns:
        One row per model pair and seed: ``model_a``, ``model_b``, ``seed``, ``n_parts``,
        ``n_clips``, ``accuracy_a``, ``accuracy_b``, ``a_only``/``b_only`` (discordant
        counts) and the exact McNemar ``p_value``.
    """
    models = sorted({model for model, _, _ in predictions})
    rows = []
    for i, model_a in enumerate(models):
        for model_b in models[i + 1 :]:
            shared = {(p, s) for m, p, s in predictions if m == model_a} & {
                (p, s) for m, p, s in predictions if m == model_b
            }
            for seed in sorted({s for _, s in shared}):
                parts = sorted(p for p, s in shared if s == seed)
                pairs = [
                    _test_pairs(predictions[(model_a, part, seed)], predictions[(model_b, part, seed)])
                    for part in parts
                ]
                joined = pd.concat(pairs, ignore_index=True)
                if joined.empty:
                    continue
                test = mcnemar_test(joined["quadrant"], joined["predicted_a"], joined["predicted_b"])
                rows.append(
                    {
                        "model_a": model_a,
                        "model_b": model_b,
                        "seed": seed,
                        "n_parts": len(parts),
                        "n_clips": test["n"],
                        "accuracy_a": test["accuracy_a"],
                        "accuracy_b": test["accuracy_b"],
                        "a_only": test["a_only"],
                        "b_only": test["b_only"],
                        "p_value": test["p_value"],
                    }
                )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _test_pairs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Test clips predicted by both models, with ``predicted_a`` and ``predicted_b``."""
    test_a, test_b = a[a["split"] == "test"], b[b["split"] == "test"]
    return test_a.merge(test_b, on=["clip_id", "quadrant"], suffixes=("_a", "_b"))


def plot_accuracy(table: pd.DataFrame, path: str, title: str) -> None:
    """Bar chart of 4Q accuracy per model (mean, error bar = std over runs), paper numbers as dots."""
    with png_figure(path, (max(4.0, 1.1 * len(table) + 2), 3.6)) as ax:
        positions = np.arange(len(table))
        ax.bar(
            positions,
            table["accuracy_mean"],
            yerr=table["accuracy_std"],
            capsize=4,
            color="#4c72b0",
            label="ours",
        )
        has_paper = table["paper_accuracy"].notna()
        if has_paper.any():
            ax.scatter(
                positions[has_paper],
                table.loc[has_paper, "paper_accuracy"],
                color="#dd8452",
                zorder=3,
                label="paper",
            )
        ax.axhline(0.25, color="grey", linestyle=":", linewidth=1, label="chance (4 classes)")
        ax.set_xticks(positions, table["model"], rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("4Q accuracy (test)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
