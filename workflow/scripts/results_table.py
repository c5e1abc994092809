"""Snakemake script: one dataset and split's results table, paired tests, contrasts, curves and plots."""

from pathlib import Path

import pandas as pd

from merflow.core.io import atomic_path, read_json, write_text
from merflow.core.logs import setup_logging
from merflow.evaluation.contrasts import contrasts, contrasts_markdown
from merflow.evaluation.learning_curves import curves_markdown, curves_table, plot_curves
from merflow.evaluation.tables import paired_comparisons, plot_accuracy, results_table, to_markdown


def write_csv(table: pd.DataFrame, path: str) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")


def main(
    metrics: list[str],
    predictions: list[str],
    dataset: str,
    split: str,
    audio_source: str,
    pairs: list[list[str]],
    outputs,
) -> None:
    runs = [read_json(p) for p in metrics]
    table = results_table(runs, dataset, split, audio_source)
    write_csv(table, outputs.csv)
    write_text(to_markdown(table, dataset, split), outputs.markdown)
    by_run = {}
    for path in predictions:
        info = read_json(Path(path).with_name("training.json"))
        by_run[(info["model"], info["part"], info["seed"])] = pd.read_parquet(path)
    paired = paired_comparisons(by_run)
    write_csv(paired, outputs.paired)
    write_text(contrasts_markdown(contrasts(paired, pairs), pairs, dataset, split), outputs.contrasts)
    clip_level = table[table["level"] == "clip"].reset_index(drop=True)
    plot_accuracy(clip_level, outputs.plot, f"{dataset}, split {split}: 4Q accuracy (test, clip level)")
    curves_title = f"{dataset}, split {split}: learning curves"
    write_text(curves_markdown(curves_table(runs), curves_title), outputs.curves)
    plot_curves(runs, outputs.curves_plot, curves_title)


setup_logging(snakemake.log[0])
main(
    list(snakemake.input.metrics),
    list(snakemake.input.predictions),
    snakemake.wildcards.dataset,
    snakemake.wildcards.split,
    snakemake.params.audio_source,
    snakemake.params.contrasts,
    snakemake.output,
)
