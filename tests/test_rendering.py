"""Rendering clip MIDI to audio (builtin and FluidSynth backends) and the audio coverage report.

FluidSynth tests skip with a message when the ``fluidsynth`` program or the default
SoundFont is missing; the builtin backend and every failure path always run (failures are
provoked with a fake program and fake SoundFont files, no FluidSynth needed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import symusic

from merflow.acquisition import rendering
from merflow.acquisition.rendering import (
    BACKENDS,
    DEFAULT_SOUNDFONT,
    RELEASE_TAIL_S,
    coverage_markdown,
    coverage_report,
    fit_length,
    piano_score,
    render_as_clip,
    render_clips,
    render_midi,
    write_coverage_report,
)
from merflow.core.ledger import Ledger
from merflow.music.audio_features import load_audio
from merflow.music.midi import Notes, read_notes, write_notes

SR = 22050
C4_HZ = 261.626
HAS_FLUIDSYNTH = shutil.which(rendering.FLUIDSYNTH_BINARY) is not None and DEFAULT_SOUNDFONT.is_file()
needs_fluidsynth = pytest.mark.skipif(
    not HAS_FLUIDSYNTH,
    reason=f"needs the `fluidsynth` program and {DEFAULT_SOUNDFONT} "
    "(Debian: apt-get install --no-install-recommends fluidsynth fluid-soundfont-gm)",
)
ALL_BACKENDS = [pytest.param(b, marks=needs_fluidsynth) if b == "fluidsynth" else b for b in BACKENDS]


def _write(path: Path, onsets, offsets, pitches, velocity: int = 90) -> Path:
    write_notes(Notes.from_arrays(onsets, offsets, pitches, [velocity] * len(pitches)), path)
    return path


def _melody(path: Path) -> Path:
    """Eight notes, the last ending at 3.5 s."""
    onsets = np.arange(8) * 0.4
    return _write(path, onsets, onsets + 0.7, [60, 62, 64, 65, 67, 69, 71, 72])


def _fake_soundfont(path: Path) -> Path:
    """A file with a SoundFont 2 header (passes the header check, not a real font)."""
    path.write_bytes(b"RIFF\x00\x00\x00\x00sfbk" + bytes(32))
    return path


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_duration_is_last_offset_plus_tail(tmp_path: Path, backend: str) -> None:
    midi = _melody(tmp_path / "m.mid")
    table = render_clips({"m": str(midi)}, tmp_path / "out", SR, backend, None, Ledger("render", "toy"))
    assert table["status"].tolist() == ["ok"]
    info = sf.info(table["audio_path"].iloc[0])
    assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16"
    midi_end = read_notes(midi).end_time  # 3.5 s
    assert abs(info.duration - midi_end) <= 1.0
    assert info.frames == round((midi_end + RELEASE_TAIL_S) * SR)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_c4_spectral_peak_is_261_hz(tmp_path: Path, backend: str) -> None:
    midi = _write(tmp_path / "c4.mid", [0.0], [1.5], [60])
    audio = render_midi(midi, SR, backend)
    assert audio.dtype == np.float32 and 0 < np.abs(audio).max() <= 1.0
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1.0 / SR)
    peak = freqs[np.argmax(spectrum)]
    assert abs(peak - C4_HZ) < 3.0, f"{backend}: spectral peak at {peak:.1f} Hz"


@needs_fluidsynth
def test_fluidsynth_plays_every_track_as_piano(tmp_path: Path) -> None:
    # An organ track (program 19) is rendered on program 0 like the builtin backend would.
    score = symusic.Score(480)
    track = symusic.Track("organ", 19, False)
    track.notes.append(symusic.Note(0, 960, 69, 100))  # A4, 1 s at 120 BPM
    score.tracks.append(track)
    score.dump_midi(str(tmp_path / "organ.mid"))
    audio = render_midi(tmp_path / "organ.mid", 16000, "fluidsynth")
    assert len(audio) == round((1.0 + RELEASE_TAIL_S) * 16000)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    assert abs(np.fft.rfftfreq(len(audio), 1 / 16000)[np.argmax(spectrum)] - 440.0) < 4.0


def test_piano_score_forces_program_0_and_drops_drums() -> None:
    score = symusic.Score(480)
    for name, program, is_drum in [("strings", 48, False), ("kit", 0, True), ("flute", 73, False)]:
        track = symusic.Track(name, program, is_drum)
        track.notes.append(symusic.Note(0, 480, 60, 80))
        score.tracks.append(track)
    piano = piano_score(score)
    kept = [(t.name, t.program, t.is_drum) for t in piano.tracks]
    assert kept == [("strings", 0, False), ("flute", 0, False)]
    assert [t.program for t in score.tracks] == [48, 0, 73]  # the input is untouched


def test_fit_length_trims_and_pads() -> None:
    np.testing.assert_array_equal(fit_length(np.arange(5.0), 3), [0, 1, 2])
    np.testing.assert_array_equal(fit_length(np.arange(2.0), 4), [0, 1, 0, 0])


def test_corrupt_midi_is_a_ledger_row_and_the_batch_goes_on(tmp_path: Path) -> None:
    good = _melody(tmp_path / "good.mid")
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd this is not MIDI")
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    ledger = Ledger("render", "toy")
    paths = {"corrupt": str(corrupt), "good": str(good), "empty": str(empty), "none": ""}
    table = render_clips(paths, out, SR, "builtin", None, ledger)
    assert table["clip_id"].tolist() == ["corrupt", "good", "empty", "none"]
    assert table["status"].tolist() == ["failed", "ok", "failed", "failed"]
    assert table.loc[table["status"] == "failed", "audio_path"].eq("").all()
    rows = ledger.frame().set_index("item")
    assert rows.loc["corrupt", "reason"] == "corrupt_midi"
    assert rows.loc["empty", "reason"] == "corrupt_midi"
    assert rows.loc["none", "reason"] == "missing_file"
    assert sorted(p.name for p in out.iterdir()) == ["good.wav"]  # no partial or temporary file


def test_cached_wavs_are_skipped_until_the_midi_changes(tmp_path: Path) -> None:
    midi = _melody(tmp_path / "m.mid")
    out = tmp_path / "out"
    render_clips({"m": str(midi)}, out, SR, "builtin", None, Ledger("render", "toy"))
    wav = out / "m.wav"
    old = wav.stat().st_mtime_ns - 10**9
    os.utime(wav, ns=(old, old))
    os.utime(midi, ns=(old - 10**9, old - 10**9))  # MIDI older than the wav: cached
    render_clips({"m": str(midi)}, out, SR, "builtin", None, Ledger("render", "toy"))
    assert wav.stat().st_mtime_ns == old
    render_clips({"m": str(midi)}, out, 16000, "builtin", None, Ledger("render", "toy"))
    assert sf.info(str(wav)).samplerate == 16000  # another sample rate: rendered again
    os.utime(midi)  # MIDI edited after the wav: rendered again
    old = wav.stat().st_mtime_ns - 10**9
    os.utime(wav, ns=(old, old))
    render_clips({"m": str(midi)}, out, 16000, "builtin", None, Ledger("render", "toy"))
    assert wav.stat().st_mtime_ns > old


@pytest.mark.parametrize(
    ("make_font", "reason"),
    [
        (lambda d: d / "absent.sf2", "missing_soundfont"),
        (lambda d: (d / "text.sf2", (d / "text.sf2").write_text("not a soundfont"))[0], "invalid_soundfont"),
    ],
)
def test_unusable_soundfont_fails_every_clip_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_font, reason: str
) -> None:
    monkeypatch.setattr(rendering.shutil, "which", lambda _: "/usr/bin/fluidsynth")  # as if installed
    midis = {name: str(_melody(tmp_path / f"{name}.mid")) for name in ("a", "b")}
    ledger = Ledger("render", "toy")
    table = render_clips(midis, tmp_path / "out", SR, "fluidsynth", str(make_font(tmp_path)), ledger)
    assert table["status"].tolist() == ["failed", "failed"]
    assert ledger.frame()["reason"].tolist() == [reason, reason]
    assert not list((tmp_path / "out").iterdir())


def test_missing_fluidsynth_program_is_a_ledger_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "FLUIDSYNTH_BINARY", "no-such-fluidsynth-program")
    ledger = Ledger("render", "toy")
    render_clips({"m": str(_melody(tmp_path / "m.mid"))}, tmp_path / "out", SR, "fluidsynth", None, ledger)
    assert ledger.frame()["reason"].tolist() == ["missing_fluidsynth"]


def test_fluidsynth_failure_is_a_ledger_row_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "fluidsynth"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'fluidsynth: error: simulated crash' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(rendering, "FLUIDSYNTH_BINARY", str(fake))
    font = _fake_soundfont(tmp_path / "font.sf2")
    midis = {name: str(_melody(tmp_path / f"{name}.mid")) for name in ("a", "b")}
    ledger = Ledger("render", "toy")
    table = render_clips(midis, tmp_path / "out", SR, "fluidsynth", str(font), ledger, workers=2)
    assert table["status"].tolist() == ["failed", "failed"]
    frame = ledger.frame()
    assert frame["reason"].tolist() == ["fluidsynth_error"] * 2
    assert frame["message"].str.contains("exited with 3").all()
    assert frame["message"].str.contains("simulated crash").all()


def _fake_fluidsynth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wav: Path) -> None:
    """Use a stand-in ``fluidsynth`` that copies ``wav`` to the file named after ``-F``."""
    fake = tmp_path / "bin" / "fluidsynth"
    fake.parent.mkdir(exist_ok=True)
    script = '#!/bin/sh\nwhile [ "$1" != "-F" ]; do shift; done\ncp "{wav}" "$2"\n'
    fake.write_text(script.format(wav=wav))
    fake.chmod(0o755)
    monkeypatch.setattr(rendering, "FLUIDSYNTH_BINARY", str(fake))


def test_fluidsynth_output_is_made_mono_resampled_and_trimmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FluidSynth "writes" 3 s of stereo 440 Hz at 44.1 kHz, left twice as loud as right.
    t = np.arange(3 * 44100) / 44100
    tone = 0.2 * np.sin(2 * np.pi * 440.0 * t)
    sf.write(str(tmp_path / "stereo.wav"), np.stack([2 * tone, tone], axis=1), 44100, subtype="FLOAT")
    _fake_fluidsynth(tmp_path, monkeypatch, tmp_path / "stereo.wav")
    midi = _write(tmp_path / "a.mid", [0.0], [1.0], [69])
    audio = render_midi(midi, SR, "fluidsynth", _fake_soundfont(tmp_path / "font.sf2"), tail_s=0.5)
    assert audio.shape == (round(1.5 * SR),)  # trimmed to the last offset + tail
    middle = audio[SR // 4 : SR]
    assert np.abs(middle).max() == pytest.approx(0.3, abs=0.01)  # mean of 0.4 and 0.2
    spectrum = np.abs(np.fft.rfft(middle))
    assert abs(np.fft.rfftfreq(len(middle), 1 / SR)[np.argmax(spectrum)] - 440.0) < 3.0


def test_silent_fluidsynth_render_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sf.write(str(tmp_path / "silence.wav"), np.zeros((SR, 2)), SR, subtype="FLOAT")
    _fake_fluidsynth(tmp_path, monkeypatch, tmp_path / "silence.wav")
    ledger = Ledger("render", "toy")
    font = str(_fake_soundfont(tmp_path / "font.sf2"))
    render_clips({"m": str(_melody(tmp_path / "m.mid"))}, tmp_path / "out", SR, "fluidsynth", font, ledger)
    assert ledger.frame()["reason"].tolist() == ["fluidsynth_error"]
    assert "silence" in ledger.frame()["message"].iloc[0]


def test_unknown_backend_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown rendering backend"):
        render_clips({}, tmp_path, SR, "timidity", None, Ledger("render", "toy"))


def test_coverage_report_counts_per_split(tmp_path: Path) -> None:
    manifest = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(8)],
            "split": ["train", "train", "train", "val", "val", "test", "test", "none"],
        }
    )
    clip_audio = pd.DataFrame(
        {
            "clip_id": ["c0", "c1", "c2", "c3", "c4", "c5"],  # c6, c7: never attempted
            "status": ["ok", "ok", "no_timestamps", "ok", "failed", "failed"],
        }
    )
    ledger = pd.DataFrame({"item": ["c5"], "reason": ["corrupt_midi"]})
    report = coverage_report(manifest, clip_audio, ledger).set_index("split")
    assert report.index.tolist() == ["train", "val", "test", "none", "all"]
    assert report["n_clips"].tolist() == [3, 2, 2, 1, 8]
    assert report["n_audio"].tolist() == [2, 1, 0, 0, 3]
    assert report.loc["train", "fraction"] == pytest.approx(2 / 3)
    assert report.loc["all", "fraction"] == pytest.approx(3 / 8)
    assert report.loc["all", "missing_no_timestamps"] == 1
    assert report.loc["val", "missing_failed"] == 1  # no ledger row: the status is the reason
    assert report.loc["test", "missing_corrupt_midi"] == 1  # failed with a ledger row: its reason
    assert report.loc["test", "missing_not_attempted"] == 1
    assert report.loc["none", "missing_not_attempted"] == 1

    write_coverage_report(report.reset_index(), tmp_path / "cov.csv", tmp_path / "cov.md")
    assert pd.read_csv(tmp_path / "cov.csv")["n_audio"].tolist() == [2, 1, 0, 0, 3]
    markdown = (tmp_path / "cov.md").read_text()
    assert markdown == coverage_markdown(report.reset_index())
    assert "| train | 3 | 2 | 66.7 % |" in markdown


def test_coverage_report_of_an_empty_split_is_nan() -> None:
    manifest = pd.DataFrame({"clip_id": ["a"], "split": ["train"]})
    report = coverage_report(manifest, pd.DataFrame({"clip_id": ["a"], "status": ["ok"]}))
    assert report["fraction"].isna().tolist() == [False, True, True, True, False]
    assert list(report.columns) == ["split", "n_clips", "n_audio", "fraction"]  # nothing missing


@pytest.mark.needs_shared_data
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_emopia_clips_render_to_their_midi_length(shared_data: Path, tmp_path: Path, backend: str) -> None:
    midis = sorted((shared_data / "emopia" / "EMOPIA_1.0" / "midis").glob("*.mid"))[:3]
    if not midis:
        pytest.skip("no EMOPIA MIDI in the mirror")
    ledger = Ledger("render", "emopia")
    table = render_clips({p.stem: str(p) for p in midis}, tmp_path, SR, backend, None, ledger)
    assert table["status"].eq("ok").all(), ledger.frame()
    for path, midi in zip(table["audio_path"], midis, strict=True):
        assert abs(sf.info(path).duration - read_notes(midi).end_time) <= 1.0


def test_render_as_clip_gives_the_samples_of_the_pipelines_clip_wav(tmp_path: Path) -> None:
    midi = _melody(tmp_path / "m.mid")
    table = render_clips({"m": str(midi)}, tmp_path / "out", SR, "builtin", None, Ledger("render", "toy"))
    stored = load_audio(Path(table["audio_path"].iloc[0]), SR, "m")
    ours = render_as_clip(midi, SR, "builtin")
    np.testing.assert_array_equal(ours, stored)
    direct = render_midi(midi, SR, "builtin")  # before the 16-bit WAV
    assert ours.shape == direct.shape and 0 < np.abs(ours - direct).max() <= 2**-15
