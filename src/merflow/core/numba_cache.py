"""numba's compiled cache, written by one process per folder: no race, no corrupt cache.

Why
---
librosa (and basic-pitch through it) compiles numba functions with ``cache=True`` and stores
them beside its own files (``site-packages/librosa/**/__pycache__/*.nbi|*.nbc``) or in
``NUMBA_CACHE_DIR``. When two processes compile the same gufunc into one folder at once, the
index and data files of that function can come from different processes, and every later
process that loads them dies with SIGSEGV (numba issue #10128, unfixed upstream; traced in
``shared/findings/numba-cache-race.md``). A fresh install has an empty cache, so the first
parallel jobs of a pipeline run raced, and the corrupt files stayed.

What merflow does
-----------------
- **A private cache per process.** :func:`configure` (run when ``merflow`` is imported, before
  librosa or numba compile anything) points ``NUMBA_CACHE_DIR`` at a folder that only this
  process writes: ``$TMPDIR/merflow-numba-<pid>-<random>``, removed at exit. A forked child
  (multiprocessing) gets its own folder too. No folder is ever written by two processes.
- **A published snapshot, read-only.** So that processes do not pay numba's compile time
  (about 20 s on 2 cores) each, one warm-up process compiles the functions merflow calls
  (:mod:`merflow.numba_warmup`: the audio features, the beat tracker, basic-pitch) into its own private
  folder, lists every file with its SHA-256 in ``merflow-manifest.json``, and publishes it by
  renaming it, whole, to ``<root>/<key>`` (an atomic rename; if another process published
  first, its snapshot is kept). Every process then copies the snapshot into its private
  folder (76 files, 3.9 MB). The key names the Python, numba and librosa versions and hashes
  the installed files' locations, so another environment never reads it.
- **The root** is ``$MERFLOW_NUMBA_CACHE`` if set, else ``$XDG_CACHE_HOME/merflow/numba``
  (``~/.cache/merflow/numba``): on a cluster, a home folder shared by the nodes works, since
  publication is one rename. A file lock keeps concurrent first processes from compiling the
  same warm-up twice; correctness does not depend on it (a file system without locks only
  costs a second compilation).
- **Repair.** A snapshot whose files do not match its manifest (or that has none) is set
  aside and rebuilt, with a warning naming it. numba cache files that an older merflow left
  inside the installed librosa/resampy packages (where a race could corrupt them) are
  deleted at the first publication; if they cannot be deleted, the warning says which
  command does it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Environment variable naming the root folder of published snapshots.
ROOT_ENV = "MERFLOW_NUMBA_CACHE"
#: The module run (``python -m``) in the warm-up process. It is not imported here, so that
#: ``merflow`` (which imports this module) does not depend on the audio code it exercises.
WARM_UP_MODULE = "merflow.numba_warmup"
#: Set (to anything) in the warm-up process itself, so that it does not start another one.
WARM_UP_ENV = "MERFLOW_NUMBA_WARM_UP"
#: Set in a process whose private folder is ``NUMBA_CACHE_DIR``: the owner's pid.
OWNER_ENV = "MERFLOW_NUMBA_CACHE_OWNER"
#: The manifest written last into a snapshot: ``{"files": {relative path: sha256}, ...}``.
MANIFEST = "merflow-manifest.json"
#: Prefix of the private folders under the temporary directory.
PRIVATE_PREFIX = "merflow-numba-"
#: Packages whose numba functions merflow calls (their versions and locations key a snapshot).
PACKAGES = ("numba", "librosa", "resampy", "basic-pitch")
#: numba cache files, as numba names them (index, data).
CACHE_SUFFIXES = (".nbi", ".nbc")
#: Bump when :mod:`merflow.numba_warmup` covers other functions: older snapshots are then not used.
WARM_UP_VERSION = 1

_private_dir: Path | None = None


def default_root() -> Path:
    """``$MERFLOW_NUMBA_CACHE``, else ``$XDG_CACHE_HOME/merflow/numba`` (``~/.cache/merflow/numba``)."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "merflow" / "numba"


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package (``basic-pitch`` -> ``basic_pitch``), None if absent."""
    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def cache_key() -> str:
    """Snapshot folder name: Python, machine and versions, plus a hash of the installed files.

    Example: ``py3.11-x86_64-numba0.68.1-librosa0.11.0-3f9a0c12d4e5``. The hash covers each
    package's version, folder and ``__init__.py`` modification time (numba's index checks
    the source files' times), and :data:`WARM_UP_VERSION`.
    """
    parts: list[str] = [sys.version, platform.machine(), str(WARM_UP_VERSION)]
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "none"
        folder = _package_dir(name)
        stamp = "" if folder is None else f"{folder}:{(folder / '__init__.py').stat().st_mtime_ns}"
        parts.append(f"{name}={versions[name]}@{stamp}")
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return f"{python}-{platform.machine()}-numba{versions['numba']}-librosa{versions['librosa']}-{digest}"


def _file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every numba cache file under ``folder``, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.suffix in CACHE_SUFFIXES and path.is_file()
    }


def snapshot_problem(snapshot: Path) -> str | None:
    """Why ``snapshot`` cannot be used (no manifest, a file missing or altered), or None if sound."""
    manifest = snapshot / MANIFEST
    if not manifest.is_file():
        return f"no {MANIFEST} (an unfinished or foreign folder)"
    try:
        expected = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable {MANIFEST}: {error}"
    found = _file_hashes(snapshot)
    if found != expected:
        changed = sorted(set(found.items()) ^ set(expected.items()))
        return f"{len(changed)} cache file(s) differ from the manifest, e.g. {changed[0][0]}"
    return None


def publish(private: Path, snapshot: Path) -> bool:
    """Copy ``private`` with a manifest into ``snapshot`` by one atomic rename.

    Returns:
        True if this call published it, False if another process had already.
    """
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{snapshot.name}-", dir=snapshot.parent))
    try:
        shutil.copytree(private, staging, dirs_exist_ok=True)
        files = _file_hashes(staging)
        manifest = {"files": files, "key": snapshot.name, "created": time.time(), "pid": os.getpid()}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        staging.rename(snapshot)
    except OSError:
        if snapshot.is_dir():  # another process published first: keep its snapshot
            return False
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("published numba's compiled cache (%d files) to %s", len(files), snapshot)
    return True


def set_aside(snapshot: Path, reason: str) -> None:
    """Move a corrupt ``snapshot`` out of the way (then delete it), with a warning."""
    log.warning("numba cache snapshot %s is not usable (%s): rebuilding it", snapshot, reason)
    trash = snapshot.with_name(f".corrupt-{snapshot.name}-{os.getpid()}-{time.time_ns()}")
    with contextlib.suppress(FileNotFoundError):
        snapshot.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def legacy_cache_files() -> list[Path]:
    """numba cache files inside the installed packages (written before merflow owned the cache)."""
    files: list[Path] = []
    for name in PACKAGES:
        folder = _package_dir(name)
        if folder is not None and name != "numba":
            files += [p for p in folder.rglob("__pycache__/*") if p.suffix in CACHE_SUFFIXES]
    return sorted(files)


def remove_legacy_cache(files: list[Path]) -> None:
    """Delete in-package numba cache files; warn with the command if some cannot be deleted."""
    stuck = []
    for path in files:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            stuck.append(path)
    if files:
        log.warning(
            "removed %d numba cache file(s) left inside installed packages (a race could have "
            "corrupted them; merflow keeps its own cache now)",
            len(files) - len(stuck),
        )
    if stuck:
        folders = sorted({str(p.parent) for p in stuck})
        log.warning(
            "could not delete %d numba cache file(s); a process that loads them may crash. "
            "Delete them with: find %s -name '*.nb[ic]' -delete",
            len(stuck),
            " ".join(folders),
        )


def _warm_up_and_publish(snapshot: Path) -> None:
    """Run :mod:`merflow.numba_warmup` in a child process (its private folder), then publish that."""
    private = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}warm-up-{os.getpid()}-"))
    try:
        env = {**os.environ, WARM_UP_ENV: "1", "NUMBA_CACHE_DIR": str(private), OWNER_ENV: "warm-up"}
        started = time.perf_counter()
        log.info("compiling librosa's and basic-pitch's numba functions once (about 20 s on 2 cores)")
        subprocess.run(
            [sys.executable, "-m", WARM_UP_MODULE],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        log.info("compiled in %.1f s", time.perf_counter() - started)
        if publish(private, snapshot):
            remove_legacy_cache(legacy_cache_files())
    finally:
        shutil.rmtree(private, ignore_errors=True)


def ensure_snapshot(root: Path | None = None) -> Path | None:
    """The sound published snapshot for this environment, built first if needed.

    Returns None (after a warning) if it cannot be built: processes then compile privately.
    """
    root = default_root() if root is None else Path(root)
    snapshot = root / cache_key()
    if snapshot.is_dir():
        problem = snapshot_problem(snapshot)
        if problem is None:
            return snapshot
        set_aside(snapshot, problem)
    try:
        root.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock

        with FileLock(root / f".{snapshot.name}.lock"):
            if not (snapshot.is_dir() and snapshot_problem(snapshot) is None):
                _warm_up_and_publish(snapshot)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        log.warning(
            "could not build numba's cache snapshot in %s (%s%s); each process compiles its own",
            root,
            error,
            f": {detail.decode(errors='replace')[-2000:]}" if detail else "",
        )
        return None
    return snapshot if snapshot.is_dir() else None


def _remove_stale_private_dirs() -> None:
    """Delete private folders of processes of this machine that no longer run (killed ones)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PRIVATE_PREFIX}[0-9]*-*"):
        pid = folder.name[len(PRIVATE_PREFIX) :].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            pass


def _use_private_dir(seed: Path | None) -> Path:
    """Make this process's private cache folder (a copy of ``seed``) and point numba at it."""
    global _private_dir
    private = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-"))
    if seed is not None:
        shutil.copytree(seed, private, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
    os.environ["NUMBA_CACHE_DIR"] = str(private)
    os.environ[OWNER_ENV] = str(os.getpid())
    numba = sys.modules.get("numba")
    if numba is not None:  # numba read its configuration at import: update it too
        numba.config.CACHE_DIR = str(private)
    _private_dir = private
    atexit.register(shutil.rmtree, private, True)
    return private


def _after_fork_in_child() -> None:
    """A forked child gets its own private folder, seeded from its parent's."""
    if _private_dir is not None:
        _use_private_dir(_private_dir)


def configure() -> Path | None:
    """Give this process a private ``NUMBA_CACHE_DIR``, seeded from the published snapshot.

    Idempotent within a process. In the warm-up process (``MERFLOW_NUMBA_WARM_UP`` set) it
    keeps the folder it was given. Without librosa installed (e.g. transkun's environment)
    it does nothing.

    Returns:
        the private folder, or None when nothing was configured.
    """
    if _private_dir is not None and os.environ.get(OWNER_ENV) == str(os.getpid()):
        return _private_dir
    if os.environ.get(WARM_UP_ENV) or importlib.util.find_spec("librosa") is None:
        return None
    _remove_stale_private_dirs()
    return _use_private_dir(ensure_snapshot())


os.register_at_fork(after_in_child=_after_fork_in_child)


if __name__ == "__main__":  # `python -m merflow.core.numba_cache`: build (or check) the snapshot
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(ensure_snapshot() or "no snapshot (see the warning above)")
