"""A new user's first `make demo`, several times: fresh clone, fresh caches, a busy core beside it.

Each round clones the repository (its committed HEAD) into a new folder, gives it an empty
numba cache root (``MERFLOW_NUMBA_CACHE``: what a new machine has), starts a CPU-bound process
(a user's other work; the numba cache race of shared/findings/numba-cache-race.md showed under
load), runs ``make demo``, then ``make demo`` again (a rerun must not crash either: Snakemake
answers "Nothing to be done"). It prints, per round and in total: passes, the wall time of
each step, and the installed size (``.venv``; ``.venv-transkun`` must not exist).

Not part of the test suite (about 5 minutes a round on 2 cores). Usage:

    python benchmarks/bench_fresh_demo.py [--rounds 5] [--work /tmp/fresh-demo]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed), 0 if it does not exist."""
    if not folder.exists():
        return 0
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def timed(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, float]:
    """Run ``command`` with its output to ``log``; return (exit status, seconds)."""
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    return code, time.perf_counter() - started


def one_round(k: int, work: Path) -> dict[str, object]:
    """Clone, then `make demo` twice beside a busy process; the figures of this round."""
    root = work / f"round{k}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    clone = root / "merflow"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = {**os.environ, "MERFLOW_NUMBA_CACHE": str(root / "numba-cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("VIRTUAL_ENV", None)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first, first_s = timed(["make", "demo"], clone, env, root / "first.log")
        second, second_s = timed(["make", "demo"], clone, env, root / "second.log")
    finally:
        busy.kill()
        busy.wait()
    text = (root / "first.log").read_text(errors="replace")
    crashed = [line for line in text.splitlines() if "SIGSEGV" in line or "Segmentation fault" in line]
    return {
        "round": k,
        "first_ok": first == 0,
        "first_s": first_s,
        "second_ok": second == 0 and "Nothing to be done" in (root / "second.log").read_text(),
        "second_s": second_s,
        "venv_gb": folder_bytes(clone / ".venv") / 1e9,
        "transkun_env": (clone / ".venv-transkun").exists(),
        "crash_lines": len(crashed),
        "log": str(root / "first.log"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/fresh-demo"))
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"make demo from a fresh clone of {commit}, a CPU-bound process beside it, {args.rounds} rounds")
    print("round  first make demo   second (rerun)   .venv    .venv-transkun  crash lines")
    rows = []
    for k in range(args.rounds):
        row = one_round(k, args.work)
        rows.append(row)
        print(
            f"{k:>5}  {'pass' if row['first_ok'] else 'FAIL'} {row['first_s']:7.1f} s    "
            f"{'pass' if row['second_ok'] else 'FAIL'} {row['second_s']:6.1f} s    "
            f"{row['venv_gb']:.2f} GB  {'built' if row['transkun_env'] else 'absent':<14}  "
            f"{row['crash_lines']}",
            flush=True,
        )
    passes = sum(bool(r["first_ok"]) and bool(r["second_ok"]) for r in rows)
    mean_first = sum(float(r["first_s"]) for r in rows) / len(rows)
    print(
        f"passed {passes} of {len(rows)} rounds (both runs); first make demo (install + demo) "
        f"{mean_first:.0f} s on average; .venv {max(float(r['venv_gb']) for r in rows):.2f} GB at most"
    )
    return 0 if passes == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
