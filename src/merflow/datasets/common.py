"""Helpers shared by the dataset readers (:mod:`.emopia`, :mod:`.vgmidi`) and :mod:`.archive`.

Conventions
-----------
Problems with a whole dataset folder (a missing file, a wrong file count, labels that
contradict each other) raise :class:`~merflow.core.errors.InputError` whose ``item`` is the
dataset name and whose ``path`` is the offending file or folder, so the message says
which dataset, where, and why. Dataset manifests are the columns of
:data:`~merflow.datasets.manifest.CLIP_COLUMNS`, checked by
:func:`~merflow.datasets.manifest.validate_manifest`, followed by dataset-specific extra
columns that :func:`finish_manifest` keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from merflow.core.errors import InputError
from merflow.datasets.manifest import CLIP_COLUMNS, validate_manifest


def missing_paths(root: Path, relative: Iterable[str | Path]) -> list[str]:
    """The entries of ``relative`` that do not exist under ``root`` (as strings, in order)."""
    return [str(rel) for rel in relative if not (Path(root) / rel).exists()]


def require_paths(dataset: str, root: Path, relative: Sequence[str | Path]) -> None:
    """Raise unless ``root`` is a folder holding every entry of ``relative``.

    Raises:
        InputError: ``missing_folder`` if ``root`` is not a folder, ``missing_file``
            naming the absent entries otherwise.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(dataset, "missing_folder", "dataset folder does not exist", root)
    missing = missing_paths(root, relative)
    if missing:
        raise InputError(dataset, "missing_file", f"dataset folder lacks {missing}", root)


def check_count(dataset: str, what: str, found: int, expected: int, path: str | Path) -> None:
    """Raise :class:`InputError` (``count_mismatch``) unless ``found == expected``."""
    if found != expected:
        raise InputError(dataset, "count_mismatch", f"expected {expected} {what}, found {found}", path)


def finish_manifest(rows: pd.DataFrame, extra_columns: Sequence[str], source: str) -> pd.DataFrame:
    """Validate ``rows`` as a manifest, keeping only ``extra_columns`` after :data:`CLIP_COLUMNS`.

    Rows are sorted by ``clip_id`` with a fresh index.

    Raises:
        ValueError: from :func:`validate_manifest`, naming ``source``.
    """
    rows = rows.sort_values("clip_id", kind="stable").reset_index(drop=True)
    return validate_manifest(rows[[*CLIP_COLUMNS, *extra_columns]], source)
