"""Wall time of a finished pipeline run, per rule and dataset, from Snakemake's benchmark files.

Usage: python benchmarks/pipeline_times.py [WORKDIR]

Every rule writes ``results/benchmarks/...tsv`` (Snakemake's ``benchmark:``: wall seconds
``s``, CPU seconds, memory). This script groups them per dataset by job kind: training and
evaluation jobs (``<dataset>/train/<model>_<part>_seed<k>.tsv``) by model, other jobs by
file name, and prints the number of jobs, total wall minutes, the mean and maximum per job,
and the span (first start to last end: a file's modification time is its job's end, minus
``s`` its start): the figures behind the time budgets in the README. With one job at a
time (``gpu=1``) the total is the wall time of a group; with jobs running side by side the
span is (for a group run in one invocation).
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
        end = path.stat().st_mtime
        rows.append({"dataset": dataset, "group": group, "job": path.stem, "s": seconds, "end": end})
    return pd.DataFrame(rows, columns=["dataset", "group", "job", "s", "end"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", nargs="?", default=".", type=Path)
    args = parser.parse_args()
    table = benchmark_table(args.workdir)
    if table.empty:
        raise SystemExit(f"no benchmark files under {args.workdir / 'results/benchmarks'}")
    table["start"] = table["end"] - table["s"]
    groups = table.groupby(["dataset", "group"])
    summary = groups["s"].agg(["count", "sum", "mean", "max"])
    summary["sum"] /= SECONDS_PER_MINUTE
    summary["span"] = (groups["end"].max() - groups["start"].min()) / SECONDS_PER_MINUTE
    summary.columns = ["jobs", "total min", "mean s", "max s", "span min"]
    print(summary.round(1).to_string())
    print(f"\nall jobs: {len(table)}, {table['s'].sum() / SECONDS_PER_MINUTE:.1f} min of job wall time")


if __name__ == "__main__":
    main()
