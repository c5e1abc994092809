"""Throughput of ``merflow annotate`` (files/s) with 1 and 2 worker processes, same run, same folder.

Each measurement annotates the whole folder into a fresh table (nothing resumed) and checks
that both tables are equal file for file. The default folder is the mirror's three
pretraining corpora (3,477 MIDI files).

    .venv/bin/python benchmarks/bench_annotate.py --run results/emopia/models/<model>/<part>/seed0
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from merflow.inference.annotation import annotate
from merflow.inference.prediction import load_predictor

REPOSITORY = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="trained run (merflow predict --run)")
    parser.add_argument("--folder", type=Path, default=REPOSITORY.parent / "shared" / "data" / "pretrain")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    options = parser.parse_args()
    if not options.folder.is_dir():
        parser.error(f"{options.folder} is not a folder (default: the mirror's pretraining corpora)")
    logging.basicConfig(level=logging.WARNING)
    predictor = load_predictor(options.run)
    tables, rates = {}, {}
    with tempfile.TemporaryDirectory(prefix="merflow-annotate-") as scratch:
        for workers in options.workers:
            out = Path(scratch) / f"workers{workers}.parquet"
            start = time.perf_counter()
            summary = annotate(options.folder, out, predictor, workers=workers)
            seconds = time.perf_counter() - start
            rates[workers] = summary.n_files / seconds
            tables[workers] = pd.read_parquet(out)
            files = f"{summary.n_files} files ({summary.n_failed} unreadable)"
            print(f"{workers} worker(s): {files} in {seconds:6.1f} s = {rates[workers]:6.1f} files/s")
    first = options.workers[0]
    for workers in options.workers[1:]:
        pd.testing.assert_frame_equal(tables[workers], tables[first])
        print(f"{workers} workers: {rates[workers] / rates[first]:.2f}x of {first}, the same table")
    print(f"run {options.run} ({predictor.info.features}), {os.cpu_count()} CPUs, folder {options.folder}")


if __name__ == "__main__":
    main()
