"""Learning curves of neural runs: validation accuracy and training loss by epoch.

Reads what every neural run stores in its ``metrics.json`` (``curves``: ``train_loss``,
``val_clip_accuracy``, ``val_loss``, one value per epoch run; ``history.best_epoch``,
0-based; ``test``). :func:`curves_table` gives one row per run (model, partition, seed) with
the validation accuracy at chosen epochs (1-based, as in the job logs), the best epoch and its
test accuracy; :func:`plot_curves` draws validation accuracy against epoch, one line per run
and one colour per model. Runs without curves (classical models) are left out.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from merflow.core.plots import png_figure

#: Epochs (1-based) shown by :func:`curves_table` when the run reached them.
SHOWN_EPOCHS = (1, 2, 3, 5, 10, 15, 20, 30, 45)


def _run_order(run: dict[str, Any]) -> tuple[str, str, int]:
    return run["model"], run["part"], run["seed"]


def curves_table(runs: list[dict[str, Any]], epochs: tuple[int, ...] = SHOWN_EPOCHS) -> pd.DataFrame:
    """One row per run that has curves: model, partition, seed, validation accuracy at ``epochs``,
    best epoch (1-based) with its validation accuracy, epochs run, last training loss, test accuracy."""
    rows = []
    for run in sorted(runs, key=_run_order):
        curves = run.get("curves", {})
        accuracy = curves.get("val_clip_accuracy")
        if not accuracy:
            continue
        best = int(run["history"]["best_epoch"])
        row: dict[str, Any] = {"model": run["model"], "part": run["part"], "seed": run["seed"]}
        row.update({f"val@{e}": accuracy[e - 1] if e <= len(accuracy) else float("nan") for e in epochs})
        row.update(
            {
                "best epoch": best + 1,
                "best val": accuracy[best],
                "epochs run": len(accuracy),
                "last train loss": curves["train_loss"][-1],
                "test acc": run["test"]["accuracy"],
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def curves_markdown(table: pd.DataFrame, title: str) -> str:
    """``table`` of :func:`curves_table` as Markdown, numbers to 3 decimals."""
    if table.empty:
        return f"# {title}\n\nNo run of this table trains by epochs (classical models have no curve).\n"
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    lines = []
    for row in table.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells).replace("nan", "-") + " |")
    note = (
        "Validation clip accuracy at each epoch (1-based), the epoch whose weights were tested, "
        "and its test accuracy.\n\n"
    )
    return f"# {title}\n\n{note}{header}" + "\n".join(lines) + "\n"


def plot_curves(runs: list[dict[str, Any]], path: str | Path, title: str) -> None:
    """Validation clip accuracy against epoch, one line per run (a colour per model, its runs
    counted in the legend), the tested epoch marked."""
    with_curves = [r for r in sorted(runs, key=_run_order) if r.get("curves", {}).get("val_clip_accuracy")]
    counts = Counter(r["model"] for r in with_curves)  # models in first-seen order
    colours = {model: f"C{i % 10}" for i, model in enumerate(counts)}
    labelled: set[str] = set()
    with png_figure(path, (7.0, 4.0)) as ax:
        for run in with_curves:
            accuracy, model = run["curves"]["val_clip_accuracy"], run["model"]
            epochs = range(1, len(accuracy) + 1)
            label = None if model in labelled else f"{model} ({counts[model]} runs)"
            labelled.add(model)
            ax.plot(epochs, accuracy, linewidth=1.0, alpha=0.8, color=colours[model], label=label)
            best = int(run["history"]["best_epoch"])
            ax.scatter([best + 1], [accuracy[best]], color=colours[model], zorder=3, s=14)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation clip accuracy")
        ax.set_title(title, fontsize=9)
        if with_curves:
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.text(0.5, 0.5, "no run trains by epochs", ha="center", va="center", transform=ax.transAxes)
