"""Features of clips and their parquet caches.

:mod:`merflow.features.symbolic` turns :class:`merflow.midi.Notes` into a fixed, ordered
list of named statistics (for the classical baselines); :mod:`merflow.features.audio`
computes frame features from one STFT per clip and their statistics;
:mod:`merflow.features.caches` runs both over a dataset and writes the caches.
"""
