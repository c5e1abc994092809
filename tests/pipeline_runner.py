"""Running the Snakemake workflow of the repository in a temporary directory (end-to-end tests).

The workflow is run by the ``snakemake`` beside the test's Python interpreter, on the
repository's Snakefile, with ``workdir`` as working directory and ``workdir/config.yaml`` as
configuration (written by :func:`prepare_workdir` with the repository's profiles beside it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

#: Default time limit of :func:`run_snakemake`, seconds.
RUN_TIMEOUT_S = 900


def small_demo_config(models: dict[str, Any], seeds: list[int], clip_s: float = 5.0) -> dict[str, Any]:
    """A demo of 16 songs x 2 clips (known to train every model family), basic-pitch in 2 shards."""
    return {
        "datasets": ["demo"],
        "seeds": seeds,
        "demo": {"n_songs": 16, "clips_per_song": 2, "clip_s": clip_s, "gap_s": 1.0, "seed": 3},
        "download": {"shards": 2, "retries": 1, "backoff_s": 0.1},
        "transcription": {"backends": ["basic_pitch"], "shards": 2},
        "models": models,
    }


def prepare_workdir(workdir: Path, repo_root: Path, config: dict[str, Any]) -> None:
    """Write ``config`` to ``workdir/config.yaml`` and copy the repository's profiles beside it."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.copytree(repo_root / "profiles", workdir / "profiles")


def snakemake_command(workdir: Path, repo_root: Path, *args: str) -> list[str]:
    """The command line running the workflow in ``workdir`` on 2 cores, with extra ``args``."""
    return [
        str(Path(sys.executable).with_name("snakemake")),
        "--snakefile",
        str(repo_root / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]


def run_snakemake(
    workdir: Path, repo_root: Path, *args: str, timeout: float = RUN_TIMEOUT_S
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command` to completion in ``workdir``, capturing its text output."""
    command = snakemake_command(workdir, repo_root, *args)
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)


def planned_jobs(result) -> dict[str, int]:
    """Rule -> job count of a dry run's "Job stats" table."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text[text.index("Job stats:") :].split("\n\n")[0]
    rows = [line.split() for line in table.splitlines()[3:]]
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[0] != "total"}


def dry_run_with(demo_run: Path, repo_root: Path, config: dict, name: str) -> dict[str, int]:
    """Plan (``--dry-run``) the workflow of ``demo_run`` with ``config`` written to ``name``."""
    path = demo_run / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(demo_run, repo_root, "--dry-run", "--configfile", str(path))
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return planned_jobs(result)
