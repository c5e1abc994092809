"""Snakemake script: fine-tune one MoFi / MIDI-BERT model on one partition with one seed."""

import pandas as pd

from merflow.datasets.manifest import read_manifest
from merflow.finetuning import FinetuneSettings, run_mofi
from merflow.io import write_json, write_parquet
from merflow.logs import setup_logging
from merflow.models.checkpoint import load_midibert_checkpoint
from merflow.models.midibert import MidiBertConfig
from merflow.provenance import file_sha256, training_record
from merflow.torch_utils import save_checkpoint, select_device, set_threads


def main(
    inputs, settings: dict, midibert: dict, dataset, model_name, part, seed, code, threads, outputs
) -> None:
    set_threads(threads)
    config = MidiBertConfig.preset(midibert["preset"])
    encoder_path = midibert["checkpoint"] or inputs.encoder
    encoder = load_midibert_checkpoint(encoder_path, config)
    run_settings = FinetuneSettings.from_config(midibert["finetune"], settings["augmentation"])
    device = select_device()
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
    )
    save_checkpoint(run.model.state_dict(), outputs.model)
    write_parquet(run.predictions, outputs.predictions)
    write_parquet(run.chunk_predictions, outputs.chunks)
    record = training_record(
        {
            "dataset": dataset,
            "model": model_name,
            "part": part,
            "seed": seed,
            "settings": settings,
            "code_version": code,
            "device": str(device),
            "preset": midibert["preset"],
        },
        run.history,
        ("train_loss", "val_clip_accuracy", "val_chunk_accuracy"),
        inputs.manifest,
        {"tokens": file_sha256(inputs.tokens)},
        encoder=str(encoder_path),
    )
    write_json(record, outputs.history)


setup_logging(snakemake.log[0])
main(
    snakemake.input,
    dict(snakemake.params.settings),
    dict(snakemake.params.midibert),
    snakemake.wildcards.dataset,
    snakemake.wildcards.model,
    snakemake.wildcards.part,
    int(snakemake.wildcards.seed),
    snakemake.params.code,
    snakemake.threads,
    snakemake.output,
)
