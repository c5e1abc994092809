"""Per-clip results that survive reruns of a dataset-level job.

Conventions
-----------
A dataset-level job (all clips of a dataset in one Snakemake job) is rerun when any of its
inputs or its code changes, and Snakemake deletes its outputs first. A :class:`ClipCache`
keeps each clip's result in ``<folder>/<clip_id>.pkl`` beside those outputs, stamped with
the clip's input file (size and modification time) and a *version* (the job's code version
and settings): a clip is recomputed only when its own input or the version changed.
Entries are written atomically; a damaged entry counts as a miss. Failures are never
cached, so every run records them in its ledger again.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from merflow.core.errors import InputError
from merflow.core.io import atomic_path
from merflow.core.ledger import Ledger

UNREADABLE_ENTRY = (
    OSError,
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    ImportError,
    AttributeError,
)
"""What loading an entry raises when it is damaged, or was written by a merflow whose classes
have moved since (a miss, recomputed, not a crash)."""


class ClipCache:
    """Results by clip ID, valid while the clip's input file and ``version`` are unchanged.

    Args:
        folder: where the entries live (created on first write).
        version: anything that changes the result besides the input (code version, settings).
    """

    def __init__(self, folder: str | Path, version: str) -> None:
        self.folder = Path(folder)
        self.version = version
        self.hits = 0
        self.misses = 0

    def _stamp(self, input_path: str | Path) -> str:
        stat = Path(input_path).stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}:{self.version}"

    def get(self, clip_id: str, input_path: str | Path) -> Any | None:
        """The cached result of ``clip_id``, or None if absent, stale or unreadable."""
        entry = self.folder / f"{clip_id}.pkl"
        try:
            with entry.open("rb") as handle:
                stamp, result = pickle.load(handle)  # our own files, written by put()
            fresh = stamp == self._stamp(input_path)
        except UNREADABLE_ENTRY:
            fresh = False
        if not fresh:
            self.misses += 1
            return None
        self.hits += 1
        return result

    def put(self, clip_id: str, input_path: str | Path, result: Any) -> None:
        """Store ``result`` for ``clip_id`` computed from ``input_path``."""
        with atomic_path(self.folder / f"{clip_id}.pkl") as tmp, tmp.open("wb") as handle:
            pickle.dump((self._stamp(input_path), result), handle, protocol=pickle.HIGHEST_PROTOCOL)


def cached_result(
    cache: ClipCache | None, clip_id: str, input_path: str | Path, compute: Callable[[], Any], ledger: Ledger
) -> Any | None:
    """The clip's result: from ``cache`` when fresh, else ``compute()`` (then cached).

    Returns None when ``compute`` raises :class:`~merflow.core.errors.InputError`, after recording
    it in ``ledger`` (failures are never cached). ``cache`` None always computes.
    """
    result = cache.get(clip_id, input_path) if cache is not None else None
    if result is not None:
        return result
    try:
        result = compute()
    except InputError as err:
        ledger.record(err)
        return None
    if cache is not None:
        cache.put(clip_id, input_path, result)
    return result
