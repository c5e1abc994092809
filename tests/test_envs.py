"""The conda environment files in envs/ pin the same versions as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")
# Installed with --no-deps outside pyproject (its wheel requires tensorflow on Linux).
OUTSIDE_PYPROJECT = {"basic-pitch": "0.4.0"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins(repo_root) -> dict[str, str]:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        match = PIN.match(requirement)
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def env_files(repo_root):
    return sorted((repo_root / "envs").glob("*.yaml"))


def test_there_are_env_files(repo_root):
    assert env_files(repo_root)


@pytest.mark.parametrize("name", ["pipeline.yaml", "transcription.yaml"])
def test_env_pins_match_pyproject(repo_root, name):
    pins = {**pyproject_pins(repo_root), **OUTSIDE_PYPROJECT}
    env = yaml.safe_load((repo_root / "envs" / name).read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    checked = 0
    for line in pip_section:
        match = PIN.match(line)
        if not match:
            continue
        package = normalise(match.group(1))
        assert package in pins, f"{name}: {package} is not pinned in pyproject.toml"
        assert pins[package] == match.group(2), (
            f"{name}: {package}=={match.group(2)} but pyproject pins {pins[package]}"
        )
        checked += 1
    assert checked >= 5


def test_basic_pitch_pin_matches_the_makefile(repo_root):
    assert f"basic-pitch=={OUTSIDE_PYPROJECT['basic-pitch']}" in (repo_root / "Makefile").read_text()
