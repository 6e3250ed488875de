"""HLS engine: one open file, its reads, read-ahead and pins.

A `Stream` maps a read at a byte offset to parts by bisection over the
cumulative part sizes, fetches the part that covers the offset first, and
then has its `Source` prefetch the next parts as deep as its read
pattern allows. A seek cancels the stream's prefetches; so does `close`.

A read of a part being fetched returns as soon as its own bytes are
decrypted. A read that lands in the middle of a part that is not in memory,
not in the disk cache and not being fetched requests only the rest of that
part with a Range request, so a seek waits neither for the whole part nor
for the rest of it, only for its own bytes.

The parts a stream is reading or prefetching are pinned in the disk cache.

Concurrency: a stream's state changes in the trio thread; reads of one
stream may run concurrently (the kernel sends several), and each read
computes its positions before its first ``await``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from toutvfs.errors import SegmentError, StreamError
from toutvfs.hls.crypto import Data
from toutvfs.hls.parts import PartChanged
from toutvfs.hls.readahead import ReadaheadSettings, ReadPattern
from toutvfs.hls.source import Source, Tail

log = logging.getLogger(__name__)


class Stream:
    """An open media file of exact size.

    Attributes:
        size: the exact file size in bytes.
    """

    def __init__(
        self,
        source: Source,
        settings: ReadaheadSettings,
        release: Callable[[Source], None],
    ) -> None:
        self._source = source
        self._release = release
        self._pattern = ReadPattern(settings)
        self._wanted: set[int] = set()
        self._reading: set[int] = set()
        self._tail: Tail | None = None
        self._current: int | None = None
        self._ranges_ignored = False
        self._closed = False
        self.size = source.layout.total
        # Most readers start at the beginning; a first read elsewhere is a
        # seek, which withdraws this prefetch.
        first = source.first_segment
        if first < len(source.layout.sizes) and source.want(first):
            self._wanted.add(first)
            source.pins[first] += 1

    @property
    def seeks(self) -> int:
        """Number of reads that were not sequential."""
        return self._pattern.seeks

    async def read(self, offset: int, size: int) -> bytes:
        """Return *size* bytes from *offset*, fewer only at the end of the file.

        Raises:
            SegmentError: a part could not be fetched or decrypted.
            StreamError: the stream is closed.
            ValueError: *offset* or *size* is negative.
        """
        if self._closed:
            raise StreamError(f"{self._source.name}: read on a closed stream")
        if offset < 0 or size < 0:
            raise ValueError(f"invalid read of {size} bytes at offset {offset}")
        end = min(offset + size, self.size)
        if offset >= end:
            return b""

        layout = self._source.layout
        now = trio.current_time()
        first = layout.locate(offset)
        if self._pattern.observe(offset, end, now):
            self._drop_wants()
            if not self._in_tail(first, offset - layout.starts[first], 0):
                self._drop_tail()
        last = layout.locate(end - 1)
        positions = range(first, last + 1)
        self._pin(positions)
        try:
            chunks = []
            for position in positions:
                start = layout.starts[position]
                low = max(offset, start) - start
                high = min(end, layout.starts[position + 1]) - start
                chunk = await self._slice(position, low, high)
                if len(chunk) != high - low:
                    # The kernel would fill a short read with zeros.
                    part = self._source.parts[position]
                    raise SegmentError(
                        f"{self._source.name}: {part.label} gave {len(chunk)} "
                        f"bytes at {low}, expected {high - low}",
                        index=part.index,
                    )
                chunks.append(chunk)
        finally:
            self._unpin(positions)
        if not self._closed:
            self._schedule(last, now)
        return b"".join(chunks)

    def read_buffered(self, offset: int, size: int) -> memoryview | None:
        """Return *size* bytes from *offset* without copying, if they are in memory.

        This serves the common read of a sequential reader without an
        ``await``: the bytes lie in one part and that part is in the memory
        pool. The read counts for the read pattern and read-ahead as in
        `read`. The view shares the part's buffer, which nothing changes
        once it is in the pool.

        Returns None, having recorded nothing, when `read` must serve the
        request: the stream is closed, the range is empty or invalid,
        crosses a part boundary, or its part is not in memory or is short.
        """
        if self._closed or offset < 0 or size <= 0:
            return None
        end = min(offset + size, self.size)
        if offset >= end:
            return None
        layout = self._source.layout
        position = layout.locate(offset)
        start = layout.starts[position]
        if end > layout.starts[position + 1]:
            return None
        data = self._source.buffered(position)
        if data is None or len(data) < end - start:
            return None

        now = trio.current_time()
        if self._pattern.observe(offset, end, now):
            self._drop_wants()
            if not self._in_tail(position, offset - start, 0):
                self._drop_tail()
        self._schedule(position, now)
        return memoryview(data)[offset - start : end - start]

    async def _slice(self, position: int, low: int, high: int) -> Data:
        """Return plaintext bytes *low* to *high* of the part at *position*."""
        source = self._source
        data = source.buffered(position)
        if data is not None:
            return data[low:high]

        for tail in (source.end_tail, self._tail):
            if tail is not None and _covers(tail, position, low, high):
                data = await self._read_tail(tail, low, high)
                if data is not None:
                    return data

        if (
            low >= self._pattern.settings.range_fetch_offset
            and not self._ranges_ignored
            and not source.is_pending(position)
            and not await source.in_cache(position)
        ):
            self._drop_tail()
            tail = source.start_tail(position, low)
            self._tail = tail
            data = await self._read_tail(tail, low, high)
            if data is not None:
                return data

        # The stream wants the part it reads, so a read that returns before
        # the part is whole leaves its fetch running until the stream seeks,
        # moves past the part or closes.
        if position not in self._wanted and source.want(position):
            self._wanted.add(position)
            source.pins[position] += 1
        return await source.read(position, low, high)

    def _in_tail(self, position: int, low: int, high: int) -> bool:
        """Return True if the stream's tail covers bytes *low* to *high* of the part."""
        return self._tail is not None and _covers(self._tail, position, low, high)

    async def _read_tail(self, tail: Tail, low: int, high: int) -> Data | None:
        """Return bytes of the tail, or None when the server ignores ``Range``."""
        try:
            return await tail.read(low, high)
        except PartChanged:
            log.info("%s: the server ignores Range requests", self._source.name)
            self._ranges_ignored = True
            if self._tail is tail:
                self._tail = None
            if self._source.end_tail is tail:
                self._source.end_tail = None
            return None

    def _drop_tail(self) -> None:
        if self._tail is not None:
            self._tail.drop()
            self._tail = None

    def _schedule(self, last: int, now: float) -> None:
        """Prefetch the parts after *last* to the depth of the read pattern."""
        source = self._source
        layout = source.layout
        count = len(layout.sizes)
        if self._current != last:
            if self._current is not None:
                source.pins[self._current] -= 1
            source.pins[last] += 1
            self._current = last
        if last > 0:
            source.shared.pool.demote(source.pool_key(last - 1))
        if self._tail is not None and self._tail.position < last:
            self._drop_tail()

        for position in [p for p in self._wanted if p < last]:
            self._wanted.discard(position)
            source.unwant(position)
            source.pins[position] -= 1

        mean_size = layout.total / max(count, 1)
        depth = self._pattern.depth(mean_size, now)
        for position in range(last + 1, min(count, last + 1 + depth)):
            if position in self._wanted:
                continue
            if source.buffered(position) is None and not source.is_pending(position):
                if not source.shared.pool.has_room(layout.sizes[position]):
                    break
            if source.want(position):
                self._wanted.add(position)
                source.pins[position] += 1
        for position in [p for p in self._wanted if p >= last + 1 + depth]:
            self._wanted.discard(position)
            source.unwant(position)
            source.pins[position] -= 1

    def _drop_wants(self) -> None:
        """Withdraw every prefetch of this stream."""
        for position in self._wanted:
            self._source.unwant(position)
            self._source.pins[position] -= 1
        self._wanted.clear()

    def _pin(self, positions: range) -> None:
        for position in positions:
            self._source.pins[position] += 1

    def _unpin(self, positions: range) -> None:
        for position in positions:
            self._source.pins[position] -= 1

    async def close(self) -> None:
        """Cancel this stream's prefetches and release its source."""
        if self._closed:
            return
        self._closed = True
        self._drop_wants()
        self._drop_tail()
        if self._current is not None:
            self._source.pins[self._current] -= 1
            self._current = None
        self._release(self._source)


def _covers(tail: Tail, position: int, low: int, high: int) -> bool:
    """Return True if *tail* serves bytes *low* to *high* of the part at *position*."""
    if tail.position != position or tail.start > low:
        return False
    return tail.error is None or tail.progress.end >= high
