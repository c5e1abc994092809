"""The package's folders are the pipeline's stages, in data-flow order, and a module imports
only from its own stage or the stages before it (what :mod:`merflow.core.provenance` finds in
its source). No module is longer than 600 lines."""

from __future__ import annotations

from merflow.core.provenance import _direct_imports, _package_root

#: Stages in data-flow order: the subpackages of ``merflow``. Notes and audio signals
#: (``music``) come before datasets because every later stage reads them; the transcription
#: backends read audio with ``merflow.music.audio_features``.
ORDER = [
    "core",
    "music",
    "datasets",
    "acquisition",
    "transcription",
    "tokenizers",
    "features",
    "models",
    "training",
    "evaluation",
    "inference",
]
#: Modules at the top of the package: the package itself and the tools on top of every stage.
TOP_LEVEL = {
    "merflow": "core",
    "merflow.cli": "tools",
    "merflow.docs": "tools",
    "merflow.numba_warmup": "tools",
}
STAGE_ORDER = [*ORDER, "tools"]


def stage_of(module: str) -> str:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    stage = module.split(".")[1]
    assert stage in ORDER, f"{module} is in no stage folder: top-level modules are {sorted(TOP_LEVEL)}"
    return stage


def test_the_folders_are_the_stages():
    root = _package_root()
    folders = sorted(p.name for p in root.iterdir() if (p / "__init__.py").exists())
    assert folders == sorted(ORDER)
    top = sorted("merflow." + p.stem for p in root.glob("*.py") if p.stem != "__init__")
    assert top == sorted(m for m in TOP_LEVEL if m != "merflow")


def all_modules() -> list[str]:
    root = _package_root()
    names = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names.append(".".join(("merflow", *parts)))
    return sorted(names)


def test_every_module_imports_only_its_stage_or_earlier_ones():
    upward = []
    for module in all_modules():
        here = STAGE_ORDER.index(stage_of(module))
        for imported in _direct_imports(module):
            if STAGE_ORDER.index(stage_of(imported)) <= here:
                continue
            upward.append(f"{module} ({stage_of(module)}) imports {imported} ({stage_of(imported)})")
    assert not upward, "imports from a later stage:\n" + "\n".join(upward)


MAX_MODULE_LINES = 600


def test_no_module_is_over_600_lines():
    root = _package_root()
    long = {
        str(path.relative_to(root)): n
        for path in root.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by what they do): {long}"
