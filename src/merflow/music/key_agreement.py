"""Agreement of our Krumhansl-Kessler key finding with music21's, on real MIDI files.

Conventions
-----------
music21's reference is ``converter.parse(path).analyze('key.krumhanslkessler')`` (plain
``analyze('key')`` uses other weights). A file agrees when the tonic pitch class and the
mode are equal (enharmonic spellings such as E- / D# are the same pitch class).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from merflow.music.midi import read_notes
from merflow.music.tonality import estimate_key


def music21_key(path: str | Path) -> tuple[int, str]:
    """(tonic pitch class 0..11, mode) of a MIDI file by music21's Krumhansl-Kessler."""
    import music21

    key = music21.converter.parse(str(path)).analyze("key.krumhanslkessler")
    return int(key.tonic.pitchClass), str(key.mode)


def key_agreement(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per file: ours and music21's tonic and mode, ``agree``, and both times (s)."""
    rows = []
    for path in paths:
        started = time.perf_counter()
        ours = estimate_key(read_notes(path))
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        tonic, mode = music21_key(path)
        theirs_s = time.perf_counter() - started
        rows.append(
            {
                "path": str(path),
                "tonic": ours.tonic,
                "mode": ours.mode,
                "music21_tonic": tonic,
                "music21_mode": mode,
                "agree": ours.tonic == tonic and ours.mode == mode,
                "seconds": ours_s,
                "music21_seconds": theirs_s,
            }
        )
    return pd.DataFrame(rows)
