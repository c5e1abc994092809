"""Symbolic sources: where each clip's MIDI comes from.

Conventions
-----------
A *source* is ``oracle`` (the dataset's own MIDI) or an AMT backend name
(``basic_pitch``...). Every source is described by a *MIDI index*: a table with at least
``clip_id``, ``midi_path`` and ``status``. Clips whose status is ``failed`` (or whose
path is empty) have no MIDI in that source; the stage that failed recorded why in its
ledger. The feature stage reads any source through :func:`usable_midi`.
"""

from __future__ import annotations

import pandas as pd

INDEX_COLUMNS = ["clip_id", "midi_path", "status"]


def oracle_index(manifest: pd.DataFrame) -> pd.DataFrame:
    """MIDI index of the dataset's own MIDI files (status ``oracle``, or ``missing`` if none)."""
    has_midi = manifest["midi_path"].astype(str) != ""
    return pd.DataFrame(
        {
            "clip_id": manifest["clip_id"],
            "midi_path": manifest["midi_path"].astype(str),
            "status": ["oracle" if ok else "missing" for ok in has_midi],
        }
    )


def usable_midi(index: pd.DataFrame) -> dict[str, str]:
    """``clip_id -> midi_path`` for the clips of ``index`` that have a MIDI file."""
    usable = index[
        (index["status"] != "failed") & (index["status"] != "missing") & (index["midi_path"] != "")
    ]
    return dict(zip(usable["clip_id"], usable["midi_path"], strict=True))
