"""The pretraining size sweep's table: one row per encoder, the chosen one marked."""

from __future__ import annotations

import pytest

from merflow.evaluation.pretraining_sizes import plot_held_out, sizes_table, to_markdown


def history(preset: str, parameters: int, accuracies: list[float], seconds: float = 5400.0) -> dict:
    steps = [0, *(100 * (i + 1) for i in range(len(accuracies) - 1))]
    return {
        "preset": preset,
        "device": "cpu",
        "threads": 2,
        "n_encoder_parameters": parameters,
        "n_held_out_chunks": 40,
        "steps_done": steps[-1],
        "train_seconds": seconds,
        "accuracy": [0.3, 0.5],
        "held_out": {
            "steps": steps,
            "train_seconds": [seconds * s / max(steps[-1], 1) for s in steps],
            "loss": [3.0 - a for a in accuracies],
            "accuracy": accuracies,
        },
    }


def test_the_best_final_held_out_accuracy_is_chosen():
    table = sizes_table(
        [
            history("tiny", 638_784, [0.1, 0.40]),
            history("cpu", 3_729_408, [0.1, 0.45]),
            history("medium", 11_479_808, [0.1, 0.30]),
        ]
    )
    assert list(table["preset"]) == ["medium", "cpu", "tiny"]  # largest first
    assert list(table["chosen"]) == [False, True, False]
    assert list(table["layers"]) == [6, 4, 2] and list(table["hidden"]) == [384, 256, 128]
    assert table.loc[1, "held_out_accuracy"] == 0.45 and table.loc[1, "steps_per_s"] == pytest.approx(
        100 / 5400
    )


def test_a_tie_goes_to_the_larger_encoder_and_the_final_measure_counts():
    tiny = history("tiny", 638_784, [0.1, 0.50, 0.452])  # best earlier, 0.452 at the end
    cpu = history("cpu", 3_729_408, [0.1, 0.449])
    table = sizes_table([tiny, cpu])
    assert table.set_index("preset")["chosen"].to_dict() == {"cpu": True, "tiny": False}
    assert table.set_index("preset").loc["tiny", "best_held_out_accuracy"] == 0.50
    text = to_markdown(table)
    assert "Chosen: `cpu`" in text and "| tiny | 2 x 128 | 0.64 |" in text


def test_a_run_without_held_out_measures_is_refused(tmp_path):
    bare = history("tiny", 638_784, [0.4])
    bare["held_out"] = {"steps": [], "train_seconds": [], "loss": [], "accuracy": []}
    with pytest.raises(ValueError, match="tiny pretraining has no held-out measure"):
        sizes_table([bare])
    with pytest.raises(ValueError, match="no pretraining history"):
        sizes_table([])


def test_the_plot_is_a_png(tmp_path):
    plot_held_out(
        [history("tiny", 638_784, [0.1, 0.4]), history("cpu", 3_729_408, [0.1, 0.45])], tmp_path / "p.png"
    )
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_merflow_sizes_tables_a_sweep_under_way_and_names_what_is_missing(tmp_path):
    from merflow.cli import main
    from merflow.core.io import write_json

    write_json(history("cpu", 3_729_408, [0.1, 0.45]), tmp_path / "cpu.json")
    out = tmp_path / "out"
    sweep = ["--sweep", "tiny", "cpu", "medium"]
    assert main(["sizes", str(tmp_path / "cpu.json"), "--out", str(out), *sweep]) == 0
    text = (out / "tables/pretraining_sizes.md").read_text()
    assert "Chosen so far: `cpu`" in text and "Not yet pretrained: `tiny`, `medium`." in text
    assert (out / "tables/pretraining_sizes.csv").is_file()
    assert (out / "plots/pretraining_sizes.png").is_file()
    with pytest.raises(SystemExit):  # two histories of one preset
        main(["sizes", str(tmp_path / "cpu.json"), str(tmp_path / "cpu.json"), "--out", str(out)])
