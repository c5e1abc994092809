"""Seconds to load a trained run and to label files with it (``merflow predict``'s work).

Usage: python benchmarks/bench_predict.py RUN_DIR FILE [FILE ...] [--threads 1]

Loads the run (:func:`merflow.inference.prediction.load_predictor`), labels the first file alone (it
pays for loading the AMT backend when the file is audio), then all files in one call, and
prints the load time, the first-file time and seconds per file of the batch, with the
files' total audio duration when they are audio.
"""

from __future__ import annotations

import argparse
import time

import soundfile
import torch

from merflow.inference.prediction import load_predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trained run folder")
    parser.add_argument("files", nargs="+", help="MIDI or audio files to label")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    predictor = load_predictor(args.run)
    loaded = time.perf_counter() - started
    info = predictor.info
    print(f"{info.model} ({info.estimator}, {info.features}): loaded in {loaded:.2f} s")

    started = time.perf_counter()
    predictor.predict_file(args.files[0])
    print(f"first file: {time.perf_counter() - started:.2f} s (AMT backend loaded on first audio file)")

    started = time.perf_counter()
    results = predictor.predict_files(args.files)
    seconds = time.perf_counter() - started
    failed = sum(not hasattr(r, "quadrant") for r in results)
    audio_s = sum(soundfile.info(f).duration for f in args.files if not f.lower().endswith((".mid", ".midi")))
    per_file = seconds / len(args.files)
    print(
        f"{len(args.files)} files ({failed} unreadable) in {seconds:.2f} s: {per_file:.2f} s per file", end=""
    )
    print(f", {audio_s:.0f} s of audio (realtime factor {seconds / audio_s:.3f})" if audio_s else "")


if __name__ == "__main__":
    main()
