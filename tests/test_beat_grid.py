from __future__ import annotations

import numpy as np
import pytest

from merflow.music.midi import Notes, read_notes, score_to_notes
from merflow.transcription.beat_grid import (
    TICKS_PER_BEAT,
    beat_aligned_score,
    estimate_beats,
    write_beat_aligned,
)

BPM = 100.0
PERIOD = 60.0 / BPM


def steady_piece(n_beats: int = 32, start_s: float = 0.3) -> Notes:
    """Accented quarter notes at 100 bpm with off-beat eighths, starting at ``start_s``."""
    beats = start_s + PERIOD * np.arange(n_beats)
    offbeats = beats[:-1] + PERIOD / 2
    onset = np.concatenate([beats, offbeats])
    velocity = np.concatenate([np.full(n_beats, 100), np.full(n_beats - 1, 50)])
    pitch = np.concatenate([np.full(n_beats, 48), np.full(n_beats - 1, 67)])
    return Notes.from_arrays(onset, onset + 0.2, pitch, velocity)


def test_beats_follow_the_tempo_and_cover_the_piece():
    notes = steady_piece()
    beats = estimate_beats(notes)
    assert np.median(np.diff(beats)) == pytest.approx(PERIOD, rel=0.03)
    assert beats[0] <= 0 and beats[-1] >= notes.end_time


def test_notes_on_beats_land_on_beat_ticks_and_keep_their_seconds():
    notes = steady_piece()
    score = beat_aligned_score(notes)
    assert score.ticks_per_quarter == TICKS_PER_BEAT
    ticks = np.sort(np.array([n.time for n in score.tracks[0].notes if n.pitch == 48]))
    gaps = np.diff(ticks)
    assert np.all(np.abs(gaps - TICKS_PER_BEAT) <= TICKS_PER_BEAT // 8)  # one beat apart
    back = score_to_notes(score)
    assert np.allclose(back.onset, notes.onset, atol=0.02)  # the tempo map preserves seconds


def test_given_beats_and_file_round_trip(tmp_path):
    notes = steady_piece(8, start_s=0.0)
    beats = np.arange(-1, 10) * PERIOD
    score = beat_aligned_score(notes, beats)
    first_beat_notes = [n.time for n in score.tracks[0].notes if n.pitch == 48]
    assert first_beat_notes[:3] == [0, 480, 960]
    write_beat_aligned(notes, tmp_path / "x.mid")
    assert len(read_notes(tmp_path / "x.mid")) == len(notes)


def test_a_single_note_gets_a_default_grid():
    notes = Notes.from_arrays([0.5], [1.0], [60], [80])
    beats = estimate_beats(notes)
    assert len(beats) >= 2 and beats[0] <= 0
    assert len(beat_aligned_score(notes).tracks[0].notes) == 1


def test_very_long_pieces_get_a_constant_grid_without_tracking():
    from merflow.transcription.beat_grid import MAX_TRACKED_SECONDS

    onset = np.arange(0, 2 * MAX_TRACKED_SECONDS, PERIOD)
    notes = Notes.from_arrays(onset, onset + 0.2, np.full(len(onset), 60), np.full(len(onset), 80))
    beats = estimate_beats(notes)
    assert np.allclose(np.diff(beats), np.diff(beats)[0])
    score = beat_aligned_score(notes, beats)
    assert len(score.tempos) == 1
