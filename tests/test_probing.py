from __future__ import annotations

import pytest
import torch
from toy_cp import TINY, toy_dataset

from merflow.models.midibert import MidiBert
from merflow.training.finetuning import FinetuneSettings, build_chunks
from merflow.training.probing import LayerProbe, plot_probing, probe_layers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_probe_trains_the_head_only():
    torch.manual_seed(0)
    encoder = MidiBert(TINY)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    probe = LayerProbe(encoder, layer=1)
    tokens, minor, quadrant = toy_dataset(8)
    chunks = build_chunks(tokens, minor, quadrant, max_len=32)
    from merflow.training.finetuning import finetune

    finetune(
        probe,
        chunks,
        chunks,
        FinetuneSettings(epochs=2, batch_size=8, lr=1e-2),
        torch.device("cpu"),
        torch.Generator(),
    )
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    assert not probe.encoder.training


def test_one_row_per_hidden_state_and_a_plot(tmp_path):
    torch.manual_seed(0)
    tokens, minor, quadrant = toy_dataset(8)
    chunks = build_chunks(tokens, minor, quadrant, max_len=32)
    table = probe_layers(
        MidiBert(TINY),
        chunks,
        chunks,
        chunks,
        FinetuneSettings(epochs=1, batch_size=8, lr=1e-2),
        torch.device("cpu"),
        0,
    )
    assert table["layer"].tolist() == list(range(TINY.num_layers + 1))
    assert table["test_clip_accuracy"].between(0, 1).all()
    plot_probing(table, "before_layer_1", tmp_path / "probing.png", "t")
    assert (tmp_path / "probing.png").read_bytes()[:4] == b"\x89PNG"
