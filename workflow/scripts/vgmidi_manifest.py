"""Snakemake script: obtain VGMIDI (mirror or archive) and write its k-fold clip manifest."""

from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.datasets.archive import obtain_dataset
from merflow.datasets.vgmidi import MARKERS, build_vgmidi_manifest


def main(settings: dict, mirror: str, root: str, manifest_path: str, ledger_path: str) -> None:
    folder = obtain_dataset(
        "vgmidi",
        root,
        mirror or None,
        settings["url"],
        settings["checksum"] or None,
        markers=MARKERS,
        archive_subdir=settings["archive_subdir"],
    )
    manifest = build_vgmidi_manifest(folder, n_folds=settings["n_folds"], seed=settings["seed"])
    write_parquet(manifest, manifest_path, {"n_folds": settings["n_folds"], "source": str(folder)})
    Ledger("manifest", "vgmidi").write(ledger_path)


setup_logging(snakemake.log[0])
main(
    dict(snakemake.params.settings),
    snakemake.params.mirror,
    snakemake.params.root,
    snakemake.output.manifest,
    snakemake.output.ledger,
)
