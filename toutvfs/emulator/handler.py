"""Emulator layer: HTTP plumbing: requests, responses, ranges, faults, shaping.

`RequestHandler` turns each HTTP/1.1 request of a keep-alive connection into a
`Request`, asks the application (`toutvfs.emulator.app.Application`) for a
`Response`, applies the matching fault and shaping, sends it and appends a
`RequestRecord` to the request log. A record is in the log before the last
byte of its response leaves, so a client that has read a whole response can
already find its record.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from toutvfs.emulator.faults import Fault
from toutvfs.emulator.shaping import PACED_CHUNK, Pacer

if TYPE_CHECKING:
    from toutvfs.emulator.app import Application

log = logging.getLogger(__name__)

# Query parameters whose values are secrets: never logged, never recorded.
SECRET_PARAMS = frozenset({"hdnea", "csrf_token", "tx", "refresh_token", "password"})

MAX_BODY = 1024 * 1024

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class RequestRecord:
    """One request as the emulator saw it.

    Attributes:
        method, path: the request line, path without its query.
        query: query parameters, with secret values replaced by ``***``.
        range: the ``Range`` header, or None.
        status: the status sent.
        bytes: body bytes sent.
        duration: seconds from the end of the request headers to the last
            write of the response.
        endpoint: the endpoint name the path matched, or ``""``.
        id_media: the media id the request was about, or None.
        fault: the kind of the fault that fired, or None.
    """

    method: str
    path: str
    query: dict[str, str]
    range: str | None
    status: int
    bytes: int
    duration: float
    endpoint: str = ""
    id_media: int | None = None
    fault: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)


@dataclass
class Request:
    """A parsed HTTP request.

    Attributes:
        endpoint, id_media: set by the route that takes the request, for
            faults, shaping and the log.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes = b""
    endpoint: str = ""
    id_media: int | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        """Return the body as ``application/x-www-form-urlencoded`` fields."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace")))


@dataclass
class Response:
    """A response before faults and shaping.

    Attributes:
        body: the body, unless *file* is set.
        file: a file whose bytes *file_offset* to *file_offset* +
            *file_length* are the body; sent with sendfile.
        ranges: whether the response answers ``Range`` requests.
        kind: ``json``, ``playlist``, ``key`` or ``binary``, which decides how
            body-altering faults rewrite it.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: Path | None = None
    file_offset: int = 0
    file_length: int = 0
    ranges: bool = False
    kind: str = "binary"

    @property
    def length(self) -> int:
        return self.file_length if self.file is not None else len(self.body)

    def content(self) -> bytes:
        """Return the body bytes, reading the file when the body is a file."""
        if self.file is None:
            return self.body
        with self.file.open("rb") as stream:
            stream.seek(self.file_offset)
            return stream.read(self.file_length)


def json_response(payload: object, status: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Response(
        status, [("Content-Type", "application/json; charset=utf-8")], body, kind="json"
    )


def text_response(
    text: str, content_type: str, status: int = 200, kind: str = "binary"
) -> Response:
    return Response(status, [("Content-Type", content_type)], text.encode(), kind=kind)


def error_page(status: int, message: str) -> Response:
    html = (
        f"<!DOCTYPE html><html><head><title>{status}</title></head>"
        f"<body><h1>{status}</h1><p>{message}</p></body></html>"
    )
    return text_response(html, "text/html; charset=utf-8", status)


def apply_range(response: Response, header: str | None) -> Response:
    """Return *response* cut to the single byte range of *header*.

    A header that is not one ``bytes=`` range is ignored, as RFC 9110 allows;
    a range that starts past the end gets 416.
    """
    if header is None or not response.ranges or response.status != 200:
        return response
    match = _RANGE.match(header.strip())
    if match is None or match.group(0) == "bytes=-":
        return response
    size = response.length
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            return response
    else:
        start = max(size - int(last), 0)
        end = size - 1
    if start >= size or size == 0:
        refused = Response(416, [("Content-Range", f"bytes */{size}")])
        refused.headers += [
            (k, v) for k, v in response.headers if k.lower() == "content-type"
        ]
        return refused
    cut = Response(
        206,
        [*response.headers, ("Content-Range", f"bytes {start}-{end}/{size}")],
        kind=response.kind,
        ranges=True,
    )
    if response.file is not None:
        cut.file = response.file
        cut.file_offset = response.file_offset + start
        cut.file_length = end - start + 1
    else:
        cut.body = response.body[start : end + 1]
    return cut


def redact_query(query: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k in SECRET_PARAMS else v) for k, v in query.items()}


class RequestHandler(BaseHTTPRequestHandler):
    """Serves the requests of one connection for an `Application`."""

    protocol_version = "HTTP/1.1"
    server_version = "toutvfs-emulator"
    sys_version = ""
    # Keep-alive connections that go quiet are closed after this many seconds.
    timeout = 30

    app: Application

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pacer = Pacer(self.app.stopping)
        self.slot = self.app.acquire_connection_slot()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.slot:
                self.app.release_connection_slot()

    def handle(self) -> None:
        if not self.slot:
            self.close_connection = True
            return
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # The request line carries signed URLs, so http.server's own access
        # log is replaced by the request log.
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.monotonic()
        request = self._parse_request()
        if request is None:
            return
        try:
            response = self.app.handle(request)
        except Exception:
            log.exception("emulator failed on %s %s", request.method, request.path)
            response = error_page(500, "Erreur interne de l'émulateur")
        response = apply_range(response, request.header("range"))
        fault = self.app.select_fault(request)
        latency, rate = self.app.shaping_for(request)
        if latency and self.app.stopping.wait(latency):
            self.close_connection = True
            return
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=redact_query(request.query),
            range=request.header("range"),
            status=response.status,
            bytes=0,
            duration=0.0,
            endpoint=request.endpoint,
            id_media=request.id_media,
            fault=fault.kind if fault else None,
        )
        sender = _Sender(self, record, started, rate, request.method == "HEAD")
        if fault is not None:
            sender.send_with_fault(response, fault)
        else:
            sender.send(response)

    def _parse_request(self) -> Request | None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return None
        body = self.rfile.read(length) if length else b""
        cookies: dict[str, str] = {}
        raw_cookie = self.headers.get("Cookie")
        if raw_cookie:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(raw_cookie)
            except CookieError:
                pass
            cookies = {name: morsel.value for name, morsel in jar.items()}
        return Request(
            method=self.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            cookies=cookies,
            body=body,
        )


class _Sender:
    """Writes one response, shaped and faulted, and records it."""

    def __init__(
        self,
        handler: RequestHandler,
        record: RequestRecord,
        started: float,
        rate: int | None,
        head: bool,
    ) -> None:
        self.handler = handler
        self.record = record
        self.started = started
        self.rate = rate
        self.head = head
        self.stop: threading.Event = handler.app.stopping

    def _headers(self, response: Response, length: int, close: bool = False) -> None:
        handler = self.handler
        handler.send_response_only(response.status)
        handler.send_header("Date", handler.date_time_string())
        for name, value in response.headers:
            handler.send_header(name, value)
        if response.ranges:
            handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(length))
        if close or handler.close_connection:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.flush()

    def _finish_record(self, status: int, sent: int) -> None:
        self.record.status = status
        self.record.bytes = sent
        self.record.duration = time.monotonic() - self.started
        self.handler.app.record(self.record)

    def send(self, response: Response) -> None:
        length = response.length
        if self.head or length == 0:
            self._finish_record(response.status, 0)
            self._headers(response, length)
            return
        self._headers(response, length)
        if self.rate is None and response.file is not None:
            self._finish_record(response.status, length)
            with response.file.open("rb") as stream:
                self.handler.connection.sendfile(
                    stream, response.file_offset, response.file_length
                )
            return
        if self.rate is None:
            self._finish_record(response.status, length)
            self.handler.wfile.write(response.body)
            return
        self._write_paced(response.status, response.content(), self.rate)

    def _write_paced(self, status: int, data: bytes, rate: int) -> None:
        pacer = self.handler.pacer
        for offset in range(0, len(data), PACED_CHUNK):
            chunk = data[offset : offset + PACED_CHUNK]
            if not pacer.wait_for(len(chunk), rate):
                self.handler.close_connection = True
                return
            if offset + PACED_CHUNK >= len(data):
                self._finish_record(status, len(data))
            self.handler.wfile.write(chunk)

    def send_with_fault(self, response: Response, fault: Fault) -> None:
        kind = fault.kind
        if kind == "status":
            self.send(error_page(fault.status, "Erreur du serveur"))
        elif kind == "rate-limit":
            page = error_page(429, "Trop de requêtes")
            page.headers.append(("Retry-After", str(fault.retry_after)))
            self.send(page)
        elif kind == "not-found":
            self.send(error_page(404, "Introuvable"))
        elif kind == "html-page":
            self.send(error_page(200, "Service temporairement indisponible"))
        elif kind == "empty-body":
            response.body, response.file = b"", None
            self.send(response)
        elif kind in ("malformed-json", "truncate", "bad-key"):
            response.body = _altered_body(response.content(), fault)
            response.file = None
            self.send(response)
        elif kind == "drop":
            self._drop(response, fault.after_bytes)
        elif kind == "stall":
            self._stall(response, fault.stall_seconds)
        elif kind == "trickle":
            self._trickle(response, fault)

    def _drop(self, response: Response, after_bytes: int) -> None:
        data = response.content()
        self._headers(response, len(data), close=True)
        sent = min(after_bytes, len(data))
        self._finish_record(response.status, sent)
        if not self.head and sent:
            self.handler.wfile.write(data[:sent])
        self._abort()

    def _stall(self, response: Response, seconds: float) -> None:
        self._headers(response, response.length, close=True)
        self._finish_record(response.status, 0)
        self.stop.wait(seconds)
        self._abort()

    def _trickle(self, response: Response, fault: Fault) -> None:
        data = b"" if self.head else response.content()
        self._headers(response, response.length, close=True)
        deadline = time.monotonic() + fault.stall_seconds
        step = max(1, fault.trickle_rate // 10)
        sent = 0
        self._finish_record(response.status, 0)
        while sent < len(data) and time.monotonic() < deadline:
            if self.stop.wait(step / fault.trickle_rate):
                break
            self.handler.wfile.write(data[sent : sent + step])
            sent += len(data[sent : sent + step])
            self.record.bytes = sent
        if sent < len(data):
            self._abort()

    def _abort(self) -> None:
        """Close the connection at once, with a TCP reset."""
        self.handler.close_connection = True
        connection = self.handler.connection
        try:
            connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _altered_body(data: bytes, fault: Fault) -> bytes:
    if fault.kind == "malformed-json":
        return data[: len(data) // 2] if len(data) > 1 else b"{"
    if fault.kind == "truncate":
        keep = fault.truncate_to if fault.truncate_to is not None else len(data) // 2
        return data[:keep]
    # bad-key: the right key's bytes, cut or padded with zeros.
    return (data + bytes(max(0, fault.key_length - len(data))))[: fault.key_length]


def file_response(
    path: Path, content_type: str, offset: int = 0, length: int | None = None
) -> Response:
    """Return a ranged response whose body is (part of) the file at *path*."""
    size = os.path.getsize(path) if length is None else length
    return Response(
        200,
        [("Content-Type", content_type)],
        file=path,
        file_offset=offset,
        file_length=size,
        ranges=True,
    )
