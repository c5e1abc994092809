"""Snakemake script: download one shard of a dataset's songs with yt-dlp."""

from pathlib import Path

from merflow.acquisition.download import acquire_songs
from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.datasets.manifest import read_manifest, songs_of


def main(manifest_path, shard, n_shards, songs_dir, sample_rate, download, dataset, status_path, ledger_path):
    songs = songs_of(read_manifest(manifest_path)).iloc[shard::n_shards]
    ledger = Ledger("download", dataset)
    status = acquire_songs(
        songs,
        Path(songs_dir),
        sample_rate,
        ledger,
        retries=download["retries"],
        backoff_s=download["backoff_s"],
        socket_timeout_s=download["socket_timeout_s"],
        ytdlp_options=download["ytdlp_options"],
    )
    write_parquet(status, status_path, {"shard": shard, "n_shards": n_shards})
    ledger.write(ledger_path)


setup_logging(snakemake.log[0])
main(
    snakemake.input.manifest,
    int(snakemake.wildcards.shard),
    snakemake.params.n_shards,
    snakemake.params.songs_dir,
    snakemake.params.sample_rate,
    dict(snakemake.params.download),
    snakemake.wildcards.dataset,
    snakemake.output.status,
    snakemake.output.ledger,
)
