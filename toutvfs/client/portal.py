"""Client layer: a trio event loop in a background thread for synchronous code.

The synchronous facade keeps one `httpx.AsyncClient` and one `Session` alive
across calls, so they must live in one event loop. `LoopThread` runs that
loop in a daemon thread and runs coroutines in it on behalf of the calling
thread, re-raising their exceptions there.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

T = TypeVar("T")

# Seconds `close` waits for the loop thread to end.
CLOSE_TIMEOUT = 10.0


class LoopThread:
    """A running trio loop that synchronous callers submit coroutines to."""

    def __init__(self, name: str = "toutvfs-client") -> None:
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        trio.run(self._serve)

    async def _serve(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        self._ready.set()
        await self._stop.wait()

    @property
    def running(self) -> bool:
        """Whether the loop still accepts coroutines."""
        return (
            self._thread.is_alive()
            and self._stop is not None
            and not self._stop.is_set()
        )

    def run(self, function: Callable[..., Awaitable[T]], *args: object) -> T:
        """Run ``function(*args)`` in the loop and return its result.

        Raises:
            RuntimeError: the loop was closed.
        """
        if not self.running:
            raise RuntimeError("the client's event loop is closed")
        return trio.from_thread.run(function, *args, trio_token=self._token)

    def close(self) -> None:
        """Stop the loop and wait for its thread; closing twice is allowed."""
        if self.running:
            assert self._stop is not None
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(CLOSE_TIMEOUT)
