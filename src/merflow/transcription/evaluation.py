"""How well automatic transcription recovers the notes of the dataset's own MIDI.

Conventions
-----------
Reference: the ``oracle`` source (the dataset's MIDI of each clip); estimate: an AMT
backend's transcription of the clip's audio. Both are :class:`merflow.music.midi.Notes` in
seconds from the clip start.

Metrics
-------
mir_eval's note-level precision, recall and F1 (``mir_eval.transcription``), with a 50 ms
onset tolerance and matching pitch (within 50 cents):

- ``onset_*``: onset and pitch only (``offset_ratio=None``);
- ``onset_offset_*``: also the offset, within 20% of the reference note's duration or
  50 ms, whichever is larger (mir_eval's defaults).

The summary per backend averages the per-clip scores (macro) and gives the realtime
factor (processing seconds / audio seconds) from the transcription table.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import mir_eval
import numpy as np
import pandas as pd

from merflow.core.errors import InputError
from merflow.core.ledger import Ledger
from merflow.core.plots import png_figure
from merflow.datasets.sources import usable_midi
from merflow.music.midi import Notes, read_notes

ONSET_TOLERANCE_S = 0.05
SCORE_NAMES = ("precision", "recall", "f1")


def note_scores(reference: Notes, estimate: Notes) -> dict[str, float]:
    """Onset-only and onset+offset precision/recall/F1 of ``estimate`` against ``reference``."""
    ref_intervals = np.stack([reference.onset, reference.offset], axis=1)
    est_intervals = np.stack([estimate.onset, estimate.offset], axis=1)
    ref_hz = librosa.midi_to_hz(reference.pitch)
    est_hz = librosa.midi_to_hz(estimate.pitch)
    scores: dict[str, float] = {}
    for prefix, offset_ratio in (("onset", None), ("onset_offset", 0.2)):
        values = mir_eval.transcription.precision_recall_f1_overlap(
            ref_intervals,
            ref_hz,
            est_intervals,
            est_hz,
            onset_tolerance=ONSET_TOLERANCE_S,
            offset_ratio=offset_ratio,
        )[:3]
        scores.update({f"{prefix}_{name}": float(v) for name, v in zip(SCORE_NAMES, values, strict=True)})
    return scores


def evaluate_backend(
    oracle_index: pd.DataFrame, backend_index: pd.DataFrame, backend: str, ledger: Ledger
) -> pd.DataFrame:
    """Per-clip scores of one backend on the clips both sources have.

    Returns:
        ``clip_id``, ``backend``, ``n_reference``, ``n_estimate`` and the scores of
        :func:`note_scores`.
    """
    reference_paths, estimate_paths = usable_midi(oracle_index), usable_midi(backend_index)
    rows = []
    for clip_id in sorted(set(reference_paths) & set(estimate_paths)):
        try:
            reference = read_notes(reference_paths[clip_id], clip_id)
            estimate = read_notes(estimate_paths[clip_id], clip_id)
        except InputError as err:
            ledger.record(err)
            continue
        rows.append(
            {
                "clip_id": clip_id,
                "backend": backend,
                "n_reference": len(reference),
                "n_estimate": len(estimate),
                **note_scores(reference, estimate),
            }
        )
    return pd.DataFrame(rows)


def summarize_backends(per_clip: pd.DataFrame, transcriptions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per backend: clips scored, mean of every score, realtime factor (median, mean)."""
    score_columns = [c for c in per_clip.columns if c.startswith("onset")]
    summary = per_clip.groupby("backend")[score_columns].mean()
    summary.insert(0, "n_clips", per_clip.groupby("backend").size())
    for backend, table in transcriptions.items():
        factors = table["realtime_factor"].dropna() if "realtime_factor" in table else pd.Series(dtype=float)
        summary.loc[backend, "realtime_factor_median"] = float(factors.median()) if len(factors) else np.nan
        summary.loc[backend, "realtime_factor_mean"] = float(factors.mean()) if len(factors) else np.nan
    return summary.reset_index()


def plot_f1(per_clip: pd.DataFrame, path: str | Path, title: str) -> None:
    """Per-clip onset F1 and onset+offset F1 distributions of every backend (box plot, PNG)."""
    backends = sorted(per_clip["backend"].unique())
    with png_figure(path, (max(4.0, 2.2 * len(backends)), 3.6)) as ax:
        data, labels = [], []
        for backend in backends:
            rows = per_clip[per_clip["backend"] == backend]
            data += [rows["onset_f1"], rows["onset_offset_f1"]]
            labels += [f"{backend}\nonset", f"{backend}\nonset+offset"]
        ax.boxplot(data, tick_labels=labels)
        ax.set_ylim(0, 1)
        ax.set_ylabel("note F1 per clip")
        ax.set_title(title, fontsize=9)


def plot_f1_vs_accuracy(summary: pd.DataFrame, results: pd.DataFrame, path: str | Path, title: str) -> None:
    """Emotion accuracy of each symbolic model against the note F1 of its source (oracle = 1)."""
    f1 = {"oracle": 1.0, **dict(zip(summary["backend"], summary["onset_f1"], strict=True))}
    rows = results[(results["level"] == "clip") & results["source"].isin(list(f1))]
    with png_figure(path, (5.0, 3.8)) as ax:
        seen: dict[tuple[float, float], int] = {}
        for _, row in rows.iterrows():
            point = (f1[row["source"]], row["accuracy_mean"])
            ax.errorbar(*point, yerr=row["accuracy_std"], fmt="o", capsize=3)
            stacked = seen.get(point, 0)  # labels of coinciding points are stacked, not overlaid
            seen[point] = stacked + 1
            ax.annotate(
                row["model"], point, fontsize=7, xytext=(4, 4 + 9 * stacked), textcoords="offset points"
            )
        ax.set_xlim(0, 1.05)
        ax.set_ylim(0, 1)
        ax.set_xlabel("transcription onset F1 of the model's source (oracle = 1)")
        ax.set_ylabel("4Q accuracy (test, clip level)")
        ax.set_title(title, fontsize=9)
