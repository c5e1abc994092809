"""Agreement and speed of our Krumhansl-Kessler key finding vs music21 on every EMOPIA clip.

Usage: python benchmarks/bench_key_agreement.py [EMOPIA midis folder]
(default ../shared/data/emopia/EMOPIA_1.0/midis). Prints the agreement rate and the times;
our times include parsing the MIDI with symusic, music21's its own parsing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from merflow.music.key_agreement import key_agreement

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared/data/emopia/EMOPIA_1.0/midis"


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    table = key_agreement(sorted(folder.glob("*.mid")))
    n, agree = len(table), int(table["agree"].sum())
    ours, theirs = table["seconds"].sum(), table["music21_seconds"].sum()
    print(f"{n} clips from {folder}")
    print(f"tonic+mode agreement with music21: {agree}/{n} = {agree / n:.2%}")
    print(f"ours (symusic parse + K-K): {ours:.2f} s, {n / ours:.0f} clips/s")
    print(f"music21 (parse + K-K):      {theirs:.2f} s, {n / theirs:.1f} clips/s")
    print(f"speed-up: {theirs / ours:.0f}x")
    for row in table[~table["agree"]].itertuples():
        name = Path(row.path).name
        print(
            f"  differs: {name}: ours {row.tonic} {row.mode}, music21 {row.music21_tonic} {row.music21_mode}"
        )


if __name__ == "__main__":
    main()
