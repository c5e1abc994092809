"""merflow: a reproducible pipeline for music emotion recognition on piano music."""

from __future__ import annotations

__version__ = "0.1.0"
