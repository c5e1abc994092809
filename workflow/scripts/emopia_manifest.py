"""Snakemake script: obtain EMOPIA 1.0 (mirror or public archives) and write its clip manifest."""

from merflow.core.errors import InputError
from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.datasets.emopia import build_emopia_manifest, obtain_emopia


def main(settings: dict, mirror: str, root: str, manifest_path: str, ledger_path: str) -> None:
    folder, split_dirs = obtain_emopia(
        root, mirror or None, settings["url"], settings["checksum"], settings["split_sources"]
    )
    for split in settings["splits"]:
        if split not in split_dirs:
            message = f"split {split!r} has no source: set emopia.split_sources or data_mirror"
            raise InputError("emopia", "no_split_source", message, root)
    primary = settings["splits"][0]
    manifest = build_emopia_manifest(folder, split=primary, split_dirs=split_dirs)
    ledger = Ledger("manifest", "emopia")
    for row in manifest[~manifest["has_timestamps"].astype(bool)].itertuples():
        message = f"no clip timestamps in the release ({row.timestamp_issue}): no audio can be cut"
        ledger.record(InputError(row.clip_id, "no_timestamps", message, row.midi_path))
    write_parquet(manifest, manifest_path, {"split": primary, "source": str(folder)})
    ledger.write(ledger_path)


setup_logging(snakemake.log[0])
main(
    dict(snakemake.params.settings),
    snakemake.params.mirror,
    snakemake.params.root,
    snakemake.output.manifest,
    snakemake.output.ledger,
)
