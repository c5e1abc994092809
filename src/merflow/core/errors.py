"""Exceptions that name the offending item, so a ledger row can say what failed and why.

Conventions
-----------
Every stage catches :class:`InputError` per item (clip, song, file), records it in the
failure ledger (:mod:`merflow.core.ledger`) and carries on with the rest of the run. Any other
exception is a bug and stops the job.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A single input item cannot be processed.

    Args:
        item: identifier of the item (clip ID, song ID or file name).
        reason: short machine-readable reason (``corrupt_midi``, ``no_notes``,
            ``unreachable_url``, ``silent_audio``...), used as the ledger's ``reason``.
        message: human-readable explanation.
        path: the file or URL concerned, if any.
    """

    def __init__(self, item: str, reason: str, message: str, path: str | Path | None = None):
        self.item = str(item)
        self.reason = reason
        self.message = message
        self.path = "" if path is None else str(path)
        where = f" ({self.path})" if self.path else ""
        super().__init__(f"{self.item}{where}: {reason}: {message}")
