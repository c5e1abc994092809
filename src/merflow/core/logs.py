"""Logging set-up shared by the pipeline scripts and the CLI.

Conventions
-----------
Pipeline jobs log to their Snakemake ``log:`` file, line-buffered, with timestamps, so a
long job shows its progress (count, rate, ETA) while it runs: ``tail -f`` the log. A crash
(SIGSEGV, SIGABRT...) writes every thread's Python traceback into the same file
(:mod:`faulthandler`), so a job that dies names where it died.
"""

from __future__ import annotations

import faulthandler
import io
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
    enable_crash_tracebacks()


def enable_crash_tracebacks() -> None:
    """On a fatal signal (SIGSEGV, SIGABRT...), write every thread's traceback to stderr.

    stderr is the job's log after :func:`setup_logging`; a stderr with no file descriptor (a
    test's capture) falls back to the process's original stderr.
    """
    try:
        faulthandler.enable(file=sys.stderr, all_threads=True)
    except (AttributeError, ValueError, io.UnsupportedOperation):
        faulthandler.enable(file=sys.__stderr__, all_threads=True)


class Progress:
    """Logs ``done/total``, rate and ETA every ``every`` items (and at the end).

    A line reads ``12/40 clips (3.10 clips/s, ETA 9 s)``, or with a ``detail`` given to
    :meth:`step` ``12/40 clips (transcribed 10, cached 1, failed 1; 3.10 clips/s, ETA 9 s)``.

    Args:
        logger: where to log.
        total: number of items.
        what: what an item is, for the message (``clips``, ``songs``).
        every: log every this many items.
        interval_s: if given, log when this many seconds have passed since the last line
            instead of every ``every`` items.
    """

    def __init__(
        self,
        logger: logging.Logger,
        total: int,
        what: str,
        every: int = 10,
        interval_s: float | None = None,
    ):
        self.logger = logger
        self.total = total
        self.what = what
        self.every = max(1, every)
        self.interval_s = interval_s
        self.done = 0
        self.start = self.last_log = time.perf_counter()

    def step(self, n: int = 1, detail: str = "") -> None:
        """Count ``n`` more items as done; log when due, with ``detail`` (e.g. counts per status)."""
        self.done += n
        now = time.perf_counter()
        if self.interval_s is None:
            due = self.done % self.every == 0
        else:
            due = now - self.last_log >= self.interval_s
        if due or self.done >= self.total:
            self.last_log = now
            elapsed = now - self.start
            rate = self.done / elapsed if elapsed > 0 else float("inf")
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            self.logger.info(
                "%d/%d %s (%s%.2f %s/s, ETA %.0f s)",
                self.done,
                self.total,
                self.what,
                f"{detail}; " if detail else "",
                rate,
                self.what,
                eta,
            )
