"""Snakemake script: the results table of one dataset and split (Markdown and CSV)."""

from merflow.io import atomic_path, read_json, write_text
from merflow.logs import setup_logging
from merflow.results import results_table, to_markdown


def main(metrics: list[str], dataset: str, split: str, markdown: str, csv: str) -> None:
    table = results_table([read_json(p) for p in metrics], dataset, split)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    write_text(to_markdown(table, dataset, split), markdown)


setup_logging(snakemake.log[0])
main(
    list(snakemake.input.metrics),
    snakemake.wildcards.dataset,
    snakemake.wildcards.split,
    snakemake.output.markdown,
    snakemake.output.csv,
)
