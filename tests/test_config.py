from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from merflow.core.config import SCHEMA_PATH, config_hash, load_config, validate_config


def test_defaults_fill_every_section():
    config = load_config()
    assert config["datasets"] == ["demo"]
    assert config["audio"]["sample_rate"] == 22050
    assert config["models"]["audio_lr"]["source"] == "audio"


SHIPPED_CONFIGS = sorted(path.name for path in (Path(__file__).parents[1] / "config").glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_shipped_configs_validate(repo_root, name):
    config = load_config(repo_root / "config" / name)
    assert config["seeds"]


def test_every_schema_key_is_documented_with_a_default():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            assert "default" in sub, f"{path}{key} has no default"
            if sub.get("type") == "object":
                walk(sub, f"{path}{key}.")

    walk(schema, "")


def test_workflow_schema_is_the_package_schema(repo_root):
    assert (repo_root / "workflow/schemas/config.schema.yaml").resolve() == SCHEMA_PATH.resolve()


def test_invalid_values_are_rejected_with_the_key():
    with pytest.raises(ValueError, match="splits"):
        load_config(overrides={"emopia": {"splits": ["random"]}})
    with pytest.raises(ValueError, match="splits"):
        load_config(overrides={"emopia": {"splits": ["official", "official"]}})
    with pytest.raises(ValueError, match="split"):
        load_config(overrides={"emopia": {"split": "official"}})  # the old key: a clear error
    with pytest.raises(ValueError, match="n_mfcc"):
        load_config(overrides={"features": {"audio": {"n_mfcc": 40, "n_mels": 23}}})
    with pytest.raises(ValueError):
        load_config(overrides={"unknown_key": 1})


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_faithful_cpu_deviates_from_faithful_only_by_epoch_caps(repo_root):
    """config/faithful_cpu.yaml: each of its models is faithful.yaml's entry with a smaller
    ``epochs`` (and ``patience`` no larger), the neural settings are the same."""
    faithful = load_config(repo_root / "config" / "faithful.yaml")
    cpu = load_config(repo_root / "config" / "faithful_cpu.yaml")
    assert cpu["neural"] == faithful["neural"]
    assert cpu["emopia"] == faithful["emopia"]
    for name, entry in cpu["models"].items():
        published = faithful["models"][name]
        capped, full = dict(entry["training"]), dict(published["training"])
        assert capped.pop("epochs") <= full.pop("epochs"), name
        assert capped.pop("patience") <= full.pop("patience"), name
        assert capped == full, name
        assert {**entry, "training": None} == {**published, "training": None}, name


def test_validation_is_remembered_exactly_per_config_and_schema(tmp_path, monkeypatch, repo_root):
    from merflow.core import config as config_module

    raw = yaml.safe_load((repo_root / "config" / "symbolic.yaml").read_text())
    fresh = config_module.validate_config(raw)
    assert config_module.validate_config_cached(raw, tmp_path) == fresh
    assert len(list(tmp_path.glob("*.json"))) == 1

    def no_validation(config):
        raise AssertionError("validated again")

    monkeypatch.setattr(config_module, "validate_config", no_validation)
    again = config_module.validate_config_cached(raw, tmp_path)
    assert again == fresh and list(again) == list(fresh)  # same values, same key order
    monkeypatch.undo()

    schema = tmp_path / "schema.yaml"  # another schema: validated again, stored beside
    schema.write_text(config_module.SCHEMA_PATH.read_text() + "\n# changed\n")
    monkeypatch.setattr(config_module, "SCHEMA_PATH", schema)
    assert config_module.validate_config_cached(raw, tmp_path) == fresh
    assert len(list(tmp_path.glob("*.json"))) == 2
    with pytest.raises(ValueError, match="invalid merflow config"):
        config_module.validate_config_cached({**raw, "seeds": "zero"}, tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 2  # an invalid config is never stored


def test_faithful_cpu_caps_lie_past_every_committed_runs_best_epoch(repo_root):
    """The epoch caps of config/faithful_cpu.yaml were chosen from the runs kept in
    docs/results/faithful_cpu/runs/: a capped model must still reach the best validation
    epoch of each of its committed runs (else the cap would change the tested checkpoint)."""
    import json

    cpu = load_config(repo_root / "config" / "faithful_cpu.yaml")
    runs = sorted((repo_root / "docs/results/faithful_cpu/runs").rglob("metrics.json"))
    assert runs, "docs/results/faithful_cpu/runs holds no metrics.json"
    for path in runs:
        metrics = json.loads(path.read_text())
        model = path.relative_to(repo_root / "docs/results/faithful_cpu/runs").parts[0]
        cap = cpu["models"][model]["training"]["epochs"]
        best = metrics["history"]["best_epoch"] + 1  # history counts epochs from 0
        assert best <= cap, f"{path}: best epoch {best} lies past the cap {cap} of {model}"


def test_finetune_batch_size_is_resolved_per_dataset(repo_root):
    """MoFi's batch 16 on EMOPIA and 8 on VGMIDI: each job sees its own batch size only, so a
    change to VGMIDI's leaves EMOPIA's job settings (and its Snakemake params) unchanged."""
    from merflow.core.config import finetune_job_settings

    raw = yaml.safe_load((repo_root / "config" / "mofi_cpu.yaml").read_text())
    raw["midibert"]["finetune"]["batch_size_by_dataset"] = {"emopia": 16, "vgmidi": 8}
    config = validate_config(raw)
    emopia = finetune_job_settings(config["midibert"], "emopia")
    vgmidi = finetune_job_settings(config["midibert"], "vgmidi")
    assert emopia["finetune"]["batch_size"] == 16 and vgmidi["finetune"]["batch_size"] == 8
    assert "batch_size_by_dataset" not in emopia["finetune"]
    assert set(emopia) == {"preset", "checkpoint", "cp_rescale", "finetune"}

    raw["midibert"]["finetune"]["batch_size_by_dataset"] = {"emopia": 16, "vgmidi": 4}
    assert finetune_job_settings(validate_config(raw)["midibert"], "emopia") == emopia
    without = finetune_job_settings(config["midibert"], "pop909")  # not named: batch_size
    assert without["finetune"]["batch_size"] == config["midibert"]["finetune"]["batch_size"]

    raw["midibert"]["finetune"]["batch_size_by_dataset"] = {"emopia": 0}
    with pytest.raises(ValueError, match="minimum"):
        validate_config(raw)
