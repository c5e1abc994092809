"""Snakemake script: key/mode, handcrafted statistics and four tokenizations of one symbolic source."""

from pathlib import Path

import pandas as pd

from merflow.acquisition.clip_cache import ClipCache
from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.features.caches import CACHE_FOLDER, TOKENIZERS, symbolic_caches


def main(midi_index: str, dataset: str, source: str, cp_rescale: bool, code: str, outputs) -> None:
    ledger = Ledger(f"symbolic_{source}", dataset)
    cache = ClipCache(Path(outputs.statistics).parent / CACHE_FOLDER, f"{code}:cp_rescale={cp_rescale}")
    caches = symbolic_caches(pd.read_parquet(midi_index), ledger, cp_rescale, cache)
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
    snakemake.params.code,
    snakemake.output,
)
