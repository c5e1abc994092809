"""Snakemake script: key/mode, handcrafted statistics and tokens of one symbolic source."""

import pandas as pd

from merflow.features.caches import symbolic_caches
from merflow.io import write_parquet
from merflow.ledger import Ledger
from merflow.logs import setup_logging


def main(midi_index: str, dataset: str, source: str, outputs) -> None:
    ledger = Ledger(f"symbolic_{source}", dataset)
    caches = symbolic_caches(pd.read_parquet(midi_index), ledger)
    metadata = {"dataset": dataset, "source": source}
    write_parquet(caches["keys"], outputs.key_table, {**metadata, "method": "Krumhansl-Kessler"})
    write_parquet(caches["statistics"], outputs.statistics, metadata)
    write_parquet(caches["tokens"], outputs.tokens, {**metadata, "tokenizer": "midi_like", "vocab_size": 388})
    ledger.write(outputs.ledger)


setup_logging(snakemake.log[0])
main(snakemake.input.midi, snakemake.wildcards.dataset, snakemake.wildcards.source, snakemake.output)
