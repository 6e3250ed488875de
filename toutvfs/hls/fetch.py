"""HLS engine: HTTP GET with timeouts, retries and a per-host connection limit.

This is the only module of the engine that calls httpx. It turns httpx
exceptions and error statuses into the `toutvfs.errors` network classes, and
it retries what may pass (timeouts, resets, 5xx, 429) with exponential
backoff, honouring ``Retry-After`` up to a cap. Every operation, retries
included, ends within `RetryPolicy.deadline` seconds. URLs in messages and
logs lose their query, which contains the signature of signed URLs.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import trio

from toutvfs.errors import (
    ConnectionError,
    HttpError,
    NetworkTimeout,
    UnexpectedHttpStatusCode,
)
from toutvfs.hls.playlist import redact

log = logging.getLogger(__name__)

# Stands in for a limiter where a request bypasses the per-host limits.
_UNLIMITED = contextlib.nullcontext()

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait and how often to try.

    Attributes:
        connect_timeout, read_timeout: httpx timeouts in seconds; the read
            timeout bounds each wait for more bytes, so a stalled server is
            noticed even in the middle of a body.
        request_timeout: bound in seconds on one whole request, body included.
        deadline: bound in seconds on one operation, all retries included.
        attempts: maximum number of requests per operation.
        backoff_initial, backoff_max: the first wait between attempts and the
            cap on each wait, in seconds; waits double and get a random
            jitter of up to 50%.
        retry_after_max: cap in seconds on a server's ``Retry-After``.
        part_deadline: bound in seconds on fetching one part, its key,
            retries and the re-signing of expired URLs included.
        open_deadline: bound in seconds on `Engine.open`: playlists, keys
            and the measuring of every part.
        failure_hold: seconds during which a part whose fetch failed fails
            again at once, without a new request. The kernel lets one read
            of a page reach the filesystem at a time, so without this hold
            each reader of a failed page would wait out its own deadline.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 8.0
    request_timeout: float = 20.0
    deadline: float = 25.0
    attempts: int = 6
    backoff_initial: float = 0.25
    backoff_max: float = 4.0
    retry_after_max: float = 8.0
    part_deadline: float = 28.0
    open_deadline: float = 30.0
    failure_hold: float = 10.0


@dataclass(frozen=True)
class Body:
    """A successful response.

    Attributes:
        data: the body bytes.
        start: offset of *data* in the whole resource.
        total: length of the whole resource, or None when the server sent
            ``Content-Range: .../*``.
        partial: True for a 206 response to a Range request.
    """

    data: bytes | bytearray
    start: int
    total: int | None
    partial: bool


@dataclass(frozen=True)
class Head:
    """The status and range of a successful response, read before its body.

    Attributes:
        start: offset of the body's first byte in the whole resource.
        total: length of the whole resource, or None when the server did
            not give it (``Content-Range: .../*``, or a 200 response without
            ``Content-Length``).
        partial: True for a 206 response to a Range request.
    """

    start: int
    total: int | None
    partial: bool


# Receive the head of one response, and then its body chunk by chunk.
OnHead = Callable[[Head], None]
OnChunk = Callable[[bytes], None]


class StatusError(UnexpectedHttpStatusCode):
    """An error status, with the server's ``Retry-After`` in seconds or None."""

    def __init__(
        self, message: str, *, status_code: int, retry_after: float | None, url: str
    ) -> None:
        super().__init__(message, status_code=status_code, url=url)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _is_transient(exc: HttpError) -> bool:
    if isinstance(exc, NetworkTimeout | ConnectionError):
        return True
    if isinstance(exc, UnexpectedHttpStatusCode):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


class Fetcher:
    """Send GET requests through one `httpx.AsyncClient` with one retry policy.

    Requests are limited per host in two classes: bulk requests (segments)
    by *connections_per_host*, and small ones (the 32-byte probes that
    measure sizes) by *small_per_host*. Small requests are bound by latency,
    not bandwidth, so they get their own slots and a file's sizes come in a
    few round trips even while segments download. Keys bypass both limits,
    because every part of a file waits for its key and a file has few keys.

    Args:
        http: the client; its own timeouts are replaced by the policy's.
        policy: timeouts, retries and backoff.
        connections_per_host: maximum concurrent bulk requests to one host.
        small_per_host: maximum concurrent small requests to one host.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy,
        connections_per_host: int,
        small_per_host: int = 16,
    ) -> None:
        self.http = http
        self.policy = policy
        self.connections_per_host = connections_per_host
        self.small_per_host = small_per_host
        self._limiters: dict[tuple[str, bool], trio.CapacityLimiter] = {}
        self.request_count = 0

    def _limiter(self, url: str, small: bool) -> trio.CapacityLimiter:
        slot = (urlsplit(url).netloc, small)
        limiter = self._limiters.get(slot)
        if limiter is None:
            size = self.small_per_host if small else self.connections_per_host
            limiter = trio.CapacityLimiter(size)
            self._limiters[slot] = limiter
        return limiter

    async def get(
        self,
        url: str,
        *,
        byte_range: str | None = None,
        small: bool = False,
        limited: bool = True,
    ) -> Body:
        """Fetch *url*, retrying transient failures.

        Args:
            url: the absolute URL.
            byte_range: a ``Range`` header value such as ``"bytes=-32"``, or
                None for the whole resource. A server may ignore it and send
                the whole body with status 200; the caller checks `Body`.
            small: the response is expected to be a size probe of a few
                bytes, so the request takes a small-request slot.
            limited: False to bypass the per-host limits, for keys.

        Raises:
            NetworkTimeout: no response in time, or the deadline passed.
            ConnectionError: the connection failed on every attempt.
            UnexpectedHttpStatusCode: an error status that is not transient,
                or a transient one on the last attempt.
        """
        return await self._retrying(
            url,
            lambda: self._send(url, byte_range, small, limited, _read_whole),
        )

    async def stream(
        self,
        url: str,
        byte_range: Callable[[], str | None],
        on_head: OnHead,
        on_chunk: OnChunk,
    ) -> None:
        """Stream *url* to *on_head* and *on_chunk*, retrying transient failures.

        Each attempt takes a bulk slot. *byte_range* is called before each
        attempt, so a retry after a partial body can ask for the rest only.
        An exception from *on_head* or *on_chunk* that is not a network error
        ends the operation. After one from *on_chunk* the rest of the body is
        read and dropped, because leaving httpx's body iterator early leaves
        its async generators to the garbage collector, which trio reports.

        Raises:
            NetworkTimeout, ConnectionError, UnexpectedHttpStatusCode: as
                `get`, for the last attempt.
        """

        async def handle(response: httpx.Response, shown: str) -> None:
            on_head(_head(response, shown))
            failure: Exception | None = None
            try:
                async for chunk in response.aiter_bytes():
                    if failure is None:
                        try:
                            on_chunk(chunk)
                        except Exception as exc:
                            failure = exc
            except httpx.TransportError:
                if failure is None:
                    raise
            if failure is not None:
                raise failure

        await self._retrying(
            url, lambda: self._send(url, byte_range(), False, True, handle)
        )

    async def _retrying(self, url: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run *attempt* until it succeeds or fails for good, within the deadline."""
        policy = self.policy
        last_error: HttpError | None = None
        with trio.move_on_after(policy.deadline) as deadline_scope:
            for number in range(1, policy.attempts + 1):
                try:
                    return await attempt()
                except HttpError as exc:
                    if not _is_transient(exc) or number == policy.attempts:
                        raise
                    last_error = exc
                    delay = self._delay(number, exc)
                    level = logging.WARNING if number >= 3 else logging.DEBUG
                    log.log(
                        level,
                        "GET %s failed (attempt %d of %d): %s; retrying in %.2f s",
                        redact(url),
                        number,
                        policy.attempts,
                        exc,
                        delay,
                    )
                    await trio.sleep(delay)
        assert deadline_scope.cancelled_caught
        cause = f": last error: {last_error}" if last_error else ""
        raise NetworkTimeout(
            f"GET {redact(url)} did not succeed within {policy.deadline:g} s{cause}",
            url=redact(url),
        ) from last_error

    def _delay(self, attempt: int, exc: HttpError) -> float:
        policy = self.policy
        delay = min(policy.backoff_max, policy.backoff_initial * 2.0 ** (attempt - 1))
        delay *= random.uniform(1.0, 1.5)
        if isinstance(exc, StatusError) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, policy.retry_after_max))
        return delay

    async def _send(
        self,
        url: str,
        byte_range: str | None,
        small: bool,
        limited: bool,
        handle: Callable[[httpx.Response, str], Awaitable[T]],
    ) -> T:
        """Send one GET and return what *handle* makes of a successful response.

        Error statuses and httpx failures, in the body too, become the
        `toutvfs.errors` network classes.
        """
        policy = self.policy
        headers = {"Range": byte_range} if byte_range else {}
        timeout = httpx.Timeout(
            policy.read_timeout, connect=policy.connect_timeout, pool=policy.deadline
        )
        shown = redact(url)
        limiter = self._limiter(url, small) if limited else _UNLIMITED
        async with limiter:
            self.request_count += 1
            try:
                with trio.fail_after(policy.request_timeout):
                    async with self.http.stream(
                        "GET", url, headers=headers, timeout=timeout
                    ) as response:
                        if response.status_code >= 400:
                            raise StatusError(
                                f"GET {shown} returned HTTP {response.status_code}",
                                status_code=response.status_code,
                                retry_after=_retry_after(response),
                                url=shown,
                            )
                        return await handle(response, shown)
            except trio.TooSlowError as exc:
                message = f"took more than {policy.request_timeout:g} s"
                raise NetworkTimeout(f"GET {shown} {message}", url=shown) from exc
            except httpx.TransportError as exc:
                raise _transport_error(exc, shown) from exc


async def _read_whole(response: httpx.Response, shown: str) -> Body:
    return _body(response, await _read_body(response), shown)


async def _read_body(response: httpx.Response) -> bytearray:
    """Return the body as one `bytearray`, grown in place.

    ``Response.aread`` keeps every chunk and then joins them, which needs
    twice the body's size at the peak.
    """
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
    return body


def _transport_error(exc: httpx.TransportError, shown: str) -> HttpError:
    """Return the `toutvfs.errors` class for an httpx transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        return NetworkTimeout(
            f"GET {shown} timed out ({type(exc).__name__})", url=shown
        )
    return ConnectionError(
        f"GET {shown} failed: {type(exc).__name__}: {exc}", url=shown
    )


def _content_range(response: httpx.Response, shown: str) -> tuple[int, int, int | None]:
    """Return (first byte, last byte, total or None) of a 206 response."""
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if match is None:
        raise ConnectionError(
            f"GET {shown} returned 206 without a valid Content-Range", url=shown
        )
    start, end, total = match.groups()
    return int(start), int(end), None if total == "*" else int(total)


def _head(response: httpx.Response, shown: str) -> Head:
    if response.status_code == 206:
        start, _end, total = _content_range(response, shown)
        return Head(start, total, True)
    length = response.headers.get("content-length", "")
    return Head(0, int(length) if length.isdigit() else None, False)


def _body(response: httpx.Response, data: bytes | bytearray, shown: str) -> Body:
    if response.status_code == 206:
        start, end, total = _content_range(response, shown)
        if end - start + 1 != len(data):
            raise ConnectionError(
                f"GET {shown} returned {len(data)} bytes for the range {start}-{end}",
                url=shown,
            )
        return Body(data, start, total, True)
    return Body(data, 0, len(data), False)
