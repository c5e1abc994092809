"""No-op time of the full default DAG beside a trivial Snakefile with as many jobs.

What a rerun costs when nothing changed: Snakemake parses the workflow, builds the DAG, stats
every input (the mirror's thousands of files included) and compares each job's recorded
params, code and input checksums. This script measures that for ``config/config.yaml`` with
the data mirror, and, in the same run, for a generated Snakefile of as many jobs that do
nothing (its no-op time is Snakemake's own floor for that many jobs).

How the full DAG is brought up to date without running it: the workflow and configs are
copied into a scratch folder, every output of the DAG is created empty there
(``snakemake --summary`` lists them), then ``snakemake --touch --forceall`` marks every job
done in DAG order and records its metadata, as a real run would. A no-op is then
``snakemake --cores 2`` answering "Nothing to be done" (checked); the median of
``--repeats`` runs is printed for both workflows.

    .venv/bin/python benchmarks/bench_noop.py [--mirror ../shared/data] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
COPIED = ("workflow", "config", "profiles", "envs")


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Snakemake in ``workdir``; raise with its output when it fails."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run([*SNAKEMAKE, *args], cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {workdir}:\n{done.stdout}\n{done.stderr}")
    return done


def noop_seconds(workdir: Path, args: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` no-op runs (each checked to do nothing)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = snakemake(workdir, "--cores", "2", *args)
        times.append(time.perf_counter() - start)
        if "Nothing to be done" not in done.stdout + done.stderr:
            raise RuntimeError(f"not a no-op in {workdir}:\n{done.stdout}\n{done.stderr}")
    return times


def up_to_date_pipeline(scratch: Path, args: list[str]) -> int:
    """Copy the workflow into ``scratch``, create and touch every output; return the job count."""
    for name in COPIED:
        shutil.copytree(REPOSITORY / name, scratch / name)
    summary = snakemake(scratch, "--summary", *args).stdout.splitlines()
    outputs = [line.split("\t")[0] for line in summary[1:] if line.strip()]
    for output in outputs:
        path = scratch / output
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    dry = snakemake(scratch, "--dry-run", "--forceall", "--quiet", "rules", *args).stdout
    jobs = next(int(line.split()[-1]) for line in dry.splitlines() if line.startswith("total"))
    snakemake(scratch, "--touch", "--forceall", "--cores", "1", *args)
    return jobs


def trivial_workflow(scratch: Path, n_jobs: int) -> None:
    """A Snakefile of ``n_jobs`` jobs (``n_jobs - 1`` that write a file, one that gathers), run once."""
    scratch.mkdir(parents=True)
    (scratch / "Snakefile").write_text(
        f"N = range({n_jobs - 1})\n\n"
        "rule all:\n"
        '    input: expand("out/{i}.txt", i=N)\n\n'
        "rule one:\n"
        '    output: "out/{i}.txt"\n'
        '    params: settings={"i": 1}\n'
        '    shell: "touch {output}"\n'
    )
    snakemake(scratch, "--cores", "2", "--quiet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml", help="config file of the full DAG")
    parser.add_argument("--mirror", default=str(REPOSITORY.parent / "shared" / "data"), help="data mirror")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    mirror = Path(options.mirror).resolve()
    if not mirror.is_dir():
        sys.exit(f"data mirror {mirror} not found: the full DAG's manifests read it (--mirror)")
    args = ["--configfile", options.config, "--config", f"data_mirror={mirror}"]
    with tempfile.TemporaryDirectory(prefix="merflow-noop-") as scratch_dir:
        scratch = Path(scratch_dir)
        n_jobs = up_to_date_pipeline(scratch / "pipeline", args)
        trivial_workflow(scratch / "trivial", n_jobs)
        full = noop_seconds(scratch / "pipeline", args, options.repeats)
        floor = noop_seconds(scratch / "trivial", [], options.repeats)
    print(f"no-op of {n_jobs} jobs, median of {options.repeats} runs ({os.cpu_count()} CPUs):")
    print(f"  merflow, {options.config} with the mirror: {statistics.median(full):6.2f} s")
    print(f"  trivial Snakefile, as many jobs:          {statistics.median(floor):6.2f} s")
    print(f"  ratio: {statistics.median(full) / statistics.median(floor):.2f}x")


if __name__ == "__main__":
    main()
