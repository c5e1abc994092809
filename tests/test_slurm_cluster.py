"""The demo DAG through ``profiles/slurm`` on a real one-node SLURM cluster (127.0.0.1).

Debian's slurm-wlm and munge (``make slurm``) are started in a temporary folder by
:class:`slurm_cluster.LocalSlurm` and stopped by their pids at the end. The run uses the
profile as shipped plus what a small cluster without accounting needs (``--slurm-status-command
squeue``), and is compared with a local run of the same config and seeds. The cluster run
also annotates the three pretraining corpora of the mirror in three shards with its logistic
regression, which must give the single-process annotation file for file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from pipeline_runner import prepare_workdir, run_snakemake, small_demo_config
from slurm_cluster import LocalSlurm, missing_requirements

from merflow.inference.annotation import annotate as annotate_folder
from merflow.inference.prediction import load_predictor

pytestmark = pytest.mark.slow

MODELS = {
    "symbolic_lr": {"estimator": "logistic_regression", "features": "symbolic", "source": "basic_pitch"},
    "audio_lr": {"estimator": "logistic_regression", "features": "audio"},
    "lstm": {"estimator": "lstm_attn", "features": "neural", "tokenizer": "midi_like"},
}
CONFIG = {
    **small_demo_config(MODELS, seeds=[0]),
    "neural": {"preset": "cpu", "epochs": 2, "patience": 2},
}
TABLE = "results/tables/demo_song_disjoint.csv"
#: Columns that depend on where and when a run happened, not on what it computed.
RUN_COLUMNS = ("train_min", "seconds")


def scheduled_jobs(cluster: LocalSlurm) -> list[dict[str, str]]:
    """``scontrol show job`` of every job the cluster still knows (finished ones included)."""
    shown = subprocess.run(
        ["scontrol", "--oneliner", "show", "job"], env=cluster.env, capture_output=True, text=True, check=True
    ).stdout
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in shown.splitlines() if line.strip()]


def gpu_request(job: dict[str, str]) -> str:
    """The job's generic-resource request (``gres:gpu:1`` for ``--gpus=1``), "" if none."""
    return job.get("TresPerJob", "") + job.get("TresPerNode", "")


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in table.columns if any(k in c for k in RUN_COLUMNS)])


def test_demo_through_the_slurm_profile_equals_a_local_run(tmp_path, repo_root, shared_data):
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    local = tmp_path / "local"
    local.mkdir()
    prepare_workdir(local, repo_root, CONFIG)
    result = run_snakemake(local, repo_root)
    assert result.returncode == 0, result.stderr[-5000:]

    cluster_run = tmp_path / "cluster_run"
    cluster_run.mkdir()
    annotate = {
        "corpora": {"pretrain": str(shared_data / "pretrain")},
        "run": {"dataset": "demo", "model": "symbolic_lr", "part": "main", "seed": 0},
        "shards": 3,
    }
    prepare_workdir(cluster_run, repo_root, {**CONFIG, "annotate": annotate})
    cluster = LocalSlurm(tmp_path / "slurm")
    try:
        cluster.start()
        result = subprocess.run(
            [
                *_snakemake(cluster_run, repo_root),
                "--profile",
                "profiles/slurm",
                "--slurm-status-command",
                "squeue",
                "--slurm-init-seconds-before-status-checks",
                "2",
                "--latency-wait",
                "5",
            ],
            cwd=cluster_run,
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=1500,
        )
        jobs = scheduled_jobs(cluster)
    finally:
        cluster.stop()
    assert cluster.running() == [], "daemons left running"
    assert result.returncode == 0, result.stderr[-5000:] + cluster.logs()
    assert "accounting storage is disabled" not in result.stderr

    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        rule = re.match(r"rule_(\w+?)(_wildcards_.*)?$", job.get("Comment", ""))
        assert rule, f"a job without its rule in the comment: {job}"
        by_rule.setdefault(rule.group(1), []).append(job)
    assert {"train_neural", "transcribe", "train", "results_table", "annotate_shard"} <= set(by_rule)
    assert len(by_rule["annotate_shard"]) == 3
    assert all(job["JobState"] == "COMPLETED" for job in jobs), [(j["JobId"], j["JobState"]) for j in jobs]
    for job in by_rule["train_neural"]:  # gpu=1 rules: the gpu partition, one GPU (--gpus=1)
        assert job["Partition"] == "gpu" and gpu_request(job) == "gres:gpu:1", job
    for rule in ("transcribe", "train", "results_table", "annotate_shard"):
        for job in by_rule[rule]:
            assert job["Partition"] == "cpu" and gpu_request(job) == "", job

    local_table = pd.read_csv(local / TABLE)
    cluster_table = pd.read_csv(cluster_run / TABLE)
    pd.testing.assert_frame_equal(comparable(cluster_table), comparable(local_table))

    run_dir = cluster_run / "results/demo/models/symbolic_lr/main/seed0"
    single = tmp_path / "single.parquet"
    summary = annotate_folder(shared_data / "pretrain", single, load_predictor(run_dir))
    sharded = pd.read_parquet(cluster_run / "results/annotations/pretrain.parquet")
    assert len(sharded) == summary.n_annotated > 1000
    expected = pd.read_parquet(single).sort_values("path").reset_index(drop=True)
    pd.testing.assert_frame_equal(sharded, expected)


def _snakemake(workdir: Path, repo_root: Path) -> list[str]:
    """The run_snakemake command line without its local ``--cores``: the cluster decides."""
    from pipeline_runner import snakemake_command

    command = snakemake_command(workdir, repo_root)
    index = command.index("--cores")
    return command[:index] + command[index + 2 :]
