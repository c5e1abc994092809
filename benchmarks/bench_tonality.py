"""Speed of merflow's vectorized Krumhansl-Kessler key finding against music21's.

Usage: ``python benchmarks/bench_tonality.py [--n-pieces 200] [--seed 0]``

Both implementations see the same random, seeded synthetic pieces (a random key, notes and
chords drawn mostly from its scale, durations from a set of quarter lengths, played at
120 BPM). Pieces are built before timing; music21 is timed on ``Stream.analyze(
'key.krumhanslkessler')``, merflow on :func:`merflow.music.tonality.estimate_key` per piece and
on the batched :func:`merflow.music.tonality.key_table` (pitch-class profiles included). The
script also prints how often the two agree on tonic and mode.

:func:`synthetic_piece`, :func:`to_notes` and :func:`to_stream` are reused by
``tests/test_tonality.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from merflow.music.midi import Notes
from merflow.music.tonality import estimate_key, key_table

SECONDS_PER_QUARTER = 0.5  # 120 BPM
QUARTER_LENGTHS = (0.25, 0.5, 1.0, 1.5, 2.0)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
HARMONIC_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 11)
TONIC_TRIAD_WEIGHT = 2.0  # scale degrees 1, 3, 5 are drawn this many times more often
CHROMATIC_PROBABILITY = 0.15
CHORD_PROBABILITY = 0.3
VELOCITY = 80

#: One event of a synthetic piece: (MIDI pitches sounding together, quarter length).
Event = tuple[list[int], float]


def synthetic_piece(rng: np.random.Generator, n_events: int = 40) -> list[Event]:
    """A random tonal piece: single notes and chords played one after the other.

    The key (tonic, major or harmonic minor) is random; pitches come from its scale with
    the tonic triad favoured, with some chromatic notes, in octaves 3..5.
    """
    tonic = int(rng.integers(12))
    scale = np.array(MAJOR_SCALE if rng.random() < 0.5 else HARMONIC_MINOR_SCALE)
    weights = np.ones(len(scale))
    weights[[0, 2, 4]] = TONIC_TRIAD_WEIGHT
    weights /= weights.sum()
    events = []
    for _ in range(n_events):
        size = int(rng.integers(2, 5)) if rng.random() < CHORD_PROBABILITY else 1
        classes = tonic + rng.choice(scale, size=size, replace=False, p=weights)
        chromatic = rng.random(size) < CHROMATIC_PROBABILITY
        classes = np.where(chromatic, rng.integers(12, size=size), classes) % 12
        pitches = sorted({int(12 * rng.integers(4, 7) + pc) for pc in classes})
        events.append((pitches, float(rng.choice(QUARTER_LENGTHS))))
    return events


def to_notes(events: list[Event]) -> Notes:
    """The piece as :class:`Notes` at 120 BPM."""
    quarter_lengths = np.array([ql for _, ql in events])
    starts = np.concatenate([[0.0], np.cumsum(quarter_lengths)[:-1]]) * SECONDS_PER_QUARTER
    onset, offset, pitch = [], [], []
    for (pitches, ql), start in zip(events, starts, strict=True):
        onset += [start] * len(pitches)
        offset += [start + ql * SECONDS_PER_QUARTER] * len(pitches)
        pitch += pitches
    return Notes.from_arrays(onset, offset, pitch, [VELOCITY] * len(pitch))


def to_stream(events: list[Event]):
    """The piece as a music21 stream (notes and chords appended in order)."""
    from music21 import chord, note, stream

    piece = stream.Stream()
    for pitches, ql in events:
        element = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
        element.quarterLength = ql
        piece.append(element)
    return piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pieces", type=int, default=200)
    parser.add_argument("--n-events", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pieces = [synthetic_piece(rng, args.n_events) for _ in range(args.n_pieces)]
    notes = {f"piece{i:04d}": to_notes(events) for i, events in enumerate(pieces)}
    streams = [to_stream(events) for events in pieces]
    n = args.n_pieces

    start = time.perf_counter()
    theirs = [s.analyze("key.krumhanslkessler") for s in streams]
    t_music21 = time.perf_counter() - start

    start = time.perf_counter()
    ours = [estimate_key(piece) for piece in notes.values()]
    t_loop = time.perf_counter() - start

    start = time.perf_counter()
    key_table(notes)
    t_batch = time.perf_counter() - start

    agree = np.mean(
        [(k.tonic == m.tonic.pitchClass and k.mode == m.mode) for k, m in zip(ours, theirs, strict=True)]
    )
    print(f"{n} pieces of {args.n_events} events; tonic+mode agreement with music21: {agree:.1%}")
    for label, seconds in [
        ("music21 analyze('key.krumhanslkessler')", t_music21),
        ("merflow estimate_key, one call per piece", t_loop),
        ("merflow key_table, one batch", t_batch),
    ]:
        print(f"{label:<42} {n / seconds:12.0f} clips/s   x{t_music21 / seconds:8.1f} vs music21")


if __name__ == "__main__":
    main()
