"""Snakemake script: how many clips of each split have audio, and why the others do not."""

import pandas as pd

from merflow.acquisition.rendering import coverage_markdown, coverage_report
from merflow.core.io import atomic_path, write_text
from merflow.core.logs import setup_logging
from merflow.datasets.manifest import read_manifest


def main(manifest_path: str, clips_path: str, source: str, dataset: str, csv: str, markdown: str) -> None:
    report = coverage_report(read_manifest(manifest_path), pd.read_parquet(clips_path))
    with atomic_path(csv) as tmp:
        report.to_csv(tmp, index=False, float_format="%.4f")
    write_text(coverage_markdown(report, f"{dataset}: clips with audio (source: {source})"), markdown)


setup_logging(snakemake.log[0])
main(
    snakemake.input.manifest,
    snakemake.input.clips,
    snakemake.params.source,
    snakemake.wildcards.dataset,
    snakemake.output.csv,
    snakemake.output.markdown,
)
