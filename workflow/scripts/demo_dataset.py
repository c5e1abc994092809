"""Snakemake script: compose, render and split the embedded demo dataset."""

from pathlib import Path

from merflow.core.io import read_parquet_metadata, write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.datasets.demo import generate_demo
from merflow.datasets.faults import inject_faults
from merflow.datasets.manifest import validate_manifest


def main(settings: dict, sample_rate: int, out_dir: str, manifest_path: str, ledger_path: str) -> None:
    manifest = generate_demo(
        Path(out_dir).resolve(),
        n_songs=settings["n_songs"],
        clips_per_song=settings["clips_per_song"],
        clip_s=settings["clip_s"],
        gap_s=settings["gap_s"],
        sample_rate=sample_rate,
        seed=settings["seed"],
    )
    metadata = read_parquet_metadata(Path(out_dir) / "manifest.parquet")
    manifest = inject_faults(manifest, settings["broken_urls"], settings["corrupt_midis"], settings["seed"])
    write_parquet(validate_manifest(manifest, manifest_path), manifest_path, metadata)
    Ledger("manifest", "demo").write(ledger_path)


setup_logging(snakemake.log[0])
main(
    dict(snakemake.params.settings),
    snakemake.params.sample_rate,
    snakemake.params.out_dir,
    snakemake.output.manifest,
    snakemake.output.ledger,
)
