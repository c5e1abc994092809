"""Hostile inputs at every entry point: each fails clearly, is recorded, and harms nothing else.

For every case (built at test time by :mod:`hostile`) the direct call either gives the
known answer or raises :class:`InputError` with the expected ``reason`` and a message that
names the file; the batch functions the pipeline runs (symbolic and audio caches,
transcription, clip cutting, song acquisition) record it in the ledger, finish for the
good items, and leave only complete outputs behind (no temporary files, no output of a
failed item).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hostile import (
    AUDIO_CASES,
    AUDIO_SECONDS,
    HTML_PAGE,
    MIDI_CASES,
    SCALE_ONSETS,
    SCALE_PITCHES,
    AudioCase,
    MidiCase,
    mido_onsets,
    scale_midi,
    serve,
    temporaries,
    tone,
)

from merflow.acquisition.clips import cut_song_clips, to_sample
from merflow.acquisition.download import acquire_songs, download_song
from merflow.core.errors import InputError
from merflow.core.io import write_parquet
from merflow.core.ledger import LEDGER_COLUMNS, Ledger
from merflow.features.caches import audio_cache_metadata, audio_caches, symbolic_caches
from merflow.music.audio_features import AudioFeatureConfig, audio_stat_names, frame_features, load_audio
from merflow.music.midi import read_notes
from merflow.music.symbolic_features import SYMBOLIC_FEATURE_NAMES
from merflow.tokenizers.midi_like import VOCAB_SIZE
from merflow.transcription import CACHED, FAILED, TRANSCRIBED, get_transcriber, transcribe_clips

GOOD = "good_scale"
SR = 22050
CFG = AudioFeatureConfig(sample_rate=SR)
N_FRAMES = 1 + round(AUDIO_SECONDS * SR) // CFG.hop_length  # 44 frames of one second
TWO_HOUR_NOTES = 2 * 3600 * 8
TWO_HOUR_END_S = (TWO_HOUR_NOTES * 120 - 60) / 960  # last note-off at 120 BPM, 480 ticks/beat
#: symbolic statistics + key + MIDI-like tokens of the two-hour piece must take less than this (s)
TWO_HOUR_BUDGET_S = 5.0


def ids(cases) -> list[str]:
    return [case.name for case in cases]


def assert_names_file(error: InputError, name: str, reason: str) -> None:
    """The error has ``reason`` and its text names the file (``name``) and the reason."""
    assert error.reason == reason
    assert name in str(error) and reason in str(error)
    assert error.message


def ledger_rows(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == LEDGER_COLUMNS
    return frame


def write_outputs(tables: dict[str, pd.DataFrame], ledger: Ledger, folder: Path) -> None:
    """Write a batch's tables and ledger as the pipeline's scripts do (atomically)."""
    for name, table in tables.items():
        write_parquet(table, folder / f"{name}.parquet", {"case": "hostile"})
    ledger.write(folder / "ledger.csv")


# ---------------------------------------------------------------------------------------------
# MIDI: read_notes, the symbolic caches and the oracle transcription runner
# ---------------------------------------------------------------------------------------------

MIDI_FAILING = [case for case in MIDI_CASES if case.reason]


@pytest.fixture(scope="module")
def midi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("midi")
    scale_midi(folder / f"{GOOD}.mid")
    for case in MIDI_CASES:
        case.build(case.path(folder))
    return folder


@pytest.fixture(scope="module")
def midi_index(midi_dir: Path) -> pd.DataFrame:
    names = [GOOD, *ids(MIDI_CASES)]
    return pd.DataFrame(
        {"clip_id": names, "midi_path": [str(midi_dir / f"{n}.mid") for n in names], "status": "oracle"}
    )


@pytest.fixture(scope="module")
def symbolic_batch(midi_index: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    ledger = Ledger("symbolic_oracle", "hostile")
    caches = symbolic_caches(midi_index, ledger)
    out = tmp_path_factory.mktemp("symbolic")
    write_outputs(caches, ledger, out)
    return (
        out,
        {name: pd.read_parquet(out / f"{name}.parquet") for name in caches},
        ledger_rows(out / "ledger.csv"),
    )


@pytest.fixture(scope="module")
def oracle_batch(midi_index: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("oracle")
    ledger = Ledger("transcribe_oracle", "hostile")
    sources = {row.clip_id: Path(row.midi_path) for row in midi_index.itertuples()}
    table = transcribe_clips(sources, get_transcriber("oracle"), out / "midi", ledger)
    write_outputs({"table": table}, ledger, out)
    return out, table.set_index("clip_id"), ledger_rows(out / "ledger.csv")


@pytest.mark.parametrize("case", MIDI_CASES, ids=ids(MIDI_CASES))
def test_midi_read_notes(case: MidiCase, midi_dir: Path) -> None:
    path = case.path(midi_dir)
    if case.reason:
        with pytest.raises(InputError) as info:
            read_notes(path, case.name)
        assert_names_file(info.value, path.name, case.reason)
        assert info.value.path == str(path)
        return
    notes = read_notes(path, case.name)
    assert np.isfinite(notes.onset).all() and (notes.offset > notes.onset).all()
    if case.pitches is not None:
        assert notes.pitch.tolist() == list(case.pitches)
    if case.onsets is not None:
        np.testing.assert_allclose(notes.onset, case.onsets, rtol=1e-6, atol=1e-7)
    if case.name == "many_tempo_changes":  # against mido's own tempo-map integration
        np.testing.assert_allclose(notes.onset, mido_onsets(path), rtol=1e-6, atol=1e-6)
        assert np.all(np.diff(notes.onset) > 0)
    if case.name == "two_hours":
        assert len(notes) == TWO_HOUR_NOTES
        assert notes.end_time == pytest.approx(TWO_HOUR_END_S, abs=1e-2)


@pytest.mark.parametrize("case", MIDI_CASES, ids=ids(MIDI_CASES))
def test_midi_batches_record_or_process(case: MidiCase, symbolic_batch, oracle_batch) -> None:
    _, tables, symbolic_ledger = symbolic_batch
    oracle_out, oracle_table, oracle_ledger = oracle_batch
    midi_out = oracle_out / "midi" / f"{case.name}.mid"
    for ledger in (symbolic_ledger, oracle_ledger):
        rows = ledger[ledger["item"] == case.name]
        assert rows["reason"].tolist() == ([case.reason] if case.reason else [])
        if case.reason:
            assert rows["path"].iloc[0].endswith(f"{case.name}.mid") and rows["message"].iloc[0]
    in_tables = {name: case.name in set(table["clip_id"]) for name, table in tables.items()}
    assert in_tables == dict.fromkeys(tables, case.reason is None)
    if case.reason:
        assert oracle_table.loc[case.name, "status"] == FAILED
        assert oracle_table.loc[case.name, "midi_path"] == "" and not midi_out.exists()
        return
    assert oracle_table.loc[case.name, "status"] == TRANSCRIBED and midi_out.is_file()
    assert len(read_notes(midi_out)) == oracle_table.loc[case.name, "n_notes"]
    stats = tables["statistics"].set_index("clip_id").loc[case.name, list(SYMBOLIC_FEATURE_NAMES)]
    assert np.isfinite(stats.to_numpy(dtype=float)).all()
    tokens = tables["tokens_midi_like"].set_index("clip_id").loc[case.name, "tokens"]
    assert len(tokens) > 0 and max(tokens) < VOCAB_SIZE
    for name in (name for name in tables if name.startswith("tokens_")):
        assert tables[name].set_index("clip_id").loc[case.name, "n_tokens"] > 0, name
    assert tables["keys"].set_index("clip_id").loc[case.name, "mode"] in {"major", "minor"}
    if case.pitches is not None:
        assert stats["pitch_min"] == min(case.pitches) and stats["pitch_max"] == max(case.pitches)


def test_midi_batches_finish_for_good_items_and_leave_complete_outputs(
    symbolic_batch, oracle_batch, midi_dir: Path
) -> None:
    good = {GOOD} | {case.name for case in MIDI_CASES if not case.reason}
    symbolic_out, tables, symbolic_ledger = symbolic_batch
    oracle_out, oracle_table, oracle_ledger = oracle_batch
    for table in tables.values():
        assert set(table["clip_id"]) == good
    assert set(symbolic_ledger["item"]) == set(oracle_ledger["item"]) == set(ids(MIDI_FAILING))
    assert set(oracle_table.index[oracle_table["status"] == TRANSCRIBED]) == good
    assert sorted(p.name for p in (oracle_out / "midi").iterdir()) == sorted(f"{n}.mid" for n in good)
    assert sorted(p.name for p in symbolic_out.iterdir()) == sorted(
        ["ledger.csv", *(f"{name}.parquet" for name in tables)]
    )
    assert {"keys", "statistics", "tokens_midi_like"} <= set(tables)
    assert temporaries(symbolic_out) == [] and temporaries(oracle_out) == [] and temporaries(midi_dir) == []
    good_notes = read_notes(oracle_out / "midi" / f"{GOOD}.mid")
    assert good_notes.pitch.tolist() == list(SCALE_PITCHES)
    np.testing.assert_allclose(good_notes.onset, SCALE_ONSETS, atol=1e-3)


def test_oracle_rerun_keeps_good_midi_and_records_failures_again(oracle_batch, midi_index) -> None:
    oracle_out, _, _ = oracle_batch
    ledger = Ledger("transcribe_oracle", "hostile")
    sources = {row.clip_id: Path(row.midi_path) for row in midi_index.itertuples()}
    table = transcribe_clips(sources, get_transcriber("oracle"), oracle_out / "midi", ledger)
    failing = set(ids(MIDI_FAILING))
    assert set(table.loc[table["status"] == CACHED, "clip_id"]) == set(sources) - failing
    assert {(row["item"], row["reason"]) for row in ledger.rows} == {(c.name, c.reason) for c in MIDI_FAILING}


def test_two_hour_midi_statistics_key_and_tokens_take_seconds(midi_dir: Path) -> None:
    index = pd.DataFrame(
        {"clip_id": ["two_hours"], "midi_path": [str(midi_dir / "two_hours.mid")], "status": "oracle"}
    )
    ledger = Ledger("symbolic_oracle", "hostile")
    tic = time.perf_counter()
    caches = symbolic_caches(index, ledger)
    elapsed = time.perf_counter() - tic
    assert elapsed < TWO_HOUR_BUDGET_S, f"{elapsed:.1f} s for a two-hour MIDI"
    assert ledger.rows == []
    assert caches["keys"]["mode"].iloc[0] in {"major", "minor"}
    # every note gives a NOTE_ON and a NOTE_OFF; gaps of 1/16 s give one TIME_SHIFT each
    assert caches["tokens_midi_like"]["n_tokens"].iloc[0] >= 2 * TWO_HOUR_NOTES


# ---------------------------------------------------------------------------------------------
# Audio: load_audio + features, the audio caches, basic-pitch transcription, clip cutting
# ---------------------------------------------------------------------------------------------

CUT_CLIPS = ((0.0, 0.5), (0.25, 0.75))  # seconds, two clips per song


def cut_clip_ids(case: AudioCase) -> list[str]:
    return [f"{case.name}_c{k}" for k in range(len(CUT_CLIPS))]


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    for case in AUDIO_CASES:
        case.build(case.path(folder))
    return folder


@pytest.fixture(scope="module")
def features_batch(audio_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("audio_features")
    ledger = Ledger("audio_features", "hostile")
    caches = audio_caches({case.name: str(case.path(audio_dir)) for case in AUDIO_CASES}, CFG, ledger)
    for name, table in caches.items():
        write_parquet(table, out / f"{name}.parquet", audio_cache_metadata(CFG))
    ledger.write(out / "ledger.csv")
    tables = {name: pd.read_parquet(out / f"{name}.parquet").set_index("clip_id") for name in caches}
    return out, tables, ledger_rows(out / "ledger.csv")


@pytest.fixture(scope="module")
def transcription_batch(audio_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("basic_pitch")
    ledger = Ledger("transcribe_basic_pitch", "hostile")
    sources = {case.name: case.path(audio_dir) for case in AUDIO_CASES}
    table = transcribe_clips(sources, get_transcriber("basic_pitch"), out / "midi", ledger)
    write_outputs({"table": table}, ledger, out)
    return out, table.set_index("clip_id"), ledger_rows(out / "ledger.csv")


@pytest.fixture(scope="module")
def cut_batch(audio_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("clips")
    ledger = Ledger("cut_clips", "hostile")
    manifest = pd.DataFrame(
        [
            {"clip_id": clip_id, "song_id": case.name, "start_s": start, "end_s": end}
            for case in AUDIO_CASES
            for clip_id, (start, end) in zip(cut_clip_ids(case), CUT_CLIPS, strict=True)
        ]
    )
    present = {
        case.name: cut_song_clips(case.name, case.path(audio_dir), manifest, out / "clips", ledger)
        for case in AUDIO_CASES
    }
    ledger.write(out / "ledger.csv")
    return out, present, ledger_rows(out / "ledger.csv")


@pytest.mark.parametrize("case", AUDIO_CASES, ids=ids(AUDIO_CASES))
def test_audio_load_and_features(case: AudioCase, audio_dir: Path) -> None:
    path = case.path(audio_dir)
    if case.features:
        with pytest.raises(InputError) as info:
            load_audio(path, SR, case.name)
        assert_names_file(info.value, path.name, case.features)
        return
    info = sf.info(str(path))
    assert (info.samplerate, info.channels) == (case.sample_rate, case.channels)
    y = load_audio(path, SR, case.name)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == round(AUDIO_SECONDS * SR)  # resampled to 22050 Hz, duration kept
    frames = frame_features(y, CFG)
    assert all(values.shape[1] == N_FRAMES and np.isfinite(values).all() for values in frames.values())
    assert int(frames["chroma"].mean(axis=1).argmax()) == 9  # A (440 Hz; the square's 220 Hz too)


@pytest.mark.parametrize("case", AUDIO_CASES, ids=ids(AUDIO_CASES))
def test_audio_caches_record_or_process(case: AudioCase, features_batch) -> None:
    _, tables, ledger = features_batch
    rows = ledger[ledger["item"] == case.name]
    assert rows["reason"].tolist() == ([case.features] if case.features else [])
    if case.features:
        assert rows["path"].iloc[0].endswith(f"{case.name}.wav")
        assert all(case.name not in table.index for table in tables.values())
        return
    assert tables["frames"].loc[case.name, "n_frames"] == N_FRAMES
    stats = tables["statistics"].loc[case.name, audio_stat_names(CFG)].to_numpy(dtype=float)
    assert np.isfinite(stats).all()


@pytest.mark.parametrize("case", AUDIO_CASES, ids=ids(AUDIO_CASES))
def test_basic_pitch_transcription_records_or_transcribes(case: AudioCase, transcription_batch) -> None:
    out, table, ledger = transcription_batch
    rows = ledger[ledger["item"] == case.name]
    midi = out / "midi" / f"{case.name}.mid"
    assert rows["reason"].tolist() == ([case.transcribe] if case.transcribe else [])
    if case.transcribe:
        assert rows["path"].iloc[0].endswith(f"{case.name}.wav")
        assert table.loc[case.name, "status"] == FAILED and not midi.exists()
        return
    assert table.loc[case.name, "status"] == TRANSCRIBED
    assert table.loc[case.name, "audio_seconds"] == pytest.approx(AUDIO_SECONDS)
    notes = read_notes(midi)
    assert int(np.bincount(notes.pitch, weights=notes.duration).argmax()) == case.pitch


@pytest.mark.parametrize("case", AUDIO_CASES, ids=ids(AUDIO_CASES))
def test_cut_song_clips_records_or_cuts(case: AudioCase, cut_batch, audio_dir: Path) -> None:
    out, present, ledger = cut_batch
    clip_ids = cut_clip_ids(case)
    rows = ledger[ledger["item"].isin(clip_ids)]
    if case.cut:
        assert rows["item"].tolist() == clip_ids and set(rows["reason"]) == {case.cut}
        assert set(rows["path"]) == {str(case.path(audio_dir))}
        assert present[case.name] == []
        assert not any((out / "clips" / f"{c}.wav").exists() for c in clip_ids)
        return
    assert rows.empty
    assert [p.name for p in present[case.name]] == [f"{c}.wav" for c in clip_ids]
    for path, (start, end) in zip(present[case.name], CUT_CLIPS, strict=True):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels) == (case.sample_rate, case.channels)
        assert info.frames == to_sample(end, case.sample_rate) - to_sample(start, case.sample_rate)


def test_audio_batches_finish_for_good_items_and_leave_complete_outputs(
    features_batch, transcription_batch, cut_batch, audio_dir: Path
) -> None:
    features_out, tables, _ = features_batch
    transcription_out, table, _ = transcription_batch
    cut_out, _, cut_ledger = cut_batch
    assert set(tables["frames"].index) == {c.name for c in AUDIO_CASES if not c.features}
    assert set(table.index[table["status"] == TRANSCRIBED]) == {
        c.name for c in AUDIO_CASES if not c.transcribe
    }
    assert sorted(p.stem for p in (transcription_out / "midi").iterdir()) == sorted(
        c.name for c in AUDIO_CASES if not c.transcribe
    )
    cut = sorted(p.stem for p in (cut_out / "clips").iterdir())
    assert cut == sorted(c for case in AUDIO_CASES if not case.cut for c in cut_clip_ids(case))
    assert len(cut_ledger) == 2 * sum(1 for c in AUDIO_CASES if c.cut)
    for folder in (features_out, transcription_out, cut_out, audio_dir):
        assert temporaries(folder) == []


def test_clean_audio_is_reproduced_by_the_clip_cutter(cut_batch) -> None:
    """The 22.05 kHz tone's second clip is exactly samples 5513..16537 of the tone (16-bit)."""
    out, _, _ = cut_batch
    clip, sr = sf.read(str(out / "clips" / "mono_22k_c1.wav"), dtype="float32")
    expected = tone(SR)[5513:16538]  # 0.25 s and 0.75 s, rounded half up
    assert sr == SR
    np.testing.assert_allclose(clip, expected, atol=1 / 2**15)


# ---------------------------------------------------------------------------------------------
# Downloads: the real yt-dlp against a loopback server
# ---------------------------------------------------------------------------------------------

FAST = {"retries": 0, "backoff_s": 0.01, "socket_timeout_s": 1.0}
DOWNLOAD_CASES = (  # (song_id, route, reason)
    ("http_404", "/gone.wav", "unavailable"),
    ("stalls", "/stall", "timeout"),
    ("html_page", "/page.html", "not_audio"),
    ("text_as_wav", "/text.wav", "not_audio"),
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory):
    wav = tmp_path_factory.mktemp("served") / "good.wav"
    sf.write(wav, np.stack([tone(44100), tone(44100)], axis=1), 44100)
    routes = {
        "/good.wav": ("audio/wav", wav.read_bytes()),
        "/page.html": ("text/html; charset=utf-8", HTML_PAGE),
        "/text.wav": ("audio/wav", b"this is plain text, not audio\n" * 40),
    }
    with serve(routes) as url:
        yield url


@pytest.mark.parametrize(("song_id", "route", "reason"), DOWNLOAD_CASES, ids=[c[0] for c in DOWNLOAD_CASES])
def test_download_fails_clearly_and_leaves_nothing(
    song_id: str, route: str, reason: str, base_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "songs" / f"{song_id}.wav"
    with pytest.raises(InputError) as info:
        download_song(song_id, base_url + route, out, SR, **FAST)
    assert_names_file(info.value, route.lstrip("/"), reason)
    assert (info.value.item, info.value.path) == (song_id, base_url + route)
    assert list(out.parent.iterdir()) == []  # no wav, no temporary folder


def test_acquire_songs_records_failures_and_downloads_the_rest(base_url: str, tmp_path: Path) -> None:
    songs = pd.DataFrame(
        {
            "song_id": ["good", *(c[0] for c in DOWNLOAD_CASES)],
            "url": [base_url + "/good.wav", *(base_url + c[1] for c in DOWNLOAD_CASES)],
        }
    )
    ledger = Ledger("download", "hostile")
    status = acquire_songs(songs, tmp_path / "songs", SR, ledger, **FAST).set_index("song_id")
    ledger.write(tmp_path / "ledger.csv")
    rows = ledger_rows(tmp_path / "ledger.csv")
    assert list(zip(rows["item"], rows["reason"], strict=True)) == [(c[0], c[2]) for c in DOWNLOAD_CASES]
    assert list(rows["path"]) == [base_url + c[1] for c in DOWNLOAD_CASES]
    assert status.loc["good", "status"] == "downloaded"
    assert (status.drop(index="good")["status"] == "failed").all()
    assert sorted(p.name for p in (tmp_path / "songs").iterdir()) == ["good.source.json", "good.wav"]
    info = sf.info(str(tmp_path / "songs" / "good.wav"))
    assert (info.samplerate, info.channels) == (SR, 1)
    assert info.duration == pytest.approx(AUDIO_SECONDS, abs=0.05)
