"""Command line layer: mountpoint checks, the instance lock and background mode.

Before mounting, `check_mountpoint` rejects a missing, non-directory or
non-empty mountpoint and a mountpoint that toutvfs already serves, and
detects a stale mount: a FUSE mount whose daemon died, on which every
access fails with ENOTCONN. A stale mount is cleaned with ``fusermount3 -u``
unless a process still uses it, and then the error gives the command to run.

`InstanceLock` is an ``flock`` on a file named after the mountpoint, held
for the life of the daemon, so that two toutvfs processes starting on the
same mountpoint at once cannot both mount.

`daemonize` forks: the parent waits on a pipe until the child reports that
the mount responds (exit 0) or why it failed (exit 1).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from toutvfs.fs.control import mount_id, runtime_dir
from toutvfs.fs.mount import StartupInterrupted
from toutvfs.plural import counted

log = logging.getLogger(__name__)

FUSERMOUNT = "fusermount3"

# Seconds allowed for ``fusermount3 -u`` on a stale mount.
FUSERMOUNT_TIMEOUT = 10.0

# The first byte of each message the child writes on the readiness pipe.
READY = b"R"
FAILED = b"F"


class MountpointError(Exception):
    """A mountpoint that cannot be used, reported in one line.

    Attributes:
        usage: True for a mistake in the command (exit status 2), False for
            a state of the system (exit status 1).
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class MountEntry:
    """One line of ``/proc/self/mountinfo`` that matters here."""

    mountpoint: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """Decode the octal escapes (``\\040`` for a space) of mountinfo fields."""
    out = bytearray()
    index = 0
    raw = field.encode()
    while index < len(raw):
        if raw[index : index + 1] == b"\\" and raw[index + 1 : index + 4].isdigit():
            out.append(int(raw[index + 1 : index + 4], 8))
            index += 4
        else:
            out.append(raw[index])
            index += 1
    return out.decode(errors="surrogateescape")


def mount_entry(
    mountpoint: str, mountinfo: str = "/proc/self/mountinfo"
) -> MountEntry | None:
    """Return the last mount at *mountpoint*, or None."""
    try:
        text = Path(mountinfo).read_text()
    except OSError:
        return None
    found = None
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        separator = fields.index("-")
        if len(fields) < separator + 3 or len(fields) < 5:
            continue
        if _unescape(fields[4]) == mountpoint:
            found = MountEntry(
                mountpoint=mountpoint,
                fstype=fields[separator + 1],
                source=_unescape(fields[separator + 2]),
            )
    return found


def check_mountpoint(path: str) -> str:
    """Return the absolute *path* if toutvfs can mount there.

    Raises:
        MountpointError: the path is missing, not a directory, not empty,
            already a toutvfs mount, or a stale mount that could not be
            cleaned.
    """
    absolute = os.path.abspath(path)
    try:
        # A listing, not a stat, because the kernel may serve a stat of a
        # dead mount's root from its attribute cache, but not a listing.
        entries = os.listdir(absolute)
    except FileNotFoundError:
        raise MountpointError(
            f"mountpoint {absolute} does not exist; create it with mkdir -p {absolute}",
            usage=True,
        ) from None
    except NotADirectoryError:
        raise MountpointError(
            f"mountpoint {absolute} is not a directory", usage=True
        ) from None
    except OSError as exc:
        if exc.errno != errno.ENOTCONN:
            raise MountpointError(f"cannot use {absolute}: {exc.strerror}") from None
        clean_stale_mount(absolute)
        entries = os.listdir(absolute)
    entry = mount_entry(absolute)
    if entry is not None and (
        entry.fstype == "fuse.toutvfs"
        or (entry.fstype == "fuse" and entry.source == "toutvfs")
    ):
        raise MountpointError(
            f"{absolute} is already mounted by toutvfs; unmount it with "
            f"`fusermount3 -u {absolute}` first"
        )
    if entries:
        raise MountpointError(
            f"mountpoint {absolute} is not empty "
            f"({counted(len(entries), 'entry', 'entries')}); "
            "use an empty directory",
            usage=True,
        )
    return absolute


def clean_stale_mount(mountpoint: str) -> None:
    """Unmount the dead FUSE mount at *mountpoint*, or raise with the command.

    ``fusermount3 -u`` (not lazy) fails with "Device or resource busy" while
    a process still has a file or its working directory in the mount. Then
    cleaning is not safe, so the error names the lazy unmount to run once
    those processes are gone.

    Raises:
        MountpointError: the mount could not be cleaned.
    """
    try:
        result = subprocess.run(
            [FUSERMOUNT, "-u", mountpoint],
            capture_output=True,
            text=True,
            timeout=FUSERMOUNT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MountpointError(
            f"{mountpoint} is a stale mount and `{FUSERMOUNT} -u {mountpoint}` "
            f"failed ({exc}); run `{FUSERMOUNT} -u -z {mountpoint}`"
        ) from None
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no message"]
        raise MountpointError(
            f"{mountpoint} is a stale mount still in use ({detail[0]}); close the "
            f"programs using it, then run `{FUSERMOUNT} -u -z {mountpoint}`"
        )
    # Logging is not set up yet in the command that checks the mountpoint.
    print(
        f"toutvfs: unmounted the stale mount at {mountpoint} (its daemon had died)",
        file=sys.stderr,
    )


class InstanceLock:
    """An exclusive ``flock`` on the lock file of one mountpoint.

    The file holds the pid of the process that took the lock, for the error
    message of a second instance.
    """

    def __init__(self, mountpoint: str) -> None:
        self.mountpoint = mountpoint
        self.path = runtime_dir() / f"{mount_id(mountpoint)}.lock"
        self._descriptor: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise `MountpointError` naming the holder."""
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            os.close(descriptor)
            raise MountpointError(
                f"another toutvfs (pid {holder or 'unknown'}) is already mounting "
                f"{self.mountpoint}"
            ) from None
        self._descriptor = descriptor
        self.record_pid()

    def record_pid(self) -> None:
        """Write the current pid to the lock file (after a fork, the child's)."""
        if self._descriptor is None:
            return
        os.ftruncate(self._descriptor, 0)
        os.pwrite(self._descriptor, f"{os.getpid()}\n".encode(), 0)

    def close(self) -> None:
        """Close this process's descriptor; the lock goes with the last one."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


class Readiness:
    """The child's end of the readiness pipe; every method is safe to repeat."""

    def __init__(
        self, descriptor: int | None, before_ready: Callable[[], None] | None = None
    ) -> None:
        self._descriptor = descriptor
        self._before_ready = before_ready

    def _send(self, kind: bytes, message: str) -> None:
        if self._descriptor is None:
            return
        try:
            os.write(self._descriptor, kind + message.encode(errors="replace") + b"\n")
        except OSError:
            pass
        os.close(self._descriptor)
        self._descriptor = None

    def ready(self) -> None:
        """Tell the parent that the mount responds."""
        if self._descriptor is not None and self._before_ready is not None:
            self._before_ready()
        self._send(READY, "")

    def failed(self, message: str) -> None:
        """Tell the parent why the mount could not start."""
        self._send(FAILED, message)


def daemonize(run: Callable[[Readiness], int], *, log_hint: str, output: Path) -> int:
    """Run *run* in a background child and return the parent's exit status.

    The child starts a new session with standard input on ``/dev/null``.
    Until it is ready, its standard output and error go to a temporary file,
    whose last line (often libfuse's own message) ends the failure message.
    From then on they are appended to *output*, the log file. The parent
    prints the child's failure message and returns 1, or returns 0 once the
    child calls `Readiness.ready`.
    """
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        early = tempfile.TemporaryFile()
        for target in (1, 2):
            os.dup2(early.fileno(), target)

        def redirect_output() -> None:
            sys.stdout.flush()
            sys.stderr.flush()
            descriptor = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            for target in (1, 2):
                os.dup2(descriptor, target)
            os.close(descriptor)

        readiness = Readiness(write_end, before_ready=redirect_output)
        status = 1
        try:
            status = run(readiness)
        except StartupInterrupted as exc:
            log.info("%s", exc)
            readiness.failed(str(exc))
        except BaseException as exc:  # report anything to the parent
            log.exception("the mount failed")
            detail = _last_line(early)
            suffix = f" ({detail})" if detail else ""
            readiness.failed(f"the mount failed: {exc}{suffix}")
        finally:
            readiness.failed(f"the mount stopped before it was ready; see {log_hint}")
            logging.shutdown()
            os._exit(status)
    os.close(write_end)
    return _wait_for_child(read_end, pid, log_hint)


def _last_line(stream: IO[bytes]) -> str:
    """Return the last non-empty line written to *stream*, or an empty string."""
    sys.stderr.flush()
    stream.seek(0)
    lines = [
        line.strip() for line in stream.read().decode(errors="replace").splitlines()
    ]
    lines = [
        line for line in lines if line and not line.startswith(("Traceback", "File "))
    ]
    return lines[-1] if lines else ""


def _wait_for_child(read_end: int, pid: int, log_hint: str) -> int:
    """Return 0 once the child is ready, or print its failure and return 1.

    A stop signal to the waiting parent (Ctrl-C at the terminal, which the
    child in its own session does not get) is passed on to the child, and
    the parent waits for the child to stop or unmount before re-raising.
    """
    with os.fdopen(read_end, "rb") as stream:
        try:
            line = stream.readline()
        except StartupInterrupted:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            raise
    if line.startswith(READY):
        return 0
    message = line[1:].decode(errors="replace").strip()
    if not message:
        _, status = os.waitpid(pid, 0)
        message = (
            f"the mount process exited with status {os.waitstatus_to_exitcode(status)} "
            f"before it was ready; see {log_hint}"
        )
    print(f"toutvfs: {message}", file=sys.stderr)
    return 1
