"""Tests of merflow.inference.prediction and the ``merflow predict`` / ``merflow annotate`` commands.

A small demo dataset (12 songs, 3 short clips each) is composed, its features computed with
the library, and two runs are trained and evaluated by the pipeline's own scripts
(``workflow/scripts/train.py`` and ``evaluate.py``, run with a stand-in ``snakemake``
object) into a results folder of the pipeline's layout. Known answers: a file's predicted
probabilities equal those the training stored for the same clip, and its key equals the
Krumhansl-Kessler key of its notes.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from merflow.acquisition.clips import CLIP_SUBTYPE
from merflow.acquisition.rendering import BUILTIN, render_as_clip, render_clips
from merflow.cli import main
from merflow.core.errors import InputError
from merflow.core.io import read_json, read_parquet_metadata, write_json, write_parquet
from merflow.core.ledger import Ledger
from merflow.datasets.demo import generate_demo
from merflow.features.caches import audio_cache_metadata
from merflow.inference import prediction as inference
from merflow.inference.annotation import ANNOTATION_COLUMNS, ledger_path_for
from merflow.inference.prediction import (
    FROM_CACHE,
    FROM_DEFAULTS,
    FROM_TRAINING,
    RENDERED_CLIPS,
    Predictor,
    _renderer,
    load_predictor,
)
from merflow.inference.runs import RunError, find_run
from merflow.music.audio_features import AudioFeatureConfig, audio_statistics, frame_features, load_audio
from merflow.music.midi import read_notes
from merflow.music.symbolic_features import symbolic_statistics_table
from merflow.music.tonality import estimate_key
from merflow.training.classical import PROB_COLUMNS

DATASET = "tiny"
N_SONGS = 12
CLIPS_PER_SONG = 3
CLIP_S = 4.0
GAP_S = 1.0
C_GRID = [0.1, 1.0]
SYMBOLIC_MODEL, AUDIO_MODEL = "symbolic_lr_oracle", "audio_lr"
SETTINGS = {
    SYMBOLIC_MODEL: {"estimator": "logistic_regression", "features": "symbolic", "source": "oracle"},
    AUDIO_MODEL: {"estimator": "logistic_regression", "features": "audio", "source": "audio"},
}
PROBABILITY_TOLERANCE = 1e-6


class _NamedList(SimpleNamespace):
    """Stand-in for Snakemake's named input/output lists: attributes and ``items()``."""

    def items(self):
        return vars(self).items()


def _run_pipeline_script(script: Path, **fields: object) -> None:
    """Run a Snakemake script of workflow/scripts with a stand-in ``snakemake`` object
    (dict fields become named lists; others, such as ``threads``, are passed as they are)."""
    named = {k: _NamedList(**v) if isinstance(v, dict) else v for k, v in fields.items()}
    snakemake = SimpleNamespace(log=["unused.log"], **named)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("merflow.core.logs.setup_logging", lambda *args, **kwargs: None)  # keep pytest's stderr
        runpy.run_path(str(script), init_globals={"snakemake": snakemake}, run_name="__main__")


def _train_and_evaluate(repo_root: Path, results: Path, manifest: Path, features: Path, model: str) -> Path:
    run_dir = results / DATASET / "models" / model / "main" / "seed0"
    scripts = repo_root / "workflow" / "scripts"
    _run_pipeline_script(
        scripts / "train.py",
        input={"manifest": str(manifest), "features": str(features)},
        params={"settings": {**SETTINGS[model], "C_grid": C_GRID}, "code": "test"},
        wildcards={"dataset": DATASET, "model": model, "part": "main", "seed": "0"},
        output={
            "model": str(run_dir / "model.joblib"),
            "predictions": str(run_dir / "predictions.parquet"),
            "history": str(run_dir / "training.json"),
        },
    )
    return evaluate_run(repo_root, run_dir)


def evaluate_run(repo_root: Path, run_dir: Path) -> Path:
    """Evaluate a trained run with the pipeline's ``evaluate.py`` (metrics.json beside it)."""
    _run_pipeline_script(
        repo_root / "workflow" / "scripts" / "evaluate.py",
        input={"predictions": str(run_dir / "predictions.parquet")},
        output={"metrics": str(run_dir / "metrics.json"), "confusion": str(run_dir / "confusion.png")},
    )
    return run_dir


def demo_manifest(root: Path) -> pd.DataFrame:
    """The small demo dataset of these tests under ``root/demo`` (its manifest)."""
    return generate_demo(
        root / "demo", n_songs=N_SONGS, clips_per_song=CLIPS_PER_SONG, clip_s=CLIP_S, gap_s=GAP_S
    )


def pipeline_rendered_audio(manifest: pd.DataFrame, results: Path) -> dict[str, np.ndarray]:
    """Each clip's audio as the pipeline makes it (``render_clips`` with the builtin synthesizer,
    16-bit WAVs, the clip table with its ``renderer``; read back by ``load_audio``)."""
    sample_rate = AudioFeatureConfig().sample_rate
    audio_dir = results / DATASET / "audio"
    midis = dict(zip(manifest["clip_id"], manifest["midi_path"], strict=True))
    table = render_clips(midis, audio_dir / "rendered", sample_rate, BUILTIN, None, Ledger("render", DATASET))
    assert table["status"].eq("ok").all()
    metadata = {"audio_source": "render", "renderer": BUILTIN}
    write_parquet(manifest[["clip_id"]].merge(table, on="clip_id"), audio_dir / RENDERED_CLIPS, metadata)
    paths = dict(zip(table["clip_id"], table["audio_path"], strict=True))
    return {clip: load_audio(Path(paths[clip]), sample_rate, clip) for clip in manifest["clip_id"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> SimpleNamespace:
    """A demo dataset, its clip MIDI, and a symbolic and an audio run trained on it."""
    root = tmp_path_factory.mktemp("inference")
    manifest = demo_manifest(root)
    notes = {row.clip_id: read_notes(row.midi_path) for row in manifest.itertuples()}
    cfg = AudioFeatureConfig()
    results = root / "results"
    audio = pipeline_rendered_audio(manifest, results)
    audio_rows = [{"clip_id": clip, **audio_statistics(frame_features(audio[clip], cfg))} for clip in notes]
    features_dir = results / DATASET / "features"
    symbolic_path = features_dir / "symbolic" / "oracle" / "statistics.parquet"
    audio_path = features_dir / "audio" / "statistics.parquet"
    write_parquet(symbolic_statistics_table(notes), symbolic_path)
    write_parquet(pd.DataFrame(audio_rows), audio_path, audio_cache_metadata(cfg))
    manifest_path = root / "demo" / "manifest.parquet"
    runs = {
        model: _train_and_evaluate(repo_root, results, manifest_path, path, model)
        for model, path in ((SYMBOLIC_MODEL, symbolic_path), (AUDIO_MODEL, audio_path))
    }
    return SimpleNamespace(root=root, results=results, manifest=manifest, runs=runs)


def _stored_probabilities(run_dir: Path, clip_id: str) -> np.ndarray:
    predictions = pd.read_parquet(run_dir / "predictions.parquet").set_index("clip_id")
    return predictions.loc[clip_id, PROB_COLUMNS].to_numpy(dtype=np.float64)


def _test_clip(trained: SimpleNamespace) -> pd.Series:
    return trained.manifest[trained.manifest["split"] == "test"].iloc[0]


def _render_wav(midi_path: str, wav_path: Path) -> Path:
    """The clip rendered as the audio model saw it in training (the pipeline's 16-bit WAV)."""
    sample_rate = AudioFeatureConfig().sample_rate
    sf.write(wav_path, render_as_clip(midi_path, sample_rate, BUILTIN), sample_rate, subtype=CLIP_SUBTYPE)
    return wav_path


def test_predict_midi_prints_quadrant_and_probabilities(trained, capsys):
    clip = _test_clip(trained)
    run = trained.runs[SYMBOLIC_MODEL]
    assert main(["predict", clip.midi_path, "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"model {SYMBOLIC_MODEL} (logistic_regression on symbolic features")
    quadrant_line = next(line for line in out.splitlines() if line.strip().startswith("quadrant"))
    assert quadrant_line.split()[1] in {"Q1", "Q2", "Q3", "Q4"}
    prob_line = next(line for line in out.splitlines() if line.strip().startswith("probabilities"))
    printed = [float(v) for v in prob_line.split()[2::2]]
    assert len(printed) == 4
    assert sum(printed) == pytest.approx(1.0, abs=0.002)  # 4 values rounded to 3 decimals
    assert estimate_key(read_notes(clip.midi_path)).name in out


def test_predict_json_matches_training_and_key(trained, capsys):
    clip = _test_clip(trained)
    run = trained.runs[SYMBOLIC_MODEL]
    assert main(["predict", clip.midi_path, "--run", str(run), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    p = np.array([result["probabilities"][f"Q{q}"] for q in (1, 2, 3, 4)])
    np.testing.assert_allclose(p, _stored_probabilities(run, clip.clip_id), atol=PROBABILITY_TOLERANCE)
    assert p.sum() == pytest.approx(1.0)
    assert result["quadrant"] == int(np.argmax(p)) + 1
    assert result["valence_probability"] == pytest.approx(p[0] + p[3])
    assert result["arousal_probability"] == pytest.approx(p[0] + p[1])
    assert result["valence"] == int(p[0] + p[3] >= 0.5) and result["arousal"] == int(p[0] + p[1] >= 0.5)
    key = estimate_key(read_notes(clip.midi_path))
    assert (result["key"], result["mode"]) == (key.name, key.mode)
    assert result["input"] == "midi" and result["transcriber"] is None
    assert result["model"]["run_dir"] == str(run.resolve())
    assert (result["model"]["dataset"], result["model"]["seed"]) == (DATASET, 0)


def test_predict_wav_with_audio_and_symbolic_models(trained, tmp_path):
    clip = _test_clip(trained)
    wav = _render_wav(clip.midi_path, tmp_path / "clip.wav")
    audio = load_predictor(trained.runs[AUDIO_MODEL])
    assert audio.settings_origin["audio_features"] == FROM_TRAINING  # recorded by train.py
    assert (audio.renderer, audio.settings_origin["renderer"]) == (BUILTIN, FROM_CACHE)  # the clip table's
    prediction = audio.predict_file(wav)
    expected = _stored_probabilities(trained.runs[AUDIO_MODEL], clip.clip_id)
    np.testing.assert_allclose(list(prediction.probabilities.values()), expected, atol=PROBABILITY_TOLERANCE)
    assert prediction.input == "audio" and prediction.transcriber == "basic_pitch"
    assert prediction.n_notes > 0 and prediction.mode in {"major", "minor"}
    # MIDI into an audio model goes through the same renderer: the same features
    from_midi = audio.predict_file(clip.midi_path)
    np.testing.assert_allclose(list(from_midi.probabilities.values()), expected, atol=PROBABILITY_TOLERANCE)
    # audio into a symbolic model goes through the transcription
    symbolic = load_predictor(trained.runs[SYMBOLIC_MODEL]).predict_file(wav)
    assert symbolic.input == "audio" and sum(symbolic.probabilities.values()) == pytest.approx(1.0)


def test_bad_files_are_reported_and_good_ones_still_predicted(trained, tmp_path, capsys):
    good = _test_clip(trained).midi_path
    not_midi = tmp_path / "letter.mid"
    not_midi.write_text("this is not a MIDI file\n")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    status = main(["predict", str(not_midi), good, str(text), "--run", str(trained.runs[SYMBOLIC_MODEL])])
    captured = capsys.readouterr()
    assert status == 1
    assert good in captured.out and "quadrant" in captured.out
    errors = captured.err.strip().splitlines()
    assert any(str(not_midi) in line and "corrupt_midi" in line for line in errors)
    assert any(str(text) in line and "unsupported_format" in line and ".txt" in line for line in errors)


def test_predict_file_raises_input_error(trained, tmp_path):
    predictor = load_predictor(trained.runs[SYMBOLIC_MODEL])
    with pytest.raises(InputError) as error:
        predictor.predict_file(tmp_path / "missing.mid")
    assert error.value.reason == "missing_file"
    (tmp_path / "song.ogg").write_bytes(b"OggS")
    with pytest.raises(InputError, match=r"unsupported file type '\.ogg'"):
        predictor.predict_file(tmp_path / "song.ogg")


def test_annotate_writes_rows_and_ledger_then_resumes(trained, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "music"
    (folder / "sub").mkdir(parents=True)
    clips = trained.manifest.iloc[:2]
    for row in clips.itertuples():
        shutil.copy(row.midi_path, folder / f"{row.clip_id}.mid")
    _render_wav(trained.manifest.iloc[2].midi_path, folder / "sub" / "third.wav")
    (folder / "sub" / "broken.midi").write_text("not a MIDI file")
    (folder / "cover.jpg").write_bytes(b"\xff\xd8")  # ignored: not music
    out = tmp_path / "annotations.parquet"
    args = ["annotate", str(folder), "--out", str(out), "--run", str(trained.runs[SYMBOLIC_MODEL])]

    analysed: list[str] = []
    original = Predictor._analyse

    def counting(self: Predictor, path: Path):
        analysed.append(path.name)
        return original(self, path)

    monkeypatch.setattr(Predictor, "_analyse", counting)
    assert main([*args, "--batch-size", "2"]) == 0
    err = capsys.readouterr().err
    assert "4/4 files" in err and "ETA" in err  # progress line
    table = pd.read_parquet(out)
    assert list(table.columns) == ANNOTATION_COLUMNS
    assert sorted(Path(p).name for p in table["path"]) == sorted(
        [*(f"{c}.mid" for c in clips.clip_id), "third.wav"]
    )
    assert np.allclose(table[PROB_COLUMNS].sum(axis=1), 1.0)
    ledger = pd.read_csv(ledger_path_for(out))
    assert ledger_path_for(out).name == "annotations.ledger.csv"
    assert ledger[["item", "reason"]].values.tolist() == [["broken.midi", "corrupt_midi"]]
    assert len(analysed) == 4

    analysed.clear()
    assert main(args) == 0
    assert "3 already annotated" in capsys.readouterr().err
    assert analysed == ["broken.midi"]  # only the unreadable file is tried again
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)
    assert len(pd.read_csv(ledger_path_for(out))) == 1

    changed = folder / f"{clips.clip_id.iloc[0]}.mid"
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    analysed.clear()
    assert main(args) == 0
    assert sorted(analysed) == sorted(["broken.midi", changed.name])
    again = pd.read_parquet(out)
    assert len(again) == 3
    assert again.set_index("path").loc[str(changed.resolve()), "mtime_ns"] == changed.stat().st_mtime_ns


def test_annotate_with_workers_and_shards_gives_the_single_process_table(trained, tmp_path):
    """Two worker processes, or three shards gathered, annotate each file once, as one process does."""
    from merflow.inference.annotation import annotate, gather, shard_of

    folder = tmp_path / "music"
    folder.mkdir()
    for row in trained.manifest.iloc[:9].itertuples():
        shutil.copy(row.midi_path, folder / f"{row.clip_id}.mid")
    (folder / "broken.mid").write_text("not a MIDI file")
    predictor = load_predictor(trained.runs[SYMBOLIC_MODEL])
    single = annotate(folder, tmp_path / "one.parquet", predictor, batch_size=2)
    assert (single.n_annotated, single.n_failed) == (9, 1)
    reference = pd.read_parquet(tmp_path / "one.parquet")

    parallel = annotate(folder, tmp_path / "two.parquet", predictor, batch_size=2, workers=2)
    assert (parallel.n_annotated, parallel.n_failed) == (9, 1)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "two.parquet"), reference)

    shards = [tmp_path / f"shard_{k}.parquet" for k in range(3)]
    counts = [annotate(folder, out, predictor, shard=(k, 3)).n_files for k, out in enumerate(shards)]
    assert sum(counts) == 10 and max(counts) < 10  # every file in exactly one shard
    assert all(shard_of(f"{name}.mid", 3) in range(3) for name in trained.manifest.clip_id)
    gathered = gather(shards, tmp_path / "gathered.parquet")
    pd.testing.assert_frame_equal(gathered, reference.sort_values("path").reset_index(drop=True))
    ledger = pd.read_csv(ledger_path_for(tmp_path / "gathered.parquet"))
    assert ledger["item"].tolist() == ["broken.mid"]


def test_annotate_rejects_a_shard_that_does_not_exist(trained, tmp_path, capsys):
    folder = tmp_path / "music"
    folder.mkdir()
    with pytest.raises(SystemExit):
        main(["annotate", str(folder), "--out", str(tmp_path / "x.parquet"), "--shard", "3/3"])
    assert "shard 3 of 3 does not exist" in capsys.readouterr().err


def test_annotate_refuses_output_of_another_run(trained, tmp_path, capsys):
    folder = tmp_path / "music"
    folder.mkdir()
    shutil.copy(_test_clip(trained).midi_path, folder / "a.mid")
    out = tmp_path / "a.parquet"
    assert main(["annotate", str(folder), "--out", str(out), "--run", str(trained.runs[SYMBOLIC_MODEL])]) == 0
    assert main(["annotate", str(folder), "--out", str(out), "--run", str(trained.runs[AUDIO_MODEL])]) == 2
    assert "use another output file" in capsys.readouterr().err


def _copy_run(
    run_dir: Path, results: Path, model: str, seed: int, accuracy: float, dataset: str = DATASET
) -> Path:
    copy = results / dataset / "models" / model / "main" / f"seed{seed}"
    shutil.copytree(run_dir, copy)
    metrics = read_json(copy / "metrics.json")
    metrics["test"]["accuracy"] = accuracy
    identity = {"model": model, "seed": seed, "dataset": dataset}
    write_json({**metrics, **identity}, copy / "metrics.json")
    write_json({**read_json(copy / "training.json"), **identity}, copy / "training.json")
    return copy


def test_demo_runs_are_picked_last_and_always_with_a_warning(trained, tmp_path, capsys):
    results = tmp_path / "results"
    source = trained.runs[SYMBOLIC_MODEL]
    midi = _test_clip(trained).midi_path
    demo_run = _copy_run(source, results, "a_model", 0, 0.95, dataset="demo")
    # Only demo runs: the best one, with the warning and the command that trains a real model.
    assert find_run(results) == demo_run
    assert main(["predict", midi, "--results", str(results)]) == 0
    err = capsys.readouterr().err
    assert "synthetic 'demo' songs" in err and "not emotion" in err
    assert "snakemake --cores 2 --configfile config/symbolic.yaml" in err
    folder = tmp_path / "music"
    folder.mkdir()
    shutil.copy(midi, folder / "a.mid")
    out = str(tmp_path / "a.parquet")
    assert main(["annotate", str(folder), "--out", out, "--results", str(results)]) == 0
    assert "synthetic 'demo' songs" in capsys.readouterr().err
    # An EMOPIA run, even with a lower test accuracy than the demo's: it is chosen, silently.
    real_run = _copy_run(source, results, "a_model", 1, 0.40, dataset="emopia")
    assert find_run(results) == real_run
    assert find_run(results, dataset="demo") == demo_run
    assert main(["predict", midi, "--results", str(results)]) == 0
    captured = capsys.readouterr()
    assert "synthetic" not in captured.err and "emopia main seed 1" in captured.out
    # Named explicitly, a demo run still gets the warning.
    assert main(["predict", midi, "--run", str(demo_run)]) == 0
    assert "synthetic 'demo' songs" in capsys.readouterr().err


def test_find_run_best_accuracy_ties_by_name(trained, tmp_path, capsys):
    results = tmp_path / "results"
    source = trained.runs[SYMBOLIC_MODEL]
    _copy_run(source, results, "b_model", 0, 0.5)
    best_b1 = _copy_run(source, results, "b_model", 1, 0.75)
    best_a = _copy_run(source, results, "a_model", 2, 0.75)
    _copy_run(source, results, "a_model", 1, 0.25)
    assert find_run(results) == best_a  # 0.75 twice: tiny/models/a_model/... sorts first
    assert find_run(results, model="b_model") == best_b1
    assert find_run(results, dataset=DATASET, model="a_model") == best_a
    with pytest.raises(RunError, match=r"matches model=c_model; found: tiny/a_model, tiny/b_model"):
        find_run(results, model="c_model")
    assert main(["predict", str(tmp_path / "x.mid"), "--results", str(results), "--model", "c_model"]) == 2
    assert "found: tiny/a_model" in capsys.readouterr().err


def test_load_predictor_rejects_inconsistent_runs(trained, tmp_path):
    with pytest.raises(RunError, match="run folder does not exist"):
        load_predictor(tmp_path / "nowhere")
    run = shutil.copytree(trained.runs[AUDIO_MODEL], tmp_path / "run")
    training = read_json(run / "training.json")
    write_json({**training, "audio_features": {"n_mfcc": 13}}, run / "training.json")
    with pytest.raises(RunError, match="are not audio features computed with"):
        load_predictor(run)
    short = {
        **training,
        "history": {**training["history"], "feature_names": training["history"]["feature_names"][1:]},
    }
    write_json(short, run / "training.json")
    with pytest.raises(RunError, match=r"takes 324 features but training\.json lists 323"):
        load_predictor(run)
    write_json(training, run / "training.json")
    write_json({**read_json(run / "metrics.json"), "seed": 7}, run / "metrics.json")
    with pytest.raises(RunError, match=r"disagree on \['seed'\]"):
        load_predictor(run)
    (run / "model.joblib").unlink()
    with pytest.raises(RunError, match=r"no model\.joblib"):
        load_predictor(run)


def test_audio_settings_come_from_training_json_else_the_hash_checked_cache(trained):
    run = trained.runs[AUDIO_MODEL]
    training = read_json(run / "training.json")
    cache_settings = read_parquet_metadata(
        trained.results / DATASET / "features" / "audio" / "statistics.parquet"
    )
    assert training["audio_features"] == {k: cache_settings[k] for k in training["audio_features"]}
    assert "audio_features" not in read_json(trained.runs[SYMBOLIC_MODEL] / "training.json")
    original = (run / "training.json").read_text()
    try:  # a run written before training.json recorded them: the run's own cache, hash-checked
        write_json({k: v for k, v in training.items() if k != "audio_features"}, run / "training.json")
        assert load_predictor(run).settings_origin["audio_features"] == FROM_CACHE
    finally:
        (run / "training.json").write_text(original)


def test_midi_input_is_rendered_by_the_renderer_of_the_runs_clips(tmp_path, monkeypatch, caplog):
    run_dir = tmp_path / "results" / DATASET / "models" / AUDIO_MODEL / "main" / "seed0"
    clips = tmp_path / "results" / DATASET / "audio" / RENDERED_CLIPS
    assert _renderer(run_dir) == (BUILTIN, FROM_DEFAULTS)  # no rendered clips: builtin
    table = pd.DataFrame({"clip_id": ["a"], "audio_path": ["a.wav"]})
    write_parquet(table, clips, {"audio_source": "render", "renderer": "fluidsynth"})
    monkeypatch.setattr(inference, "backend_problem", lambda backend, soundfont: None)
    assert _renderer(run_dir) == ("fluidsynth", FROM_CACHE)
    problem = ("missing_program", "fluidsynth is not on PATH")
    monkeypatch.setattr(inference, "backend_problem", lambda backend, soundfont: problem)
    with caplog.at_level("WARNING", logger="merflow.inference.prediction"):
        assert _renderer(run_dir) == (BUILTIN, FROM_DEFAULTS)  # unusable here: builtin, said so
    assert "fluidsynth is not on PATH" in caplog.text
    write_parquet(table, clips, {"audio_source": "render", "renderer": "mystery"})
    assert _renderer(run_dir) == (BUILTIN, FROM_DEFAULTS)
