"""Builders of hostile inputs for the pipeline's entry points, generated at test time.

Nothing here is a stored fixture: every MIDI file is written with mido (or as raw bytes),
every audio file with soundfile (or as raw bytes), and downloads are served by a loopback
HTTP server (127.0.0.1) in a thread. Each case knows its expected outcome: the
:class:`~merflow.core.errors.InputError` reason it must raise, or the answer it must give.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

# --------------------------------------------------------------------------------------------
# MIDI
# --------------------------------------------------------------------------------------------

TPQ = 480
#: microseconds per quarter note of 120 BPM
TEMPO_120 = 500_000
#: An event: (absolute tick, message). Ties at one tick keep list order.
Event = tuple[int, mido.Message | mido.MetaMessage]


def note_events(notes: list[tuple[int, int, int]], channel: int = 0, velocity: int = 80) -> list[Event]:
    """note_on/note_off events of ``(pitch, start_tick, duration_ticks)`` notes."""
    events: list[Event] = []
    for pitch, start, duration in notes:
        events.append((start, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)))
        events.append((start + duration, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    return events


def tempo_events(tempi: list[tuple[int, int]]) -> list[Event]:
    """set_tempo events of ``(tick, microseconds per quarter note)`` pairs."""
    return [(tick, mido.MetaMessage("set_tempo", tempo=tempo)) for tick, tempo in tempi]


def write_midi(path: Path, tracks: list[list[Event]], fmt: int = 1, tpq: int = TPQ) -> Path:
    """Write ``tracks`` (lists of absolute-tick events) as a standard MIDI file of format ``fmt``."""
    midi = mido.MidiFile(type=fmt, ticks_per_beat=tpq)
    for events in tracks:
        track = mido.MidiTrack()
        now = 0
        # note_offs before note_ons at one tick, otherwise stable
        order = sorted(range(len(events)), key=lambda i: (events[i][0], events[i][1].type == "note_on", i))
        for i in order:
            tick, message = events[i]
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(path)
    return path


def beats(n: int, tpq: int = TPQ, pitch: int = 60) -> list[tuple[int, int, int]]:
    """``n`` one-beat notes of ``pitch``, one per beat from tick 0."""
    return [(pitch, k * tpq, tpq) for k in range(n)]


def scale_midi(path: Path, tpq: int = TPQ, tempo: int = TEMPO_120) -> Path:
    """A valid piece: eight one-beat notes of a C major scale, one track, constant tempo."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = [(p, k * tpq, tpq) for k, p in enumerate(scale)]
    return write_midi(path, [tempo_events([(0, tempo)]) + note_events(notes)], fmt=0, tpq=tpq)


def two_hour_midi(path: Path, notes_per_second: int = 8, hours: float = 2.0) -> Path:
    """A two-hour piece (``notes_per_second`` eighth-length notes a second), written as raw bytes.

    At 120 BPM and 480 ticks per quarter, a note every 120 ticks (1/8 s) lasting 60 ticks;
    pitches cycle through 36..95. Built with NumPy, so it takes milliseconds.
    """
    n = int(hours * 3600 * notes_per_second)
    step = TPQ * 2 // notes_per_second  # ticks between onsets at 120 BPM
    pitch = (36 + np.arange(n) % 60).astype(np.uint8)
    # each note: [delta, 0x90, pitch, 80, delta=60, 0x80, pitch, 0]; deltas < 128 are one byte
    body = np.zeros((n, 8), dtype=np.uint8)
    body[:, 0] = step - 60
    body[0, 0] = 0
    body[:, 1], body[:, 2], body[:, 3] = 0x90, pitch, 80
    body[:, 4], body[:, 5], body[:, 6], body[:, 7] = 60, 0x80, pitch, 0
    tempo = bytes([0x00, 0xFF, 0x51, 0x03]) + TEMPO_120.to_bytes(3, "big")
    track = tempo + body.tobytes() + bytes([0x00, 0xFF, 0x2F, 0x00])
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += TPQ.to_bytes(2, "big")
    path.write_bytes(header + b"MTrk" + len(track).to_bytes(4, "big") + track)
    return path


def _set_division(path: Path, division: bytes) -> Path:
    data = bytearray(path.read_bytes())
    data[12:14] = division
    path.write_bytes(bytes(data))
    return path


def mido_onsets(path: Path) -> np.ndarray:
    """Onsets in seconds of the pitched notes of ``path`` as mido plays it (an independent timing)."""
    now, onsets = 0.0, []
    for message in mido.MidiFile(path):
        now += message.time
        if message.type == "note_on" and message.velocity > 0 and message.channel != 9:
            onsets.append(now)
    return np.sort(np.array(onsets))


@dataclass(frozen=True)
class MidiCase:
    """A MIDI file to build and its expected outcome.

    Attributes:
        name: case and clip identifier; the file is ``<name>.mid``.
        build: writes the file at the given path (or leaves it absent).
        reason: the InputError reason expected, or None when the file must be read.
        onsets: expected onsets in seconds (sorted), for readable files; None: not checked.
        pitches: expected pitches in note order (onset, then pitch); None: not checked.
    """

    name: str
    build: Callable[[Path], object]
    reason: str | None = None
    onsets: tuple[float, ...] | None = None
    pitches: tuple[int, ...] | None = None

    def path(self, folder: Path) -> Path:
        return folder / f"{self.name}.mid"


def _truncated(path: Path) -> None:
    scale_midi(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _header_only(path: Path) -> None:
    scale_midi(path)
    path.write_bytes(path.read_bytes()[:14])


def _random_bytes(path: Path) -> None:
    path.write_bytes(b"\x13\x37" + np.random.default_rng(7).bytes(998))


def _no_notes(path: Path) -> None:
    meta = [(0, mido.MetaMessage("track_name", name="empty")), (0, mido.MetaMessage("time_signature"))]
    write_midi(path, [tempo_events([(0, TEMPO_120)]) + meta])


def _only_drums(path: Path) -> None:  # channel 10 (index 9): symusic marks the track is_drum
    write_midi(path, [tempo_events([(0, TEMPO_120)]) + note_events(beats(4, pitch=36), channel=9)])


def _piano_and_drums(path: Path) -> None:
    piano = note_events([(64, 0, TPQ), (67, TPQ, TPQ)])
    drums = note_events(beats(4, pitch=42), channel=9)
    write_midi(path, [tempo_events([(0, TEMPO_120)]), piano, drums])


def _outside_piano(path: Path) -> None:
    notes = [(0, 0, TPQ), (20, TPQ, TPQ), (60, 2 * TPQ, TPQ), (109, 3 * TPQ, TPQ), (127, 4 * TPQ, TPQ)]
    write_midi(path, [tempo_events([(0, TEMPO_120)]) + note_events(notes)])


def _tpq(tpq: int) -> Callable[[Path], object]:
    return lambda path: write_midi(
        path, [tempo_events([(0, TEMPO_120)]) + note_events(beats(4, tpq))], fmt=0, tpq=tpq
    )


def _many_tempi(path: Path) -> None:
    """1000 tempo changes (every 1/10 beat, 40..300 BPM) under eight one-beat notes."""
    tempi = [(k * TPQ // 10, 200_000 + (k * 7919) % 1_300_000) for k in range(1000)]
    write_midi(path, [tempo_events(tempi) + note_events(beats(8, pitch=62))], fmt=0)


def _one_tempo(tempo: int) -> Callable[[Path], object]:
    return lambda path: write_midi(path, [tempo_events([(0, tempo)]) + note_events(beats(4))], fmt=0)


def _format(fmt: int) -> Callable[[Path], object]:
    """Format 0: one track; 1: tempo track + two note tracks; 2: two tracks, tempo in the first."""

    def build(path: Path) -> None:
        low, high = note_events([(48, 0, TPQ), (50, TPQ, TPQ)]), note_events([(72, 0, 2 * TPQ)])
        tempo = tempo_events([(0, 1_000_000)])  # 60 BPM: one beat is one second
        tracks = {0: [tempo + low + high], 1: [tempo, low, high], 2: [tempo + low, high]}[fmt]
        write_midi(path, tracks, fmt=fmt)

    return build


def _declares_extra_track(path: Path) -> None:
    scale_midi(path)
    data = bytearray(path.read_bytes())
    data[10:12] = (2).to_bytes(2, "big")  # one track present, two declared
    path.write_bytes(bytes(data))


def _trailing_garbage(path: Path) -> None:
    scale_midi(path)
    path.write_bytes(path.read_bytes() + b"\x00padding from a broken uploader\x00")


SCALE_ONSETS = tuple(0.5 * k for k in range(8))
SCALE_PITCHES = (60, 62, 64, 65, 67, 69, 71, 72)
FOUR_BEATS_120 = (0.0, 0.5, 1.0, 1.5)
TWO_HOURS_S = 7200.0

MIDI_CASES: tuple[MidiCase, ...] = (
    MidiCase("zero_byte", lambda path: path.write_bytes(b""), "corrupt_midi"),
    MidiCase("truncated_half", _truncated, "corrupt_midi"),
    MidiCase("random_bytes", _random_bytes, "corrupt_midi"),
    MidiCase("header_only", _header_only, "corrupt_midi"),
    MidiCase("missing_file", lambda path: None, "missing_file"),
    MidiCase("no_notes", _no_notes, "no_notes"),
    MidiCase("only_drums_channel10", _only_drums, "no_notes"),
    MidiCase("piano_and_drums", _piano_and_drums, None, (0.0, 0.5), (64, 67)),
    # accepted as they are: a MIDI file may use all 128 pitches (the piano has 21..108)
    MidiCase("pitches_outside_piano", _outside_piano, None, (0.0, 0.5, 1.0, 1.5, 2.0), (0, 20, 60, 109, 127)),
    MidiCase("tpq_1", _tpq(1), None, FOUR_BEATS_120, (60,) * 4),
    MidiCase("tpq_96", _tpq(96), None, FOUR_BEATS_120, (60,) * 4),
    MidiCase("tpq_960", _tpq(960), None, FOUR_BEATS_120, (60,) * 4),
    MidiCase("tpq_32767", _tpq(32767), None, FOUR_BEATS_120, (60,) * 4),
    MidiCase("tpq_0", lambda path: _set_division(scale_midi(path), b"\x00\x00"), "corrupt_midi"),
    MidiCase("smpte_division", lambda path: _set_division(scale_midi(path), b"\xe7\x28"), "corrupt_midi"),
    MidiCase("many_tempo_changes", _many_tempi, None, None, (62,) * 8),  # onsets: see mido_onsets
    MidiCase("tempo_1us_per_beat", _one_tempo(1), None, (0.0, 1e-6, 2e-6, 3e-6), (60,) * 4),
    MidiCase("tempo_max_16s_per_beat", _one_tempo(0xFFFFFF), None, tuple(k * 16.777215 for k in range(4))),
    MidiCase("tempo_zero", _one_tempo(0), "corrupt_midi"),
    MidiCase("format_0", _format(0), None, (0.0, 0.0, 1.0), (48, 72, 50)),
    MidiCase("format_1", _format(1), None, (0.0, 0.0, 1.0), (48, 72, 50)),
    # format 2 (independent patterns) is read like format 1: tracks together, one tempo map
    MidiCase("format_2", _format(2), None, (0.0, 0.0, 1.0), (48, 72, 50)),
    MidiCase("declares_extra_track", _declares_extra_track, None, SCALE_ONSETS, SCALE_PITCHES),
    MidiCase("trailing_garbage", _trailing_garbage, None, SCALE_ONSETS, SCALE_PITCHES),
    MidiCase("two_hours", two_hour_midi),
)

# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------

AUDIO_SECONDS = 1.0
TONE_HZ = 440.0  # A4: MIDI 69, chroma row 9


def tone(
    sample_rate: int, seconds: float = AUDIO_SECONDS, hz: float = TONE_HZ, amp: float = 0.5
) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@dataclass(frozen=True)
class AudioCase:
    """An audio file to build and the expected outcome at each entry point.

    Attributes:
        name: case and clip identifier; the file is ``<name>.wav``.
        build: writes the file at the given path (or leaves it absent).
        features: reason expected from :func:`merflow.music.audio_features.load_audio` (None: accepted).
        transcribe: reason expected from the basic-pitch backend (None: notes found).
        cut: reason expected from :func:`merflow.acquisition.clips.cut_song_clips` (None: clips cut).
        sample_rate, channels: of a readable file, Hz and count.
        pitch: the most frequent pitch basic-pitch must find (None: not checked).
    """

    name: str
    build: Callable[[Path], object]
    features: str | None = None
    transcribe: str | None = None
    cut: str | None = None
    sample_rate: int = 22050
    channels: int = 1
    pitch: int | None = None

    def path(self, folder: Path) -> Path:
        return folder / f"{self.name}.wav"


def _write(y: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Callable[[Path], object]:
    return lambda path: sf.write(path, y, sample_rate, subtype=subtype)


def _truncated_wav(path: Path) -> None:
    sf.write(path, tone(22050), 22050, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still declares one second


def _no_samples_wav(path: Path) -> None:
    sf.write(path, np.zeros(0, dtype=np.float32), 22050, subtype="PCM_16")


def _nan_wav(path: Path) -> None:
    y = tone(22050)
    y[100:200] = np.nan
    sf.write(path, y, 22050, subtype="FLOAT")


HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Video unavailable</title></head><body></body></html>\n"
_SQUARE = np.sign(np.sin(2 * np.pi * 220.0 * np.arange(22050) / 22050)).astype(np.float32)

AUDIO_CASES: tuple[AudioCase, ...] = (
    AudioCase("silent", _write(np.zeros(22050, dtype=np.float32), 22050), "silent_audio", "no_notes"),
    # full scale: +-1.0 is written as the PCM extremes (clipped); it must work like any tone
    AudioCase("clipped_square", _write(_SQUARE, 22050), pitch=57),
    AudioCase("mono_22k", _write(tone(22050), 22050), pitch=69),
    AudioCase(
        "stereo_44k",
        _write(np.stack([tone(44100), tone(44100)], axis=1), 44100),
        sample_rate=44100,
        channels=2,
        pitch=69,
    ),
    AudioCase("mono_8k", _write(tone(8000), 8000), sample_rate=8000, pitch=69),
    AudioCase(
        "stereo_96k",
        _write(np.stack([tone(96000), 0.5 * tone(96000)], axis=1), 96000),
        sample_rate=96000,
        channels=2,
        pitch=69,
    ),
    AudioCase("truncated_wav", _truncated_wav, "corrupt_audio", "corrupt_audio", "corrupt_audio"),
    AudioCase(
        "html_as_wav",
        lambda path: path.write_bytes(HTML_PAGE),
        "corrupt_audio",
        "corrupt_audio",
        "corrupt_audio",
    ),
    AudioCase(
        "zero_byte_wav", lambda path: path.write_bytes(b""), "corrupt_audio", "corrupt_audio", "corrupt_audio"
    ),
    AudioCase("no_samples_wav", _no_samples_wav, "corrupt_audio", "corrupt_audio", "clip_out_of_range"),
    AudioCase("nan_samples", _nan_wav, "corrupt_audio", "corrupt_audio", "corrupt_audio"),
    AudioCase("missing_wav", lambda path: None, "missing_file", "missing_file", "missing_file"),
)

# --------------------------------------------------------------------------------------------
# Downloads: a loopback HTTP server
# --------------------------------------------------------------------------------------------

#: How long the stalling route sleeps before answering (beyond any test's socket timeout), s.
STALL_S = 4.0


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # do not wait for a stalled handler on shutdown

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients closing early (yt-dlp's probes, timeouts) are expected


@contextlib.contextmanager
def serve(routes: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    """Serve ``routes`` (``path -> (content type, body)``) on 127.0.0.1; yield the base URL.

    ``/stall`` sleeps :data:`STALL_S` and then answers nothing; any other path is a 404.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/stall":
                time.sleep(STALL_S)
                return
            if self.path not in routes:
                self.send_error(404)
                return
            content_type, body = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def temporaries(folder: Path) -> list[Path]:
    """Leftovers of interrupted writes under ``folder``: any file or folder with ``.tmp`` in its name."""
    return sorted(p for p in Path(folder).rglob("*") if ".tmp" in p.name)
