"""Snakemake script: frame features (one STFT per clip) and their statistics."""

from pathlib import Path

import pandas as pd

from merflow.acquisition.clip_cache import ClipCache
from merflow.core.io import write_parquet
from merflow.core.ledger import Ledger
from merflow.core.logs import setup_logging
from merflow.features.caches import CACHE_FOLDER, audio_cache_metadata, audio_caches
from merflow.music.audio_features import AudioFeatureConfig


def main(clips_path: str, settings: dict, sample_rate: int, dataset: str, code: str, outputs) -> None:
    clips = pd.read_parquet(clips_path)
    clips = clips[clips["status"] == "ok"]
    cfg = AudioFeatureConfig(sample_rate=sample_rate, **settings)
    ledger = Ledger("audio_features", dataset)
    cache = ClipCache(Path(outputs.frames).parent / CACHE_FOLDER, f"{code}:{cfg}")
    caches = audio_caches(dict(zip(clips["clip_id"], clips["audio_path"], strict=True)), cfg, ledger, cache)
    metadata = audio_cache_metadata(cfg)
    write_parquet(caches["frames"], outputs.frames, metadata)
    write_parquet(caches["statistics"], outputs.statistics, metadata)
    ledger.write(outputs.ledger)


setup_logging(snakemake.log[0])
main(
    snakemake.input.clips,
    dict(snakemake.params.settings),
    snakemake.params.sample_rate,
    snakemake.wildcards.dataset,
    snakemake.params.code,
    snakemake.output,
)
