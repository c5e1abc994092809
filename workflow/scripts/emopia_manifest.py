"""Snakemake script: obtain EMOPIA 1.0 (mirror or archive) and write its clip manifest."""

from merflow.datasets.archive import obtain_dataset
from merflow.datasets.emopia import MARKERS, build_emopia_manifest
from merflow.errors import InputError
from merflow.io import write_parquet
from merflow.ledger import Ledger
from merflow.logs import setup_logging


def main(settings: dict, mirror: str, root: str, manifest_path: str, ledger_path: str) -> None:
    folder = obtain_dataset(
        "emopia", root, mirror or None, settings["url"], settings["checksum"] or None, markers=MARKERS
    )
    manifest = build_emopia_manifest(folder, split=settings["split"])
    ledger = Ledger("manifest", "emopia")
    for row in manifest[~manifest["has_timestamps"].astype(bool)].itertuples():
        message = f"no clip timestamps in the release ({row.timestamp_issue}): no audio can be cut"
        ledger.record(InputError(row.clip_id, "no_timestamps", message, row.midi_path))
    write_parquet(manifest, manifest_path, {"split": settings["split"], "source": str(folder)})
    ledger.write(ledger_path)


setup_logging(snakemake.log[0])
main(
    dict(snakemake.params.settings),
    snakemake.params.mirror,
    snakemake.params.root,
    snakemake.output.manifest,
    snakemake.output.ledger,
)
