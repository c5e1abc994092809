"""``merflow predict`` with neural and MoFi runs (merflow.inference.neural, called by
merflow.inference.prediction).

Known answers: a Zhao & Yoshii run (MIDI-like tokens + chroma and MFCC frames), a REMI
LSTM-Attn run and a MoFi run (CP tokens + the key's mode, FiLM, 16-note chunks, from a
random `tiny` encoder) are trained by the pipeline's own scripts (``train_neural.py``,
``train_mofi.py``; stand-in ``snakemake`` object) on caches written by the pipeline's cache
functions; predicting a test clip's MIDI file must give the probabilities the training stored
for that clip. Runs whose weights do not fit their settings, MoFi runs without their chunk
settings and runs of other kinds are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from test_inference import (
    DATASET,
    PROBABILITY_TOLERANCE,
    _run_pipeline_script,
    _stored_probabilities,
    demo_manifest,
    evaluate_run,
    pipeline_rendered_audio,
)
from test_neural_pipeline import MODELS as PIPELINE_MODELS

from merflow.cli import main
from merflow.core.io import read_json, write_json, write_parquet
from merflow.core.ledger import Ledger
from merflow.features.caches import audio_cache_metadata, frame_table, symbolic_caches
from merflow.inference.annotation import ledger_path_for
from merflow.inference.prediction import FROM_CACHE, FROM_TRAINING, load_predictor
from merflow.inference.runs import RunError, find_run
from merflow.models.midibert import MidiBert, MidiBertConfig
from merflow.music.audio_features import FEATURES, AudioFeatureConfig, frame_features
from merflow.training.classical import PROB_COLUMNS
from merflow.training.torch_utils import save_checkpoint

NEURAL = {"epochs": 1, "patience": 1, "batch_size": 8, "lr": 1e-3, "max_tokens": 48, "max_frames": 64}
MODELS = {name: PIPELINE_MODELS[name] for name in ("zhao_yoshii", "lstm_attn_remi")}

MOFI = {
    "estimator": "mofi",
    "features": "cp",
    "source": "oracle",
    "injection": "before_layer_1",
    "augmentation": False,
}
FINETUNE = {"epochs": 1, "patience": 1, "batch_size": 8, "lr": 1e-4, "max_len": 16}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train_neural(repo_root: Path, results: Path, manifest: Path, features: Path, model: str) -> Path:
    settings = MODELS[model]
    inputs = {"manifest": str(manifest)}
    inputs["tokens"] = str(features / "symbolic" / "oracle" / f"tokens_{settings['tokenizer']}.parquet")
    if settings["estimator"] == "zhao_yoshii":
        inputs["frames"] = str(features / "audio" / "frames.parquet")
    run_dir = results / DATASET / "models" / model / "main" / "seed0"
    scripts = repo_root / "workflow" / "scripts"
    _run_pipeline_script(
        scripts / "train_neural.py",
        input=inputs,
        params={"settings": settings, "neural": {"preset": "cpu", **NEURAL}, "code": "test"},
        wildcards={"dataset": DATASET, "model": model, "part": "main", "seed": "0"},
        output={
            "model": str(run_dir / "model.pt"),
            "predictions": str(run_dir / "predictions.parquet"),
            "history": str(run_dir / "training.json"),
        },
        threads=1,
    )
    return evaluate_run(repo_root, run_dir)


def _train_mofi(repo_root: Path, results: Path, manifest: Path, symbolic: Path, encoder: Path) -> Path:
    torch.manual_seed(0)
    save_checkpoint(MidiBert(MidiBertConfig.preset("tiny")).state_dict(), encoder)
    # the history pretraining writes beside its encoder (this one is untrained: 0 steps)
    history = encoder.with_name("history.json")
    write_json({"preset": "tiny", "steps_done": 0, "train_seconds": 0.0, "held_out": {}}, history)
    run_dir = results / DATASET / "models" / "mofi" / "main" / "seed0"
    scripts = repo_root / "workflow" / "scripts"
    _run_pipeline_script(
        scripts / "train_mofi.py",
        input={
            "manifest": str(manifest),
            "tokens": str(symbolic / "tokens_cp.parquet"),
            "key_table": str(symbolic / "keys.parquet"),
            "encoder": str(encoder),
            "encoder_history": str(history),
        },
        params={
            "settings": MOFI,
            "midibert": {"preset": "tiny", "checkpoint": "", "finetune": FINETUNE},
            "code": "test",
        },
        wildcards={"dataset": DATASET, "model": "mofi", "part": "main", "seed": "0"},
        output={
            "model": str(run_dir / "model.pt"),
            "predictions": str(run_dir / "predictions.parquet"),
            "chunks": str(run_dir / "predictions_chunks.parquet"),
            "history": str(run_dir / "training.json"),
        },
        threads=1,
    )
    return evaluate_run(repo_root, run_dir)


@pytest.fixture(scope="module")
def neural_runs(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> SimpleNamespace:
    """A demo dataset, its pipeline caches (tokens, frames of its rendering) and two neural runs."""
    root = tmp_path_factory.mktemp("neural_inference")
    manifest = demo_manifest(root)
    features = root / "results" / DATASET / "features"
    index = manifest.assign(status="ok")[["clip_id", "midi_path", "status"]]
    caches = symbolic_caches(index, Ledger("symbolic", DATASET))
    symbolic = features / "symbolic" / "oracle"
    for name in ("midi_like", "remi"):
        write_parquet(caches[f"tokens_{name}"], symbolic / f"tokens_{name}.parquet")
    write_parquet(caches["tokens_cp"], symbolic / "tokens_cp.parquet", {"cp_rescale": False})
    write_parquet(caches["keys"], symbolic / "keys.parquet")
    cfg = AudioFeatureConfig()
    audio = pipeline_rendered_audio(manifest, root / "results")
    frame_sets = [
        {name: value.astype(np.float32) for name, value in frame_features(audio[clip], cfg).items()}
        for clip in manifest["clip_id"]
    ]
    assert set(frame_sets[0]) == set(FEATURES)
    table = frame_table(list(manifest["clip_id"]), frame_sets)
    write_parquet(table, features / "audio" / "frames.parquet", audio_cache_metadata(cfg))
    manifest_path = root / "demo" / "manifest.parquet"
    results = root / "results"
    runs = {model: _train_neural(repo_root, results, manifest_path, features, model) for model in MODELS}
    runs["mofi"] = _train_mofi(repo_root, results, manifest_path, symbolic, root / "encoder.pt")
    return SimpleNamespace(root=root, results=results, manifest=manifest, runs=runs)


def _test_clip(runs: SimpleNamespace) -> pd.Series:
    return runs.manifest[runs.manifest["split"] == "test"].iloc[0]


@pytest.mark.parametrize("model", [*MODELS, "mofi"])
def test_a_neural_run_predicts_what_its_training_stored(neural_runs, model):
    clip = _test_clip(neural_runs)
    predictor = load_predictor(neural_runs.runs[model])
    assert predictor.info.features in ("neural", "cp") and predictor.feature_names == ()
    if model == "zhao_yoshii":  # its frame settings, recorded by train_neural.py
        assert predictor.settings_origin["audio_features"] == FROM_TRAINING
    prediction = predictor.predict_file(clip.midi_path)
    expected = _stored_probabilities(neural_runs.runs[model], clip.clip_id)
    np.testing.assert_allclose(list(prediction.probabilities.values()), expected, atol=PROBABILITY_TOLERANCE)
    assert prediction.quadrant == int(np.argmax(expected)) + 1 and prediction.input == "midi"


def test_predict_and_find_run_know_neural_runs(neural_runs, capsys):
    assert find_run(neural_runs.results, model="lstm_attn_remi") == neural_runs.runs["lstm_attn_remi"]
    clip = _test_clip(neural_runs)
    code = main(
        ["predict", clip.midi_path, "--results", str(neural_runs.results), "--model", "zhao_yoshii", "--json"]
    )
    assert code == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["model"]["model"] == "zhao_yoshii" and row["model"]["estimator"] == "zhao_yoshii"
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)


def _copy_run(run_dir: Path, target: Path, **settings_changes: object) -> Path:
    target.mkdir(parents=True)
    for path in run_dir.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    training = read_json(target / "training.json")
    for key, value in settings_changes.items():
        section, field = key.split("__")
        training[section][field] = value
    write_json(training, target / "training.json")
    return target


def test_weights_that_do_not_fit_their_settings_are_refused(neural_runs, tmp_path):
    run = _copy_run(neural_runs.runs["zhao_yoshii"], tmp_path / "run", neural__preset="paper")
    with pytest.raises(RunError, match=r"model\.pt: does not fit ZhaoYoshii"):
        load_predictor(run)


def test_a_mofi_run_without_its_chunk_settings_is_refused(neural_runs, tmp_path):
    run = _copy_run(neural_runs.runs["mofi"], tmp_path / "run")
    training = read_json(run / "training.json")
    del training["finetune"]
    write_json(training, run / "training.json")
    with pytest.raises(RunError, match="must be retrained"):
        load_predictor(run)


def test_a_run_of_another_kind_cannot_label_files_and_is_not_offered(neural_runs, tmp_path):
    results = tmp_path / "results"
    run = _copy_run(
        neural_runs.runs["lstm_attn_remi"],
        results / DATASET / "models" / "other" / "main" / "seed0",
        settings__features="statistics",
    )
    with pytest.raises(RunError, match="features 'statistics' cannot label files"):
        load_predictor(run)
    with pytest.raises(RunError, match="no evaluated run"):
        find_run(results)


def test_annotate_a_folder_with_a_mofi_run(neural_runs, tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    clips = neural_runs.manifest[neural_runs.manifest["split"] == "test"].iloc[:3]
    for row in clips.itertuples():
        (folder / f"{row.clip_id}.mid").write_bytes(Path(row.midi_path).read_bytes())
    (folder / "broken.mid").write_text("not a MIDI file")
    out = tmp_path / "labels.parquet"
    assert main(["annotate", str(folder), "--out", str(out), "--run", str(neural_runs.runs["mofi"])]) == 0
    table = pd.read_parquet(out).assign(clip_id=lambda t: [Path(p).stem for p in t["path"]])
    assert sorted(table["clip_id"]) == sorted(clips["clip_id"])
    stored = pd.read_parquet(neural_runs.runs["mofi"] / "predictions.parquet").set_index("clip_id")
    np.testing.assert_allclose(
        table.set_index("clip_id")[PROB_COLUMNS].to_numpy(),
        stored.loc[table["clip_id"], PROB_COLUMNS].to_numpy(),
        atol=PROBABILITY_TOLERANCE,
    )
    assert pd.read_csv(ledger_path_for(out))["item"].tolist() == ["broken.mid"]


def test_a_neural_run_without_recorded_audio_settings_uses_its_hash_checked_frame_cache(neural_runs):
    run = neural_runs.runs["zhao_yoshii"]
    training = read_json(run / "training.json")
    original = (run / "training.json").read_text()
    try:  # runs written before training.json recorded them
        write_json({k: v for k, v in training.items() if k != "audio_features"}, run / "training.json")
        assert load_predictor(run).settings_origin["audio_features"] == FROM_CACHE
    finally:
        (run / "training.json").write_text(original)
