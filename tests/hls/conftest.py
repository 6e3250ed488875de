"""Fixtures for the HLS engine tests: ffmpeg media and loopback HTTP servers.

`hls_media` writes one set of HLS variants with ffmpeg and openssl in a
session directory. Every variant comes with its reference content, made by
the command-line tools only: the openssl decryption of ffmpeg's encrypted
segments, or the clear files that openssl encrypted.

`media_server` serves that directory on 127.0.0.1 with Range support, a log
of requests and injectable faults; `plain_server` serves it with
``python -m http.server``, which ignores Range.
"""

from __future__ import annotations

import http.server
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from toutvfs.hls import RetryPolicy

KEY_A = "000102030405060708090a0b0c0d0e0f"
KEY_B = "f0e0d0c0b0a090807060504030201000"
EXPLICIT_IV = "0123456789abcdef0123456789abcdef"
FIRST_SEQUENCE = 7
SEGMENT_COUNT = 5

# The variants of the master playlist: name -> BANDWIDTH.
BANDWIDTHS = {
    "ts-clear": 300_000,
    "ts-explicit": 400_000,
    "ts-implicit": 500_000,
    "ts-rotation": 600_000,
    "fmp4": 700_000,
    "byterange": 800_000,
}


def variant_key(name: str) -> str:
    """Return the engine's key of the variant *name* of the master playlist."""
    return f"180p-{BANDWIDTHS[name] // 1000}k"


@dataclass
class Variant:
    """One test variant: where its playlist is and what it must read as."""

    name: str
    playlist: str
    reference: bytes

    @property
    def key(self) -> str:
        """The engine's key of this variant in ``master.m3u8``."""
        return variant_key(self.name)


@dataclass
class HlsMedia:
    root: Path
    variants: dict[str, Variant]
    keys: dict[str, bytes]

    def reference(self, name: str) -> bytes:
        return self.variants[name].reference


def _run(*command: str | Path) -> None:
    subprocess.run([str(part) for part in command], check=True, capture_output=True)


def _openssl(mode: str, source: Path, target: Path, key: str, iv: str) -> None:
    flag = "-d" if mode == "decrypt" else "-e"
    _run("openssl", "enc", flag, "-aes-128-cbc", "-K", key, "-iv", iv,
         "-in", source, "-out", target)  # fmt: skip


def _openssl_bytes(mode: str, data: bytes, key: str, iv: str) -> bytes:
    flag = "-d" if mode == "decrypt" else "-e"
    result = subprocess.run(
        ["openssl", "enc", flag, "-aes-128-cbc", "-K", key, "-iv", iv],
        input=data,
        check=True,
        capture_output=True,
    )
    return result.stdout


def _iv_of(sequence: int) -> str:
    return f"{sequence:032x}"


def _ffmpeg_hls(target: Path, *extra: str, extension: str = "ts") -> None:
    target.mkdir(parents=True)
    _run(
        "ffmpeg", "-loglevel", "error",
        "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440",
        "-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
        "-c:a", "aac", "-f", "hls", "-hls_time", "4", "-hls_list_size", "0",
        "-start_number", str(FIRST_SEQUENCE), *extra,
        "-hls_segment_filename", target / f"s%d.{extension}",
        target / "media.m3u8",
    )  # fmt: skip


def _segment_names(directory: Path, extension: str) -> list[str]:
    names = [f"s{FIRST_SEQUENCE + i}.{extension}" for i in range(SEGMENT_COUNT)]
    for name in names:
        assert (directory / name).is_file(), f"ffmpeg did not write {name}"
    return names


def _header(version: int = 4) -> list[str]:
    return [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        "#EXT-X-TARGETDURATION:4",
        f"#EXT-X-MEDIA-SEQUENCE:{FIRST_SEQUENCE}",
    ]


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def _build_media(root: Path) -> HlsMedia:
    keys = {"a.key": bytes.fromhex(KEY_A), "b.key": bytes.fromhex(KEY_B)}
    for name, key in keys.items():
        (root / name).write_bytes(key)
    variants: dict[str, Variant] = {}

    # Clear TS as ffmpeg writes it; the other cases reuse its segments.
    clear = root / "ts-clear"
    _ffmpeg_hls(clear)
    names = _segment_names(clear, "ts")
    clear_segments = [(clear / name).read_bytes() for name in names]
    variants["ts-clear"] = Variant(
        "ts-clear", "ts-clear/media.m3u8", b"".join(clear_segments)
    )

    # ffmpeg's own AES-128 with an explicit IV; openssl decrypts the reference.
    key_info = root / "explicit.keyinfo"
    key_info.write_text(f"../a.key\n{root / 'a.key'}\n{EXPLICIT_IV}\n")
    explicit = root / "ts-explicit"
    _ffmpeg_hls(explicit, "-hls_key_info_file", str(key_info))
    reference = b""
    for name in _segment_names(explicit, "ts"):
        plain = explicit / f"{name}.plain"
        _openssl("decrypt", explicit / name, plain, KEY_A, EXPLICIT_IV)
        reference += plain.read_bytes()
    variants["ts-explicit"] = Variant(
        "ts-explicit", "ts-explicit/media.m3u8", reference
    )

    # AES-128 with the implicit IV: each segment's media sequence number.
    # ffmpeg cannot write this (without an IV in its key info it uses the
    # first sequence number for every segment), so openssl encrypts.
    implicit = root / "ts-implicit"
    implicit.mkdir()
    lines = [*_header(), '#EXT-X-KEY:METHOD=AES-128,URI="../a.key"']
    for i, (name, segment) in enumerate(zip(names, clear_segments, strict=True)):
        body = _openssl_bytes("encrypt", segment, KEY_A, _iv_of(FIRST_SEQUENCE + i))
        (implicit / name).write_bytes(body)
        (implicit / f"{name}.plain").write_bytes(segment)
        lines += ["#EXTINF:4.0,", name]
    _write(implicit / "media.m3u8", [*lines, "#EXT-X-ENDLIST"])
    variants["ts-implicit"] = Variant(
        "ts-implicit", "ts-implicit/media.m3u8", b"".join(clear_segments)
    )

    # Key rotation and a METHOD=NONE run, encrypted by openssl.
    rotation = root / "ts-rotation"
    rotation.mkdir()
    lines = _header()
    for i, (name, segment) in enumerate(zip(names, clear_segments, strict=True)):
        sequence = FIRST_SEQUENCE + i
        if i == 0:
            lines.append('#EXT-X-KEY:METHOD=AES-128,URI="../a.key"')
        elif i == 2:
            lines.append("#EXT-X-KEY:METHOD=NONE")
        elif i == 3:
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="../b.key",IV=0x{EXPLICIT_IV}')
        if i < 2:
            body = _openssl_bytes("encrypt", segment, KEY_A, _iv_of(sequence))
        elif i == 2:
            body = segment
        else:
            body = _openssl_bytes("encrypt", segment, KEY_B, EXPLICIT_IV)
        (rotation / name).write_bytes(body)
        lines += ["#EXTINF:4.0,", name]
    _write(rotation / "media.m3u8", [*lines, "#EXT-X-ENDLIST"])
    variants["ts-rotation"] = Variant(
        "ts-rotation", "ts-rotation/media.m3u8", b"".join(clear_segments)
    )

    # fMP4 from ffmpeg (clear; ffmpeg 5.1 cannot encrypt fMP4), encrypted by
    # openssl, init section included, with the key before the EXT-X-MAP.
    fmp4_clear = root / "fmp4-clear"
    _ffmpeg_hls(fmp4_clear, "-hls_segment_type", "fmp4", extension="m4s")
    fmp4 = root / "fmp4"
    fmp4.mkdir()
    init = (fmp4_clear / "init.mp4").read_bytes()
    assert init, "ffmpeg wrote an empty init.mp4"
    (fmp4 / "init.mp4").write_bytes(_openssl_bytes("encrypt", init, KEY_B, EXPLICIT_IV))
    lines = [
        *_header(7),
        f'#EXT-X-KEY:METHOD=AES-128,URI="../b.key",IV=0x{EXPLICIT_IV}',
        '#EXT-X-MAP:URI="init.mp4"',
        '#EXT-X-KEY:METHOD=AES-128,URI="../a.key"',
    ]
    reference = init
    for i, name in enumerate(_segment_names(fmp4_clear, "m4s")):
        segment = (fmp4_clear / name).read_bytes()
        reference += segment
        body = _openssl_bytes("encrypt", segment, KEY_A, _iv_of(FIRST_SEQUENCE + i))
        (fmp4 / name).write_bytes(body)
        lines += ["#EXTINF:4.0,", name]
    _write(fmp4 / "media.m3u8", [*lines, "#EXT-X-ENDLIST"])
    variants["fmp4"] = Variant("fmp4", "fmp4/media.m3u8", reference)

    # One file of sub-ranges, each encrypted on its own; offsets are written
    # for the first and fourth sub-ranges and implied for the others.
    byterange = root / "byterange"
    byterange.mkdir()
    lines = [*_header(), '#EXT-X-KEY:METHOD=AES-128,URI="../a.key"']
    blob = b""
    for i, segment in enumerate(clear_segments):
        body = _openssl_bytes("encrypt", segment, KEY_A, _iv_of(FIRST_SEQUENCE + i))
        written = f"{len(body)}@{len(blob)}" if i in (0, 3) else f"{len(body)}"
        lines += ["#EXTINF:4.0,", f"#EXT-X-BYTERANGE:{written}", "all.ts"]
        blob += body
    (byterange / "all.ts").write_bytes(blob + b"trailing bytes outside every range")
    _write(byterange / "media.m3u8", [*lines, "#EXT-X-ENDLIST"])
    variants["byterange"] = Variant(
        "byterange", "byterange/media.m3u8", b"".join(clear_segments)
    )

    master = ["#EXTM3U", "#EXT-X-VERSION:4"]
    for name, bandwidth in sorted(BANDWIDTHS.items(), key=lambda item: -item[1]):
        master.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},"
            f"AVERAGE-BANDWIDTH={bandwidth - 1000},RESOLUTION=320x180,"
            'CODECS="avc1.42c00d,mp4a.40.2"'
        )
        master.append(variants[name].playlist)
    _write(root / "master.m3u8", master)
    return HlsMedia(root, variants, keys)


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    for tool in ("ffmpeg", "openssl"):
        assert shutil.which(tool), f"{tool} is required by the HLS engine tests"
    return _build_media(tmp_path_factory.mktemp("hls"))


@dataclass
class Request:
    """One request as the server saw it, *finished* once its whole body is sent."""

    path: str
    range: str | None
    status: int
    query: dict[str, list[str]]
    finished: bool = False


@dataclass
class Fault:
    """One injected response for the next request of a path.

    Attributes:
        status: the HTTP status to send instead of the file, or None.
        headers: extra headers of that response.
        stall: wait this many seconds (or until the server stops), then
            close the connection without a response.
        reset: close the connection without an answer.
        pause_at, pause: send the body up to byte *pause_at* of the file,
            then wait *pause* seconds before the rest.
        cut_at: send the body up to byte *cut_at* of the file, then close
            the connection although the headers announced more.
        ignore_range: send the whole file with status 200 despite a Range.
        content: serve these bytes in place of the file's.
        whole_only: the fault waits for a request without Range, and
            requests with one pass it by.
        range: when set, the fault waits for a request with exactly this
            Range header, and other requests pass it by.
    """

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    reset: bool = False
    pause_at: int | None = None
    pause: float = 0.0
    cut_at: int | None = None
    ignore_range: bool = False
    content: bytes | None = None
    whole_only: bool = False
    range: str | None = None

    def matches(self, byte_range: str | None) -> bool:
        """Return True if this fault applies to a request with *byte_range*."""
        if self.whole_only and byte_range is not None:
            return False
        return self.range is None or self.range == byte_range


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_URI_LINE = re.compile(r'^(?!#)(\S+)$|(URI=")([^"]+)(")', re.MULTILINE)


class _Server(socketserver.ThreadingTCPServer):
    # The default listen backlog of 5 drops connections of a burst, and the
    # client retries them only after a second.
    request_queue_size = 128
    daemon_threads = True


class MediaServer:
    """A threaded loopback HTTP server over a directory, with Range support.

    Attributes:
        requests: every request, in arrival order.
        faults: path -> queue of `Fault` records, used one per request.
        tokens: when not None, every request needs a ``token`` query value
            in this set or gets HTTP 403, and playlists are rewritten so
            that each URI carries the token of the request.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[Request] = []
        self.faults: dict[str, list[Fault]] = {}
        self.tokens: set[str] | None = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, token: str | None = None) -> str:
        query = f"?token={token}" if token else ""
        return f"{self.base_url}/{path}{query}"

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
        self.tokens = None

    def inject(self, path: str, count: int = 1, **fields: Any) -> None:
        """Answer the next *count* requests of *path* with `Fault(**fields)`."""
        with self.lock:
            self.faults.setdefault("/" + path, []).extend(
                Fault(**fields) for _ in range(count)
            )

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for request in self.requests if request.path == "/" + path)

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _record(
        self, path: str, byte_range: str | None, status: int, query: Any
    ) -> Request:
        request = Request(path, byte_range, status, query)
        with self.lock:
            self.requests.append(request)
        return request

    def handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        path, query = split.path, parse_qs(split.query)
        byte_range = handler.headers.get("Range")
        with self.lock:
            queue = self.faults.get(path, [])
            fault = next((f for f in queue if f.matches(byte_range)), None)
            if fault is not None:
                queue.remove(fault)

        if fault is not None and fault.stall:
            # Recorded on arrival with status 0, because the client gives up
            # before the stall ends.
            self._record(path, byte_range, 0, query)
            self.stopping.wait(fault.stall)
            return
        if fault is not None and fault.reset:
            self._record(path, byte_range, 0, query)
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        if fault is not None and fault.status is not None:
            self._send(handler, path, byte_range, query, fault.status, b"fault",
                       fault.headers)  # fmt: skip
            return

        token = (query.get("token") or [None])[0]
        if self.tokens is not None and token not in self.tokens:
            self._send(handler, path, byte_range, query, 403, b"expired", {})
            return
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            self._send(handler, path, byte_range, query, 404, b"not found", {})
            return
        data = target.read_bytes()
        if fault is not None and fault.content is not None:
            data = fault.content
        if target.suffix == ".m3u8" and token:
            data = _sign_playlist(data.decode(), token).encode()
        self._send_file(handler, path, byte_range, query, data, fault)

    def _send_file(self, handler: Any, path: str, byte_range: str | None,
                   query: Any, data: bytes, fault: Fault | None) -> None:  # fmt: skip
        match = _RANGE.match(byte_range or "")
        if match is None or (fault is not None and fault.ignore_range):
            self._send(handler, path, byte_range, query, 200, data, {}, fault, 0)
            return
        first, last = match.groups()
        size = len(data)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:
            start = max(0, size - int(last))
            end = size - 1
        if start >= size or start > end:
            headers = {"Content-Range": f"bytes */{size}"}
            self._send(handler, path, byte_range, query, 416, b"", headers)
            return
        headers = {"Content-Range": f"bytes {start}-{end}/{size}"}
        self._send(handler, path, byte_range, query, 206, data[start : end + 1],
                   headers, fault, start)  # fmt: skip

    def _send(self, handler: Any, path: str, byte_range: str | None, query: Any,
              status: int, body: bytes, headers: dict[str, str],
              fault: Fault | None = None, body_start: int = 0) -> None:  # fmt: skip
        request = self._record(path, byte_range, status, query)
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if fault is not None and fault.cut_at is not None:
                handler.wfile.write(body[: max(0, fault.cut_at - body_start)])
                handler.wfile.flush()
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            if fault is not None and fault.pause_at is not None:
                split = max(0, fault.pause_at - body_start)
                handler.wfile.write(body[:split])
                handler.wfile.flush()
                self.stopping.wait(fault.pause)
                body = body[split:]
            handler.wfile.write(body)
            request.finished = True
        except (BrokenPipeError, ConnectionResetError):
            pass


def _sign_playlist(text: str, token: str) -> str:
    def sign(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}?token={token}"
        return f"{match.group(2)}{match.group(3)}?token={token}{match.group(4)}"

    return _URI_LINE.sub(sign, text)


@pytest.fixture(scope="session")
def _media_server_session(hls_media: HlsMedia) -> Iterator[MediaServer]:
    server = MediaServer(hls_media.root.resolve())
    yield server
    server.stop()


@pytest.fixture
def media_server(_media_server_session: MediaServer) -> Iterator[MediaServer]:
    _media_server_session.reset()
    yield _media_server_session
    _media_server_session.reset()


@pytest.fixture(scope="session")
def plain_server(hls_media: HlsMedia) -> Iterator[str]:
    """Serve the media with ``python -m http.server``; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1",
         "--directory", str(hls_media.root), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 20
        port = None
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            match = re.search(r"port (\d+)", line)
            if match:
                port = int(match.group(1))
        assert port is not None, "python -m http.server did not report its port"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


def fixed(url: str) -> Callable[[], Awaitable[str]]:
    """Return a resolve function that always returns *url*."""

    async def resolve() -> str:
        return url

    return resolve


@pytest.fixture
def resolver() -> Callable[[str], Callable[[], Awaitable[str]]]:
    return fixed


@pytest.fixture
def fast_policy() -> RetryPolicy:
    """A retry policy with sub-second waits, so that fault tests end quickly."""
    return RetryPolicy(
        connect_timeout=1.0,
        read_timeout=0.5,
        request_timeout=1.5,
        deadline=3.0,
        attempts=6,
        backoff_initial=0.01,
        backoff_max=0.05,
        retry_after_max=2.0,
        part_deadline=4.0,
        open_deadline=5.0,
    )
