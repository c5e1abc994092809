"""Content digest of a mirrored dataset folder, kept current by file stats (as git's index is).

The manifest rules read whole dataset folders of the local mirror (``data_mirror``): EMOPIA,
VGMIDI and the pretraining corpora hold 5,119 files, a user corpus (Lakh MIDI) 100,000 or
more. Declaring every file as a Snakemake input made each invocation (a no-op included) build,
stat and resolve thousands of input files, and a mirror copied again with new modification
times (same content) reran the manifests and everything downstream of them. Instead a rule
carries the folder's digest as a param: it changes exactly when a file is added, removed or
changed in content.

- :func:`folder_digest`: ``"<n> files, sha256 <16 hex>"`` over the sorted (relative path,
  SHA-256 of content) pairs of every file under the folder (symlinks followed, hidden files
  included). An absent folder digests as ``"absent"``.
- Content hashes are cached in a JSON file per folder, keyed by relative path with the file's
  size and modification time (ns): a file whose size and mtime match its cached entry is not
  read again, so a repeated digest of an unchanged folder costs one ``stat`` per file. The cache
  is rewritten atomically (a temporary file renamed over it) only when an entry changed; a
  missing or unreadable cache is rebuilt by reading every file once. The cache only saves
  time: if it cannot be written (a read-only folder, a concurrent writer), the digest is the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from merflow.core.provenance import file_sha256

#: Hex digits of the folder digest shown in params (64 bits: collisions need about 4e9 folders).
DIGEST_HEX = 16


def _files(folder: Path) -> list[tuple[str, os.stat_result]]:
    """(relative POSIX path, stat) of every file under ``folder``, sorted by path (one ``stat`` each)."""
    found = []
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(folder / relative if relative else folder) as entries:
            for entry in entries:
                name = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_dir():
                    pending.append(name)
                elif entry.is_file():
                    found.append((name, entry.stat()))
    return sorted(found, key=lambda item: item[0])


def _read_cache(cache_file: Path) -> dict[str, list]:
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _write_cache(cache_file: Path, entries: dict[str, list]) -> None:
    """Replace ``cache_file`` by ``entries`` atomically; give up quietly if it cannot be written."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{cache_file.name}.", dir=cache_file.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entries, handle)
        Path(temporary).replace(cache_file)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def folder_digest(folder: str | Path, cache_file: str | Path) -> str:
    """Digest of every file's content under ``folder`` (see the module docstring).

    Args:
        folder: the dataset folder of the mirror.
        cache_file: JSON file of cached content hashes for this folder (created if absent).
    """
    folder, cache_file = Path(folder), Path(cache_file)
    if not folder.is_dir():
        return "absent"
    cached = _read_cache(cache_file)
    entries: dict[str, list] = {}
    for relative, stat in _files(folder):
        known = cached.get(relative)
        if isinstance(known, list) and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            entries[relative] = known
        else:
            entries[relative] = [stat.st_size, stat.st_mtime_ns, file_sha256(folder / relative)]
    if entries != cached:
        _write_cache(cache_file, entries)
    digest = hashlib.sha256()
    for relative, (_size, _mtime, content) in entries.items():
        digest.update(f"{relative}\t{content}\n".encode())
    return f"{len(entries)} files, sha256 {digest.hexdigest()[:DIGEST_HEX]}"
