"""Code versions and content hashes that make reruns exact.

Conventions
-----------
Snakemake reruns a rule when its script, inputs or params change, but it cannot see the
library code a script imports. Every rule therefore gets a ``code`` param computed by
:func:`code_version`: a short hash of the source files of the named ``merflow`` modules
*and of every ``merflow`` module they import, transitively* (found by parsing imports, not
by importing). Editing one library module reruns exactly the rules whose scripts depend
on it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "merflow"
HASH_LENGTH = 12


@cache
def _package_root() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"package {PACKAGE!r} is not installed")
    return Path(spec.origin).parent


def _source_of(name: str) -> Path | None:
    """Source file of the merflow module or package ``name``, or None if there is none."""
    parts = name.split(".")[1:]
    base = _package_root().joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if parts and candidate.is_file():
            return candidate
    return _package_root() / "__init__.py" if not parts else None


def module_file(name: str) -> Path:
    """Source file of the ``merflow`` module or package ``name`` (found without importing it)."""
    path = _source_of(name)
    if path is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    return path


#: ``from merflow... import a, b`` (names possibly in parentheses over several lines) or
#: ``import merflow...``, at the start of a line (also inside functions: lazy imports count).
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(merflow(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)"
    r"|import[ \t]+(merflow(?:\.\w+)*))",
    re.MULTILINE,
)


@cache
def _direct_imports(name: str) -> frozenset[str]:
    """The merflow modules that module ``name`` imports, found by a line scan of its source.

    A scan, not a parse: 35x faster than ``ast`` (the Snakefile hashes the closure of every
    rule's modules at each invocation, no-op runs included), and at worst over-inclusive (an
    import-like line inside a string adds a module to a code version, never removes one).
    """
    found: set[str] = set()
    for module, names, plain in _IMPORT.findall(module_file(name).read_text(encoding="utf-8")):
        if plain:
            found.add(plain)
            continue
        found.add(module)
        # `from merflow.features import audio` imports the submodule merflow.music.audio_features
        for alias in re.sub(r"#[^\n]*", "", names).strip("()").split(","):
            if alias.split():
                found.add(f"{module}.{alias.split()[0]}")
    return frozenset(m for m in found if _source_of(m) is not None)


def module_closure(names: list[str] | tuple[str, ...]) -> list[str]:
    """The modules ``names`` plus every merflow module they import, transitively, sorted."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        parent = name.rpartition(".")[0]
        if parent.startswith(PACKAGE):  # importing a submodule runs its package's __init__
            stack.append(parent)
        stack.extend(_direct_imports(name))
    return sorted(seen)


def code_version(*names: str) -> str:
    """Hash of the source of ``names`` and their merflow imports (12 hex digits)."""
    digest = hashlib.sha256()
    for name in module_closure(names):
        digest.update(name.encode())
        digest.update(module_file(name).read_bytes())
    return digest.hexdigest()[:HASH_LENGTH]


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's content, hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def job_identity(
    wildcards: Any, settings: dict[str, Any], code_version: str, device: Any, preset: str
) -> dict[str, Any]:
    """What identifies a training job in its ``training.json``: the job's wildcards (``dataset``,
    ``model``, ``part``, ``seed``), the model's config entry, code version, device and preset."""
    return {
        "dataset": wildcards.dataset,
        "model": wildcards.model,
        "part": wildcards.part,
        "seed": int(wildcards.seed),
        "settings": settings,
        "code_version": code_version,
        "device": str(device),
        "preset": preset,
    }


def training_record(
    run: dict[str, Any],
    history: dict[str, Any],
    curves: tuple[str, ...],
    manifest_path: str | Path,
    inputs_sha256: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    """The ``training.json`` of one training job: what ran, on which inputs, and how it went.

    Args:
        run: ``dataset``, ``model``, ``part``, ``seed``, ``settings`` (the model's config
            entry), ``code_version``, ``device``, ``preset`` (:func:`job_identity`).
        history: the trainer's history (per-epoch lists and counts).
        curves: keys of ``history`` logged as per-epoch curves (MLflow).
        manifest_path: the dataset manifest the labels and splits came from.
        inputs_sha256: SHA-256 of each input table by name; ``features_sha256`` is the digest
            itself for one table, else the SHA-256 of the sorted ``name=digest`` lines.
        extra: further fields (e.g. the encoder checkpoint used).
    """
    if len(inputs_sha256) == 1:
        features = next(iter(inputs_sha256.values()))
    else:
        lines = "".join(f"{name}={digest}\n" for name, digest in sorted(inputs_sha256.items()))
        features = hashlib.sha256(lines.encode()).hexdigest()
    return {
        **run,
        "manifest_sha256": file_sha256(manifest_path),
        "features_sha256": features,
        "inputs_sha256": inputs_sha256,
        **extra,
        "history": history,
        "curves": {key: history[key] for key in curves},
    }


RESUME_FILE = "resume.pt"
"""A training job's per-epoch checkpoint, beside its outputs: a killed job resumes from it
(:class:`merflow.training.torch_utils.Resume`) when :func:`resume_identity` matches."""


def resume_identity(what: list[Any], paths: dict[str, str]) -> str:
    """What must match for a training's per-epoch checkpoint to be resumed (SHA-256 hex).

    Args:
        what: the run's settings, wildcards (partition, seed) and code version, JSON-serialisable.
        paths: the job's input files by name: their sizes and modification times (ns) count,
            so a rebuilt input starts the training over.
    """
    files = {name: [Path(p).stat().st_size, Path(p).stat().st_mtime_ns] for name, p in paths.items()}
    return hashlib.sha256(json.dumps([*what, files], sort_keys=True, default=str).encode()).hexdigest()
