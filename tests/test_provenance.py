from __future__ import annotations

import pytest

from merflow.core.provenance import code_version, file_sha256, module_closure


def test_closure_follows_merflow_imports_only():
    closure = module_closure(["merflow.core.ledger"])
    # the packages on its path (merflow's __init__ configures numba's cache) and what it imports
    assert closure == [
        "merflow",
        "merflow.core",
        "merflow.core.errors",
        "merflow.core.io",
        "merflow.core.ledger",
        "merflow.core.numba_cache",
    ]


def test_code_version_depends_on_imported_modules():
    # training imports labels and splits, so its version differs from that of labels alone
    assert code_version("merflow.training.classical") != code_version("merflow.core.labels")
    assert code_version("merflow.training.classical") == code_version("merflow.training.classical")
    assert len(code_version("merflow.training.classical")) == 12
    assert "merflow.datasets.splits" in module_closure(["merflow.training.classical"])
    assert "merflow.evaluation.tracking" not in module_closure(["merflow.training.classical"])


def test_file_sha256_known_answer(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_training_record_digests_inputs_and_keeps_curves(tmp_path):
    import hashlib

    from merflow.core.provenance import file_sha256, training_record

    manifest = tmp_path / "manifest.parquet"
    manifest.write_bytes(b"labels")
    history = {"train_loss": [1.0, 0.5], "val_loss": [0.9, 0.8], "epochs_run": 2}
    run = {"dataset": "d", "model": "m", "part": "main", "seed": 0}
    one = training_record(run, history, ("train_loss",), manifest, {"tokens": "a" * 64}, encoder="e.pt")
    assert one["features_sha256"] == "a" * 64 and one["encoder"] == "e.pt"
    assert one["manifest_sha256"] == file_sha256(manifest)
    assert one["curves"] == {"train_loss": [1.0, 0.5]} and one["history"] is history
    two = training_record(run, history, ("val_loss",), manifest, {"tokens": "a" * 64, "frames": "b" * 64})
    expected = hashlib.sha256(f"frames={'b' * 64}\ntokens={'a' * 64}\n".encode()).hexdigest()
    assert two["features_sha256"] == expected
    with pytest.raises(KeyError):
        training_record(run, history, ("absent",), manifest, {"tokens": "a" * 64})
