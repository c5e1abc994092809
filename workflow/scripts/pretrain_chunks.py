"""Snakemake script: CP tokens of every pretraining piece, cut into chunks (one .npy array)."""

import logging

import numpy as np
import pandas as pd

from merflow.core.errors import InputError
from merflow.core.io import atomic_path
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress, setup_logging
from merflow.tokenizers.cp import chunk_cp, encode_cp

log = logging.getLogger("pretrain_chunks")


def main(manifest_path: str, max_len: int, cp_rescale: bool, chunks_path: str, ledger_path: str) -> None:
    manifest = pd.read_parquet(manifest_path)
    ledger = Ledger("pretrain_chunks", "pretrain")
    progress = Progress(log, len(manifest), "pieces", every=250)
    parts = []
    for row in manifest.itertuples():
        try:
            parts.append(chunk_cp(encode_cp(row.path, rescale=cp_rescale, item=row.piece_id), max_len))
        except InputError as err:
            ledger.record(err)
        progress.step()
    chunks = np.concatenate(parts).astype(np.int16)  # ids < 100: int16 keeps the file small
    log.info("%d chunks of %d notes from %d pieces", len(chunks), max_len, len(parts))
    with atomic_path(chunks_path) as tmp:
        np.save(tmp, chunks)
    ledger.write(ledger_path)


setup_logging(snakemake.log[0])
main(
    snakemake.input.manifest,
    snakemake.params.max_len,
    snakemake.params.cp_rescale,
    snakemake.output.chunks,
    snakemake.output.ledger,
)
