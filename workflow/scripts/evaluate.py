"""Snakemake script: metrics and confusion matrix of one run on its test split."""

from pathlib import Path

import pandas as pd

from merflow.evaluation import classification_metrics, plot_confusion
from merflow.io import read_json, write_json
from merflow.logs import setup_logging


def main(predictions_path: str, metrics_path: str, confusion_path: str) -> None:
    predictions = pd.read_parquet(predictions_path)
    training = read_json(Path(predictions_path).with_name("training.json"))
    by_split = {
        split: classification_metrics(rows["quadrant"], rows["predicted"])
        for split, rows in predictions.groupby("split")
    }
    if "test" not in by_split:
        raise ValueError(f"{predictions_path}: no test clips to evaluate")
    write_json({**training, "level": "clip", **by_split}, metrics_path)
    title = f"{training['dataset']} {training['model']} {training['part']} seed {training['seed']}"
    title += f"\n4Q accuracy {by_split['test']['accuracy']:.3f} (n={by_split['test']['n']})"
    plot_confusion(by_split["test"]["confusion"], confusion_path, title)


setup_logging(snakemake.log[0])
main(snakemake.input.predictions, snakemake.output.metrics, snakemake.output.confusion)
