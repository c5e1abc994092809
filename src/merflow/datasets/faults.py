"""Deliberately broken items, so that every demo run shows the failure path at work.

Conventions
-----------
:func:`inject_faults` breaks ``broken_urls`` songs (their URL points to a file that does
not exist, like a YouTube video that was taken down) and ``corrupt_midis`` clip MIDI
files (overwritten with bytes that are not MIDI). The choice is seeded and made among
training clips, so the test split stays complete. The pipeline must record each broken
item in the failure ledger and finish the run for the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from merflow.core.io import atomic_path

NOT_MIDI = b"MThd\x00\x00\x00\x06 this is not a MIDI file"


def inject_faults(manifest: pd.DataFrame, broken_urls: int, corrupt_midis: int, seed: int) -> pd.DataFrame:
    """Return a copy of ``manifest`` with broken URLs, and corrupt the chosen clip MIDI files on disk.

    Songs with a broken URL and clips with a corrupt MIDI are disjoint.

    Raises:
        ValueError: if the training split has too few songs for the requested faults.
    """
    rng = np.random.default_rng(seed)
    out = manifest.copy()
    train_songs = sorted(out.loc[out["split"] == "train", "song_id"].unique())
    if broken_urls + corrupt_midis > len(train_songs):
        raise ValueError(
            f"cannot break {broken_urls + corrupt_midis} songs: only {len(train_songs)} train songs"
        )
    chosen = rng.choice(train_songs, size=broken_urls + corrupt_midis, replace=False)
    for song_id in chosen[:broken_urls]:
        rows = out["song_id"] == song_id
        missing = Path(out.loc[rows, "url"].iloc[0].removeprefix("file://")).with_name(f"gone_{song_id}.wav")
        out.loc[rows, "url"] = missing.as_uri()
    for song_id in chosen[broken_urls:]:
        midi_path = out.loc[out["song_id"] == song_id, "midi_path"].iloc[0]
        with atomic_path(midi_path) as tmp:
            tmp.write_bytes(NOT_MIDI)
    return out
