"""Event tokenizers that turn piano performances into integer sequences for sequence models.

Each tokenizer module documents its vocabulary layout as named constants and offers an
encoder (piece -> int64 token array) and a decoder (tokens -> notes). Available:

- :mod:`merflow.tokenizers.midi_like`: the 388-token performance representation of Oore et
  al. 2018, on :class:`merflow.music.midi.Notes` in seconds.
- :mod:`merflow.tokenizers.refined_midi_like`: Zhu et al.'s refinement (MIDI-like plus a
  "harmonic" token per note onset), 404 tokens.
- :mod:`merflow.tokenizers.remi`: REMI (Huang & Yang 2020: bar, position, chord, tempo,
  velocity, pitch, duration), 365 tokens, on tick-based scores.
- :mod:`merflow.tokenizers.cp`: MIDI-BERT's compound words (Bar, Position, Pitch,
  Duration), one 4-tuple per note, reproducing MIDI-BERT's own EMOPIA tokens.
"""
