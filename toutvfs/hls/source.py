"""HLS engine: the shared state of one open variant and its fetch jobs.

Every stream of the same media and variant uses one `Source`, so readers of
the same file share fetches. Each part has at most one job at a time, and a
reader that needs a part being fetched waits for its bytes from that job,
which decrypts the part as it arrives. A job runs as a
detached task, so that a reader interrupted by the kernel does not cancel a
fetch that others wait for. A job is cancelled when nobody waits for it and
no stream wants it prefetched any more.

A job looks in the memory pool, then in the disk cache, then fetches. On an
HTTP 403 (a signed URL that expired) a job or a tail asks for a fresh master
URL, checks that the segment list is the same, and tries again with the new
URLs. Every job ends within `RetryPolicy.part_deadline` seconds with the
plaintext or a `SegmentError` naming the part and the cause. A reader or
prefetcher that comes for a failed part within `RetryPolicy.failure_hold`
seconds gets that error at once instead of a new fetch.

Concurrency: all state here changes in the trio thread. `Source.parts` is
replaced whole by `Source.refresh`, never edited in place, so a job that
read it before an ``await`` still holds a consistent list.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from toutvfs.errors import (
    Error,
    PlaylistError,
    SegmentError,
    UnexpectedHttpStatusCode,
)
from toutvfs.hls.buffers import BufferPool
from toutvfs.hls.cache import CacheKey, SegmentCache
from toutvfs.hls.crypto import BLOCK, CryptoError, Data
from toutvfs.hls.download import PartDownload, Progress
from toutvfs.hls.fetch import Fetcher
from toutvfs.hls.layout import Layout, fingerprint
from toutvfs.hls.parts import KeyRing, PartChanged
from toutvfs.hls.pieces import fetch_part
from toutvfs.hls.playlist import Part, redact
from toutvfs.hls.readahead import ReadaheadSettings

log = logging.getLogger(__name__)

# Maximum requests for fresh signed URLs by one job before HTTP 403 fails it.
MAX_REFRESHES = 2

Resolve = Callable[[], Awaitable[str]]
Spawn = Callable[[Callable[[], Awaitable[None]], str], None]
LoadParts = Callable[[str, str], Awaitable[list[Part]]]


@dataclass
class Shared:
    """The fetcher, keys, pool, cache, settings and task spawner of one engine."""

    fetcher: Fetcher
    keys: KeyRing
    pool: BufferPool
    cache: SegmentCache | None
    spawn: Spawn
    load_parts: LoadParts
    readahead: ReadaheadSettings = field(default_factory=ReadaheadSettings)
    active_jobs: int = 0
    idle: trio.Event = field(default_factory=trio.Event)

    def job_started(self) -> None:
        self.active_jobs += 1

    def job_finished(self) -> None:
        self.active_jobs -= 1
        if self.active_jobs == 0:
            self.idle.set()
            self.idle = trio.Event()


@dataclass(eq=False)
class Job:
    """One fetch of one part, awaited by readers and wanted by prefetchers.

    Readers take bytes from *progress* while the part downloads, and from
    *result* once the whole part is checked.
    """

    position: int
    done: trio.Event = field(default_factory=trio.Event)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    progress: Progress = field(default_factory=Progress)
    result: Data | None = None
    error: Exception | None = None
    waiters: int = 0
    wanted: int = 0


@dataclass(eq=False)
class Tail:
    """A fetch of one part from a block near a seek's offset to the part's end.

    A seek's tail belongs to the stream that started it, which drops it when
    it leaves the part; the end's tail (`Source.prefetch_end`) belongs to
    the source, which drops it at its last close. A tail is cancelled once
    dropped and no read waits for it.
    *error* is a `SegmentError`, or `PartChanged` when the server ignored
    ``Range``.
    """

    position: int
    size: int
    progress: Progress
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    error: Exception | None = None
    readers: int = 0
    dropped: bool = False

    @property
    def start(self) -> int:
        """The part's plaintext offset where the tail starts."""
        return self.progress.start

    async def read(self, low: int, high: int) -> bytes:
        """Return the part's plaintext bytes *low* to *high* once they are in.

        A read up to the part's end (*size*) waits for the padding check.

        Raises:
            SegmentError, PartChanged: the fetch failed before *high*, or
                the read reaches the part's end and the fetch failed.
        """
        whole = high >= self.size
        self.readers += 1
        try:
            await self.progress.wait_for(self.size + 1 if whole else high)
        finally:
            self.readers -= 1
            if self.dropped and self.readers == 0:
                self.scope.cancel()
        if self.progress.end >= high and (self.error is None or not whole):
            return self.progress.slice(low, high)
        assert self.error is not None
        raise self.error

    def drop(self) -> None:
        """Cancel the fetch now, or when the last read waiting for it ends."""
        self.dropped = True
        if self.readers == 0:
            self.scope.cancel()


class Source:
    """Parts, layout and fetch jobs of one media and variant.

    A source may start without its layout, so that the first segment's
    fetch runs while the other parts are measured; such a job waits for
    `set_layout` before it checks its size. Streams see only sources with
    a layout.
    """

    def __init__(
        self,
        shared: Shared,
        media_key: str,
        variant_key: str,
        resolve: Resolve,
        parts: list[Part],
        layout: Layout | None = None,
    ) -> None:
        self.shared = shared
        self.media_key = media_key
        self.variant_key = variant_key
        self.resolve = resolve
        self.parts = parts
        self.fingerprint = fingerprint(parts)
        self._layout = layout
        self._layout_ready = trio.Event()
        if layout is not None:
            self.set_layout(layout)
        self.generation = 0
        # True while the source itself wants its first segment, during open.
        self.holds_first = False
        # The end of the last part, fetched at open for players (see
        # `prefetch_end`); streams read from it, and the last close drops it.
        self.end_tail: Tail | None = None
        self.streams = 0
        self.pins: Counter[int] = Counter()
        self._jobs: dict[int, Job] = {}
        # Position -> (trio time of the failure, error) of recent failures.
        self._failures: dict[int, tuple[float, SegmentError]] = {}
        self._refresh_lock = trio.Lock()

    @property
    def name(self) -> str:
        return f"{self.media_key}/{self.variant_key}"

    @property
    def layout(self) -> Layout:
        """The sizes of the parts; only sources with a layout reach streams."""
        assert self._layout is not None, "the layout is not measured yet"
        return self._layout

    def set_layout(self, layout: Layout) -> None:
        """Record the measured layout and release jobs waiting for it."""
        if layout.fingerprint != self.fingerprint:
            raise ValueError("the layout describes another segment list")
        self._layout = layout
        self._layout_ready.set()

    @property
    def first_segment(self) -> int:
        """Position of the first segment, after any init section."""
        for position, part in enumerate(self.parts):
            if part.kind == "segment":
                return position
        return 0

    def cache_key(self, position: int) -> CacheKey:
        return CacheKey(self.media_key, self.variant_key, self.fingerprint, position)

    def pool_key(self, position: int) -> tuple[str, str, int]:
        return (self.media_key, self.variant_key, position)

    def buffered(self, position: int) -> Data | None:
        """Return the part's plaintext if it is in memory, without waiting."""
        return self.shared.pool.get(self.pool_key(position))

    def is_pending(self, position: int) -> bool:
        """Return True if the part is in memory or being fetched."""
        return position in self._jobs or self.buffered(position) is not None

    async def read(self, position: int, low: int, high: int) -> Data:
        """Return plaintext bytes *low* to *high* of the part at *position*.

        A part being fetched serves bytes below its end as soon as they are
        decrypted, before the rest of the part arrives.

        Raises:
            SegmentError: the part could not be fetched or decrypted before
                *high*.
        """
        data = self.buffered(position)
        if data is not None:
            return data[low:high]
        failure = self.recent_failure(position)
        if failure is not None:
            raise failure
        # A read up to the part's end waits for the checks of the whole part
        # (its length and padding) and for its place in the caches.
        whole = high >= self.layout.sizes[position]
        job = self._start(position)
        job.waiters += 1
        try:
            if whole:
                await job.done.wait()
            else:
                await job.progress.wait_for(high)
        finally:
            job.waiters -= 1
            self._cancel_if_unwanted(job)
        if job.result is not None:
            return job.result[low:high]
        if not whole and job.progress.end >= high:
            return job.progress.slice(low, high)
        assert job.error is not None
        raise job.error

    def recent_failure(self, position: int) -> SegmentError | None:
        """Return the error of the part's last fetch if it failed lately."""
        entry = self._failures.get(position)
        if entry is None:
            return None
        failed_at, error = entry
        if trio.current_time() - failed_at >= self.shared.fetcher.policy.failure_hold:
            del self._failures[position]
            return None
        return error

    async def in_cache(self, position: int) -> bool:
        """Return True if the disk cache has an entry for the part.

        The entry is neither read nor checked here: the part's job does
        that, so concurrent readers and read-ahead load it once.
        """
        cache = self.shared.cache
        if cache is None:
            return False
        return await cache.contains(self.cache_key(position))

    async def prefetch_end(self, nbytes: int, size: int, served: int) -> None:
        """Start fetching the last *nbytes* of the last part, ahead of need.

        A player of MPEG-TS reads the end of the file just after it opens
        it, to find the duration. The engine calls this as soon as the last
        part is measured (its plaintext *size* and *served* ciphertext
        length), so the fetch runs while the other parts are measured.
        A part no longer than *nbytes* is fetched whole, as a prefetch that
        lasts until the source's last close. Nothing starts when *nbytes* is
        0, or when the part is in memory, being fetched, failed lately or is
        in the disk cache.
        """
        position = len(self.parts) - 1
        if nbytes <= 0 or position < 0 or self.end_tail is not None:
            return
        if self.is_pending(position) or self.recent_failure(position) is not None:
            return
        try:
            if await self.in_cache(position):
                return
        except OSError as exc:
            # Only a guess at what a player reads first: open goes on without it.
            log.warning("%s: not fetching the end early: %s", self.name, exc)
            return
        if size <= nbytes:
            # The whole part is wanted: fetched once, and cached for good.
            self.want(position)
            return
        start = (size - nbytes) // BLOCK * BLOCK
        self.end_tail = self._spawn_tail(position, start, size, served)

    def start_tail(self, position: int, offset: int) -> Tail:
        """Start fetching the part at *position* from the block of *offset*.

        This serves a seek into the middle of a part that is neither in
        memory nor being fetched: only the ciphertext from the block before
        *offset* is requested, and reads of the returned `Tail` get their
        bytes as they arrive. A reader falls back to `read` when the tail
        fails with `PartChanged` (a server that ignores ``Range``).

        Raises:
            SegmentError: the part failed within the last
                `RetryPolicy.failure_hold` seconds.
        """
        failure = self.recent_failure(position)
        if failure is not None:
            raise failure
        layout = self.layout
        return self._spawn_tail(
            position,
            (offset // BLOCK) * BLOCK,
            layout.sizes[position],
            layout.cipher_lengths[position],
        )

    def _spawn_tail(self, position: int, start: int, size: int, served: int) -> Tail:
        tail = Tail(position, size, Progress(start))
        self.shared.job_started()
        self.shared.spawn(
            lambda: self._run_tail(tail, served),
            f"fetch {self.name} part {position} tail",
        )
        return tail

    async def _run_tail(self, tail: Tail, served: int) -> None:
        position = tail.position
        part = self.parts[position]
        download = PartDownload(part, served, tail.progress, self.shared.keys)
        try:
            _, tail.error = await self._guarded(
                part,
                tail.scope,
                lambda: self._download(position, download),
                keep=(PartChanged,),
            )
        finally:
            tail.progress.finish()
            self.shared.job_finished()
        # The end's tail is fetched before any reader requests it, so its
        # failure does not make later reads of the part fail at once.
        if (
            isinstance(tail.error, SegmentError)
            and not tail.scope.cancel_called
            and tail is not self.end_tail
        ):
            self._failures[position] = (trio.current_time(), tail.error)

    def want(self, position: int) -> bool:
        """Start fetching a part ahead of need, or join its running fetch.

        Returns False, and records nothing, if the part is in memory already.
        """
        if self.buffered(position) is not None:
            return False
        if self.recent_failure(position) is not None:
            return False
        job = self._start(position)
        job.wanted += 1
        return True

    def unwant(self, position: int) -> None:
        """Withdraw one `want`, and cancel the job if no reader needs it."""
        job = self._jobs.get(position)
        if job is not None and job.wanted > 0:
            job.wanted -= 1
            self._cancel_if_unwanted(job)

    def cancel_all(self) -> None:
        """Cancel every job and the end's fetch, for the last close of this source."""
        for job in list(self._jobs.values()):
            job.scope.cancel()
        self._jobs.clear()
        if self.end_tail is not None:
            self.end_tail.drop()
            self.end_tail = None

    def _cancel_if_unwanted(self, job: Job) -> None:
        if job.waiters == 0 and job.wanted == 0 and not job.done.is_set():
            job.scope.cancel()
            if self._jobs.get(job.position) is job:
                del self._jobs[job.position]

    def _start(self, position: int) -> Job:
        job = self._jobs.get(position)
        if job is None:
            job = Job(position)
            self._jobs[position] = job
            self.shared.job_started()
            self.shared.spawn(
                lambda: self._run(job), f"fetch {self.name} part {position}"
            )
        return job

    async def _guarded(
        self,
        part: Part,
        scope: trio.CancelScope,
        load: Callable[[], Awaitable[Data]],
        keep: tuple[type[Exception], ...] = (),
    ) -> tuple[Data | None, Exception | None]:
        """Run *load* within *scope* and the part deadline, and return (data, error).

        Every error becomes a `SegmentError` naming the part, except those
        of the types in *keep*, which are returned as they are.
        """
        deadline = self.shared.fetcher.policy.part_deadline
        try:
            with scope:
                with trio.fail_after(deadline):
                    return await load(), None
            cancelled = SegmentError(
                f"{self.name}: the fetch of {part.label} was cancelled",
                index=part.index,
            )
            return None, cancelled
        except keep as exc:
            return None, exc
        except trio.TooSlowError:
            return None, self._segment_error(part, f"timed out after {deadline:g} s")
        except SegmentError as exc:
            return None, exc
        except (Error, CryptoError, PartChanged, OSError) as exc:
            error = self._segment_error(part, str(exc))
            error.__cause__ = exc
            return None, error
        except Exception as exc:  # a detached task must not crash the run
            log.exception("unexpected error fetching %s %s", self.name, part.label)
            return None, self._segment_error(part, f"internal error: {exc!r}")

    async def _run(self, job: Job) -> None:
        part = self.parts[job.position]
        try:
            job.result, job.error = await self._guarded(
                part, job.scope, lambda: self._load(job.position, job.progress)
            )
        finally:
            if self._jobs.get(job.position) is job:
                del self._jobs[job.position]
            job.done.set()
            job.progress.finish()
            self.shared.job_finished()
        if isinstance(job.error, SegmentError) and not job.scope.cancel_called:
            self._failures[job.position] = (trio.current_time(), job.error)
        elif job.error is None:
            self._failures.pop(job.position, None)
        # A reader that waits gets the error and reports it; a failed
        # prefetch is only retried by the next reader of that part.
        if job.error is not None and not job.waiters and not job.scope.cancel_called:
            log.info("prefetch failed: %s", job.error)

    def _segment_error(self, part: Part, cause: str) -> SegmentError:
        return SegmentError(
            f"{self.name}: cannot read {part.label} ({redact(part.uri)}): {cause}",
            index=part.index,
        )

    async def _load(self, position: int, progress: Progress) -> Data:
        cache = self.shared.cache
        key = self.cache_key(position)
        if cache is not None and self._layout is not None:
            cached = await cache.get(key, self._layout.sizes[position])
            if cached is not None:
                self.shared.pool.put(self.pool_key(position), cached)
                return cached

        data = await self._fetch(position, progress)
        await self._layout_ready.wait()
        size = self.layout.sizes[position]
        if len(data) != size:
            raise PartChanged(
                f"the plaintext is {len(data)} bytes long, "
                f"but the layout records {size}"
            )
        self.shared.pool.put(self.pool_key(position), data)
        if cache is not None:
            # Readers may already use the data from the pool and close the
            # stream, which cancels this job; the local write still finishes.
            with trio.CancelScope(shield=True):
                await cache.put(key, data)
        return data

    async def _fetch(self, position: int, progress: Progress) -> Data:
        layout = self._layout
        served = None if layout is None else layout.cipher_lengths[position]
        part = self.parts[position]
        keys = self.shared.keys
        if position != self.first_segment:
            download = PartDownload(part, served, progress, keys)
            return await self._download(position, download)
        # A player's first reads are in the first segment, so it comes over
        # several connections at once, each shaped to its own rate.
        settings = self.shared.readahead
        return await fetch_part(
            part,
            served,
            progress,
            keys,
            lambda download: self._download(position, download),
            settings.first_segment_pieces,
            settings.piece_size,
        )

    async def _download(self, position: int, download: PartDownload) -> Data:
        """Run *download* of the part at *position*, re-signing its URL on HTTP 403.

        After a 403, `refresh` replaces the URLs and the download resumes
        where it stopped, at most `MAX_REFRESHES` times.

        Raises:
            UnexpectedHttpStatusCode: a status other than 403, or 403 again
                after the last refresh.
            PlaylistError: the fresh playlist lists other segments.
        """
        for refreshes in range(MAX_REFRESHES + 1):
            generation = self.generation
            part = self.parts[position]
            try:
                return await download.run(self.shared.fetcher, part)
            except UnexpectedHttpStatusCode as exc:
                if exc.status_code != 403 or refreshes == MAX_REFRESHES:
                    raise
                log.info(
                    "%s: HTTP 403 on %s, asking for fresh signed URLs",
                    self.name,
                    part.label,
                )
                await self.refresh(generation)
        raise AssertionError("unreachable")

    async def refresh(self, generation: int) -> None:
        """Replace the part URLs with freshly signed ones.

        Nothing happens if another job refreshed since *generation*.

        Raises:
            PlaylistError: the new playlist lists other segments.
        """
        async with self._refresh_lock:
            if self.generation != generation:
                return
            master_url = await self.resolve()
            parts = await self.shared.load_parts(master_url, self.variant_key)
            if fingerprint(parts) != self.fingerprint:
                raise PlaylistError(
                    f"{self.name}: the segment list changed when the URLs "
                    "were signed again"
                )
            self.parts = parts
            self.generation += 1
            log.info("%s: signed URLs refreshed", self.name)
