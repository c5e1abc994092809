"""MIDI-BERT's relative key-query attention: HF's gathered table against merflow's skewed products.

One forward + backward of the attention core (scores, mask, softmax, values) at the `paper`
sizes (12 heads of 64, n = 512 notes, batch 4, one chunk with padding), in three exact forms
measured in the same run, beside plain scaled-dot-product attention without relative terms
(the floor):

- ``hf``: HF ``BertSelfAttention``'s ``relative_key_query``: an (n, n, head) table of distance
  embeddings gathered, then two einsums (merflow's form before this change);
- ``skewed``: :meth:`merflow.models.midibert.RelativeSelfAttention.relative_scores` (q and k
  times the 2n - 1 distance rows that occur, skewed into place by a gather), then the same
  masked softmax;
- ``skewed+sdpa``: the skewed terms handed to ``scaled_dot_product_attention`` as a float mask.

It prints the fastest of ``--repeats`` timings of each and the largest difference from ``hf``.
Usage: ``python benchmarks/bench_relative_attention.py [--threads 2] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812

from merflow.models.midibert import MidiBertConfig, RelativeSelfAttention, relative_distance_index

BATCH, NOTES = 4, 512


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    attention = RelativeSelfAttention(MidiBertConfig.preset("paper"))
    heads, size = attention.num_heads, attention.head_size
    q, k, v = (torch.randn(BATCH, heads, NOTES, size, requires_grad=True) for _ in range(3))
    mask = torch.ones(BATCH, NOTES, dtype=torch.bool)
    mask[0, 300:] = False
    hidden_mask = ~mask[:, None, None, :]
    scale = math.sqrt(size)

    def masked_softmax(scores: torch.Tensor) -> torch.Tensor:
        return scores.masked_fill(hidden_mask, torch.finfo(scores.dtype).min).softmax(dim=-1) @ v

    def hf() -> torch.Tensor:
        index = relative_distance_index(NOTES, NOTES, attention.max_len, q.device)
        distance = attention.distance_embedding(index)  # (n, n, head)
        relative = torch.einsum("bhld,lrd->bhlr", q, distance) + torch.einsum("bhrd,lrd->bhlr", k, distance)
        return masked_softmax((q @ k.transpose(-1, -2) + relative) / scale)

    def skewed() -> torch.Tensor:
        return masked_softmax((q @ k.transpose(-1, -2) + attention.relative_scores(q, k)) / scale)

    def skewed_sdpa() -> torch.Tensor:
        bias = (attention.relative_scores(q, k) / scale).masked_fill(hidden_mask, float("-inf"))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

    def floor() -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)

    reference = hf().detach()
    forms: dict[str, Callable[[], torch.Tensor]] = {
        "hf (before)": hf,
        "skewed (merflow)": skewed,
        "skewed+sdpa": skewed_sdpa,
        "floor: sdpa, no relative terms": floor,
    }
    print(
        f"relative key-query attention, {heads} heads x {size}, n = {NOTES}, batch {BATCH}, "
        f"forward + backward, {args.threads} threads, best of {args.repeats}"
    )
    print("| form | seconds | vs hf | max abs difference from hf |")
    print("|---|---|---|---|")
    base = None
    for name, form in forms.items():
        times = []
        for _ in range(args.repeats + 1):  # the first is a warm-up
            started = time.perf_counter()
            out = form()
            out.sum().backward()
            times.append(time.perf_counter() - started)
        best = min(times[1:])
        base = base or best
        diff = "-" if name.startswith("floor") else f"{(out.detach() - reference).abs().max().item():.1e}"
        print(f"| {name} | {best:.3f} | {base / best:.2f}x | {diff} |")


if __name__ == "__main__":
    main()
