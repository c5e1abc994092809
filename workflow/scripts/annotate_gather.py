"""Snakemake script: gather a corpus's annotated shards into one table and one ledger."""

from merflow.annotation import gather
from merflow.logs import setup_logging

setup_logging(snakemake.log[0])
gather(snakemake.input.tables, snakemake.output.table)
