"""REMI events of Huang & Yang (2020), "Pop Music Transformer" (beat-based, tick time).

Conventions
-----------
A piece is a sequence of integer tokens from a fixed vocabulary of 365 (:data:`VOCAB_SIZE`;
names and ids through :class:`REMIVocab`):

=============  =======  =========  ======================================================
event          count    token ids  meaning
=============  =======  =========  ======================================================
Bar            1        0          start of the next 4/4 bar (4 beats)
Position       16       1..16      ``Position_k/16``: k-th 16th note of the bar (k = 1..16)
Chord          61       17..77     12 roots x (maj, min, dim, aug, dom), then ``N:N``
Tempo Class    3        78..80     slow (30-89 BPM), mid (90-149), fast (150-209)
Tempo Value    60       81..140    BPM minus the class's lowest BPM (0..59)
Note Velocity  32       141..172   velocity bin (the 32 bins of :mod:`.midi_like`)
Note On        128      173..300   MIDI pitch 0..127
Note Duration  64       301..364   ``Note Duration_d``: d 32nd notes, d = 1..64
=============  =======  =========  ======================================================

These are the event types and sizes of the paper and of the authors' code
(YatingMusic/remi, ``utils.py`` and ``chord_recognition.py``): 16 positions per bar,
32 velocity levels, durations in multiples of a 32nd note from one 32nd to two bars,
tempo as a class and a value of three 60-BPM ranges, and 60 chords (12 roots x 5
qualities) plus "no chord".

Time
  The input is a tick-based :class:`symusic.Score` (:func:`merflow.music.midi.read_score`);
  every tick is rescaled by the score's ticks per beat, so the result does not depend on
  the file's resolution. Bars are 4 beats from tick 0 (4/4 is assumed, as in the paper;
  time signatures are ignored). An onset goes to the nearest 16th note of the grid and a
  duration to the nearest multiple of a 32nd note, ties to the earlier one (as the
  reference code's ``argmin``); durations are clipped to 1..64 32nds (two bars). The
  decoder writes :data:`TICKS_PER_BEAT` = 480 ticks per beat (the reference's
  resolution): positions are multiples of 120 ticks and durations of 60 ticks.
Grammar
  Every bar from the first to the one of the last note onset gets a ``Bar`` token, empty
  bars included (the reference skips empty bars, which loses time). Within a bar, each
  16th-note position that holds an event gets one ``Position`` token, followed by the
  position's ``Chord``, then its ``Tempo Class`` + ``Tempo Value``, then a
  ``Note Velocity``, ``Note On``, ``Note Duration`` triple per note (by pitch, then
  duration). The reference repeats ``Position`` before every item; one per position (as
  in the compound-word / EMOPIA REMI and miditok) says the same with fewer tokens.
Velocity
  The 32 bins of :func:`merflow.tokenizers.midi_like.velocity_to_bin` (1-4, 5-8, ...,
  125-127), decoded to ``4 * bin + 3``. (The reference's bins are ``velocity // 4`` and
  decode bin 0 to velocity 0, i.e. a note-off; ours are shifted by one.)
Tempo
  The tempo in force at tick 0 (120 BPM when the score has none) is written at the first
  position of the first bar; a later tempo change is written at its (quantised) position
  when its token pair differs from the previous one. BPM is rounded to an integer and
  clipped to 30..209; changes after the last note onset are dropped, and of several
  changes that fall on one position the last wins.
Chord
  A template matcher on half bars (2 beats, positions 1 and 9): the pitch-class profile of
  a half bar is the total time, in 32nds, that the quantised notes of each pitch class
  sound inside it; its chord is the template (binary, root + intervals: maj 0-4-7,
  min 0-3-7, dim 0-3-6, aug 0-4-8, dom 0-4-7-10) with the highest cosine similarity,
  ties to the lowest id (root C first, qualities in the order above). A half bar with
  fewer than :data:`MIN_CHORD_PITCH_CLASSES` sounding pitch classes is ``N:N``. A
  ``Chord`` token is written at the start of a half bar when its chord differs from the
  previous half bar's (the piece starts in ``N:N``, so silence at the start writes
  nothing); half bars after the last note onset are not labelled. The reference
  recogniser (``chord_recognition.py``) scores candidate spans of 2 and 4 beats with
  hand-set insider/outsider weights and merges them greedily; ours is simpler and fully
  specified, with the same 61 labels.
Decoding
  :func:`decode_score` is lenient about model output: tokens before the first ``Bar`` are
  in bar 1, a ``Note On`` takes the velocity of the last ``Note Velocity`` (else
  :data:`~merflow.tokenizers.midi_like.DEFAULT_VELOCITY`) and the first ``Note Duration``
  that follows it (else :data:`DEFAULT_DURATION_32NDS`), a ``Tempo Value`` uses the last
  ``Tempo Class`` (else mid). Chords become markers.

With these rules ``decode_score(encode(score))`` holds the notes of ``score`` on the grid
and ``encode(decode_score(tokens)) == tokens`` for any output of :func:`encode`.

Written here instead of taken from miditok (3.1.0 is not a dependency): miditok's REMI
has a configurable beat resolution, its own velocity, duration and tempo binning (one
Tempo token, no Tempo Class / Tempo Value pair) and its own chord vocabulary and
detection, so its vocabulary is not the paper's; owning the code gives exact control
over the vocabulary above.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import symusic

from merflow.music.midi import Notes, score_note_arrays, score_to_notes
from merflow.music.tonality import N_PITCH_CLASSES, PITCH_CLASS_NAMES
from merflow.tokenizers.midi_like import (
    DEFAULT_VELOCITY,
    N_VELOCITY_BINS,
    bin_to_velocity,
    check_tokens,
    velocity_to_bin,
)

TICKS_PER_BEAT = 480
BEATS_PER_BAR = 4
POSITIONS_PER_BEAT = 4
POSITIONS_PER_BAR = BEATS_PER_BAR * POSITIONS_PER_BEAT  # 16
DURATION_STEPS_PER_BEAT = 8  # 32nd notes
N_DURATIONS = 64  # one 32nd .. two bars
DURATION_STEPS_PER_POSITION = DURATION_STEPS_PER_BEAT // POSITIONS_PER_BEAT  # 2
DEFAULT_DURATION_32NDS = DURATION_STEPS_PER_POSITION  # a 16th, for a Note On without Note Duration
N_PITCHES = 128

TEMPO_CLASSES = ("slow", "mid", "fast")
TEMPO_CLASS_WIDTH = 60
MIN_TEMPO = 30
MAX_TEMPO = MIN_TEMPO + len(TEMPO_CLASSES) * TEMPO_CLASS_WIDTH - 1  # 209
DEFAULT_TEMPO = 120.0  # the MIDI default when a file has no tempo event
DEFAULT_TEMPO_CLASS = 1  # mid

#: Chord qualities and their intervals above the root, in semitones.
CHORD_QUALITIES = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "dom": (0, 4, 7, 10),
}
NO_CHORD = "N:N"
#: ``root:quality`` labels, root-major (``C:maj, C:min, ..., B:dom``), then :data:`NO_CHORD`.
CHORD_LABELS = (
    *(f"{root}:{quality}" for root in PITCH_CLASS_NAMES for quality in CHORD_QUALITIES),
    NO_CHORD,
)
N_CHORDS = len(CHORD_LABELS)  # 61
NO_CHORD_ID = N_CHORDS - 1
CHORD_WINDOW_POSITIONS = POSITIONS_PER_BAR // 2  # half a bar
MIN_CHORD_PITCH_CLASSES = 2

BAR_ID = 0
POSITION_OFFSET = BAR_ID + 1  # 1
CHORD_OFFSET = POSITION_OFFSET + POSITIONS_PER_BAR  # 17
TEMPO_CLASS_OFFSET = CHORD_OFFSET + N_CHORDS  # 78
TEMPO_VALUE_OFFSET = TEMPO_CLASS_OFFSET + len(TEMPO_CLASSES)  # 81
VELOCITY_OFFSET = TEMPO_VALUE_OFFSET + TEMPO_CLASS_WIDTH  # 141
PITCH_OFFSET = VELOCITY_OFFSET + N_VELOCITY_BINS  # 173
DURATION_OFFSET = PITCH_OFFSET + N_PITCHES  # 301
VOCAB_SIZE = DURATION_OFFSET + N_DURATIONS  # 365

_NO_TOKEN = -1


def _token_names() -> tuple[str, ...]:
    """Name of every token id, in id order (the reference code's ``Type_value`` style)."""
    return (
        "Bar",
        *(f"Position_{k}/{POSITIONS_PER_BAR}" for k in range(1, POSITIONS_PER_BAR + 1)),
        *(f"Chord_{label}" for label in CHORD_LABELS),
        *(f"Tempo Class_{name}" for name in TEMPO_CLASSES),
        *(f"Tempo Value_{v}" for v in range(TEMPO_CLASS_WIDTH)),
        *(f"Note Velocity_{b}" for b in range(N_VELOCITY_BINS)),
        *(f"Note On_{p}" for p in range(N_PITCHES)),
        *(f"Note Duration_{d}" for d in range(1, N_DURATIONS + 1)),
    )


class REMIVocab:
    """The fixed REMI vocabulary: token names <-> ids (see the module table).

    Attributes:
        names: all :data:`VOCAB_SIZE` token names, index = token id.
    """

    def __init__(self) -> None:
        self.names: tuple[str, ...] = _token_names()
        self._ids = {name: token for token, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    def id(self, name: str) -> int:
        """Token id of a name such as ``'Note On_60'``; KeyError for an unknown name."""
        return self._ids[name]

    def ids(self, names: Iterable[str]) -> np.ndarray:
        """Token ids of names, shape (T,), int64."""
        return np.array([self._ids[name] for name in names], dtype=np.int64)

    def name(self, token: int) -> str:
        """Name of one token id; ValueError outside ``[0, VOCAB_SIZE)``."""
        if not 0 <= token < len(self.names):
            raise ValueError(f"token id {token} outside [0, {len(self.names)})")
        return self.names[token]

    def to_names(self, tokens: np.ndarray) -> list[str]:
        """Names of a token sequence of shape (T,)."""
        return [self.name(token) for token in np.asarray(tokens, dtype=np.int64).tolist()]


#: The vocabulary instance.
VOCAB = REMIVocab()


def _round_half_down(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """Nearest integer to ``numerator / denominator`` (ties to the lower), exact in int64."""
    numerator = np.asarray(numerator, dtype=np.int64)
    return -((denominator - 2 * numerator) // (2 * denominator))


def _chord_templates() -> np.ndarray:
    """Unit-norm binary chord templates, shape (60, 12), in :data:`CHORD_LABELS` order."""
    templates = np.zeros((N_CHORDS - 1, N_PITCH_CLASSES))
    row = 0
    for root in range(N_PITCH_CLASSES):
        for intervals in CHORD_QUALITIES.values():
            templates[row, (root + np.array(intervals)) % N_PITCH_CLASSES] = 1.0 / np.sqrt(len(intervals))
            row += 1
    return templates


_TEMPLATES = _chord_templates()


def estimate_chords(onset_16th: np.ndarray, duration_32nds: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Chord of every half bar by template matching (see the module conventions).

    Args:
        onset_16th: shape (n,), int, onsets in 16th notes from the start (the grid).
        duration_32nds: shape (n,), int, durations in 32nd notes, 1..64.
        pitch: shape (n,), int, MIDI pitches.

    Returns:
        shape (W,), int64, chord id 0..60 (index into :data:`CHORD_LABELS`) of each half bar
        from the first to the one holding the last onset; empty for no notes.
    """
    if len(onset_16th) == 0:
        return np.zeros(0, dtype=np.int64)
    window = DURATION_STEPS_PER_POSITION * CHORD_WINDOW_POSITIONS  # half a bar in 32nds
    n_windows = int(onset_16th.max()) // CHORD_WINDOW_POSITIONS + 1
    start = DURATION_STEPS_PER_POSITION * np.asarray(onset_16th, dtype=np.int64)
    end = start + np.asarray(duration_32nds, dtype=np.int64)
    pitch_class = np.asarray(pitch, dtype=np.int64) % N_PITCH_CLASSES
    profile = np.zeros((n_windows, N_PITCH_CLASSES))
    max_span = -(-N_DURATIONS // window) + 1  # windows a note of maximal duration can touch
    for k in range(max_span):
        index = start // window + k
        overlap = np.minimum(end, (index + 1) * window) - np.maximum(start, index * window)
        inside = (overlap > 0) & (index < n_windows)
        np.add.at(profile, (index[inside], pitch_class[inside]), overlap[inside])
    # the profile norm is common to a row, so ranking by dot product ranks by cosine
    chord = np.argmax(profile @ _TEMPLATES.T, axis=1)
    too_few = (profile > 0).sum(axis=1) < MIN_CHORD_PITCH_CLASSES
    return np.where(too_few, NO_CHORD_ID, chord).astype(np.int64)


def tempo_tokens(bpm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tempo Class and Tempo Value ids of tempi.

    Args:
        bpm: shape (m,), tempi in quarter notes per minute (rounded to integers, clipped
            to 30..209).

    Returns:
        two int64 arrays of shape (m,): Tempo Class token ids and Tempo Value token ids.
    """
    bpm = np.clip(np.rint(np.asarray(bpm, dtype=np.float64)), MIN_TEMPO, MAX_TEMPO).astype(np.int64)
    tempo_class, value = np.divmod(bpm - MIN_TEMPO, TEMPO_CLASS_WIDTH)
    return TEMPO_CLASS_OFFSET + tempo_class, TEMPO_VALUE_OFFSET + value


def _tempo_events(score: symusic.Score, last_grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid position, Tempo Class id and Tempo Value id of each tempo change to write."""
    tempos = score.tempos.numpy()
    order = np.argsort(tempos["time"], kind="stable")
    grid = _round_half_down(tempos["time"][order] * POSITIONS_PER_BEAT, score.ticks_per_quarter)
    bpm = 6e7 / tempos["mspq"][order].astype(np.float64)
    if not len(grid) or grid[0] > 0:
        grid, bpm = np.r_[0, grid], np.r_[DEFAULT_TEMPO, bpm]
    last_at_grid = np.r_[grid[1:] != grid[:-1], True]
    grid, bpm = grid[last_at_grid], bpm[last_at_grid]
    tempo_class, value = tempo_tokens(bpm)
    changed = np.r_[True, (tempo_class[1:] != tempo_class[:-1]) | (value[1:] != value[:-1])]
    keep = changed & (grid <= last_grid)
    return grid[keep], tempo_class[keep], value[keep]


def encode(score: symusic.Score) -> np.ndarray:
    """REMI tokens of a score.

    Args:
        score: tick-based score (:func:`merflow.music.midi.read_score`); all non-drum tracks
            are merged.

    Returns:
        shape (T,), int64, token ids in ``[0, VOCAB_SIZE)``; empty when the score has no
        pitched note.

    Raises:
        ValueError: if ``score`` is not in ticks (e.g. ``score.to("second")``).
    """
    if score.ttype != symusic.TimeUnit.tick:
        raise ValueError(f"REMI needs a tick-based score, got time unit {score.ttype}")
    notes = score_note_arrays(score)
    if not len(notes["time"]):
        return np.zeros(0, dtype=np.int64)
    tpq = score.ticks_per_quarter
    grid = _round_half_down(notes["time"] * POSITIONS_PER_BEAT, tpq)
    duration = np.clip(_round_half_down(notes["duration"] * DURATION_STEPS_PER_BEAT, tpq), 1, N_DURATIONS)
    pitch = notes["pitch"]
    last_grid = int(grid.max())

    chords = estimate_chords(grid, duration, pitch)
    changed = chords != np.r_[NO_CHORD_ID, chords[:-1]]
    chord_grid = np.flatnonzero(changed) * CHORD_WINDOW_POSITIONS
    tempo_grid, tempo_class, tempo_value = _tempo_events(score, last_grid)
    bar_grid = np.arange(last_grid // POSITIONS_PER_BAR + 1) * POSITIONS_PER_BAR
    position_grid = np.unique(np.concatenate([grid, chord_grid, tempo_grid]))

    # events, each a block of up to 3 tokens, sorted by (grid, kind, pitch, duration)
    note_tokens = np.stack(
        [
            VELOCITY_OFFSET + velocity_to_bin(notes["velocity"]),
            PITCH_OFFSET + pitch,
            DURATION_OFFSET + duration - 1,
        ],
        axis=1,
    )
    blocks = [  # in kind order: Bar, Position, Chord, Tempo, Note
        (bar_grid, np.full((len(bar_grid), 1), BAR_ID)),
        (position_grid, (POSITION_OFFSET + position_grid % POSITIONS_PER_BAR)[:, None]),
        (chord_grid, (CHORD_OFFSET + chords[changed])[:, None]),
        (tempo_grid, np.stack([tempo_class, tempo_value], axis=1)),
        (grid, note_tokens),
    ]
    width = note_tokens.shape[1]
    event_grid = np.concatenate([g for g, _ in blocks])
    kind = np.concatenate([np.full(len(g), k) for k, (g, _) in enumerate(blocks)])
    tokens = np.concatenate(
        [np.pad(t, ((0, 0), (0, width - t.shape[1])), constant_values=_NO_TOKEN) for _, t in blocks]
    )
    n_other = len(event_grid) - len(grid)
    note_pitch = np.r_[np.zeros(n_other, dtype=np.int64), pitch]
    note_duration = np.r_[np.zeros(n_other, dtype=np.int64), duration]
    tokens = tokens[np.lexsort((note_duration, note_pitch, kind, event_grid))].ravel()
    return tokens[tokens != _NO_TOKEN].astype(np.int64)


def decode_score(tokens: np.ndarray) -> symusic.Score:
    """Score of a token sequence (see the module conventions for malformed sequences).

    Args:
        tokens: shape (T,), integer token ids in ``[0, VOCAB_SIZE)``.

    Returns:
        a one-track piano score at :data:`TICKS_PER_BEAT` ticks per beat, 4/4, with the
        decoded tempo changes (120 BPM at tick 0 unless the tokens give one there) and
        the chords as markers.

    Raises:
        ValueError: if ``tokens`` is not 1-D or holds ids outside the vocabulary.
    """
    tokens = check_tokens(tokens, VOCAB_SIZE)
    position_ticks = TICKS_PER_BEAT // POSITIONS_PER_BEAT
    duration_ticks = TICKS_PER_BEAT // DURATION_STEPS_PER_BEAT
    score = symusic.Score(TICKS_PER_BEAT)
    score.time_signatures.append(symusic.TimeSignature(0, BEATS_PER_BAR, 4))
    track = symusic.Track("piano", 0, False)

    bar, position = -1, 0  # the first Bar starts bar 0; tokens before it are in bar 0
    velocity, tempo_class = DEFAULT_VELOCITY, DEFAULT_TEMPO_CLASS
    notes: list[list[int]] = []  # [tick, duration in 32nds or -1, pitch, velocity]
    tempos: list[tuple[int, int]] = []
    for token in tokens.tolist():
        tick = (max(bar, 0) * POSITIONS_PER_BAR + position) * position_ticks
        if token == BAR_ID:
            bar, position = bar + 1, 0
        elif token < CHORD_OFFSET:
            position = token - POSITION_OFFSET
        elif token < TEMPO_CLASS_OFFSET:
            score.markers.append(symusic.TextMeta(tick, CHORD_LABELS[token - CHORD_OFFSET]))
        elif token < TEMPO_VALUE_OFFSET:
            tempo_class = token - TEMPO_CLASS_OFFSET
        elif token < VELOCITY_OFFSET:
            tempos.append((tick, MIN_TEMPO + tempo_class * TEMPO_CLASS_WIDTH + token - TEMPO_VALUE_OFFSET))
        elif token < PITCH_OFFSET:
            velocity = int(bin_to_velocity(token - VELOCITY_OFFSET))
        elif token < DURATION_OFFSET:
            notes.append([tick, -1, token - PITCH_OFFSET, velocity])
        elif notes and notes[-1][1] < 0:
            notes[-1][1] = token - DURATION_OFFSET + 1
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, int(DEFAULT_TEMPO)))
    for tick, bpm in tempos:
        score.tempos.append(symusic.Tempo(tick, float(bpm)))
    for tick, duration, pitch, note_velocity in notes:
        steps = duration if duration > 0 else DEFAULT_DURATION_32NDS
        track.notes.append(symusic.Note(tick, steps * duration_ticks, pitch, note_velocity))
    score.tracks.append(track)
    return score


def decode(tokens: np.ndarray) -> Notes:
    """Notes of a token sequence, in seconds under the decoded tempo map (see :func:`decode_score`)."""
    return score_to_notes(decode_score(tokens))
