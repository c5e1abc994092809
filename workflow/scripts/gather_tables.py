"""Snakemake script: concatenate the shard tables of a scatter-gather stage."""

import pandas as pd

from merflow.core.io import write_parquet
from merflow.core.logs import setup_logging


def main(shards: list[str], out: str) -> None:
    table = pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True)
    write_parquet(table.sort_values("clip_id").reset_index(drop=True), out)


setup_logging(snakemake.log[0])
main(list(snakemake.input.shards), snakemake.output.table)
