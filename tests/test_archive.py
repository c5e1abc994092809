"""Obtaining dataset folders: mirror, file:// download with checksum, atomic unpacking."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from merflow.core.errors import InputError
from merflow.datasets import emopia, vgmidi
from merflow.datasets.archive import obtain_dataset, parse_checksum

MARKERS = ("data.csv", "phrases/a.mid")
FILES = {"toy/data.csv": "id,label\n1,Q1\n", "toy/phrases/a.mid": "not really midi", "toy/README": "hi\n"}


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def _tar_gz(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def toy_zip(tmp_path: Path) -> Path:
    return _zip(tmp_path / "toy.zip", FILES)


@pytest.mark.needs_shared_data
def test_shared_mirror_is_used_in_place(shared_data: Path, tmp_path: Path) -> None:
    for name, markers in (("emopia", emopia.MARKERS), ("vgmidi", vgmidi.MARKERS)):
        if not (shared_data / name).is_dir():
            pytest.skip(f"dataset mirror {shared_data / name} is missing")
        target = tmp_path / name
        folder = obtain_dataset(name, target, shared_data, url=None, checksum=None, markers=markers)
        assert folder == shared_data / name
        assert not target.exists()


def test_mirror_without_markers_raises(tmp_path: Path) -> None:
    (tmp_path / "mirror" / "toy").mkdir(parents=True)
    (tmp_path / "mirror" / "toy" / "data.csv").write_text("x\n")
    with pytest.raises(InputError, match=r"missing_file: dataset folder lacks \['phrases/a.mid'\]") as info:
        obtain_dataset("toy", tmp_path / "t", tmp_path / "mirror", None, None, markers=MARKERS)
    assert info.value.item == "toy" and info.value.path == str(tmp_path / "mirror" / "toy")
    with pytest.raises(InputError, match="missing_folder"):
        obtain_dataset("other", tmp_path / "t", tmp_path / "mirror", None, None, markers=MARKERS)


def test_zip_download_with_right_checksum(tmp_path: Path, toy_zip: Path) -> None:
    target = tmp_path / "data" / "toy"
    folder = obtain_dataset(
        "toy",
        target,
        None,
        toy_zip.as_uri(),
        f"sha256:{_sha256(toy_zip)}",
        markers=MARKERS,
        archive_subdir="toy",
    )
    assert folder == target
    assert (target / "data.csv").read_text() == FILES["toy/data.csv"]
    assert (target / "phrases" / "a.mid").is_file()
    assert _leftovers(target.parent) == ["toy"]  # no temporary files left
    # complete now: reused without downloading (no URL needed)
    assert obtain_dataset("toy", target, None, None, None, markers=MARKERS) == target


def test_md5_and_bare_hex_and_whole_archive(tmp_path: Path, toy_zip: Path) -> None:
    md5 = hashlib.md5(toy_zip.read_bytes()).hexdigest()
    target = tmp_path / "a"
    obtain_dataset("toy", target, None, toy_zip.as_uri(), md5, markers=("toy/data.csv",))
    assert (target / "toy" / "README").read_text() == "hi\n"
    assert parse_checksum("toy", md5.upper()) == ("md5", md5)
    assert parse_checksum("toy", f"SHA256:{'A' * 64}") == ("sha256", "a" * 64)
    for bad in ("sha1:abcd", "sha256:xyz", "1234"):
        with pytest.raises(InputError, match="bad_checksum"):
            parse_checksum("toy", bad)


def test_tar_gz_download(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "toy.tar.gz", FILES)
    target = tmp_path / "t"
    obtain_dataset(
        "toy", target, None, archive.as_uri(), _sha256(archive), markers=MARKERS, archive_subdir="toy"
    )
    assert (target / "data.csv").read_text() == FILES["toy/data.csv"]


def test_wrong_checksum_leaves_nothing(tmp_path: Path, toy_zip: Path) -> None:
    target = tmp_path / "data" / "toy"
    with pytest.raises(InputError, match=r"toy \(file://.*toy.zip\): checksum_mismatch: sha256 is") as info:
        obtain_dataset("toy", target, None, toy_zip.as_uri(), "0" * 64, markers=MARKERS, archive_subdir="toy")
    assert info.value.reason == "checksum_mismatch" and info.value.path == toy_zip.as_uri()
    assert not target.exists()
    assert _leftovers(target.parent) == []


def test_archive_without_markers_leaves_nothing(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "toy.zip", {"toy/data.csv": "x\n"})
    target = tmp_path / "data" / "toy"
    with pytest.raises(InputError, match=r"missing_file: archive lacks \['phrases/a.mid'\]"):
        obtain_dataset(
            "toy", target, None, archive.as_uri(), _sha256(archive), markers=MARKERS, archive_subdir="toy"
        )
    assert _leftovers(target.parent) == []


def test_unsafe_zip_member_rejected(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "evil.zip", {"../escape.txt": "x", "data.csv": "y"})
    target = tmp_path / "data" / "toy"
    with pytest.raises(InputError, match=r"bad_archive: member '\.\./escape\.txt' escapes"):
        obtain_dataset("toy", target, None, archive.as_uri(), _sha256(archive), markers=("data.csv",))
    assert not (tmp_path / "data" / "escape.txt").exists()
    assert _leftovers(target.parent) == []


def test_not_an_archive(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"plain bytes")
    with pytest.raises(InputError, match="bad_archive: not a zip or tar archive"):
        obtain_dataset("toy", tmp_path / "data" / "toy", None, blob.as_uri(), _sha256(blob))
    assert _leftovers(tmp_path / "data") == []


def test_download_failure_and_missing_sources(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.zip").as_uri()
    with pytest.raises(InputError, match=r"toy \(file://.*nowhere.zip\): download_failed"):
        obtain_dataset("toy", tmp_path / "data" / "toy", None, missing, "0" * 64)
    assert _leftovers(tmp_path / "data") == []
    with pytest.raises(InputError, match="no_source"):
        obtain_dataset("toy", tmp_path / "x", None, None, None)


def test_download_without_checksum_records_the_digest(tmp_path: Path, toy_zip: Path) -> None:
    target = tmp_path / "data" / "toy"
    assert (
        obtain_dataset("toy", target, None, toy_zip.as_uri(), None, markers=MARKERS, archive_subdir="toy")
        == target
    )
    record = (tmp_path / "data" / "toy.sha256").read_text()
    assert record.startswith(f"sha256:{_sha256(toy_zip)}")


def test_incomplete_target_is_not_overwritten(tmp_path: Path, toy_zip: Path) -> None:
    target = tmp_path / "toy"
    target.mkdir()
    (target / "partial.txt").write_text("x")
    with pytest.raises(InputError, match="target_exists"):
        obtain_dataset("toy", target, None, toy_zip.as_uri(), _sha256(toy_zip), markers=MARKERS)
    assert _leftovers(target) == ["partial.txt"]
