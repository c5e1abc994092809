from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import soundfile as sf

from merflow.acquisition.clip_cache import ClipCache
from merflow.core.ledger import Ledger
from merflow.features import caches
from merflow.music.audio_features import AudioFeatureConfig
from merflow.music.midi import Notes, write_notes


def touch_later(path) -> None:
    later = time.time_ns() + 10**10
    os.utime(path, ns=(later, later))


def test_entries_are_reused_until_input_or_version_changes(tmp_path):
    source = tmp_path / "a.mid"
    source.write_bytes(b"x")
    cache = ClipCache(tmp_path / "cache", "v1")
    assert cache.get("a", source) is None
    cache.put("a", source, {"value": 1})
    assert cache.get("a", source) == {"value": 1}
    assert ClipCache(tmp_path / "cache", "v2").get("a", source) is None  # code or settings changed
    touch_later(source)
    assert cache.get("a", source) is None  # input changed
    (tmp_path / "cache" / "b.pkl").write_bytes(b"garbage")
    assert cache.get("b", source) is None  # a damaged entry is a miss
    # an entry of an older merflow whose classes moved (merflow.midi -> merflow.music.midi)
    (tmp_path / "cache" / "c.pkl").write_bytes(b"cmerflow.midi\nNotes\n.")
    assert cache.get("c", source) is None
    (tmp_path / "cache" / "d.pkl").write_bytes(b"cmerflow.music.midi\nNoSuchClass\n.")
    assert cache.get("d", source) is None


def midi_index(tmp_path, n=3) -> pd.DataFrame:
    paths = []
    for i in range(n):
        onset = np.arange(8) * 0.25 + i * 0.01
        notes = Notes.from_arrays(onset, onset + 0.2, 60 + np.arange(8) + i, np.full(8, 80))
        write_notes(notes, tmp_path / f"c{i}.mid")
        paths.append(str(tmp_path / f"c{i}.mid"))
    (tmp_path / "bad.mid").write_bytes(b"not midi")
    return pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(n)] + ["bad"],
            "midi_path": [*paths, str(tmp_path / "bad.mid")],
            "status": "oracle",
        }
    )


def test_symbolic_stage_recomputes_only_changed_clips(tmp_path, monkeypatch):
    index = midi_index(tmp_path)
    cache = ClipCache(tmp_path / "cache", "v1")
    first = caches.symbolic_caches(index, Ledger("s", "t"), cache=cache)
    calls = []
    original = caches._symbolic_result
    monkeypatch.setattr(caches, "_symbolic_result", lambda *a: calls.append(a[0]) or original(*a))
    touch_later(tmp_path / "c1.mid")
    ledger = Ledger("s", "t")
    second = caches.symbolic_caches(index, ledger, cache=ClipCache(tmp_path / "cache", "v1"))
    assert calls == ["c1", "bad"]  # c0 and c2 reused; failures are never cached
    assert [r["item"] for r in ledger.rows] == ["bad"]
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])


def test_audio_stage_reuses_unchanged_clips(tmp_path, monkeypatch):
    sr = 22050
    paths = {}
    for i in range(2):
        t = np.arange(sr) / sr
        sf.write(tmp_path / f"c{i}.wav", 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t), sr)
        paths[f"c{i}"] = str(tmp_path / f"c{i}.wav")
    cfg = AudioFeatureConfig()
    first = caches.audio_caches(paths, cfg, Ledger("a", "t"), ClipCache(tmp_path / "cache", "v"))
    monkeypatch.setattr(
        caches, "_audio_result", lambda *a: (_ for _ in ()).throw(AssertionError("recomputed"))
    )
    second = caches.audio_caches(paths, cfg, Ledger("a", "t"), ClipCache(tmp_path / "cache", "v"))
    pd.testing.assert_frame_equal(first["statistics"], second["statistics"])
    assert second["frames"].equals(first["frames"])
