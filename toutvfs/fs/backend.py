"""The mount's tunable backend: transport counters, engine options, version filter.

`TunedBackend` is the catalogue and streams of `toutvfs.fs.adapter.Backend`
with the command line's read-ahead depth and connection limit, and with an
HTTP transport that counts requests, failures and requests in flight for
the status file. `VersionFilter` wraps a catalogue so that episodes list
only the media versions that ``--versions`` selects.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from toutvfs.client import Session, TokenSource
from toutvfs.config import Config
from toutvfs.fs.adapter import Backend, StreamSettings
from toutvfs.fs.delegate import DelegatingCatalogue
from toutvfs.fs.source import Catalogue, PlayableMedia, VariantEntry
from toutvfs.hls import Engine, ReadaheadSettings
from toutvfs.hls.engine import DEFAULT_CONNECTIONS_PER_HOST

log = logging.getLogger(__name__)


# An httpcore trace hook: called with each event's name and details.
Tracer = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class TrafficCounters:
    """HTTP requests of one mount, counted by `CountingTransport`.

    Attributes:
        requests: requests whose headers went out, retries included; a
            request cancelled before that (a read-ahead dropped while it
            waited for a connection) does not count.
        failures: requests that got no response or a status of 400 or
            more, cancelled ones left out.
        in_flight: requests started whose response body is not yet read.
    """

    requests: int = 0
    failures: int = 0
    in_flight: int = 0


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, counters: TrafficCounters) -> None:
        self._inner = inner
        self._counters = counters
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._counters.in_flight -= 1
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that counts into a `TrafficCounters`."""

    def __init__(
        self, counters: TrafficCounters, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.counters = counters
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        counters = self.counters
        counters.in_flight += 1
        request.extensions = {
            **request.extensions,
            "trace": self._tracer(request.extensions.get("trace")),
        }
        try:
            response = await self._inner.handle_async_request(request)
        except trio.Cancelled:
            counters.in_flight -= 1
            raise
        except BaseException:
            counters.in_flight -= 1
            counters.failures += 1
            raise
        if response.status_code >= 400:
            counters.failures += 1
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CountedStream(response.stream, counters)
        return response

    def _tracer(self, inner: Tracer | None) -> Tracer:
        """Return an httpcore trace hook that counts requests as they go out."""
        counters = self.counters

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith(".send_request_headers.complete"):
                counters.requests += 1
            if inner is not None:
                await inner(event, info)

        return trace

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class EngineOptions:
    """Engine settings that the command line sets.

    Attributes:
        readahead: maximum parts fetched ahead of one reader.
        connections: maximum concurrent requests to one host.
    """

    readahead: int = ReadaheadSettings().max_parts
    connections: int = DEFAULT_CONNECTIONS_PER_HOST


def make_engine(
    http: httpx.AsyncClient,
    settings: StreamSettings,
    options: EngineOptions,
    nursery: trio.Nursery,
) -> Engine:
    """Return an engine with the cache *settings* and engine *options*."""
    return Engine(
        http,
        settings.cache_dir,
        settings.cache_size,
        connections_per_host=options.connections,
        readahead=ReadaheadSettings(max_parts=options.readahead),
        nursery=nursery,
    )


class TunedBackend(Backend):
    """`Backend` with `EngineOptions` and a counting transport."""

    def __init__(
        self,
        config: Config,
        auth: TokenSource,
        settings: StreamSettings,
        options: EngineOptions,
        source: str | None = None,
    ) -> None:
        super().__init__(config, auth, settings, source)
        self.options = options
        self.traffic = TrafficCounters()

    def cache_media_key(self, id_media: str) -> str:
        """Return the engine's media key of *id_media*, as `Backend` makes it."""
        return self.media_key(id_media)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Backend]:
        """Open the HTTP client and the engine's task nursery, then close them."""
        transport = CountingTransport(self.traffic)
        async with httpx.AsyncClient(transport=transport) as http:
            async with trio.open_nursery() as nursery:
                # Backend keeps these in private attributes; this subclass
                # sets them the same way Backend.running does.
                self._http = http
                self._session = Session(
                    self.config,
                    http,
                    self.auth,
                    per_host_limit=self.options.connections,
                )
                self._engine = make_engine(http, self.settings, self.options, nursery)
                self.prepare_soon(nursery)
                try:
                    yield self
                finally:
                    nursery.cancel_scope.cancel()
                    self._session = None
                    self._engine = None
                    self._http = None


def parse_versions(text: str) -> str:
    """Check a ``--versions`` value: all, highest, lowest or a height in pixels."""
    value = text.strip().lower().removesuffix("p")
    if value in ("all", "highest", "lowest"):
        return value
    if value.isdigit() and int(value) > 0:
        return value
    raise ValueError("expected all, highest, lowest or a maximum height such as 720")


def select_versions(variants: list[VariantEntry], versions: str) -> list[VariantEntry]:
    """Return the variants that *versions* keeps, lowest bandwidth first.

    A maximum height keeps the variants at most that tall, and audio-only
    ones count as height 0. When none is that small, it keeps the lowest
    one, so an episode never loses all its files.
    """
    if versions == "all" or not variants:
        return list(variants)
    ordered = sorted(variants, key=lambda variant: variant.bandwidth)
    if versions == "highest":
        return [ordered[-1]]
    if versions == "lowest":
        return [ordered[0]]
    limit = int(versions)
    kept = [
        variant
        for variant in ordered
        if (variant.resolution[1] if variant.resolution else 0) <= limit
    ]
    return kept or [ordered[0]]


class VersionFilter(DelegatingCatalogue):
    """A `Catalogue` that lists only the versions that *versions* selects."""

    def __init__(self, inner: Catalogue, versions: str) -> None:
        super().__init__(inner)
        self.versions = versions

    async def media(self, id_media: str) -> PlayableMedia:
        # A copy, because the catalogue below may keep the record it returned.
        media = await self.inner.media(id_media)
        return dataclasses.replace(
            media, variants=select_versions(media.variants, self.versions)
        )
