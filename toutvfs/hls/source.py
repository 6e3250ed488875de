"""HLS engine: the shared state of one open variant and its fetch jobs.

Every stream of the same media and variant uses one `Source`, so readers of
the same file share fetches. Each part has at most one job at a time, and a
reader that needs a part being fetched waits for that job. A job runs as a
detached task, so that a reader interrupted by the kernel does not cancel a
fetch that others wait for. A job is cancelled when nobody waits for it and
no stream wants it prefetched any more.

A job looks in the memory pool, then in the disk cache, then fetches. On an
HTTP 403 (a signed URL that expired) it asks for a fresh master URL, checks
that the segment list is the same, and tries again with the new URLs. Every
job ends within `RetryPolicy.part_deadline` seconds with the plaintext or a
`SegmentError` naming the part and the cause. A reader or prefetcher that
comes for a failed part within `RetryPolicy.failure_hold` seconds gets that
error at once instead of a new fetch.

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
from toutvfs.hls.crypto import CryptoError, Data
from toutvfs.hls.fetch import Fetcher
from toutvfs.hls.layout import Layout, fingerprint
from toutvfs.hls.parts import KeyRing, PartChanged, fetch_part, fetch_part_tail
from toutvfs.hls.playlist import Part, redact

log = logging.getLogger(__name__)

# Maximum requests for fresh signed URLs by one job before HTTP 403 fails it.
MAX_REFRESHES = 2

Resolve = Callable[[], Awaitable[str]]
Spawn = Callable[[Callable[[], Awaitable[None]], str], None]
LoadParts = Callable[[str, str], Awaitable[list[Part]]]


@dataclass
class Shared:
    """The fetcher, keys, pool, cache and task spawner of one engine."""

    fetcher: Fetcher
    keys: KeyRing
    pool: BufferPool
    cache: SegmentCache | None
    spawn: Spawn
    load_parts: LoadParts
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
    """One fetch of one part, awaited by readers and wanted by prefetchers."""

    position: int
    done: trio.Event = field(default_factory=trio.Event)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    result: Data | None = None
    error: Exception | None = None
    waiters: int = 0
    wanted: int = 0


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

    async def get(self, position: int) -> Data:
        """Return the whole plaintext of the part at *position*.

        Raises:
            SegmentError: the part could not be fetched or decrypted.
        """
        data = self.buffered(position)
        if data is not None:
            return data
        failure = self.recent_failure(position)
        if failure is not None:
            raise failure
        job = self._start(position)
        job.waiters += 1
        try:
            await job.done.wait()
        finally:
            job.waiters -= 1
            self._cancel_if_unwanted(job)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

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
        """Load the part from the disk cache into memory; return True if found."""
        cache = self.shared.cache
        if cache is None:
            return False
        data = await cache.get(self.cache_key(position), self.layout.sizes[position])
        if data is None:
            return False
        self.shared.pool.put(self.pool_key(position), data)
        return True

    async def get_tail(self, position: int, offset: int) -> tuple[int, Data]:
        """Return (start, plaintext) of the part from near *offset* to its end.

        This serves a seek into the middle of a part that is neither in
        memory nor being fetched: only the ciphertext from the block before
        *offset* is requested. The caller falls back to `get` on
        `PartChanged` (a server that ignores ``Range``).
        """
        failure = self.recent_failure(position)
        if failure is not None:
            raise failure
        part = self.parts[position]
        served = self.layout.cipher_lengths[position]
        deadline = self.shared.fetcher.policy.part_deadline
        try:
            with trio.fail_after(deadline):
                return await fetch_part_tail(
                    part, served, offset, self.shared.fetcher, self.shared.keys
                )
        except PartChanged:
            raise
        except trio.TooSlowError as exc:
            error = self._segment_error(part, f"timed out after {deadline:g} s")
            self._failures[position] = (trio.current_time(), error)
            raise error from exc
        except (Error, CryptoError) as exc:
            error = self._segment_error(part, str(exc))
            self._failures[position] = (trio.current_time(), error)
            raise error from exc

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
        """Cancel every job, for the last close of this source."""
        for job in list(self._jobs.values()):
            job.scope.cancel()
        self._jobs.clear()

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

    async def _run(self, job: Job) -> None:
        part = self.parts[job.position]
        deadline = self.shared.fetcher.policy.part_deadline
        try:
            with job.scope:
                with trio.fail_after(deadline):
                    job.result = await self._load(job.position)
            if job.scope.cancelled_caught:
                job.error = SegmentError(
                    f"{self.name}: the fetch of {part.label} was cancelled",
                    index=part.index,
                )
        except trio.TooSlowError:
            job.error = self._segment_error(part, f"timed out after {deadline:g} s")
        except SegmentError as exc:
            job.error = exc
        except (Error, CryptoError, PartChanged, OSError) as exc:
            job.error = self._segment_error(part, str(exc))
            job.error.__cause__ = exc
        except Exception as exc:  # a detached task must not crash the run
            log.exception("unexpected error fetching %s %s", self.name, part.label)
            job.error = self._segment_error(part, f"internal error: {exc!r}")
        finally:
            if self._jobs.get(job.position) is job:
                del self._jobs[job.position]
            job.done.set()
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

    async def _load(self, position: int) -> Data:
        cache = self.shared.cache
        key = self.cache_key(position)
        if cache is not None and self._layout is not None:
            cached = await cache.get(key, self._layout.sizes[position])
            if cached is not None:
                self.shared.pool.put(self.pool_key(position), cached)
                return cached

        data = await self._fetch(position)
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

    async def _fetch(self, position: int) -> Data:
        layout = self._layout
        served = None if layout is None else layout.cipher_lengths[position]
        for refreshes in range(MAX_REFRESHES + 1):
            generation = self.generation
            part = self.parts[position]
            try:
                return await fetch_part(
                    part, served, self.shared.fetcher, self.shared.keys
                )
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
