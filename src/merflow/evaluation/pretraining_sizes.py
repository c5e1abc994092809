"""Masked-LM pretraining of MIDI-BERT at several sizes, side by side: which encoder to fine-tune.

Input: the ``history.json`` of each pretraining run (:func:`merflow.training.pretraining.pretrain_to_files`),
one per preset, all of the same settings (corpus, chunk length, learning rate, time budget).
Each history holds the held-out masked-LM curve (``held_out``: ``steps``, ``train_seconds``,
``loss`` in nats, ``accuracy`` of the chosen notes' fields) measured on whole pieces never
trained on.

:func:`sizes_table` gives one row per run: the encoder (layers x hidden, parameters), steps
done, training minutes, steps/s, the held-out loss and accuracy at the end and their best,
and which run is **chosen**: the one with the highest final held-out accuracy; among runs
within :data:`TIE_TOLERANCE` of it, the largest encoder. :func:`plot_held_out` draws the
held-out accuracy against training minutes. :func:`write_sizes` writes both (the pipeline's
rule ``pretraining_sizes`` and ``merflow sizes``, which also tables a sweep still under way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from merflow.core.io import write_text
from merflow.core.plots import png_figure
from merflow.models.midibert import MidiBertConfig

TIE_TOLERANCE = 0.005
"""Held-out accuracies closer than this (half a point) count as equal when choosing."""


def sizes_table(histories: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per pretraining run, largest encoder first, with the chosen one marked.

    Raises:
        ValueError: if a history has no held-out measure (pretrained with
            ``held_out_fraction: 0``), or none is given.
    """
    if not histories:
        raise ValueError("no pretraining history given")
    rows = []
    for history in histories:
        curve = history.get("held_out", {})
        if not curve.get("accuracy"):
            raise ValueError(f"the {history.get('preset')} pretraining has no held-out measure")
        config = MidiBertConfig.preset(history["preset"])
        minutes = history["train_seconds"] / 60
        rows.append(
            {
                "preset": history["preset"],
                "layers": config.num_layers,
                "hidden": config.hidden_size,
                "parameters_m": history["n_encoder_parameters"] / 1e6,
                "steps": history["steps_done"],
                "train_minutes": minutes,
                "steps_per_s": history["steps_done"] / max(history["train_seconds"], 1e-9),
                "held_out_loss": curve["loss"][-1],
                "held_out_accuracy": curve["accuracy"][-1],
                "best_held_out_accuracy": max(curve["accuracy"]),
                "train_accuracy": history["accuracy"][-1] if history.get("accuracy") else float("nan"),
                "held_out_chunks": history["n_held_out_chunks"],
                "threads": history.get("threads", 0),
                "device": history["device"],
            }
        )
    table = pd.DataFrame(rows).sort_values("parameters_m", ascending=False, ignore_index=True)
    best = table["held_out_accuracy"].max()
    contenders = table[table["held_out_accuracy"] >= best - TIE_TOLERANCE]
    table["chosen"] = table.index == contenders["parameters_m"].idxmax()
    return table


def to_markdown(table: pd.DataFrame, pending: tuple[str, ...] = ()) -> str:
    """The table of :func:`sizes_table` as Markdown, with a line naming the chosen encoder.

    ``pending``: presets of the sweep not yet pretrained; the choice is then among the runs so
    far, and the line says so.
    """
    lines = [
        "# MIDI-BERT masked-LM pretraining by encoder size",
        "",
        "Held-out masked-LM loss (nats) and accuracy of the chosen notes' fields, on whole pieces",
        "never trained on, at the end of each run; training minutes exclude the held-out measures.",
        "",
        "| preset | layers x hidden | params (M) | steps | train min | steps/s | held-out loss "
        "| held-out acc | best held-out acc | train acc | threads | chosen |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.preset} | {row.layers} x {row.hidden} | {row.parameters_m:.2f} | {row.steps} "
            f"| {row.train_minutes:.1f} | {row.steps_per_s:.2f} | {row.held_out_loss:.4f} "
            f"| {row.held_out_accuracy:.3f} | {row.best_held_out_accuracy:.3f} | {row.train_accuracy:.3f} "
            f"| {row.threads} | {'yes' if row.chosen else ''} |"
        )
    chosen = table[table["chosen"]].iloc[0]
    so_far = " so far" if pending else ""
    lines += [
        "",
        f"Chosen{so_far}: `{chosen['preset']}`, the largest encoder within {TIE_TOLERANCE:.3f} of the best "
        f"final held-out accuracy ({table['held_out_accuracy'].max():.3f}); "
        f"{int(chosen['held_out_chunks'])} held-out chunks.",
    ]
    if pending:
        lines.append(f"Not yet pretrained: {', '.join(f'`{preset}`' for preset in pending)}.")
    return "\n".join(lines) + "\n"


def plot_held_out(histories: list[dict[str, Any]], path: str | Path) -> None:
    """Held-out masked-LM accuracy against training minutes, one line per run, as a PNG."""
    with png_figure(path, figsize=(7, 4)) as axes:
        for history in sorted(histories, key=lambda h: h["n_encoder_parameters"]):
            curve = history["held_out"]
            label = f"{history['preset']} ({history['n_encoder_parameters'] / 1e6:.1f}M)"
            axes.plot([s / 60 for s in curve["train_seconds"]], curve["accuracy"], marker=".", label=label)
        axes.set_xlabel("training minutes")
        axes.set_ylabel("held-out masked-LM accuracy")
        axes.set_title("MIDI-BERT pretraining by encoder size")
        axes.legend()


def write_sizes(
    histories: list[dict[str, Any]],
    md: str | Path,
    csv: str | Path,
    plot: str | Path,
    pending: tuple[str, ...] = (),
) -> None:
    """Write the sizes table (Markdown and CSV) and the held-out plot of ``histories``."""
    table = sizes_table(histories)
    write_text(table.to_csv(index=False), csv)
    write_text(to_markdown(table, pending), md)
    plot_held_out(histories, plot)
