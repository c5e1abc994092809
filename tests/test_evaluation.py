from __future__ import annotations

import numpy as np
import pytest

from merflow.evaluation.metrics import classification_metrics, plot_confusion, summarize


def test_perfect_predictions():
    y = np.array([1, 2, 3, 4, 1, 2])
    metrics = classification_metrics(y, y)
    assert metrics["accuracy"] == metrics["macro_f1"] == 1.0
    assert metrics["arousal_accuracy"] == metrics["valence_accuracy"] == 1.0
    assert np.trace(metrics["confusion"]) == 6


def test_known_answer_for_mixed_errors():
    y_true = np.array([1, 1, 2, 3, 4, 4])
    y_pred = np.array([1, 4, 1, 3, 4, 3])
    metrics = classification_metrics(y_true, y_pred)
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    # arousal: true HHHLLL, predicted H L H L L L -> 5/6
    assert metrics["arousal_accuracy"] == pytest.approx(5 / 6)
    # valence: true PPNNPP, predicted P P P N P N -> 4/6
    assert metrics["valence_accuracy"] == pytest.approx(4 / 6)
    assert metrics["confusion"][0] == [1, 0, 0, 1]  # Q1 row
    assert metrics["per_class"]["Q2"]["recall"] == 0.0
    assert metrics["per_class"]["Q1"]["support"] == 2


def test_empty_or_mismatched_input_rejected():
    with pytest.raises(ValueError):
        classification_metrics(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        classification_metrics(np.array([1, 2]), np.array([1]))


def test_summary_mean_std_and_ci():
    stats = summarize([0.6, 0.7, 0.8])
    assert stats["mean"] == pytest.approx(0.7)
    assert stats["std"] == pytest.approx(0.1)
    half_width = 4.302653 * 0.1 / 3**0.5  # t(0.975, df=2) * s / sqrt(n)
    assert stats["ci_low"] == pytest.approx(0.7 - half_width, abs=1e-6)
    assert stats["ci_high"] == pytest.approx(0.7 + half_width, abs=1e-6)
    single = summarize([0.5])
    assert single["std"] == 0.0 and np.isnan(single["ci_low"]) and np.isnan(single["ci_high"])


def test_confusion_plot_is_a_png(tmp_path):
    plot_confusion([[3, 1, 0, 0], [0, 2, 0, 0], [0, 0, 4, 1], [0, 0, 0, 5]], tmp_path / "c.png", "test")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mcnemar_known_answer():
    from merflow.evaluation.metrics import mcnemar_test

    y = np.array([1] * 20)
    a = np.array([1] * 15 + [2] * 5)  # 15 right
    b = np.array([2] * 10 + [1] * 10)  # 10 right; right where a is wrong on 5, wrong where a is right on 10
    result = mcnemar_test(y, a, b)
    assert (result["a_only"], result["b_only"]) == (10, 5)
    # exact two-sided binomial test, 10 of 15 discordant pairs: p = 0.3018
    assert result["p_value"] == pytest.approx(0.30175781, abs=1e-6)
    assert mcnemar_test(y, a, a)["p_value"] == 1.0
