"""Event tokenizers that turn piano performances into integer sequences for sequence models.

Each tokenizer module documents its vocabulary layout as named constants and offers
``encode`` (notes -> int64 token array) and ``decode`` (tokens -> notes). Available:
:mod:`merflow.tokenizers.midi_like` (the 388-token performance representation of Oore et
al. 2018, on :class:`merflow.midi.Notes` in seconds).
"""
