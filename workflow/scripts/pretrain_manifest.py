"""Snakemake script: the pretraining corpora manifest, without duplicates or evaluation test music."""

import pandas as pd

from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.datasets.pretraining import (
    USER_CORPUS,
    build_pretraining_manifest,
    default_sources,
    exclusion_from_manifests,
)


def excluded_rows(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows pretraining must not see, marked ``split = test``: every test clip of every split
    of the dataset (EMOPIA's official and MIDI-BERT splits), and every clip of a k-fold
    dataset (VGMIDI: each clip is in the test fold once)."""
    if "fold" in manifest.columns:
        return manifest.assign(split="test")
    split_columns = [c for c in manifest.columns if c.startswith("split_")] or ["split"]
    is_test = manifest[split_columns].eq("test").any(axis=1)
    return manifest.assign(split=is_test.map({True: "test", False: "train"}))


def main(manifests: list[str], mirror: str, corpora: list[str], user_dir: str, threads: int, outputs) -> None:
    ledger = Ledger("pretrain_manifest", "pretrain")
    exclude = exclusion_from_manifests(
        [excluded_rows(pd.read_parquet(p)) for p in manifests], ledger, id_columns=("piece",)
    )
    sources = {
        name: path
        for name, path in default_sources(mirror, user_dir or None).items()
        if name in corpora or name == USER_CORPUS
    }
    manifest, dropped = build_pretraining_manifest(sources, exclude, ledger, workers=threads)
    write_parquet(manifest, outputs.manifest, {"corpora": corpora})
    write_parquet(dropped, outputs.dropped)
    ledger.write(outputs.ledger)


setup_logging(snakemake.log[0])
main(
    list(snakemake.input.manifests),
    snakemake.params.mirror,
    list(snakemake.params.corpora),
    snakemake.params.user_dir,
    snakemake.threads,
    snakemake.output,
)
