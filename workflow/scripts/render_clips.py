"""Snakemake script: render every clip's MIDI to audio (audio.source = render)."""

from pathlib import Path

from merflow.acquisition.clips import CLIP_AUDIO_COLUMNS
from merflow.acquisition.rendering import render_clips
from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.datasets.manifest import read_manifest


def main(manifest_path, clips_dir, sample_rate, backend, soundfont, threads, dataset, outputs) -> None:
    manifest = read_manifest(manifest_path)
    ledger = Ledger("render_clips", dataset)
    rendered = render_clips(
        dict(zip(manifest["clip_id"], manifest["midi_path"], strict=True)),
        Path(clips_dir),
        sample_rate,
        backend,
        soundfont or None,
        ledger,
        workers=threads,
    )
    table = manifest[["clip_id", "song_id", "split"]].merge(rendered, on="clip_id", how="left")
    write_parquet(table[CLIP_AUDIO_COLUMNS], outputs.clips, {"audio_source": "render", "renderer": backend})
    ledger.write(outputs.ledger)


setup_logging(snakemake.log[0])
main(
    snakemake.input.manifest,
    snakemake.params.clips_dir,
    snakemake.params.sample_rate,
    snakemake.params.backend,
    snakemake.params.soundfont,
    snakemake.threads,
    snakemake.wildcards.dataset,
    snakemake.output,
)
