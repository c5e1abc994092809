"""Snakemake script: fine-tune one MoFi / MIDI-BERT model on one partition with one seed."""

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from merflow.core.io import read_json, read_parquet_metadata, write_json, write_parquet
from merflow.core.logs import setup_logging
from merflow.core.provenance import (
    RESUME_FILE,
    file_sha256,
    job_identity,
    resume_identity,
    training_record,
)
from merflow.datasets.manifest import read_manifest
from merflow.models.checkpoint import load_midibert_checkpoint
from merflow.models.midibert import MidiBertConfig
from merflow.training.finetuning import FinetuneSettings, encoder_pretraining, run_mofi
from merflow.training.torch_utils import save_checkpoint, select_device, set_threads


def main(inputs, params, wildcards, threads, outputs) -> None:
    set_threads(threads)
    settings, midibert = dict(params.settings), dict(params.midibert)
    part, seed = wildcards.part, int(wildcards.seed)
    config = MidiBertConfig.preset(midibert["preset"])
    encoder_path = midibert["checkpoint"] or inputs.encoder
    encoder = load_midibert_checkpoint(encoder_path, config)
    run_settings = FinetuneSettings.from_config(midibert["finetune"], settings["augmentation"])
    # our pretraining's steps, minutes and held-out accuracy; none for an official checkpoint
    pretraining = {} if midibert["checkpoint"] else encoder_pretraining(read_json(inputs.encoder_history))
    device = select_device()
    resume = Path(outputs.model).with_name(RESUME_FILE)  # a killed job continues from its last epoch
    identity = resume_identity(
        [settings, midibert, dict(wildcards.items()), params.code], dict(inputs.items())
    )
    run = run_mofi(
        read_manifest(inputs.manifest),
        pd.read_parquet(inputs.tokens),
        pd.read_parquet(inputs.key_table),
        encoder,
        settings["injection"],
        run_settings,
        part,
        seed,
        device,
        resume=(resume, identity),
    )
    save_checkpoint(run.model.state_dict(), outputs.model)
    write_parquet(run.predictions, outputs.predictions)
    write_parquet(run.chunk_predictions, outputs.chunks)
    record = training_record(
        job_identity(wildcards, settings, params.code, device, midibert["preset"]),
        run.history,
        ("train_loss", "val_clip_accuracy", "val_chunk_accuracy"),
        inputs.manifest,
        {"tokens": file_sha256(inputs.tokens)},
        encoder=str(encoder_path),
        encoder_pretraining=pretraining,
        finetune=asdict(run_settings),  # max_len: notes per chunk, for labelling files later
        cp_rescale=read_parquet_metadata(inputs.tokens).get("cp_rescale"),
    )
    write_json(record, outputs.history)
    resume.unlink(missing_ok=True)


setup_logging(snakemake.log[0])
main(snakemake.input, snakemake.params, snakemake.wildcards, snakemake.threads, snakemake.output)
