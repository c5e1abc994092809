"""Seconds per clip for rendering clip MIDI to audio (both backends) and for cutting clips.

Usage: ``python benchmarks/bench_rendering.py [--n-clips 20] [--sample-rate 22050] [--mirror DIR]``

Takes the first ``n`` EMOPIA clip MIDIs of the mirror (sorted by clip ID) and times, in a
fresh temporary folder each:

- :func:`merflow.acquisition.rendering.render_clips` with the ``builtin`` and the ``fluidsynth``
  backend (one thread; FluidSynth skipped with a message when it or its SoundFont is
  missing), then the same call again, which finds every wav up to date (the cache check);
- :func:`merflow.acquisition.clips.cut_song_clips` cutting the same clips out of one long "song": the
  builtin renders laid end to end with :data:`GAP_S` of silence between them (EMOPIA's
  songs come from YouTube, which the benchmark machine cannot reach), written as a 16-bit
  wav like a downloaded song; then again (up to date).

It prints seconds per clip and the real-time factor (seconds of audio per second of work).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from merflow.acquisition.clips import CLIP_SUBTYPE, cut_song_clips
from merflow.acquisition.rendering import BACKENDS, DEFAULT_SOUNDFONT, FLUIDSYNTH_BINARY, render_clips
from merflow.core.ledger import Ledger

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO_ROOT.parent / "shared" / "data"
EMOPIA_MIDI_DIR = Path("emopia/EMOPIA_1.0/midis")
GAP_S = 1.0
SONG_ID = "bench_song"


def time_rendering(
    midis: dict[str, str], backend: str, sample_rate: int, work: Path
) -> tuple[float, float, float]:
    """(seconds per clip, cached seconds per clip, seconds of audio rendered) for one backend."""
    out = work / backend
    start = time.perf_counter()
    table = render_clips(midis, out, sample_rate, backend, None, Ledger("bench", "emopia"))
    first = time.perf_counter() - start
    if not table["status"].eq("ok").all():
        raise RuntimeError(f"{backend}: some clips failed:\n{table}")
    start = time.perf_counter()
    render_clips(midis, out, sample_rate, backend, None, Ledger("bench", "emopia"))
    cached = time.perf_counter() - start
    audio_s = sum(sf.info(path).duration for path in table["audio_path"])
    return first / len(midis), cached / len(midis), audio_s


def time_cutting(clip_wavs: list[Path], sample_rate: int, work: Path) -> tuple[float, float, float]:
    """(seconds per clip, cached seconds per clip, song length in seconds) for clip cutting."""
    gap = np.zeros(round(GAP_S * sample_rate), dtype=np.float32)
    pieces, rows, position = [], [], 0
    for wav in clip_wavs:
        audio, _ = sf.read(str(wav), dtype="float32")
        pieces += [audio, gap]
        start_s = position / sample_rate
        rows.append(
            {
                "clip_id": wav.stem,
                "song_id": SONG_ID,
                "start_s": start_s,
                "end_s": start_s + len(audio) / sample_rate,
            }
        )
        position += len(audio) + len(gap)
    song = work / f"{SONG_ID}.wav"
    sf.write(str(song), np.concatenate(pieces), sample_rate, subtype=CLIP_SUBTYPE)
    clips = pd.DataFrame(rows)
    out = work / "cut"
    start = time.perf_counter()
    paths = cut_song_clips(SONG_ID, song, clips, out, Ledger("bench", "emopia"))
    first = time.perf_counter() - start
    if len(paths) != len(clips):
        raise RuntimeError("some clips were not cut")
    start = time.perf_counter()
    cut_song_clips(SONG_ID, song, clips, out, Ledger("bench", "emopia"))
    cached = time.perf_counter() - start
    return first / len(clips), cached / len(clips), position / sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=20)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    args = parser.parse_args()

    midi_dir = args.mirror / EMOPIA_MIDI_DIR
    paths = sorted(midi_dir.glob("*.mid"))[: args.n_clips]
    if not paths:
        raise SystemExit(f"no EMOPIA MIDI under {midi_dir}")
    midis = {path.stem: str(path) for path in paths}
    print(f"{len(midis)} EMOPIA clips from {midi_dir}, {args.sample_rate} Hz, one thread")
    with tempfile.TemporaryDirectory(prefix="bench-rendering-") as tmp:
        work = Path(tmp)
        for backend in BACKENDS:
            if backend == "fluidsynth" and (
                shutil.which(FLUIDSYNTH_BINARY) is None or not DEFAULT_SOUNDFONT.is_file()
            ):
                print(f"{backend:>10}: skipped (needs `{FLUIDSYNTH_BINARY}` and {DEFAULT_SOUNDFONT})")
                continue
            per_clip, cached, audio_s = time_rendering(midis, backend, args.sample_rate, work)
            realtime = audio_s / (per_clip * len(midis))
            print(
                f"{backend:>10}: {per_clip:.3f} s/clip render ({realtime:.0f}x real time, "
                f"{audio_s / len(midis):.1f} s of audio per clip), "
                f"{cached * 1000:.2f} ms/clip when up to date"
            )
        per_clip, cached, song_s = time_cutting(
            sorted((work / "builtin").glob("*.wav")), args.sample_rate, work
        )
        print(
            f"{'cutting':>10}: {per_clip * 1000:.2f} ms/clip from one {song_s / 60:.1f}-min song "
            f"(read once), {cached * 1000:.2f} ms/clip when up to date"
        )


if __name__ == "__main__":
    main()
