from __future__ import annotations

import pytest

from merflow.cli import build_parser, main, package_versions


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "info" in capsys.readouterr().out


def test_info_prints_versions_device_and_paths(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "merflow 0.1.0" in out
    assert "device: cpu" in out or "device: cuda" in out
    assert "snakemake" in out and "mlflow database" in out


def test_versions_of_pinned_packages():
    versions = package_versions()
    assert versions["torch"].startswith("2.13.0")
    assert versions["snakemake"].startswith("9.")


def test_a_command_is_required():
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
