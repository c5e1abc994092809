from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from merflow.evaluation.tables import paper_numbers, results_table, to_markdown
from merflow.evaluation.tracking import RunRecord, init_store, log_runs, tracking_uri


def run_info(model: str, seed: int, accuracy: float) -> dict:
    test = {
        "n": 20,
        "accuracy": accuracy,
        "macro_f1": accuracy - 0.05,
        "arousal_accuracy": 0.9,
        "valence_accuracy": 0.7,
    }
    return {
        "dataset": "emopia",
        "model": model,
        "part": "official",
        "seed": seed,
        "settings": {
            "estimator": "logistic_regression",
            "features": "symbolic",
            "source": "oracle",
            "C_grid": [1.0],
        },
        "code_version": "abc123abc123",
        "manifest_sha256": "0" * 64,
        "features_sha256": "1" * 64,
        "device": "cpu",
        "preset": "classical",
        "test": test,
        "curves": {"val_accuracy_by_C": [0.5, 0.6]},
    }


def write_runs(tmp_path, infos):
    paths = []
    for info in infos:
        run_dir = tmp_path / info["model"] / f"seed{info['seed']}"
        run_dir.mkdir(parents=True)
        (run_dir / "metrics.json").write_text(json.dumps(info))
        paths.append(run_dir / "metrics.json")
    return paths


def test_results_table_mean_std_and_paper_difference():
    runs = [run_info("symbolic_lr_oracle", s, a) for s, a in [(0, 0.6), (1, 0.7), (2, 0.8)]]
    table = results_table(runs, "emopia", "official")
    row = table.iloc[0]
    assert row["accuracy_mean"] == pytest.approx(0.7)
    assert row["accuracy_std"] == pytest.approx(0.1)
    assert row["paper_accuracy"] == pytest.approx(0.581)
    assert row["diff_accuracy"] == pytest.approx(0.7 - 0.581)
    assert (row["dataset"], row["split"], row["level"], row["seeds"]) == (
        "emopia",
        "official",
        "clip",
        "0,1,2",
    )
    markdown = to_markdown(table, "emopia", "official")
    assert "0.700 ± 0.100" in markdown and "0.581" in markdown and "+0.119" in markdown


def test_models_without_published_numbers_get_nan():
    table = results_table([run_info("my_model", 0, 0.5)], "demo", "song_disjoint")
    assert pd.isna(table.iloc[0]["paper_accuracy"])
    assert paper_numbers("demo", "song_disjoint") == {}


def test_mlflow_logging_is_idempotent(tmp_path):
    db = tmp_path / "mlflow.db"
    init_store(db)
    assert db.is_file()
    paths = write_runs(tmp_path / "runs", [run_info("m", 0, 0.6), run_info("m", 1, 0.7)])
    config = {"seeds": [0, 1]}
    first = log_runs(
        [RunRecord(p) for p in paths], db, tmp_path / "artifacts", config, {"emopia/official": "official"}
    )
    assert [r["status"] for r in first] == ["logged", "logged"]
    again = log_runs(
        [RunRecord(p) for p in paths], db, tmp_path / "artifacts", config, {"emopia/official": "official"}
    )
    assert [r["status"] for r in again] == ["already_logged", "already_logged"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri(db))
    experiment = client.get_experiment_by_name("merflow/emopia/official")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    run = next(r for r in runs if r.data.tags["merflow.seed"] == "1")
    assert run.data.metrics["test_accuracy"] == pytest.approx(0.7)
    assert run.data.params["code_version"] == "abc123abc123"
    history = client.get_metric_history(run.info.run_id, "val_accuracy_by_C")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [0.5, 0.6]


def test_a_changed_run_supersedes_its_earlier_logging(tmp_path):
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    init_store(db)
    (path,) = write_runs(tmp_path / "runs", [run_info("m", 0, 0.6)])
    splits = {"emopia/official": "official"}
    (first,) = log_runs([RunRecord(path)], db, tmp_path / "artifacts", {"seeds": [0]}, splits)
    (second,) = log_runs([RunRecord(path)], db, tmp_path / "artifacts", {"seeds": [0, 1]}, splits)
    assert second["status"] == "logged" and second["superseded"] == 1

    client = MlflowClient(tracking_uri=tracking_uri(db))
    experiment = client.get_experiment_by_name("merflow/emopia/official")
    active = client.search_runs([experiment.experiment_id])
    assert [run.info.run_id for run in active] == [second["run_id"]]
    old = client.get_run(first["run_id"])
    assert old.info.lifecycle_stage == "deleted"
    assert old.data.tags["merflow.superseded_by"] == second["run_id"]
    (again,) = log_runs([RunRecord(path)], db, tmp_path / "artifacts", {"seeds": [0, 1]}, splits)
    assert again == {**second, "status": "already_logged", "superseded": 0}


def test_paired_comparisons_per_seed():
    from merflow.evaluation.tables import paired_comparisons

    clips = [f"c{i}" for i in range(10)]
    truth = [1] * 10

    def predictions(right: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "clip_id": clips,
                "split": "test",
                "quadrant": truth,
                "predicted": [1] * right + [2] * (10 - right),
            }
        )

    table = paired_comparisons(
        {("a", "main", 0): predictions(9), ("b", "main", 0): predictions(4), ("a", "main", 1): predictions(9)}
    )
    assert len(table) == 1  # seed 1 has no run of b
    row = table.iloc[0]
    assert (row["model_a"], row["model_b"], row["seed"], row["n_parts"], row["n_clips"]) == (
        "a",
        "b",
        0,
        1,
        10,
    )
    assert (row["a_only"], row["b_only"]) == (5, 0)
    assert row["p_value"] == pytest.approx(0.0625)


def test_accuracy_plot_is_a_png(tmp_path):
    from merflow.evaluation.tables import plot_accuracy

    table = results_table(
        [run_info("symbolic_lr_oracle", 0, 0.6), run_info("x", 0, 0.5)], "emopia", "official"
    )
    plot_accuracy(table, str(tmp_path / "acc.png"), "t")
    assert (tmp_path / "acc.png").read_bytes()[:4] == b"\x89PNG"


def test_paired_comparisons_of_a_single_model_is_an_empty_table_with_columns(tmp_path):
    from merflow.evaluation.tables import PAIRED_COLUMNS, paired_comparisons

    table = paired_comparisons({})
    assert table.columns.tolist() == PAIRED_COLUMNS
    table.to_csv(tmp_path / "p.csv", index=False)
    assert pd.read_csv(tmp_path / "p.csv").columns.tolist() == PAIRED_COLUMNS


def test_training_effort_states_the_epoch_cap_and_what_ran():
    from merflow.evaluation.tables import training_effort

    neural = [
        {"neural": {"epochs": 45}, "history": {"epochs_run": 45, "best_epoch": 2, "seconds": 600.0}},
        {"neural": {"epochs": 45}, "history": {"epochs_run": 45, "best_epoch": 4, "seconds": 660.0}},
    ]
    assert training_effort(neural) == {
        "epoch_cap": "45",
        "epochs_run": 45.0,
        "best_epoch": 4.0,
        "train_minutes": 10.5,
    }
    classical = training_effort([{"history": {"best_C": 1.0}}])
    assert classical["epoch_cap"] == "" and classical["epochs_run"] != classical["epochs_run"]  # NaN


def test_table_command_tabulates_the_runs_given_per_dataset_and_split(tmp_path):
    from merflow.cli import main

    paths = write_runs(tmp_path / "runs", [run_info("symbolic_lr_oracle", s, 0.5 + s / 10) for s in (0, 1)])
    out = tmp_path / "partial"
    assert main(["table", *map(str, paths), "--out", str(out)]) == 0
    table = pd.read_csv(out / "tables" / "emopia_official.csv")
    assert table["seeds"].tolist() == ["0,1"] and table["accuracy_mean"].tolist() == [pytest.approx(0.55)]
    assert "symbolic_lr_oracle" in (out / "tables" / "emopia_official.md").read_text()
    other = run_info("symbolic_lr_oracle", 2, 0.5) | {"part": "midibert"}
    folds = []
    for k in (0, 1):
        fold = run_info("symbolic_lr_oracle", 0, 0.4 + k / 10) | {"dataset": "vgmidi", "part": f"fold{k}"}
        folds += write_runs(tmp_path / f"fold{k}", [fold])
    mixed = [*paths, *write_runs(tmp_path / "other", [other]), *folds]
    assert main(["table", *map(str, mixed), "--out", str(out)]) == 0  # a table per dataset and split
    assert sorted(p.name for p in (out / "tables").glob("*.md")) == [
        "emopia_midibert.md",
        "emopia_official.md",
        "vgmidi_5fold.md",
    ]
    vgmidi = pd.read_csv(out / "tables" / "vgmidi_5fold.csv")
    assert vgmidi["n_runs"].tolist() == [2] and vgmidi["accuracy_mean"].tolist() == [pytest.approx(0.45)]


def test_learning_curves_table_reads_each_runs_epochs_and_the_tested_one(tmp_path):
    from merflow.evaluation.learning_curves import curves_markdown, curves_table, plot_curves

    neural = run_info("lstm", 0, 0.6) | {
        "curves": {"val_clip_accuracy": [0.4, 0.5, 0.45], "train_loss": [1.2, 0.9, 0.7]},
        "history": {"best_epoch": 1},
    }
    table = curves_table([neural, run_info("symbolic_lr_oracle", 0, 0.5)], epochs=(1, 3, 5))
    assert table["model"].tolist() == ["lstm"]  # a classical run has no epochs
    row = table.iloc[0]
    assert (row["val@1"], row["val@3"], row["best epoch"], row["best val"]) == (0.4, 0.45, 2, 0.5)
    assert np.isnan(row["val@5"]) and row["last train loss"] == 0.7 and row["test acc"] == 0.6
    text = curves_markdown(table, "t")
    assert "| lstm | official | 0 | 0.400 | 0.450 | - | 2 | 0.500 | 3 | 0.700 | 0.600 |" in text
    # runs of several partitions (folds) are told apart, in model, partition, seed order
    folds = [neural | {"part": f"fold{k}", "seed": seed} for seed in (1, 0) for k in (1, 0)]
    assert curves_table(folds)[["part", "seed"]].values.tolist() == [
        ["fold0", 0],
        ["fold0", 1],
        ["fold1", 0],
        ["fold1", 1],
    ]
    plot_curves([neural, *folds], tmp_path / "curves.png", "t")
    classical_only = [run_info("symbolic_lr_oracle", 0, 0.5)]
    assert "No run of this table trains by epochs" in curves_markdown(curves_table(classical_only), "t")
    plot_curves(classical_only, tmp_path / "none.png", "t")
    assert (tmp_path / "none.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_fine_tuned_row_states_its_encoders_pretraining_and_its_epoch_cap():
    pretraining = {"preset": "cpu", "steps": 2240, "train_minutes": 90.02, "held_out_accuracy": 0.51234}
    runs = [
        run_info("mofi", seed, 0.6)
        | {
            "preset": "cpu",
            "finetune": {"epochs": 20},
            "history": {"epochs_run": 8, "best_epoch": 4, "seconds": 600.0},
            "encoder_pretraining": pretraining,
        }
        for seed in (0, 1)
    ]
    row = results_table(runs, "emopia", "official").iloc[0]
    assert row["encoder_pretraining"] == "2240 steps, 90 min, held-out MLM acc 0.512"
    assert (row["epoch_cap"], row["epochs_run"], row["best_epoch"]) == ("20", 8.0, 5.0)
    text = to_markdown(results_table(runs, "emopia", "official"), "emopia", "official")
    assert "| cpu (2240 steps, 90 min, held-out MLM acc 0.512) | 8.0 (20) | 5.0 | 10.0 |" in text
    # a classical row states no encoder; runs on two encoders name both
    assert (
        results_table([run_info("symbolic_lr_oracle", 0, 0.6)], "emopia", "official").iloc[0][
            "encoder_pretraining"
        ]
        == ""
    )
    runs[1]["encoder_pretraining"] = pretraining | {"steps": 100, "held_out_accuracy": float("nan")}
    assert results_table(runs, "emopia", "official").iloc[0]["encoder_pretraining"] == (
        "100 steps, 90 min; 2240 steps, 90 min, held-out MLM acc 0.512"
    )
