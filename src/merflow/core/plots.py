"""Figures: one way to open a matplotlib figure off-screen and save it atomically as PNG."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from merflow.core.io import atomic_path

DPI = 120


@contextlib.contextmanager
def png_figure(path: str | Path, figsize: tuple[float, float]) -> Iterator[Any]:
    """Yield the axes of a new figure; on exit lay it out, save it to ``path`` and close it.

    Uses the non-interactive Agg backend (no display needed); nothing is written if the
    block raises.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, dpi=DPI)
    try:
        yield ax
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
