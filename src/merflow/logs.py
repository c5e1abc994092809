"""Logging set-up shared by the pipeline scripts and the CLI.

Conventions
-----------
Pipeline jobs log to their Snakemake ``log:`` file, line-buffered, with timestamps, so a
long job shows its progress (count, rate, ETA) while it runs: ``tail -f`` the log.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send log records (and stray stderr output) to ``log_path``, or to stderr if None."""
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = Path(log_path).open("w", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives for the job
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    logging.captureWarnings(True)


class Progress:
    """Logs ``done/total``, rate and ETA every ``every`` items (and at the end).

    Args:
        logger: where to log.
        total: number of items.
        what: what an item is, for the message (``clips``, ``songs``).
        every: log every this many items.
    """

    def __init__(self, logger: logging.Logger, total: int, what: str, every: int = 10):
        self.logger = logger
        self.total = total
        self.what = what
        self.every = max(1, every)
        self.done = 0
        self.start = time.perf_counter()

    def step(self, n: int = 1) -> None:
        """Count ``n`` more items as done; log when due."""
        self.done += n
        if self.done % self.every == 0 or self.done >= self.total:
            elapsed = time.perf_counter() - self.start
            rate = self.done / elapsed if elapsed > 0 else float("inf")
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            self.logger.info(
                "%d/%d %s (%.2f %s/s, ETA %.0f s)", self.done, self.total, self.what, rate, self.what, eta
            )
