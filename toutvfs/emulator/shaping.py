"""Emulator layer: network shaping (added latency and bandwidth caps).

Shaping entries come from the command line (for every request) and from the
catalogue file (per endpoint or per media id). The latency of every matching
entry adds up; the bandwidth cap is the lowest of the matching ones.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from toutvfs.emulator.faults import ENDPOINTS

# Bytes sent per write when a bandwidth cap applies.
PACED_CHUNK = 16 * 1024


@dataclass(frozen=True)
class Shaping:
    """Latency and bandwidth for the requests it matches.

    Attributes:
        endpoint: an endpoint name (see `toutvfs.emulator.faults.ENDPOINTS`)
            or ``*`` for any.
        id_media: when set, only requests about this media id match.
        latency: seconds added before the response's headers.
        rate: bandwidth cap in bytes per second per connection, or None.
    """

    endpoint: str = "*"
    id_media: int | None = None
    latency: float = 0.0
    rate: int | None = None

    def __post_init__(self) -> None:
        if self.endpoint != "*" and self.endpoint not in ENDPOINTS:
            raise ValueError(f"invalid shaping endpoint {self.endpoint!r}")
        if self.latency < 0:
            raise ValueError(f"invalid latency {self.latency}: must be >= 0")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"invalid rate {self.rate}: must be > 0 bytes/s")

    def matches(self, endpoint: str, id_media: int | None) -> bool:
        """Return whether a request to *endpoint* about *id_media* matches."""
        if self.endpoint not in ("*", endpoint):
            return False
        return self.id_media is None or self.id_media == id_media


def combine(
    entries: list[Shaping], endpoint: str, id_media: int | None
) -> tuple[float, int | None]:
    """Return the (latency, rate) that apply to one request."""
    latency = 0.0
    rate: int | None = None
    for entry in entries:
        if entry.matches(endpoint, id_media):
            latency += entry.latency
            if entry.rate is not None:
                rate = entry.rate if rate is None else min(rate, entry.rate)
    return latency, rate


class Pacer:
    """Paces the writes of one connection to a bandwidth cap.

    The budget carries over between the responses of a keep-alive
    connection, so a cap holds for the connection as a whole.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._start = time.monotonic()
        self._sent = 0

    def wait_for(self, size: int, rate: int) -> bool:
        """Sleep until *size* more bytes fit under *rate*; False if stopping."""
        now = time.monotonic()
        earliest = self._start + (self._sent + size) / rate
        if now - earliest > 1.0:
            # Idle time does not build up a burst of more than a second.
            self._start = now - self._sent / rate - 1.0
            earliest = self._start + (self._sent + size) / rate
        self._sent += size
        delay = earliest - now
        if delay > 0:
            return not self._stop.wait(delay)
        return not self._stop.is_set()
