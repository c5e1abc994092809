"""The README stays a front door (at most 12 kB); its links and those of docs/ resolve to
files the repository holds (tracked by git, so a fresh clone has them too)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README_LIMIT_BYTES = 12_000
LOCAL_LINK = re.compile(r"\]\(((?!https?:|mailto:)[^)#\s]+)(?:#[^)]*)?\)")


def _tracked_files(repo_root: Path) -> set[Path]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=repo_root, capture_output=True, check=False)
    if listing.returncode != 0:
        pytest.skip(f"not a git checkout ({listing.stderr.decode().strip()}): cannot tell tracked files")
    return {(repo_root / name).resolve() for name in listing.stdout.decode().split("\0") if name}


def test_readme_is_short(repo_root):
    readme = (repo_root / "README.md").read_bytes()
    assert len(readme) <= README_LIMIT_BYTES, f"README.md is {len(readme)} bytes: move detail to docs/"


def test_links_of_readme_and_docs_point_to_tracked_files(repo_root):
    tracked = _tracked_files(repo_root)
    pages = [repo_root / "README.md", *sorted((repo_root / "docs").rglob("*.md"))]
    assert re.search(LOCAL_LINK, pages[0].read_text()), "the README links to no page of docs/"
    broken = []
    for page in pages:
        for link in LOCAL_LINK.findall(page.read_text()):
            target = (page.parent / link).resolve()
            holds_tracked = target.is_dir() and any(t.is_relative_to(target) for t in tracked)
            if target not in tracked and not holds_tracked:
                broken.append(f"{page.relative_to(repo_root)} -> {link}")
    assert not broken, f"links to files that are missing or not tracked by git: {broken}"
