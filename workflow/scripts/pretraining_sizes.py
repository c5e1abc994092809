"""Snakemake script: the MIDI-BERT pretraining runs of the size sweep side by side (table, plot)."""

from merflow.core.io import read_json, write_text
from merflow.core.logs import setup_logging
from merflow.evaluation.pretraining_sizes import plot_held_out, sizes_table, to_markdown


def main(history_paths: list[str], outputs) -> None:
    histories = [read_json(path) for path in history_paths]
    table = sizes_table(histories)
    write_text(table.to_csv(index=False), outputs.csv)
    write_text(to_markdown(table), outputs.md)
    plot_held_out(histories, outputs.plot)


setup_logging(snakemake.log[0])
main(list(snakemake.input.histories), snakemake.output)
