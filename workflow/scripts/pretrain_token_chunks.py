"""Snakemake script: refined MIDI-like tokens of every pretraining piece, cut into chunks (one .npy)."""

import logging

import numpy as np
import pandas as pd

from merflow.core.errors import InputError
from merflow.core.io import atomic_path
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress, setup_logging
from merflow.music.midi import read_notes
from merflow.tokenizers import refined_midi_like
from merflow.tokenizers.chunks import chunk_rows

log = logging.getLogger("pretrain_token_chunks")


def main(manifest_path: str, max_len: int, chunks_path: str, ledger_path: str) -> None:
    manifest = pd.read_parquet(manifest_path)
    ledger = Ledger("pretrain_token_chunks", "pretrain")
    progress = Progress(log, len(manifest), "pieces", every=250)
    pad = [refined_midi_like.VOCAB_SIZE]  # <PAD> of the one-field masked-LM vocabulary
    parts = []
    for row in manifest.itertuples():
        try:
            tokens = refined_midi_like.encode(read_notes(row.path, row.piece_id))
            parts.append(chunk_rows(tokens, max_len, pad))
        except InputError as err:
            ledger.record(err)
        progress.step()
    chunks = np.concatenate(parts).astype(np.int16)  # ids <= 405
    log.info("%d chunks of %d tokens from %d pieces", len(chunks), max_len, len(parts))
    with atomic_path(chunks_path) as tmp:
        np.save(tmp, chunks)
    ledger.write(ledger_path)


setup_logging(snakemake.log[0])
main(snakemake.input.manifest, snakemake.params.max_len, snakemake.output.chunks, snakemake.output.ledger)
