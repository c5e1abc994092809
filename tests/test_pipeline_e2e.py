"""End to end: the whole Snakemake DAG on a small demo config, in a temporary directory."""

from __future__ import annotations

import copy
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_runner import dry_run_with, prepare_workdir, run_snakemake

from merflow.training.classical import PROB_COLUMNS

MODELS = ["audio_lr", "symbolic_lr", "symbolic_lr_oracle"]
CONFIG = {
    "datasets": ["demo"],
    "seeds": [0, 1],
    "demo": {"n_songs": 16, "clips_per_song": 2, "clip_s": 5.0, "gap_s": 1.0, "seed": 3},
    "download": {"shards": 2, "retries": 1, "backoff_s": 0.1},
    "transcription": {"backends": ["basic_pitch"], "shards": 2},
    "models": {
        "audio_lr": {"estimator": "logistic_regression", "features": "audio"},
        "symbolic_lr": {"estimator": "logistic_regression", "features": "symbolic", "source": "basic_pitch"},
        "symbolic_lr_oracle": {"estimator": "svm", "features": "symbolic", "source": "oracle"},
    },
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, repo_root) -> Path:
    workdir = tmp_path_factory.mktemp("demo_run")
    prepare_workdir(workdir, repo_root, CONFIG)
    result = run_snakemake(workdir, repo_root)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_results_table_has_every_model_with_sane_values(demo_run):
    table = pd.read_csv(demo_run / "results/tables/demo_song_disjoint.csv")
    assert sorted(table["model"]) == MODELS
    assert (table["dataset"] == "demo").all() and (table["split"] == "song_disjoint").all()
    assert (table["seeds"] == "0,1").all() and (table["n_runs"] == 2).all()
    assert table["code_version"].str.fullmatch(r"[0-9a-f]{12}").all()
    for metric in ("accuracy", "macro_f1", "arousal_accuracy", "valence_accuracy"):
        assert table[f"{metric}_mean"].between(0, 1).all()
    assert (table["n_test_items"] > 0).all()
    assert (table["level"] == "clip").all()
    markdown = (demo_run / "results/tables/demo_song_disjoint.md").read_text()
    assert all(model in markdown for model in MODELS)


def test_predictions_are_probabilities(demo_run):
    predictions = pd.read_parquet(demo_run / "results/demo/models/symbolic_lr/main/seed0/predictions.parquet")
    assert np.allclose(predictions[PROB_COLUMNS].sum(axis=1), 1.0)
    assert predictions["predicted"].isin([1, 2, 3, 4]).all()
    assert (demo_run / "results/demo/models/symbolic_lr/main/seed0/confusion.png").stat().st_size > 0


def test_broken_items_are_in_the_ledger_and_the_run_finished(demo_run):
    ledger = pd.read_csv(demo_run / "results/ledger.csv")
    reasons = set(zip(ledger["stage"], ledger["reason"], strict=True))
    assert ("download", "unavailable") in reasons
    assert ("symbolic_oracle", "corrupt_midi") in reasons
    assert ("cut_clips", "no_song_audio") in reasons  # every clip of the lost song is listed
    broken_song = ledger.loc[ledger["stage"] == "download", "item"].iloc[0]
    clips = pd.read_parquet(demo_run / "results/demo/audio/clips_youtube.parquet")
    assert set(clips.loc[clips["song_id"] == broken_song, "status"]) == {"no_song_audio"}
    assert (clips["status"] == "ok").sum() == len(clips) - (clips["song_id"] == broken_song).sum()


def test_every_run_is_in_mlflow(demo_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{demo_run / 'results/mlflow/mlflow.db'}")
    experiment = client.get_experiment_by_name("merflow/demo/song_disjoint")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == len(MODELS) * len(CONFIG["seeds"])
    assert {r.data.tags["merflow.model"] for r in runs} == set(MODELS)
    assert all(0 <= r.data.metrics["test_accuracy"] <= 1 for r in runs)


def test_key_and_tokens_caches(demo_run):
    keys = pd.read_parquet(demo_run / "results/demo/features/symbolic/oracle/keys.parquet")
    assert keys["mode"].isin(["major", "minor"]).all()
    tokens = pd.read_parquet(demo_run / "results/demo/features/symbolic/oracle/tokens_midi_like.parquet")
    assert (tokens["n_tokens"] > 0).all()
    assert max(max(t) for t in tokens["tokens"]) < 388


def test_second_invocation_has_nothing_to_do(demo_run, repo_root):
    result = run_snakemake(demo_run, repo_root, "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_html_report_gathers_tables_and_figures(demo_run, repo_root):
    result = run_snakemake(demo_run, repo_root, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    report = (demo_run / "report.html").read_text(errors="replace")
    assert "demo_song_disjoint" in report and "confusion" in report


def test_every_configured_emopia_split_gets_its_runs_and_table(tmp_path, repo_root, shared_data):
    """EMOPIA with both published splits: one run folder and one table per split."""
    config = {
        "datasets": ["emopia"],
        "seeds": [0],
        "data_mirror": str(shared_data),
        "emopia": {"splits": ["official", "midibert"]},
        "models": {"lr": {"estimator": "logistic_regression", "features": "symbolic", "source": "oracle"}},
    }
    prepare_workdir(tmp_path, repo_root, config)
    tables = ["results/tables/emopia_official.csv", "results/tables/emopia_midibert.csv"]
    result = run_snakemake(tmp_path, repo_root, *tables)
    assert result.returncode == 0, result.stderr[-5000:]
    for split, n_test in (("official", 86), ("midibert", 107)):
        table = pd.read_csv(tmp_path / f"results/tables/emopia_{split}.csv")
        assert table["split"].tolist() == [split] and table["parts"].tolist() == [split]
        run = tmp_path / f"results/emopia/models/lr/{split}/seed0"
        predictions = pd.read_parquet(run / "predictions.parquet")
        assert (predictions["split"] == "test").sum() == n_test


def test_a_mirrored_dataset_reruns_its_manifest_when_its_content_changes(tmp_path, repo_root, shared_data):
    """The manifest rule carries the folder's content digest: new modification times with the
    same content (a mirror copied again) rerun nothing; an edited or added file reruns it."""
    mirror = tmp_path / "mirror"
    shutil.copytree(shared_data / "vgmidi", mirror / "vgmidi")
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = {
        "datasets": ["vgmidi"],
        "seeds": [0],
        "data_mirror": str(mirror),
        "models": {"lr": {"estimator": "logistic_regression", "features": "symbolic", "source": "oracle"}},
    }
    prepare_workdir(workdir, repo_root, config)
    target = "resources/vgmidi/manifest.parquet"
    assert run_snakemake(workdir, repo_root, target).returncode == 0

    def planned() -> str:
        result = run_snakemake(workdir, repo_root, target, "--dry-run")
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    later = time.time() + 60  # every file newer than the manifest, none changed
    for path in (mirror / "vgmidi").rglob("*"):
        os.utime(path, (later, later))
    assert "Nothing to be done" in planned()

    edited = sorted((mirror / "vgmidi").rglob("*.mid"))[0]
    edited.chmod(0o644)
    with edited.open("ab") as midi:
        midi.write(b"\0")
    assert "rule vgmidi_manifest" in planned()
    with edited.open("r+b") as midi:  # the content back as it was: nothing to do again
        midi.truncate(edited.stat().st_size - 1)
    assert "Nothing to be done" in planned()
    (mirror / "vgmidi" / "added.mid").write_bytes(edited.read_bytes())
    assert "rule vgmidi_manifest" in planned()


def test_slurm_profile_sends_gpu_rules_to_the_gpu_partition(tmp_path, repo_root):
    """A dry run through profiles/slurm: each job carries the resources SLURM will be asked for."""
    config = {
        **CONFIG,
        "models": {
            **CONFIG["models"],
            "lstm": {"estimator": "lstm_attn", "features": "neural", "source": "oracle", "tokenizer": "remi"},
        },
    }
    prepare_workdir(tmp_path, repo_root, config)
    result = run_snakemake(tmp_path, repo_root, "--profile", "profiles/slurm", "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = {}
    for block in result.stdout.split("\nrule ")[1:]:
        resources = re.search(r"resources: (.*)", block)
        jobs.setdefault(block.split(":", 1)[0], resources.group(1) if resources else "")
    assert "slurm_partition=gpu" in jobs["train_neural"] and "gpu=1" in jobs["train_neural"]
    assert "mem_mb=8000" in jobs["train_neural"] and "cpus_per_task" not in jobs["train_neural"]
    assert "mem_mb=12000" in jobs["audio_features"]
    assert "slurm_partition=cpu" in jobs["train"] and "gpu" not in jobs["train"].replace("slurm", "")


def _reordered(value):
    """``value`` with every mapping's keys in reverse order (same settings, another file layout)."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    return value


def test_the_same_settings_in_another_key_order_rerun_nothing(demo_run, repo_root):
    assert dry_run_with(demo_run, repo_root, _reordered(CONFIG), "reordered.yaml") == {}


def test_a_key_another_family_reads_reruns_nothing(demo_run, repo_root):
    config = copy.deepcopy(CONFIG)
    # MoFi's and the neural models' keys on a classical entry: the SVM's jobs do not read them.
    config["models"]["symbolic_lr_oracle"] |= {"augmentation": True, "tokenizer": "remi", "ablation": "x"}
    config["midibert"] = {"finetune": {"lr": 1.0e-3}}  # MoFi-only section
    planned = dry_run_with(demo_run, repo_root, config, "other_family.yaml")
    # MLflow logs the resolved config with every run, so its one gathering job logs them anew.
    assert set(planned) <= {"mlflow_log", "all"}


def test_an_added_model_runs_only_its_jobs_the_tables_and_mlflow(demo_run, repo_root):
    config = copy.deepcopy(CONFIG)
    config["models"]["symbolic_svm"] = {"estimator": "svm", "features": "symbolic", "source": "basic_pitch"}
    planned = dry_run_with(demo_run, repo_root, config, "added_model.yaml")
    seeds = len(CONFIG["seeds"])
    tables = {"results_table": 1, "amt_vs_emotion": 1}  # the results table; accuracy against AMT quality
    assert planned == {"train": seeds, "evaluate": seeds, **tables, "mlflow_log": 1, "all": 1}
