"""Snakemake script: train one neural model (LSTM-Attn, short-chunk ResNet, Zhao & Yoshii, Zhu et al.)."""

import hashlib
from dataclasses import asdict

import pandas as pd

from merflow.datasets.manifest import read_manifest
from merflow.io import read_parquet_metadata, write_json, write_parquet
from merflow.logs import setup_logging
from merflow.neural_training import NeuralSettings, frame_columns_for, train_neural
from merflow.provenance import file_sha256
from merflow.torch_utils import load_checkpoint, save_checkpoint, select_device, set_threads


def main(
    inputs, settings: dict, neural: dict, dataset, model_name, part, seed, code, threads, outputs
) -> None:
    set_threads(threads)
    paths = dict(inputs.items())  # manifest, and tokens and/or frames
    frame_rate = read_parquet_metadata(paths["frames"]).get("frame_rate_hz") if "frames" in paths else None
    run_settings = NeuralSettings.from_config(neural, frame_rate)
    columns = {"frames": frame_columns_for(run_settings, settings)}  # the frames a model reads
    tables = {
        name: pd.read_parquet(path, columns=columns.get(name))
        for name, path in paths.items()
        if name not in ("manifest", "pretrained")
    }
    pretrained = load_checkpoint(paths["pretrained"], "cpu") if "pretrained" in paths else None
    device = select_device()
    run = train_neural(
        read_manifest(inputs.manifest), tables, run_settings, settings, part, seed, device, pretrained
    )
    save_checkpoint(run.model.state_dict(), outputs.model)
    write_parquet(run.predictions, outputs.predictions)
    if run.chunk_predictions is not None:
        write_parquet(run.chunk_predictions, outputs.chunks)
    inputs_sha256 = {
        name: file_sha256(paths[name]) for name in (*tables, *(["pretrained"] if pretrained else []))
    }
    write_json(
        {
            "dataset": dataset,
            "model": model_name,
            "part": part,
            "seed": seed,
            "settings": settings,
            "neural": asdict(run_settings),
            "code_version": code,
            "manifest_sha256": file_sha256(inputs.manifest),
            # one digest over the model's input tables (each one's digest in inputs_sha256)
            "features_sha256": combined_digest(inputs_sha256),
            "inputs_sha256": inputs_sha256,
            "device": str(device),
            "preset": run_settings.preset,
            "history": run.history,
            "curves": {
                "train_loss": run.history["train_loss"],
                "val_clip_accuracy": run.history["val_clip_accuracy"],
                "val_loss": run.history["val_loss"],
            },
        },
        outputs.history,
    )


def combined_digest(digests: dict[str, str]) -> str:
    """The digest itself for one input table, else SHA-256 of the ``name=digest`` lines."""
    if len(digests) == 1:
        return next(iter(digests.values()))
    lines = "".join(f"{name}={digest}\n" for name, digest in sorted(digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


setup_logging(snakemake.log[0])
main(
    snakemake.input,
    dict(snakemake.params.settings),
    dict(snakemake.params.neural),
    snakemake.wildcards.dataset,
    snakemake.wildcards.model,
    snakemake.wildcards.part,
    int(snakemake.wildcards.seed),
    snakemake.params.code,
    snakemake.threads,
    snakemake.output,
)
