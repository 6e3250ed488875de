"""Command line layer: ``toutvfs prefetch`` and ``toutvfs unpin``.

Both work on paths inside a running toutvfs mount. Each media file is named
to the mount by its inode number over the mount's control socket (pin or
unpin), and ``prefetch`` then reads the whole file through the mount, which
stores every segment in the segment cache. The progress bar shows bytes,
rate and time left.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from toutvfs.commands import CommandError, read_status
from toutvfs.daemon import mount_entry
from toutvfs.plural import counted

# Bytes per read while prefetching; large reads cost fewer FUSE requests.
READ_SIZE = 1024 * 1024

# Seconds between two redraws of the progress bar.
REDRAW_INTERVAL = 0.5

# Seconds allowed for one control request; a pin opens the stream, which
# may measure the file's segments first.
CONTROL_TIMEOUT = 120.0

BAR_WIDTH = 24

# The extended attribute that marks a media file of a toutvfs mount.
MEDIA_XATTR = "user.toutv.size_exact"


@dataclass(frozen=True)
class MediaFile:
    """A media file to prefetch or unpin, with the mount that serves it."""

    path: Path
    inode: int
    mountpoint: Path


def _mountpoint_of(path: Path) -> Path:
    current = path.absolute()
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def _is_media(path: Path) -> bool:
    try:
        os.getxattr(path, MEDIA_XATTR)
    except OSError:
        return False
    return True


def media_files(paths: list[Path]) -> Iterator[MediaFile]:
    """Yield the media files of *paths*, walking directories in name order.

    Raises:
        CommandError: a path does not exist or is not in a toutvfs mount.
    """
    for path in paths:
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        mountpoint = _mountpoint_of(path)
        entry = mount_entry(str(mountpoint))
        if entry is None or entry.fstype != "fuse.toutvfs":
            raise CommandError(f"{path} is not inside a toutvfs mount")
        if path.is_file():
            candidates = [path]
        else:
            candidates = []
            for root, directories, files in os.walk(path):
                directories.sort()
                candidates.extend(Path(root, name) for name in sorted(files))
        for candidate in candidates:
            if _is_media(candidate):
                yield MediaFile(candidate, candidate.stat().st_ino, mountpoint)


def control(mountpoint: Path, operation: str, inode: int) -> dict[str, Any]:
    """Send one request to the control socket of the mount at *mountpoint*.

    Raises:
        CommandError: the mount cannot be reached or refused the request.
    """
    record = read_status(mountpoint)
    address = record["control_socket"]
    request = json.dumps({"op": operation, "inode": inode}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(CONTROL_TIMEOUT)
            connection.connect(address)
            connection.sendall(request)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        raise CommandError(
            f"cannot reach the control socket {address} of {mountpoint}: {exc}"
        ) from None
    try:
        answer: dict[str, Any] = json.loads(reply)
    except ValueError:
        raise CommandError(f"invalid reply from the mount at {mountpoint}") from None
    if not answer.get("ok"):
        raise CommandError(str(answer.get("error", "the mount rejected the request")))
    return answer


class Progress:
    """A one-line progress bar: bytes, rate and time left."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()
        self._drawn = 0.0
        self._terminal = stream.isatty()

    def line(self, now: float | None = None) -> str:
        """Return the progress line for the bytes done so far."""
        moment = time.monotonic() if now is None else now
        elapsed = max(moment - self.started, 1e-6)
        rate = self.done / elapsed
        fraction = self.done / self.total if self.total else 1.0
        filled = round(BAR_WIDTH * fraction)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        left_text = "--:--" if left == float("inf") else _clock(left)
        return (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:6.1%} "
            f"{_size(self.done)} of {_size(self.total)}, {_size(rate)}/s, "
            f"{left_text} left"
        )

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self._terminal and now - self._drawn >= REDRAW_INTERVAL:
            self._drawn = now
            self.stream.write("\r" + self.line(now))
            self.stream.flush()

    def finish(self) -> None:
        prefix = "\r" if self._terminal else ""
        self.stream.write(prefix + self.line() + "\n")
        self.stream.flush()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.1f} {unit}" if unit != "B" else f"{count:.0f} B"
        count /= 1024
    return f"{count:.2f} GiB"


def _clock(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def prefetch(paths: list[Path], *, pin: bool = True) -> int:
    """Pin and read the media files of *paths*; return the exit status."""
    files = list(media_files(paths))
    if not files:
        raise CommandError("no media files in " + " ".join(map(str, paths)))
    sizes = {file.path: file.path.stat().st_size for file in files}
    if pin:
        pinned_total = 0
        for file in files:
            answer = control(file.mountpoint, "pin", file.inode)
            sizes[file.path] = int(answer["size"])
            pinned_total += sizes[file.path]
            if pinned_total > int(answer["cache_limit"]):
                print(
                    f"toutvfs prefetch: warning: {_size(pinned_total)} pinned but "
                    f"the cache limit is {_size(int(answer['cache_limit']))}; "
                    "some segments will not be kept (raise --cache-size)",
                    file=sys.stderr,
                )
    progress = Progress(sum(sizes.values()))
    for file in files:
        try:
            with file.path.open("rb", buffering=0) as stream:
                while True:
                    data = stream.read(READ_SIZE)
                    if not data:
                        break
                    progress.advance(len(data))
        except OSError as exc:
            progress.finish()
            raise CommandError(f"reading {file.path} failed: {exc.strerror}") from None
    progress.finish()
    verb = "prefetched and pinned" if pin else "prefetched"
    print(f"toutvfs: {verb} {counted(len(files), 'file')}, {_size(progress.done)}")
    return 0


def unpin(paths: list[Path]) -> int:
    """Unpin the media files of *paths*; return the exit status."""
    files = list(media_files(paths))
    if not files:
        raise CommandError("no media files in " + " ".join(map(str, paths)))
    released = 0
    for file in files:
        answer = control(file.mountpoint, "unpin", file.inode)
        released += bool(answer.get("was_pinned"))
    print(f"toutvfs: unpinned {released} of {counted(len(files), 'file')}")
    return 0
