"""Clip cutting: sample-exact excerpts of a song's audio, one wav per clip.

Conventions
-----------
- Audio arrays have time on axis 0: ``(n_samples,)`` for mono, ``(n_samples, n_channels)``
  otherwise; sample rates in Hz, times in seconds.
- A clip from ``start_s`` to ``end_s`` is samples ``round(start_s * sr)`` (included) to
  ``round(end_s * sr)`` (excluded), rounding half up, so 3.0..5.0 s at 22050 Hz is exactly
  44100 samples (66150..110249).
- Nothing is padded. A clip may end up to :data:`END_TOLERANCE_S` past the end of the audio
  (decoders and sites disagree on a song's last fraction of a second): it is then truncated
  to the audio's end. A clip that starts at or after the end, ends more than the tolerance
  after it, starts before 0 or is empty raises :class:`~merflow.core.errors.InputError` with
  reason ``clip_out_of_range``.
- Clip files are ``<out_dir>/<clip_id>.wav``, 16-bit PCM at the song's sample rate, written
  atomically (:func:`merflow.core.io.atomic_path`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from merflow.core.errors import InputError
from merflow.core.io import atomic_path, wav_shortfall
from merflow.core.ledger import Ledger

#: How far (seconds) a clip may end past the end of the audio; it is truncated to the end.
END_TOLERANCE_S = 0.5
#: Sample format of clip files.
CLIP_SUBTYPE = "PCM_16"
OUT_OF_RANGE = "clip_out_of_range"


def to_sample(time_s: float, sample_rate: int) -> int:
    """Sample index of ``time_s`` seconds at ``sample_rate`` Hz, rounded half up."""
    return math.floor(time_s * sample_rate + 0.5)


def clip_bounds(
    n_samples: int,
    sample_rate: int,
    start_s: float,
    end_s: float,
    clip_id: str = "clip",
    path: str | Path | None = None,
) -> tuple[int, int]:
    """Sample range ``[start, stop)`` of a clip in audio of ``n_samples`` samples.

    ``clip_id`` and ``path`` (the song's file) are named in the error.

    Raises:
        InputError: reason ``clip_out_of_range`` (see the module conventions).
    """
    start, stop = to_sample(start_s, sample_rate), to_sample(end_s, sample_rate)
    tolerance = to_sample(END_TOLERANCE_S, sample_rate)
    where = f"{start_s:.3f}-{end_s:.3f} s of {n_samples / sample_rate:.3f} s audio"
    if start < 0 or stop <= start:
        raise InputError(clip_id, OUT_OF_RANGE, f"negative start or empty clip: {where}", path)
    if start >= n_samples:
        raise InputError(clip_id, OUT_OF_RANGE, f"clip starts after the audio ends: {where}", path)
    if stop > n_samples + tolerance:
        message = f"clip ends more than {END_TOLERANCE_S} s after the audio: {where}"
        raise InputError(clip_id, OUT_OF_RANGE, message, path)
    return start, min(stop, n_samples)


def cut_clip(
    song: np.ndarray, sample_rate: int, start_s: float, end_s: float, clip_id: str = "clip"
) -> np.ndarray:
    """Samples ``round(start_s*sr)`` to ``round(end_s*sr)`` of ``song`` (a view, time on axis 0).

    Args:
        song: audio, shape ``(n_samples,)`` or ``(n_samples, n_channels)``.
        sample_rate: sample rate of ``song``, Hz.
        start_s: clip start, seconds.
        end_s: clip end, seconds; truncated to the audio's end if within :data:`END_TOLERANCE_S`.
        clip_id: named in the error.

    Returns:
        Shape ``(stop - start,)`` or ``(stop - start, n_channels)``.

    Raises:
        InputError: reason ``clip_out_of_range``.
    """
    start, stop = clip_bounds(len(song), sample_rate, start_s, end_s, clip_id)
    return song[start:stop]


def _has_frames(path: Path, n_frames: int) -> bool:
    """True if ``path`` is a readable audio file of exactly ``n_frames`` frames."""
    try:
        return path.is_file() and sf.info(str(path)).frames == n_frames
    except (sf.SoundFileError, RuntimeError):
        return False


def cut_song_clips(
    song_id: str, song_wav: Path, clips: pd.DataFrame, out_dir: Path, ledger: Ledger
) -> list[Path]:
    """Cut the clips of one song into ``out_dir/<clip_id>.wav``, reading the song at most once.

    Clips whose file already exists with the expected number of samples, and is newer than
    the song's file, are kept as they are;
    the song's samples are read only if some clip must be written. Failures (unreadable song,
    clip out of range) are recorded in ``ledger``, one row per clip lost; a truncated WAV
    song (:func:`merflow.core.io.wav_shortfall`) counts as unreadable.

    Args:
        song_id: the song; rows of ``clips`` with another ``song_id`` are ignored.
        song_wav: the song's audio file.
        clips: manifest rows with ``clip_id``, ``song_id``, ``start_s``, ``end_s``.
        out_dir: folder of the clip wavs (created if needed).
        ledger: receives failures.

    Returns:
        Paths of the clips now present, in the order of ``clips``.
    """
    song_clips = clips[clips["song_id"].astype(str) == str(song_id)]

    def lose_all(clip_ids: list[str], exc: Exception) -> list[Path]:
        reason = "corrupt_audio" if Path(song_wav).is_file() else "missing_file"
        for clip_id in clip_ids:
            ledger.record(InputError(clip_id, reason, f"song {song_id}: {exc}", song_wav))
        return []

    try:
        info = sf.info(str(song_wav))
        shortfall = wav_shortfall(song_wav)
    except (sf.SoundFileError, RuntimeError) as exc:
        return lose_all(song_clips["clip_id"].astype(str).tolist(), exc)
    if shortfall:  # libsndfile would silently read the part that is there
        return lose_all(song_clips["clip_id"].astype(str).tolist(), ValueError(shortfall))

    todo: list[tuple[str, Path, int, int]] = []
    present: dict[str, Path] = {}
    for clip_id, start_s, end_s in zip(
        song_clips["clip_id"].astype(str), song_clips["start_s"], song_clips["end_s"], strict=True
    ):
        out = Path(out_dir) / f"{clip_id}.wav"
        try:
            start, stop = clip_bounds(
                info.frames, info.samplerate, float(start_s), float(end_s), clip_id, song_wav
            )
        except InputError as err:
            ledger.record(err)
            continue
        if _has_frames(out, stop - start) and out.stat().st_mtime_ns >= Path(song_wav).stat().st_mtime_ns:
            present[clip_id] = out
        else:
            todo.append((clip_id, out, start, stop))

    if todo:
        try:
            song, _ = sf.read(str(song_wav), dtype="float32")
        except (sf.SoundFileError, RuntimeError) as exc:
            lose_all([clip_id for clip_id, *_ in todo], exc)
        else:
            if not np.isfinite(song).all():  # PCM clips would turn NaN into silence or full scale
                lose_all([clip_id for clip_id, *_ in todo], ValueError("non-finite samples"))
                todo = []
            for clip_id, out, start, stop in todo:
                with atomic_path(out) as tmp:
                    sf.write(str(tmp), song[start:stop], info.samplerate, subtype=CLIP_SUBTYPE)
                present[clip_id] = out
    return [present[c] for c in song_clips["clip_id"].astype(str) if c in present]


#: Columns of the clip audio table written by :func:`cut_dataset_clips`.
CLIP_AUDIO_COLUMNS = ["clip_id", "song_id", "split", "audio_path", "status"]


def cut_dataset_clips(
    manifest: pd.DataFrame, downloads: pd.DataFrame, out_dir: Path, ledger: Ledger
) -> pd.DataFrame:
    """Cut every clip of a dataset from its downloaded song.

    Args:
        manifest: the clip manifest.
        downloads: download status of the songs (``song_id``, ``path``, ``status``).
        out_dir: folder of the clip wavs.
        ledger: receives clips that could not be cut, and one ``no_song_audio`` row per clip
            of a song whose download failed (naming the song and its download reason, so
            the ledger lists every lost clip; the song's own row is in the download ledger).

    Returns:
        One row per manifest clip with :data:`CLIP_AUDIO_COLUMNS`; ``status`` is ``ok``,
        ``no_song_audio`` (the song's download failed), ``no_timestamps`` (the dataset does
        not say where the clip lies in its song; recorded when the manifest was built) or
        ``failed`` (cutting failed).
    """
    timed = manifest["start_s"].notna() & manifest["end_s"].notna()
    song_wavs = dict(zip(downloads["song_id"], downloads["path"], strict=True))
    ok_songs = set(downloads.loc[downloads["status"] != "failed", "song_id"])
    present: dict[str, Path] = {}
    for song_id in sorted(ok_songs):
        paths = cut_song_clips(song_id, Path(song_wavs[song_id]), manifest[timed], out_dir, ledger)
        present.update({path.stem: path for path in paths})
    status = [
        "ok"
        if clip in present
        else "no_timestamps"
        if not has_time
        else "no_song_audio"
        if song not in ok_songs
        else "failed"
        for clip, song, has_time in zip(manifest["clip_id"], manifest["song_id"], timed, strict=True)
    ]
    reasons = dict(zip(downloads["song_id"], downloads.get("reason", ""), strict=True))
    for clip, song, state in zip(manifest["clip_id"], manifest["song_id"], status, strict=True):
        if state == "no_song_audio":
            message = f"song {song} has no audio (download: {reasons.get(song) or 'failed'})"
            ledger.record(InputError(clip, "no_song_audio", message, song_wavs.get(song, "")))
    table = manifest[["clip_id", "song_id", "split"]].copy()
    table["audio_path"] = [str(present[c]) if c in present else "" for c in manifest["clip_id"]]
    table["status"] = status
    return table[CLIP_AUDIO_COLUMNS]
