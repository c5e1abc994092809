"""Snakemake script: masked-LM pretraining of Zhu et al.'s symbolic encoder (resumes after a kill)."""

from pathlib import Path

import numpy as np

from merflow.io import write_json
from merflow.logs import setup_logging
from merflow.models.zhu import SymbolicLM, ZhuConfig
from merflow.pretraining import PretrainSettings, pretrain_mlm, special_token_vocab
from merflow.tokenizers import refined_midi_like
from merflow.torch_utils import save_checkpoint, seed_everything, select_device, set_threads


def main(chunks_path: str, preset: str, settings: dict, checkpoint: str, threads: int, outputs) -> None:
    set_threads(threads)
    seed_everything(settings["seed"])
    chunks = np.load(chunks_path).astype(np.int64)
    vocab = special_token_vocab(refined_midi_like.VOCAB_SIZE)
    model = SymbolicLM(ZhuConfig.preset(preset, vocab[0]))
    device = select_device()
    history = pretrain_mlm(
        model,
        chunks,
        PretrainSettings.from_config(settings),
        Path(checkpoint),
        device,
        settings["seed"],
        vocab,
    )
    save_checkpoint(model.encoder.state_dict(), outputs.encoder)
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
