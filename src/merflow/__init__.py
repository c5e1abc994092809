"""merflow: a reproducible pipeline for music emotion recognition on piano music."""

from __future__ import annotations

from merflow.core import numba_cache as _numba_cache

__version__ = "0.1.0"

# Before librosa or basic-pitch compile anything: a numba cache folder no other process writes
# (numba's cache race, merflow.core.numba_cache).
_numba_cache.configure()
