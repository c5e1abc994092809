"""Snakemake script: CP tokens of every pretraining piece, cut into chunks (two .npy arrays:
the training chunks and those of the held-out pieces)."""

import logging

import numpy as np
import pandas as pd

from merflow.core.errors import InputError
from merflow.core.io import atomic_path
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress, setup_logging
from merflow.datasets.pretraining import is_held_out
from merflow.tokenizers.cp import chunk_cp, encode_cp

log = logging.getLogger("pretrain_chunks")


def save(chunks: list[np.ndarray], max_len: int, path: str) -> int:
    """Write the chunks (n, max_len, 4) as int16 (ids < 100 keep the file small); return n."""
    array = np.concatenate(chunks) if chunks else np.zeros((0, max_len, 4))
    with atomic_path(path) as tmp:
        np.save(tmp, array.astype(np.int16))
    return len(array)


def main(manifest_path: str, max_len: int, cp_rescale: bool, held_out_fraction: float, outputs) -> None:
    manifest = pd.read_parquet(manifest_path)
    ledger = Ledger("pretrain_chunks", "pretrain")
    progress = Progress(log, len(manifest), "pieces", every=250)
    training, held_out = [], []
    for row in manifest.itertuples():
        try:
            chunks = chunk_cp(encode_cp(row.path, rescale=cp_rescale, item=row.piece_id), max_len)
        except InputError as err:
            ledger.record(err)
        else:
            (held_out if is_held_out(row.corpus, row.piece_id, held_out_fraction) else training).append(
                chunks
            )
        progress.step()
    n_training = save(training, max_len, outputs.chunks)
    n_held_out = save(held_out, max_len, outputs.held_out)
    log.info(
        "%d training chunks of %d notes from %d pieces; %d held-out chunks from %d pieces (%.1f%% of pieces)",
        n_training,
        max_len,
        len(training),
        n_held_out,
        len(held_out),
        100 * held_out_fraction,
    )
    ledger.write(outputs.ledger)


setup_logging(snakemake.log[0])
main(
    snakemake.input.manifest,
    snakemake.params.max_len,
    snakemake.params.cp_rescale,
    snakemake.params.held_out_fraction,
    snakemake.output,
)
