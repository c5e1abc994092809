"""Wall time of a finished pipeline run, per rule and dataset, from Snakemake's benchmark files.

Usage: python benchmarks/pipeline_times.py [WORKDIR] [--rules train_mofi pretrain_midibert ...]

Every rule writes ``results/benchmarks/...tsv`` (Snakemake's ``benchmark:``: wall seconds
``s``, CPU seconds, memory). This script groups them per dataset by job kind: training and
evaluation jobs (``<dataset>/train/<model>_<part>_seed<k>.tsv``) by model, other jobs by
file name, and prints the number of jobs, total wall minutes, and the mean and maximum per
job: the figures behind the time budgets in the README. Jobs run one at a time with ``gpu=1``, so the sum of
the training jobs is the training wall time of the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

SECONDS_PER_MINUTE = 60.0


def benchmark_table(workdir: Path) -> pd.DataFrame:
    """One row per benchmark file: ``dataset``, ``group`` (job kind), ``job`` (file stem), ``s``."""
    rows = []
    root = workdir / "results" / "benchmarks"
    for path in sorted(root.rglob("*.tsv")):
        relative = path.relative_to(root)
        dataset = relative.parts[0] if len(relative.parts) > 1 else "-"
        # <dataset>/<train|evaluate>/<model>_<part>_seed<k>.tsv -> "train <model>"
        nested = len(relative.parts) > 2
        group = f"{relative.parts[1]} {path.stem.rsplit('_', 2)[0]}" if nested else path.stem
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
        rows.append({"dataset": dataset, "group": group, "job": path.stem, "s": seconds})
    return pd.DataFrame(rows, columns=["dataset", "group", "job", "s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", nargs="?", default=".", type=Path)
    args = parser.parse_args()
    table = benchmark_table(args.workdir)
    if table.empty:
        raise SystemExit(f"no benchmark files under {args.workdir / 'results/benchmarks'}")
    summary = table.groupby(["dataset", "group"])["s"].agg(["count", "sum", "mean", "max"])
    summary["sum"] /= SECONDS_PER_MINUTE
    summary.columns = ["jobs", "total min", "mean s", "max s"]
    print(summary.round(1).to_string())
    print(f"\nall jobs: {len(table)}, {table['s'].sum() / SECONDS_PER_MINUTE:.1f} min of job wall time")


if __name__ == "__main__":
    main()
