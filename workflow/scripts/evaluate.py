"""Snakemake script: metrics and confusion matrix of one run on its test split."""

from pathlib import Path

import pandas as pd

from merflow.core.io import read_json, write_json
from merflow.core.logs import setup_logging
from merflow.evaluation.metrics import classification_metrics, plot_confusion


def metrics_by_split(predictions: pd.DataFrame) -> dict:
    return {
        split: classification_metrics(rows["quadrant"], rows["predicted"])
        for split, rows in predictions.groupby("split")
    }


def main(predictions_path: str, metrics_path: str, confusion_path: str) -> None:
    run_dir = Path(predictions_path).parent
    training = read_json(run_dir / "training.json")
    by_split = metrics_by_split(pd.read_parquet(predictions_path))
    if "test" not in by_split:
        raise ValueError(f"{predictions_path}: no test clips to evaluate")
    metrics = {**training, "level": "clip", **by_split}
    chunks = run_dir / "predictions_chunks.parquet"  # written by the same job, for chunk models
    if chunks.is_file():
        metrics["chunk"] = metrics_by_split(pd.read_parquet(chunks))
    write_json(metrics, metrics_path)
    title = f"{training['dataset']} {training['model']} {training['part']} seed {training['seed']}"
    title += f"\n4Q accuracy {by_split['test']['accuracy']:.3f} (n={by_split['test']['n']})"
    plot_confusion(by_split["test"]["confusion"], confusion_path, title)


setup_logging(snakemake.log[0])
main(snakemake.input.predictions, snakemake.output.metrics, snakemake.output.confusion)
