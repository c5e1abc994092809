"""Snakemake script: masked-LM pretraining of MIDI-BERT (resumes from its checkpoint after a kill)."""

from pathlib import Path

import numpy as np

from merflow.io import write_json
from merflow.logs import setup_logging
from merflow.models.midibert import MidiBert, MidiBertConfig, MidiBertLM
from merflow.pretraining import PretrainSettings, pretrain_mlm
from merflow.torch_utils import save_checkpoint, seed_everything, select_device, set_threads


def main(chunks_path: str, preset: str, settings: dict, checkpoint: str, threads: int, outputs) -> None:
    set_threads(threads)
    seed_everything(settings["seed"])
    chunks = np.load(chunks_path).astype(np.int64)
    model = MidiBertLM(MidiBert(MidiBertConfig.preset(preset)))
    run_settings = PretrainSettings.from_config(settings)
    device = select_device()
    history = pretrain_mlm(model, chunks, run_settings, Path(checkpoint), device, settings["seed"])
    save_checkpoint(model.midibert.state_dict(), outputs.encoder)
    write_json({"preset": preset, "device": str(device), "n_chunks": len(chunks), **history}, outputs.history)


setup_logging(snakemake.log[0])
main(
    snakemake.input.chunks,
    snakemake.wildcards.preset,
    dict(snakemake.params.settings),
    snakemake.params.checkpoint,
    snakemake.threads,
    snakemake.output,
)
