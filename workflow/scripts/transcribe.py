"""Snakemake script: transcribe one shard of a dataset's clips with one AMT backend."""

from pathlib import Path

import pandas as pd

from merflow.io import write_parquet
from merflow.ledger import Ledger
from merflow.logs import setup_logging
from merflow.transcription import get_transcriber, transcribe_clips


def main(
    clips_path, backend, options, shard, n_shards, beat_grid, midi_dir, dataset, table_path, ledger_path
):
    clips = pd.read_parquet(clips_path)
    clips = clips[clips["status"] == "ok"].sort_values("clip_id").reset_index(drop=True)
    mine = clips.iloc[shard::n_shards]
    ledger = Ledger(f"transcribe_{backend}", dataset)
    table = transcribe_clips(
        {row.clip_id: Path(row.audio_path) for row in mine.itertuples()},
        get_transcriber(backend, **options),
        Path(midi_dir),
        ledger,
        beat_grid,
    )
    write_parquet(table, table_path, {"backend": backend, "options": options})
    ledger.write(ledger_path)


setup_logging(snakemake.log[0])
main(
    snakemake.input.clips,
    snakemake.wildcards.backend,
    dict(snakemake.params.options),
    int(snakemake.wildcards.shard),
    snakemake.params.n_shards,
    snakemake.params.beat_grid,
    snakemake.params.midi_dir,
    snakemake.wildcards.dataset,
    snakemake.output.table,
    snakemake.output.ledger,
)
