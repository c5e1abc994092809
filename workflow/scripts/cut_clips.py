"""Snakemake script: cut every clip of a dataset from its downloaded song audio."""

import logging
from pathlib import Path

import pandas as pd

from merflow.acquisition.clips import cut_dataset_clips
from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.datasets.manifest import read_manifest


def main(
    manifest_path: str, downloads: list[str], clips_dir: str, dataset: str, clips_path: str, ledger_path: str
):
    ledger = Ledger("cut_clips", dataset)
    status = pd.concat([pd.read_parquet(p) for p in downloads], ignore_index=True)
    table = cut_dataset_clips(read_manifest(manifest_path), status, Path(clips_dir), ledger)
    counts = table["status"].value_counts().to_dict()
    logging.getLogger("cut_clips").info("clip audio: %s", counts)
    write_parquet(table, clips_path)
    ledger.write(ledger_path)


setup_logging(snakemake.log[0])
main(
    snakemake.input.manifest,
    list(snakemake.input.downloads),
    snakemake.params.clips_dir,
    snakemake.wildcards.dataset,
    snakemake.output.clips,
    snakemake.output.ledger,
)
