"""Snakemake script: create the MLflow SQLite store once, before any run is logged."""

from pathlib import Path

from merflow.core.io import write_json
from merflow.core.logs import setup_logging
from merflow.evaluation.tracking import init_store


def main(db: str, artifacts: str, ready: str) -> None:
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    write_json(init_store(db), ready)


setup_logging(snakemake.log[0])
main(snakemake.params.db, snakemake.params.artifacts, snakemake.output.ready)
