"""transkun backend: its own environment, the worker protocol, known notes back, bad input to the ledger."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile

from merflow.acquisition import rendering
from merflow.acquisition.rendering import DEFAULT_SOUNDFONT, render_midi
from merflow.core.ledger import Ledger
from merflow.music.midi import Notes, write_notes
from merflow.transcription import FAILED, TRANSCRIBED, evenly_spaced, get_transcriber, transcribe_clips
from merflow.transcription.transkun import TranskunError, TranskunTranscriber

REPO = Path(__file__).resolve().parents[1]
TRANSKUN_PYTHON = REPO / ".venv-transkun" / "bin" / "python"
SAMPLE_RATE = 22050
C_MAJOR_SCALE = np.array([60, 62, 64, 65, 67, 69, 71, 72])
NOTE_SECONDS = 0.4

needs_fluidsynth = pytest.mark.skipif(
    shutil.which(rendering.FLUIDSYNTH_BINARY) is None or not DEFAULT_SOUNDFONT.is_file(),
    reason="needs fluidsynth and the FluidR3 GM SoundFont (`make system`)",
)


@pytest.fixture(scope="module")
def transkun_python() -> Path:
    """transkun's environment, built by `make transkun-env` if missing (about 7 GB, 1.5 min)."""
    if not TRANSKUN_PYTHON.is_file():
        built = subprocess.run(["make", "-C", str(REPO), "transkun-env"], capture_output=True, text=True)
        if built.returncode != 0 or not TRANSKUN_PYTHON.is_file():
            pytest.skip(f"`make transkun-env` could not build {TRANSKUN_PYTHON}: {built.stderr[-1500:]}")
    return TRANSKUN_PYTHON


@pytest.fixture(scope="module")
def transkun(transkun_python):
    transcriber = get_transcriber("transkun", python=str(transkun_python), device="cpu", threads=2)
    yield transcriber
    transcriber.close()


def scale_notes() -> Notes:
    onsets = np.arange(len(C_MAJOR_SCALE)) * NOTE_SECONDS
    return Notes.from_arrays(onsets, onsets + NOTE_SECONDS, C_MAJOR_SCALE, [80] * len(C_MAJOR_SCALE))


@pytest.fixture(scope="module")
def scale_wav(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scale")
    write_notes(scale_notes(), folder / "scale.mid")
    audio = render_midi(folder / "scale.mid", SAMPLE_RATE, "fluidsynth")
    soundfile.write(folder / "scale.wav", audio, SAMPLE_RATE)
    return folder / "scale.wav"


@needs_fluidsynth
def test_transkun_transcribes_a_rendered_c_major_scale(transkun, scale_wav):
    notes = transkun.transcribe(scale_wav, "scale")
    reference = scale_notes()
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        np.stack([reference.onset, reference.offset], axis=1),
        mir_eval.util.midi_to_hz(reference.pitch),
        np.stack([notes.onset, notes.offset], axis=1),
        mir_eval.util.midi_to_hz(notes.pitch),
        offset_ratio=None,
    )
    assert f1 >= 0.9, (precision, recall, notes.pitch.tolist(), notes.onset.round(2).tolist())
    assert set(notes.pitch.tolist()) == set(C_MAJOR_SCALE.tolist())
    assert np.all(np.diff(notes.onset) >= 0) and np.all(notes.offset > notes.onset)
    assert ((notes.velocity >= 1) & (notes.velocity <= 127)).all()
    assert transkun.sample_rate == 44100 and transkun.version == "2.0.1"


@needs_fluidsynth
def test_transkun_batch_records_bad_clips_and_goes_on(transkun, scale_wav, tmp_path):
    silent, text = tmp_path / "silent.wav", tmp_path / "text.wav"
    soundfile.write(silent, np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    text.write_text("not audio\n")
    ledger = Ledger("transcribe_transkun", "test")
    table = transcribe_clips(
        {"silent": silent, "scale": scale_wav, "text": text, "missing": tmp_path / "nope.wav"},
        transkun,
        tmp_path / "midi",
        ledger,
    )
    assert table.set_index("clip_id")["status"].to_dict() == {
        "silent": FAILED,
        "scale": TRANSCRIBED,
        "text": FAILED,
        "missing": FAILED,
    }
    frame = ledger.frame()
    reasons = dict(zip(frame["item"], frame["reason"], strict=True))
    assert reasons == {"silent": "silent_audio", "text": "corrupt_audio", "missing": "missing_file"}
    assert (tmp_path / "midi" / "scale.mid").is_file()


def test_worker_error_on_one_clip_is_an_input_error_and_the_worker_survives(transkun, tmp_path):
    transkun._start()
    process = transkun._process
    process.stdin.write('{"audio": "%s"}\n' % (tmp_path / "absent.npy"))
    process.stdin.flush()
    reply = transkun._read_reply(process.stdout)
    assert "error" in reply and "absent.npy" in reply["error"]
    assert process.poll() is None  # still serving


def test_missing_environment_is_a_loud_error(tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, 0.1 * np.ones(SAMPLE_RATE), SAMPLE_RATE)
    transcriber = TranskunTranscriber(python=str(tmp_path / "no-env" / "python"))
    with pytest.raises(TranskunError, match="make transkun-env"):
        transcriber.transcribe(wav, "a")


def test_dead_worker_is_a_loud_error(tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, 0.1 * np.ones(SAMPLE_RATE), SAMPLE_RATE)
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexit 3\n")
    fake_python.chmod(0o755)
    with pytest.raises(TranskunError, match="exited \\(code 3\\)"):
        TranskunTranscriber(python=str(fake_python)).transcribe(wav, "a")


def test_evenly_spaced_subset_spreads_over_the_table():
    import pandas as pd

    clips = pd.DataFrame({"clip_id": [f"Q{q}_{i}" for q in (1, 2, 3, 4) for i in range(10)]})
    subset = evenly_spaced(clips, 8)
    assert len(subset) == 8 and subset["clip_id"].str[:2].value_counts().to_dict() == {
        "Q1": 2,
        "Q2": 2,
        "Q3": 2,
        "Q4": 2,
    }
    assert evenly_spaced(clips, 0).equals(clips) and evenly_spaced(clips, 100).equals(clips)


def test_transkun_runs_in_the_dag(transkun_python, tmp_path, repo_root):
    """The transcribe rule with transkun (a subset of the demo clips) feeds the AMT table."""
    import pandas as pd
    from pipeline_runner import prepare_workdir, run_snakemake

    config = {
        "datasets": ["demo"],
        "seeds": [0],
        "demo": {"n_songs": 12, "clips_per_song": 1, "clip_s": 5.0, "gap_s": 1.0, "seed": 3},
        "download": {"shards": 1, "retries": 1, "backoff_s": 0.1},
        "transcription": {"backends": ["transkun"], "shards": 1, "transkun": {"max_clips": 2}},
        "models": {"lr": {"estimator": "logistic_regression", "features": "symbolic", "source": "oracle"}},
    }
    prepare_workdir(tmp_path, repo_root, config)
    result = run_snakemake(tmp_path, repo_root, "results/tables/demo_amt.csv")
    assert result.returncode == 0, result.stderr[-5000:]
    table = pd.read_csv(tmp_path / "results/tables/demo_amt.csv")
    assert table["backend"].tolist() == ["transkun"] and table["n_clips"].tolist() == [2]
    assert table["onset_f1"].between(0, 1).all() and (table["realtime_factor_median"] > 0).all()
    log = (tmp_path / "logs/demo/transcribe_transkun_0.log").read_text()
    assert "--threads 2" in log and "ready on" in log  # the job's cores go to the worker
