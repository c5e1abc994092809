"""Training every model: classical baselines, the neural models (inputs, steps,
checkpoints), MoFi fine-tuning, masked-LM pretraining, probing, augmentation and the
clip-level aggregation they share.
"""
