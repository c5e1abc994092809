"""Snakemake script: log every run to MLflow (the store's only writer in the pipeline)."""

from pathlib import Path

from merflow.core.io import write_json
from merflow.core.logs import setup_logging
from merflow.evaluation.tracking import RunRecord, log_runs


def main(metrics: list[str], db: str, artifacts: str, config: dict, splits: dict, out: str) -> None:
    summary = log_runs([RunRecord(Path(p)) for p in metrics], db, artifacts, config, splits)
    write_json({"tracking_uri": f"sqlite:///{Path(db).resolve()}", "runs": summary}, out)


setup_logging(snakemake.log[0])
main(
    list(snakemake.input.metrics),
    snakemake.params.db,
    snakemake.config["mlflow"]["artifacts"],
    dict(snakemake.params.config),
    dict(snakemake.params.splits),
    snakemake.output.logged,
)
