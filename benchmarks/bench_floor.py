"""Every model's training step beside its floor, on batches with EMOPIA's real lengths.

For each model at the ``paper`` and ``cpu`` sizes this measures, in the same run:

- **ours**: one optimisation step exactly as merflow trains (``neural_training.training_step``:
  batch assembly from per-clip arrays, masks, the padded BiRNN, the model's loss, Adam;
  ``finetuning.finetune_step`` for MoFi; ``pretraining.mlm_step`` for masked-LM pretraining);
- **floor**: the same layers on dense tensors built beforehand, with no mask, packing or
  bookkeeping (embedding + one ``nn.LSTM``/``nn.GRU(bidirectional=True)`` call on the padded
  batch, attention without masks...), same batch shape, same optimiser step;

on length-bucketed batches (:mod:`merflow.training.length_buckets`) of EMOPIA's official training
split (767 clips; token counts from merflow's tokenizers on the mirrored MIDI, frame counts
from the clips' durations at 43.07 frames/s). Three batches per model (shortest, median and
longest of an epoch) fit ``t = a * positions + b * sum(len^2)`` (the second term is attention's),
which gives one epoch's time as the sum over the epoch's batches; the published number of
epochs gives the full run. FLOPs of a step come from ``torch.utils.flop_counter`` on the
floor (plus the recurrent layers' FLOPs, counted analytically: PyTorch's fused CPU LSTM is
invisible to the counter), summed the same way; the GPU column divides an epoch's FLOPs by
an assumed sustained rate (``--gpu-tflops``, default 150 = about 30% of an H100 SXM's
dense TF32 peak of 495 TFLOP/s). Recurrent layers run time step by time step on a GPU too,
so for LSTM-Attn and Zhao & Yoshii that column is a lower bound.

A step heavier than ``--max-step-s`` (probed on 2 clips) is measured on a sub-batch and
scaled to the full batch by clip count (the "measured" column says so).

Usage (not part of the tests; about 15-25 minutes on 2 cores):

    python benchmarks/bench_floor.py [--presets paper cpu] [--models lstm_attn zhu ...]

A model named ``model:ablation`` (``zhao_yoshii:symbolic_only``, ``zhu:stft_input``...) is
that ablation of the model, measured as merflow trains it, without a floor (its floor
columns are blank; its FLOPs are counted on merflow's step).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from merflow.models.baselines import LSTMAttn, ShortChunkResNet
from merflow.models.film import MoFi, mode_one_hot
from merflow.models.midibert import CP_VOCAB_SIZES, MidiBert, MidiBertConfig, MidiBertLM
from merflow.models.zhao_yoshii import ZhaoYoshii
from merflow.models.zhu import SymbolicLM, Zhu, ZhuConfig, ZhuOutput, sinusoidal_positions
from merflow.music.audio_features import AudioFeatureConfig
from merflow.music.midi import checked_notes, read_score
from merflow.tokenizers import midi_like, refined_midi_like
from merflow.tokenizers.cp import MAX_LEN, PAD_WORD, encode_cp
from merflow.training.clip_aggregation import ChunkSet
from merflow.training.finetuning import FinetuneSettings, finetune_step
from merflow.training.length_buckets import padding_fraction, training_batches
from merflow.training.neural import NeuralSettings, build_model, neural_model_config, training_step
from merflow.training.neural_inputs import ClipSet
from merflow.training.pretraining import mask_cp_tokens, mlm_loss, mlm_step, special_token_vocab

REPO = Path(__file__).resolve().parents[1]
EMOPIA = REPO.parent / "shared" / "data" / "emopia"
FRAME_RATE = AudioFeatureConfig().frame_rate
#: Published (or, where a paper is silent, our config's) batch size and epochs per model.
PUBLISHED = {
    "lstm_attn": (8, 200, "EMOPIA_cls midi_cls: batch 8, 200 epochs"),
    "short_chunk_resnet": (32, 100, "EMOPIA_cls audio_cls: batch 32, up to 100 epochs"),
    "zhao_yoshii": (64, 30, "not published: config.yaml neural (batch 64, 30 epochs)"),
    "zhu": (64, 30, "batch 64 (paper); epochs not published: config.yaml 30"),
    "mofi": (16, 20, "MoFi: batch 16, at most 20 epochs"),
    "midibert_mlm": (12, None, "MIDI-BERT: batch 12; config.yaml 20,000 steps"),
    "zhu_mlm": (32, None, "our masked-LM pretraining of Zhu's encoder: batch 32"),
}
MLM_STEPS = {"midibert_mlm": 20000, "zhu_mlm": 1760}
#: Zhu's masked-LM chunk length (config neural_cpu.yaml zhu_pretrain.max_len).
ZHU_MLM_LEN = 256
#: cpu-preset crops of config/neural_cpu.yaml; paper: whole clips.
CPU_MAX_TOKENS, CPU_MAX_FRAMES = 192, 325


@dataclass
class Lengths:
    """Per-clip lengths of EMOPIA's official training split."""

    midi_like: np.ndarray
    refined: np.ndarray
    notes: np.ndarray  # CP words (one per note)
    frames: np.ndarray


def emopia_lengths() -> Lengths:
    """Token, note and frame counts of the 767 clips of EMOPIA's official training split."""
    split = EMOPIA / "split_official" / "train.csv"
    midis = EMOPIA / "EMOPIA_1.0" / "midis"
    if not split.is_file() or not midis.is_dir():
        sys.exit(f"needs the EMOPIA mirror ({split}, {midis}): see ../shared/data/README.md")
    rows = {"midi_like": [], "refined": [], "notes": [], "frames": []}
    for name in pd.read_csv(split)["fname"]:
        path = midis / f"{name}.mid"
        notes = checked_notes(read_score(path), name, path)
        rows["midi_like"].append(len(midi_like.encode(notes)))
        rows["refined"].append(len(refined_midi_like.encode(notes)))
        rows["notes"].append(len(encode_cp(path)))
        rows["frames"].append(1 + int(float(notes.offset.max()) * FRAME_RATE))
    return Lengths(**{k: np.asarray(v, dtype=np.int64) for k, v in rows.items()})


# ---------------------------------------------------------------- batches and steps


@dataclass
class Case:
    """One model at one size: how to make a batch of given lengths, and its two steps."""

    model: nn.Module
    lengths: np.ndarray  # cost length per clip (what batches are bucketed by)
    batch_size: int
    ours: Callable[[np.ndarray], Callable[[], None]]  # clip lengths -> one step of ours
    floor: Callable[[np.ndarray], Callable[[], None]] | None  # clip lengths -> one floor step
    recurrent: list[nn.Module]  # nn.LSTM/GRU layers, whose FLOPs are counted analytically


def _tokens(lengths: np.ndarray, vocab: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(0, vocab, size=int(n)) for n in lengths]


def _frames(lengths: np.ndarray, rows: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((rows, int(n))).astype(np.float32) for n in lengths]


def _adam(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-4)


def _dense_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: Callable[[], Tensor]) -> None:
    value = loss()
    optimizer.zero_grad()
    value.backward()
    optimizer.step()


def _birnn_dense(encoder: nn.Module, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """Floor of BiRecurrentEncoder: embedding + one bidirectional call; summary from the ends."""
    states = encoder.rnn(encoder.embedding(tokens))[0]
    hidden = encoder.rnn.hidden_size
    return states, torch.cat([states[:, -1, :hidden], states[:, 0, hidden:]], dim=-1)


def _zhu_symbolic_dense(encoder: nn.Module, tokens: Tensor) -> Tensor:
    """Floor of Zhu's SymbolicEncoder: embedding, positions, Transformer layers without a mask."""
    x = encoder.embedding(tokens) * math.sqrt(encoder.d_model)
    x = encoder.dropout(x + sinusoidal_positions(tokens.shape[1], encoder.d_model))
    return encoder.encoder(x)


def neural_case(
    estimator: str, preset: str, lengths: Lengths, rng: np.random.Generator, ablation: str = "full"
) -> Case:
    """LSTM-Attn, short-chunk ResNet, Zhao & Yoshii or Zhu et al. through ``training_step``.

    An ``ablation`` other than ``full`` has no floor here (its case's ``floor`` is None): its
    step is measured as merflow trains it, and its FLOPs are counted on that step.
    """
    batch_size = PUBLISHED[estimator][0]
    cpu = preset == "cpu"
    settings = NeuralSettings(
        preset=preset,
        batch_size=batch_size,
        max_tokens=CPU_MAX_TOKENS if cpu else 10**6,
        max_frames=CPU_MAX_FRAMES if cpu else 10**6,
    )
    tokenizer = "refined_midi_like" if estimator == "zhu" else "midi_like"
    rows = {"log_mel": 128, "mfcc_coarse": 23, "mfcc": 20, "stft": 257}
    entry = {"estimator": estimator, "tokenizer": tokenizer, "ablation": ablation}
    config = neural_model_config(settings, entry, rows)
    model = build_model(config)
    vocab = config.vocab_size if hasattr(config, "vocab_size") else 0
    token_lengths = lengths.refined if estimator == "zhu" else lengths.midi_like
    token_lengths = np.minimum(token_lengths, settings.max_tokens)
    frame_lengths = np.minimum(lengths.frames, settings.max_frames)
    chunk_frames = config.chunk_frames(FRAME_RATE) if isinstance(model, ShortChunkResNet) else None
    labels = torch.as_tensor(rng.integers(0, 4, size=batch_size))
    optimizer = _adam(model)
    recurrent: list[nn.Module] = []

    def clip_set(clip_lengths: np.ndarray) -> ClipSet:
        n = len(clip_lengths)
        index = np.searchsorted(np.sort(cost), clip_lengths)  # frames follow tokens' rank
        frames = np.sort(frame_lengths)[np.minimum(index, len(cost) - 1)]
        inputs: dict[str, list[np.ndarray]] = {}
        if isinstance(model, LSTMAttn | ZhaoYoshii | Zhu):
            inputs["tokens"] = _tokens(clip_lengths, vocab, rng)
        if isinstance(model, ShortChunkResNet):
            inputs["chunks"] = _frames(np.maximum(frames, chunk_frames), 128, rng)
        if isinstance(model, ZhaoYoshii):
            inputs["chroma"] = _frames(frames, 12, rng)
            inputs["mfcc"] = _frames(frames, 23, rng)
        if isinstance(model, Zhu):
            inputs["acoustic"] = _frames(frames, config.acoustic_rows, rng)
        return ClipSet([f"c{i}" for i in range(n)], labels[:n].numpy(), inputs)

    def ours(clip_lengths: np.ndarray) -> Callable[[], None]:
        clips = clip_set(clip_lengths)
        step_rng = np.random.default_rng(0)
        return lambda: training_step(
            model, optimizer, clips, settings, chunk_frames, step_rng, torch.device("cpu")
        )

    def dense_inputs(clip_lengths: np.ndarray) -> dict[str, Tensor]:
        """Batch tensors at the batch's padded length, built once (no masks)."""
        n, longest = len(clip_lengths), int(clip_lengths.max())
        clips = clip_set(clip_lengths)
        out: dict[str, Tensor] = {}
        if "tokens" in clips.inputs:
            out["tokens"] = torch.as_tensor(rng.integers(0, vocab, size=(n, longest)))
        for name in ("chroma", "mfcc", "acoustic"):
            if name in clips.inputs:
                width = max(v.shape[1] for v in clips.inputs[name])
                out[name] = torch.randn(n, clips.inputs[name][0].shape[0], width)
        if "chunks" in clips.inputs:
            out["chunks"] = torch.randn(n, 128, chunk_frames)
        return out

    def floor_loss(x: dict[str, Tensor]) -> Tensor:
        y = labels[: next(iter(x.values())).shape[0]]
        if isinstance(model, LSTMAttn):
            states, _ = _birnn_dense(model.encoder, x["tokens"])
            attention = model.attention(states)
            return F.cross_entropy(model.classifier((attention @ states).flatten(1)), y)
        if isinstance(model, ShortChunkResNet):
            return F.cross_entropy(model(x["chunks"]), y)
        if isinstance(model, ZhaoYoshii):
            features = {
                "symbolic": _birnn_dense(model.symbolic_branch, x["tokens"])[1],
                "chroma": model.chroma_branch(x["chroma"]),
                "mfcc": model.mfcc_branch(x["mfcc"]),
            }
            fused = torch.stack([model.projections[k](features[k]) for k in model.config.branches], dim=1)
            fused = model.fusion_attention(fused, fused, fused, need_weights=False)[0]
            return model.loss(model.head(fused.flatten(1)), y)
        symbolic = _zhu_symbolic_dense(model.symbolic_encoder, x["tokens"])
        acoustic = model.acoustic_encoder(x["acoustic"])
        pooled = [
            model.acoustic_cda(acoustic, symbolic).mean(dim=1),
            model.symbolic_cda(symbolic, acoustic).mean(dim=1),
        ]
        output = ZhuOutput(
            model.classifier(torch.cat(pooled, dim=-1)),
            model.valence_head(symbolic.mean(dim=1)).squeeze(-1),
            model.arousal_head(acoustic.mean(dim=1)).squeeze(-1),
        )
        return model.loss(output, y)

    def floor(clip_lengths: np.ndarray) -> Callable[[], None]:
        x = dense_inputs(clip_lengths)
        return lambda: _dense_step(model, optimizer, lambda: floor_loss(x))

    if isinstance(model, LSTMAttn):
        recurrent = [model.encoder.rnn]
    elif isinstance(model, ZhaoYoshii) and model.symbolic_branch is not None:
        recurrent = [model.symbolic_branch.rnn]
    cost = token_lengths if isinstance(model, LSTMAttn | ZhaoYoshii | Zhu) else np.ones_like(frame_lengths)
    if isinstance(model, ShortChunkResNet):
        cost = np.full(len(frame_lengths), chunk_frames)
    return Case(model, cost, batch_size, ours, floor if ablation == "full" else None, recurrent)


def mofi_case(preset: str, lengths: Lengths, rng: np.random.Generator) -> Case:
    """MoFi fine-tuning (FiLM at layer 1) on CP chunks of at most 512 notes, bucketed and trimmed."""
    batch_size = PUBLISHED["mofi"][0]
    model = MoFi(MidiBert(MidiBertConfig.preset(preset)))
    settings = FinetuneSettings(batch_size=batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    chunk_notes = np.concatenate([np.minimum(n - np.arange(0, n, MAX_LEN), MAX_LEN) for n in lengths.notes])

    def chunks(chunk_lengths: np.ndarray) -> ChunkSet:
        n = len(chunk_lengths)
        tokens = np.tile(PAD_WORD, (n, MAX_LEN, 1))
        for row, m in enumerate(chunk_lengths):
            tokens[row, :m] = np.stack([rng.integers(0, v - 2, size=m) for v in CP_VOCAB_SIZES], axis=1)
        zeros = np.zeros(n, dtype=np.int64)
        return ChunkSet(tokens, zeros, rng.integers(0, 4, size=n), np.arange(n), [f"c{i}" for i in range(n)])

    def ours(chunk_lengths: np.ndarray) -> Callable[[], None]:
        data = chunks(chunk_lengths)
        index, generator = np.arange(len(chunk_lengths)), torch.Generator().manual_seed(0)
        return lambda: finetune_step(model, optimizer, data, index, settings, generator, torch.device("cpu"))

    def floor(chunk_lengths: np.ndarray) -> Callable[[], None]:
        data = chunks(chunk_lengths)
        tokens = torch.as_tensor(data.tokens[:, : chunk_lengths.max()])
        mode, labels = mode_one_hot(torch.as_tensor(data.minor)), torch.as_tensor(data.label)
        return lambda: _dense_step(
            model, optimizer, lambda: F.cross_entropy(model(tokens, mode).logits, labels)
        )

    return Case(model, chunk_notes, batch_size, ours, floor, [])


def mlm_case(which: str, preset: str, lengths: Lengths, rng: np.random.Generator) -> Case:
    """Masked-LM pretraining steps: MIDI-BERT on CP chunks, or Zhu's encoder on token chunks."""
    batch_size = PUBLISHED[which][0]
    if which == "midibert_mlm":
        model: nn.Module = MidiBertLM(MidiBert(MidiBertConfig.preset(preset)))
        vocab_sizes, n, fields = CP_VOCAB_SIZES, MAX_LEN, 4
    else:
        vocab = special_token_vocab(refined_midi_like.VOCAB_SIZE)
        model = SymbolicLM(ZhuConfig.preset(preset, vocab[0]))
        vocab_sizes, n, fields = vocab, ZHU_MLM_LEN, 1
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def chunk_batch(count: int) -> np.ndarray:
        return np.stack([rng.integers(0, v - 2, size=(count, n)) for v in vocab_sizes[:fields]], axis=-1)

    def ours(batch_lengths: np.ndarray) -> Callable[[], None]:
        data, generator = chunk_batch(len(batch_lengths)), torch.Generator().manual_seed(0)
        return lambda: mlm_step(model, optimizer, data, generator, vocab_sizes, torch.device("cpu"))

    def floor(batch_lengths: np.ndarray) -> Callable[[], None]:
        masked = mask_cp_tokens(
            torch.as_tensor(chunk_batch(len(batch_lengths))), torch.Generator(), vocab_sizes
        )

        def loss() -> Tensor:
            if isinstance(model, SymbolicLM):
                logits = [model.head(_zhu_symbolic_dense(model.encoder, masked.inputs[..., 0]))]
            else:
                logits = model(masked.inputs, None)
            return mlm_loss(logits, masked.targets, masked.loss_mask, vocab_sizes).total

        return lambda: _dense_step(model, optimizer, loss)

    return Case(model, np.full(1000, n), batch_size, ours, floor, [])


# ---------------------------------------------------------------- measuring


def best_time(step: Callable[[], None], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` steps, after one warm-up step."""
    step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return min(times)


def recurrent_flops(rnn: nn.Module, positions: int) -> float:
    """Forward + backward FLOPs of a bidirectional GRU/LSTM over ``positions`` tokens (3x forward)."""
    gates = 4 if isinstance(rnn, nn.LSTM) else 3
    total, width = 0.0, rnn.input_size
    for _ in range(rnn.num_layers):
        total += 2 * 2 * gates * (width + rnn.hidden_size) * rnn.hidden_size * positions
        width = 2 * rnn.hidden_size
    return 3 * total


def step_flops(case: Case, clip_lengths: np.ndarray) -> float:
    """FLOPs of one floor step (of ours where the case has no floor): the counter's, with
    recurrent layers counted analytically."""
    step = (case.floor or case.ours)(clip_lengths)
    with FlopCounterMode(display=False) as counter:
        step()
    counts = counter.get_flop_counts()
    total = float(sum(counts["Global"].values()))
    counted_rnn = sum(sum(v.values()) for k, v in counts.items() if k.rsplit(".", 1)[-1] == "rnn")
    positions = len(clip_lengths) * int(clip_lengths.max())
    return total - counted_rnn + sum(recurrent_flops(rnn, positions) for rnn in case.recurrent)


def fit_cost(batches: list[np.ndarray], times: list[float]) -> tuple[float, float]:
    """Least-squares a, b >= 0 of ``t = a * positions + b * len_sq`` over the measured batches."""
    features = np.array([[len(b) * b.max(), len(b) * float(b.max()) ** 2] for b in batches])
    coefficients, *_ = np.linalg.lstsq(features, np.asarray(times), rcond=None)
    if (coefficients < 0).any():  # fall back to the linear term alone
        a = float(np.dot(features[:, 0], times) / np.dot(features[:, 0], features[:, 0]))
        return a, 0.0
    return float(coefficients[0]), float(coefficients[1])


def epoch_cost(batches: list[np.ndarray], a: float, b: float) -> float:
    return sum(a * len(x) * x.max() + b * len(x) * float(x.max()) ** 2 for x in batches)


def measure(name: str, preset: str, case: Case, args: argparse.Namespace) -> dict[str, object]:
    epoch = training_batches(case.lengths, case.batch_size, torch.Generator().manual_seed(0))
    by_length = sorted(epoch, key=lambda b: (b.max(), len(b)))
    picks = [by_length[0], by_length[len(by_length) // 2], by_length[-1]]
    picks = [case.lengths[b] for b in picks]
    # Probe: 2 clips of the longest batch; scale the batch down if a full step is too slow.
    probe = best_time(case.ours(np.sort(picks[-1])[-2:]), 1)
    scale_clips = max(2, min(case.batch_size, int(args.max_step_s / max(probe / 2, 1e-6))))
    measured = []
    ours_t, floor_t, flops = [], [], []
    for lengths in picks:
        sub = np.sort(lengths)[-scale_clips:] if len(lengths) > scale_clips else lengths
        factor = len(lengths) / len(sub)
        ours_t.append(best_time(case.ours(sub), args.repeats) * factor)
        floor_t.append(best_time(case.floor(sub), args.repeats) * factor if case.floor else float("nan"))
        flops.append(step_flops(case, sub) * factor)
        measured.append(f"{len(sub)}/{len(lengths)}")
    epoch_lengths = [case.lengths[b] for b in epoch]
    a, b = fit_cost(picks, ours_t)
    ga, gb = fit_cost(picks, flops)
    batch_size, epochs, source = PUBLISHED[name.partition(":")[0]]
    ours_epoch = epoch_cost(epoch_lengths, a, b)
    epoch_flops = epoch_cost(epoch_lengths, ga, gb)
    if epochs is None:  # pretraining: a fixed number of steps of equal batches
        steps = MLM_STEPS[name]
        ours_epoch, epoch_flops = ours_t[1] * steps, flops[1] * steps
        epochs, per = 1, f"{steps} steps"
    else:
        per = f"{len(epoch)} batches"
    median = 1
    return {
        "model": name,
        "preset": preset,
        "params_M": sum(p.numel() for p in case.model.parameters()) / 1e6,
        "batch": batch_size,
        "median_len": int(picks[median].max()),
        "measured": measured[median],
        "ours_s": ours_t[median],
        "floor_s": floor_t[median],
        "ratio": ours_t[median] / floor_t[median],
        "gflop_step": flops[median] / 1e9,
        "epoch": per,
        "padding": padding_fraction(case.lengths, epoch),
        "cpu_epoch_min": ours_epoch / 60,
        "run_cpu_h": ours_epoch * epochs / 3600,
        "run_gpu_min": epoch_flops * epochs / (args.gpu_tflops * 1e12) / 60,
        "epochs": epochs,
        "source": source,
    }


def _or_dash(value: float, spec: str) -> str:
    """``value`` formatted, or "-" where it is NaN (an ablation has no floor)."""
    return "-" if value != value else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["paper", "cpu"])
    parser.add_argument("--models", nargs="+", default=list(PUBLISHED))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-step-s", type=float, default=30.0)
    parser.add_argument("--gpu-tflops", type=float, default=150.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    lengths = emopia_lengths()
    print(
        f"EMOPIA official training split: {len(lengths.midi_like)} clips; MIDI-like tokens median "
        f"{int(np.median(lengths.midi_like))} (max {lengths.midi_like.max()}), refined MIDI-like median "
        f"{int(np.median(lengths.refined))} (max {lengths.refined.max()}), notes median "
        f"{int(np.median(lengths.notes))}, frames median {int(np.median(lengths.frames))}; "
        f"torch {torch.__version__}, {args.threads} threads; read in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    rows = []
    for preset in args.presets:
        for name in args.models:
            rng = np.random.default_rng(0)
            torch.manual_seed(0)
            if name == "mofi":
                case = mofi_case(preset, lengths, rng)
            elif name.endswith("_mlm"):
                case = mlm_case(name, preset, lengths, rng)
            else:  # "zhu" or "zhu:symbolic_only": a model and its ablation
                model, _, ablation = name.partition(":")
                case = neural_case(model, preset, lengths, rng, ablation or "full")
            row = measure(name, preset, case, args)
            rows.append(row)
            print(
                f"{preset:>5} {name:<18} ours {row['ours_s']:8.3f} s  floor {row['floor_s']:8.3f} s  "
                f"x{_or_dash(row['ratio'], '.2f')}  ({row['measured']} clips measured)",
                flush=True,
            )
    table = pd.DataFrame(rows)
    print()
    print(
        f"One training step on the median-length batch of an epoch (bucketed), beside its floor; "
        f"epoch and run times computed on this machine ({args.threads} threads) and on one GPU at "
        f"{args.gpu_tflops:.0f} TFLOP/s sustained (H100 SXM, ~30% of dense TF32 peak; a lower bound "
        f"for the recurrent models)."
    )
    print()
    header = (
        "| model | preset | params (M) | batch | median batch length | step, ours (s) | floor (s) | "
        "ours/floor | GFLOP/step | padding | epoch | CPU epoch (min) | epochs | CPU run (h) | GPU run (min) |"
    )
    print(header)
    print("|" + "---|" * 15)
    for r in table.to_dict("records"):
        print(
            f"| {r['model']} | {r['preset']} | {r['params_M']:.2f} | {r['batch']} | {r['median_len']} | "
            f"{r['ours_s']:.3f} | {_or_dash(r['floor_s'], '.3f')} | {_or_dash(r['ratio'], '.2f')} | "
            f"{r['gflop_step']:.1f} | "
            f"{r['padding']:.1%} | {r['epoch']} | {r['cpu_epoch_min']:.2f} | {r['epochs']} | "
            f"{r['run_cpu_h']:.2f} | {r['run_gpu_min']:.2f} |"
        )
    print()
    for name in dict.fromkeys(name.partition(":")[0] for name in table["model"]):
        print(f"- {name}: {PUBLISHED[name][2]}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
