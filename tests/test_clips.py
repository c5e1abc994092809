"""Sample-exact clip cutting against known sample indices."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from merflow.acquisition.clips import END_TOLERANCE_S, cut_clip, cut_song_clips, to_sample
from merflow.core.errors import InputError
from merflow.core.ledger import Ledger

SR = 22050
SONG_S = 6.0


@pytest.fixture
def ramp() -> np.ndarray:
    """6 s where sample ``i`` has value ``i``: a cut reveals exactly which samples it kept."""
    return np.arange(int(SONG_S * SR), dtype=np.float64)


def test_three_to_five_seconds_is_44100_samples(ramp: np.ndarray) -> None:
    clip = cut_clip(ramp, SR, 3.0, 5.0)
    assert clip.shape == (44100,)
    np.testing.assert_array_equal(clip, np.arange(66150, 110250))


def test_stereo_keeps_channels(ramp: np.ndarray) -> None:
    stereo = np.stack([ramp, -ramp], axis=1)
    clip = cut_clip(stereo, SR, 1.0, 1.5)
    assert clip.shape == (11025, 2)
    np.testing.assert_array_equal(clip[:, 1], -np.arange(22050, 33075))


def test_rounding_to_nearest_sample() -> None:
    assert to_sample(3.00002, SR) == 66150  # 66150.44
    assert to_sample(3.00003, SR) == 66151  # 66150.66
    assert to_sample(0.5, 3) == 2  # exactly 1.5: half up


def test_end_within_tolerance_is_truncated(ramp: np.ndarray) -> None:
    clip = cut_clip(ramp, SR, 5.0, SONG_S + END_TOLERANCE_S - 0.01)
    np.testing.assert_array_equal(clip, np.arange(110250, len(ramp)))


@pytest.mark.parametrize(
    ("start_s", "end_s"),
    [
        (SONG_S, SONG_S + 0.2),  # starts exactly at the end
        (7.0, 8.0),  # starts past the end
        (5.0, SONG_S + END_TOLERANCE_S + 0.01),  # ends beyond the tolerance
        (-0.1, 1.0),  # negative start
        (2.0, 2.0),  # empty
    ],
)
def test_out_of_range_raises(ramp: np.ndarray, start_s: float, end_s: float) -> None:
    with pytest.raises(InputError) as info:
        cut_clip(ramp, SR, start_s, end_s, clip_id="c9")
    assert (info.value.item, info.value.reason) == ("c9", "clip_out_of_range")


@pytest.fixture
def song_wav(tmp_path: Path) -> Path:
    """A 16-bit song whose sample ``i`` is ``i mod 2**15``, so PCM round trips are exact."""
    path = tmp_path / "song.wav"
    sf.write(path, (np.arange(int(SONG_S * SR)) % 2**15).astype(np.int16), SR, subtype="PCM_16")
    return path


def clip_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "clip_id": ["a", "other", "late", "b"],
            "song_id": ["s", "t", "s", "s"],
            "start_s": [3.0, 0.0, 7.0, 0.5],
            "end_s": [5.0, 1.0, 8.0, 1.0],
        }
    )


def test_cut_song_clips_writes_exact_pcm(song_wav: Path, tmp_path: Path, monkeypatch) -> None:
    out_dir = tmp_path / "clips"
    ledger = Ledger("clips", "test")
    paths = cut_song_clips("s", song_wav, clip_table(), out_dir, ledger)
    assert paths == [out_dir / "a.wav", out_dir / "b.wav"]
    a, sr = sf.read(out_dir / "a.wav", dtype="int16")
    assert sr == SR
    np.testing.assert_array_equal(a, np.arange(66150, 110250) % 2**15)
    b, _ = sf.read(out_dir / "b.wav", dtype="int16")
    np.testing.assert_array_equal(b, np.arange(11025, 22050))
    assert [(r["item"], r["reason"]) for r in ledger.rows] == [("late", "clip_out_of_range")]
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.wav", "b.wav"]  # no temp files

    # Second run: every clip is present with the right length, so the song is not read again.
    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("song read although every clip exists")

    monkeypatch.setattr("merflow.acquisition.clips.sf.read", no_read)
    assert cut_song_clips("s", song_wav, clip_table(), out_dir, Ledger("clips", "test")) == paths


def test_wrong_length_clip_is_rewritten(song_wav: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "clips"
    out_dir.mkdir()
    sf.write(out_dir / "b.wav", np.zeros(10, dtype=np.int16), SR)  # e.g. left by an older manifest
    cut_song_clips("s", song_wav, clip_table(), out_dir, Ledger("clips", "test"))
    assert sf.info(out_dir / "b.wav").frames == 11025


def test_clip_older_than_its_song_is_recut(song_wav: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "clips"
    cut_song_clips("s", song_wav, clip_table(), out_dir, Ledger("clips", "test"))
    sf.write(song_wav, np.zeros(int(SONG_S * SR), dtype=np.int16), SR, subtype="PCM_16")  # new song
    later = time.time_ns() + 10**10
    os.utime(song_wav, ns=(later, later))
    cut_song_clips("s", song_wav, clip_table(), out_dir, Ledger("clips", "test"))
    assert not sf.read(out_dir / "a.wav", dtype="int16")[0].any()


def test_missing_song_records_every_clip(tmp_path: Path) -> None:
    ledger = Ledger("clips", "test")
    assert cut_song_clips("s", tmp_path / "nope.wav", clip_table(), tmp_path / "clips", ledger) == []
    assert [(r["item"], r["reason"]) for r in ledger.rows] == [
        ("a", "missing_file"),
        ("late", "missing_file"),
        ("b", "missing_file"),
    ]


def test_dataset_clips_of_a_failed_song_are_listed_in_the_ledger(song_wav: Path, tmp_path: Path) -> None:
    from merflow.acquisition.clips import cut_dataset_clips

    manifest = clip_table().assign(split="train")
    downloads = pd.DataFrame(
        {
            "song_id": ["s", "t"],
            "path": [str(song_wav), ""],
            "status": ["cached", "failed"],
            "reason": ["", "unavailable"],
        }
    )
    ledger = Ledger("cut_clips", "test")
    table = cut_dataset_clips(manifest, downloads, tmp_path / "clips", ledger)
    assert dict(zip(table["clip_id"], table["status"], strict=True)) == {
        "a": "ok",
        "other": "no_song_audio",
        "late": "failed",
        "b": "ok",
    }
    rows = {(r["item"], r["reason"]) for r in ledger.rows}
    assert ("other", "no_song_audio") in rows and ("late", "clip_out_of_range") in rows
    assert "unavailable" in next(r["message"] for r in ledger.rows if r["item"] == "other")
