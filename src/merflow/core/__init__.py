"""Foundations every stage uses: errors, atomic I/O, logs, the validated configuration,
code versions, ledgers of failures, quadrant labels, numba's cache, plots.
"""
