"""Obtain a dataset folder: from a local mirror, or by downloading and unpacking an archive.

Conventions
-----------
A *mirror* is a folder holding one sub-folder per dataset, named like the dataset
(``<mirror>/emopia``, ``<mirror>/vgmidi``: the layout of ``../shared/data`` that tests and
CI use). A mirrored dataset is used in place, never copied.

Otherwise the dataset's archive (``.zip``, ``.tar``, ``.tar.gz``...) is fetched from its
``url`` with :mod:`urllib` (``https://``, ``http://`` or ``file://``), streamed to a
temporary file beside ``target_dir`` while its checksum is computed, compared with
``checksum`` (``"sha256:<hex>"``, ``"md5:<hex>"``, or bare hex: 64 digits mean SHA-256,
32 MD5), unpacked into a temporary folder beside ``target_dir``, checked for the marker
files, and only then renamed to ``target_dir``. A failure at any step removes the
temporary files and leaves ``target_dir`` absent, so a half-downloaded or corrupt
dataset is never mistaken for a complete one. Unpacking refuses members that would land
outside the folder (absolute paths, ``..``, links out).

*Markers* are paths relative to the dataset folder (files or folders) that a complete
copy must contain; a folder is accepted only if all are there.

Every failure raises :class:`~merflow.core.errors.InputError` with ``item`` = dataset name,
``path`` = the URL or folder concerned and one of the reasons ``missing_folder``,
``missing_file`` (mirror or download lacks markers), ``no_source``, ``bad_checksum``,
``download_failed``, ``checksum_mismatch``, ``bad_archive``, ``target_exists``.

Without a configured checksum the archive is still downloaded (trust on first use): its
SHA-256 is logged as a warning, to be pinned in the config, and written to
``<target_dir>.sha256`` beside the unpacked folder, so the run records what it used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from merflow.core.errors import InputError
from merflow.datasets.common import missing_paths, require_paths

CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 60.0
HASH_BY_HEX_LENGTH = {64: "sha256", 32: "md5"}
SUPPORTED_HASHES = ("sha256", "md5")

log = logging.getLogger(__name__)


def obtain_dataset(
    name: str,
    target_dir: str | Path,
    mirror: str | Path | None,
    url: str | None,
    checksum: str | None,
    *,
    markers: Sequence[str] = (),
    archive_subdir: str | None = None,
) -> Path:
    """Return a complete folder of dataset ``name``, downloading it if needed.

    Order: ``mirror`` if given (``<mirror>/<name>`` must exist with all ``markers``; a
    broken mirror is an error, not a reason to download); else ``target_dir`` if it is
    already complete; else the archive at ``url``, checked against ``checksum`` and
    unpacked atomically into ``target_dir``.

    Args:
        name: dataset name, also its sub-folder in the mirror.
        target_dir: where a downloaded dataset is unpacked.
        mirror: the mirror root, or None.
        url: the archive's URL, or None.
        checksum: the archive's expected digest (required with ``url``).
        markers: paths that a complete dataset folder contains.
        archive_subdir: the folder inside the archive whose content becomes
            ``target_dir`` (e.g. a GitHub archive's ``<repo>-<commit>/labelled``);
            None takes the archive as it is.

    Raises:
        InputError: naming the dataset, the URL or folder, and the reason.
    """
    target_dir = Path(target_dir)
    if mirror is not None:
        folder = Path(mirror) / name
        require_paths(name, folder, markers)
        return folder
    if _is_complete(target_dir, markers):
        return target_dir
    if url is None:
        raise InputError(name, "no_source", "no mirror, no complete local copy and no URL", target_dir)
    if target_dir.exists():
        raise InputError(
            name, "target_exists", "folder exists but is incomplete; remove it to download again", target_dir
        )
    algorithm, expected = parse_checksum(name, checksum, url) if checksum else ("sha256", None)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target_dir.name}.", suffix=".download", dir=target_dir.parent)
    os.close(fd)
    archive = Path(tmp_name)
    unpacked = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.", suffix=".unpack", dir=target_dir.parent))
    try:
        digest = download(name, url, archive, algorithm)
        if expected is None:
            log.warning("%s: no checksum configured; downloaded %s has sha256:%s (pin it)", name, url, digest)
        elif digest != expected:
            raise InputError(name, "checksum_mismatch", f"{algorithm} is {digest}, expected {expected}", url)
        extract_archive(name, archive, unpacked, url)
        content = unpacked / archive_subdir if archive_subdir else unpacked
        missing = missing_paths(content, markers) if content.is_dir() else [archive_subdir]
        if missing:
            raise InputError(name, "missing_file", f"archive lacks {missing}", url)
        content.rename(target_dir)
        if expected is None:  # trust on first use: record what was used
            target_dir.with_name(f"{target_dir.name}.sha256").write_text(f"{algorithm}:{digest}  {url}\n")
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)
    return target_dir


def parse_checksum(name: str, checksum: str, url: str = "") -> tuple[str, str]:
    """Split ``"sha256:<hex>"`` / ``"md5:<hex>"`` / bare hex into (algorithm, lower-case hex).

    Raises:
        InputError: ``bad_checksum`` if the algorithm or the hex digits are not recognised.
    """
    algorithm, _, digest = checksum.strip().rpartition(":")
    digest = digest.lower()
    algorithm = algorithm.lower() or HASH_BY_HEX_LENGTH.get(len(digest), "")
    valid_hex = all(c in "0123456789abcdef" for c in digest)
    if (
        algorithm not in SUPPORTED_HASHES
        or not valid_hex
        or len(digest) != 2 * hashlib.new(algorithm).digest_size
    ):
        raise InputError(name, "bad_checksum", f"cannot read checksum {checksum!r}", url)
    return algorithm, digest


def download(name: str, url: str, dest: Path, algorithm: str) -> str:
    """Stream ``url`` into ``dest`` and return its hex digest under ``algorithm``.

    Raises:
        InputError: ``download_failed`` on any network or file error.
    """
    hasher = hashlib.new(algorithm)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, dest.open("wb") as out:
            while chunk := response.read(CHUNK_BYTES):
                hasher.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InputError(name, "download_failed", str(exc), url) from exc
    return hasher.hexdigest()


def extract_archive(name: str, archive: Path, dest: Path, url: str = "") -> None:
    """Unpack a zip or tar ``archive`` into the existing folder ``dest``.

    Raises:
        InputError: ``bad_archive`` if it is neither format, is corrupt, or has a member
            that would be written outside ``dest``.
    """
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                root = dest.resolve()
                for member in zf.namelist():
                    if not (dest / member).resolve().is_relative_to(root):
                        raise InputError(name, "bad_archive", f"member {member!r} escapes the folder", url)
                zf.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
        else:
            raise InputError(name, "bad_archive", "not a zip or tar archive", url)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(name, "bad_archive", f"cannot unpack: {exc}", url) from exc


def _is_complete(folder: Path, markers: Sequence[str]) -> bool:
    return folder.is_dir() and any(folder.iterdir()) and not missing_paths(folder, markers)
