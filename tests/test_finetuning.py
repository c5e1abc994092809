from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from toy_cp import TINY, toy_dataset

from merflow.models.film import MoFi, mode_one_hot
from merflow.models.midibert import MidiBert, valid_note_mask
from merflow.tokenizers.cp import N_PITCHES, PITCH, chunk_cp
from merflow.training.clip_aggregation import accuracy, clip_logits, prediction_tables
from merflow.training.finetuning import (
    FinetuneSettings,
    build_chunks,
    finetune,
    predict_logits,
    transpose_chunks,
    trimmed,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_chunks_carry_labels_modes_and_clip_index():
    tokens, minor, quadrant = toy_dataset()
    chunks = build_chunks(tokens, minor, quadrant, max_len=32)
    assert chunks.tokens.shape[1:] == (32, 4)
    assert len(chunks) == sum(len(chunk_cp(t, 32)) for t in tokens.values())
    for index in range(len(chunks)):
        clip = chunks.clip_ids[chunks.clip[index]]
        assert chunks.label[index] == quadrant[clip] - 1 and chunks.minor[index] == minor[clip]


def test_transposition_keeps_pitches_in_range_and_padding_untouched():
    tokens, minor, quadrant = toy_dataset()
    chunks = build_chunks(tokens, minor, quadrant, max_len=32)
    batch = torch.as_tensor(chunks.tokens)
    shifted = transpose_chunks(batch, tuple(range(-5, 7)), torch.Generator().manual_seed(0))
    real = batch[..., PITCH] < N_PITCHES
    assert torch.equal(shifted[~real], batch[~real])
    assert int(shifted[..., PITCH][real].min()) >= 0 and int(shifted[..., PITCH][real].max()) < N_PITCHES
    delta = (shifted[..., PITCH] - batch[..., PITCH]).where(real, torch.zeros_like(batch[..., PITCH]))
    for row, mask in zip(delta, real, strict=True):  # one interval per chunk
        assert len(torch.unique(row[mask])) == 1
    assert torch.equal(shifted[..., [0, 1, 3]], batch[..., [0, 1, 3]])


def test_clip_logits_average_chunks():
    tokens, minor, quadrant = toy_dataset(4)
    chunks = build_chunks(tokens, minor, quadrant, max_len=16)
    logits = np.random.default_rng(0).normal(size=(len(chunks), 4))
    per_clip = clip_logits(chunks, logits)
    first = chunks.clip == 0
    assert np.allclose(per_clip[0], logits[first].mean(axis=0))


def test_finetuning_learns_and_predictions_are_probabilities():
    tokens, minor, quadrant = toy_dataset(16)
    chunks = build_chunks(tokens, minor, quadrant, max_len=64)
    torch.manual_seed(0)
    model = MoFi(MidiBert(TINY), injection="before_layer_1")
    settings = FinetuneSettings(epochs=25, patience=25, batch_size=8, lr=2e-3)
    history = finetune(model, chunks, chunks, settings, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    from merflow.training.finetuning import predict_logits

    logits = predict_logits(model, chunks, torch.device("cpu"), 8)
    assert accuracy(chunks, logits)[1] >= 0.75
    clips, chunk_table = prediction_tables(chunks, logits, dict.fromkeys(chunks.clip_ids, "test"))
    assert np.allclose(clips.filter(like="prob_q").sum(axis=1), 1.0)
    assert len(chunk_table) == len(chunks) and len(clips) == len(chunks.clip_ids)


def test_trimming_trailing_padding_changes_no_logit_and_predictions_keep_their_order():
    tokens, minor, quadrant = toy_dataset(8)
    chunks = build_chunks(tokens, minor, quadrant, max_len=64)  # clips of 20..89 notes
    torch.manual_seed(0)
    model = MoFi(MidiBert(TINY)).eval()
    short_chunks = chunks.n_notes() < 64
    padded = torch.as_tensor(chunks.tokens[short_chunks])
    cut = torch.as_tensor(trimmed(chunks.tokens[short_chunks]))
    assert cut.shape[1] == chunks.n_notes()[short_chunks].max() < padded.shape[1]
    mode = mode_one_hot(torch.as_tensor(chunks.minor[short_chunks]))
    with torch.no_grad():
        assert torch.allclose(
            model(padded, mode, valid_note_mask(padded)).logits,
            model(cut, mode, valid_note_mask(cut)).logits,
            atol=1e-5,
        )
        every = torch.as_tensor(chunks.tokens)
        full = model(every, mode_one_hot(torch.as_tensor(chunks.minor)), valid_note_mask(every)).logits
    # Length-ordered, trimmed batches of 3 give every chunk its own logits, in chunk order.
    assert np.allclose(predict_logits(model, chunks, torch.device("cpu"), 3), full.numpy(), atol=1e-5)


def test_a_fine_tuning_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from merflow.training import finetuning
    from merflow.training.torch_utils import load_checkpoint

    tokens, minor, quadrant = toy_dataset(16)
    chunks = build_chunks(tokens, minor, quadrant, max_len=64)
    # dropout, augmentation and batch order all draw random numbers: each must be restored
    settings = FinetuneSettings(epochs=4, patience=10, batch_size=8, lr=2e-3, augmentation=True)
    checkpoint = tmp_path / "resume.pt"

    def run(resume=None):
        torch.manual_seed(0)
        model = MoFi(MidiBert(TINY), injection="before_layer_1")
        generator = torch.Generator().manual_seed(0)
        history = finetune(model, chunks, chunks, settings, torch.device("cpu"), generator, resume)
        return history, predict_logits(model, chunks, torch.device("cpu"), 8)

    whole, whole_logits = run()
    real_step = finetuning.finetune_step

    def killed_in_the_third_epoch(*args, **kwargs):
        if checkpoint.is_file() and load_checkpoint(checkpoint)["loop"]["next_epoch"] == 2:
            raise KeyboardInterrupt  # what a SIGTERM or the end of a session does to the job
        return real_step(*args, **kwargs)

    monkeypatch.setattr(finetuning, "finetune_step", killed_in_the_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        run((checkpoint, "run"))
    monkeypatch.undo()
    resumed, resumed_logits = run((checkpoint, "run"))
    assert resumed["resumed_at"] == 2 and resumed["epochs_run"] == 4
    for key in ("train_loss", "val_clip_accuracy", "val_chunk_accuracy", "best_epoch"):
        assert resumed[key] == whole[key]
    assert np.array_equal(resumed_logits, whole_logits)
    # a checkpoint of another run (settings, code or inputs) is not resumed
    other, other_logits = run((checkpoint, "another run"))
    assert other["resumed_at"] == 0 and np.array_equal(other_logits, whole_logits)


def test_resume_identity_changes_with_settings_and_with_a_rebuilt_input(tmp_path):
    import os

    from merflow.core.provenance import resume_identity

    table = tmp_path / "tokens.parquet"
    table.write_bytes(b"x")
    inputs = {"tokens": str(table)}
    first = resume_identity([{"lr": 2e-5}, {"part": "main", "seed": "0"}, "abc"], inputs)
    assert first == resume_identity([{"lr": 2e-5}, {"seed": "0", "part": "main"}, "abc"], inputs)
    assert first != resume_identity([{"lr": 1e-4}, {"part": "main", "seed": "0"}, "abc"], inputs)
    os.utime(table, ns=(0, 10**9))
    assert first != resume_identity([{"lr": 2e-5}, {"part": "main", "seed": "0"}, "abc"], inputs)


def test_encoder_pretraining_is_what_a_fine_tuned_model_states_of_its_encoder():
    from merflow.training.finetuning import encoder_pretraining

    history = {
        "preset": "cpu",
        "steps_done": 2240,
        "train_seconds": 5403.0,
        "held_out": {"steps": [0, 2000, 2240], "accuracy": [0.03, 0.49, 0.51]},
    }
    assert encoder_pretraining(history) == {
        "preset": "cpu",
        "steps": 2240,
        "train_minutes": pytest.approx(90.05),
        "held_out_accuracy": 0.51,
    }
    without_held_out = encoder_pretraining(history | {"held_out": {"steps": [], "accuracy": []}})
    assert math.isnan(without_held_out["held_out_accuracy"])
