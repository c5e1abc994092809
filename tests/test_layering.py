"""The package's modules form layers that follow the data: a module imports only from its own
stage or the stages before it (what :mod:`merflow.provenance` finds in its source). The stages
are listed here, module by module, until the folders of ``src/merflow`` show them."""

from __future__ import annotations

from merflow.provenance import _direct_imports, _package_root

#: Stages in data-flow order; a module's stage is the first whose prefixes match its name.
STAGES: dict[str, tuple[str, ...]] = {
    "core": (
        "merflow.errors",
        "merflow.io",
        "merflow.logs",
        "merflow.config",
        "merflow.provenance",
        "merflow.ledger",
        "merflow.labels",
        "merflow.numba_cache",
        "merflow.plots",
    ),
    # notes and audio signals: reading, key, tempo, frame features (the transcription backends
    # read audio with merflow.features.audio, the beat grid takes its tempo from the notes)
    "music": (
        "merflow.midi",
        "merflow.tonality",
        "merflow.key_agreement",
        "merflow.synth",
        "merflow.features.symbolic",
        "merflow.features.audio",
        "merflow.beat_grid",
    ),
    "datasets": ("merflow.datasets", "merflow.splits", "merflow.sources"),
    "acquisition": ("merflow.acquisition", "merflow.clips", "merflow.clip_cache", "merflow.rendering"),
    "transcription": ("merflow.transcription", "merflow.amt_evaluation"),
    "tokenizers": ("merflow.tokenizers",),
    "features": ("merflow.features", "merflow.augmentation"),
    "models": ("merflow.models",),
    "training": (
        "merflow.torch_utils",
        "merflow.length_buckets",
        "merflow.training",
        "merflow.clip_aggregation",
        "merflow.neural_inputs",
        "merflow.neural_training",
        "merflow.finetuning",
        "merflow.pretraining",
        "merflow.probing",
    ),
    "evaluation": ("merflow.evaluation", "merflow.results", "merflow.tracking", "merflow.learning_curves"),
    "inference": ("merflow.runs", "merflow.inference", "merflow.neural_inference", "merflow.annotation"),
    "tools": ("merflow.cli", "merflow.docs", "merflow.numba_warmup"),
}
ORDER = list(STAGES)


def stage_of(module: str) -> str:
    for stage, prefixes in STAGES.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return stage
    raise AssertionError(f"{module} belongs to no stage: add it to STAGES")


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
        here = ORDER.index(stage_of(module))
        for imported in _direct_imports(module):
            if imported == "merflow" or ORDER.index(stage_of(imported)) <= here:
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
