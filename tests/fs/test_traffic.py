"""The mount's request counters, against a real HTTP server on loopback."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio

from toutvfs.fs.backend import CountingTransport, TrafficCounters


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 404 if self.path == "/missing" else 200
        body = b"body of " + self.path.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    """Return a loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_counts_requests_and_failures(server: str) -> None:
    counters = TrafficCounters()
    async with httpx.AsyncClient(transport=CountingTransport(counters)) as http:
        assert (await http.get(f"{server}/a")).content == b"body of /a"
        assert (await http.get(f"{server}/missing")).status_code == 404
        assert counters.in_flight == 0
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{closed_port()}/b")
    # The refused connection sent no headers, so it is a failure only.
    assert (counters.requests, counters.failures, counters.in_flight) == (2, 2, 0)


async def test_cancelled_request_is_neither_sent_nor_failed(server: str) -> None:
    counters = TrafficCounters()
    async with httpx.AsyncClient(transport=CountingTransport(counters)) as http:
        with trio.CancelScope() as scope:
            scope.cancel()
            await http.get(f"{server}/a")
        assert scope.cancelled_caught
        assert (counters.requests, counters.failures, counters.in_flight) == (0, 0, 0)
        await http.get(f"{server}/a")
    assert (counters.requests, counters.failures, counters.in_flight) == (1, 0, 0)


async def test_callers_trace_still_called(server: str) -> None:
    counters = TrafficCounters()
    events: list[str] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        events.append(event)

    async with httpx.AsyncClient(transport=CountingTransport(counters)) as http:
        await http.get(f"{server}/a", extensions={"trace": trace})
    assert "http11.send_request_headers.complete" in events
    assert counters.requests == 1
