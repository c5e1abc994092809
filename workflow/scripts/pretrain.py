"""Snakemake script: masked-LM pretraining (resumes from its checkpoint after a kill).

``params.kind`` picks the model: ``midibert`` (MIDI-BERT on CP chunks) or ``zhu`` (Zhu et
al.'s symbolic encoder on refined MIDI-like chunks).
"""

from merflow.core.logs import setup_logging
from merflow.models.midibert import CP_VOCAB_SIZES, MidiBert, MidiBertConfig, MidiBertLM
from merflow.models.zhu import SymbolicLM, ZhuConfig
from merflow.tokenizers import refined_midi_like
from merflow.training.pretraining import pretrain_to_files, special_token_vocab
from merflow.training.torch_utils import set_threads


def build(kind: str, preset: str):
    """(masked-LM model, the encoder inside it that fine-tuning loads, vocabulary sizes)."""
    if kind == "midibert":
        model = MidiBertLM(MidiBert(MidiBertConfig.preset(preset)))
        return model, model.midibert, CP_VOCAB_SIZES
    vocab = special_token_vocab(refined_midi_like.VOCAB_SIZE)
    model = SymbolicLM(ZhuConfig.preset(preset, vocab[0]))
    return model, model.encoder, vocab


def main(kind: str, inputs, preset: str, settings: dict, checkpoint: str, threads: int, outputs) -> None:
    set_threads(threads)
    model, encoder, vocab = build(kind, preset)
    files = (inputs.chunks, settings, checkpoint, outputs.encoder, outputs.history)
    description = {"model": kind, "preset": preset}
    pretrain_to_files(model, encoder, *files, description, vocab, inputs.get("held_out"))


setup_logging(snakemake.log[0])
main(
    snakemake.params.kind,
    snakemake.input,
    snakemake.wildcards.preset,
    dict(snakemake.params.settings),
    snakemake.params.checkpoint,
    snakemake.threads,
    snakemake.output,
)
