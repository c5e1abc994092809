"""Atomic file output: a killed job never leaves a half-written file behind.

Every writer writes to a temporary file in the destination folder and renames it into
place with :func:`os.replace`, which is atomic on POSIX file systems. A writer killed
outright (SIGKILL, power loss) cannot remove its temporary file: the next write of the same
destination does (:func:`stale_temporaries`; each destination has one writer at a time,
which Snakemake guarantees). Files get the permissions ``open()`` would give them
(0o666 less the umask), not :func:`tempfile.mkstemp`'s private 0o600. Readers check what
decoders let through: :func:`wav_shortfall` tells a WAV file cut short after its header.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: Data-chunk sizes that streaming writers put in a WAV header when the length is unknown.
_UNKNOWN_WAV_DATA_SIZES = frozenset({0, 0xFFFFFFFF})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Mode of the files written by :func:`atomic_path`.
FILE_MODE = 0o666 & ~_umask()
#: Random part of :func:`tempfile.mkstemp` names.
_TEMP_RANDOM = r"[a-z0-9_]{8}"


def stale_temporaries(path: str | Path, suffix: str | None = None) -> list[Path]:
    """Temporary files (or folders) of earlier writes of ``path`` that were killed midway.

    They are named ``.<stem>.<8 random characters>.tmp<suffix>`` beside ``path``, ``suffix``
    being the destination's own suffix unless given (see :func:`atomic_path`).
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    pattern = re.compile(re.escape(f".{path.stem}.") + _TEMP_RANDOM + re.escape(f".tmp{suffix}"))
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    The temporary file keeps the destination's suffix so that libraries which choose a
    format from the file name (soundfile, symusic) still work. On error it is removed;
    temporary files of earlier writes of ``path`` killed midway are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(FILE_MODE)
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


def write_parquet(
    frame: pd.DataFrame | pa.Table, path: str | Path, metadata: dict[str, Any] | None = None
) -> None:
    """Write ``frame`` (a DataFrame or an Arrow table) to parquet atomically, with ``metadata``.

    Metadata keys are stored JSON-encoded under ``merflow.<key>`` in the schema; read them
    back with :func:`read_parquet_metadata`.
    """
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        extra = {
            f"merflow.{k}".encode(): json.dumps(v, default=_json_default).encode()
            for k, v in metadata.items()
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def matrix_list_array(matrices: list[Any]) -> pa.ListArray:
    """Arrow ``list<list<float32>>`` of 2-D arrays (each ``(n_rows_i, n_cols_i)``), without Python floats.

    Row ``i`` of the result is matrix ``i`` as a list of its rows; reading the column back with
    pandas gives, per cell, an object array of float32 row arrays (``np.stack`` restores it).
    """
    import numpy as np

    matrices = [np.ascontiguousarray(m, dtype=np.float32) for m in matrices]
    if any(m.ndim != 2 for m in matrices):
        raise ValueError("matrix_list_array expects 2-D arrays")
    n_rows = np.array([m.shape[0] for m in matrices], dtype=np.int64)
    row_lengths = np.concatenate(
        [np.full(m.shape[0], m.shape[1], dtype=np.int64) for m in matrices] or [np.zeros(0, np.int64)]
    )
    values = pa.array(np.concatenate([m.ravel() for m in matrices]) if matrices else np.zeros(0, np.float32))
    inner = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(row_lengths)])), values)
    return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(n_rows)])), inner)


def matrix_list_views(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """The 2-D float32 arrays of a ``list<list<float32>>`` column (:func:`matrix_list_array`).

    Each matrix is a read-only view into the column's value buffer (no copy, no Python
    object per row; pandas' reading of the same column builds one array per matrix row).

    Raises:
        ValueError: if a matrix has rows of different lengths, or the values are not float32.
    """
    import numpy as np

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(array) == 0:
        return []
    inner = array.values  # one entry per matrix row (of every matrix)
    if array.offset or inner.offset:  # sliced arrays: flatten() would hide the base offset
        array = pa.concat_arrays([array])
        inner = array.values
    values = inner.values.to_numpy(zero_copy_only=False)
    if values.dtype != np.float32:
        raise ValueError(f"expected float32 matrices, got {values.dtype}")
    row_offsets = array.offsets.to_numpy()
    value_offsets = inner.offsets.to_numpy()
    matrices = []
    for start, stop in itertools.pairwise(row_offsets):
        lengths = np.diff(value_offsets[start : stop + 1])
        if len(lengths) and (lengths != lengths[0]).any():
            raise ValueError("a matrix has rows of different lengths")
        n_cols = int(lengths[0]) if len(lengths) else 0
        flat = values[value_offsets[start] : value_offsets[stop]]
        matrices.append(flat.reshape(int(stop - start), n_cols))
    return matrices


def read_matrix_table(path: str | Path, columns: list[str], batch_rows: int = 32) -> pd.DataFrame:
    """``columns`` of a parquet file as a DataFrame; ``list<list<float32>>`` columns become one
    2-D float32 array per cell, the others plain columns.

    The file is decoded ``batch_rows`` rows at a time and each batch's matrices are copied out
    of it (:func:`matrix_list_views`), so the peak memory is about the matrices' raw size plus
    one batch: for EMOPIA's mixed acoustic frames (1.12 GB of float32) a 2.6 GB peak, against
    4.5 GB for ``pd.read_parquet`` + ``np.stack`` (``benchmarks/bench_frame_loading.py``).
    """
    import numpy as np

    parquet = pq.ParquetFile(path)
    data: dict[str, list[Any]] = {name: [] for name in columns}
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        for name in columns:
            column = batch.column(name)
            if pa.types.is_list(column.type) and pa.types.is_list(column.type.value_type):
                data[name] += [np.array(view) for view in matrix_list_views(column)]
            else:
                data[name] += column.to_pylist()
    # dtype=object keeps each matrix one cell (pandas would otherwise try to stack them)
    return pd.DataFrame(
        {name: pd.Series(values, dtype=object) for name, values in data.items()}
    ).infer_objects()


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


def wav_shortfall(path: str | Path) -> str | None:
    """Why the RIFF/WAVE file ``path`` is truncated, or None (not a WAV file, or complete).

    A WAV file is truncated when its ``data`` chunk declares more bytes than the file holds
    after the chunk header (libsndfile then silently reads what is there). The placeholder
    sizes of streamed WAV files (0 and 0xFFFFFFFF: length unknown) are not a truncation.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        position = 12
        while position + 8 <= size:
            fh.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                available = size - position - 8
                if chunk_size in _UNKNOWN_WAV_DATA_SIZES or chunk_size <= available:
                    return None
                return f"truncated WAV: header declares {chunk_size} bytes of samples, file holds {available}"
            position += 8 + chunk_size + (chunk_size & 1)
    return None
