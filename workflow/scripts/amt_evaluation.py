"""Snakemake script: note-level scores of every AMT backend against the dataset's own MIDI."""

import pandas as pd

from merflow.core.io import atomic_path, write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.transcription.evaluation import evaluate_backend, plot_f1, summarize_backends


def main(oracle: str, backend_tables: list[str], backends: list[str], dataset: str, outputs) -> None:
    ledger = Ledger("amt_evaluation", dataset)
    oracle_index = pd.read_parquet(oracle)
    transcriptions = {b: pd.read_parquet(p) for b, p in zip(backends, backend_tables, strict=True)}
    per_clip = pd.concat(
        [evaluate_backend(oracle_index, table, backend, ledger) for backend, table in transcriptions.items()],
        ignore_index=True,
    )
    summary = summarize_backends(per_clip, transcriptions)
    write_parquet(per_clip, outputs.per_clip)
    with atomic_path(outputs.summary) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4f")
    plot_f1(per_clip, outputs.plot, f"{dataset}: transcription vs the dataset's MIDI")
    ledger.write(outputs.ledger)


setup_logging(snakemake.log[0])
main(
    snakemake.input.oracle,
    list(snakemake.input.backends),
    list(snakemake.params.backends),
    snakemake.wildcards.dataset,
    snakemake.output,
)
