"""Emotion of one's own piano music with a trained run: load it, predict files.

Conventions
-----------
**Runs.** A trained run is a folder of the pipeline's layout
``<results>/<dataset>/models/<model>/<part>/seed<k>/`` holding ``training.json``
(``settings``: ``estimator``, ``features``, ``source``; ``dataset``, ``model``, ``part``,
``seed``), the model, and, when evaluated, ``metrics.json`` (test metrics). Classical runs
(``features`` = ``symbolic`` | ``audio``) hold ``model.joblib``, a scikit-learn pipeline
over the columns ``training.json -> history.feature_names``, in that order; neural runs
(``features`` = ``neural``: LSTM-Attn, short-chunk ResNet, Zhao & Yoshii, Zhu et al.) hold
``model.pt``, rebuilt and fed as in training by :mod:`merflow.inference.neural` (tokens of
the run's tokenizer and/or audio frame features); MoFi runs (``features`` = ``cp``) hold
``model.pt`` too, fed CP tokens and the mode of the key.
:func:`load_predictor` checks that the files exist and agree (feature count, classes 1..4,
names the extractor computes, weights that fit the rebuilt network, identity fields) and
raises :class:`RunError` otherwise. ``joblib`` unpickles arbitrary objects: load trusted runs only.

:func:`find_run` picks a run under a results folder: among the runs of that layout that
match ``dataset`` / ``model`` (all when None) and have a test accuracy in ``metrics.json``,
the one with the highest test 4Q accuracy; ties go to the run whose path relative to the
results folder sorts first (``seed0`` before ``seed1``). Runs trained on real datasets come
first: a run of a synthetic dataset (:data:`SYNTHETIC_DATASETS`, the embedded demo) is picked
only when no other run matches, and :func:`synthetic_run_warning` then says what it learned
(the CLI prints it, with the command that trains a real model).

**Inputs.** MIDI (:data:`MIDI_SUFFIXES`) is read with :func:`merflow.music.midi.read_score`.
Audio (:data:`AUDIO_SUFFIXES`) is always transcribed (for the key, and for the features or
tokens of symbolic models) with the run's AMT backend: its ``source`` when that is an AMT
backend, otherwise (``oracle``, ``audio``) :data:`DEFAULT_AMT_BACKEND`. The transcription
passes through a MIDI file written on a beat grid (:func:`merflow.transcription.beat_grid.write_beat_aligned`,
the pipeline's default ``transcription.beat_grid``) and read back, as the pipeline's
transcription and feature stages do, so a clip gives the features the model was trained on.
Audio models (and neural models' audio branches) take audio features of the file itself;
for a MIDI file they take those of its rendering, made as the run's own audio was: with the
renderer recorded in ``<results>/<dataset>/audio/clips_render.parquet`` (FluidSynth with the
default SoundFont, or the builtin synthesizer) and through a 16-bit WAV
(:func:`merflow.acquisition.rendering.render_as_clip`); a run without that file (or a machine without
FluidSynth) gets the builtin synthesizer, logged as a warning (real recordings differ
either way). Other suffixes, and files that cannot be read, raise
:class:`~merflow.core.errors.InputError` (reasons ``unsupported_format``, ``missing_file``,
``corrupt_midi``, ``no_notes``, ``corrupt_audio``, ``silent_audio``); audio in which the
transcription finds no note is ``no_notes`` for audio models too (the key needs notes).

**Settings as in training.** Audio features use :class:`AudioFeatureConfig` from, in order:
``training.json -> audio_features`` (a dict of its fields); else the parquet metadata of the
run's own feature cache ``<results>/<dataset>/features/audio/statistics.parquet`` when its
SHA-256 equals ``training.json -> features_sha256`` (neural runs: ``frames.parquet`` and
``inputs_sha256 -> frames``); else the defaults (22050 Hz, the
``features.audio`` config defaults). Transcription options come from
``training.json -> transcription_options``; else the metadata of the run's transcription
shards ``<results>/<dataset>/transcription/<backend>/shard_*.parquet`` when they all agree;
else the backend's defaults (= the pipeline's config defaults).
:attr:`Predictor.settings_origin` says which was used (``renderer`` too).

**Outputs.** :class:`Prediction`: ``quadrant`` 1..4 is the argmax of ``probabilities``
(``Q1``..``Q4``, summing to 1; ties to the lower quadrant, as in training). Valence and
arousal come from the quadrant probabilities: P(high valence) = p1 + p4, P(high arousal) =
p1 + p2, and the 0/1 decisions are 1 (high) when that probability is >= 0.5; they may
disagree with the quadrant when its probability is split. ``key``/``mode`` are the
Krumhansl-Kessler key (:mod:`merflow.music.tonality`) of the MIDI or the transcription.

**Annotation** of whole folders (resumable, parallel, sharded) is :mod:`merflow.inference.annotation`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import symusic

from merflow.acquisition.rendering import BACKENDS as RENDER_BACKENDS
from merflow.acquisition.rendering import BUILTIN, backend_problem, render_as_clip
from merflow.core.errors import InputError
from merflow.core.io import read_parquet_metadata
from merflow.core.labels import QUADRANT_NAMES, QUADRANTS, arousal_of, valence_of
from merflow.core.provenance import file_sha256
from merflow.features.caches import audio_feature_settings, clip_tokens
from merflow.inference.runs import (
    CP,
    METRICS_FILE,
    MODEL_FILE,
    NEURAL,
    TRAINING_FILE,
    RunError,
    model_file_of,
    read_run_json,
    test_accuracy,
)
from merflow.music.audio_features import (
    AudioFeatureConfig,
    audio_stat_names,
    audio_statistics,
    frame_features,
    load_audio,
)
from merflow.music.midi import Notes, checked_notes, read_score
from merflow.music.symbolic_features import SYMBOLIC_FEATURE_NAMES, symbolic_statistics
from merflow.music.tonality import Key, estimate_key
from merflow.training.classical import probabilities_per_quadrant
from merflow.transcription import TRANSCRIBERS, Transcriber, get_transcriber
from merflow.transcription.beat_grid import write_beat_aligned

if TYPE_CHECKING:  # torch is imported only when a neural run is loaded
    from merflow.inference.neural import NeuralInput

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac")
SUPPORTED_SUFFIXES = MIDI_SUFFIXES + AUDIO_SUFFIXES
SYMBOLIC, AUDIO = "symbolic", "audio"  # feature kinds; AUDIO is also an input kind, beside MIDI
MIDI = "midi"
FEATURE_KINDS = (SYMBOLIC, AUDIO)
ORACLE_SOURCE = "oracle"
#: AMT backend for audio input when the run's source is not one (``oracle``, ``audio``).
DEFAULT_AMT_BACKEND = "basic_pitch"
#: A valence/arousal probability at or above this is "high" (1).
DECISION_THRESHOLD = 0.5
QUADRANT_KEYS = tuple(f"Q{q}" for q in QUADRANTS)
#: Origins of the audio-feature / transcription settings (:attr:`Predictor.settings_origin`).
FROM_TRAINING, FROM_CACHE, FROM_DEFAULTS = "training.json", "pipeline caches", "defaults"
#: The clip table of rendered audio in ``<results>/<dataset>/audio/`` (metadata ``renderer``).
RENDERED_CLIPS = "clips_render.parquet"


@dataclass(frozen=True)
class ModelInfo:
    """Identity of the trained run a prediction comes from.

    Attributes:
        run_dir: absolute path of the run folder.
        model, dataset, part, seed: as in ``training.json``.
        estimator, features, source: the model's settings.
        test_accuracy: 4Q accuracy on the test split (``metrics.json``), None if absent.
    """

    run_dir: str
    model: str
    dataset: str
    part: str
    seed: int
    estimator: str
    features: str
    source: str
    test_accuracy: float | None


@dataclass(frozen=True)
class Prediction:
    """Emotion and key of one file (see the module conventions).

    Attributes:
        file: the file as given.
        input: ``midi`` or ``audio``.
        quadrant: 1..4, argmax of ``probabilities``.
        probabilities: ``{"Q1": p1, ..., "Q4": p4}``, summing to 1.
        valence, arousal: 1 high / 0 low, from ``valence_probability`` / ``arousal_probability``.
        valence_probability: P(high valence) = p1 + p4.
        arousal_probability: P(high arousal) = p1 + p2.
        key: Krumhansl-Kessler key name, e.g. ``A minor``; ``mode``: ``major`` or ``minor``.
        key_correlation: correlation of the key's profile, in [-1, 1].
        n_notes: notes in the MIDI file or the transcription.
        transcriber: AMT backend used (audio input), else None.
        model: the run used.
    """

    file: str
    input: str
    quadrant: int
    probabilities: dict[str, float]
    valence: int
    valence_probability: float
    arousal: int
    arousal_probability: float
    key: str
    mode: str
    key_correlation: float
    n_notes: int
    transcriber: str | None
    model: ModelInfo

    @property
    def label(self) -> str:
        """Name of the quadrant, e.g. ``Q1 happy``."""
        return QUADRANT_NAMES[self.quadrant]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the attributes, ``label``, and ``model`` as a dict."""
        return {**asdict(self), "label": self.label}


@dataclass(frozen=True)
class _Analysis:
    """What a file yields before classification: the model's inputs, its notes and their key.

    ``features`` (classical runs: statistics in model order) or ``neural`` (neural and MoFi runs).
    """

    features: np.ndarray | None
    neural: NeuralInput | None
    notes: Notes
    key: Key
    input: str
    transcriber: str | None


def file_kind(path: Path) -> str:
    """``midi`` or ``audio`` from the suffix (case-insensitive).

    Raises:
        InputError: ``unsupported_format`` for any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return MIDI
    if suffix in AUDIO_SUFFIXES:
        return AUDIO
    raise InputError(
        Path(path).name,
        "unsupported_format",
        f"unsupported file type {suffix or '(no suffix)'!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}",
        path,
    )


@dataclass
class Predictor:
    """A trained run ready to classify files; build it with :func:`load_predictor`.

    Attributes:
        pipeline: the fitted scikit-learn pipeline of a classical run, the
            :class:`~merflow.inference.neural.NeuralClassifier` of a neural run or the
            :class:`~merflow.inference.neural.MoFiClassifier` of a MoFi run.
        feature_names: the classical pipeline's input columns, in order (() for neural runs).
        info: identity of the run.
        audio_config: audio-feature settings (used by audio models).
        transcriber_name, transcriber_options: AMT backend for audio input.
        renderer: :mod:`merflow.acquisition.rendering` backend that renders MIDI input for audio features.
        settings_origin: where ``audio_config`` and the transcription options came from
            (``{"audio_features": ..., "transcription": ...}``, values :data:`FROM_TRAINING`,
            :data:`FROM_CACHE` or :data:`FROM_DEFAULTS`).
    """

    pipeline: Any
    feature_names: tuple[str, ...]
    info: ModelInfo
    audio_config: AudioFeatureConfig
    transcriber_name: str
    transcriber_options: dict[str, Any]
    settings_origin: dict[str, str]
    renderer: str = BUILTIN
    _transcriber: Transcriber | None = field(default=None, init=False, repr=False)

    @property
    def transcriber(self) -> Transcriber:
        """The AMT backend, built on first use (MIDI-only use never loads it)."""
        if self._transcriber is None:
            self._transcriber = get_transcriber(self.transcriber_name, **self.transcriber_options)
        return self._transcriber

    def predict_file(self, path: str | Path) -> Prediction:
        """Classify one MIDI or audio file.

        Raises:
            InputError: unsupported suffix or unreadable file (see the module conventions).
        """
        (result,) = self.predict_files([path])
        if isinstance(result, InputError):
            raise result
        return result

    def predict_files(self, paths: Sequence[str | Path]) -> list[Prediction | InputError]:
        """Classify files, one model call for all readable ones.

        Returns:
            per path, in order, its :class:`Prediction` or the :class:`InputError` it raised.
        """
        results: list[Prediction | InputError | None] = [None] * len(paths)
        analyses: dict[int, _Analysis] = {}
        for i, path in enumerate(paths):
            try:
                analyses[i] = self._analyse(Path(path))
            except InputError as error:
                results[i] = error
        if analyses:
            probabilities = self._probabilities(list(analyses.values()))
            for (i, analysis), p in zip(analyses.items(), probabilities, strict=True):
                results[i] = self._prediction(str(paths[i]), analysis, p)
        return [r for r in results if r is not None]

    def _probabilities(self, analyses: list[_Analysis]) -> np.ndarray:
        """Quadrant probabilities ``(len(analyses), 4)`` of the run's model."""
        if self.info.features in (NEURAL, CP):
            return self.pipeline.probabilities([a.neural for a in analyses])
        return probabilities_per_quadrant(self.pipeline, np.stack([a.features for a in analyses]))

    def _analyse(self, path: Path) -> _Analysis:
        """Notes and model inputs of one file."""
        kind = file_kind(path)
        item = path.name
        transcriber = None
        if kind == AUDIO:
            transcriber = self.transcriber_name
            score, notes = _through_midi_file(self.transcriber.transcribe(path, item), item)
        else:
            score = read_score(path, item)
            notes = checked_notes(score, item, path)

        def frames() -> dict[str, np.ndarray]:
            cfg = self.audio_config
            if kind == AUDIO:
                y = load_audio(path, cfg.sample_rate, item)
            else:
                y = render_as_clip(path, cfg.sample_rate, self.renderer, item=item)
            return frame_features(y, cfg)

        key = estimate_key(notes)  # reported, and MoFi's FiLM mode
        features = neural = None
        if self.info.features in (NEURAL, CP):
            from merflow.inference.neural import NeuralInput

            classifier = self.pipeline
            tokens = None
            if classifier.tokenizer is not None:
                rescale = getattr(classifier, "cp_rescale", False)
                tokens = clip_tokens(score, notes, classifier.tokenizer, cp_rescale=rescale, item=item)
            frame_set = None
            if classifier.needs_frames:
                frame_set = {name: value.astype(np.float32) for name, value in frames().items()}
            neural = NeuralInput(tokens=tokens, frames=frame_set, minor=int(key.mode == "minor"))
        else:
            symbolic = self.info.features == SYMBOLIC
            values = symbolic_statistics(notes) if symbolic else audio_statistics(frames())
            features = np.array([values[name] for name in self.feature_names], dtype=np.float64)
        return _Analysis(features, neural, notes, key, input=kind, transcriber=transcriber)

    def _prediction(self, file: str, analysis: _Analysis, p: np.ndarray) -> Prediction:
        key = analysis.key
        p_valence = float(p @ valence_of(QUADRANTS))
        p_arousal = float(p @ arousal_of(QUADRANTS))
        return Prediction(
            file=file,
            input=analysis.input,
            quadrant=int(QUADRANTS[int(np.argmax(p))]),
            probabilities={name: float(v) for name, v in zip(QUADRANT_KEYS, p, strict=True)},
            valence=int(p_valence >= DECISION_THRESHOLD),
            valence_probability=p_valence,
            arousal=int(p_arousal >= DECISION_THRESHOLD),
            arousal_probability=p_arousal,
            key=key.name,
            mode=key.mode,
            key_correlation=key.correlation,
            n_notes=len(analysis.notes),
            transcriber=analysis.transcriber,
            model=self.info,
        )


def _through_midi_file(notes: Notes, item: str) -> tuple[symusic.Score, Notes]:
    """``notes`` written as MIDI and read back (score and notes), as the pipeline stores
    transcriptions: on a beat grid estimated from the notes (``transcription.beat_grid``,
    its default), so that REMI bars follow the music as in training."""
    with tempfile.TemporaryDirectory(prefix="merflow-predict-") as tmp:
        midi_path = Path(tmp) / "transcription.mid"
        write_beat_aligned(notes, midi_path)
        score = read_score(midi_path, item)
        return score, checked_notes(score, item, midi_path)


def _dataset_dir(run_dir: Path) -> Path | None:
    """``<results>/<dataset>`` of a run in the pipeline layout, else None."""
    parents = run_dir.parents
    if len(parents) > 3 and parents[2].name == "models":
        return parents[3]
    return None


def _audio_config(training: dict[str, Any], run_dir: Path) -> tuple[AudioFeatureConfig, str]:
    """Audio-feature settings of the run and their origin (see the module conventions)."""
    known = {f.name for f in fields(AudioFeatureConfig)}
    if "audio_features" in training:
        given = dict(training["audio_features"])
        unknown = sorted(set(given) - known)
        if unknown:
            raise RunError(f"{run_dir / TRAINING_FILE}: unknown audio_features fields {unknown}")
        return AudioFeatureConfig(**given), FROM_TRAINING
    dataset_dir = _dataset_dir(run_dir)
    if dataset_dir is not None:
        audio_dir = dataset_dir / "features" / "audio"
        digests = training.get("inputs_sha256") if isinstance(training.get("inputs_sha256"), dict) else {}
        caches = {  # classical runs digest the statistics, neural runs the frames they read
            audio_dir / "statistics.parquet": training.get("features_sha256"),
            audio_dir / "frames.parquet": digests.get("frames"),
        }
        for cache, digest in caches.items():
            if digest and cache.is_file() and file_sha256(cache) == digest:
                return AudioFeatureConfig(**audio_feature_settings(read_parquet_metadata(cache))), FROM_CACHE
    return AudioFeatureConfig(), FROM_DEFAULTS


def _renderer(run_dir: Path) -> tuple[str, str]:
    """Renderer of MIDI input and its origin: the one of the run's rendered clips, else builtin."""
    dataset_dir = _dataset_dir(run_dir)
    clips = dataset_dir / "audio" / RENDERED_CLIPS if dataset_dir is not None else None
    if clips is None or not clips.is_file():
        return BUILTIN, FROM_DEFAULTS
    renderer = read_parquet_metadata(clips).get("renderer")
    if renderer not in RENDER_BACKENDS:
        log.warning(
            "%s: no known renderer in its metadata (%r); MIDI input uses %s", clips, renderer, BUILTIN
        )
        return BUILTIN, FROM_DEFAULTS
    problem = backend_problem(renderer, None)
    if problem is not None:
        log.warning(
            "the run's audio was rendered by %s, unusable here (%s); MIDI input uses %s",
            renderer,
            problem[1],
            BUILTIN,
        )
        return BUILTIN, FROM_DEFAULTS
    return renderer, FROM_CACHE


def _transcription(training: dict[str, Any], run_dir: Path) -> tuple[str, dict[str, Any], str]:
    """AMT backend for audio input, its options and their origin (see the module conventions)."""
    source = training["settings"].get("source", ORACLE_SOURCE)
    backend = source if source in TRANSCRIBERS and source != ORACLE_SOURCE else DEFAULT_AMT_BACKEND
    if "transcription_options" in training:
        return backend, dict(training["transcription_options"]), FROM_TRAINING
    dataset_dir = _dataset_dir(run_dir)
    shards = (
        []
        if dataset_dir is None
        else sorted((dataset_dir / "transcription" / backend).glob("shard_*.parquet"))
    )
    options = [read_parquet_metadata(shard).get("options") for shard in shards]
    if options and all(o is not None and o == options[0] for o in options):
        return backend, dict(options[0]), FROM_CACHE
    return backend, {}, FROM_DEFAULTS


def _expected_feature_names(features: str, cfg: AudioFeatureConfig) -> list[str]:
    return list(SYMBOLIC_FEATURE_NAMES) if features == SYMBOLIC else audio_stat_names(cfg)


def load_predictor(run_dir: str | Path) -> Predictor:
    """Load a trained run: classical (``model.joblib``), neural or MoFi (``model.pt``, see
    :mod:`merflow.inference.neural`), with ``training.json`` and ``metrics.json`` if present.

    Raises:
        RunError: the folder or a file is missing or unreadable, ``training.json`` lacks a
            field, a classical model is not a classifier over ``history.feature_names`` with
            classes in 1..4 or its feature names are not ones this version computes, a neural
            or MoFi model does not fit the model its settings describe (or a MoFi run lacks
            its chunk settings), the run is of another kind, or ``metrics.json`` names
            another run.
    """
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run folder does not exist")
    if not (run_dir / TRAINING_FILE).is_file():
        raise RunError(f"{run_dir}: no {TRAINING_FILE} (is this a trained run folder?)")
    training = read_run_json(run_dir / TRAINING_FILE)
    try:
        settings = training["settings"]
        identity = {k: training[k] for k in ("model", "dataset", "part", "seed")}
        features = settings["features"]
    except (KeyError, TypeError) as exc:
        raise RunError(f"{run_dir / TRAINING_FILE}: missing field {exc}") from exc
    if features not in (*FEATURE_KINDS, NEURAL, CP):
        raise RunError(
            f"{run_dir / TRAINING_FILE}: features {features!r} cannot label files; "
            f"runs of features {(*FEATURE_KINDS, NEURAL, CP)} can"
        )
    model_file = model_file_of(features)
    if not (run_dir / model_file).is_file():
        raise RunError(f"{run_dir}: no {model_file} (is this a trained run folder?)")
    metrics = read_run_json(run_dir / METRICS_FILE) if (run_dir / METRICS_FILE).is_file() else {}
    disagree = [k for k, v in identity.items() if k in metrics and metrics[k] != v]
    if disagree:
        raise RunError(f"{run_dir}: {METRICS_FILE} and {TRAINING_FILE} disagree on {disagree}")
    audio_config, audio_origin = _audio_config(training, run_dir)
    if features in (NEURAL, CP):
        from merflow.inference.neural import NeuralRunError, load_mofi_classifier, load_neural_classifier

        try:
            pipeline: Any = (
                load_mofi_classifier(run_dir / model_file, training)
                if features == CP
                else load_neural_classifier(run_dir / model_file, training, audio_config)
            )
        except NeuralRunError as exc:
            raise RunError(str(exc)) from exc
        feature_names: tuple[str, ...] = ()
    else:
        pipeline, feature_names = _classical_model(run_dir, training, features, audio_config)
    backend, options, transcription_origin = _transcription(training, run_dir)
    reads_audio = features == AUDIO or getattr(pipeline, "needs_frames", False)
    # symbolic runs never render: no lookup, and no warning about a renderer they do not use
    renderer, renderer_origin = _renderer(run_dir) if reads_audio else (BUILTIN, FROM_DEFAULTS)
    info = ModelInfo(
        run_dir=str(run_dir),
        model=str(identity["model"]),
        dataset=str(identity["dataset"]),
        part=str(identity["part"]),
        seed=int(identity["seed"]),
        estimator=str(settings.get("estimator", "")),
        features=features,
        source=str(settings.get("source", "")),
        test_accuracy=test_accuracy(metrics),
    )
    return Predictor(
        pipeline=pipeline,
        feature_names=feature_names,
        info=info,
        audio_config=audio_config,
        transcriber_name=backend,
        transcriber_options=options,
        settings_origin={
            "audio_features": audio_origin,
            "transcription": transcription_origin,
            "renderer": renderer_origin,
        },
        renderer=renderer,
    )


def _classical_model(
    run_dir: Path, training: dict[str, Any], features: str, audio_config: AudioFeatureConfig
) -> tuple[Any, tuple[str, ...]]:
    """The fitted scikit-learn pipeline of a classical run and its feature names, checked."""
    try:
        feature_names = tuple(training["history"]["feature_names"])
    except (KeyError, TypeError) as exc:
        raise RunError(f"{run_dir / TRAINING_FILE}: missing field {exc}") from exc
    try:
        pipeline = joblib.load(run_dir / MODEL_FILE)
    except Exception as exc:  # unpickling raises many types
        raise RunError(
            f"{run_dir / MODEL_FILE}: cannot load the model ({type(exc).__name__}: {exc})"
        ) from exc
    _check_model(pipeline, feature_names, run_dir)
    unknown = sorted(set(feature_names) - set(_expected_feature_names(features, audio_config)))
    if unknown:
        raise RunError(
            f"{run_dir}: {len(unknown)} feature names of {TRAINING_FILE} are not {features} features "
            f"computed with {audio_config}: {unknown[:5]}"
        )
    return pipeline, feature_names


def _check_model(pipeline: Any, feature_names: tuple[str, ...], run_dir: Path) -> None:
    """The model must give probabilities over quadrants from ``len(feature_names)`` columns."""
    where = run_dir / MODEL_FILE
    if not hasattr(pipeline, "predict_proba") or not hasattr(pipeline, "classes_"):
        raise RunError(f"{where}: {type(pipeline).__name__} is not a fitted probabilistic classifier")
    n_in = getattr(pipeline, "n_features_in_", len(feature_names))
    if n_in != len(feature_names):
        raise RunError(
            f"{where}: the model takes {n_in} features but {TRAINING_FILE} lists {len(feature_names)}"
        )
    classes = set(np.asarray(pipeline.classes_).tolist())
    if not classes <= set(QUADRANTS):
        raise RunError(f"{where}: classes {sorted(classes)} are not quadrants 1..4")
