"""Measuring runs: metrics, results tables beside the papers' numbers, MLflow tracking,
learning curves.
"""
