"""Song download through the real yt-dlp, from ``file://`` URLs and a loopback HTTP server."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from merflow.acquisition.download import ACQUIRE_REASONS, acquire_songs, download_song, is_cached, is_verified
from merflow.core.errors import InputError
from merflow.core.ledger import Ledger

SOURCE_SR = 44100
TARGET_SR = 22050
DURATION_S = 1.5
TONE_HZ = 440.0
STALL_S = 3.0  # the stalling handler sleeps this long, beyond the test's socket timeout
FAST = {"retries": 1, "backoff_s": 0.01, "socket_timeout_s": 1.0}
HTML = b"<html><head><title>Not a song</title></head><body><p>Hello</p></body></html>"


@pytest.fixture(scope="module")
def source_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 s of a 440 Hz sine, stereo, 44.1 kHz."""
    t = np.arange(int(DURATION_S * SOURCE_SR)) / SOURCE_SR
    tone = 0.3 * np.sin(2 * np.pi * TONE_HZ * t)
    path = tmp_path_factory.mktemp("src") / "tone.wav"
    sf.write(path, np.stack([tone, tone], axis=1), SOURCE_SR)
    return path


class QuietServer(http.server.ThreadingHTTPServer):
    """Threaded server that does not wait for stalled handlers nor print client disconnects."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # yt-dlp's probe closes its connection early: expected, not worth a traceback


class Server:
    """Loopback HTTP server with one route per failure mode; counts hits and keeps request headers."""

    def __init__(self, wav: bytes):
        self.wav = wav
        self.hits: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.hits[self.path] += 1
                server.headers[self.path] = dict(self.headers)
                route = {
                    "/good.wav": lambda: self.reply("audio/wav", server.wav),
                    "/octet": lambda: self.reply("application/octet-stream", server.wav),
                    "/truncated.wav": lambda: self.reply("audio/wav", server.wav, sent=len(server.wav) // 2),
                    "/page.html": lambda: self.reply("text/html; charset=utf-8", HTML),
                    "/text.wav": lambda: self.reply("audio/wav", b"this is plain text, not audio\n" * 40),
                    "/garbage.bin": lambda: self.reply("audio/wav", bytes(range(256)) * 40),
                    "/stall.wav": lambda: time.sleep(STALL_S),
                }.get(self.path, lambda: self.send_error(404))
                route()

            def reply(self, content_type: str, body: bytes, sent: int | None = None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:sent])
                if sent is not None:
                    self.close_connection = True

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture(scope="module")
def server(source_wav: Path) -> Iterator[Server]:
    srv = Server(source_wav.read_bytes())
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def assert_good_wav(path: Path) -> None:
    """Mono, 22050 Hz, 1.5 s (±0.05 s), still a 440 Hz tone."""
    info = sf.info(path)
    assert (info.samplerate, info.channels) == (TARGET_SR, 1)
    assert info.duration == pytest.approx(DURATION_S, abs=0.05)
    y, _ = sf.read(path)
    spectrum = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(len(y), 1 / TARGET_SR)[spectrum.argmax()] == pytest.approx(TONE_HZ, abs=2)
    assert is_verified(path, TARGET_SR)
    assert not is_verified(path, SOURCE_SR)


def test_file_url_download(source_wav: Path, tmp_path: Path, caplog, capsys) -> None:
    out = tmp_path / "songs" / "s1.wav"
    with caplog.at_level(logging.DEBUG, logger="merflow.acquisition.download"):
        assert download_song("s1", source_wav.as_uri(), out, TARGET_SR) == out
    assert_good_wav(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["s1.wav"]  # no temp folder left
    assert any("[generic]" in r.getMessage() for r in caplog.records)  # yt-dlp talks to logging...
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # ...and not to the terminal


def test_acquire_songs_downloads_caches_and_records(source_wav: Path, tmp_path: Path) -> None:
    songs = pd.DataFrame(
        {"song_id": ["a", "b"], "url": [source_wav.as_uri(), (tmp_path / "missing.wav").as_uri()]}
    )
    out_dir = tmp_path / "songs"
    ledger = Ledger("acquire", "test")
    first = acquire_songs(songs, out_dir, TARGET_SR, ledger, retries=0)
    assert first.to_dict("records") == [
        {"song_id": "a", "path": str(out_dir / "a.wav"), "status": "downloaded", "reason": ""},
        {"song_id": "b", "path": "", "status": "failed", "reason": "unavailable"},
    ]
    mtime = (out_dir / "a.wav").stat().st_mtime_ns
    second = acquire_songs(songs.iloc[:1], out_dir, TARGET_SR, ledger)
    assert second["status"].tolist() == ["cached"]
    assert (out_dir / "a.wav").stat().st_mtime_ns == mtime
    assert [(r["item"], r["reason"]) for r in ledger.rows] == [("b", "unavailable")]
    assert "No such file" in ledger.rows[0]["message"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.source.json", "a.wav"]


def test_changed_source_is_downloaded_again(source_wav: Path, tmp_path: Path) -> None:
    songs = pd.DataFrame({"song_id": ["a"], "url": [source_wav.as_uri()]})
    out_dir = tmp_path / "songs"
    ledger = Ledger("acquire", "test")
    assert acquire_songs(songs, out_dir, TARGET_SR, ledger)["status"].tolist() == ["downloaded"]
    assert acquire_songs(songs, out_dir, TARGET_SR, ledger)["status"].tolist() == ["cached"]
    os.utime(source_wav, ns=(0, 10**18))  # the source was regenerated (another mtime)
    assert acquire_songs(songs, out_dir, TARGET_SR, ledger)["status"].tolist() == ["downloaded"]
    other = songs.assign(url=[source_wav.as_uri() + "?v=2"])
    assert is_cached(out_dir / "a.wav", source_wav.as_uri(), TARGET_SR)
    assert not is_cached(out_dir / "a.wav", other["url"].iloc[0], TARGET_SR)


@pytest.mark.parametrize("route", ["/good.wav", "/octet"])
def test_http_download_lands(server: Server, tmp_path: Path, route: str) -> None:
    out = tmp_path / "s.wav"
    options = {"http_headers": {"X-Merflow-Test": "yes"}}
    download_song("s", server.url + route, out, TARGET_SR, ytdlp_options=options, **FAST)
    assert_good_wav(out)
    assert server.headers[route]["X-Merflow-Test"] == "yes"  # user options reach yt-dlp


# An attempt on a direct audio link makes 2 requests (yt-dlp's generic extractor probes the
# headers, then the downloader fetches); an attempt that fails at the probe makes 1.
@pytest.mark.parametrize(
    ("route", "reason", "requests", "attempts"),
    [
        ("/missing.wav", "unavailable", 1, 1),  # HTTP 404: not retried
        ("/truncated.wav", "truncated", 2, 1),  # Content-Length larger than the bytes sent
        ("/page.html", "not_audio", 1, 1),  # yt-dlp: "Unsupported URL" (no media in the page)
        ("/text.wav", "not_audio", 2, 1),  # served as audio/wav, ffmpeg cannot decode, bytes are text
        ("/garbage.bin", "truncated", 2, 1),  # served as audio/wav, binary, ffmpeg cannot decode
        ("/stall.wav", "timeout", 2, 2),  # no answer within the socket timeout: retried once
    ],
)
def test_http_failures(
    server: Server, tmp_path: Path, caplog, route: str, reason: str, requests: int, attempts: int
) -> None:
    out = tmp_path / "s.wav"
    before = server.hits[route]
    with (
        caplog.at_level(logging.INFO, logger="merflow.acquisition.download"),
        pytest.raises(InputError) as info,
    ):
        download_song("s", server.url + route, out, TARGET_SR, **FAST)
    err = info.value
    assert (err.item, err.reason, err.path) == ("s", reason, server.url + route)
    assert reason in ACQUIRE_REASONS
    assert err.message  # yt-dlp's message
    assert server.hits[route] - before == requests
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == attempts - 1
    assert list(tmp_path.iterdir()) == []  # no file at out, no temp folder


def test_connection_refused_is_network_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InputError) as info:
        download_song("s", f"http://127.0.0.1:{port}/x.wav", tmp_path / "s.wav", TARGET_SR, **FAST)
    assert info.value.reason == "network_error"
    assert "refused" in info.value.message.lower()
    assert list(tmp_path.iterdir()) == []


def test_reserved_option_rejected(source_wav: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outtmpl"):
        download_song("s", source_wav.as_uri(), tmp_path / "s.wav", TARGET_SR, ytdlp_options={"outtmpl": "x"})
