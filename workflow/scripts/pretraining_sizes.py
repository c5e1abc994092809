"""Snakemake script: the MIDI-BERT pretraining runs of the size sweep side by side (table, plot)."""

from merflow.core.io import read_json
from merflow.core.logs import setup_logging
from merflow.evaluation.pretraining_sizes import write_sizes

setup_logging(snakemake.log[0])
write_sizes(
    [read_json(path) for path in snakemake.input.histories],
    snakemake.output.md,
    snakemake.output.csv,
    snakemake.output.plot,
)
