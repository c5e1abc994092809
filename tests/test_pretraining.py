"""The pretraining corpora manifest: duplicates, test exclusion, ledger, and counts on the mirror."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import symusic

from merflow.core.ledger import Ledger
from merflow.datasets.pretraining import (
    DEFAULT_CORPORA,
    DROPPED_COLUMNS,
    MANIFEST_COLUMNS,
    MIN_CLIP_NGRAMS,
    ExclusionSet,
    build_exclusion_set,
    build_pretraining_manifest,
    content_hash,
    default_sources,
    exclusion_from_manifests,
    ngram_fingerprint,
)
from merflow.music.midi import Notes, read_notes, read_score, write_notes

GRID_S = 0.125  # toy onsets lie on this grid: whole ticks at 480 and 960 tpq (120 BPM)
TEST_SONG = "Xy3_kQ9-abc"  # a YouTube-like song ID


def _random_piece(seed: int, n_notes: int = 120) -> Notes:
    """A random piece of melody and chords, onsets on :data:`GRID_S`."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([0, 1, 1, 2, 2, 4], size=n_notes)  # 0 = same onset (a chord)
    onset = np.cumsum(steps) * GRID_S
    duration = rng.choice([1, 2, 4], size=n_notes) * GRID_S
    pitch = rng.integers(40, 90, size=n_notes)
    velocity = rng.integers(40, 110, size=n_notes)
    return Notes.from_arrays(onset, onset + duration, pitch, velocity)


def _resave(src: Path, dst: Path, tpq: int = 960, bpm: float = 90.0) -> None:
    """``src`` written again by 'another program': other resolution, tempo, track split,
    velocities and programs, and a bar of leading silence."""
    score = read_score(src)
    factor = tpq // score.ticks_per_quarter
    out = symusic.Score(tpq)
    out.tempos.append(symusic.Tempo(0, bpm))
    tracks = [symusic.Track("right", 4, False), symusic.Track("left", 33, False)]
    for note in score.tracks[0].notes:
        track = tracks[0] if note.pitch >= 64 else tracks[1]
        track.notes.append(
            symusic.Note((note.time + 4 * 480) * factor, note.duration * factor, note.pitch, 64)
        )
    for track in tracks:
        out.tracks.append(track)
    out.dump_midi(str(dst))


def _excerpt(notes: Notes, start: int, stop: int) -> Notes:
    """Notes ``start:stop``, shifted to begin at 0 (a test clip cut from a song)."""
    part = slice(start, stop)
    t0 = notes.onset[start]
    return Notes.from_arrays(
        notes.onset[part] - t0, notes.offset[part] - t0, notes.pitch[part], notes.velocity[part]
    )


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Path]:
    """Corpora ``alpha`` and ``beta`` and a user folder, with duplicates and test music."""
    alpha, beta, user = tmp_path / "alpha", tmp_path / "beta", tmp_path / "user"
    for folder in (alpha, beta, user / "nested"):
        folder.mkdir(parents=True)
    for i in range(4):
        write_notes(_random_piece(i), alpha / f"a{i}.mid")
    shutil.copy(alpha / "a0.mid", beta / "copy_of_a0.mid")  # exact duplicate
    _resave(alpha / "a1.mid", beta / "resaved_a1.MID")  # re-saved duplicate (upper-case suffix)
    write_notes(_random_piece(10), beta / "b_song.mid")  # contains a test clip
    write_notes(_random_piece(11), user / "nested" / f"Q1_{TEST_SONG}_0.mid")  # names a test song
    write_notes(_random_piece(12), user / "plain.midi")
    (user / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 truncated")
    clips = tmp_path / "test_clips"
    clips.mkdir()
    write_notes(_excerpt(_random_piece(10), 30, 90), clips / "clip_from_b_song.mid")
    write_notes(_random_piece(20), clips / "unrelated_clip.mid")
    return {"alpha": alpha, "beta": beta, "user": user, "clips": clips}


def _sources(toy: dict[str, Path]) -> dict[str, Path]:
    return {"alpha": toy["alpha"], "beta": toy["beta"], "user": toy["user"]}


def _exclusion(toy: dict[str, Path], ledger: Ledger) -> ExclusionSet:
    return build_exclusion_set(sorted(toy["clips"].glob("*.mid")), [TEST_SONG, "001"], ledger)


def test_content_hash_ignores_resolution_tempo_tracks_and_velocity(toy: dict[str, Path]) -> None:
    original, resaved = toy["alpha"] / "a1.mid", toy["beta"] / "resaved_a1.MID"
    assert original.read_bytes() != resaved.read_bytes()
    assert content_hash(read_score(original)) == content_hash(read_score(resaved))
    assert content_hash(read_score(original)) != content_hash(read_score(toy["alpha"] / "a2.mid"))
    # Moving one note by one tick changes the hash.
    score = read_score(original)
    score.tracks[0].notes[5].time += 1
    assert content_hash(score) != content_hash(read_score(original))


def test_duplicates_and_test_music_are_dropped_with_reasons(toy: dict[str, Path]) -> None:
    ledger = Ledger("pretrain", "pretrain")
    manifest, dropped = build_pretraining_manifest(_sources(toy), _exclusion(toy, ledger), ledger, workers=1)
    print(dropped[["corpus", "piece_id", "reason", "detail"]].to_string())
    assert list(manifest.columns) == MANIFEST_COLUMNS and list(dropped.columns) == DROPPED_COLUMNS
    assert manifest[["corpus", "piece_id"]].values.tolist() == [
        ["alpha", "a0"],
        ["alpha", "a1"],
        ["alpha", "a2"],
        ["alpha", "a3"],
        ["user", "plain"],
    ]
    reasons = dict(zip(dropped["piece_id"], dropped["reason"], strict=True))
    assert reasons == {
        "copy_of_a0": "duplicate",
        "resaved_a1": "duplicate",
        "b_song": "test_clip_contained",
        f"nested/Q1_{TEST_SONG}_0": "test_song_id",
    }
    details = dict(zip(dropped["piece_id"], dropped["detail"], strict=True))
    assert details["copy_of_a0"] == "same notes as alpha/a0"
    assert details["resaved_a1"] == "same notes as alpha/a1"
    assert "clip_from_b_song" in details["b_song"]
    # The exact copy has the same file hash; the re-saved one only the same content hash.
    files = pd.concat([manifest, dropped]).set_index("piece_id")
    assert files.loc["copy_of_a0", "sha256"] == files.loc["a0", "sha256"]
    assert files.loc["resaved_a1", "sha256"] != files.loc["a1", "sha256"]
    assert files.loc["resaved_a1", "content_hash"] == files.loc["a1", "content_hash"]
    assert files.loc["a0", "n_notes"] == 120
    assert files.loc["a0", "duration_s"] == pytest.approx(read_notes(toy["alpha"] / "a0.mid").end_time)
    # The unreadable file is a ledger row; the build went on.
    assert ledger.frame()[["item", "reason"]].values.tolist() == [["user/broken", "corrupt_midi"]]


def test_without_exclusion_only_duplicates_go(toy: dict[str, Path]) -> None:
    manifest, dropped = build_pretraining_manifest(_sources(toy), None, Ledger("p", "p"), workers=1)
    assert set(dropped["reason"]) == {"duplicate"}
    assert len(manifest) == 7  # 9 readable files - 2 duplicates


def test_first_source_wins_and_pool_gives_the_same_tables(toy: dict[str, Path]) -> None:
    reordered = {"beta": toy["beta"], "alpha": toy["alpha"]}
    manifest, dropped = build_pretraining_manifest(reordered, None, Ledger("p", "p"), workers=2)
    assert set(dropped["piece_id"]) == {"a0", "a1"}  # now beta's copies come first
    serial = build_pretraining_manifest(reordered, None, Ledger("p", "p"), workers=1)
    pd.testing.assert_frame_equal(manifest, serial[0])
    pd.testing.assert_frame_equal(dropped, serial[1])


def test_a_copy_of_test_music_is_dropped_too(toy: dict[str, Path]) -> None:
    # A re-saved copy of the piece named after the test song, listed first under a neutral
    # name: it matches no test rule itself and would be the kept member of its group.
    early = toy["alpha"].parent / "early"
    early.mkdir()
    _resave(toy["user"] / "nested" / f"Q1_{TEST_SONG}_0.mid", early / "neutral_name.mid")
    sources = {"early": early, **_sources(toy)}
    ledger = Ledger("p", "p")
    manifest, dropped = build_pretraining_manifest(sources, _exclusion(toy, ledger), ledger, workers=1)
    rows = dropped.set_index("piece_id")
    assert rows.loc["neutral_name", "reason"] == "test_duplicate"
    assert rows.loc["neutral_name", "detail"] == f"same notes as user/nested/Q1_{TEST_SONG}_0"
    assert rows.loc[f"nested/Q1_{TEST_SONG}_0", "reason"] == "test_song_id"
    assert "neutral_name" not in set(manifest["piece_id"])


def test_exact_copy_of_a_test_clip_is_dropped_by_hash(toy: dict[str, Path]) -> None:
    shutil.copy(toy["clips"] / "unrelated_clip.mid", toy["user"] / "leaked.mid")
    ledger = Ledger("p", "p")
    _, dropped = build_pretraining_manifest(_sources(toy), _exclusion(toy, ledger), ledger, workers=1)
    row = dropped.set_index("piece_id").loc["leaked"]
    assert row["reason"] == "test_content_hash"
    assert row["detail"] == "same notes as test clip unrelated_clip"


def test_song_id_matching_rules() -> None:
    exclusion = ExclusionSet(frozenset({TEST_SONG, "001", "_BK2o77sTc0"}))
    assert exclusion.song_match(TEST_SONG) == TEST_SONG
    assert exclusion.song_match(f"Q3_{TEST_SONG}_12") == TEST_SONG
    assert exclusion.song_match("Q1__BK2o77sTc0_1") == "_BK2o77sTc0"  # an ID starting with "_"
    assert exclusion.song_match("001") == "001"
    assert exclusion.song_match("src_001_7") is None  # short IDs match whole stems only
    assert exclusion.song_match(f"{TEST_SONG}x") is None


def test_containment_threshold_on_excerpts() -> None:
    song = _random_piece(3, n_notes=300)
    clip = ngram_fingerprint(_excerpt(song, 100, 160))
    assert len(clip) >= MIN_CLIP_NGRAMS
    exclusion = ExclusionSet(fingerprints={"clip": clip})
    assert exclusion.best_containment(ngram_fingerprint(song)) == ("clip", 1.0)
    # Another random piece shares (almost) no 8-gram with the clip.
    assert exclusion.best_containment(ngram_fingerprint(_random_piece(4, n_notes=300)))[1] < 0.1
    # Re-timed (slower, other tempo): the fingerprint ignores inter-onset times.
    slow = Notes.from_arrays(song.onset * 1.5, song.offset * 1.5, song.pitch, song.velocity)
    assert exclusion.best_containment(ngram_fingerprint(slow))[1] == 1.0


def test_unreadable_test_clip_is_a_ledger_row(tmp_path: Path) -> None:
    (tmp_path / "bad.mid").write_bytes(b"junk")
    write_notes(_random_piece(1), tmp_path / "good.mid")
    ledger = Ledger("p", "p")
    exclusion = build_exclusion_set({"bad": tmp_path / "bad.mid", "good": tmp_path / "good.mid"}, [], ledger)
    assert list(exclusion.fingerprints) == ["good"]
    assert ledger.frame()["item"].tolist() == ["bad"]


def test_exclusion_from_manifests_takes_the_test_rows(tmp_path: Path) -> None:
    for name in ("t", "v"):
        write_notes(_random_piece(ord(name)), tmp_path / f"{name}.mid")
    manifest = pd.DataFrame(
        {
            "clip_id": ["clip_t", "clip_v"],
            "song_id": ["song_t", "song_v"],
            "piece": ["Piece T", "Piece V"],
            "midi_path": [str(tmp_path / "t.mid"), str(tmp_path / "v.mid")],
            "split": ["test", "val"],
        }
    )
    exclusion = exclusion_from_manifests([manifest], Ledger("p", "p"), id_columns=("piece",))
    assert set(exclusion.fingerprints) == {"clip_t"}
    assert exclusion.song_ids == frozenset({"song_t", "Piece T"})
    everything = exclusion_from_manifests([manifest], Ledger("p", "p"), splits=("train", "val", "test"))
    assert set(everything.fingerprints) == {"clip_t", "clip_v"}


# ---------------------------------------------------------------------------- the mirror


@pytest.fixture(scope="module")
def mirror_sources(shared_data: Path) -> dict[str, Path]:
    sources = default_sources(shared_data)
    missing = [str(path) for path in sources.values() if not path.is_dir()]
    if missing:
        pytest.skip(f"pretraining corpora missing from the mirror: {missing}")
    return sources


@pytest.mark.needs_shared_data
def test_mirror_counts_and_duplicates(mirror_sources: dict[str, Path]) -> None:
    ledger = Ledger("pretrain", "pretrain")
    manifest, dropped = build_pretraining_manifest(mirror_sources, None, ledger)
    counts = manifest["corpus"].value_counts().to_dict()
    print("kept per corpus:", counts)
    print("duplicates:\n" + dropped[["corpus", "piece_id", "detail"]].to_string())
    print("ledger:\n" + ledger.frame()[["item", "reason", "message"]].to_string())
    assert list(DEFAULT_CORPORA) == list(mirror_sources)
    assert counts["pop909"] == 909  # 909 songs, all distinct
    assert 1700 <= counts["pop1k7"] <= 1748
    assert 780 <= counts["vgmidi_unlabelled"] <= 820
    assert set(dropped["reason"]) <= {"duplicate"} and len(dropped) <= 10
    assert len(ledger.rows) <= 5
    assert manifest["content_hash"].is_unique
    assert (manifest["n_notes"] > 0).all() and (manifest["duration_s"] > 0).all()


@pytest.mark.needs_shared_data
def test_mirror_test_exclusion(shared_data: Path, mirror_sources: dict[str, Path]) -> None:
    """EMOPIA's official test clips and every VGMIDI phrase (k-fold: each is test once)."""
    from merflow.datasets.emopia import build_emopia_manifest
    from merflow.datasets.manifest import SPLITS
    from merflow.datasets.vgmidi import build_vgmidi_manifest

    ledger = Ledger("pretrain", "pretrain")
    emopia = exclusion_from_manifests([build_emopia_manifest(shared_data / "emopia")], ledger)
    vgmidi = exclusion_from_manifests([build_vgmidi_manifest(shared_data / "vgmidi")], ledger, splits=SPLITS)
    exclusion = ExclusionSet(
        emopia.song_ids | vgmidi.song_ids,
        {**emopia.content_hashes, **vgmidi.content_hashes},
        {**emopia.fingerprints, **vgmidi.fingerprints},
    )
    assert len(exclusion.content_hashes) == 86 + 204
    manifest, dropped = build_pretraining_manifest(mirror_sources, exclusion, ledger)
    print(dropped.groupby(["corpus", "reason"]).size().to_string())
    tested = dropped[dropped["reason"].str.startswith("test_")]
    # VGMIDI's labelled phrases are cut from pieces of the unlabelled set: most are found.
    assert set(tested["corpus"]) == {"vgmidi_unlabelled"}
    assert 150 <= len(tested) <= 204
    contained = tested.set_index("piece_id")
    assert contained.loc["Xenogears_TwoPieces", "reason"] == "test_clip_contained"
    assert (manifest["corpus"] == "pop909").sum() == 909


def test_held_out_pieces_are_a_stable_hash_sample() -> None:
    from merflow.datasets.pretraining import is_held_out

    pieces = [("pop1k7", f"src_{i:03d}_{j}") for i in range(100) for j in range(20)]
    held = [p for p in pieces if is_held_out(*p, 0.02)]
    assert 20 <= len(held) <= 60  # 2% of 2,000 pieces, binomial sd 6.3
    assert held == [p for p in pieces if is_held_out(*p, 0.02)]  # the same pieces every time
    assert set(held) <= {p for p in pieces if is_held_out(*p, 0.1)}  # nested as the fraction grows
    assert not any(is_held_out(*p, 0.0) for p in pieces)
    with pytest.raises(ValueError, match="fraction"):
        is_held_out("pop909", "001", 1.0)
