from __future__ import annotations

import pandas as pd
import pytest

from merflow.core.ledger import Ledger
from merflow.music.midi import Notes, write_notes
from merflow.transcription.evaluation import (
    evaluate_backend,
    note_scores,
    plot_f1,
    plot_f1_vs_accuracy,
    summarize_backends,
)

SCALE = Notes.from_arrays([0.0, 0.5, 1.0, 1.5], [0.5, 1.0, 1.5, 2.0], [60, 62, 64, 65], [80] * 4)


def test_perfect_transcription_scores_one():
    scores = note_scores(SCALE, SCALE)
    assert scores["onset_f1"] == scores["onset_offset_f1"] == 1.0


def test_known_answers_for_missed_wrong_and_late_notes():
    # one note missed, one at a wrong pitch, one 30 ms late (inside the 50 ms tolerance)
    estimate = Notes.from_arrays([0.0, 0.53, 1.0], [0.5, 1.0, 1.5], [60, 62, 63], [80] * 3)
    scores = note_scores(SCALE, estimate)
    assert scores["onset_precision"] == pytest.approx(2 / 3)
    assert scores["onset_recall"] == pytest.approx(2 / 4)
    assert scores["onset_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_backend_table_summary_and_plots(tmp_path):
    write_notes(SCALE, tmp_path / "ref.mid")
    write_notes(Notes.from_arrays([0.0], [0.5], [60], [80]), tmp_path / "est.mid")
    (tmp_path / "bad.mid").write_bytes(b"junk")
    oracle = pd.DataFrame(
        {
            "clip_id": ["a", "b"],
            "midi_path": [str(tmp_path / "ref.mid"), str(tmp_path / "bad.mid")],
            "status": "oracle",
        }
    )
    backend = pd.DataFrame(
        {
            "clip_id": ["a", "b"],
            "midi_path": [str(tmp_path / "est.mid"), str(tmp_path / "est.mid")],
            "status": "transcribed",
            "realtime_factor": [0.02, 0.04],
        }
    )
    ledger = Ledger("amt_evaluation", "test")
    per_clip = evaluate_backend(oracle, backend, "basic_pitch", ledger)
    assert per_clip["clip_id"].tolist() == ["a"]
    assert per_clip.loc[0, "onset_recall"] == pytest.approx(0.25)
    assert [r["reason"] for r in ledger.rows] == ["corrupt_midi"]
    summary = summarize_backends(per_clip, {"basic_pitch": backend})
    assert summary.loc[0, "realtime_factor_median"] == pytest.approx(0.03)
    plot_f1(per_clip, tmp_path / "f1.png", "t")
    results = pd.DataFrame(
        {
            "level": ["clip"] * 2,
            "source": ["oracle", "basic_pitch"],
            "model": ["o", "b"],
            "accuracy_mean": [0.9, 0.7],
            "accuracy_std": [0.0, 0.1],
        }
    )
    plot_f1_vs_accuracy(summary, results, tmp_path / "acc.png", "t")
    assert (tmp_path / "f1.png").stat().st_size > 0 and (tmp_path / "acc.png").stat().st_size > 0
