"""Time and peak memory of loading an audio frame cache for one neural training job.

Usage: python benchmarks/bench_frame_loading.py FRAMES_PARQUET [--columns mfcc,log_mel,...]

Loads the given columns of a pipeline frame cache (``results/<dataset>/features/audio/
frames.parquet``) and builds every clip's float32 matrices, the way ``train_neural`` does:
``pandas`` (``pd.read_parquet``, then ``np.stack`` of each cell's row arrays: what the job did
before) and ``batches`` (:func:`merflow.core.io.read_matrix_table`: decoded 32 clips at a time,
each batch's matrices copied out; what it does now). Each way runs in its own process, so
that its peak resident memory (``ru_maxrss``) is its own. Prints seconds, peak memory and
the raw size of the matrices.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

#: Zhu et al.'s mixed acoustic input (the default columns).
DEFAULT_COLUMNS = "mfcc,log_mel,spectral_centroid,rms"


def load(path: str, columns: list[str], way: str) -> dict[str, float]:
    """Load ``columns`` one ``way`` and return seconds, peak RSS (GB) and raw matrix GB."""
    import pandas as pd

    from merflow.core.io import read_matrix_table

    started = time.perf_counter()
    if way == "pandas":
        table = pd.read_parquet(path, columns=["clip_id", *columns])
        matrices = [np.stack(cell).astype(np.float32) for name in columns for cell in table[name]]
    else:
        table = read_matrix_table(path, ["clip_id", *columns])
        matrices = [cell for name in columns for cell in table[name]]
    seconds = time.perf_counter() - started
    raw = sum(m.nbytes for m in matrices)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"seconds": seconds, "peak_gb": peak / 1e9, "raw_gb": raw / 1e9, "clips": len(table)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", help="a frames.parquet of the pipeline")
    parser.add_argument("--columns", default=DEFAULT_COLUMNS, help="comma-separated frame features")
    parser.add_argument("--way", choices=["pandas", "batches"], help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    columns = args.columns.split(",")
    if args.way:
        print(json.dumps(load(args.frames, columns, args.way)))
        return
    print(f"{args.frames}: columns {columns}")
    for way in ("pandas", "batches"):
        command = [sys.executable, __file__, args.frames, "--columns", args.columns, "--way", way]
        result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        print(
            f"{way:>7}: {result['seconds']:6.1f} s, peak {result['peak_gb']:5.2f} GB "
            f"({result['clips']} clips, matrices {result['raw_gb']:.2f} GB)"
        )


if __name__ == "__main__":
    main()
