"""MLflow tracking on an SQLite store, with exactly one writer.

Conventions
-----------
- One experiment per dataset and split: ``merflow/<dataset>/<split>``.
- One run per model x partition x seed, named ``<model>/<part>/seed<seed>``, tagged
  ``merflow.dataset``, ``merflow.split``, ``merflow.model``, ``merflow.part``,
  ``merflow.seed``, ``merflow.run_key`` (all of these joined) and
  ``merflow.content_hash`` (hash of the run's metrics file and the resolved config).
- Logging is idempotent: a run whose key and content hash are already in the store is
  skipped, so rerunning the logging job after a partial rerun only adds what changed. A
  run whose content changed (new metrics, or a changed config) is logged anew and its
  earlier runs are soft-deleted, tagged ``merflow.superseded_by``: the active runs are one
  per model x partition x seed.
- The store is created by :func:`init_store` in its own job before anything else writes;
  the pipeline then logs every run from one job (:func:`log_runs`).
- Concurrent writers are still safe: every write (store creation, and each run's check,
  create, log and terminate) holds an exclusive file lock beside the database
  (``<db>.lock``, :data:`LOCK_TIMEOUT_S`), so two processes never race to create the same
  experiment nor hit SQLite's "database is locked". A run counts as logged only once it is
  ``FINISHED``; a run left half-logged by a killed writer is deleted and logged again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from merflow.evaluation.metrics import HEADLINE_METRICS

log = logging.getLogger(__name__)

#: Seconds a writer waits for the store's lock before giving up (filelock.Timeout).
LOCK_TIMEOUT_S = 600.0

ARTIFACTS_OF_A_RUN = (
    "metrics.json",
    "training.json",
    "confusion.png",
    "model.joblib",
    "model.pt",
    "predictions.parquet",
    "predictions_chunks.parquet",
)


def tracking_uri(db: str | Path) -> str:
    """``sqlite:///`` URI of the database file ``db`` (made absolute)."""
    return f"sqlite:///{Path(db).resolve()}"


def _client(db: str | Path):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(db))


def store_lock(db: str | Path) -> FileLock:
    """The exclusive lock every writer of the store ``db`` holds while it writes."""
    path = Path(db).resolve()
    return FileLock(path.with_name(path.name + ".lock"), timeout=LOCK_TIMEOUT_S)


def init_store(db: str | Path) -> dict[str, Any]:
    """Create the SQLite tracking store (schema migrations run once, here)."""
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    with store_lock(db):
        client = _client(db)
        experiments = client.search_experiments()
    return {"tracking_uri": tracking_uri(db), "experiments": len(experiments)}


@dataclass(frozen=True)
class RunRecord:
    """What one run contributes to MLflow: its metrics file and the folder beside it."""

    metrics_path: Path

    @property
    def run_dir(self) -> Path:
        return self.metrics_path.parent

    def load(self) -> dict[str, Any]:
        return json.loads(self.metrics_path.read_text(encoding="utf-8"))


def _experiment_id(client, name: str, artifacts_root: Path) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (artifacts_root / name.replace("/", "_")).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location, tags={"merflow.kind": "dataset_split"})


def content_hash(metrics_path: Path, config: dict[str, Any]) -> str:
    """Hash of a run's metrics file together with the resolved config."""
    digest = hashlib.sha256(metrics_path.read_bytes())
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def log_runs(
    records: list[RunRecord],
    db: str | Path,
    artifacts_root: str | Path,
    config: dict[str, Any],
    splits: dict[str, str],
) -> list[dict[str, Any]]:
    """Log every record not yet in the store; return one summary row per record.

    Args:
        records: runs to log.
        db: SQLite database file.
        artifacts_root: folder under which each experiment keeps its artifacts.
        config: the resolved pipeline config (logged as params; part of the content hash).
        splits: ``{"<dataset>/<part>": split}``: the split each trained partition is reported on
            (experiment names).
    """
    client = _client(db)
    artifacts_root = Path(artifacts_root)
    summary = []
    lock = store_lock(db)
    for record in records:
        with lock:
            summary.append(_log_run(client, record, artifacts_root, config, splits))
    return summary


def _log_run(
    client, record: RunRecord, artifacts_root: Path, config: dict[str, Any], splits: dict[str, str]
) -> dict[str, Any]:
    """Log one record unless a finished run with its key and content is in the store (lock held)."""
    from mlflow.entities import Metric, Param, RunTag

    from merflow.core.config import config_hash

    info = record.load()
    dataset, model, part, seed = info["dataset"], info["model"], info["part"], info["seed"]
    split = splits[f"{dataset}/{part}"]
    run_key = f"{dataset}/{split}/{model}/{part}/seed{seed}"
    digest = content_hash(record.metrics_path, config)
    experiment_id = _experiment_id(client, f"merflow/{dataset}/{split}", artifacts_root)
    same = f"tags.`merflow.run_key` = '{run_key}' and tags.`merflow.content_hash` = '{digest}'"
    existing = client.search_runs(
        [experiment_id], filter_string=f"{same} and attributes.status = 'FINISHED'", max_results=1
    )
    if existing:
        run_id = existing[0].info.run_id
        superseded = _supersede(client, experiment_id, run_key, run_id)
        return {
            "run_key": run_key,
            "run_id": run_id,
            "status": "already_logged",
            "superseded": len(superseded),
        }
    for stale in client.search_runs([experiment_id], filter_string=same):
        log.warning("deleting run %s of %s, left half-logged by a killed writer", stale.info.run_id, run_key)
        client.delete_run(stale.info.run_id)
    tags = {
        "merflow.dataset": dataset,
        "merflow.split": split,
        "merflow.model": model,
        "merflow.part": part,
        "merflow.seed": str(seed),
        "merflow.run_key": run_key,
        "merflow.content_hash": digest,
        "merflow.code_version": info["code_version"],
        "merflow.preset": info.get("preset", "classical"),
    }
    run = client.create_run(experiment_id, run_name=f"{model}/{part}/seed{seed}", tags=tags)
    run_id = run.info.run_id
    params = {
        **{f"model.{k}": v for k, v in info["settings"].items()},
        "config_hash": config_hash(config),
        "code_version": info["code_version"],
        "manifest_sha256": info["manifest_sha256"],
        "features_sha256": info["features_sha256"],
        "device": info.get("device", "cpu"),
        "seed": seed,
    }
    timestamp = int(record.metrics_path.stat().st_mtime * 1000)
    metrics = [Metric(f"test_{k}", float(info["test"][k]), timestamp, 0) for k in HEADLINE_METRICS]
    metrics += [
        Metric(name, float(value), timestamp, step)
        for name, curve in info.get("curves", {}).items()
        for step, value in enumerate(curve)
    ]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, _param_value(v)) for k, v in params.items()],
        tags=[RunTag("mlflow.note.content", f"merflow run {run_key}")],
    )
    client.log_dict(run_id, config, "config.json")
    for name in ARTIFACTS_OF_A_RUN:
        path = record.run_dir / name
        if path.is_file():
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    superseded = _supersede(client, experiment_id, run_key, run_id)
    log.info("logged %s as run %s (superseding %d earlier)", run_key, run_id, len(superseded))
    return {"run_key": run_key, "run_id": run_id, "status": "logged", "superseded": len(superseded)}


def _supersede(client, experiment_id: str, run_key: str, run_id: str) -> list[str]:
    """Soft-delete the other runs of ``run_key`` (earlier content), tagged with their successor.

    They stay restorable (``mlflow runs restore``) until ``mlflow gc``; the active runs of an
    experiment are then exactly one per model x partition x seed.
    """
    earlier = [
        run.info.run_id
        for run in client.search_runs([experiment_id], filter_string=f"tags.`merflow.run_key` = '{run_key}'")
        if run.info.run_id != run_id
    ]
    for old_id in earlier:
        client.set_tag(old_id, "merflow.superseded_by", run_id)
        client.delete_run(old_id)
    return earlier


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:6000]  # MLflow's limit on a param value
