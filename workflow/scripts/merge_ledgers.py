"""Snakemake script: one ledger of every item the run could not process."""

import logging

from merflow.core.ledger import merge_ledgers
from merflow.core.logs import setup_logging


def main(ledgers: list[str], out: str) -> None:
    merged = merge_ledgers(ledgers, out)
    logging.getLogger("ledger").info("%d failed items recorded in %s", len(merged), out)


setup_logging(snakemake.log[0])
main(list(snakemake.input.ledgers), snakemake.output.ledger)
