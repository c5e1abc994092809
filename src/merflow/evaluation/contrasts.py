"""Contrasts: the comparisons a paper claims (FiLM at layer 1 against none...), with their uncertainty.

A contrast is an ordered pair of models ``(A, B)`` from the config key ``contrasts``. It is
read off :func:`merflow.evaluation.tables.paired_comparisons`, whose rows hold, per seed,
both models' accuracies on the test clips both predicted (the partitions' test clips pooled,
so every clip counts once) and McNemar's discordant counts. For each contrast:

- ``diff``: accuracy of A minus B (fraction of clips) per seed; its mean over seeds and the
  95% Student-t interval of that mean (:func:`merflow.evaluation.metrics.summarize`; none
  for one seed). The interval is about the training's randomness (seeds).
- McNemar's exact test per seed (the clips are the same for every seed, so seeds are not
  pooled): ``p_values`` in seed order, and the discordant counts summed over seeds
  (``a_only``: clips A gets right and B wrong).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from merflow.evaluation.metrics import summarize

SIGNIFICANCE = 0.05
CONTRAST_COLUMNS = [
    "model_a",
    "model_b",
    "seeds",
    "n_clips",
    "accuracy_a",
    "accuracy_b",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "a_only",
    "b_only",
    "p_values",
    "significant_seeds",
]


def _oriented(paired: pd.DataFrame, model_a: str, model_b: str) -> pd.DataFrame:
    """The rows of ``paired`` comparing the two models, with ``model_a`` in the ``_a`` columns."""
    forward = paired[(paired["model_a"] == model_a) & (paired["model_b"] == model_b)]
    backward = paired[(paired["model_a"] == model_b) & (paired["model_b"] == model_a)].rename(
        columns={
            "accuracy_a": "accuracy_b",
            "accuracy_b": "accuracy_a",
            "a_only": "b_only",
            "b_only": "a_only",
        }
    )
    return pd.concat([forward, backward], ignore_index=True).sort_values("seed")


def contrasts(paired: pd.DataFrame, pairs: Sequence[Sequence[str]]) -> pd.DataFrame:
    """One row per contrast ``(A, B)`` of ``pairs`` that both models ran (columns ``CONTRAST_COLUMNS``).

    Args:
        paired: :func:`~merflow.evaluation.tables.paired_comparisons` of one dataset and split.
        pairs: ``[[A, B], ...]``; a pair without a shared seed is left out.
    """
    rows = []
    for model_a, model_b in pairs:
        runs = _oriented(paired, model_a, model_b)
        if runs.empty:
            continue
        diff = summarize((runs["accuracy_a"] - runs["accuracy_b"]).to_numpy())
        rows.append(
            {
                "model_a": model_a,
                "model_b": model_b,
                "seeds": " ".join(str(seed) for seed in runs["seed"]),
                "n_clips": int(runs["n_clips"].max()),
                "accuracy_a": float(runs["accuracy_a"].mean()),
                "accuracy_b": float(runs["accuracy_b"].mean()),
                "diff_mean": diff["mean"],
                "diff_ci_low": diff["ci_low"],
                "diff_ci_high": diff["ci_high"],
                "a_only": int(runs["a_only"].sum()),
                "b_only": int(runs["b_only"].sum()),
                "p_values": " ".join(f"{p:.3g}" for p in runs["p_value"]),
                "significant_seeds": int((runs["p_value"] < SIGNIFICANCE).sum()),
            }
        )
    return pd.DataFrame(rows, columns=CONTRAST_COLUMNS)


def contrasts_markdown(table: pd.DataFrame, pairs: Sequence[Sequence[str]], dataset: str, split: str) -> str:
    """Markdown of :func:`contrasts`, naming the configured pairs that did not run."""
    lines = [
        f"# {dataset}, split {split}: contrasts",
        "",
        "Each pair of the config's `contrasts` on the test clips both models predicted (per seed,",
        "the partitions' test clips pooled): Δ = 4Q accuracy of A minus B, mean over seeds with",
        "the 95% Student-t interval of the mean (none for one seed); McNemar's exact test per",
        "seed (seeds share the clips, so they are not pooled); A only / B only = discordant clips",
        f"summed over seeds; p < {SIGNIFICANCE} counts the seeds whose test rejects equal accuracy.",
        "",
    ]
    if table.empty:
        lines.append("No configured pair ran on this dataset and split.")
    else:
        lines += [
            "| A | B | seeds | clips | acc A | acc B | Δ | 95% CI | A only / B only "
            "| McNemar p per seed | p < 0.05 |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for _, row in table.iterrows():
            low, high = row["diff_ci_low"], row["diff_ci_high"]
            interval = "-" if pd.isna(low) else f"{low:+.3f} to {high:+.3f}"
            lines.append(
                f"| {row['model_a']} | {row['model_b']} | {row['seeds']} | {row['n_clips']} "
                f"| {row['accuracy_a']:.3f} | {row['accuracy_b']:.3f} | {row['diff_mean']:+.3f} | {interval} "
                f"| {row['a_only']} / {row['b_only']} | {row['p_values']} "
                f"| {row['significant_seeds']} of {len(row['seeds'].split())} |"
            )
    ran = set(zip(table["model_a"], table["model_b"], strict=True))
    missing = [f"{a} vs {b}" for a, b in pairs if (a, b) not in ran]
    if missing:
        lines += ["", "Configured but not run here: " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"
