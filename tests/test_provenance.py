from __future__ import annotations

from merflow.provenance import code_version, file_sha256, module_closure


def test_closure_follows_merflow_imports_only():
    closure = module_closure(["merflow.ledger"])
    assert closure == ["merflow", "merflow.errors", "merflow.io", "merflow.ledger"]


def test_code_version_depends_on_imported_modules():
    # training imports labels and splits, so its version differs from that of labels alone
    assert code_version("merflow.training") != code_version("merflow.labels")
    assert code_version("merflow.training") == code_version("merflow.training")
    assert len(code_version("merflow.training")) == 12
    assert "merflow.splits" in module_closure(["merflow.training"])
    assert "merflow.tracking" not in module_closure(["merflow.training"])


def test_file_sha256_known_answer(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
