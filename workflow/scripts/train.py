"""Snakemake script: train one model on one partition with one seed."""

import logging

import joblib
import pandas as pd

from merflow.core.io import atomic_path, read_parquet_metadata, write_json, write_parquet
from merflow.core.logs import setup_logging
from merflow.core.provenance import file_sha256, job_identity
from merflow.datasets.manifest import read_manifest
from merflow.features.caches import audio_feature_settings
from merflow.training.classical import train_classical


def audio_settings(features_path: str) -> dict:
    """The audio-feature settings of an acoustic statistics cache ({} for symbolic ones)."""
    return audio_feature_settings(read_parquet_metadata(features_path))


def main(inputs, params, wildcards, outputs) -> None:
    manifest_path, features_path = inputs.manifest, inputs.features
    settings, part, seed = dict(params.settings), wildcards.part, int(wildcards.seed)
    manifest = read_manifest(manifest_path)
    result = train_classical(pd.read_parquet(features_path), manifest, settings, part, seed)
    logging.getLogger("train").info(
        "%s/%s/seed%d: best C=%s", wildcards.model, part, seed, result.history["best_C"]
    )
    with atomic_path(outputs.model) as tmp:
        joblib.dump(result.model, tmp)
    write_parquet(result.predictions, outputs.predictions)
    write_json(
        {
            **job_identity(wildcards, settings, params.code, "cpu", "classical"),
            "manifest_sha256": file_sha256(manifest_path),
            "features_sha256": file_sha256(features_path),
            "history": result.history,
            "curves": {"val_accuracy_by_C": list(result.history["val_accuracy_by_C"].values())},
            # audio runs: the feature settings, so the run folder alone can label audio
            **({"audio_features": audio} if (audio := audio_settings(features_path)) else {}),
        },
        outputs.history,
    )


setup_logging(snakemake.log[0])
main(snakemake.input, snakemake.params, snakemake.wildcards, snakemake.output)
