"""Clip audio rendered from clip MIDI, for machines that cannot download the songs from YouTube.

Conventions
-----------
This is a documented deviation from the papers, which use the recorded YouTube audio:
rendered clips are the dataset's own MIDI played by a synthesizer, so audio models trained
on them learn from a clean, uniform piano timbre, not from the recordings.

Backends (:data:`BACKENDS`):

- ``fluidsynth``: the FluidSynth command-line program (Debian package ``fluidsynth``)
  with a SoundFont, by default :data:`DEFAULT_SOUNDFONT` (Debian ``fluid-soundfont-gm``).
  The MIDI is first rewritten into a temporary file with every non-drum track on program 0
  (acoustic grand piano) and drum tracks removed; pedals and other controllers are kept.
  FluidSynth renders it faster than real time (``-ni -F out.wav -T wav -O float -r <sr>
  -g <gain>``) as 32-bit float stereo at the pipeline's sample rate (resampled with
  librosa only if FluidSynth wrote another rate), which is averaged to mono.
- ``builtin``: :func:`merflow.music.synth.render`, no soundfont needed.

Both backends read the notes with :func:`merflow.music.midi.read_notes` (all non-drum tracks)
and return float32 mono of exactly ``round((last note offset + tail_s) * sample_rate)``
samples: FluidSynth's trailing silence past the release tail is cut (and a render that
ends early is padded with zeros). Levels: FluidSynth plays at the fixed gain
:data:`FLUIDSYNTH_GAIN` (renders stay comparable across clips) and a render is scaled down
only if it would peak above :data:`merflow.music.synth.PEAK_LIMIT`; see :mod:`merflow.music.synth` for
the builtin backend. With FluidR3_GM at gain 1.0 the 1,078 EMOPIA clips peak at 0.88 at
most (none is scaled down) and are about 7.5 dB quieter than the builtin renders (median
RMS 0.028 against 0.067): compare features within one backend only.

Speed (2-core development machine, 22.05 kHz): FluidSynth about 0.3 s per 35-s clip
(~115x real time, mostly its start-up and SoundFont loading), builtin about 0.12 s; all
1,078 EMOPIA clips took 301 s with FluidSynth on 2 threads (``workers=2``).

Files: ``<out_dir>/<clip_id>.wav``, 16-bit PCM (:data:`merflow.acquisition.clips.CLIP_SUBTYPE`),
written atomically. A clip is not rendered again while its wav exists at ``sample_rate``
and is at least as new as its MIDI; use one ``out_dir`` per backend. When the backend
cannot run at all (no FluidSynth program, no usable SoundFont), every clip fails, up to
date or not, so a broken set-up never passes silently.

Failures are recorded in the ledger per clip, and the batch goes on: ``missing_file``,
``corrupt_midi``, ``no_notes`` (from :mod:`merflow.music.midi`), ``missing_fluidsynth`` (the
program is not on ``PATH``), ``missing_soundfont`` / ``invalid_soundfont`` (checked before
rendering: FluidSynth itself renders silence with a missing soundfont and exits 0),
``fluidsynth_error`` (non-zero exit, time-out, no output or a silent render of a clip that
has notes; the message ends with FluidSynth's stderr).

Coverage (:func:`coverage_report`): per split, how many manifest clips have audio, and why
the others do not.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
import symusic

from merflow.acquisition.clips import CLIP_SUBTYPE
from merflow.core.errors import InputError
from merflow.core.io import atomic_path, write_text
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress
from merflow.datasets.manifest import SPLITS
from merflow.music import synth
from merflow.music.midi import read_notes, read_score

log = logging.getLogger(__name__)

FLUIDSYNTH = "fluidsynth"
BUILTIN = "builtin"
BACKENDS = (FLUIDSYNTH, BUILTIN)
FLUIDSYNTH_BINARY = "fluidsynth"
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_RIFF = b"RIFF"
SOUNDFONT_FORM = b"sfbk"  # bytes 8..12 of a SoundFont 2 file
FLUIDSYNTH_GAIN = 1.0
FLUIDSYNTH_TIMEOUT_S = 600.0
STDERR_TAIL_CHARS = 400
PIANO_PROGRAM = 0  # General MIDI acoustic grand piano
RELEASE_TAIL_S = 0.5  # audio kept after the last note offset, seconds (as merflow.music.synth.render)
PROGRESS_EVERY = 20

STATUS_OK = "ok"
STATUS_FAILED = "failed"
#: Columns of :func:`render_clips`' table (the caller adds ``song_id`` and ``split``).
RENDER_COLUMNS = ["clip_id", "audio_path", "status"]
#: Reason of a manifest clip that has no row in the clip audio table.
NOT_ATTEMPTED = "not_attempted"
COVERAGE_COLUMNS = ["split", "n_clips", "n_audio", "fraction"]
ALL_SPLITS = "all"


# ---------------------------------------------------------------------------- one clip


def piano_score(score: symusic.Score) -> symusic.Score:
    """A copy of ``score`` without drum tracks and with every track on program 0 (grand piano)."""
    piano = score.copy()
    kept = [track for track in piano.tracks if not track.is_drum]
    piano.tracks.clear()
    for track in kept:
        track.program = PIANO_PROGRAM
        piano.tracks.append(track)
    return piano


def soundfont_problem(soundfont: str | Path | None) -> tuple[str, str] | None:
    """``(reason, message)`` if ``soundfont`` (None = the default) is unusable, else None."""
    path = Path(soundfont) if soundfont else DEFAULT_SOUNDFONT
    if not path.is_file():
        hint = " (Debian: apt-get install fluid-soundfont-gm)" if path == DEFAULT_SOUNDFONT else ""
        return "missing_soundfont", f"SoundFont {path} does not exist{hint}"
    with path.open("rb") as handle:
        header = handle.read(12)
    if header[:4] != SOUNDFONT_RIFF or header[8:12] != SOUNDFONT_FORM:
        return "invalid_soundfont", f"{path} is not a SoundFont 2 file (no RIFF/sfbk header)"
    return None


def backend_problem(backend: str, soundfont: str | Path | None) -> tuple[str, str] | None:
    """``(reason, message)`` if ``backend`` cannot render on this machine, else None.

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown rendering backend {backend!r}; choose one of {BACKENDS}")
    if backend == BUILTIN:
        return None
    if shutil.which(FLUIDSYNTH_BINARY) is None:
        message = f"{FLUIDSYNTH_BINARY!r} is not on PATH (Debian: apt-get install fluidsynth)"
        return "missing_fluidsynth", message
    return soundfont_problem(soundfont)


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """``audio`` (time on axis 0) cut to, or zero-padded at the end to, ``n_samples`` samples."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    padding = [(0, n_samples - len(audio))] + [(0, 0)] * (audio.ndim - 1)
    return np.pad(audio, padding)


def _run_fluidsynth(
    score: symusic.Score, sample_rate: int, soundfont: Path, item: str, path: Path
) -> np.ndarray:
    """FluidSynth's render of ``score`` as mono float32 at ``sample_rate`` Hz, full length."""
    with tempfile.TemporaryDirectory(prefix="merflow-render-") as tmp:
        midi, wav = Path(tmp) / "piano.mid", Path(tmp) / "render.wav"
        piano_score(score).dump_midi(str(midi))
        command = [
            FLUIDSYNTH_BINARY,
            *("-q", "-n", "-i", "-F", str(wav), "-T", "wav", "-O", "float"),
            *("-r", str(sample_rate), "-g", str(FLUIDSYNTH_GAIN), str(soundfont), str(midi)),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=FLUIDSYNTH_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            message = f"fluidsynth ran over {FLUIDSYNTH_TIMEOUT_S:.0f} s"
            raise InputError(item, "fluidsynth_error", message, path) from exc
        stderr = done.stderr.strip()[-STDERR_TAIL_CHARS:]
        if done.returncode != 0 or not wav.is_file():
            message = f"fluidsynth exited with {done.returncode}, no audio: {stderr}"
            raise InputError(item, "fluidsynth_error", message, path)
        audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)
    if not np.any(mono):
        raise InputError(item, "fluidsynth_error", f"fluidsynth rendered silence: {stderr}", path)
    return mono.astype(np.float32)


def render_midi(
    midi_path: str | Path,
    sample_rate: int,
    backend: str,
    soundfont: str | Path | None = None,
    tail_s: float = RELEASE_TAIL_S,
    item: str | None = None,
) -> np.ndarray:
    """Render one MIDI file to piano audio.

    Args:
        midi_path: the MIDI file.
        sample_rate: output sample rate, Hz.
        backend: ``fluidsynth`` or ``builtin``.
        soundfont: SoundFont for ``fluidsynth`` (None = :data:`DEFAULT_SOUNDFONT`).
        tail_s: seconds kept after the last note offset.
        item: identifier named in errors (default: the file stem).

    Returns:
        float32 mono, shape ``(round((last offset + tail_s) * sample_rate),)``, peak at most
        :data:`merflow.music.synth.PEAK_LIMIT`.

    Raises:
        InputError: see the module docstring for the reasons.
        ValueError: unknown ``backend``.
    """
    path = Path(midi_path)
    item = item or path.stem
    problem = backend_problem(backend, soundfont)
    if problem is not None:
        raise InputError(item, problem[0], problem[1], soundfont or DEFAULT_SOUNDFONT)
    notes = read_notes(path, item)
    if backend == BUILTIN:
        return synth.render(notes, sample_rate=sample_rate, tail_s=tail_s)
    font = Path(soundfont) if soundfont else DEFAULT_SOUNDFONT
    audio = _run_fluidsynth(read_score(path, item), sample_rate, font, item, path)
    audio = fit_length(audio, round((notes.end_time + tail_s) * sample_rate))
    peak = float(np.abs(audio).max())
    if peak > synth.PEAK_LIMIT:
        audio *= synth.PEAK_LIMIT / peak
    return audio


def render_as_clip(
    midi_path: str | Path,
    sample_rate: int,
    backend: str,
    soundfont: str | Path | None = None,
    item: str | None = None,
) -> np.ndarray:
    """:func:`render_midi` as the pipeline stores a clip: float32 mono ``(n_samples,)``.

    The audio goes through a :data:`~merflow.acquisition.clips.CLIP_SUBTYPE` WAV file and is read back
    by :func:`merflow.music.audio_features.load_audio`, as :func:`render_clips` writes it and the
    audio-feature stage reads it, so its samples (16-bit quantisation included) are the ones
    the pipeline computes features of. Raises what :func:`render_midi` and ``load_audio`` raise.
    """
    from merflow.music.audio_features import load_audio

    item = item or Path(midi_path).stem
    audio = render_midi(midi_path, sample_rate, backend, soundfont, item=item)
    with tempfile.TemporaryDirectory(prefix="merflow-render-") as tmp:
        wav = Path(tmp) / "clip.wav"
        sf.write(str(wav), audio, sample_rate, subtype=CLIP_SUBTYPE)
        return load_audio(wav, sample_rate, item)


# ---------------------------------------------------------------------------- a batch


def is_fresh(wav: Path, midi: Path, sample_rate: int) -> bool:
    """True if ``wav`` is a readable audio file at ``sample_rate`` at least as new as ``midi``."""
    try:
        fresh = wav.is_file() and wav.stat().st_mtime_ns >= midi.stat().st_mtime_ns
        return fresh and sf.info(str(wav)).samplerate == sample_rate
    except (OSError, sf.SoundFileError, RuntimeError):
        return False


def render_clips(
    midi_paths: Mapping[str, str],
    out_dir: Path,
    sample_rate: int,
    backend: str,
    soundfont: str | None,
    ledger: Ledger,
    tail_s: float = RELEASE_TAIL_S,
    workers: int = 1,
) -> pd.DataFrame:
    """Render each clip's MIDI to ``out_dir/<clip_id>.wav``, skipping up-to-date files.

    Args:
        midi_paths: clip ID -> MIDI file (an empty path is a ``missing_file`` failure).
        out_dir: folder of the wavs (created if needed); one per backend.
        sample_rate: Hz.
        backend: ``fluidsynth`` or ``builtin``.
        soundfont: SoundFont for ``fluidsynth`` (None = :data:`DEFAULT_SOUNDFONT`).
        ledger: receives one row per clip that could not be rendered.
        tail_s: seconds kept after each clip's last note offset.
        workers: clips rendered at once (threads; FluidSynth runs as separate processes).

    Returns:
        One row per clip of ``midi_paths``, in its order, with :data:`RENDER_COLUMNS`:
        ``status`` ``ok`` (``audio_path`` the wav) or ``failed`` (``audio_path`` '').

    Raises:
        ValueError: unknown ``backend``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problem = backend_problem(backend, soundfont)
    items = list(midi_paths.items())
    cached = {
        clip_id
        for clip_id, midi in items
        if problem is None and str(midi) and is_fresh(out_dir / f"{clip_id}.wav", Path(midi), sample_rate)
    }
    todo = [(clip_id, midi) for clip_id, midi in items if clip_id not in cached]
    log.info(
        "rendering %d clips with %s at %d Hz (%d up to date) into %s",
        len(todo),
        backend,
        sample_rate,
        len(cached),
        out_dir,
    )

    def render_one(task: tuple[str, str]) -> tuple[str, InputError | None]:
        clip_id, midi = task
        try:
            if problem is not None:
                raise InputError(clip_id, problem[0], problem[1], soundfont or DEFAULT_SOUNDFONT)
            audio = render_midi(midi, sample_rate, backend, soundfont, tail_s, clip_id)
        except InputError as err:
            return clip_id, err
        with atomic_path(out_dir / f"{clip_id}.wav") as tmp:
            sf.write(str(tmp), audio, sample_rate, subtype=CLIP_SUBTYPE)
        return clip_id, None

    progress = Progress(log, len(todo), "clips", every=PROGRESS_EVERY)
    failed: set[str] = set()
    for clip_id, error in _map(render_one, todo, workers):
        progress.step()
        if error is not None:
            ledger.record(error)
            failed.add(clip_id)
    table = pd.DataFrame({"clip_id": [clip_id for clip_id, _ in items]})
    table["audio_path"] = ["" if c in failed else str(out_dir / f"{c}.wav") for c in table["clip_id"]]
    table["status"] = [STATUS_FAILED if c in failed else STATUS_OK for c in table["clip_id"]]
    return table[RENDER_COLUMNS]


def _map(function: Callable, tasks: list, workers: int) -> Iterator:
    """``map(function, tasks)``, on ``workers`` threads when more than one; results in order."""
    if workers <= 1:
        yield from map(function, tasks)
        return
    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(function, tasks)


# ---------------------------------------------------------------------------- coverage


def coverage_report(
    manifest: pd.DataFrame, clip_audio: pd.DataFrame, ledger: pd.DataFrame | None = None
) -> pd.DataFrame:
    """How many clips of each split have audio, and why the others have none.

    Args:
        manifest: clip manifest (``clip_id``, ``split``).
        clip_audio: clip audio table (``clip_id``, ``status``; ``ok`` = has audio), e.g. from
            :func:`merflow.acquisition.clips.cut_dataset_clips` or :func:`render_clips`.
        ledger: optional ledger frame; a ``failed`` clip's reason is then the ``reason`` of
            its last ledger row (``corrupt_midi``...) instead of ``failed``.

    Returns:
        One row per split of :data:`merflow.datasets.manifest.SPLITS` (always all four),
        then ``all``: ``split``, ``n_clips``, ``n_audio``, ``fraction`` (``n_audio /
        n_clips``, NaN for an empty split), then one count column ``missing_<reason>`` per
        reason found, sorted. Reasons are the clip audio ``status`` (``no_song_audio``,
        ``no_timestamps``...), or :data:`NOT_ATTEMPTED` for clips absent from ``clip_audio``.
    """
    status = dict(zip(clip_audio["clip_id"].astype(str), clip_audio["status"].astype(str), strict=True))
    ledger_reason: dict[str, str] = {}
    if ledger is not None and len(ledger):
        ledger_reason = dict(zip(ledger["item"].astype(str), ledger["reason"].astype(str), strict=True))
    clips = pd.DataFrame({"split": manifest["split"].astype(str), "clip_id": manifest["clip_id"].astype(str)})
    clips["status"] = clips["clip_id"].map(status).fillna(NOT_ATTEMPTED)
    clips["reason"] = [
        ledger_reason.get(clip_id, s) if s == STATUS_FAILED else s
        for clip_id, s in zip(clips["clip_id"], clips["status"], strict=True)
    ]
    reasons = sorted(set(clips.loc[clips["status"] != STATUS_OK, "reason"]))
    rows = []
    for split in [*SPLITS, ALL_SPLITS]:
        part = clips if split == ALL_SPLITS else clips[clips["split"] == split]
        n_audio = int((part["status"] == STATUS_OK).sum())
        row: dict[str, object] = {
            "split": split,
            "n_clips": len(part),
            "n_audio": n_audio,
            "fraction": n_audio / len(part) if len(part) else float("nan"),
        }
        missing = part.loc[part["status"] != STATUS_OK, "reason"].value_counts()
        row.update({f"missing_{reason}": int(missing.get(reason, 0)) for reason in reasons})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COVERAGE_COLUMNS, *(f"missing_{r}" for r in reasons)])


def coverage_markdown(report: pd.DataFrame, title: str = "Audio coverage") -> str:
    """A Markdown rendering of :func:`coverage_report`'s table (fraction as a percentage)."""
    header = ["split", "clips", "with audio", "coverage"] + [
        c.removeprefix("missing_") for c in report.columns if c.startswith("missing_")
    ]
    lines = [
        f"# {title}",
        "",
        "Clips with audio per split; the last columns count the clips without audio by reason.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for _, row in report.iterrows():
        fraction = "–" if pd.isna(row["fraction"]) else f"{100 * row['fraction']:.1f} %"
        cells = [row["split"], str(row["n_clips"]), str(row["n_audio"]), fraction]
        cells += [str(row[c]) for c in report.columns if c.startswith("missing_")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_coverage_report(report: pd.DataFrame, csv_path: str | Path, markdown_path: str | Path) -> None:
    """Write :func:`coverage_report`'s table as CSV and as Markdown, atomically."""
    with atomic_path(csv_path) as tmp:
        report.to_csv(tmp, index=False)
    write_text(coverage_markdown(report), markdown_path)
