"""Neural emotion-recognition models in plain PyTorch, one module per model family."""
