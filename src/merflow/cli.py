"""The ``merflow`` command line.

``merflow info`` prints versions, the compute device and the paths the pipeline uses.
The pipeline itself runs through Snakemake (see the README); ``predict`` and ``annotate``
for labelling one's own music are planned on top of the trained models.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import shutil
import sys
from pathlib import Path

from merflow import __version__
from merflow.config import SCHEMA_PATH

KEY_PACKAGES = (
    "torch",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "symusic",
    "music21",
    "librosa",
    "basic-pitch",
    "onnxruntime",
    "yt-dlp",
    "mlflow",
    "scikit-learn",
    "pandas",
    "pyarrow",
)


def package_versions() -> dict[str, str]:
    """Installed version of each key dependency (``not installed`` if absent)."""
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def compute_device() -> str:
    """``cuda (<GPU name>)`` when PyTorch sees a GPU, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def ffmpeg_binary() -> str:
    """Path of the ffmpeg used for audio conversion (PATH first, then imageio-ffmpeg's)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return "not found"


def cmd_info(args: argparse.Namespace) -> int:
    print(f"merflow {__version__}")
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"device: {compute_device()}")
    print("packages:")
    for name, version in package_versions().items():
        print(f"  {name:32s} {version}")
    print("paths:")
    print(f"  package             {Path(__file__).parent}")
    print(f"  config schema       {SCHEMA_PATH}")
    print(f"  working directory   {Path.cwd()}")
    print(f"  results             {Path('results').resolve()}")
    print(f"  mlflow database     {Path('results/mlflow/mlflow.db').resolve()}")
    print(f"  ffmpeg              {ffmpeg_binary()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="merflow",
        description="Music emotion recognition on piano music: a reproducible pipeline (run with snakemake).",
    )
    parser.add_argument("--version", action="version", version=f"merflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print versions, compute device and paths")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
