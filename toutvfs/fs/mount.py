"""Running a mount: the FUSE main loop, readiness, signals and a clean unmount.

SIGINT or SIGTERM stops the main loop, makes waiting reads fail with EIO and
unmounts; if the loop has not ended `STOP_GRACE` seconds later, it is
cancelled. A second signal unmounts and exits the process at once with
status `EXIT_FORCED`.

Signals that arrive while the mount starts are not lost: `StartupSignals`
catches them from the moment the command line calls `StartupSignals.install`.
Before the kernel mount exists, a signal raises `StartupInterrupted` where
the process is; after it, the main loop sees the signal as soon as it runs
and unmounts at once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import FrameType

import pyfuse3
import trio

from toutvfs.fs.operations import MAX_WORKERS, Operations

log = logging.getLogger(__name__)

# Seconds between a stop signal and cancelling the handlers still running.
STOP_GRACE = 2.0

# Seconds allowed, after a stop signal, for failed reads to send their
# replies before the main loop ends, and the poll interval while waiting.
REPLY_GRACE = 0.5
REPLY_POLL = 0.01

# Exit status of a process stopped by a second signal.
EXIT_FORCED = 130

# Seconds allowed for the probe that checks the mount answers.
READY_PROBE_TIMEOUT = 30.0

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Lifespan = Callable[[], AbstractAsyncContextManager[object]]


class StartupInterrupted(BaseException):
    """A stop signal arrived before the filesystem was mounted.

    Attributes:
        signum: the signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} while starting")
        self.signum = signum


class StartupSignals:
    """Catches SIGINT and SIGTERM between start-up and the main loop."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.mounted = False

    def install(self) -> None:
        """Handle SIGINT and SIGTERM with `handle` from now on."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Raise `StartupInterrupted` before the mount exists, else remember."""
        if self.received is not None:
            if self.mounted:
                pyfuse3.close(unmount=True)
            os._exit(EXIT_FORCED)
        self.received = signum
        if not self.mounted:
            raise StartupInterrupted(signum)


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
    startup: StartupSignals | None = None,
) -> None:
    """Mount *operations* at *mountpoint* and serve until unmounted or signalled.

    *lifespan* is entered inside the event loop before serving and left after
    the main loop ends; it owns the network clients. *on_ready* runs once a
    ``stat`` of the mountpoint from a worker thread has returned the root,
    which shows the kernel mount answers requests.
    """
    startup = startup or StartupSignals()
    pyfuse3.init(operations, mountpoint, options)
    startup.mounted = True
    log.info("mounted at %s", mountpoint)
    unmounted = False
    try:
        trio.run(_serve, operations, mountpoint, lifespan, on_ready, startup)
        unmounted = True
    finally:
        pyfuse3.close(unmount=True)
        if unmounted:
            log.info("unmounted %s", mountpoint)


async def _serve(
    operations: Operations,
    mountpoint: str,
    lifespan: Lifespan,
    on_ready: Callable[[], None] | None,
    startup: StartupSignals,
) -> None:
    async with lifespan():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                _stop_on_signal, operations, nursery.cancel_scope, startup
            )
            nursery.start_soon(_probe, mountpoint, on_ready)
            await pyfuse3.main(max_tasks=MAX_WORKERS)
            nursery.cancel_scope.cancel()


async def _probe(mountpoint: str, on_ready: Callable[[], None] | None) -> None:
    """Call *on_ready* once the mount answers a ``stat``."""
    with trio.move_on_after(READY_PROBE_TIMEOUT) as scope:
        status = await trio.to_thread.run_sync(
            os.stat, mountpoint, abandon_on_cancel=True
        )
    if scope.cancelled_caught:
        log.error("the mount did not answer within %.0f s", READY_PROBE_TIMEOUT)
        pyfuse3.terminate()
        return
    log.info("the mount answers (root inode %d)", status.st_ino)
    if on_ready is not None:
        on_ready()


async def _stop(operations: Operations, signum: int) -> None:
    """Fail the waiting reads, let their replies go out, then end the loop.

    Ending the main loop first would cancel the handlers before they reply,
    and the kernel would then fail those reads with ECONNABORTED at unmount
    instead of the EIO they report.
    """
    log.info("received %s, unmounting", signal.Signals(signum).name)
    operations.cancel_reads()
    with trio.move_on_after(REPLY_GRACE):
        # Operations offers a count of reads, not an event, so poll it.
        while operations.reads_waiting:  # noqa: ASYNC110
            await trio.sleep(REPLY_POLL)
    pyfuse3.terminate()


async def _stop_on_signal(
    operations: Operations, scope: trio.CancelScope, startup: StartupSignals
) -> None:
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        if startup.received is not None:
            await _stop(operations, startup.received)
        else:
            async for signum in signals:
                await _stop(operations, signum)
                break
        with trio.move_on_after(STOP_GRACE):
            async for signum in signals:
                log.warning("received %s again, exiting", signal.Signals(signum).name)
                pyfuse3.close(unmount=True)
                os._exit(EXIT_FORCED)
        log.warning("requests still running after %.0f s; cancelling", STOP_GRACE)
        scope.cancel()
