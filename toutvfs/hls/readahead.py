"""HLS engine: how far ahead a stream prefetches, from its read pattern.

A stream reads sequentially while each read starts near where the previous
one ended. The kernel may reorder or overlap its readahead requests a
little, so a small window around the expected offset still counts. Any
other read is a seek, which ends the run and cancels the stream's
prefetches.

During a run the depth is the number of parts that cover
`ReadaheadSettings.lookahead_seconds` of reading at the rate measured over
the last `ReadaheadSettings.rate_window` seconds, between 1 and
`ReadaheadSettings.max_parts`. A player reading at the media bit rate thus
keeps one or two parts ahead, and ``cat`` keeps the maximum.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ReadaheadSettings:
    """Tunables of read-ahead.

    Attributes:
        max_parts: maximum parts fetched ahead of one stream.
        lookahead_seconds: seconds of reading at the measured rate that the
            prefetched parts should cover.
        rate_window: seconds of recent reads used to measure the rate.
        backward_slack, forward_slack: bytes before and after the expected
            offset at which a read still counts as sequential.
        range_fetch_offset: a read this many bytes or more into a part that
            is not in memory, in the disk cache or being fetched requests
            only the rest of the part. Nearer its start, the whole part is
            fetched and cached.
        end_bytes: bytes at the end of the file fetched at open, beside the
            first segment, because players of MPEG-TS read the end first
            to find the duration (libavformat reads the last 250,000
            bytes). Only the last part's end is fetched; 0 turns it off.
        first_segment_pieces: maximum concurrent ranged requests (pieces)
            that fetch a source's first segment, which a player needs
            before its first frame; 1 fetches it in one request.
        piece_size: ciphertext bytes of a first segment's first piece,
            rounded down to 16. A first segment known to be shorter than
            two pieces is fetched in one request.
    """

    max_parts: int = 8
    lookahead_seconds: float = 8.0
    rate_window: float = 3.0
    backward_slack: int = 256 * 1024
    forward_slack: int = 1024 * 1024
    range_fetch_offset: int = 256 * 1024
    end_bytes: int = 256 * 1024
    first_segment_pieces: int = 4
    piece_size: int = 512 * 1024


class ReadPattern:
    """The sequential run and read rate of one stream."""

    def __init__(self, settings: ReadaheadSettings) -> None:
        self.settings = settings
        self._expected: int | None = None
        self._reads: deque[tuple[float, int]] = deque()
        # Sum of the sizes in `_reads`, kept with it so `rate` costs O(1)
        # when a fast reader has thousands of reads in the window.
        self._window_bytes = 0
        self.seeks = 0

    def observe(self, offset: int, end: int, now: float) -> bool:
        """Record a read of bytes *offset* to *end*; return True for a seek."""
        settings = self.settings
        expected = self._expected
        seek = expected is not None and not (
            expected - settings.backward_slack
            <= offset
            <= expected + settings.forward_slack
        )
        if expected is None and offset != 0:
            seek = True
        if seek:
            self.seeks += 1
            self._reads.clear()
            self._window_bytes = 0
        self._expected = max(end, expected or 0) if not seek else end
        self._reads.append((now, end - offset))
        self._window_bytes += end - offset
        while self._reads and now - self._reads[0][0] > settings.rate_window:
            _, size = self._reads.popleft()
            self._window_bytes -= size
        return seek

    def rate(self, now: float) -> float:
        """Return the recent read rate in bytes per second."""
        if not self._reads:
            return 0.0
        elapsed = max(now - self._reads[0][0], 0.05)
        return self._window_bytes / elapsed

    def depth(self, part_size: float, now: float) -> int:
        """Return how many parts to keep fetched ahead of the reader."""
        if len(self._reads) < 2 or part_size <= 0:
            return 1
        wanted = self.rate(now) * self.settings.lookahead_seconds / part_size
        return max(1, min(self.settings.max_parts, math.ceil(wanted)))
