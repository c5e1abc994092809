"""VGMIDI manifest: counts, pieces, and the seeded piece-disjoint stratified folds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from merflow.datasets.manifest import CLIP_COLUMNS, validate_manifest
from merflow.datasets.vgmidi import EXTRA_COLUMNS, LABEL_FILE, build_vgmidi_manifest
from merflow.music.midi import read_notes

pytestmark = pytest.mark.needs_shared_data

N_FOLDS = 5


@pytest.fixture(scope="module")
def vgmidi_root(shared_data: Path) -> Path:
    root = shared_data / "vgmidi"
    if not (root / LABEL_FILE).is_file():
        pytest.skip(f"dataset mirror {root} is missing: VGMIDI tests need the real data")
    return root


@pytest.fixture(scope="module")
def manifest(vgmidi_root: Path) -> pd.DataFrame:
    return build_vgmidi_manifest(vgmidi_root, n_folds=N_FOLDS, seed=0, fold=0)


def test_rows_labels_and_columns(manifest: pd.DataFrame) -> None:
    assert len(manifest) == 204
    assert list(manifest.columns) == [*CLIP_COLUMNS, *EXTRA_COLUMNS]
    validate_manifest(manifest, "test")
    assert manifest["quadrant"].value_counts().to_dict() == {1: 76, 2: 39, 3: 27, 4: 62}
    assert manifest["clip_id"].is_unique
    assert (manifest["url"] == "").all() and (manifest["start_s"] == 0).all()
    assert manifest["midi_path"].map(lambda p: Path(p).is_file()).all()


def test_labels_follow_csv(vgmidi_root: Path, manifest: pd.DataFrame) -> None:
    table = pd.read_csv(vgmidi_root / LABEL_FILE)
    table["name"] = table["midi"].map(lambda m: Path(m).name)
    merged = manifest.assign(name=manifest["midi_path"].map(lambda p: Path(p).name)).merge(table, on="name")
    assert len(merged) == 204
    assert (merged["valence_x"] == (merged["valence_y"] > 0)).all()
    assert (merged["arousal_x"] == (merged["arousal_y"] > 0)).all()
    assert (merged["song_id"] == "vgmidi_" + merged["id"].astype(str)).all()


def test_pieces_from_file_names(manifest: pd.DataFrame) -> None:
    assert manifest["song_id"].nunique() == 200
    assert manifest.groupby("song_id")["piece"].nunique().max() == 1
    assert manifest.groupby("piece")["song_id"].nunique().max() == 1
    per_piece = manifest.groupby("piece")["phrase"].apply(sorted)
    assert per_piece["Other_PC_Aion Tower of Eternity_Fairy of the Peace"] == [0, 1, 2]
    assert per_piece["Other_N64_GoldenEye 007_Caverns"] == [0, 1]
    assert per_piece["Battle of Olympus_NES_Battle of Olympus_Olympus No Tatakai"] == [0, 1]
    assert "Star Fox_SNES_Star Fox_Stage_Clear" in per_piece.index  # the CSV's piece says "Stage"
    row = manifest.set_index("clip_id").loc["vgmidi_8144_2"]
    assert (row["song_id"], row["phrase"], row["quadrant"]) == ("vgmidi_8144", 2, 4)  # valence +1, arousal -1


def test_end_is_midi_length(manifest: pd.DataFrame) -> None:
    row = manifest.iloc[0]
    assert row["end_s"] == pytest.approx(read_notes(row["midi_path"]).end_time)
    assert (manifest["end_s"] > 10).all()


def test_folds_piece_disjoint_and_stratified(manifest: pd.DataFrame) -> None:
    assert sorted(manifest["fold"].unique()) == list(range(N_FOLDS))
    assert manifest.groupby("song_id")["fold"].nunique().max() == 1
    counts = pd.crosstab(manifest["fold"], manifest["quadrant"])
    assert (counts > 0).all().all()  # every fold has every quadrant
    assert counts.sum(axis=1).between(40, 42).all()
    # each quadrant's share per fold is within one or two phrases of even
    assert ((counts - counts.mean()).abs() <= 2).all().all()


@pytest.mark.parametrize("fold", range(N_FOLDS))
def test_split_of_fold(vgmidi_root: Path, manifest: pd.DataFrame, fold: int) -> None:
    split = build_vgmidi_manifest(vgmidi_root, n_folds=N_FOLDS, seed=0, fold=fold)
    assert split["fold"].equals(manifest["fold"])
    val_fold = (fold + 1) % N_FOLDS
    assert (split["split"] == "test").equals(split["fold"] == fold)
    assert (split["split"] == "val").equals(split["fold"] == val_fold)
    assert (split["split"] == "train").equals(~split["fold"].isin([fold, val_fold]))


def test_deterministic_with_seed(vgmidi_root: Path, manifest: pd.DataFrame) -> None:
    again = build_vgmidi_manifest(vgmidi_root, n_folds=N_FOLDS, seed=0, fold=0)
    pd.testing.assert_frame_equal(again, manifest)
    other = build_vgmidi_manifest(vgmidi_root, n_folds=N_FOLDS, seed=1, fold=0)
    assert not other["fold"].equals(manifest["fold"])
    assert other.groupby("song_id")["fold"].nunique().max() == 1


def test_single_split(vgmidi_root: Path) -> None:
    single = build_vgmidi_manifest(vgmidi_root, seed=0, fold=None)
    assert single.groupby("song_id")["split"].nunique().max() == 1
    sizes = single["split"].value_counts()
    assert set(sizes.index) == {"train", "val", "test"}
    assert sizes.sum() == 204 and 25 <= sizes["val"] <= 37 and 25 <= sizes["test"] <= 37
    assert (pd.crosstab(single["split"], single["quadrant"]) > 0).all().all()
    assert build_vgmidi_manifest(vgmidi_root, seed=0, fold=None)["split"].equals(single["split"])


def test_bad_arguments(vgmidi_root: Path) -> None:
    with pytest.raises(ValueError, match="fold"):
        build_vgmidi_manifest(vgmidi_root, n_folds=5, fold=5)
    with pytest.raises(ValueError, match="n_folds"):
        build_vgmidi_manifest(vgmidi_root, n_folds=2)
