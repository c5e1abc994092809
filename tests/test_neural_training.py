from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from merflow.core.config import input_source, neural_input_tables, uses_audio
from merflow.core.io import read_matrix_table, write_parquet
from merflow.features.caches import frame_table
from merflow.models import zhao_yoshii, zhu
from merflow.music.audio_features import FEATURES, AudioFeatureConfig
from merflow.training.classical import PROB_COLUMNS
from merflow.training.neural import (
    NeuralSettings,
    batching_lengths,
    build_model,
    frame_columns_for,
    item_scores,
    neural_model_config,
    train_neural,
)
from merflow.training.neural_inputs import (
    MissingFeatureError,
    build_clip_set,
    crop_frames,
    model_batch,
    pad_frames,
    pad_tokens,
    required_inputs,
)

CPU = torch.device("cpu")
N_FRAMES = 40
SETTINGS = NeuralSettings(
    preset="cpu", epochs=2, patience=2, batch_size=4, lr=1e-3, max_tokens=24, max_frames=32
)
ROWS = AudioFeatureConfig(n_mels=16, n_mfcc=8).feature_rows()
MODELS = {
    "lstm_attn": {"estimator": "lstm_attn", "tokenizer": "midi_like"},
    "short_chunk_resnet": {"estimator": "short_chunk_resnet"},
    "zhao_yoshii": {"estimator": "zhao_yoshii", "tokenizer": "midi_like"},
    "zhu": {"estimator": "zhu", "tokenizer": "refined_midi_like"},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def toy_tables(per_split: int = 2) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Manifest, token table and frame cache of ``per_split`` clips per quadrant and split, + 1 unsplit."""
    rng = np.random.default_rng(0)
    rows = [
        {"clip_id": f"{split}_q{q}_{k}", "quadrant": q, "split": split}
        for split in ("train", "val", "test")
        for q in (1, 2, 3, 4)
        for k in range(per_split)
    ]
    manifest = pd.DataFrame([*rows, {"clip_id": "unused", "quadrant": 1, "split": "none"}])
    lengths = rng.integers(5, 40, len(manifest))
    tokens = pd.DataFrame(
        {
            "clip_id": manifest["clip_id"],
            "tokens": [rng.integers(0, 300, n).tolist() for n in lengths],
            "n_tokens": lengths,
        }
    )
    frames = pd.DataFrame(
        {
            "clip_id": manifest["clip_id"],
            "n_frames": N_FRAMES,
            **{
                name: [rng.normal(size=(ROWS[name], N_FRAMES)).astype(np.float32).tolist() for _ in lengths]
                for name in FEATURES
            },
        }
    )
    return manifest, {"tokens": tokens, "frames": frames}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_estimator_trains_and_predicts_every_clip(name):
    manifest, inputs = toy_tables()
    settings = NeuralSettings(**{**SETTINGS.__dict__, "frame_rate_hz": 4.0})  # ResNet chunks: 12 frames
    run = train_neural(manifest, inputs, settings, MODELS[name], "main", 0, CPU)
    predictions = run.predictions
    partition = manifest[manifest["split"] != "none"]
    assert list(predictions["clip_id"]) == list(partition["clip_id"])
    assert list(predictions["split"]) == list(partition["split"])
    assert list(predictions["quadrant"]) == list(partition["quadrant"])
    assert np.allclose(predictions[PROB_COLUMNS].to_numpy().sum(axis=1), 1.0)
    assert predictions["predicted"].isin([1, 2, 3, 4]).all()
    assert run.history["epochs_run"] == 2 and len(run.history["val_clip_accuracy"]) == 2
    assert run.history["n_dropped"] == 0
    if name == "short_chunk_resnet":
        chunks = run.chunk_predictions
        assert chunks is not None and chunks.groupby("clip_id").size().eq(N_FRAMES // 12).all()
        assert np.allclose(chunks[PROB_COLUMNS].to_numpy().sum(axis=1), 1.0)
    else:
        assert run.chunk_predictions is None


def test_zhao_yoshii_probabilities_are_products_of_valence_and_arousal():
    manifest, inputs = toy_tables(1)
    run = train_neural(manifest, inputs, SETTINGS, MODELS["zhao_yoshii"], "main", 0, CPU)
    p = run.predictions[PROB_COLUMNS].to_numpy()
    # P(Q1) P(Q3) = P(V)P(A)(1-P(V))(1-P(A)) = P(Q2) P(Q4)
    assert np.allclose(p[:, 0] * p[:, 2], p[:, 1] * p[:, 3], atol=1e-6)


def test_early_stopping_restores_the_best_epoch():
    manifest, inputs = toy_tables(1)
    settings = NeuralSettings(**{**SETTINGS.__dict__, "epochs": 6, "patience": 1, "lr": 0.05})
    run = train_neural(manifest, inputs, settings, MODELS["lstm_attn"], "main", 1, CPU)
    history = run.history
    best = history["best_epoch"]
    assert history["epochs_run"] == best + 1 + settings.patience < settings.epochs  # stopped early
    accuracy = np.asarray(history["val_clip_accuracy"])
    assert accuracy[best] == accuracy.max()
    # the restored weights reproduce the best epoch's validation accuracy
    val = run.predictions[run.predictions["split"] == "val"]
    assert np.isclose((val["predicted"] == val["quadrant"]).mean(), accuracy[best])


def test_clip_missing_an_input_is_dropped_and_counted():
    manifest, inputs = toy_tables(1)
    inputs["tokens"] = inputs["tokens"][inputs["tokens"]["clip_id"] != "train_q1_0"]
    inputs["frames"] = inputs["frames"][~inputs["frames"]["clip_id"].isin(["train_q2_0", "test_q3_0"])]
    run = train_neural(manifest, inputs, SETTINGS, MODELS["zhu"], "main", 0, CPU)
    assert run.history["missing"] == {"tokens": 1, "frames": 2}
    assert run.history["n_dropped"] == 3 and run.history["n_clips"] == 12
    assert set(run.predictions["clip_id"]).isdisjoint({"train_q1_0", "train_q2_0", "test_q3_0"})
    assert len(run.predictions) == 9


def test_an_ablation_reads_only_the_inputs_of_its_branches():
    manifest, inputs = toy_tables(1)
    settings = {**MODELS["zhao_yoshii"], "ablation": "symbolic_only"}
    run = train_neural(manifest, {"tokens": inputs["tokens"]}, SETTINGS, settings, "main", 0, CPU)
    assert run.history["missing"] == {"tokens": 0} and len(run.predictions) == 12


ESTIMATOR_ABLATIONS = [(name, "full") for name in ("lstm_attn", "short_chunk_resnet")] + [
    (name, ablation)
    for name, module in (("zhao_yoshii", zhao_yoshii), ("zhu", zhu))
    for ablation in module.ABLATIONS
]


@pytest.mark.parametrize(("estimator", "ablation"), ESTIMATOR_ABLATIONS)
def test_the_dag_gives_each_ablation_exactly_the_inputs_its_branches_read(estimator, ablation):
    settings = {**MODELS[estimator], "ablation": ablation, "features": "neural", "source": "oracle"}
    built = required_inputs(neural_model_config(SETTINGS, settings, ROWS))
    assert neural_input_tables(settings) == built


@pytest.mark.parametrize(
    ("ablation", "source", "shown_source", "audio"),
    [
        ("full", "oracle", "oracle", True),  # chroma and MFCC branches read audio
        ("symbolic_only", "oracle", "oracle", False),  # the dataset's MIDI only
        ("chroma_only", "oracle", "audio", True),  # no notes: its MIDI source is not an input
        ("symbolic_only", "basic_pitch", "basic_pitch", True),  # notes transcribed from audio
    ],
)
def test_table_source_and_audio_follow_the_enabled_branches(ablation, source, shown_source, audio):
    settings = {**MODELS["zhao_yoshii"], "ablation": ablation, "features": "neural", "source": source}
    assert input_source(settings) == shown_source
    assert uses_audio(settings) is audio


def test_stft_input_ablation_trains_on_the_stft_rows():
    manifest, inputs = toy_tables(1)
    settings = {**MODELS["zhu"], "ablation": "stft_input"}
    assert frame_columns_for(SETTINGS, settings) == ["clip_id", "n_frames", "stft"]
    frames = inputs["frames"][frame_columns_for(SETTINGS, settings)]
    run = train_neural(manifest, {**inputs, "frames": frames}, SETTINGS, settings, "main", 0, CPU)
    assert len(run.predictions) == 12
    assert run.model.config.acoustic_input == "stft"
    assert run.model.config.acoustic_rows == ROWS["stft"] == 257
    assert run.history["n_dropped"] == 0


@pytest.mark.parametrize(
    ("settings", "columns"),
    [
        (MODELS["short_chunk_resnet"], ["log_mel"]),
        (MODELS["zhao_yoshii"], ["chroma", "mfcc_coarse"]),
        ({**MODELS["zhao_yoshii"], "ablation": "mfcc_only"}, ["mfcc_coarse"]),
        ({**MODELS["zhao_yoshii"], "ablation": "symbolic_only"}, []),
        (MODELS["zhu"], ["mfcc", "log_mel", "spectral_centroid", "rms"]),
        ({**MODELS["zhu"], "ablation": "symbolic_only"}, []),
    ],
)
def test_each_model_loads_only_the_frame_columns_it_reads(settings, columns):
    assert frame_columns_for(SETTINGS, settings) == ["clip_id", "n_frames", *columns]


def test_frame_cache_without_a_needed_column_names_it():
    manifest, inputs = toy_tables(1)
    frames = inputs["frames"].drop(columns=["stft"])
    settings = {**MODELS["zhu"], "ablation": "stft_input"}
    with pytest.raises(MissingFeatureError, match="stft"):
        train_neural(manifest, {**inputs, "frames": frames}, SETTINGS, settings, "main", 0, CPU)


def test_crops_pads_and_batches():
    frames = np.arange(20, dtype=np.float32).reshape(2, 10)
    assert np.array_equal(crop_frames(frames, 4, None), frames[:, 3:7])
    random = crop_frames(frames, 4, np.random.default_rng(0))
    assert random.shape == (2, 4) and random[0, 1] - random[0, 0] == 1
    padded = pad_frames([frames, frames[:, :3]])
    assert padded.shape == (2, 2, 10) and torch.equal(padded[1, :, 3:], torch.tensor([[0.0] * 7, [10.0] * 7]))
    tokens, mask = pad_tokens([np.array([5, 6, 7]), np.array([8])])
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.sum(dim=1).tolist() == [3, 1]


def test_clip_scores_of_chunk_models_are_mean_chunk_logits():
    manifest, inputs = toy_tables(1)
    settings = NeuralSettings(**{**SETTINGS.__dict__, "frame_rate_hz": 4.0})
    run = train_neural(manifest, inputs, settings, MODELS["short_chunk_resnet"], "main", 0, CPU)
    chunks = run.chunk_predictions
    assert chunks is not None
    first = chunks[chunks["clip_id"] == run.predictions["clip_id"].iloc[0]]
    logits = np.log(first[PROB_COLUMNS].to_numpy())
    mean = torch.softmax(torch.as_tensor(logits.mean(axis=0)), dim=0).numpy()
    assert np.allclose(mean, run.predictions[PROB_COLUMNS].iloc[0].to_numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["zhu", "short_chunk_resnet"])
def test_frame_views_train_exactly_like_pandas_frames(tmp_path, name):
    """The memory-light reading of the frame cache (2-D views) changes no number."""
    manifest, inputs = toy_tables(1)
    frames = inputs["frames"]
    path = tmp_path / "frames.parquet"
    frame_sets = [
        {f: np.asarray(frames[f].iloc[i], dtype=np.float32) for f in FEATURES} for i in range(len(frames))
    ]
    write_parquet(frame_table(list(frames["clip_id"]), frame_sets), path)
    columns = frame_columns_for(SETTINGS, MODELS[name])
    settings = NeuralSettings(**{**SETTINGS.__dict__, "frame_rate_hz": 4.0})
    runs = [
        train_neural(manifest, {**inputs, "frames": table}, settings, MODELS[name], "main", 0, CPU)
        for table in (pd.read_parquet(path, columns=columns), read_matrix_table(path, columns))
    ]
    pd.testing.assert_frame_equal(runs[0].predictions, runs[1].predictions, check_exact=True)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_are_built_channels_last_with_the_outputs_of_the_default_layout(name):
    manifest, inputs = toy_tables(1)
    config = neural_model_config(SETTINGS, MODELS[name], ROWS)
    torch.manual_seed(0)
    model = build_model(config).eval()
    weights = [p for p in model.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    assert (len(weights) > 0) == (name != "lstm_attn")
    default_layout = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    assert not any(p.dim() == 4 and not p.is_contiguous() for p in default_layout.parameters())
    clips, _, _ = build_clip_set(manifest, inputs, config, "main", SETTINGS.max_tokens)
    batch = model_batch(clips, SETTINGS.max_frames, 12, np.random.default_rng(0))
    with torch.no_grad():
        ours = item_scores(model, model(**batch))
        reference = item_scores(default_layout, default_layout(**batch))
    assert torch.allclose(ours, reference, atol=1e-5)


def test_lstm_attn_trains_on_plain_cross_entropy_unless_its_entry_sets_the_penalty():
    plain = neural_model_config(SETTINGS, {"estimator": "lstm_attn", "features": "neural"}, ROWS)
    assert plain.penalty_weight == 0.0  # EMOPIA's midi_cls: no attention penalty
    entry = {"estimator": "lstm_attn", "features": "neural", "penalty_weight": 1.0}
    assert neural_model_config(SETTINGS, entry, ROWS).penalty_weight == 1.0


def test_lstm_attn_padding_entry_selects_emopia_cls_form_and_its_shuffled_batches():
    entry = {"estimator": "lstm_attn", "features": "neural"}
    assert not neural_model_config(SETTINGS, entry, ROWS).reads_padding  # masked by default
    config = neural_model_config(SETTINGS, {**entry, "padding": "read"}, ROWS)
    assert config.reads_padding
    lengths = np.array([900, 12, 3000, 40])
    assert batching_lengths(build_model(config), lengths).tolist() == [1, 1, 1, 1]  # length-blind
    masked = build_model(neural_model_config(SETTINGS, entry, ROWS))
    assert batching_lengths(masked, lengths).tolist() == lengths.tolist()


@pytest.mark.parametrize("name", ["short_chunk_resnet", "zhu"])  # random chunks; dropout
def test_a_training_killed_mid_epoch_resumes_to_the_uninterrupted_result(name, tmp_path, monkeypatch):
    from merflow.training import neural as neural_training
    from merflow.training.torch_utils import load_checkpoint

    manifest, inputs = toy_tables(2)
    schedule = {"restart_epochs": 2, "weight_decay": 1e-4}  # EMOPIA_cls's optimiser, restarts every 2
    settings = NeuralSettings(
        **{**SETTINGS.__dict__, "epochs": 4, "patience": 10, "frame_rate_hz": 4.0, **schedule}
    )
    whole = train_neural(manifest, inputs, settings, MODELS[name], "main", 0, CPU)
    checkpoint = tmp_path / "resume.pt"
    real_step = neural_training.training_step

    def killed_in_the_third_epoch(*args, **kwargs):
        if checkpoint.is_file() and load_checkpoint(checkpoint)["loop"]["next_epoch"] == 2:
            raise KeyboardInterrupt  # what a SIGTERM or a cluster preemption does to the job
        return real_step(*args, **kwargs)

    monkeypatch.setattr(neural_training, "training_step", killed_in_the_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_neural(manifest, inputs, settings, MODELS[name], "main", 0, CPU, resume=(checkpoint, "run"))
    monkeypatch.undo()
    resumed = train_neural(
        manifest, inputs, settings, MODELS[name], "main", 0, CPU, resume=(checkpoint, "run")
    )
    assert resumed.history["resumed_at"] == 2 and resumed.history["epochs_run"] == 4
    pd.testing.assert_frame_equal(resumed.predictions, whole.predictions)
    for key in ("train_loss", "val_clip_accuracy", "val_loss", "best_epoch"):
        assert resumed.history[key] == whole.history[key]
    # A checkpoint of another run (other settings or code) is not resumed: training starts over.
    other = train_neural(manifest, inputs, settings, MODELS[name], "main", 0, CPU, resume=(checkpoint, "x"))
    assert other.history["resumed_at"] == 0
    pd.testing.assert_frame_equal(other.predictions, whole.predictions)


def test_a_models_training_entry_overrides_the_neural_section():
    neural = {"preset": "cpu", "epochs": 30, "lr": 1e-4, "batch_size": 64}
    emopia_cls = {"lr": 1e-3, "weight_decay": 1e-4, "restart_epochs": 45, "batch_size": 8, "epochs": 200}
    settings = NeuralSettings.from_config(neural, 43.0, emopia_cls)
    assert (settings.lr, settings.weight_decay, settings.restart_epochs) == (1e-3, 1e-4, 45)
    assert (settings.batch_size, settings.epochs, settings.preset, settings.frame_rate_hz) == (
        8,
        200,
        "cpu",
        43.0,
    )
    assert NeuralSettings.from_config(neural).restart_epochs == 0  # constant learning rate by default
    with pytest.raises(ValueError, match="cannot set \\['preset'\\]"):
        NeuralSettings.from_config(neural, None, {"preset": "paper"})
