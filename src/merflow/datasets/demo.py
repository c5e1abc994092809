"""The embedded demo dataset: seeded, algorithmically composed piano songs with known emotions.

Conventions
-----------
Nothing is downloaded: :func:`generate_demo` composes ``n_songs`` short piano songs, a
quarter of them per Russell quadrant (:mod:`merflow.core.labels`), renders them with the
built-in synthesizer (:mod:`merflow.music.synth`) and cuts each into ``clips_per_song`` clips.
It writes, under ``out_dir``:

- ``songs/<song_id>.wav``: the full song, mono 16-bit PCM at ``sample_rate``, exactly
  ``song_seconds(...)`` long; the manifest's ``url`` is its ``file://`` URI, so the
  pipeline fetches it like any YouTube video.
- ``songs/<song_id>.mid``: the full song's MIDI (at the song's tempo).
- ``clips_midi/<clip_id>.mid``: each clip's own notes, times relative to the clip start
  (the dataset's "oracle" MIDI, like EMOPIA's clip MIDIs). Notes crossing a clip
  boundary are trimmed to it; trimmed fragments shorter than :data:`MIN_FRAGMENT_S` are
  dropped.
- ``manifest.parquet``: :data:`~merflow.datasets.manifest.CLIP_COLUMNS`, one row per clip,
  with the generator's arguments and every song's :class:`SongPlan` in the parquet
  metadata (``merflow.generator``, ``merflow.plans``).

IDs: songs ``demo_s000``, ``demo_s001``...; clips ``<song_id>_c0``, ``_c1``... Clip ``c``
spans ``[gap_s + c * (clip_s + gap_s), ... + clip_s)`` seconds of its song, and a song lasts
``clips_per_song * (clip_s + gap_s) + gap_s`` seconds.

Emotion factors (the cues the MER literature ties to valence and arousal, e.g. Gabrielsson
& Lindström 2010, Juslin & Laukka 2004): arousal is carried by tempo, loudness (velocity),
note density (rhythm cells, rests, accompaniment figure) and articulation (staccato vs
legato); valence by mode (major vs minor), register (higher for positive valence) and
harmony (consonant diatonic progressions for Q1/Q4, plain minor for Q3, diminished and
Neapolitan chords plus semitone clusters for Q2). Each song draws its key, tempo,
velocity, register, articulation, rhythm preferences, accompaniment figure, progression
and melodic contour at random within its quadrant's ranges; the ranges of neighbouring
quadrants touch but the cues combine, so the task is learnable but not trivial.

Determinism: everything derives from ``seed`` through :class:`numpy.random.SeedSequence`;
the same arguments (including ``out_dir``, whose absolute path is in the manifest) give a
byte-identical manifest and identical notes and audio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from merflow.core.io import atomic_path, write_parquet
from merflow.core.labels import QUADRANTS, arousal_of, valence_of
from merflow.datasets.manifest import CLIP_COLUMNS, validate_manifest
from merflow.music.midi import Notes, write_notes
from merflow.music.synth import render

# ---- scales, chords and progressions -------------------------------------------------
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Chord symbol -> (root in semitones above the tonic, intervals above the root).
CHORDS: dict[str, tuple[int, tuple[int, ...]]] = {
    "I": (0, (0, 4, 7)),
    "Imaj7": (0, (0, 4, 7, 11)),
    "ii": (2, (0, 3, 7)),
    "iii": (4, (0, 3, 7)),
    "IV": (5, (0, 4, 7)),
    "IVmaj7": (5, (0, 4, 7, 11)),
    "V": (7, (0, 4, 7)),
    "V7": (7, (0, 4, 7, 10)),
    "vi": (9, (0, 3, 7)),
    "i": (0, (0, 3, 7)),
    "bII": (1, (0, 4, 7)),
    "iio": (2, (0, 3, 6)),
    "III": (3, (0, 4, 7)),
    "iv": (5, (0, 3, 7)),
    "v": (7, (0, 3, 7)),
    "VI": (8, (0, 4, 7)),
    "VII": (10, (0, 4, 7)),
    "viio7": (11, (0, 3, 6, 9)),
}
PROGRESSIONS: dict[int, tuple[tuple[str, ...], ...]] = {
    1: (("I", "IV", "V", "I"), ("I", "vi", "IV", "V"), ("I", "V", "vi", "IV"), ("I", "ii", "V7", "I")),
    2: (
        ("i", "viio7", "i", "V7"),
        ("i", "bII", "V7", "i"),
        ("i", "iv", "viio7", "V"),
        ("i", "iio", "V7", "i"),
    ),
    3: (("i", "iv", "i", "V"), ("i", "VI", "III", "VII"), ("i", "iv", "v", "i"), ("i", "VI", "iv", "v")),
    4: (
        ("I", "vi", "IV", "I"),
        ("I", "IV", "I", "IV"),
        ("Imaj7", "IVmaj7", "Imaj7", "V"),
        ("I", "iii", "IV", "I"),
    ),
}
# Probability range that a chord gets a semitone cluster note (dissonance), per quadrant.
DISSONANCE_RANGE = {1: (0.0, 0.0), 2: (0.3, 0.6), 3: (0.0, 0.1), 4: (0.0, 0.0)}
MODE_OF_VALENCE = {1: "major", 0: "minor"}

# ---- rhythm and texture ----------------------------------------------------------------
BEATS_PER_BAR = 4
PHRASE_BARS = 4
# Rhythm cells: note durations in beats; a song draws its own preference weights over them.
RHYTHM_CELLS = {
    1: ((0.5, 0.5), (0.25, 0.25, 0.5), (0.5, 0.25, 0.25), (0.25, 0.25, 0.25, 0.25), (0.75, 0.25), (1.0,)),
    0: ((1.0,), (2.0,), (1.5, 0.5), (0.5, 0.5), (3.0, 1.0), (1.0, 1.0)),
}
# Accompaniment figures: (onset beat, chord-tone indices, duration in beats) per bar.
# Index 0 is the bass (chord root, low), 1.. the upper chord tones from the lowest (wrapping
# around), ALL_UPPER every upper tone including an added cluster note.
ALL_UPPER = -1
BASS, UPPER = (0,), (ALL_UPPER,)
ACCOMPANIMENTS: dict[str, tuple[tuple[float, tuple[int, ...], float], ...]] = {
    "block": ((0.0, BASS + UPPER, 4.0),),
    "half_block": ((0.0, BASS + UPPER, 2.0), (2.0, UPPER, 2.0)),
    "pulse": ((0.0, BASS + UPPER, 1.0), (1.0, UPPER, 1.0), (2.0, BASS + UPPER, 1.0), (3.0, UPPER, 1.0)),
    "alberti": tuple((b * 0.5, (i,), 0.5) for b, i in enumerate((0, 3, 2, 3, 1, 3, 2, 3))),
    "arpeggio_quarter": tuple((float(b), (i,), 1.0) for b, i in enumerate((0, 1, 2, 3))),
    "arpeggio_eighth": tuple((b * 0.5, (i,), 0.5) for b, i in enumerate((0, 1, 2, 3, 4, 3, 2, 1))),
}
ACCOMPANIMENT_CHOICES = {
    1: ("pulse", "alberti", "arpeggio_eighth", "half_block"),
    0: ("block", "half_block", "arpeggio_quarter", "alberti"),
}
CONTOURS = ("arch", "rise", "fall", "wave")

# ---- arousal cues (index: arousal bit) ---------------------------------------------------
TEMPO_RANGE = {1: (92.0, 152.0), 0: (56.0, 112.0)}  # beats per minute
VELOCITY_RANGE = {1: (66.0, 100.0), 0: (36.0, 72.0)}  # mean melody velocity
VELOCITY_SPREAD_RANGE = {1: (6.0, 10.0), 0: (3.0, 6.0)}  # std of per-note velocity jitter
ARTICULATION_RANGE = {1: (0.4, 0.65), 0: (0.9, 1.05)}  # sounding fraction of the note's time slot
REST_PROB_RANGE = {1: (0.03, 0.1), 0: (0.1, 0.25)}
DOWNBEAT_ACCENT = {1: 10.0, 0: 4.0}  # velocity added to notes on beat 1
# ---- valence cues (index: valence bit) ----------------------------------------------------
MELODY_CENTER_RANGE = {1: (70, 78), 0: (58, 67)}  # MIDI pitch the melody moves around
MAX_LEAP = {1: 4, 0: 5}  # scale steps; wider, more angular leaps allowed for negative valence
# ---- fixed texture constants ---------------------------------------------------------------
MELODY_RANGE_BELOW, MELODY_RANGE_ABOVE = 7, 9  # semitones around the melody centre
ACCOMP_BELOW_MELODY = 12  # accompaniment centre this many semitones below the melody centre
BASS_BELOW_ACCOMP = 12
PITCH_CLASSES = 12
HALF_OCTAVE = PITCH_CLASSES // 2
ACCOMP_VELOCITY_DROP = 12.0  # accompaniment this much softer than the melody
STEP_SCALE = 2.0  # semitones; melodic step preference (smaller = more stepwise)
CONTOUR_PULL = 4.0  # semitones; how loosely the melody follows its contour
REPEAT_PENALTY = 0.3  # weight factor for repeating the previous melody pitch
TIMING_JITTER_S = 0.006  # std of onset humanisation
MIN_VELOCITY, MAX_VELOCITY = 1, 127
MIN_FRAGMENT_S = 0.02
SONG_TAIL_S = 0.5  # last offsets end this long before the song's end (synth release)
#: Probability that one secondary cue of a song points to the other arousal/valence level.
CUE_CONFLICT_PROB = 0.25
MAX_SONG_PITCH, MIN_SONG_PITCH = 108, 21  # piano range
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class SongPlan:
    """The musical choices behind one demo song (all drawn by :func:`plan_song`).

    Attributes:
        quadrant: 1..4, the intended emotion.
        tonic: pitch class of the key, 0 = C .. 11 = B.
        mode: ``"major"`` or ``"minor"``.
        tempo_bpm: quarter notes per minute.
        velocity: mean melody MIDI velocity.
        velocity_spread: std of the per-note velocity jitter.
        articulation: sounding fraction of each note's time slot (< 0.7 staccato, > 0.9 legato).
        rest_prob: probability that a melody slot is a rest.
        rhythm_weights: preference over the arousal level's :data:`RHYTHM_CELLS`.
        melody_center: MIDI pitch the melody moves around (register).
        max_leap: largest melodic interval in scale steps.
        accompaniment: key of :data:`ACCOMPANIMENTS`.
        progression: chord symbols (:data:`CHORDS`), one per bar, looped.
        dissonance: probability that a chord gets an added semitone-cluster note.
        contour: melodic contour over each phrase, one of :data:`CONTOURS`.
    """

    quadrant: int
    tonic: int
    mode: str
    tempo_bpm: float
    velocity: float
    velocity_spread: float
    articulation: float
    rest_prob: float
    rhythm_weights: tuple[float, ...]
    melody_center: int
    max_leap: int
    accompaniment: str
    progression: tuple[str, ...]
    dissonance: float
    contour: str


def plan_song(quadrant: int, rng: np.random.Generator) -> SongPlan:
    """Draw the musical parameters of one song of ``quadrant`` (1..4).

    Each secondary cue (tempo, loudness, articulation, rests, register) independently
    contradicts the quadrant with probability :data:`CUE_CONFLICT_PROB`, as in real music
    where a slow piece can be tense or a low one happy; mode, harmony and rhythm stay
    faithful, so the label remains recoverable from the cues taken together.
    """
    a = int(arousal_of(quadrant))
    v = int(valence_of(quadrant))

    def cue(level: int) -> int:
        return 1 - level if rng.random() < CUE_CONFLICT_PROB else level

    cells = RHYTHM_CELLS[a]
    progressions = PROGRESSIONS[quadrant]
    register = cue(v)
    return SongPlan(
        quadrant=int(quadrant),
        tonic=int(rng.integers(PITCH_CLASSES)),
        mode=MODE_OF_VALENCE[v],
        tempo_bpm=round(float(rng.uniform(*TEMPO_RANGE[cue(a)])), 1),
        velocity=float(rng.uniform(*VELOCITY_RANGE[cue(a)])),
        velocity_spread=float(rng.uniform(*VELOCITY_SPREAD_RANGE[a])),
        articulation=float(rng.uniform(*ARTICULATION_RANGE[cue(a)])),
        rest_prob=float(rng.uniform(*REST_PROB_RANGE[cue(a)])),
        rhythm_weights=tuple(float(w) for w in rng.dirichlet(np.ones(len(cells)))),
        melody_center=int(
            rng.integers(MELODY_CENTER_RANGE[register][0], MELODY_CENTER_RANGE[register][1] + 1)
        ),
        max_leap=MAX_LEAP[v],
        accompaniment=str(rng.choice(ACCOMPANIMENT_CHOICES[a])),
        progression=progressions[int(rng.integers(len(progressions)))],
        dissonance=float(rng.uniform(*DISSONANCE_RANGE[quadrant])),
        contour=str(rng.choice(CONTOURS)),
    )


def _contour(kind: str, phase: np.ndarray | float) -> np.ndarray:
    """Contour height 0..1 at phrase position(s) ``phase`` in [0, 1)."""
    phase = np.asarray(phase, dtype=np.float64)
    shapes = {
        "arch": np.sin(np.pi * phase),
        "rise": phase,
        "fall": 1.0 - phase,
        "wave": 0.5 + 0.5 * np.sin(2.0 * np.pi * phase),
    }
    return shapes[kind]


def _chord_pitch_classes(plan: SongPlan, symbol: str) -> np.ndarray:
    root, intervals = CHORDS[symbol]
    return (plan.tonic + root + np.asarray(intervals)) % PITCH_CLASSES


def _pitches_in(pitch_classes: np.ndarray, low: int, high: int) -> np.ndarray:
    """All MIDI pitches in [low, high] whose pitch class is in ``pitch_classes``, ascending."""
    candidates = np.arange(low, high + 1)
    return candidates[np.isin(candidates % PITCH_CLASSES, pitch_classes)]


class _NoteList:
    """Accumulates notes in beats; converted to seconds by :meth:`to_notes`."""

    def __init__(self) -> None:
        self.onset: list[float] = []
        self.length: list[float] = []
        self.pitch: list[int] = []
        self.velocity: list[float] = []

    def add(self, onset: float, length: float, pitch: int, velocity: float) -> None:
        self.onset.append(onset)
        self.length.append(length)
        self.pitch.append(pitch)
        self.velocity.append(velocity)

    def to_notes(self, beat_s: float, rng: np.random.Generator, end_s: float) -> Notes:
        onset = np.asarray(self.onset) * beat_s
        onset = np.maximum(onset + rng.normal(0.0, TIMING_JITTER_S, len(onset)), 0.0)
        offset = onset + np.asarray(self.length) * beat_s
        velocity = np.clip(np.round(self.velocity), MIN_VELOCITY, MAX_VELOCITY)
        keep = onset < end_s - MIN_FRAGMENT_S
        offset = np.minimum(offset, end_s)
        pitch = np.clip(self.pitch, MIN_SONG_PITCH, MAX_SONG_PITCH)
        return Notes.from_arrays(onset[keep], offset[keep], pitch[keep], velocity[keep])


def _choose_cell(
    cells: tuple[tuple[float, ...], ...], weights: tuple[float, ...], left: float, rng: np.random.Generator
) -> tuple[float, ...]:
    """A rhythm cell (durations in beats) that fits in ``left`` beats; one long note if none does."""
    fitting = [i for i, cell in enumerate(cells) if sum(cell) <= left]
    if not fitting:
        return (left,)
    w = np.asarray([weights[i] for i in fitting])
    return cells[fitting[int(rng.choice(len(fitting), p=w / w.sum()))]]


def _compose_melody(plan: SongPlan, rng: np.random.Generator, n_bars: int, out: _NoteList) -> None:
    a = int(arousal_of(plan.quadrant))
    cells = RHYTHM_CELLS[a]
    scale = _pitches_in(
        (plan.tonic + np.asarray(SCALES[plan.mode])) % PITCH_CLASSES,
        plan.melody_center - MELODY_RANGE_BELOW,
        plan.melody_center + MELODY_RANGE_ABOVE,
    )
    low, high = scale[0], scale[-1]
    previous = int(scale[np.argmin(np.abs(scale - plan.melody_center))])
    beat, total = 0.0, float(n_bars * BEATS_PER_BAR)
    while beat < total:
        bar = int(beat // BEATS_PER_BAR)
        left_in_bar = (bar + 1) * BEATS_PER_BAR - beat
        cell = _choose_cell(cells, plan.rhythm_weights, left_in_bar, rng)
        chord = _chord_pitch_classes(plan, plan.progression[bar % len(plan.progression)])
        for length in cell:
            on_downbeat = beat % BEATS_PER_BAR == 0
            if on_downbeat or rng.random() >= plan.rest_prob:
                phase = (beat / BEATS_PER_BAR % PHRASE_BARS) / PHRASE_BARS
                target = low + float(_contour(plan.contour, phase)) * (high - low)
                strong = beat % (BEATS_PER_BAR / 2) == 0
                pool = scale[np.isin(scale % PITCH_CLASSES, chord)] if strong else scale
                step = np.abs(np.searchsorted(scale, pool) - np.searchsorted(scale, previous))
                pool = pool[step <= plan.max_leap] if (step <= plan.max_leap).any() else pool
                w = np.exp(-np.abs(pool - previous) / STEP_SCALE - np.abs(pool - target) / CONTOUR_PULL)
                w[pool == previous] *= REPEAT_PENALTY
                previous = int(pool[rng.choice(len(pool), p=w / w.sum())])
                accent = DOWNBEAT_ACCENT[a] if on_downbeat else 0.0
                velocity = plan.velocity + accent + rng.normal(0.0, plan.velocity_spread)
                out.add(beat, length * plan.articulation, previous, velocity)
            beat += length


def _compose_accompaniment(plan: SongPlan, rng: np.random.Generator, n_bars: int, out: _NoteList) -> None:
    a = int(arousal_of(plan.quadrant))
    center = plan.melody_center - ACCOMP_BELOW_MELODY
    figure = ACCOMPANIMENTS[plan.accompaniment]
    base_velocity = plan.velocity - ACCOMP_VELOCITY_DROP
    for bar in range(n_bars):
        symbol = plan.progression[bar % len(plan.progression)]
        pcs = _chord_pitch_classes(plan, symbol)
        upper = _pitches_in(pcs, center - HALF_OCTAVE, center + HALF_OCTAVE)[: len(pcs)]
        if rng.random() < plan.dissonance:  # semitone cluster on a random upper chord tone
            upper = np.sort(np.append(upper, upper[rng.integers(len(upper))] + 1))
        root_pc = (plan.tonic + CHORDS[symbol][0]) % PITCH_CLASSES
        bass_ref = center - BASS_BELOW_ACCOMP  # bass: the chord root nearest this pitch
        bass = bass_ref + (root_pc - bass_ref + HALF_OCTAVE) % PITCH_CLASSES - HALF_OCTAVE
        for onset, indices, length in figure:
            accent = DOWNBEAT_ACCENT[a] if onset == 0 else 0.0
            for i in indices:
                pitches = upper if i == ALL_UPPER else [bass if i == 0 else upper[(i - 1) % len(upper)]]
                for pitch in pitches:
                    velocity = base_velocity + accent + rng.normal(0.0, plan.velocity_spread)
                    out.add(bar * BEATS_PER_BAR + onset, length * plan.articulation, int(pitch), velocity)


def compose_song(quadrant: int, rng: np.random.Generator, duration_s: float) -> Notes:
    """Compose a piano song of ``quadrant`` (1..4): a melody over a chord accompaniment.

    The plan comes from :func:`plan_song` (drawn first from ``rng``). Notes start at 0 s
    and every offset is at most ``duration_s - SONG_TAIL_S`` seconds.

    Returns:
        the song's :class:`~merflow.music.midi.Notes` (seconds).
    """
    return _compose(plan_song(quadrant, rng), rng, duration_s)


def _compose(plan: SongPlan, rng: np.random.Generator, duration_s: float) -> Notes:
    beat_s = 60.0 / plan.tempo_bpm
    end_s = duration_s - SONG_TAIL_S
    n_bars = max(1, int(np.ceil(end_s / (beat_s * BEATS_PER_BAR))))
    notes = _NoteList()
    _compose_melody(plan, rng, n_bars, notes)
    _compose_accompaniment(plan, rng, n_bars, notes)
    return notes.to_notes(beat_s, rng, end_s)


def song_seconds(clips_per_song: int, clip_s: float, gap_s: float) -> float:
    """Length in seconds of a demo song holding ``clips_per_song`` clips with gaps around them."""
    return clips_per_song * (clip_s + gap_s) + gap_s


def clip_notes(notes: Notes, start_s: float, end_s: float) -> Notes:
    """The notes sounding in ``[start_s, end_s)``, trimmed to it, times relative to ``start_s``.

    Fragments shorter than :data:`MIN_FRAGMENT_S` after trimming are dropped.
    """
    onset = np.maximum(notes.onset, start_s) - start_s
    offset = np.minimum(notes.offset, end_s) - start_s
    keep = offset - onset >= MIN_FRAGMENT_S
    return Notes.from_arrays(onset[keep], offset[keep], notes.pitch[keep], notes.velocity[keep])


def split_counts(n: int, fractions: tuple[float, ...]) -> np.ndarray:
    """Songs per split for ``n`` songs of one quadrant (largest remainder, >= 1 where fraction > 0).

    Raises:
        ValueError: if ``n`` is smaller than the number of splits with a positive fraction.
    """
    f = np.asarray(fractions, dtype=np.float64)
    needed = int((f > 0).sum())
    if n < needed:
        raise ValueError(f"{n} songs per quadrant cannot fill {needed} splits; use more songs")
    counts = np.floor(f * n).astype(np.int64)
    remainder = f * n - counts
    for i in np.argsort(-remainder, kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    for i in np.flatnonzero((f > 0) & (counts == 0)):
        counts[i] += 1
        counts[np.argmax(counts)] -= 1
    return counts


def _assign_splits(
    quadrants: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator
) -> np.ndarray:
    """Song-level split names, stratified by quadrant, shape like ``quadrants``."""
    splits = np.empty(len(quadrants), dtype=object)
    for q in QUADRANTS:
        songs = rng.permutation(np.flatnonzero(quadrants == q))
        counts = split_counts(len(songs), fractions)
        splits[songs] = np.repeat(SPLIT_NAMES, counts)
    return splits


def _write_wav(audio: np.ndarray, path: Path, sample_rate: int) -> None:
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_16")


def generate_demo(
    out_dir: Path,
    n_songs: int = 40,
    clips_per_song: int = 3,
    clip_s: float = 8.0,
    gap_s: float = 2.0,
    sample_rate: int = 22050,
    seed: int = 0,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> pd.DataFrame:
    """Compose, render and cut the demo dataset into ``out_dir`` (see the module docstring).

    Args:
        out_dir: output folder (created).
        n_songs: number of songs, a multiple of 4 (balanced quadrants), with enough songs
            per quadrant to put one in every split with a positive fraction.
        clips_per_song: clips cut from each song.
        clip_s: clip length in seconds.
        gap_s: seconds before, between and after clips.
        sample_rate: audio sample rate in Hz.
        seed: master seed.
        split_fractions: fractions of songs per quadrant for train, val, test.

    Returns:
        the validated manifest (``CLIP_COLUMNS``), ``n_songs * clips_per_song`` rows, also
        written to ``out_dir/manifest.parquet``.

    Raises:
        ValueError: on a bad ``n_songs`` or ``split_fractions``.
    """
    if n_songs <= 0 or n_songs % len(QUADRANTS):
        raise ValueError(f"n_songs must be a positive multiple of {len(QUADRANTS)}, got {n_songs}")
    fractions = tuple(float(f) for f in split_fractions)
    if len(fractions) != len(SPLIT_NAMES) or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"split_fractions must be 3 non-negative numbers summing to 1, got {split_fractions}"
        )
    out_dir = Path(out_dir).resolve()
    song_s = song_seconds(clips_per_song, clip_s, gap_s)
    n_samples = round(song_s * sample_rate)

    assign_seq, split_seq, *song_seqs = np.random.SeedSequence(seed).spawn(2 + n_songs)
    quadrants = np.random.default_rng(assign_seq).permutation(np.repeat(QUADRANTS, n_songs // len(QUADRANTS)))
    splits = _assign_splits(quadrants, fractions, np.random.default_rng(split_seq))

    rows, plans = [], {}
    for s, (quadrant, song_seq) in enumerate(zip(quadrants, song_seqs, strict=True)):
        song_id = f"demo_s{s:03d}"
        rng = np.random.default_rng(song_seq)
        plan = plan_song(int(quadrant), rng)
        plans[song_id] = asdict(plan)
        notes = _compose(plan, rng, song_s)
        audio = render(notes, sample_rate)[:n_samples]
        audio = np.pad(audio, (0, n_samples - len(audio)))
        wav_path = out_dir / "songs" / f"{song_id}.wav"
        _write_wav(audio, wav_path, sample_rate)
        write_notes(notes, out_dir / "songs" / f"{song_id}.mid", tempo_bpm=plan.tempo_bpm)
        for c in range(clips_per_song):
            clip_id = f"{song_id}_c{c}"
            start = gap_s + c * (clip_s + gap_s)
            midi_path = out_dir / "clips_midi" / f"{clip_id}.mid"
            write_notes(clip_notes(notes, start, start + clip_s), midi_path, tempo_bpm=plan.tempo_bpm)
            rows.append(
                {
                    "clip_id": clip_id,
                    "song_id": song_id,
                    "quadrant": int(quadrant),
                    "valence": int(valence_of(quadrant)),
                    "arousal": int(arousal_of(quadrant)),
                    "midi_path": str(midi_path),
                    "url": wav_path.as_uri(),
                    "start_s": float(start),
                    "end_s": float(start + clip_s),
                    "split": splits[s],
                }
            )
    manifest = validate_manifest(pd.DataFrame(rows, columns=CLIP_COLUMNS), "demo manifest")
    generator = {
        "n_songs": n_songs,
        "clips_per_song": clips_per_song,
        "clip_s": clip_s,
        "gap_s": gap_s,
        "sample_rate": sample_rate,
        "seed": seed,
        "split_fractions": list(fractions),
    }
    write_parquet(manifest, out_dir / "manifest.parquet", metadata={"generator": generator, "plans": plans})
    return manifest
