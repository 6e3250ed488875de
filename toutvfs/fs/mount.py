"""Running a mount: the FUSE main loop, signals and a clean unmount.

SIGINT or SIGTERM stops the main loop, makes waiting reads fail with EIO and
unmounts; if the loop has not ended `STOP_GRACE` seconds later, it is
cancelled. A second signal exits the process at once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pyfuse3
import trio

from toutvfs.fs.operations import MAX_WORKERS, Operations

log = logging.getLogger(__name__)

# Seconds between a stop signal and cancelling the handlers still running.
STOP_GRACE = 2.0

# Exit status of a process stopped by a second signal.
EXIT_FORCED = 130

Lifespan = Callable[[], AbstractAsyncContextManager[object]]


def fuse_options(*, extra: tuple[str, ...] = (), debug: bool = False) -> set[str]:
    """Return the mount options of a toutvfs mount."""
    options = {"fsname=toutvfs", "subtype=toutvfs", "ro", "default_permissions"}
    options.update(extra)
    if debug:
        options.add("debug")
    return options


def run(
    operations: Operations,
    mountpoint: str,
    options: set[str],
    lifespan: Lifespan,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Mount *operations* at *mountpoint* and serve until unmounted or signalled.

    *lifespan* is entered inside the event loop before serving and left after
    the main loop ends; it owns the network clients. *on_ready* runs once the
    mount answers requests.
    """
    pyfuse3.init(operations, mountpoint, options)
    log.info("mounted at %s", mountpoint)
    unmounted = False
    try:
        trio.run(_serve, operations, lifespan, on_ready)
        unmounted = True
    finally:
        pyfuse3.close(unmount=True)
        if unmounted:
            log.info("unmounted %s", mountpoint)


async def _serve(
    operations: Operations,
    lifespan: Lifespan,
    on_ready: Callable[[], None] | None,
) -> None:
    async with lifespan():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on_signal, operations, nursery.cancel_scope)
            if on_ready is not None:
                on_ready()
            await pyfuse3.main(max_tasks=MAX_WORKERS)
            nursery.cancel_scope.cancel()


async def _stop_on_signal(operations: Operations, scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s, unmounting", signal.Signals(signum).name)
            pyfuse3.terminate()
            operations.cancel_reads()
            break
        with trio.move_on_after(STOP_GRACE):
            async for signum in signals:
                log.warning("received %s again, exiting", signal.Signals(signum).name)
                pyfuse3.close(unmount=True)
                os._exit(EXIT_FORCED)
        log.warning("requests still running after %.0f s; cancelling", STOP_GRACE)
        scope.cancel()
