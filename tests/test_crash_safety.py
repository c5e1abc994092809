"""Crash safety: a run killed with SIGKILL resumes cleanly, and concurrent MLflow writers lose nothing.

(a) A tiny demo DAG is killed (the whole process group, SIGKILL) while its feature step is
    writing, then resumed with ``--rerun-incomplete`` (set by the default profile) after
    the ``--unlock`` that Snakemake asks for; every output must then be complete.
(b) Eight processes log one run each to one SQLite MLflow store at the same instant.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hostile import temporaries
from pipeline_runner import prepare_workdir, run_snakemake, small_demo_config, snakemake_command

from merflow.core.io import FILE_MODE, stale_temporaries, write_text
from merflow.core.ledger import LEDGER_COLUMNS

# ---------------------------------------------------------------------------------------------
# (a) kill -9 in the middle of a Snakemake run, then resume
# ---------------------------------------------------------------------------------------------

MODELS = ["audio_lr"]
CONFIG = small_demo_config(
    {"audio_lr": {"estimator": "logistic_regression", "features": "audio"}}, seeds=[0], clip_s=3.0
)
#: The step to kill: its log appears when it starts; its temporary parquet while it writes.
KILL_LOG = "logs/demo/audio_features.log"
KILL_DIR = "results/demo/features/audio"
POLL_S = 0.001
RUN_TIMEOUT_S = 300


def kill_while_writing(proc: subprocess.Popen, workdir: Path) -> str:
    """SIGKILL ``proc``'s process group once the feature step writes (or, failing that, has run).

    Returns what was happening at the kill: ``writing`` (a temporary output existed) or
    ``after_write`` (the step finished before a temporary file was seen).
    """
    deadline = time.monotonic() + RUN_TIMEOUT_S
    moment = "after_write"
    while time.monotonic() < deadline and proc.poll() is None:
        folder = workdir / KILL_DIR
        if folder.is_dir():
            names = [entry.name for entry in os.scandir(folder)]
            if any(".tmp" in name for name in names):
                moment = "writing"
                break
            if "statistics.parquet" in names:
                break
        time.sleep(POLL_S)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return moment


#: How each kind of output is opened.
READERS = {".parquet": pq.read_table, ".json": lambda p: json.loads(p.read_text()), ".csv": pd.read_csv}


def assert_outputs_readable(results: Path) -> None:
    """Every parquet, JSON and CSV under ``results`` opens (a CSV has at least a header)."""
    unreadable = []
    for path in sorted(p for p in results.rglob("*") if p.suffix in READERS):
        try:
            READERS[path.suffix](path)
        except Exception as exc:
            unreadable.append(f"{path.relative_to(results)}: {type(exc).__name__}: {exc}")
    assert unreadable == []


def test_killed_run_resumes_and_every_output_is_complete(tmp_path: Path, repo_root: Path) -> None:
    prepare_workdir(tmp_path, repo_root, CONFIG)
    with (tmp_path / "first_run.txt").open("w") as first_log:
        proc = subprocess.Popen(
            snakemake_command(tmp_path, repo_root),
            cwd=tmp_path,
            stdout=first_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill reaches every job
        )
        try:
            moment = kill_while_writing(proc, tmp_path)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert (tmp_path / KILL_LOG).is_file(), moment
    assert not (tmp_path / "results/tables/demo_song_disjoint.csv").exists()
    # whatever was being written, no output is half-written: a destination exists complete or not at all
    for path in (tmp_path / "results").rglob("*.parquet"):
        if ".tmp" not in path.name:
            pq.read_table(path)

    unlock = run_snakemake(tmp_path, repo_root, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = run_snakemake(tmp_path, repo_root, timeout=RUN_TIMEOUT_S)
    assert rerun.returncode == 0, f"killed {moment}:\n{rerun.stderr[-5000:]}"

    results = tmp_path / "results"
    assert temporaries(results) == [], f"killed {moment}"
    assert_outputs_readable(results)
    table = pd.read_csv(results / "tables/demo_song_disjoint.csv")
    assert sorted(table["model"]) == MODELS
    assert table["accuracy_mean"].between(0, 1).all()
    clips = pd.read_parquet(results / "demo/audio/clips_youtube.parquet")
    ok = set(clips.loc[clips["status"] == "ok", "clip_id"])
    frames = pd.read_parquet(results / "demo/features/audio/frames.parquet")
    statistics = pd.read_parquet(results / "demo/features/audio/statistics.parquet")
    assert set(frames["clip_id"]) == set(statistics["clip_id"]) == ok
    assert all((results / f"demo/audio/clips/{clip}.wav").is_file() for clip in ok)
    ledger = pd.read_csv(results / "ledger.csv")
    assert list(ledger.columns) == LEDGER_COLUMNS
    logged = json.loads((results / "mlflow/logged.json").read_text())
    assert [run["run_key"].split("/")[2] for run in logged["runs"]] == MODELS
    with contextlib.closing(sqlite3.connect(results / "mlflow/mlflow.db")) as db:
        finished = db.execute(
            "select count(*) from runs where status = 'FINISHED' and lifecycle_stage = 'active'"
        ).fetchone()[0]
    assert finished == len(MODELS) * len(CONFIG["seeds"])


def test_atomic_write_killed_midway_leaves_no_output_and_the_next_write_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.parquet"
    writer = (
        "import sys, time\n"
        "from merflow.core.io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'PAR1 half a table')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()  # SIGKILL: no finally clause runs in the writer
        proc.wait(timeout=30)
        proc.stdout.close()
    assert not target.exists()
    assert [p.name.startswith(".table.") for p in stale_temporaries(target)] == [True]
    write_text("complete\n", target)
    assert target.read_text() == "complete\n"
    assert temporaries(tmp_path) == []
    assert target.stat().st_mode & 0o777 == FILE_MODE  # not mkstemp's private 0o600


# ---------------------------------------------------------------------------------------------
# (b) eight concurrent writers to one MLflow SQLite store
# ---------------------------------------------------------------------------------------------

N_WRITERS = 8
TRACKING_CONFIG = {"datasets": ["demo"], "seeds": list(range(N_WRITERS))}
SPLITS = {"demo/main": "song_disjoint"}


def run_info(k: int) -> dict:
    return {
        "dataset": "demo",
        "model": f"model_{k}",
        "part": "main",
        "seed": k,
        "settings": {"estimator": "logistic_regression", "features": "audio"},
        "code_version": "0123456789ab",
        "manifest_sha256": "0" * 64,
        "features_sha256": "1" * 64,
        "device": "cpu",
        "preset": "classical",
        "test": {"accuracy": k / 10, "macro_f1": 0.5, "arousal_accuracy": 0.6, "valence_accuracy": 0.7},
        "curves": {"val_accuracy_by_C": [0.25, 0.5]},
    }


def write_record(root: Path, k: int) -> Path:
    run_dir = root / "runs" / f"model_{k}"
    run_dir.mkdir(parents=True)
    path = run_dir / "metrics.json"
    path.write_text(json.dumps(run_info(k)))
    return path


def _log_one(db: str, artifacts: str, metrics: str, barrier, results) -> None:
    """Worker: wait for the others, then log one run."""
    from merflow.evaluation.tracking import RunRecord, log_runs

    barrier.wait(timeout=120)
    try:
        summary = log_runs([RunRecord(Path(metrics))], db, artifacts, TRACKING_CONFIG, SPLITS)
        results.put((metrics, "ok", summary))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((metrics, "error", f"{type(exc).__name__}: {exc}"))


def store_runs(db: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("merflow/demo/song_disjoint")
    return client.search_runs([experiment.experiment_id])


def test_eight_concurrent_writers_lose_no_run(tmp_path: Path) -> None:
    from merflow.evaluation.tracking import RunRecord, init_store, log_runs

    db, artifacts = tmp_path / "mlflow" / "mlflow.db", tmp_path / "mlflow" / "artifacts"
    init_store(db)
    records = [write_record(tmp_path, k) for k in range(N_WRITERS)]
    context = multiprocessing.get_context("forkserver")  # fresh processes, mlflow imported once
    context.set_forkserver_preload(["mlflow.tracking", "mlflow.entities", "merflow.evaluation.tracking"])
    barrier, results = context.Barrier(N_WRITERS), context.Queue()
    workers = [
        context.Process(target=_log_one, args=(str(db), str(artifacts), str(path), barrier, results))
        for path in records
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    errors = [outcome for outcome in outcomes if outcome[1] != "ok"]
    assert errors == []
    assert [worker.exitcode for worker in workers] == [0] * N_WRITERS
    assert sorted(o[2][0]["status"] for o in outcomes) == ["logged"] * N_WRITERS

    runs = store_runs(db)
    assert sorted(r.data.tags["merflow.model"] for r in runs) == [f"model_{k}" for k in range(N_WRITERS)]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["merflow.model"]: r.data.metrics["test_accuracy"] for r in runs} == {
        f"model_{k}": k / 10 for k in range(N_WRITERS)
    }
    again = log_runs([RunRecord(p) for p in records], db, artifacts, TRACKING_CONFIG, SPLITS)
    assert [row["status"] for row in again] == ["already_logged"] * N_WRITERS
    assert len(store_runs(db)) == N_WRITERS


def test_run_half_logged_by_a_killed_writer_is_replaced(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from merflow.evaluation.tracking import RunRecord, content_hash, init_store, log_runs, tracking_uri

    db, artifacts = tmp_path / "mlflow.db", tmp_path / "artifacts"
    init_store(db)
    record = RunRecord(write_record(tmp_path, 3))
    client = MlflowClient(tracking_uri=tracking_uri(db))
    experiment_id = client.create_experiment("merflow/demo/song_disjoint")
    # what a writer killed between create_run and set_terminated leaves: tags, no metrics, RUNNING
    tags = {
        "merflow.run_key": "demo/song_disjoint/model_3/main/seed3",
        "merflow.content_hash": content_hash(record.metrics_path, TRACKING_CONFIG),
        "merflow.model": "model_3",
    }
    stale = client.create_run(experiment_id, tags=tags).info.run_id
    summary = log_runs([record], db, artifacts, TRACKING_CONFIG, SPLITS)
    assert summary[0]["status"] == "logged" and summary[0]["run_id"] != stale
    runs = store_runs(db)
    assert [(r.info.run_id, r.info.status) for r in runs] == [(summary[0]["run_id"], "FINISHED")]
    assert runs[0].data.metrics["test_accuracy"] == pytest.approx(0.3)
    assert client.get_run(stale).info.lifecycle_stage == "deleted"
