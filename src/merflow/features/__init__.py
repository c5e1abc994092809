"""Handcrafted features for the classical (SVM, logistic-regression) baselines.

One module per input representation, each turning a clip into a fixed, ordered list of
named floats: :mod:`merflow.features.symbolic` works on :class:`merflow.midi.Notes`,
:mod:`merflow.features.audio` on audio recordings.
"""
