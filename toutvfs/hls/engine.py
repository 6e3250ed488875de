"""HLS engine: the entry point that lists variants and opens streams.

`Engine.open` fetches the variant's media playlist, takes its layout from
the layout store when the segment list matches, or measures every part
(one small ranged request each) and stores the result for good. Streams of
the same media and variant share one `Source`, which runs the fetch jobs.

When the network fails during an open (no connection, or a timeout), a
variant whose media playlist `keep_offline` stored opens from that playlist
and its stored layout instead, and its reads come from the segment cache.

Fetch jobs run as tasks outside the caller's nursery, so that an
interrupted read does not cancel a fetch that other readers wait for. They
go to the nursery given to `Engine`, or else run as trio system tasks,
which trio cancels when the main task ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import trio

from toutvfs.errors import (
    ConnectionError,
    Error,
    NetworkError,
    NetworkTimeout,
    PlaylistError,
    SegmentError,
    UnexpectedHttpStatusCode,
)
from toutvfs.hls.buffers import BufferPool
from toutvfs.hls.cache import CacheKey, SegmentCache
from toutvfs.hls.crypto import CryptoError, Data
from toutvfs.hls.fetch import Fetcher, RetryPolicy
from toutvfs.hls.layout import Layout, LayoutStore, fingerprint
from toutvfs.hls.offline import PlaylistStore
from toutvfs.hls.parts import KeyRing, PartChanged, measure_part
from toutvfs.hls.playlist import Part, Variant, parse_master, parse_media, redact
from toutvfs.hls.readahead import ReadaheadSettings
from toutvfs.hls.source import Resolve, Shared, Source
from toutvfs.hls.stream import Stream

log = logging.getLogger(__name__)

# Bytes of decrypted parts kept in memory across all streams.
DEFAULT_MEMORY_LIMIT = 32 * 1024 * 1024

# Concurrent requests to one host, which is also the deepest useful read-ahead.
DEFAULT_CONNECTIONS_PER_HOST = 8

# Concurrent small requests (size probes and keys) to one host, which bounds
# how many parts are measured at once.
MEASURE_CONCURRENCY = 32

# How long an open reuses the master playlist that a listing fetched from
# the same signed URL, so that opening a file just after its directory was
# listed sends one request fewer. Listings always fetch it again.
MASTER_REUSE_SECONDS = 60.0

# Maximum number of master playlists kept for reuse.
MASTER_REUSE_COUNT = 64


class Engine:
    """Variants, streams and caches of HLS media.

    Args:
        http: the client for every request; the engine sets per-request
            timeouts and never closes it.
        cache_dir: root of the segment cache, of the stored playlists and,
            by default, of the layout store; None turns the disk cache off.
        cache_size: bound in bytes on the segment cache; 0 turns it off.
        layout_dir: where layouts go; defaults to ``cache_dir/"layouts"``,
            and with neither, layouts stay in memory.
        memory_limit: bytes of decrypted parts kept in memory.
        policy: timeouts, retries and backoff of every request.
        connections_per_host: concurrent requests to one host.
        readahead: read-ahead tunables.
        nursery: where fetch tasks run; None runs them as system tasks.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        cache_dir: Path | None,
        cache_size: int,
        *,
        layout_dir: Path | None = None,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        policy: RetryPolicy | None = None,
        connections_per_host: int = DEFAULT_CONNECTIONS_PER_HOST,
        readahead: ReadaheadSettings | None = None,
        nursery: trio.Nursery | None = None,
    ) -> None:
        self.fetcher = Fetcher(
            http, policy or RetryPolicy(), connections_per_host, MEASURE_CONCURRENCY
        )
        self.readahead = readahead or ReadaheadSettings()
        if layout_dir is None and cache_dir is not None:
            layout_dir = cache_dir / "layouts"
        self.layouts = LayoutStore(layout_dir)
        self.playlists = PlaylistStore(
            cache_dir / "playlists" if cache_dir is not None else None
        )
        self.cache: SegmentCache | None = None
        if cache_dir is not None and cache_size > 0:
            self.cache = SegmentCache(cache_dir / "segments", cache_size, self._pinned)
        self._nursery = nursery
        self.shared = Shared(
            fetcher=self.fetcher,
            keys=KeyRing(self.fetcher),
            pool=BufferPool(memory_limit),
            cache=self.cache,
            spawn=self._spawn,
            load_parts=self._load_parts,
            readahead=self.readahead,
        )
        self._sources: dict[tuple[str, str], Source] = {}
        # Master playlist texts by URL, with the time each was fetched.
        self._masters: dict[str, tuple[float, str]] = {}
        self._open_locks: dict[tuple[str, str], trio.Lock] = {}

    @property
    def request_count(self) -> int:
        """Requests sent so far, retries included."""
        return self.fetcher.request_count

    async def wait_idle(self) -> None:
        """Wait until no fetch job runs, cache writes of closed streams included."""
        while self.shared.active_jobs:
            await self.shared.idle.wait()

    def _spawn(self, function: Callable[[], Awaitable[None]], name: str) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(function, name=name)
        else:
            trio.lowlevel.spawn_system_task(function, name=name)

    def _pinned(self, key: CacheKey) -> bool:
        source = self._sources.get((key.media_key, key.variant_key))
        if source is None or source.fingerprint != key.fingerprint:
            return False
        return source.pins[key.position] > 0

    async def _text(self, url: str) -> str:
        body = await self.fetcher.get(url)
        try:
            return body.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PlaylistError(
                f"the response from {redact(url)} is not an HLS playlist "
                "(not UTF-8 text)"
            ) from exc

    async def variants(self, master_url: str) -> list[Variant]:
        """Return the variants of a master playlist, lowest bandwidth first.

        Raises:
            PlaylistError: the response is not a playlist or has no variant.
            UnsupportedMedia: the master announces DRM session keys.
            NetworkError: the playlist could not be fetched.
        """
        text = await self._text(master_url)
        self._masters.pop(master_url, None)
        self._masters[master_url] = (trio.current_time(), text)
        if len(self._masters) > MASTER_REUSE_COUNT:
            # Dicts keep insertion order, so the first entry is the oldest.
            del self._masters[next(iter(self._masters))]
        return parse_master(text, master_url)

    async def _load_parts(
        self, master_url: str, variant_key: str, reuse: bool = False
    ) -> list[Part]:
        """Return the parts of one variant; *reuse* allows a recent master playlist.

        Only the first attempt of an open reuses one, because a caller that
        retries after HTTP 403 needs freshly signed URLs.
        """
        recent = self._masters.get(master_url) if reuse else None
        if (
            recent is not None
            and trio.current_time() - recent[0] < MASTER_REUSE_SECONDS
        ):
            variants = parse_master(recent[1], master_url)
        else:
            variants = await self.variants(master_url)
        for variant in variants:
            if variant.key == variant_key:
                return parse_media(await self._text(variant.uri), variant.uri)
        known = ", ".join(variant.key for variant in variants)
        raise PlaylistError(
            f"the master playlist {redact(master_url)} has no variant "
            f"{variant_key!r} (it has {known})"
        )

    def known_size(self, media_key: str, variant_key: str) -> int | None:
        """Return the exact size from a stored layout, without network.

        This reads a small file the first time for each media and variant,
        and blocks while it does.
        """
        layout = self.layouts.load(media_key, variant_key)
        return None if layout is None else layout.total

    async def cached_bytes(self, media_key: str, variant_key: str) -> int:
        """Return the decrypted bytes of one variant in the segment cache.

        Only entries of the stored layout's segment list count, or every
        entry of the variant when no layout is stored yet.
        """
        if self.cache is None:
            return 0
        layout = self.layouts.load(media_key, variant_key)
        fingerprint = None if layout is None else layout.fingerprint
        return await self.cache.cached_bytes(media_key, variant_key, fingerprint)

    async def open(self, media_key: str, variant_key: str, resolve: Resolve) -> Stream:
        """Open the variant *variant_key* of *media_key* for reading.

        Args:
            media_key, variant_key: what the file is; they key the layout
                store and the caches.
            resolve: returns a fresh signed master playlist URL; it is called
                now and again whenever a signed URL has expired.

        Raises:
            PlaylistError, UnsupportedMedia: the playlists cannot be used.
            SegmentError: a part could not be measured.
            NetworkError: a playlist could not be fetched.
            NetworkTimeout: the whole open took more than
                `RetryPolicy.open_deadline` seconds.
        """
        identity = (media_key, variant_key)
        lock = self._open_locks.setdefault(identity, trio.Lock())
        deadline = self.fetcher.policy.open_deadline
        async with lock:
            source = self._sources.get(identity)
            created = source is None
            if source is None:
                source = await self._open_source(
                    media_key, variant_key, resolve, deadline
                )
                self._sources[identity] = source
            source.streams += 1
            stream = Stream(source, self.readahead, self._release)
            if created and source.holds_first:
                # The stream now holds the early fetch of the first segment.
                source.holds_first = False
                source.unwant(source.first_segment)
        return stream

    async def _open_source(
        self, media_key: str, variant_key: str, resolve: Resolve, deadline: float
    ) -> Source:
        """Return a new source from the network, or from the stored playlist."""
        failure: NetworkError
        source = None
        try:
            with trio.move_on_after(deadline) as scope:
                source = await self._new_source(media_key, variant_key, resolve)
        except (ConnectionError, NetworkTimeout) as exc:
            failure = exc
        else:
            if source is not None and not scope.cancelled_caught:
                return source
            failure = NetworkTimeout(
                f"opening {media_key}/{variant_key} did not finish "
                f"within {deadline:g} s"
            )
        stored = await trio.to_thread.run_sync(
            self._stored_source, media_key, variant_key, resolve
        )
        if stored is None:
            raise failure
        log.warning(
            "%s/%s: the network failed (%s); opening the stored playlist, "
            "so only cached parts can be read",
            media_key,
            variant_key,
            failure,
        )
        return stored

    def _stored_source(
        self, media_key: str, variant_key: str, resolve: Resolve
    ) -> Source | None:
        """Return a source of the stored playlist and layout, or None. Blocks."""
        parts = self.playlists.load(media_key, variant_key)
        if parts is None:
            return None
        layout = self.layouts.load(media_key, variant_key)
        if layout is None or layout.fingerprint != fingerprint(parts):
            log.warning(
                "%s/%s: the stored playlist has no matching layout; "
                "it cannot be opened offline",
                media_key,
                variant_key,
            )
            return None
        return Source(self.shared, media_key, variant_key, resolve, parts, layout)

    async def keep_offline(self, media_key: str, variant_key: str) -> None:
        """Store the media playlist of an open variant for offline opens.

        Raises:
            ValueError: no stream of the variant is open.
            OSError: the file cannot be written.
        """
        source = self._sources.get((media_key, variant_key))
        if source is None:
            raise ValueError(f"{media_key}/{variant_key} is not open")
        await trio.to_thread.run_sync(
            self.playlists.save, media_key, variant_key, source.parts
        )

    async def drop_offline(self, media_key: str, variant_key: str) -> bool:
        """Delete the stored media playlist of a variant; False if none was."""
        return await trio.to_thread.run_sync(
            self.playlists.remove, media_key, variant_key
        )

    def _release(self, source: Source) -> None:
        source.streams -= 1
        if source.streams == 0:
            source.cancel_all()
            identity = (source.media_key, source.variant_key)
            if self._sources.get(identity) is source:
                del self._sources[identity]

    async def _new_source(
        self, media_key: str, variant_key: str, resolve: Resolve
    ) -> Source:
        try:
            parts = await self._load_parts(await resolve(), variant_key, reuse=True)
        except UnexpectedHttpStatusCode as exc:
            if exc.status_code != 403:
                raise
            log.info("%s/%s: HTTP 403, resolving again", media_key, variant_key)
            parts = await self._load_parts(await resolve(), variant_key)

        stored = await trio.to_thread.run_sync(
            self.layouts.load, media_key, variant_key
        )
        source = Source(self.shared, media_key, variant_key, resolve, parts)
        if stored is not None and stored.fingerprint == source.fingerprint:
            source.set_layout(stored)
            last = len(parts) - 1
            await source.prefetch_end(
                self.readahead.end_bytes,
                stored.sizes[last],
                stored.cipher_lengths[last],
            )
            return source
        if stored is not None:
            log.info(
                "%s/%s: the segment list changed, measuring again",
                media_key,
                variant_key,
            )

        # Most readers start at the beginning, so the first segment is
        # fetched while the others are measured; the first stream adopts it.
        source.holds_first = source.want(source.first_segment)
        try:
            layout = await self._measure(media_key, variant_key, parts, source)
            source.set_layout(layout)
        except BaseException:
            source.cancel_all()
            raise
        await trio.to_thread.run_sync(self.layouts.save, media_key, variant_key, layout)
        return source

    async def _measure(
        self, media_key: str, variant_key: str, parts: list[Part], source: Source
    ) -> Layout:
        """Measure every part concurrently and return the layout."""
        sizes = [0] * len(parts)
        served = [0] * len(parts)
        errors: list[SegmentError] = []
        positions = {id(part): position for position, part in enumerate(parts)}

        async def keep_body(part: Part, plaintext: Data) -> None:
            # A server that ignored Range sent the whole part.
            position = positions[id(part)]
            self.shared.pool.put(source.pool_key(position), plaintext)
            if self.cache is not None:
                await self.cache.put(source.cache_key(position), plaintext)

        async def measure(position: int, part: Part) -> None:
            try:
                sizes[position], served[position] = await measure_part(
                    part, self.fetcher, self.shared.keys, keep_body
                )
                if position == len(parts) - 1:
                    await source.prefetch_end(
                        self.readahead.end_bytes, sizes[position], served[position]
                    )
            except (Error, CryptoError, PartChanged, OSError) as exc:
                error = SegmentError(
                    f"{media_key}/{variant_key}: cannot measure {part.label} "
                    f"({redact(part.uri)}): {exc}",
                    index=part.index,
                )
                error.__cause__ = exc
                errors.append(error)

        async with trio.open_nursery() as nursery:
            # The last part first, so that its end can be fetched early:
            # the checkpoint lets its probe take a connection slot before
            # the others queue.
            last = len(parts) - 1
            if last >= 0:
                nursery.start_soon(measure, last, parts[last])
                await trio.lowlevel.checkpoint()
            for position, part in enumerate(parts[:last]):
                nursery.start_soon(measure, position, part)
        if errors:
            errors.sort(key=lambda error: error.index)
            raise errors[0]
        layout = Layout(tuple(sizes), tuple(served), source.fingerprint)
        log.info(
            "%s/%s: measured %d parts, %d bytes",
            media_key,
            variant_key,
            len(parts),
            layout.total,
        )
        return layout
