"""basic-pitch (Bittner et al., ICASSP 2022) transcription backend, run on its bundled ONNX model.

Conventions
-----------
Audio is decoded with :func:`merflow.music.audio_features.load_audio` (libsndfile, channels averaged,
soxr resampling: what ``librosa.load`` does) to mono at basic-pitch's rate (22050 Hz), cut into basic-pitch's
overlapping 2 s windows, run through the ONNX model in batches and decoded into notes with
basic-pitch's own post-processing (:func:`basic_pitch.note_creation.model_output_to_notes`), so
the notes equal those of ``basic_pitch.inference.predict`` with the same thresholds. Note
times are in seconds from the start of the file; velocity is ``round(127 * amplitude)``
clipped to 1..127. Pitch bends are not computed (they do not change the notes).

basic-pitch is imported lazily, once, with its import-time warnings (CoreML / TFLite /
TensorFlow not installed) silenced and without letting them configure the root logger; the
ONNX session is created once per process and shared by all transcribers. It runs on
:data:`ONNX_THREADS` thread without spin-waiting, the one core a transcription job reserves
(``threads: 1``; more cores = more shards): ONNX Runtime's default, one spinning thread per
core, would take the cores of the jobs running beside it.

Failure behaviour: a missing file raises :class:`~merflow.core.errors.InputError` with reason
``missing_file``; a file that cannot be decoded as audio (or decodes to nothing) raises
``corrupt_audio``; audio in which no note is detected (e.g. silence) raises ``no_notes``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from merflow.core.errors import InputError
from merflow.music.audio_features import load_audio as read_audio
from merflow.music.midi import Notes

#: basic-pitch's defaults (``basic_pitch.inference.predict``, version 0.4.0).
DEFAULT_ONSET_THRESHOLD = 0.5
DEFAULT_FRAME_THRESHOLD = 0.3
DEFAULT_MINIMUM_NOTE_LENGTH_MS = 127.70
#: Model frames shared by consecutive windows, as in ``basic_pitch.inference.run_inference``.
N_OVERLAPPING_FRAMES = 30
#: Windows (about 1.64 s of new audio each) sent to the ONNX session per call.
WINDOWS_PER_BATCH = 16
#: Velocity range of a MIDI note-on that sounds.
MIN_VELOCITY, MAX_VELOCITY = 1, 127
#: Intra-op threads of the ONNX session (the transcription job's one core).
ONNX_THREADS = 1

log = logging.getLogger(__name__)


@functools.cache
def _basic_pitch() -> ModuleType:
    """Import ``basic_pitch.inference`` once, silencing its missing-backend warnings.

    basic-pitch warns through ``logging.warning`` on the root logger, which would also call
    ``logging.basicConfig()`` when the root has no handler; the temporary null handler
    prevents that so the application's own logging configuration still applies later.
    """
    root = logging.getLogger()
    guard = logging.NullHandler()
    previous_disable = logging.root.manager.disable
    root.addHandler(guard)
    logging.disable(logging.WARNING)
    try:
        import basic_pitch.inference
    finally:
        logging.disable(previous_disable)
        root.removeHandler(guard)
    return basic_pitch


@functools.cache
def _model() -> Any:
    """The bundled ICASSP 2022 ONNX model as a ``basic_pitch.inference.Model`` (one per process)."""
    bp = _basic_pitch()
    path = bp.build_icassp_2022_model_path(bp.FilenameSuffix.onnx)
    log.debug("loading basic-pitch ONNX model %s", path)
    model = bp.inference.Model(path)
    if model.model_type != bp.inference.Model.MODEL_TYPES.ONNX:  # pragma: no cover - needs TF etc.
        raise RuntimeError(f"basic-pitch loaded {path} as {model.model_type}, expected ONNX")
    model.model = _onnx_session(path)  # basic-pitch's own session uses every core
    return model


def _onnx_session(path: Path) -> Any:
    """An ONNX Runtime CPU session of ``path`` on :data:`ONNX_THREADS` thread(s), no spin-waiting."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = ONNX_THREADS
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def load_audio(audio_path: Path, item: str) -> np.ndarray:
    """Decode ``audio_path`` to mono float32 at basic-pitch's sample rate.

    Uses :func:`merflow.music.audio_features.load_audio` without its silence check (silent
    audio is transcribed and then gives ``no_notes``).

    Returns:
        samples, shape (n,), float32, at ``basic_pitch.constants.AUDIO_SAMPLE_RATE`` (22050 Hz).

    Raises:
        InputError: ``missing_file`` or ``corrupt_audio`` (also for a truncated WAV file, see
            :func:`merflow.core.io.wav_shortfall`).
    """
    sample_rate = _basic_pitch().constants.AUDIO_SAMPLE_RATE
    return read_audio(Path(audio_path), sample_rate, item, silence_peak=None)


def model_output(audio: np.ndarray) -> dict[str, np.ndarray]:
    """Run the ONNX model over ``audio`` exactly as ``basic_pitch.inference.run_inference`` does.

    Args:
        audio: mono samples at 22050 Hz, shape (n,).

    Returns:
        ``{"note": (t, 88), "onset": (t, 88), "contour": (t, 264)}`` posteriorgrams at
        ``basic_pitch.constants.ANNOTATIONS_FPS`` frames per second, ``t = floor(n * 86 / 22050)``.
    """
    inference = _basic_pitch().inference
    fft_hop = inference.FFT_HOP
    overlap_len = N_OVERLAPPING_FRAMES * fft_hop
    hop_size = inference.AUDIO_N_SAMPLES - overlap_len
    padded = np.concatenate([np.zeros(overlap_len // 2, dtype=np.float32), audio])
    windows = np.stack([window for window, _ in inference.window_audio_file(padded, hop_size)])
    model = _model()
    outputs: dict[str, list[np.ndarray]] = {"note": [], "onset": [], "contour": []}
    for start in range(0, len(windows), WINDOWS_PER_BATCH):
        for key, value in model.predict(windows[start : start + WINDOWS_PER_BATCH]).items():
            outputs[key].append(value)
    return {
        key: inference.unwrap_output(np.concatenate(value), len(audio), N_OVERLAPPING_FRAMES)
        for key, value in outputs.items()
    }


@dataclass(frozen=True)
class BasicPitchTranscriber:
    """Transcribe audio files with basic-pitch's ONNX model.

    Args:
        onset_threshold: minimum onset posterior (0..1) that starts a note; default 0.5.
        frame_threshold: minimum frame posterior (0..1) that keeps a note sounding; default 0.3.
        minimum_note_length_ms: notes shorter than this many milliseconds are dropped;
            default 127.70 (11 model frames).
        minimum_frequency: lowest allowed note frequency in Hz; ``None`` (default) = no limit.
        maximum_frequency: highest allowed note frequency in Hz; ``None`` (default) = no limit.
        melodia_trick: also decode notes from leftover frame energy without an onset
            (basic-pitch's default, True).
    """

    onset_threshold: float = DEFAULT_ONSET_THRESHOLD
    frame_threshold: float = DEFAULT_FRAME_THRESHOLD
    minimum_note_length_ms: float = DEFAULT_MINIMUM_NOTE_LENGTH_MS
    minimum_frequency: float | None = None
    maximum_frequency: float | None = None
    melodia_trick: bool = True
    name: str = field(default="basic_pitch", init=False)

    def __post_init__(self) -> None:
        for option in ("onset_threshold", "frame_threshold"):
            if not 0.0 < getattr(self, option) < 1.0:
                raise ValueError(f"{option} must be in (0, 1), got {getattr(self, option)}")
        if self.minimum_note_length_ms < 0:
            raise ValueError(f"minimum_note_length_ms must be >= 0, got {self.minimum_note_length_ms}")
        low, high = self.minimum_frequency, self.maximum_frequency
        if low is not None and high is not None and low >= high:
            raise ValueError(f"minimum_frequency {low} must be below maximum_frequency {high}")

    def transcribe(self, audio_path: Path, item: str) -> Notes:
        """Transcribe one audio file into notes (seconds, MIDI pitch, velocity 1..127).

        Raises:
            InputError: ``missing_file``, ``corrupt_audio`` or ``no_notes``.
        """
        audio = load_audio(audio_path, item)
        return self.notes_from_output(model_output(audio), audio_path, item)

    def notes_from_output(self, output: dict[str, np.ndarray], audio_path: Path, item: str) -> Notes:
        """Decode model posteriorgrams (see :func:`model_output`) into :class:`Notes`.

        Raises:
            InputError: ``no_notes`` when nothing passes the thresholds.
        """
        bp = _basic_pitch()
        frames_per_second = bp.constants.AUDIO_SAMPLE_RATE / bp.constants.FFT_HOP
        min_note_frames = int(np.round(self.minimum_note_length_ms / 1000 * frames_per_second))
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 rescaling on silent input
            _, events = bp.note_creation.model_output_to_notes(
                output,
                onset_thresh=self.onset_threshold,
                frame_thresh=self.frame_threshold,
                min_note_len=min_note_frames,
                min_freq=self.minimum_frequency,
                max_freq=self.maximum_frequency,
                include_pitch_bends=False,
                melodia_trick=self.melodia_trick,
            )
        if not events:
            raise InputError(item, "no_notes", "basic-pitch detected no notes", audio_path)
        start, end, pitch, amplitude = (np.array([event[k] for event in events]) for k in range(4))
        velocity = np.clip(np.round(MAX_VELOCITY * amplitude), MIN_VELOCITY, MAX_VELOCITY)
        return Notes.from_arrays(start, end, pitch, velocity)
