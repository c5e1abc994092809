"""Annotate a folder of one's own MIDI/audio with a trained run: resumable, parallel, sharded.

**Output.** :func:`annotate` writes one row per readable file under a folder
(:data:`ANNOTATION_COLUMNS`; ``path`` is the absolute path, ``size`` bytes, ``mtime_ns`` the
modification time) to a parquet file with the run in its metadata, rewritten atomically at
least every ``save_every_s`` seconds and at the end. A rerun skips files whose (path, size,
mtime_ns) is already there, re-annotates changed files and keeps rows of files that have gone.
Unreadable files are rows of a ledger CSV beside the output (``<out stem>.ledger.csv``),
retried on every rerun.

**Workers.** ``workers`` > 1 classifies batches in that many processes (spawned, each loading
the run once and running PyTorch on one thread); batches come back in file order, so the table
is the same as with one worker.

**Shards.** ``shard=(k, n)`` annotates only the files of shard ``k`` of ``n``: a file's shard
is the SHA-256 of its path relative to the folder, modulo ``n`` (:func:`shard_of`), so every
file is in exactly one shard whatever ``n``, and adding files moves no other file.
:func:`gather` concatenates the shards' tables (and ledgers) into one, sorted by path. The
workflow's ``annotate`` rules run the shards as separate jobs (``workflow/rules/annotate.smk``).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from merflow.core.errors import InputError
from merflow.core.io import read_parquet_metadata, write_parquet
from merflow.core.ledger import Ledger, merge_ledgers
from merflow.core.logs import Progress
from merflow.inference.prediction import SUPPORTED_SUFFIXES, ModelInfo, Prediction, Predictor, load_predictor
from merflow.inference.runs import RunError
from merflow.training.classical import PROB_COLUMNS

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32
#: The annotation table is rewritten at least this often (seconds) while files are annotated.
DEFAULT_SAVE_EVERY_S = 10.0
LEDGER_STAGE = "annotate"
LEDGER_SUFFIX = ".ledger.csv"
FILE_ID_COLUMNS = ["path", "size", "mtime_ns"]
ANNOTATION_COLUMNS = [
    *FILE_ID_COLUMNS,
    "input",
    "quadrant",
    *PROB_COLUMNS,
    "valence",
    "valence_probability",
    "arousal",
    "arousal_probability",
    "key",
    "mode",
    "key_correlation",
    "n_notes",
    "transcriber",
]


def ledger_path_for(out: str | Path) -> Path:
    """The ledger beside an annotation file: ``x.parquet`` -> ``x.ledger.csv``."""
    out = Path(out)
    return out.with_name(out.stem + LEDGER_SUFFIX)


def music_files(root: str | Path) -> list[Path]:
    """Files under ``root`` (recursively) with a supported suffix, sorted by path."""
    return sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file())


def shard_of(relative_path: str, n_shards: int) -> int:
    """Shard (0..n_shards-1) of a file, from the SHA-256 of its POSIX path relative to the folder."""
    digest = hashlib.sha256(relative_path.encode()).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def annotation_row(prediction: Prediction, path: Path) -> dict[str, Any]:
    """One row of :data:`ANNOTATION_COLUMNS` for ``prediction`` of the file ``path``."""
    stat = path.stat()
    probabilities = dict(zip(PROB_COLUMNS, prediction.probabilities.values(), strict=True))
    values = {**prediction.to_dict(), **probabilities}
    return {
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        **{c: values[c] for c in ANNOTATION_COLUMNS if c not in FILE_ID_COLUMNS},
    }


@dataclass(frozen=True)
class AnnotationSummary:
    """Outcome of :func:`annotate`: files found, already annotated, annotated now, failed."""

    n_files: int
    n_skipped: int
    n_annotated: int
    n_failed: int
    out: Path
    ledger: Path


def _previous_annotations(out: Path, info: ModelInfo) -> pd.DataFrame:
    """Rows of an earlier run of ``out`` (empty if none); it must come from the same run."""
    if not out.is_file():
        return pd.DataFrame(columns=ANNOTATION_COLUMNS)
    previous_model = read_parquet_metadata(out).get("model", {})
    if previous_model.get("run_dir") != info.run_dir:
        raise RunError(
            f"{out} holds annotations by the run {previous_model.get('run_dir')!r}, not {info.run_dir!r}: "
            "use another output file or the same run"
        )
    return pd.read_parquet(out)


#: One file's outcome as it crosses processes: ("row", annotation row) or ("error", the
#: InputError's item, reason, message, path) (exceptions with several arguments do not pickle).
Outcome = tuple[str, Any]


def _outcomes(predictor: Predictor, paths: Sequence[Path]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for path, result in zip(paths, predictor.predict_files(paths), strict=True):
        if isinstance(result, InputError):
            outcomes.append(("error", (result.item, result.reason, result.message, result.path)))
        else:
            outcomes.append(("row", annotation_row(result, path)))
    return outcomes


_worker_predictor: Predictor | None = None


def _start_worker(run_dir: str) -> None:
    """Process-pool initializer: load the run once; one PyTorch thread per worker if the run
    uses PyTorch (a classical run's workers never import it: 2.3 s of each worker's start)."""
    global _worker_predictor
    _worker_predictor = load_predictor(run_dir)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _worker_outcomes(paths: list[Path]) -> list[Outcome]:
    assert _worker_predictor is not None, "worker not initialised"
    return _outcomes(_worker_predictor, paths)


def _batch_outcomes(predictor: Predictor, batches: list[list[Path]], workers: int) -> Iterator[list[Outcome]]:
    """Outcomes of ``batches``, in order: in this process, or in ``workers`` spawned processes."""
    if workers <= 1 or len(batches) <= 1:
        for batch in batches:
            yield _outcomes(predictor, batch)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    with context.Pool(workers, initializer=_start_worker, initargs=(predictor.info.run_dir,)) as pool:
        yield from pool.imap(_worker_outcomes, batches)


def annotate(
    root: str | Path,
    out: str | Path,
    predictor: Predictor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    ledger_path: str | Path | None = None,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    save_every_s: float = DEFAULT_SAVE_EVERY_S,
) -> AnnotationSummary:
    """Annotate every MIDI/audio file under ``root`` (of shard ``shard``) into the parquet ``out``.

    See the module docstring. Progress (count, rate, ETA) is logged at INFO after every batch.

    Args:
        workers: processes classifying batches (1: this process).
        shard: ``(k, n)``: only the files whose :func:`shard_of` is ``k`` of ``n``.
        save_every_s: rewrite ``out`` and the ledger at least this often (seconds).

    Raises:
        RunError: ``out`` was written with another run.
        ValueError: ``batch_size`` or ``workers`` < 1, a shard outside ``0..n-1``, or ``root``
            is not a folder.
    """
    index, n_shards = shard
    if batch_size < 1 or workers < 1:
        raise ValueError(f"batch_size and workers must be >= 1, got {batch_size} and {workers}")
    if not 0 <= index < n_shards:
        raise ValueError(f"shard {index} of {n_shards} does not exist")
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    ledger_path = ledger_path_for(out) if ledger_path is None else Path(ledger_path)
    previous = _previous_annotations(out, predictor.info)
    done_ids = set(previous[FILE_ID_COLUMNS].itertuples(index=False, name=None))
    files = [p for p in music_files(root) if shard_of(p.relative_to(root).as_posix(), n_shards) == index]
    todo = [p for p in files if _file_id(p) not in done_ids]
    todo_paths = {str(p.resolve()) for p in todo}
    kept = previous[~previous["path"].isin(todo_paths)]
    log.info(
        "%d music files under %s%s: %d already annotated, %d to do (%d worker%s)",
        len(files),
        root,
        f" in shard {index} of {n_shards}" if n_shards > 1 else "",
        len(files) - len(todo),
        len(todo),
        workers,
        "s" if workers > 1 else "",
    )
    ledger = Ledger(LEDGER_STAGE, root.name)
    metadata = {"model": asdict(predictor.info), "settings_origin": predictor.settings_origin}
    new_rows: list[dict[str, Any]] = []
    progress = Progress(log, len(todo), "files", every=1)

    def save() -> None:
        new = pd.DataFrame(new_rows, columns=ANNOTATION_COLUMNS)
        write_parquet(pd.concat([kept, new], ignore_index=True) if len(kept) else new, out, metadata)
        ledger.write(ledger_path)

    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    last_save = time.monotonic()
    for batch, outcomes in zip(batches, _batch_outcomes(predictor, batches, workers), strict=True):
        for kind, value in outcomes:
            if kind == "error":
                ledger.record(InputError(*value))
            else:
                new_rows.append(value)
        progress.step(len(batch))
        if time.monotonic() - last_save >= save_every_s:
            save()
            last_save = time.monotonic()
    if todo or not out.is_file():
        save()
    else:
        ledger.write(ledger_path)
    return AnnotationSummary(
        n_files=len(files),
        n_skipped=len(files) - len(todo),
        n_annotated=len(new_rows),
        n_failed=len(ledger.rows),
        out=out,
        ledger=ledger_path,
    )


def gather(shards: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate shard tables (and the ledgers beside them) into ``out`` (sorted by path).

    Raises:
        RunError: the shards were annotated by different runs.
    """
    runs = {read_parquet_metadata(path).get("model", {}).get("run_dir") for path in shards}
    if len(runs) > 1:
        raise RunError(f"shards annotated by different runs: {sorted(map(str, runs))}")
    tables = [pd.read_parquet(path) for path in shards]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=ANNOTATION_COLUMNS)
    table = table.sort_values("path", kind="stable").reset_index(drop=True)
    metadata = read_parquet_metadata(shards[0]) if shards else {}
    write_parquet(table, out, metadata)
    ledgers = [ledger_path_for(path) for path in shards]
    merge_ledgers([p for p in ledgers if p.is_file()], ledger_path_for(out))
    return table


def _file_id(path: Path) -> tuple[str, int, int]:
    """(absolute path, size in bytes, mtime in ns): what makes a file "already annotated"."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns
