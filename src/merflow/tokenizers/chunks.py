"""Cutting a token sequence into fixed-length chunks for sequence models.

A sequence is ``(n, n_fields)`` int64: CP compound words have 4 fields, a flat token stream
(MIDI-like, refined MIDI-like) has one. Chunks are ``(n_chunks, max_len, n_fields)``; the
last one is padded with ``pad_row``.
"""

from __future__ import annotations

import numpy as np


def chunk_rows(tokens: np.ndarray, max_len: int, pad_row: np.ndarray) -> np.ndarray:
    """Cut ``tokens`` into chunks of ``max_len`` rows, padding the last one with ``pad_row``.

    Args:
        tokens: int array-like, shape ``(n, n_fields)`` (or ``(n,)`` for one field).
        max_len: rows per chunk.
        pad_row: shape ``(n_fields,)``, the padding row.

    Returns:
        int64, shape ``(ceil(n / max_len), max_len, n_fields)``; ``(0, max_len, n_fields)`` for n = 0.
    """
    pad_row = np.asarray(pad_row, dtype=np.int64).reshape(-1)
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, len(pad_row))
    n_chunks = -(-len(tokens) // max_len)
    chunks = np.empty((n_chunks * max_len, len(pad_row)), dtype=np.int64)
    chunks[: len(tokens)] = tokens
    chunks[len(tokens) :] = pad_row
    return chunks.reshape(n_chunks, max_len, len(pad_row))
