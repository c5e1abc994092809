"""Snakemake script: layer-wise probing of the frozen pretrained MIDI-BERT on one dataset."""

import pandas as pd

from merflow.core.io import atomic_path
from merflow.core.logs import setup_logging
from merflow.datasets.manifest import read_manifest
from merflow.models.checkpoint import load_midibert_checkpoint
from merflow.models.midibert import MidiBertConfig
from merflow.training.finetuning import FinetuneSettings, partition_chunks
from merflow.training.probing import plot_probing, probe_layers
from merflow.training.torch_utils import select_device, set_threads


def main(
    inputs,
    midibert: dict,
    injection: str,
    part: str,
    seed: int,
    threads: int,
    dataset: str,
    split: str,
    outputs,
):
    set_threads(threads)
    encoder = load_midibert_checkpoint(
        midibert["checkpoint"] or inputs.encoder, MidiBertConfig.preset(midibert["preset"])
    )
    settings = FinetuneSettings.from_config(midibert["finetune"])
    manifest = read_manifest(inputs.manifest)
    sets, _ = partition_chunks(
        manifest, pd.read_parquet(inputs.tokens), pd.read_parquet(inputs.key_table), part, settings.max_len
    )
    table = probe_layers(encoder, sets["train"], sets["val"], sets["test"], settings, select_device(), seed)
    table.insert(0, "dataset", dataset)
    table.insert(1, "split", split)
    table.insert(2, "part", part)
    table.insert(3, "seed", seed)
    table.insert(4, "preset", midibert["preset"])
    with atomic_path(outputs.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    title = f"{dataset}, split {split} ({part}): probing the frozen MIDI-BERT ({midibert['preset']})"
    plot_probing(table, injection, outputs.plot, title)


setup_logging(snakemake.log[0])
main(
    snakemake.input,
    dict(snakemake.params.midibert),
    snakemake.params.injection,
    snakemake.params.part,
    snakemake.params.seed,
    snakemake.threads,
    snakemake.wildcards.dataset,
    snakemake.wildcards.split,
    snakemake.output,
)
