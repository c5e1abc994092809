"""Snakemake script: index the dataset's own clip MIDI as the ``oracle`` source."""

from merflow.core.io import write_parquet
from merflow.core.logs import setup_logging
from merflow.datasets.manifest import read_manifest
from merflow.datasets.sources import oracle_index


def main(manifest_path: str, table_path: str) -> None:
    write_parquet(oracle_index(read_manifest(manifest_path)), table_path, {"source": "oracle"})


setup_logging(snakemake.log[0])
main(snakemake.input.manifest, snakemake.output.table)
