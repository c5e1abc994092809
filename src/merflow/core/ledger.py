"""Failure ledger: one row per item a stage could not process.

Conventions
-----------
A ledger is a CSV file with the columns of :data:`LEDGER_COLUMNS`. Each job writes its own
ledger (possibly empty, header only) as a declared output, atomically; the ``ledger`` rule
concatenates them into ``results/ledger.csv``. A run therefore records every failure
without two jobs ever appending to one file.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from merflow.core.errors import InputError
from merflow.core.io import atomic_path

LEDGER_COLUMNS = ["stage", "dataset", "item", "path", "reason", "message", "time"]

log = logging.getLogger(__name__)


class Ledger:
    """Collects failures of one job and writes them atomically.

    Args:
        stage: pipeline stage name (``acquire``, ``transcribe``...).
        dataset: dataset name.
    """

    def __init__(self, stage: str, dataset: str):
        self.stage = stage
        self.dataset = dataset
        self.rows: list[dict[str, str]] = []

    def record(self, error: InputError) -> None:
        """Add a row for ``error`` and log it as a warning."""
        log.warning("%s failed: %s", self.stage, error)
        self.rows.append(
            {
                "stage": self.stage,
                "dataset": self.dataset,
                "item": error.item,
                "path": error.path,
                "reason": error.reason,
                "message": error.message,
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )

    @property
    def failed_items(self) -> set[str]:
        """Identifiers of the items recorded so far."""
        return {row["item"] for row in self.rows}

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with :data:`LEDGER_COLUMNS`."""
        return pd.DataFrame(self.rows, columns=LEDGER_COLUMNS)

    def write(self, path: str | Path) -> None:
        """Write the ledger (header only when nothing failed) to ``path`` atomically."""
        with atomic_path(path) as tmp:
            self.frame().to_csv(tmp, index=False)


def merge_ledgers(paths: Iterable[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate job ledgers into one CSV at ``out``; return the merged frame."""
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LEDGER_COLUMNS)
    merged = merged.reindex(columns=LEDGER_COLUMNS)
    with atomic_path(out) as tmp:
        merged.to_csv(tmp, index=False)
    return merged
