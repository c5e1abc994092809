"""Tests for the seeded demo dataset generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from merflow.core.io import read_parquet_metadata
from merflow.core.labels import QUADRANTS
from merflow.datasets.demo import (
    SONG_TAIL_S,
    clip_notes,
    compose_song,
    generate_demo,
    plan_song,
    song_seconds,
    split_counts,
)
from merflow.datasets.manifest import CLIP_COLUMNS, read_manifest
from merflow.music.midi import Notes, read_notes

SMALL = {"n_songs": 12, "clips_per_song": 2, "clip_s": 3.0, "gap_s": 1.0, "sample_rate": 8000}
TICK_TOLERANCE_S = 5e-3  # MIDI tick rounding at the slowest tempo is about 2 ms


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate_demo(out, seed=0, **SMALL)


def _clip_midis(manifest: pd.DataFrame) -> list[Notes]:
    return [read_notes(p) for p in manifest["midi_path"]]


def test_manifest_validates_and_matches_file(demo):
    out, manifest = demo
    assert list(manifest.columns) == CLIP_COLUMNS
    assert len(manifest) == SMALL["n_songs"] * SMALL["clips_per_song"]
    pd.testing.assert_frame_equal(read_manifest(out / "manifest.parquet"), manifest)
    assert manifest["clip_id"].iloc[0] == "demo_s000_c0"
    assert manifest["song_id"].iloc[0] == "demo_s000"
    assert all(Path(p).is_file() and Path(p).is_absolute() for p in manifest["midi_path"])
    assert all(u.startswith("file:///") and u.endswith(".wav") for u in manifest["url"])
    first = manifest.iloc[[0, 1]]
    assert first["start_s"].tolist() == [1.0, 5.0]
    assert first["end_s"].tolist() == [4.0, 8.0]


def test_quadrants_are_balanced_over_songs(demo):
    _, manifest = demo
    songs = manifest.drop_duplicates("song_id")
    assert songs["quadrant"].value_counts().to_dict() == {q: SMALL["n_songs"] // 4 for q in QUADRANTS}


def test_split_is_song_disjoint_and_stratified(demo):
    _, manifest = demo
    assert (manifest.groupby("song_id")["split"].nunique() == 1).all()
    for split in ("train", "val", "test"):
        assert set(manifest.loc[manifest["split"] == split, "quadrant"]) == set(QUADRANTS)


def test_wav_duration_matches_song_length(demo):
    _, manifest = demo
    expected = round(
        song_seconds(SMALL["clips_per_song"], SMALL["clip_s"], SMALL["gap_s"]) * SMALL["sample_rate"]
    )
    for url in manifest["url"].unique():
        info = sf.info(url.removeprefix("file://"))
        assert info.samplerate == SMALL["sample_rate"]
        assert info.frames == expected
        assert info.subtype == "PCM_16"


def test_clip_midi_notes_lie_inside_the_clip(demo):
    _, manifest = demo
    for notes in _clip_midis(manifest):
        assert len(notes) > 0
        assert notes.onset.min() >= 0.0
        assert notes.offset.max() <= SMALL["clip_s"] + TICK_TOLERANCE_S


def test_same_seed_is_identical_other_seed_differs(demo, tmp_path):
    out, manifest = demo
    before = (out / "manifest.parquet").read_bytes()
    notes_before = _clip_midis(manifest)
    again = generate_demo(out, seed=0, **SMALL)
    assert (out / "manifest.parquet").read_bytes() == before
    for a, b in zip(notes_before, _clip_midis(again), strict=True):
        for field in ("onset", "offset", "pitch", "velocity"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))

    other = generate_demo(tmp_path, seed=1, **SMALL)
    differs = [
        len(a) != len(b) or not np.array_equal(a.pitch, b.pitch)
        for a, b in zip(notes_before, _clip_midis(other), strict=True)
    ]
    assert any(differs)


def test_plans_are_stored_in_the_manifest_metadata(demo):
    out, manifest = demo
    meta = read_parquet_metadata(out / "manifest.parquet")
    assert meta["generator"]["seed"] == 0
    songs = manifest.drop_duplicates("song_id").set_index("song_id")["quadrant"]
    assert {sid: plan["quadrant"] for sid, plan in meta["plans"].items()} == songs.to_dict()


def test_arousal_factors_point_the_right_way(demo):
    out, manifest = demo
    songs = manifest.drop_duplicates("song_id")
    stats = []
    for sid, arousal in zip(songs["song_id"], songs["arousal"], strict=True):
        notes = read_notes(out / "songs" / f"{sid}.mid")
        stats.append((arousal, len(notes) / notes.end_time, notes.velocity.mean()))
    table = pd.DataFrame(stats, columns=["arousal", "density", "velocity"]).groupby("arousal").mean()
    assert table.loc[1, "density"] > table.loc[0, "density"]
    assert table.loc[1, "velocity"] > table.loc[0, "velocity"]

    rng = np.random.default_rng(0)
    plans = [plan_song(q, rng) for q in QUADRANTS for _ in range(20)]
    tempo = pd.DataFrame([(p.quadrant, p.tempo_bpm) for p in plans], columns=["q", "tempo"])
    high = tempo[tempo["q"].isin((1, 2))]["tempo"].mean()
    low = tempo[tempo["q"].isin((3, 4))]["tempo"].mean()
    assert high > low


def test_valence_factors_mode_and_register():
    rng = np.random.default_rng(0)
    plans = [plan_song(q, rng) for q in QUADRANTS for _ in range(10)]
    for plan in plans:
        assert plan.mode == ("major" if plan.quadrant in (1, 4) else "minor")
    center = {q: np.mean([p.melody_center for p in plans if p.quadrant == q]) for q in QUADRANTS}
    assert min(center[1], center[4]) > max(center[2], center[3])


def test_songs_of_one_quadrant_differ_and_fit_their_duration():
    rng = np.random.default_rng(3)
    songs = [compose_song(1, rng, duration_s=10.0) for _ in range(2)]
    assert not (len(songs[0]) == len(songs[1]) and np.array_equal(songs[0].pitch, songs[1].pitch))
    for notes in songs:
        assert notes.onset.min() >= 0.0
        assert notes.end_time <= 10.0 - SONG_TAIL_S + 1e-9


def test_clip_notes_trims_at_boundaries():
    notes = Notes.from_arrays([0.0, 1.5, 2.9, 3.5], [2.0, 2.5, 3.5, 4.0], [60, 62, 64, 65], [80] * 4)
    clip = clip_notes(notes, 1.0, 3.0)
    np.testing.assert_allclose(clip.onset, [0.0, 0.5, 1.9])
    np.testing.assert_allclose(clip.offset, [1.0, 1.5, 2.0])
    assert clip.pitch.tolist() == [60, 62, 64]


def test_split_counts_and_bad_arguments(tmp_path):
    assert split_counts(10, (0.6, 0.2, 0.2)).tolist() == [6, 2, 2]
    assert split_counts(3, (0.6, 0.2, 0.2)).tolist() == [1, 1, 1]
    assert split_counts(2, (0.5, 0.5, 0.0)).tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="cannot fill"):
        split_counts(2, (0.6, 0.2, 0.2))
    with pytest.raises(ValueError, match="multiple of 4"):
        generate_demo(tmp_path, n_songs=6)
    with pytest.raises(ValueError, match="split_fractions"):
        generate_demo(tmp_path, split_fractions=(0.5, 0.2, 0.2))
