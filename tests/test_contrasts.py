"""Contrasts between two models: A minus B over seeds with its interval, McNemar per seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from merflow.core.config import load_config
from merflow.evaluation.contrasts import CONTRAST_COLUMNS, contrasts, contrasts_markdown
from merflow.evaluation.tables import paired_comparisons

CLIPS = [f"c{i}" for i in range(20)]


def predictions(right: list[int]) -> pd.DataFrame:
    """Test predictions of 20 clips of Q1, right exactly on the clip indices ``right``."""
    return pd.DataFrame(
        {
            "clip_id": CLIPS,
            "split": "test",
            "quadrant": [1] * 20,
            "predicted": [1 if i in right else 2 for i in range(20)],
        }
    )


def runs() -> dict[tuple[str, str, int], pd.DataFrame]:
    """film right on 15, 16, 14 clips of seeds 0-2; none on 10, 10, 12 (its right clips a subset)."""
    return {
        ("film", "main", 0): predictions(list(range(15))),
        ("film", "main", 1): predictions(list(range(16))),
        ("film", "main", 2): predictions(list(range(14))),
        ("none", "main", 0): predictions(list(range(10))),
        ("none", "main", 1): predictions(list(range(10))),
        ("none", "main", 2): predictions(list(range(12))),
    }


def test_a_contrast_is_a_minus_b_per_seed_with_its_t_interval_and_mcnemar_per_seed():
    # paired_comparisons orders the pair alphabetically (film, none); ask for it the other way
    table = contrasts(paired_comparisons(runs()), [["none", "film"]])
    assert table.columns.tolist() == CONTRAST_COLUMNS
    row = table.iloc[0]
    assert (row["model_a"], row["model_b"], row["seeds"], row["n_clips"]) == ("none", "film", "0 1 2", 20)
    # differences -0.25, -0.30, -0.10: mean -0.2167, std 0.1041, t(0.975, 2) = 4.3027
    assert row["diff_mean"] == pytest.approx(-0.65 / 3)
    half_width = 4.302652729911275 * 0.10408329997330663 / 3**0.5
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        (-0.65 / 3 - half_width, -0.65 / 3 + half_width)
    )
    assert (row["a_only"], row["b_only"]) == (0, 5 + 6 + 2)
    # exact two-sided binomial on 5, 6 and 2 discordant clips all won by film
    assert row["p_values"] == "0.0625 0.0312 0.5"
    assert row["significant_seeds"] == 1
    assert (row["accuracy_a"], row["accuracy_b"]) == pytest.approx((32 / 60, 45 / 60))


def test_a_pair_that_did_not_run_is_left_out_of_the_table_and_named_in_the_markdown():
    pairs = [["film", "none"], ["film", "absent"]]
    table = contrasts(paired_comparisons(runs()), pairs)
    assert table["model_b"].tolist() == ["none"]
    text = contrasts_markdown(table, pairs, "emopia", "official")
    assert "| film | none | 0 1 2 | 20 | 0.750 | 0.533 | +0.217 |" in text
    assert "0.0625 0.0312 0.5 | 1 of 3 |" in text
    assert "Configured but not run here: film vs absent." in text


def test_one_seed_has_no_interval():
    one_seed = {key: value for key, value in runs().items() if key[2] == 0}
    table = contrasts(paired_comparisons(one_seed), [["film", "none"]])
    assert table.iloc[0]["diff_mean"] == pytest.approx(0.25)
    assert pd.isna(table.iloc[0]["diff_ci_low"])
    assert "| +0.250 | - |" in contrasts_markdown(table, [["film", "none"]], "d", "s")


def test_no_pair_ran_gives_a_markdown_that_says_so():
    table = contrasts(paired_comparisons({}), [["film", "none"]])
    assert table.empty and table.columns.tolist() == CONTRAST_COLUMNS
    assert "No configured pair ran" in contrasts_markdown(table, [["film", "none"]], "d", "s")


@pytest.mark.parametrize(
    ("pair", "reason"), [(["mofi", "nope"], "not in models"), (["mofi", "mofi"], "against itself")]
)
def test_a_contrast_must_name_two_configured_models(pair, reason):
    with pytest.raises(ValueError, match=reason):
        load_config(Path(__file__).parents[1] / "config" / "config.yaml", {"contrasts": [pair]})
