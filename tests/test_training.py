from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from merflow.core.labels import arousal_of, valence_of
from merflow.training.classical import PROB_COLUMNS, build_estimator, train_classical


def synthetic(n_per_class: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features whose first two columns encode valence and arousal, plus noise columns."""
    rng = np.random.default_rng(seed)
    quadrant = np.repeat([1, 2, 3, 4], n_per_class)
    clip_id = [f"c{i:03d}" for i in range(len(quadrant))]
    split = rng.choice(["train", "train", "train", "val", "test"], size=len(quadrant))
    features = pd.DataFrame(
        {
            "clip_id": clip_id,
            "valence_cue": valence_of(quadrant) + rng.normal(0, 0.2, len(quadrant)),
            "arousal_cue": arousal_of(quadrant) + rng.normal(0, 0.2, len(quadrant)),
            "noise": rng.normal(size=len(quadrant)),
        }
    )
    manifest = pd.DataFrame({"clip_id": clip_id, "quadrant": quadrant, "split": split})
    return features, manifest


@pytest.mark.parametrize("estimator", ["logistic_regression", "svm"])
def test_learns_separable_quadrants(estimator):
    features, manifest = synthetic()
    settings = {"estimator": estimator, "C_grid": [0.1, 1.0, 10.0]}
    result = train_classical(features, manifest, settings, "main", seed=0)
    test = result.predictions[result.predictions["split"] == "test"]
    assert (test["predicted"] == test["quadrant"]).mean() > 0.9
    assert np.allclose(result.predictions[PROB_COLUMNS].sum(axis=1), 1.0)
    assert result.history["best_C"] in settings["C_grid"]
    assert set(result.history["val_accuracy_by_C"]) == {"0.1", "1.0", "10.0"}


def test_clips_without_features_are_counted_not_invented():
    features, manifest = synthetic()
    result = train_classical(features.iloc[5:], manifest, {"estimator": "svm", "C_grid": [1.0]}, "main", 0)
    in_split = manifest["split"].isin(["train", "val", "test"]).sum()
    assert result.history["n_clips_without_features"] == in_split - len(result.predictions)
    assert not set(features["clip_id"].iloc[:5]) & set(result.predictions["clip_id"])


def test_training_split_with_one_class_is_an_error():
    features, manifest = synthetic()
    manifest.loc[manifest["quadrant"] != 1, "split"] = "test"
    with pytest.raises(ValueError, match="at least two quadrants"):
        train_classical(features, manifest, {"estimator": "svm", "C_grid": [1.0]}, "main", 0)


def test_unknown_estimator():
    with pytest.raises(ValueError, match="unknown estimator"):
        build_estimator("random_forest", 1.0, 0)
