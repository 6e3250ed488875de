"""Client layer: one request for concurrent callers of the same resource.

The first caller of a key runs the coroutine. Callers that arrive while it
runs wait for its outcome and get the same value or the same exception. When
the running caller is cancelled, the waiters are not cancelled, and the next
of them runs the coroutine itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar, cast

import trio

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "finished", "value", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.finished = False
        self.value: T | None = None
        self.error: Exception | None = None


class RequestSharing(Generic[T]):
    """A table of requests in flight, keyed by what they fetch."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}

    @property
    def in_flight(self) -> int:
        """The number of keys whose coroutine is running."""
        return len(self._flights)

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        """Return the result of *fetch*, shared with concurrent callers of *key*."""
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, fetch)
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.finished:
                return cast(T, flight.value)
            # The leader was cancelled before it finished: try again.

    async def _lead(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        flight: _Flight[T] = _Flight()
        self._flights[key] = flight
        try:
            flight.value = await fetch()
            flight.finished = True
            return flight.value
        except Exception as exc:
            # Cancellation and other BaseExceptions are not shared.
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()
