"""Snakemake script: train one neural model (LSTM-Attn, short-chunk ResNet, Zhao & Yoshii, Zhu et al.)."""

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from merflow.core.io import read_matrix_table, read_parquet_metadata, write_json, write_parquet
from merflow.core.logs import setup_logging
from merflow.core.provenance import (
    RESUME_FILE,
    file_sha256,
    job_identity,
    resume_identity,
    training_record,
)
from merflow.datasets.manifest import read_manifest
from merflow.features.caches import audio_feature_settings
from merflow.training.neural import NeuralSettings, frame_columns_for, train_neural
from merflow.training.torch_utils import load_checkpoint, save_checkpoint, select_device, set_threads


def main(inputs, params, wildcards, threads, outputs) -> None:
    set_threads(threads)
    settings, neural = dict(params.settings), dict(params.neural)
    part, seed = wildcards.part, int(wildcards.seed)
    paths = dict(inputs.items())  # manifest, and tokens and/or frames
    frame_metadata = read_parquet_metadata(paths["frames"]) if "frames" in paths else {}
    frame_rate = frame_metadata.get("frame_rate_hz")
    run_settings = NeuralSettings.from_config(neural, frame_rate, settings.get("training"))
    columns = {"frames": frame_columns_for(run_settings, settings)}  # the frames a model reads
    tables = {  # frames: one float32 matrix per clip, read batch by batch (half the memory)
        name: read_matrix_table(path, columns[name]) if name in columns else pd.read_parquet(path)
        for name, path in paths.items()
        if name not in ("manifest", "pretrained")
    }
    pretrained = load_checkpoint(paths["pretrained"], "cpu") if "pretrained" in paths else None
    device = select_device()
    resume = Path(outputs.model).with_name(RESUME_FILE)
    identity = resume_identity([settings, neural, dict(wildcards.items()), params.code], paths)
    run = train_neural(
        read_manifest(inputs.manifest),
        tables,
        run_settings,
        settings,
        part,
        seed,
        device,
        pretrained,
        resume=(resume, identity),
    )
    save_checkpoint(run.model.state_dict(), outputs.model)
    write_parquet(run.predictions, outputs.predictions)
    if run.chunk_predictions is not None:
        write_parquet(run.chunk_predictions, outputs.chunks)
    digested = (*tables, *(["pretrained"] if pretrained else []))
    record = training_record(
        job_identity(wildcards, settings, params.code, device, run_settings.preset),
        run.history,
        ("train_loss", "val_clip_accuracy", "val_loss"),
        inputs.manifest,
        {name: file_sha256(paths[name]) for name in digested},
        neural=asdict(run_settings),
        # runs on audio frames: the feature settings, so the run folder alone can label audio
        **({"audio_features": audio_feature_settings(frame_metadata)} if frame_metadata else {}),
    )
    write_json(record, outputs.history)
    resume.unlink(missing_ok=True)


setup_logging(snakemake.log[0])
main(snakemake.input, snakemake.params, snakemake.wildcards, snakemake.threads, snakemake.output)
