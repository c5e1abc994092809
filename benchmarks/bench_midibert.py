"""Seconds per fine-tuning and masked-LM step of MIDI-BERT sizes on this machine.

Usage: python benchmarks/bench_midibert.py [threads]
Prints, for each size and chunk length, the time of one optimisation step (forward +
backward + AdamW) of a batch of 12 chunks, and what that means for one EMOPIA epoch
(about 1,300 chunks of 256 notes or 770 chunks of 512 notes in the MIDI-BERT split's train
part) — the numbers to choose a CPU preset that meets the time budgets.
"""

from __future__ import annotations

import sys
import time

import torch

from merflow.models.film import MoFi, mode_one_hot
from merflow.models.midibert import MidiBert, MidiBertConfig, MidiBertLM
from merflow.training.pretraining import mask_cp_tokens, mlm_loss

BATCH = 12
REPEATS = 3
SIZES = {
    "cpu (4 x 256)": {},
    "3 x 192": {"num_layers": 3, "num_heads": 4, "hidden_size": 192, "intermediate_size": 768},
    "2 x 128": {"num_layers": 2, "num_heads": 4, "hidden_size": 128, "intermediate_size": 512},
}
CHUNKS_PER_EPOCH = {128: 2600, 256: 1300, 512: 770}


def random_tokens(config: MidiBertConfig, length: int) -> torch.Tensor:
    fields = [torch.randint(0, size - 2, (BATCH, length)) for size in config.vocab_sizes]
    return torch.stack(fields, dim=-1)


def step_seconds(model: torch.nn.Module, step) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(REPEATS + 1):
        started = time.perf_counter()
        loss = step()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return min(times[1:])  # the first step warms up


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    print(f"{threads} threads, batch {BATCH}")
    for name, overrides in SIZES.items():
        for length in (128, 256, 512):
            config = MidiBertConfig.preset("cpu", **overrides)
            tokens = random_tokens(config, length)
            mofi = MoFi(MidiBert(config))
            mode = mode_one_hot(torch.zeros(BATCH, dtype=torch.long))
            labels = torch.zeros(BATCH, dtype=torch.long)
            finetune = step_seconds(
                mofi,
                lambda m=mofi, t=tokens, c=mode, y=labels: torch.nn.functional.cross_entropy(
                    m(t, c).logits, y
                ),
            )
            lm = MidiBertLM(MidiBert(config))
            batch = mask_cp_tokens(tokens, torch.Generator().manual_seed(0))
            pretrain = step_seconds(
                lm,
                lambda m=lm, b=batch: mlm_loss(m(b.inputs, b.attention_mask), b.targets, b.loss_mask).total,
            )
            epoch = finetune * CHUNKS_PER_EPOCH[length] / BATCH
            print(
                f"{name:14s} {length:3d} notes: fine-tune {finetune:.2f} s/step "
                f"(EMOPIA epoch ~{epoch / 60:.1f} min), masked-LM {pretrain:.2f} s/step"
            )


if __name__ == "__main__":
    main()
