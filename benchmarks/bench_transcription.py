"""Realtime factor of the AMT backends (basic-pitch, transkun) on this machine.

Conventions
-----------
Synthesizes ``--seconds`` (default 30) of piano-like polyphony at 22050 Hz (random chords and
melody notes, decaying harmonic partials; fixed seed), writes it to a temporary wav and
times the backend's ``transcribe`` on it ``--repeats`` times after one warm-up run (which
also loads the model; for transkun it also starts the worker in its own environment).
Prints the realtime factor = processing seconds / audio seconds (below 1 is faster than
realtime) for the best and the median run; for basic-pitch also the split between
decoding, the ONNX model and note decoding.

Run: ``python benchmarks/bench_transcription.py [--backend basic_pitch|transkun]
[--seconds 30] [--repeats 3] [--threads N]`` (transkun needs ``make transkun-env``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from merflow.transcription import get_transcriber
from merflow.transcription.basic_pitch import BasicPitchTranscriber, load_audio, model_output
from merflow.transcription.transkun import DEFAULT_PYTHON

TRANSKUN_PYTHON = Path(__file__).resolve().parents[1] / DEFAULT_PYTHON

SAMPLE_RATE = 22050
N_PARTIALS = 8
EVENT_SECONDS = 0.25  # one chord or melody note every quarter second
NOTE_SECONDS = 1.0
PITCH_RANGE = (36, 96)
SEED = 0


def piano_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Mono audio, shape (seconds * 22050,), peak 0.5: overlapping decaying harmonic notes."""
    audio = np.zeros(int(seconds * SAMPLE_RATE) + int(NOTE_SECONDS * SAMPLE_RATE))
    t = np.arange(int(NOTE_SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    k = np.arange(1, N_PARTIALS + 1)[:, None]
    for onset in np.arange(0.0, seconds, EVENT_SECONDS):
        for pitch in rng.integers(*PITCH_RANGE, size=rng.integers(1, 4)):
            f0 = 440.0 * 2.0 ** ((pitch - 69) / 12)
            partials = np.sin(2 * np.pi * k * f0 * t) * np.exp(-2.0 * k * t) / k**2
            partials[k[:, 0] * f0 >= SAMPLE_RATE / 2] = 0.0  # no aliased partials
            start = int(onset * SAMPLE_RATE)
            audio[start : start + len(t)] += rng.uniform(0.3, 1.0) * partials.sum(axis=0)
    audio = audio[: int(seconds * SAMPLE_RATE)]
    return 0.5 * audio / np.abs(audio).max()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="audio length in seconds")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument("--backend", choices=["basic_pitch", "transkun"], default="basic_pitch")
    parser.add_argument("--threads", type=int, default=2, help="transkun worker threads")
    args = parser.parse_args()

    if args.backend == "transkun":
        options = {"python": str(TRANSKUN_PYTHON), "device": "cpu", "threads": args.threads}
        transcriber = get_transcriber("transkun", **options)
    else:
        transcriber = BasicPitchTranscriber()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "bench.wav"
        soundfile.write(wav, piano_like(args.seconds, np.random.default_rng(SEED)), SAMPLE_RATE)
        tic = time.perf_counter()
        notes = transcriber.transcribe(wav, "bench")
        warmup = time.perf_counter() - tic
        runs = []
        cpu_start = time.process_time()
        for _ in range(args.repeats):
            tic = time.perf_counter()
            transcriber.transcribe(wav, "bench")
            runs.append(time.perf_counter() - tic)
        cores = (time.process_time() - cpu_start) / sum(runs)  # this process only (not transkun's worker)
        print(f"{args.backend}: audio {args.seconds:.1f} s synthetic piano, {len(notes)} notes transcribed")
        print(f"warm-up (includes model load): {warmup:.2f} s, RTF {warmup / args.seconds:.4f}")
        print(
            f"realtime factor over {args.repeats} runs: best {min(runs) / args.seconds:.4f}, "
            f"median {statistics.median(runs) / args.seconds:.4f}"
        )
        if args.backend == "basic_pitch":
            print(f"cores used (CPU seconds per wall second): {cores:.2f}")
        if args.backend == "transkun":
            transcriber.close()
            return
        tic = time.perf_counter()
        audio = load_audio(wav, "bench")
        decode = time.perf_counter() - tic
        output = model_output(audio)
        model = time.perf_counter() - tic - decode
        transcriber.notes_from_output(output, wav, "bench")
        notes_s = time.perf_counter() - tic - decode - model

    print(f"split: decode {decode:.2f} s, ONNX model {model:.2f} s, note decoding {notes_s:.2f} s")


if __name__ == "__main__":
    main()
