"""Snakemake script: key/mode, handcrafted statistics and four tokenizations of one symbolic source."""

import pandas as pd

from merflow.features.caches import TOKENIZERS, symbolic_caches
from merflow.io import write_parquet
from merflow.ledger import Ledger
from merflow.logs import setup_logging


def main(midi_index: str, dataset: str, source: str, cp_rescale: bool, outputs) -> None:
    ledger = Ledger(f"symbolic_{source}", dataset)
    caches = symbolic_caches(pd.read_parquet(midi_index), ledger, cp_rescale)
    metadata = {"dataset": dataset, "source": source}
    write_parquet(caches["keys"], outputs.key_table, {**metadata, "method": "Krumhansl-Kessler"})
    write_parquet(caches["statistics"], outputs.statistics, metadata)
    for name in TOKENIZERS:
        extra = {"tokenizer": name, "cp_rescale": cp_rescale} if name == "cp" else {"tokenizer": name}
        write_parquet(caches[f"tokens_{name}"], outputs[f"tokens_{name}"], {**metadata, **extra})
    ledger.write(outputs.ledger)


setup_logging(snakemake.log[0])
main(
    snakemake.input.midi,
    snakemake.wildcards.dataset,
    snakemake.wildcards.source,
    snakemake.params.cp_rescale,
    snakemake.output,
)
