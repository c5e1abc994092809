"""Song audio acquisition: download each song once, through yt-dlp, as a verified mono wav.

Conventions
-----------
- One code path for every URL: YouTube pages, direct ``http(s)://`` links to audio files and
  local ``file://`` URLs all go through :class:`yt_dlp.YoutubeDL` (``file://`` needs yt-dlp's
  ``enable_file_urls`` option, which is on here). Direct audio files are handled by yt-dlp's
  generic extractor: it accepts a response whose ``Content-Type`` is ``audio/*`` or
  ``video/*``, or whose first bytes are not HTML; an HTML page without embedded media is an
  "Unsupported URL".
- Output: ``<out_dir>/<song_id>.wav``, 16-bit PCM, mono, at the pipeline's sample rate (Hz),
  converted by yt-dlp's ``FFmpegExtractAudio`` post-processor with the ffmpeg binary shipped by
  imageio-ffmpeg (there is no system ffmpeg, nor ffprobe; yt-dlp falls back to ``ffmpeg -i``).
- Atomic: yt-dlp works in a temporary folder beside the target; only a file that passes
  :func:`is_verified` (and is not shorter than the duration the site announced) is renamed
  into place. The temporary folder is removed whatever happens, so a failed download leaves
  nothing behind.
- Retries: a transient failure (see :data:`TRANSIENT_REASONS`) is retried up to ``retries``
  times after the first attempt, sleeping ``backoff_s * 2**k`` seconds before retry ``k``
  (0-based). yt-dlp's own retries are off by default so that this is the only retry loop.
- Failures raise :class:`~merflow.core.errors.InputError` ``(song_id, reason, message, url)`` with
  ``reason`` one of :data:`ACQUIRE_REASONS`; the message contains yt-dlp's own message.
- yt-dlp prints nothing: its screen output and progress go to this module's logger at DEBUG,
  its warnings at WARNING (see :class:`YtdlpLogger`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import imageio_ffmpeg
import pandas as pd
import soundfile as sf
import yt_dlp
from yt_dlp.networking.exceptions import HTTPError, IncompleteRead, TransportError
from yt_dlp.utils import (
    ContentTooShortError,
    ExtractorError,
    GeoRestrictedError,
    PostProcessingError,
    UnsupportedError,
)

from merflow.core.errors import InputError
from merflow.core.io import read_json, stale_temporaries, wav_shortfall, write_json
from merflow.core.ledger import Ledger
from merflow.core.logs import Progress

log = logging.getLogger(__name__)

#: Failure reasons of this stage and what they mean.
ACQUIRE_REASONS: dict[str, str] = {
    "unavailable": "removed, private, geo-blocked or login-only video; HTTP 4xx (404...); missing local file",
    "timeout": "no data within the socket timeout",
    "network_error": "connection refused/reset, DNS failure, HTTP 429 or 5xx",
    "truncated": "fewer bytes or seconds than announced, or not decodable by ffmpeg",
    "not_audio": "no media at the URL (e.g. an HTML page), or a text file served as audio",
    "unknown": "anything else (message kept verbatim)",
}
#: Reasons that are retried with exponential backoff. A truncated transfer is not retried here
#: (it shares its reason with undecodable files); pass ``{"retries": n}`` in ``ytdlp_options``
#: to let yt-dlp resume dropped transfers itself.
TRANSIENT_REASONS = frozenset({"timeout", "network_error"})

#: HTTP statuses worth retrying (rate limited, server-side trouble); other 4xx mean unavailable.
TRANSIENT_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: yt-dlp options that this module owns: they decide where the file lands and in which format.
RESERVED_OPTIONS = frozenset({"outtmpl", "paths", "postprocessors", "postprocessor_args", "logger"})
#: A decoded song may be this much shorter than the duration announced by the site (seconds).
DURATION_TOLERANCE_S = 2.0
#: Stem of yt-dlp's output inside the temporary folder.
_TMP_STEM = "audio"
#: Bytes sniffed to tell a text file served as audio from a damaged audio file.
_SNIFF_BYTES = 1024
#: yt-dlp reports failures of the download phase only as text; these patterns classify it.
_MESSAGE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("truncated", re.compile(r"bytes read|Downloaded \d+ bytes, expected|IncompleteRead", re.IGNORECASE)),
    ("timeout", re.compile(r"timed? ?out", re.IGNORECASE)),
    ("unavailable", re.compile(r"HTTP Error 4\d\d|No such file or directory", re.IGNORECASE)),
    ("network_error", re.compile(r"\[download\] Got error|Connection (refused|reset)", re.IGNORECASE)),
)

STATUS_COLUMNS = ["song_id", "path", "status", "reason"]


class YtdlpLogger:
    """The ``logger`` object yt-dlp expects, forwarding to :mod:`logging`.

    yt-dlp calls ``debug`` for screen output (progress, destinations, ``[debug]`` lines),
    ``warning`` for warnings and ``error`` for the final error. Errors are logged at DEBUG
    because :func:`download_song` turns them into an :class:`InputError` that the caller
    records (logging them too would report each failure twice).
    """

    def __init__(self, song_id: str, logger: logging.Logger = log):
        self.song_id = song_id
        self.logger = logger

    def debug(self, msg: str) -> None:
        self.logger.debug("%s: %s", self.song_id, msg)

    info = debug

    def warning(self, msg: str) -> None:
        self.logger.warning("%s: %s", self.song_id, msg)

    error = debug


def ffmpeg_executable() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def ytdlp_params(
    song_id: str,
    out_stem: Path,
    sample_rate: int,
    socket_timeout_s: float,
    ytdlp_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Options for :class:`yt_dlp.YoutubeDL`: best audio to ``<out_stem>.wav``, mono, ``sample_rate`` Hz.

    ``ytdlp_options`` (e.g. ``cookiefile``, ``ratelimit``, ``proxy``, ``format``, ``retries``)
    override the defaults, except the keys of :data:`RESERVED_OPTIONS`.

    Raises:
        ValueError: if ``ytdlp_options`` sets a reserved key.
    """
    user = dict(ytdlp_options or {})
    reserved = sorted(RESERVED_OPTIONS & user.keys())
    if reserved:
        raise ValueError(f"yt-dlp options {reserved} are set by merflow and cannot be overridden")
    params: dict[str, Any] = {
        "format": "bestaudio/best",
        "outtmpl": {"default": f"{out_stem}.%(ext)s"},
        "enable_file_urls": True,
        "noplaylist": True,
        "extract_flat": "in_playlist",  # a playlist URL is listed, not downloaded (then rejected)
        "overwrites": True,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "logger": YtdlpLogger(song_id),
        "socket_timeout": socket_timeout_s,
        "retries": 0,
        "fragment_retries": 0,
        "extractor_retries": 0,
        "ffmpeg_location": ffmpeg_executable(),
        "postprocessors": [{"key": "FFmpegExtractAudio", "preferredcodec": "wav"}],
        "postprocessor_args": {"extractaudio": ["-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le"]},
    }
    params.update(user)
    return params


def is_verified(path: Path, sample_rate: int) -> bool:
    """True if ``path`` is a readable, non-empty, mono audio file at ``sample_rate`` Hz.

    Reads the header and the last samples (so a file cut short after its header is caught,
    as is a WAV whose header declares more samples than it holds), not the whole file.
    """
    path = Path(path)
    if not path.is_file() or wav_shortfall(path):
        return False
    try:
        info = sf.info(str(path))
        if info.frames <= 0 or info.samplerate != sample_rate or info.channels != 1:
            return False
        tail, _ = sf.read(str(path), start=info.frames - 1, frames=1, dtype="float32")
    except (sf.SoundFileError, RuntimeError, ValueError):
        return False
    return len(tail) == 1


def classify_error(error: BaseException) -> str:
    """Reason (a key of :data:`ACQUIRE_REASONS`) for an exception raised by yt-dlp.

    Walks the chain of causes (``exc_info``, ``cause``, ``__cause__``, ``__context__``) for a
    typed answer; yt-dlp reports download-phase errors as text only, so the message patterns
    of ``_MESSAGE_PATTERNS`` are the fallback.
    """
    for exc in _causes(error):
        reason = _typed_reason(exc)
        if reason:
            return reason
    text = " ".join(str(exc) for exc in _causes(error))
    for reason, pattern in _MESSAGE_PATTERNS:
        if pattern.search(text):
            return reason
    return "unknown"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception it wraps, outermost first, each once."""
    todo: list[BaseException] = [error]
    seen: set[int] = set()
    while todo:
        exc = todo.pop(0)
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        exc_info = getattr(exc, "exc_info", None)
        wrapped = [
            exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else None,
            getattr(exc, "cause", None),
            exc.__cause__,
            exc.__context__,
        ]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))


def _typed_reason(exc: BaseException) -> str | None:
    """Reason told by the type of one exception, or None if its type says nothing specific."""
    if isinstance(exc, HTTPError):
        return "network_error" if exc.status in TRANSIENT_HTTP_STATUS else "unavailable"
    if isinstance(exc, IncompleteRead | ContentTooShortError):
        return "truncated"
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return "timeout"
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return "unavailable"
    if isinstance(exc, UnsupportedError):
        return "not_audio"
    if isinstance(exc, GeoRestrictedError):
        return "unavailable"
    if isinstance(exc, PostProcessingError):
        return "truncated"
    if isinstance(exc, TransportError):
        return None  # the cause (timeout, missing file...) decides; else the message patterns
    if isinstance(exc, ExtractorError) and exc.expected and exc.cause is None:
        return "unavailable"  # "Video unavailable", "Private video", "Sign in to confirm your age"...
    return None


def _decoding_failed(error: BaseException) -> bool:
    """True if ffmpeg could not decode the downloaded file (a post-processing error)."""
    return any(isinstance(exc, PostProcessingError) for exc in _causes(error))


def _looks_like_text(path: Path) -> bool:
    """True if the first bytes of ``path`` are printable UTF-8 text (HTML, JSON, an error page)."""
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch.isspace() for ch in text)


@contextlib.contextmanager
def _work_dir(out_path: Path) -> Iterator[Path]:
    """A temporary folder beside ``out_path``, removed on exit (and those of killed attempts first)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(out_path, suffix=""):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_path.stem}.", suffix=".tmp", dir=out_path.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _attempt(song_id: str, url: str, out_path: Path, sample_rate: int, params_kw: dict[str, Any]) -> None:
    """One download attempt into a temporary folder; on success the verified wav is at ``out_path``.

    Raises:
        InputError: with the reason of the failure.
    """
    with _work_dir(out_path) as tmp:
        stem = tmp / _TMP_STEM
        params = ytdlp_params(song_id, stem, sample_rate, **params_kw)
        try:
            with yt_dlp.YoutubeDL(params) as ydl:
                info = ydl.extract_info(url, download=True)
        except yt_dlp.utils.YoutubeDLError as exc:
            reason, message = classify_error(exc), _clean_message(exc)
            if _decoding_failed(exc):
                message = f"ffmpeg cannot decode the downloaded file (yt-dlp: {message})"
                if any(_looks_like_text(p) for p in tmp.iterdir() if p.is_file()):
                    reason = "not_audio"
            raise InputError(song_id, reason, message, url) from exc
        if (info or {}).get("_type") == "playlist":
            raise InputError(song_id, "unknown", "URL is a playlist, not one song", url)
        wav = stem.with_suffix(".wav")
        if not is_verified(wav, sample_rate):
            raise InputError(song_id, "truncated", "ffmpeg output is not a readable mono wav", url)
        announced = (info or {}).get("duration")
        seconds = sf.info(str(wav)).duration
        if announced and seconds < float(announced) - DURATION_TOLERANCE_S:
            message = f"decoded {seconds:.1f} s of an announced {announced} s"
            raise InputError(song_id, "truncated", message, url)
        wav.replace(out_path)


def _clean_message(exc: BaseException) -> str:
    """yt-dlp's message without its ``ERROR:`` prefix and carriage returns."""
    return re.sub(r"^ERROR:\s*", "", str(exc).replace("\r", "")).strip()


def download_song(
    song_id: str,
    url: str,
    out_path: Path,
    sample_rate: int,
    retries: int = 3,
    backoff_s: float = 2.0,
    socket_timeout_s: float = 30.0,
    ytdlp_options: dict[str, Any] | None = None,
) -> Path:
    """Download the best audio of ``url`` to ``out_path`` as a mono 16-bit wav at ``sample_rate`` Hz.

    Args:
        song_id: song identifier, used in errors and log lines.
        url: YouTube (or any yt-dlp supported) URL, direct ``http(s)://`` audio link, or ``file://`` URL.
        out_path: target wav; written only once verified, never left half-written.
        sample_rate: output sample rate, Hz.
        retries: further attempts after the first, for transient failures only.
        backoff_s: sleep before the first retry, seconds; doubles at each retry.
        socket_timeout_s: yt-dlp's socket timeout, seconds.
        ytdlp_options: extra yt-dlp options (``cookiefile``, ``ratelimit``, ``proxy``...).

    Returns:
        ``out_path``.

    Raises:
        InputError: reason in :data:`ACQUIRE_REASONS`, path ``url``.
        ValueError: negative ``retries``, or a reserved key in ``ytdlp_options``.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    out_path = Path(out_path)
    if not url:
        raise InputError(song_id, "unavailable", "no URL given", url)
    params_kw = {"socket_timeout_s": socket_timeout_s, "ytdlp_options": ytdlp_options}
    for attempt in range(retries + 1):
        try:
            _attempt(song_id, url, out_path, sample_rate, params_kw)
            return out_path
        except InputError as err:
            if err.reason not in TRANSIENT_REASONS or attempt == retries:
                raise
            wait = backoff_s * 2**attempt
            log.info(
                "%s: attempt %d/%d failed (%s), retrying in %.1f s",
                song_id,
                attempt + 1,
                retries + 1,
                err.reason,
                wait,
            )
            time.sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


def source_record(out_path: Path) -> Path:
    """The JSON beside a song's wav that records which URL (and source version) it came from."""
    return out_path.with_suffix(".source.json")


def source_stamp(url: str) -> str:
    """A version stamp of a ``file://`` source (size and modification time); '' for remote URLs.

    Content behind a remote (YouTube) URL does not change; a local file can be regenerated.
    """
    if not url.startswith("file://"):
        return ""
    path = Path(url2pathname(urlparse(url).path))
    if not path.is_file():
        return "missing"
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def is_cached(out_path: Path, url: str, sample_rate: int) -> bool:
    """True if ``out_path`` is a verified wav downloaded from the same ``url`` and source version."""
    record = source_record(out_path)
    if not (record.is_file() and is_verified(out_path, sample_rate)):
        return False
    return read_json(record) == {"url": url, "source_stamp": source_stamp(url)}


def acquire_songs(
    songs: pd.DataFrame,
    out_dir: Path,
    sample_rate: int,
    ledger: Ledger,
    **download_kwargs: Any,
) -> pd.DataFrame:
    """Download every song of ``songs`` (columns ``song_id``, ``url``) to ``out_dir/<song_id>.wav``.

    A song whose wav already exists, passes :func:`is_verified` and was downloaded from the
    same URL and source version (:func:`is_cached`) is not downloaded again.
    Failures are recorded in ``ledger`` and do not stop the loop. Progress (count, rate,
    ETA) is logged at INFO after each song.

    Args:
        songs: one row per song; ``song_id`` unique.
        out_dir: folder of the song wavs (created if needed).
        sample_rate: sample rate of the wavs, Hz.
        ledger: receives one row per failed song.
        **download_kwargs: passed to :func:`download_song` (``retries``, ``ytdlp_options``...).

    Returns:
        One row per song, in input order, with :data:`STATUS_COLUMNS`: ``path`` (empty when
        failed), ``status`` in {``downloaded``, ``cached``, ``failed``}, ``reason`` (empty
        unless failed).

    Raises:
        ValueError: if ``songs`` lacks a column or repeats a ``song_id``.
    """
    missing = {"song_id", "url"} - set(songs.columns)
    if missing:
        raise ValueError(f"songs table lacks columns {sorted(missing)}")
    if songs["song_id"].duplicated().any():
        raise ValueError("songs table repeats a song_id")
    out_dir = Path(out_dir)
    rows: list[dict[str, str]] = []
    progress = Progress(log, len(songs), "songs", every=1)
    counts = {"downloaded": 0, "cached": 0, "failed": 0}
    pairs = zip(songs["song_id"].astype(str), songs["url"].fillna("").astype(str), strict=True)
    for song_id, url in pairs:
        out_path = out_dir / f"{song_id}.wav"
        row = {"song_id": song_id, "path": str(out_path), "status": "cached", "reason": ""}
        if not is_cached(out_path, url, sample_rate):
            try:
                download_song(song_id, url, out_path, sample_rate, **download_kwargs)
                write_json({"url": url, "source_stamp": source_stamp(url)}, source_record(out_path))
                row["status"] = "downloaded"
            except InputError as err:
                ledger.record(err)
                row.update(path="", status="failed", reason=err.reason)
        rows.append(row)
        counts[row["status"]] += 1
        progress.step(detail=", ".join(f"{n} {status}" for status, n in counts.items()))
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)
