"""Atomic file output: a killed job never leaves a half-written file behind.

Every writer writes to a temporary file in the destination folder and renames it into
place with :func:`os.replace`, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    The temporary file keeps the destination's suffix so that libraries which choose a
    format from the file name (soundfile, symusic) still work. On error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.replace(path)  # atomic rename (os.replace)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(text: str, path: str | Path) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n", path)


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(frame: pd.DataFrame, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
    """Write ``frame`` to parquet atomically, with ``metadata`` (JSON-encoded) in the schema.

    Metadata keys are stored under ``merflow.<key>``; read them back with
    :func:`read_parquet_metadata`.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        extra = {
            f"merflow.{k}".encode(): json.dumps(v, default=_json_default).encode()
            for k, v in metadata.items()
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet_metadata(path: str | Path) -> dict[str, Any]:
    """Return the ``merflow.*`` metadata written by :func:`write_parquet`."""
    raw = pq.read_schema(path).metadata or {}
    return {
        k.decode()[len("merflow.") :]: json.loads(v.decode())
        for k, v in raw.items()
        if k.decode().startswith("merflow.")
    }


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
