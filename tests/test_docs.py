"""The README stays a front door (at most 12 kB) and its links to docs/ resolve."""

from __future__ import annotations

import re

README_LIMIT_BYTES = 12_000


def test_readme_is_short_and_its_local_links_exist(repo_root):
    readme = (repo_root / "README.md").read_bytes()
    assert len(readme) <= README_LIMIT_BYTES, f"README.md is {len(readme)} bytes: move detail to docs/"
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", readme.decode())
    assert links, "the README links to no page of docs/"
    missing = [link for link in links if not (repo_root / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
