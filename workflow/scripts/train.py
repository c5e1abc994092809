"""Snakemake script: train one model on one partition with one seed."""

import logging

import joblib
import pandas as pd

from merflow.datasets.manifest import read_manifest
from merflow.io import atomic_path, write_json, write_parquet
from merflow.logs import setup_logging
from merflow.provenance import file_sha256
from merflow.training import train_classical


def main(manifest_path, features_path, settings, dataset, model, part, seed, code, outputs) -> None:
    manifest = read_manifest(manifest_path)
    result = train_classical(pd.read_parquet(features_path), manifest, settings, part, seed)
    logging.getLogger("train").info("%s/%s/seed%d: best C=%s", model, part, seed, result.history["best_C"])
    with atomic_path(outputs.model) as tmp:
        joblib.dump(result.model, tmp)
    write_parquet(result.predictions, outputs.predictions)
    write_json(
        {
            "dataset": dataset,
            "model": model,
            "part": part,
            "seed": seed,
            "settings": settings,
            "code_version": code,
            "manifest_sha256": file_sha256(manifest_path),
            "features_sha256": file_sha256(features_path),
            "device": "cpu",
            "preset": "classical",
            "history": result.history,
            "curves": {"val_accuracy_by_C": list(result.history["val_accuracy_by_C"].values())},
        },
        outputs.history,
    )


setup_logging(snakemake.log[0])
main(
    snakemake.input.manifest,
    snakemake.input.features,
    dict(snakemake.params.settings),
    snakemake.wildcards.dataset,
    snakemake.wildcards.model,
    snakemake.wildcards.part,
    int(snakemake.wildcards.seed),
    snakemake.params.code,
    snakemake.output,
)
