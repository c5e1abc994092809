"""Snakemake script: gather a corpus's annotated shards into one table and one ledger."""

from merflow.core.logs import setup_logging
from merflow.inference.annotation import gather

setup_logging(snakemake.log[0])
gather(snakemake.input.tables, snakemake.output.table)
