"""The sustain pedal applied to a MIDI file's notes as EMOPIA's released LSTM-Attn code applies it.

EMOPIA_cls (``midi_cls/midi_helper/magenta/processor.py``, after midi-neural-processor) reads a
file with pretty_midi and, per instrument, rewrites the notes under the sustain pedal (CC64)
before making MIDI-like tokens. Here the file is the symusic score the pipeline has parsed
already (so every file the other tokenizers read is read), in seconds, one track = one
instrument, its notes put in pretty_midi's order (by note-off time, ties in file order).
Every EMOPIA MIDI carries pedal events, so this changes most
note-off positions. The rules, as that code runs them:

1. **Pedal intervals** from the instrument's CC64 events in file order: a value >= 64 while
   the pedal is up presses it; a value < 64 while it is down releases it (an interval
   ``[press, release]``); a value < 64 while it is up moves the release of the last
   interval to that time. A press never released opens no interval.
2. **Notes** in pretty_midi's order (the order of their note-offs). For each
   interval in turn, the notes not yet consumed are scanned: a note starting before the
   press is kept as it is; a note starting within ``[press, release]`` is *held* by the
   pedal; at the first note starting after the release, the scan stops (the notes from it on
   are left for the next interval) and the held notes are extended: walking them from the
   last to the first, a note ends where a later held note of the same pitch starts, else
   at ``max(release, its own end)``.
3. The kept notes, then every interval's held notes, sorted by start (stable).

Quirks of that code, kept so that the tokens are its tokens: the notes after the last
interval's first later note are dropped (they are never kept); an interval whose scan
never stops (no note after its release) does not extend its held notes, and the next
interval scans the same notes again (a note can then appear twice; the MIDI-like encoder
keeps one of a pitch's notes with the same onset). Without CC64 events (a transcription),
the notes are returned unchanged, sorted by start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import symusic

from merflow.music.midi import Notes

#: The sustain pedal's controller number and the value from which it counts as pressed.
SUSTAIN_CONTROLLER = 64
PRESSED = 64


@dataclass
class _Note:
    start: float
    end: float
    pitch: int
    velocity: int


def pedal_intervals(events: list[tuple[float, int]]) -> list[list[float]]:
    """``[press, release]`` intervals (s) from CC64 ``(time, value)`` events in file order (rule 1)."""
    intervals: list[list[float]] = []
    pressed_at: float | None = None
    for time, value in events:
        if value >= PRESSED and pressed_at is None:
            pressed_at = time
        elif value < PRESSED and pressed_at is not None:
            intervals.append([pressed_at, time])
            pressed_at = None
        elif value < PRESSED and intervals:
            intervals[-1][1] = time
    return intervals


def _extend_held(held: list[_Note], release: float) -> None:
    """Rule 2's extension: to the next strike of the same pitch, else to the release."""
    next_strike: dict[int, float] = {}
    for note in reversed(held):
        note.end = next_strike.get(note.pitch, max(release, note.end))
        next_strike[note.pitch] = note.start


def apply_sustain(notes: list[_Note], intervals: list[list[float]]) -> list[_Note]:
    """Rules 2 and 3 on one instrument's notes (pretty_midi's order); the notes are changed in place."""
    if not intervals:
        return sorted(notes, key=lambda n: n.start)
    kept: list[_Note] = []
    held_by_interval: list[list[_Note]] = []
    remaining = notes
    for press, release in intervals:
        held: list[_Note] = []
        for index, note in enumerate(remaining):
            if note.start < press:
                kept.append(note)
            elif note.start > release:
                remaining = remaining[index:]
                _extend_held(held, release)
                break
            else:
                held.append(note)
        held_by_interval.append(held)
    stream = kept + [note for held in held_by_interval for note in held]
    return sorted(stream, key=lambda n: n.start)


def pedal_notes(score: symusic.Score) -> Notes:
    """Pitched notes of ``score`` (any time unit) with the sustain pedal applied as EMOPIA_cls applies it.

    Drum tracks are skipped, as :func:`merflow.music.midi.score_to_notes` skips them; the result may
    be empty (a score without pitched notes).
    """
    seconds = score.to("second")
    stream: list[_Note] = []
    for track in seconds.tracks:
        if track.is_drum or len(track.notes) == 0:
            continue
        arrays = track.notes.numpy()
        ends = arrays["time"] + arrays["duration"]
        order = np.argsort(ends, kind="stable")  # pretty_midi lists a note at its note-off
        notes = [
            _Note(
                float(arrays["time"][i]), float(ends[i]), int(arrays["pitch"][i]), int(arrays["velocity"][i])
            )
            for i in order
        ]
        controls = track.controls.numpy()
        pedal = controls["number"] == SUSTAIN_CONTROLLER
        events = list(zip(controls["time"][pedal].tolist(), controls["value"][pedal].tolist(), strict=True))
        stream += apply_sustain(notes, pedal_intervals(events))
    return Notes.from_arrays(
        np.array([n.start for n in stream], dtype=np.float64),
        np.array([n.end for n in stream], dtype=np.float64),
        np.array([n.pitch for n in stream], dtype=np.int64),
        np.array([n.velocity for n in stream], dtype=np.int64),
    )
