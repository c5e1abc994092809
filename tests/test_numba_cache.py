"""numba's compiled cache (merflow.core.numba_cache): one writer per folder, repaired when corrupt.

The slow test runs the pattern of shared/findings/numba-cache-race.sh (which crashed 10 of 18
processes under load before the fix) through merflow's own entry points: processes that
start together on a fresh, empty cache root and call merflow's librosa and basic-pitch code,
while a CPU-bound process runs beside them, 20 trials in a row.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from merflow.core import numba_cache
from merflow.core.numba_cache import MANIFEST, OWNER_ENV, ROOT_ENV, cache_key, snapshot_problem

TRIALS = 20
PROCESSES = 3

# A job's work through merflow's entry points: audio features (chroma with its tuning estimate:
# the crash site of the finding), the beat grid, basic-pitch on a rendered tone, and a librosa
# function outside the warm-up (compiled into the process's private folder).
JOB = textwrap.dedent(
    """
    import os, sys
    import numpy as np, soundfile
    from merflow.transcription.beat_grid import estimate_beats
    from merflow.core.errors import InputError
    from merflow.music.audio_features import AudioFeatureConfig, frame_features
    from merflow.music.midi import Notes
    from merflow.transcription.basic_pitch import BasicPitchTranscriber
    import librosa

    rng = np.random.default_rng(int(sys.argv[2]))
    noise = rng.standard_normal(22050 * 3).astype(np.float32)
    frame_features(noise, AudioFeatureConfig())
    onsets = np.arange(12) * 0.5
    estimate_beats(Notes.from_arrays(onsets, onsets + 0.4, np.full(12, 60), np.full(12, 80)))
    t = np.arange(22050 * 2) / 22050
    soundfile.write(sys.argv[1], 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32), 22050)
    try:
        BasicPitchTranscriber().transcribe(sys.argv[1], "tone")
    except InputError:
        pass
    librosa.sequence.viterbi(np.full((3, 20), 1 / 3), np.full((3, 3), 1 / 3))
    print(os.environ["NUMBA_CACHE_DIR"])
    """
)
BUSY = "while True: pass"


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", OWNER_ENV)}
    return {**env, ROOT_ENV: str(root), "PYTHONFAULTHANDLER": "1"}


@pytest.mark.slow
def test_concurrent_first_calls_on_an_empty_cache_never_crash(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(JOB)
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        for trial in range(TRIALS):
            root = tmp_path / f"root{trial}"  # fresh and empty: nothing compiled yet
            processes = [
                subprocess.Popen(
                    [sys.executable, str(job), str(tmp_path / f"tone{trial}_{p}.wav"), str(p)],
                    env=_env(root),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for p in range(PROCESSES)
            ]
            outputs = [process.communicate(timeout=600) for process in processes]
            codes = [process.returncode for process in processes]
            assert codes == [0] * PROCESSES, f"trial {trial}: exit codes {codes}\n{outputs[0][1][-3000:]}"
            folders = {out.strip().splitlines()[-1] for out, _ in outputs}
            assert len(folders) == PROCESSES, f"processes shared a cache folder: {folders}"
            snapshots = [p for p in root.iterdir() if not p.name.startswith(".")]
            assert [p.name for p in snapshots] == [cache_key()]
            assert snapshot_problem(snapshots[0]) is None
    finally:
        busy.kill()
        busy.wait()


@pytest.fixture(scope="module")
def snapshot_root(tmp_path_factory) -> Path:
    """A cache root with a published snapshot, built once by a warm-up."""
    root = tmp_path_factory.mktemp("numba-root")
    assert numba_cache.ensure_snapshot(root) == root / cache_key()
    return root


@pytest.mark.slow
def test_a_corrupt_snapshot_is_set_aside_and_rebuilt(snapshot_root, tmp_path):
    snapshot = snapshot_root / cache_key()
    index = sorted(snapshot.rglob("*.nbi"))
    data = sorted(snapshot.rglob("*.nbc"))
    assert index and data and snapshot_problem(snapshot) is None
    # What a race leaves: one function's index from another process, another's data cut short.
    index[0].write_bytes(index[1].read_bytes())
    data[0].write_bytes(data[0].read_bytes()[:100])
    assert "differ from the manifest" in snapshot_problem(snapshot)
    job = tmp_path / "job.py"
    job.write_text(JOB)
    done = subprocess.run(
        [sys.executable, str(job), str(tmp_path / "tone.wav"), "0"],
        env=_env(snapshot_root),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is not usable" in done.stderr and "rebuilding it" in done.stderr
    assert snapshot_problem(snapshot) is None  # rebuilt and published again
    assert not [p for p in snapshot_root.iterdir() if p.name.startswith(".corrupt")]


def test_a_snapshot_without_its_manifest_is_not_used(tmp_path):
    folder = tmp_path / "snap"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "f.nbi").write_bytes(b"index")
    assert "no merflow-manifest.json" in snapshot_problem(folder)


def test_publish_is_atomic_and_the_first_snapshot_wins(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, content in ((first, b"one"), (second, b"two")):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "f.nbi").write_bytes(content)
    snapshot = tmp_path / "root" / "key"
    assert numba_cache.publish(first, snapshot) is True
    assert numba_cache.publish(second, snapshot) is False
    assert (snapshot / "sub" / "f.nbi").read_bytes() == b"one"
    assert json.loads((snapshot / MANIFEST).read_text())["key"] == "key"
    assert snapshot_problem(snapshot) is None
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["key"]  # no staging folder left


def test_cache_files_left_inside_installed_packages_are_removed(tmp_path, monkeypatch, caplog):
    package = tmp_path / "librosa"
    stale = [package / "core" / "__pycache__" / "pitch._pi.py311.nbi", package / "__pycache__" / "u.nbc"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stale")
    (package / "__pycache__" / "u.cpython-311.pyc").write_bytes(b"bytecode")
    monkeypatch.setattr(numba_cache, "_package_dir", lambda name: package if name == "librosa" else None)
    assert numba_cache.legacy_cache_files() == sorted(stale)
    with caplog.at_level(logging.WARNING):
        numba_cache.remove_legacy_cache(numba_cache.legacy_cache_files())
    assert not any(path.exists() for path in stale)
    assert (package / "__pycache__" / "u.cpython-311.pyc").exists()
    assert "removed 2 numba cache file(s)" in caplog.text


def test_undeletable_stale_files_get_the_command_that_removes_them(tmp_path, monkeypatch, caplog):
    stale = tmp_path / "librosa" / "__pycache__" / "u.nbi"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")

    def refuse(self, missing_ok=False):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    with caplog.at_level(logging.WARNING):
        numba_cache.remove_legacy_cache([stale])
    assert f"find {stale.parent} -name '*.nb[ic]' -delete" in caplog.text


def _report_cache_dir(queue) -> None:
    queue.put((os.getpid(), os.environ["NUMBA_CACHE_DIR"]))


def test_every_process_and_forked_child_writes_its_own_folder():
    mine = numba_cache.configure()
    assert mine is not None and os.environ["NUMBA_CACHE_DIR"] == str(mine)
    assert numba_cache.configure() == mine  # idempotent within a process
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_report_cache_dir, args=(queue,))
    child.start()
    pid, folder = queue.get(timeout=60)
    child.join()
    assert pid != os.getpid() and folder != str(mine) and Path(folder).name.startswith("merflow-numba-")
    assert os.environ["NUMBA_CACHE_DIR"] == str(mine)
    spawned = subprocess.run(
        [sys.executable, "-c", "import merflow, os; print(os.environ['NUMBA_CACHE_DIR'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert spawned.stdout.strip() not in (str(mine), folder)
