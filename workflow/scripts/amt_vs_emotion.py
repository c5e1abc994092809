"""Snakemake script: emotion accuracy against transcription quality."""

import pandas as pd

from merflow.core.logs import setup_logging
from merflow.transcription.evaluation import plot_f1_vs_accuracy


def main(summary: str, results: str, dataset: str, split: str, plot: str) -> None:
    plot_f1_vs_accuracy(
        pd.read_csv(summary),
        pd.read_csv(results),
        plot,
        f"{dataset}, split {split}: accuracy vs transcription F1",
    )


setup_logging(snakemake.log[0])
main(
    snakemake.input.summary,
    snakemake.input.results,
    snakemake.wildcards.dataset,
    snakemake.wildcards.split,
    snakemake.output.plot,
)
