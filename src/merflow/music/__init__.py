"""Notes and audio signals: MIDI reading, Krumhansl-Kessler key, key agreement, the
builtin synthesizer, symbolic statistics and audio frame features.
"""
