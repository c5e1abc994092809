"""Features of clips and their parquet caches.

:mod:`merflow.music.symbolic_features` turns :class:`merflow.music.midi.Notes` into a fixed, ordered
list of named statistics (for the classical baselines); :mod:`merflow.music.audio_features`
computes frame features from one STFT per clip and their statistics;
:mod:`merflow.features.caches` runs both over a dataset and writes the caches.
"""
