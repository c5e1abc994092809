"""Snakemake script: transcribe one shard of a dataset's clips with one AMT backend."""

from pathlib import Path

import pandas as pd

from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.transcription import evenly_spaced, get_transcriber, transcribe_clips


def main(
    clips_path,
    backend,
    options,
    shard,
    n_shards,
    beat_grid,
    midi_dir,
    dataset,
    table_path,
    ledger_path,
    threads,
):
    options = dict(options)
    max_clips = options.pop("max_clips", 0)
    if "threads" in options:  # transkun's worker uses the cores Snakemake reserved for the job
        options["threads"] = threads
    clips = pd.read_parquet(clips_path)
    clips = evenly_spaced(clips[clips["status"] == "ok"].sort_values("clip_id"), max_clips)
    mine = clips.iloc[shard::n_shards]
    ledger = Ledger(f"transcribe_{backend}", dataset)
    transcriber = get_transcriber(backend, **options)
    try:
        table = transcribe_clips(
            {row.clip_id: Path(row.audio_path) for row in mine.itertuples()},
            transcriber,
            Path(midi_dir),
            ledger,
            beat_grid,
        )
    finally:
        getattr(transcriber, "close", lambda: None)()  # ends a worker process (transkun)
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
    snakemake.threads,
)
