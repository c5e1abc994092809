"""Shared fixtures: the repository root and the local dataset mirror (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped with a message when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"dataset mirror {SHARED_DATA} is missing: these tests need the real data (never faked)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run PyTorch on one intra-op thread: the test models are tiny, and on a loaded 2-core
    machine two OpenMP threads waiting for each other made such tests 10-100x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
