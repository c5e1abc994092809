"""Snakemake script: annotate one shard of a corpus folder with the configured run (resumable)."""

import shutil
from pathlib import Path

from merflow.core.io import atomic_path
from merflow.core.logs import setup_logging
from merflow.inference.annotation import annotate, ledger_path_for
from merflow.inference.prediction import load_predictor


def main(inputs, params, wildcards, threads, outputs) -> None:
    """Annotate into the shard's partial table (kept between jobs), then copy it to the outputs."""
    predictor = load_predictor(Path(inputs.metrics).parent)
    shard = (int(wildcards.shard), params.shards)
    annotate(
        params.folder, params.partial, predictor, batch_size=params.batch_size, workers=threads, shard=shard
    )
    copies = {Path(params.partial): outputs.table, ledger_path_for(params.partial): outputs.ledger}
    for source, target in copies.items():
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


setup_logging(snakemake.log[0])
main(snakemake.input, snakemake.params, snakemake.wildcards, snakemake.threads, snakemake.output)
