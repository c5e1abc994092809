"""The sustain pedal as EMOPIA_cls applies it (merflow.tokenizers.sustain), on files with pedal events."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from merflow.features.caches import clip_tokens
from merflow.music.midi import checked_notes, read_score
from merflow.tokenizers import midi_like
from merflow.tokenizers.sustain import _Note, apply_sustain, pedal_intervals, pedal_notes

C4, D4, E4, G4, A4 = 60, 62, 64, 67, 69


def write_midi(path, notes, pedal):
    """notes: (pitch, start, end); pedal: (time, CC64 value)."""
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, p, s, e) for p, s, e in notes]
    piano.control_changes = [pretty_midi.ControlChange(64, v, t) for t, v in pedal]
    midi.instruments.append(piano)
    midi.write(str(path))
    return path


def as_rows(notes):
    columns = (notes.pitch.tolist(), notes.onset.round(2).tolist(), notes.offset.round(2).tolist())
    return sorted(zip(*columns, strict=True))


def test_pedal_intervals_follow_presses_and_releases():
    assert pedal_intervals([(0.5, 127), (1.0, 100), (2.0, 0), (2.2, 0)]) == [[0.5, 2.2]]  # late release
    assert pedal_intervals([(0.5, 127), (1.0, 0), (3.0, 64)]) == [[0.5, 1.0]]  # never released
    assert pedal_intervals([(0.1, 0)]) == []


def test_held_notes_ring_to_the_release_or_to_their_next_strike(tmp_path):
    notes = [
        (C4, 0.0, 0.2),  # before the pedal: unchanged
        (E4, 0.6, 0.8),  # held: rings to the release at 2.0
        (G4, 0.7, 0.9),  # held, struck again at 1.2: ends there
        (G4, 1.2, 1.3),
        (A4, 2.5, 2.7),  # after the first release: left for the second pedal, before its press
        (D4, 3.2, 3.3),  # held by the last pedal, which no later note closes: not extended
    ]
    pedal = [(0.5, 127), (2.0, 0), (3.0, 127), (4.0, 0)]
    path = write_midi(tmp_path / "pedal.mid", notes, pedal)
    assert as_rows(pedal_notes(read_score(path))) == [
        (C4, 0.0, 0.2),
        (D4, 3.2, 3.3),
        (E4, 0.6, 2.0),
        (G4, 0.7, 1.2),
        (G4, 1.2, 2.0),
        (A4, 2.5, 2.7),
    ]
    plain = checked_notes(read_score(path), "pedal", path)
    pedal_tokens = clip_tokens(read_score(path), plain, "midi_like_pedal")
    assert not np.array_equal(pedal_tokens, midi_like.encode(plain))  # note-offs move
    assert as_rows(midi_like.decode(pedal_tokens)) == as_rows(pedal_notes(read_score(path)))


def test_notes_after_the_last_release_are_dropped_as_in_the_released_code():
    notes = [
        _Note(0.0, 0.1, C4, 80),
        _Note(0.6, 0.7, E4, 80),
        _Note(1.5, 1.6, G4, 80),
        _Note(2.0, 2.1, A4, 80),
    ]
    kept = apply_sustain(notes, [[0.5, 1.0]])
    assert [(n.pitch, n.end) for n in kept] == [(C4, 0.1), (E4, 1.0)]


def test_without_pedal_events_the_notes_are_those_of_the_file(tmp_path):
    path = write_midi(tmp_path / "plain.mid", [(C4, 0.0, 0.5), (E4, 0.25, 1.0)], [])
    plain = checked_notes(read_score(path), "plain", path)
    assert as_rows(pedal_notes(read_score(path))) == as_rows(plain)
    assert np.array_equal(clip_tokens(read_score(path), plain, "midi_like_pedal"), midi_like.encode(plain))


@pytest.mark.needs_shared_data
def test_the_pedal_lengthens_the_notes_of_every_emopia_clip_sampled(shared_data):
    """EMOPIA's MIDI all carry pedal events (SPEC): applied, they hold notes longer."""
    midis = sorted((shared_data / "emopia" / "EMOPIA_1.0" / "midis").glob("*.mid"))[::100]
    assert len(midis) >= 10
    for path in midis:
        score = read_score(path)
        plain = checked_notes(score, path.stem, path)
        pedal = pedal_notes(score)
        plain_end = {
            (round(o, 4), p): e for o, p, e in zip(plain.onset, plain.pitch, plain.offset, strict=True)
        }
        matched = [
            (e, plain_end[(round(o, 4), p)])
            for o, p, e in zip(pedal.onset, pedal.pitch, pedal.offset, strict=True)
            if (round(o, 4), p) in plain_end
        ]
        held_longer = np.mean([pedal_end > plain_end + 1e-6 for pedal_end, plain_end in matched])
        not_shorter = np.mean([pedal_end >= plain_end - 1e-6 for pedal_end, plain_end in matched])
        assert len(matched) > 0.5 * len(plain) and held_longer > 0.2 and not_shorter > 0.95, path.name
