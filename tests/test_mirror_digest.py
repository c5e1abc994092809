from __future__ import annotations

import json
import os

from merflow.datasets.mirror_digest import folder_digest


def make_folder(root):
    (root / "midis").mkdir(parents=True)
    (root / "midis" / "a.mid").write_bytes(b"MThd a")
    (root / "midis" / "b.mid").write_bytes(b"MThd b")
    (root / "labels.csv").write_text("clip,label\na,Q1\n")
    return root


def test_digest_follows_content_not_times_and_names_every_file(tmp_path):
    folder = make_folder(tmp_path / "data")
    cache = tmp_path / "cache" / "data.json"
    first = folder_digest(folder, cache)
    assert first.startswith("3 files, sha256 ")
    assert set(json.loads(cache.read_text())) == {"labels.csv", "midis/a.mid", "midis/b.mid"}
    os.utime(folder / "midis" / "a.mid", (1e9, 1e9))
    assert folder_digest(folder, cache) == first  # new time, same content
    (folder / "midis" / "a.mid").write_bytes(b"MThd A")
    changed = folder_digest(folder, cache)
    assert changed != first
    (folder / "midis" / "a.mid").rename(folder / "midis" / "c.mid")  # same content, new name
    assert folder_digest(folder, cache) not in (first, changed)
    (folder / "extra.txt").write_text("x")
    assert folder_digest(folder, cache).startswith("4 files")


def test_cached_hashes_are_reused_and_a_broken_cache_is_rebuilt(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "data")
    cache = tmp_path / "data.json"
    expected = folder_digest(folder, cache)
    from merflow.datasets import mirror_digest

    read = []
    monkeypatch.setattr(mirror_digest, "file_sha256", lambda path: read.append(path) or "x")
    assert folder_digest(folder, cache) == expected and read == []  # stats only
    cache.write_text("{not json")
    monkeypatch.undo()
    assert folder_digest(folder, cache) == expected
    assert json.loads(cache.read_text())["labels.csv"][2]  # rebuilt with content hashes


def test_absent_folder_and_unwritable_cache(tmp_path):
    assert folder_digest(tmp_path / "missing", tmp_path / "c.json") == "absent"
    folder = make_folder(tmp_path / "data")
    blocked = tmp_path / "file"
    blocked.write_text("")
    digest = folder_digest(folder, blocked / "c.json")  # cannot create the cache: same digest
    assert digest == folder_digest(folder, tmp_path / "ok.json")
