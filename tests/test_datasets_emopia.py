"""EMOPIA 1.0 manifest: counts, splits, label consistency and the tagging-list mapping.

Known answers were read off the files in ``../shared/data/emopia`` by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from merflow.core.errors import InputError
from merflow.datasets.emopia import (
    EXTRA_COLUMNS,
    RELEASE_DIR,
    build_emopia_manifest,
    parse_clip_id,
    parse_converted_lines,
    parse_tagging_lines,
)
from merflow.datasets.manifest import CLIP_COLUMNS, validate_manifest

pytestmark = pytest.mark.needs_shared_data


@pytest.fixture(scope="module")
def emopia_root(shared_data: Path) -> Path:
    root = shared_data / "emopia"
    if not (root / RELEASE_DIR).is_dir():
        pytest.skip(f"dataset mirror {root} is missing: EMOPIA tests need the real data")
    return root


@pytest.fixture(scope="module")
def manifest(emopia_root: Path) -> pd.DataFrame:
    return build_emopia_manifest(emopia_root)


@pytest.fixture(scope="module")
def by_clip(manifest: pd.DataFrame) -> pd.DataFrame:
    return manifest.set_index("clip_id")


def test_all_clips_with_manifest_columns(manifest: pd.DataFrame) -> None:
    assert len(manifest) == 1078
    assert manifest["song_id"].nunique() == 387
    assert list(manifest.columns) == [*CLIP_COLUMNS, *EXTRA_COLUMNS]
    assert EXTRA_COLUMNS == [
        "split_official",
        "split_midibert",
        "annotator",
        "has_timestamps",
        "timestamp_issue",
    ]
    validate_manifest(manifest, "test")  # NaN timestamps pass the end >= start check
    assert manifest["midi_path"].map(lambda p: Path(p).is_file()).all()
    assert manifest["quadrant"].value_counts().sort_index().tolist() == [250, 265, 253, 310]


def test_official_split(manifest: pd.DataFrame) -> None:
    assert manifest["split"].equals(manifest["split_official"])
    assert manifest["split"].value_counts().to_dict() == {"train": 767, "val": 198, "test": 86, "none": 27}
    songs = {
        part: set(manifest.loc[manifest["split"] == part, "song_id"]) for part in ("train", "val", "test")
    }
    assert not songs["train"] & songs["val"]
    assert not songs["train"] & songs["test"]
    assert not songs["val"] & songs["test"]
    assert "Q1_8izVTDgBQPc_0" in set(manifest.loc[manifest["split"] == "none", "clip_id"])


def test_midibert_split(emopia_root: Path, manifest: pd.DataFrame) -> None:
    midibert = build_emopia_manifest(emopia_root, split="midibert")
    assert midibert["split"].value_counts().to_dict() == {"train": 864, "val": 107, "test": 107}
    assert midibert["split"].equals(manifest["split_midibert"])
    train = set(midibert.loc[midibert["split"] == "train", "song_id"])
    test = set(midibert.loc[midibert["split"] == "test", "song_id"])
    assert len(train & test) == 84  # the song leak the data README reports
    # first lines of split_midibert/{train,valid,test}.txt
    row = midibert.set_index("clip_id")["split"]
    assert (row["Q1_1Qc15G0ZHIg_3"], row["Q1_94ROf10d1iA_0"], row["Q1_KxlqB3j0zys_1"]) == (
        "train",
        "val",
        "test",
    )


def test_unknown_split_name(emopia_root: Path) -> None:
    with pytest.raises(ValueError, match="bardo"):
        build_emopia_manifest(emopia_root, split="bardo")


def test_quadrant_prefix_agrees_with_label_csv(emopia_root: Path, by_clip: pd.DataFrame) -> None:
    labels = pd.read_csv(emopia_root / RELEASE_DIR / "label.csv").set_index("ID")
    assert (by_clip["quadrant"] == labels["4Q"].reindex(by_clip.index)).all()
    assert (by_clip.index.str[1].astype(int) == by_clip["quadrant"]).all()
    assert (by_clip["annotator"] == labels["annotator"].reindex(by_clip.index)).all()
    assert by_clip.loc["Q3_0vLPYiPN7qY_3", ["quadrant", "valence", "arousal"]].tolist() == [3, 0, 0]


def test_clip_id_with_underscores() -> None:
    assert parse_clip_id("Q1__BK2o77sTc0_1") == (1, "_BK2o77sTc0", 1)
    assert parse_clip_id("Q2_L3_TadjSQQ0_0") == (2, "L3_TadjSQQ0", 0)
    with pytest.raises(ValueError):
        parse_clip_id("Q5_abc_0")


# (clip, start_s, end_s): tag k+1 of tagging_lists/Q*_<song>.txt, or line k of converted/.
KNOWN_TIMESTAMPS = [
    ("Q1_0vLPYiPN7qY_0", 0.2, 20.0),  # tag 1_1
    ("Q1_0vLPYiPN7qY_2", 114.953333333, 153.006666667),  # tag 3_1
    ("Q3_0vLPYiPN7qY_3", 180.793333333, 228.006666667),  # tag 4_3: same song, other quadrant
    ("Q1__BK2o77sTc0_1", 60.413333333, 90.513333333),  # song ID starting with "_"
    ("Q2_0qYNvMCEwaw_0", 4.46, 39.0),  # rows of tags 1 and 2 interleaved
    ("Q2_9v2WSpn4FCw_6", 242.026666667, 328.576),  # tag 7_2
    ("Q3_Ie5koh4qvJc_29", 3247.104, 3299.072),  # tag 30_3, before the malformed tag 31
    ("Q1_94ROf10d1iA_1", 38.0, 70.0),  # converted, line 1: 0:00:38 0:01:10
    ("Q1_94ROf10d1iA_3", 135.0, 176.0),  # converted, line 3: 0:02:15 0:02:56
    ("Q4_YhXRyOl5pi0_0", 0.102, 34.032),  # raw list wins over converted (00:00:00 00:00:34)
]


@pytest.mark.parametrize(("clip", "start", "end"), KNOWN_TIMESTAMPS)
def test_known_timestamps(by_clip: pd.DataFrame, clip: str, start: float, end: float) -> None:
    row = by_clip.loc[clip]
    assert row["start_s"] == pytest.approx(start, abs=1e-6)
    assert row["end_s"] == pytest.approx(end, abs=1e-6)
    assert row["has_timestamps"]
    assert row["timestamp_issue"] == ""


UNTRUSTED = [
    ("Q1_1Qc15G0ZHIg_1", "no_tagging_list"),  # no file for the song
    ("Q2_bfopzItCYrE_1", "no_tagging_list"),  # empty file
    ("Q1_9v2WSpn4FCw_6", "tag_quadrant_mismatch"),  # tag 7 is Q2: Q2_9v2WSpn4FCw_6's
    ("Q1_2Z9SjI131jA_0", "after_malformed_tag"),  # tag 1 has three rows
    ("Q1_2Z9SjI131jA_15", "after_malformed_tag"),
    ("Q2_DYBBfpEx-JI_1", "after_malformed_tag"),  # tag 2 has four rows
    ("Q2_Ie5koh4qvJc_30", "after_malformed_tag"),  # tag 31 has three rows
]


@pytest.mark.parametrize(("clip", "issue"), UNTRUSTED)
def test_untrusted_timestamps(by_clip: pd.DataFrame, clip: str, issue: str) -> None:
    row = by_clip.loc[clip]
    assert math.isnan(row["start_s"]) and math.isnan(row["end_s"])
    assert not row["has_timestamps"]
    assert row["timestamp_issue"] == issue


def test_timestamp_summary(manifest: pd.DataFrame) -> None:
    assert manifest["timestamp_issue"].value_counts().to_dict() == {
        "": 857,
        "no_tagging_list": 180,
        "after_malformed_tag": 30,
        "tag_quadrant_mismatch": 11,
    }
    assert manifest["has_timestamps"].equals(manifest["timestamp_issue"] == "")
    timed = manifest[manifest["has_timestamps"]]
    assert (timed["end_s"] > timed["start_s"]).all() and (timed["start_s"] >= 0).all()
    assert manifest.loc[~manifest["has_timestamps"], ["start_s", "end_s"]].isna().all().all()


def test_urls(by_clip: pd.DataFrame) -> None:
    assert by_clip["url"].str.fullmatch(r"https://www\.youtube\.com/watch\?v=[\w-]{11}").all()
    assert (by_clip["url"].str[-11:] == by_clip["song_id"]).all()
    # 2eIsQtm4YNs is in no songs_lists file: its URL is built from the ID
    assert by_clip.loc["Q3_2eIsQtm4YNs_0", "url"] == "https://www.youtube.com/watch?v=2eIsQtm4YNs"


def test_parse_tagging_lines_rules() -> None:
    lines = [
        "0.5 0.7 1_1",
        "10.0 0.7 2_2",  # tags 1 and 2 interleaved: still well formed
        "20.0 0.7 1_1",
        "30.0 0.7 2_2",
        "40.0 0.7 3_4",
        "50.0 0.7 3_4",
        "60.0 0.7 4_1",  # tag 4 has one row: malformed, tags >= 4 untrusted
        "70.0 0.7 5_1",
        "80.0 0.7 5_1",
    ]
    tags = parse_tagging_lines(lines)
    assert tags.lookup(0, 1) == (0.5, 20.0, "")
    assert tags.lookup(1, 2) == (10.0, 30.0, "")
    assert tags.lookup(2, 4) == (40.0, 50.0, "")
    assert tags.lookup(2, 3)[2] == "tag_quadrant_mismatch"
    assert tags.lookup(3, 1)[2] == "after_malformed_tag"
    assert tags.lookup(4, 1)[2] == "after_malformed_tag"
    assert parse_tagging_lines(["0 0.7 1_1", "9 0.7 1_2"]).lookup(0, 1)[2] == "after_malformed_tag"
    assert parse_tagging_lines(["9 0.7 1_1", "1 0.7 1_1"]).lookup(0, 1)[2] == "after_malformed_tag"
    assert parse_tagging_lines(["garbage", "0 0.7 2_1", "5 0.7 2_1"]).lookup(1, 1)[2] == "after_malformed_tag"
    assert parse_tagging_lines(["0 0.7 1_1", "5 0.7 1_1"]).lookup(1, 1)[2] == "tag_missing"


def test_parse_converted_lines_rules() -> None:
    tags = parse_converted_lines(
        ["0:00:00 0:00:38", "00:01:02 00:01:33", "0:02:00 0:01:00", "0:03:00 0:03:30"]
    )
    assert tags.lookup(0, 4) == (0.0, 38.0, "")
    assert tags.lookup(1, 1) == (62.0, 93.0, "")  # no quadrant in this format: none checked
    assert tags.lookup(2, 1)[2] == "after_malformed_tag"  # ends before it starts
    assert tags.lookup(3, 1)[2] == "after_malformed_tag"
    assert tags.lookup(4, 1)[2] == "after_malformed_tag"


def _linked_release(emopia_root: Path, tmp_path: Path, label_rows: int | None = None) -> Path:
    """A tmp EMOPIA folder of symbolic links to the mirror, with label.csv cut to ``label_rows``."""
    source = emopia_root / RELEASE_DIR
    release = tmp_path / "emopia" / RELEASE_DIR
    release.mkdir(parents=True)
    for entry in ("midis", "songs_lists", "tagging_lists"):
        (release / entry).symlink_to(source / entry)
    lines = (source / "label.csv").read_text().splitlines()
    keep = lines if label_rows is None else lines[: label_rows + 1]
    (release / "label.csv").write_text("\n".join(keep) + "\n")
    for split in ("split_official", "split_midibert"):
        (tmp_path / "emopia" / split).symlink_to(emopia_root / split)
    return tmp_path / "emopia"


def test_wrong_label_count_raises(emopia_root: Path, tmp_path: Path) -> None:
    root = _linked_release(emopia_root, tmp_path, label_rows=1077)
    with pytest.raises(InputError, match=r"emopia .*count_mismatch: expected 1078 label rows, found 1077"):
        build_emopia_manifest(root)


def test_linked_copy_gives_same_manifest(emopia_root: Path, tmp_path: Path, manifest: pd.DataFrame) -> None:
    copy = build_emopia_manifest(_linked_release(emopia_root, tmp_path))
    columns = [c for c in manifest.columns if c != "midi_path"]
    pd.testing.assert_frame_equal(copy[columns], manifest[columns])


def test_missing_release_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"emopia .*missing_folder") as info:
        build_emopia_manifest(tmp_path)
    assert info.value.item == "emopia" and info.value.path == str(tmp_path / RELEASE_DIR)


def test_download_path_gets_release_and_official_split_from_archives(shared_data, tmp_path):
    """Without a mirror: the release and the official split lists come from archives (file:// here)."""
    import shutil

    from merflow.datasets.emopia import build_emopia_manifest, obtain_emopia

    release_zip = shutil.make_archive(
        str(tmp_path / "EMOPIA_1.0"), "zip", shared_data / "emopia", "EMOPIA_1.0"
    )
    staging = tmp_path / "staging" / "repo-abc" / "dataset"
    shutil.copytree(shared_data / "emopia" / "split_official", staging / "split")
    split_zip = shutil.make_archive(str(tmp_path / "split"), "zip", tmp_path / "staging", "repo-abc")
    sources = {
        "official": {"url": Path(split_zip).as_uri(), "checksum": "", "subdir": "repo-abc/dataset/split"},
        "midibert": {"url": "", "checksum": "", "subdir": ""},
    }
    folder, split_dirs = obtain_emopia(
        tmp_path / "out" / "emopia", None, Path(release_zip).as_uri(), "", sources
    )
    assert sorted(split_dirs) == ["official"]
    assert (tmp_path / "out" / "emopia.sha256").read_text().startswith("sha256:")
    manifest = build_emopia_manifest(folder, split="official", split_dirs=split_dirs)
    assert len(manifest) == 1078
    assert manifest["split"].value_counts().to_dict() == {"train": 767, "val": 198, "test": 86, "none": 27}
