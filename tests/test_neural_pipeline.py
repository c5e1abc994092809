"""End to end: the neural and MoFi rules of the DAG (pretraining, fine-tuning, every input kind).

The demo dataset (audio, oracle and basic-pitch MIDI) with tiny sizes and one epoch: MoFi on CP
tokens after a few masked-LM steps, Zhu et al. with its pretrained symbolic encoder, its STFT
ablation, Zhao & Yoshii (coarse MFCC), LSTM-Attn on REMI and the short-chunk ResNet. The
pretraining corpora come from the dataset mirror (skipped when it is missing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipeline_runner import dry_run_with, prepare_workdir, run_snakemake

MODELS = {
    "mofi": {"estimator": "mofi", "features": "cp", "source": "oracle", "injection": "before_layer_1"},
    "zhu": {
        "estimator": "zhu",
        "features": "neural",
        "source": "basic_pitch",
        "tokenizer": "refined_midi_like",
    },
    "zhu_stft_input": {
        "estimator": "zhu",
        "features": "neural",
        "source": "basic_pitch",
        "tokenizer": "refined_midi_like",
        "ablation": "stft_input",
    },
    "zhu_acoustic_only": {
        "estimator": "zhu",
        "features": "neural",
        "source": "basic_pitch",
        "tokenizer": "refined_midi_like",
        "ablation": "acoustic_only",
    },
    "zhao_yoshii": {
        "estimator": "zhao_yoshii",
        "features": "neural",
        "source": "oracle",
        "tokenizer": "midi_like",
    },
    "lstm_attn_remi": {
        "estimator": "lstm_attn",
        "features": "neural",
        "source": "oracle",
        "tokenizer": "remi",
    },
    "short_chunk_resnet": {"estimator": "short_chunk_resnet", "features": "neural"},
}
TINY_PRETRAINING = {"steps": 4, "batch_size": 4, "max_len": 32, "checkpoint_every": 2, "max_minutes": 2}


@pytest.fixture(scope="module")
def neural_run(tmp_path_factory, repo_root, shared_data) -> Path:
    workdir = tmp_path_factory.mktemp("neural_run")
    config = {
        "datasets": ["demo"],
        "seeds": [0],
        "data_mirror": str(shared_data),
        "demo": {"n_songs": 12, "clips_per_song": 2, "clip_s": 5.0, "gap_s": 1.0, "seed": 5},
        "download": {"shards": 1, "retries": 1, "backoff_s": 0.1},
        "transcription": {"backends": ["basic_pitch"], "shards": 1},
        "midibert": {
            "preset": "tiny",
            "size_sweep": ["tiny"],  # the sweep's table, of the one pretraining this run makes
            "pretrain": {**TINY_PRETRAINING, "corpora": ["vgmidi_unlabelled"]},
            "finetune": {"epochs": 1, "patience": 1, "batch_size": 8, "lr": 1e-4, "max_len": 32},
        },
        "neural": {
            "preset": "cpu",
            "epochs": 1,
            "patience": 1,
            "batch_size": 8,
            "max_tokens": 64,
            "max_frames": 64,
            "zhu_pretrain": TINY_PRETRAINING,
        },
        "models": MODELS,
    }
    prepare_workdir(workdir, repo_root, config)
    result = run_snakemake(workdir, repo_root)
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir


def history(workdir: Path, model: str) -> dict:
    return json.loads((workdir / f"results/demo/models/{model}/main/seed0/training.json").read_text())


def test_every_model_is_in_the_table(neural_run):
    table = pd.read_csv(neural_run / "results/tables/demo_song_disjoint.csv")
    clip_rows = table[table["level"] == "clip"]
    assert sorted(clip_rows["model"]) == sorted(MODELS)
    assert clip_rows["accuracy_mean"].between(0, 1).all()


def test_zhu_starts_from_its_pretrained_symbolic_encoder(neural_run):
    pretraining = json.loads((neural_run / "results/pretrain/zhu_cpu/history.json").read_text())
    assert pretraining["steps_done"] == TINY_PRETRAINING["steps"] and pretraining["n_chunks"] > 0
    assert history(neural_run, "zhu")["history"]["pretrained_symbolic"] is True
    assert "pretrained" in history(neural_run, "zhu")["inputs_sha256"]
    assert history(neural_run, "zhu_acoustic_only")["history"]["pretrained_symbolic"] is False


def test_stft_ablation_and_coarse_mfcc_read_their_features(neural_run):
    frames_path = neural_run / "results/demo/features/audio/frames.parquet"
    frames = pd.read_parquet(frames_path, columns=["stft", "mfcc_coarse"])
    assert len(frames.iloc[0]["stft"]) == 257 and len(frames.iloc[0]["mfcc_coarse"]) == 23
    stft, mixed = history(neural_run, "zhu_stft_input")["history"], history(neural_run, "zhu")["history"]
    assert stft["n_dropped"] == mixed["n_dropped"] < stft["n_clips"]  # only the demo's lost song


def test_mofi_pretrained_then_fine_tuned(neural_run):
    pretraining = json.loads((neural_run / "results/pretrain/tiny/history.json").read_text())
    assert pretraining["steps_done"] == TINY_PRETRAINING["steps"]
    # held-out pieces (2% of the corpus, whole pieces) scored before training and at the end
    assert pretraining["n_held_out_chunks"] > 0 and pretraining["n_chunks"] > 0
    held_out = pretraining["held_out"]
    assert held_out["steps"][0] == 0 and held_out["steps"][-1] == TINY_PRETRAINING["steps"]
    assert all(0 <= a <= 1 for a in held_out["accuracy"])
    sizes = pd.read_csv(neural_run / "results/tables/pretraining_sizes.csv")
    assert list(sizes["preset"]) == ["tiny"] and sizes["chosen"].all()
    assert sizes.loc[0, "held_out_accuracy"] == pytest.approx(held_out["accuracy"][-1])
    assert (neural_run / "results/plots/pretraining_sizes.png").is_file()
    assert (neural_run / "results/demo/models/mofi/main/seed0/predictions_chunks.parquet").is_file()
    # the fine-tuned run, and so its table row, states the encoder's pretraining
    run = json.loads((neural_run / "results/demo/models/mofi/main/seed0/metrics.json").read_text())
    assert run["encoder_pretraining"]["steps"] == TINY_PRETRAINING["steps"]
    assert run["encoder_pretraining"]["held_out_accuracy"] == pytest.approx(held_out["accuracy"][-1])
    table = pd.read_csv(neural_run / "results/tables/demo_song_disjoint.csv")
    stated = table.loc[table["model"] == "mofi", "encoder_pretraining"]
    assert len(stated) and all(s.startswith(f"{TINY_PRETRAINING['steps']} steps, ") for s in stated)


def test_a_neural_optimisation_key_reruns_only_the_neural_trainings_tables_and_mlflow(neural_run, repo_root):
    config = yaml.safe_load((neural_run / "config.yaml").read_text())
    config["neural"]["lr"] = 3.0e-4
    planned = dry_run_with(neural_run, repo_root, config, "neural_lr.yaml")
    neural_models = [name for name, entry in MODELS.items() if entry["features"] == "neural"]
    trainings = planned.pop("train_neural", 0) + planned.pop("train_neural_chunks", 0)
    assert trainings == len(neural_models) and planned.pop("evaluate") == len(neural_models)
    assert set(planned) <= {"results_table", "amt_vs_emotion", "mlflow_log", "all"}  # no MoFi, no pretraining
