"""Filesystem layer: the status file, pinned files and the control socket.

`ControlOperations` adds one file to the root of the mount, `STATUS_NAME`,
whose content is a JSON object made fresh at each open: version, uptime,
cache bytes and limit, hit rate, requests, errors, open files and fetches
in flight. ``toutvfs status`` reads it.

`Pinner` keeps media versions in the segment cache. A pinned version's
cache entries are never evicted, and the mount keeps one stream of it open,
so that the engine keeps its playlist and layout and a later open needs no
network. Pins are stored in ``pins.json`` in the cache directory, and the
open stream is per mount. A new mount protects the pinned entries it finds
on disk, because the segment cache records each entry's key beside it.

A pin also stores what a new mount needs without the network: the listing
records along the file's path (`toutvfs.fs.offline`) and the variant's
media playlist (`toutvfs.hls.offline`). Unpinning deletes both.

The control socket, a Unix socket in the runtime directory named after the
mountpoint, takes one JSON request per line: ``{"op": "pin", "inode": N}``
or ``{"op": "unpin", "inode": N}``. It is created with mode 0600.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyfuse3
import trio
from pyfuse3 import InodeT

from toutvfs import __version__
from toutvfs.fs.backend import TrafficCounters
from toutvfs.fs.nodes import DirectoryNode, Kind, MediaNode, Node, TextNode
from toutvfs.fs.offline import ListingStore
from toutvfs.fs.operations import Operations
from toutvfs.fs.source import Stream
from toutvfs.fs.tree import Tree
from toutvfs.hls import Engine
from toutvfs.hls.cache import CacheKey

log = logging.getLogger(__name__)

STATUS_NAME = ".toutvfs-status"
PINS_NAME = "pins.json"

# Seconds between two checks of whether another mount changed the pin list.
PIN_RELOAD_INTERVAL = 1.0

# Maximum length of a request line on the control socket, in bytes.
MAX_REQUEST = 4096


def runtime_dir() -> Path:
    """Return the per-user directory of lock files and control sockets."""
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/toutvfs-{os.getuid()}"
    path = Path(base) / "toutvfs"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def mount_id(mountpoint: str) -> str:
    """Return a short name for *mountpoint*, for lock and socket files."""
    return hashlib.sha256(os.fsencode(mountpoint)).hexdigest()[:20]


def control_socket_path(mountpoint: str) -> Path:
    """Return the control socket of the mount at *mountpoint*."""
    return runtime_dir() / f"{mount_id(mountpoint)}.sock"


class PinBackend(Protocol):
    """The part of a backend that pinning uses."""

    @property
    def engine(self) -> Engine: ...

    def cache_media_key(self, id_media: str) -> str:
        """Return the engine's media key of *id_media*."""
        ...


class PinStore:
    """The pinned media versions, in a JSON file: ``media key -> variant keys``.

    Mounts that share a cache directory share the file. Each change reads
    the file again and rewrites it under an ``flock``, so that one mount
    does not drop another's pins. `contains` rereads the file when its
    modification time has changed, checking at most once per
    `PIN_RELOAD_INTERVAL` seconds.
    """

    def __init__(
        self, path: Path | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.pins: dict[str, dict[str, str]] = {}
        self._clock = clock
        self._checked = float("-inf")
        self._mtime_ns: int | None = None
        self._reload()

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            status = self.path.stat()
            if status.st_mtime_ns == self._mtime_ns:
                return
            self.pins = json.loads(self.path.read_text(encoding="utf-8"))
            self._mtime_ns = status.st_mtime_ns
        except FileNotFoundError:
            self.pins = {}
            self._mtime_ns = None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable pin list %s: %s", self.path, exc)

    def contains(self, media_key: str, variant_key: str) -> bool:
        """Whether the version is pinned, by this mount or another."""
        now = self._clock()
        if now - self._checked >= PIN_RELOAD_INTERVAL:
            self._checked = now
            self._reload()
        return variant_key in self.pins.get(media_key, {})

    def add(self, media_key: str, variant_key: str, label: str) -> None:
        """Pin a version; *label* (its path in the mount) is for people."""
        with self._locked():
            self.pins.setdefault(media_key, {})[variant_key] = label

    def remove(self, media_key: str, variant_key: str) -> bool:
        """Unpin a version; return False if it was not pinned."""
        with self._locked():
            variants = self.pins.get(media_key, {})
            found = variants.pop(variant_key, None) is not None
            if not variants:
                self.pins.pop(media_key, None)
        return found

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Reread the file, let the caller change `pins`, write it back."""
        if self.path is None:
            yield
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._mtime_ns = None
            self._reload()
            yield
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            text = json.dumps(self.pins, indent=2, sort_keys=True) + "\n"
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path)
            self._mtime_ns = self.path.stat().st_mtime_ns


class PinError(Exception):
    """A pin request that cannot be done, with the errno to report."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Pinner:
    """Pins media versions of one mount; see the module docstring."""

    def __init__(
        self,
        tree: Tree,
        backend: PinBackend,
        store: PinStore,
        listings: ListingStore,
    ) -> None:
        self.tree = tree
        self.backend = backend
        self.store = store
        self.listings = listings
        self._held: dict[int, Stream] = {}

    def install(self) -> None:
        """Make the engine's cache keep the entries of pinned versions."""
        cache = self.backend.engine.cache
        if cache is None:
            return
        engine_pinned = cache.is_pinned

        def is_pinned(key: CacheKey) -> bool:
            if self.store.contains(key.media_key, key.variant_key):
                return True
            return engine_pinned(key)

        cache.is_pinned = is_pinned

    def _media(self, inode: int) -> MediaNode:
        node = self.tree.get(inode)
        if not isinstance(node, MediaNode) or node.variant is None:
            raise PinError(
                f"inode {inode} is not a media file of this mount", errno.EINVAL
            )
        return node

    async def pin(self, inode: int) -> dict[str, Any]:
        """Pin the media file *inode*; return its size and the cache limit."""
        node = self._media(inode)
        assert node.variant is not None
        cache = self.backend.engine.cache
        if cache is None:
            raise PinError("the mount has no disk cache (--no-cache)", errno.ENOSPC)
        if inode not in self._held:
            self._held[inode] = await self.tree.streams.open(
                node.id_media, node.variant.key
            )
        size = self._held[inode].size
        key = self.backend.cache_media_key(node.id_media)
        path = self.tree.path_of(node)
        # Stored before the pin is recorded, so that a recorded pin always
        # has them; a failed write fails the request.
        await self.backend.engine.keep_offline(key, node.variant.key)
        records = self.tree.records_along(node)
        await trio.to_thread.run_sync(
            self.listings.save, key, node.variant.key, path, records
        )
        self.store.add(key, node.variant.key, path)
        log.info("pinned %s (%d bytes, %d listing records)", path, size, len(records))
        return {"size": size, "cache_limit": cache.limit, "cache_bytes": cache.total}

    async def unpin(self, inode: int) -> dict[str, Any]:
        """Unpin the media file *inode*; report whether it was pinned."""
        node = self._media(inode)
        assert node.variant is not None
        stream = self._held.pop(inode, None)
        if stream is not None:
            await stream.close()
        key = self.backend.cache_media_key(node.id_media)
        found = self.store.remove(key, node.variant.key)
        await self.backend.engine.drop_offline(key, node.variant.key)
        await trio.to_thread.run_sync(self.listings.remove, key, node.variant.key)
        log.info("unpinned %s", self.tree.path_of(node))
        return {"was_pinned": found or stream is not None}

    @property
    def held(self) -> int:
        """Pinned files that this mount keeps open."""
        return len(self._held)

    async def close(self) -> None:
        """Close the streams held for pinned files."""
        for stream in self._held.values():
            await stream.close()
        self._held.clear()


async def serve_control(pinner: Pinner, path: Path, task_status: Any) -> None:
    """Serve pin and unpin requests on the Unix socket *path* until cancelled."""
    # The instance lock is held, so a socket file here is a dead mount's.
    _remove(path)
    listener = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        await listener.bind(os.fspath(path))
    finally:
        os.umask(old_umask)
    listener.listen()
    task_status.started()
    try:
        async with trio.open_nursery() as nursery:
            while True:
                connection, _ = await listener.accept()
                nursery.start_soon(_answer, pinner, trio.SocketStream(connection))
    finally:
        listener.close()
        _remove(path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def _answer(pinner: Pinner, stream: trio.SocketStream) -> None:
    async with stream:
        data = b""
        while b"\n" not in data and len(data) < MAX_REQUEST:
            chunk = await stream.receive_some(MAX_REQUEST)
            if not chunk:
                break
            data += chunk
        reply: dict[str, Any]
        try:
            request = json.loads(data.split(b"\n", 1)[0])
            operation = request["op"]
            inode = int(request["inode"])
            if operation == "pin":
                reply = {"ok": True, **await pinner.pin(inode)}
            elif operation == "unpin":
                reply = {"ok": True, **await pinner.unpin(inode)}
            else:
                raise PinError(f"unknown operation {operation!r}", errno.EINVAL)
        except PinError as exc:
            reply = {"ok": False, "error": str(exc), "errno": exc.code}
        except (ValueError, KeyError, TypeError) as exc:
            reply = {
                "ok": False,
                "error": f"invalid request: {exc}",
                "errno": errno.EINVAL,
            }
        except Exception as exc:  # a failed open: report it to the client
            log.error("control request %r failed: %s", data[:200], exc)
            reply = {"ok": False, "error": str(exc), "errno": errno.EIO}
        await stream.send_all(json.dumps(reply).encode() + b"\n")


@dataclass
class StatusSources:
    """The sources of the numbers in the status file."""

    engine: Callable[[], Engine | None]
    traffic: TrafficCounters
    mountpoint: str
    control_socket: str
    pinner: Pinner | None = None


class ControlOperations(Operations):
    """`Operations` plus the status file at the root of the mount."""

    def __init__(self, tree: Tree, sources: StatusSources) -> None:
        super().__init__(tree)
        self.sources = sources
        self.started = time.time()
        self._started_monotonic = time.monotonic()
        self.status_node = TextNode(
            inode=tree.inode_for("control:status"),
            identity="control:status",
            name=STATUS_NAME,
            kind=Kind.TEXT,
            parent=tree.root.inode,
        )
        tree.nodes[self.status_node.inode] = self.status_node
        listing = tree.root.loader
        assert listing is not None

        async def list_root(root: DirectoryNode) -> list[Node]:
            return [*await listing(root), self.status_node]

        tree.root.loader = list_root

    def status(self) -> dict[str, Any]:
        """Return the status record of the mount."""
        engine = self.sources.engine()
        cache = engine.cache if engine is not None else None
        hits = cache.hits if cache is not None else 0
        misses = cache.misses if cache is not None else 0
        lookups = hits + misses
        traffic = self.sources.traffic
        pinner = self.sources.pinner
        return {
            "version": __version__,
            "pid": os.getpid(),
            "mountpoint": self.sources.mountpoint,
            "started": self.started,
            "uptime_seconds": round(time.monotonic() - self._started_monotonic, 3),
            "cache_bytes": cache.total if cache is not None else 0,
            "cache_limit": cache.limit if cache is not None else 0,
            "cache_hits": hits,
            "cache_misses": misses,
            "hit_rate": hits / lookups if lookups else None,
            "requests": traffic.requests,
            "request_failures": traffic.failures,
            "errors": self.failed_requests,
            "open_files": self.open_files,
            "fetches_in_flight": traffic.in_flight,
            "reads_waiting": self.reads_waiting,
            "pinned_open": pinner.held if pinner is not None else 0,
            "control_socket": self.sources.control_socket,
        }

    def _refresh_status(self) -> None:
        content = json.dumps(self.status(), indent=2, sort_keys=True) + "\n"
        self.status_node.content = content.encode()

    def attributes(self, node: Node) -> pyfuse3.EntryAttributes:
        if node is self.status_node:
            self._refresh_status()
            attr = super().attributes(node)
            attr.attr_timeout = 0
            attr.entry_timeout = 0
            return attr
        return super().attributes(node)

    async def open(
        self, inode: InodeT, flags: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.FileInfo:
        if inode == self.status_node.inode:
            self._refresh_status()
            info = await super().open(inode, flags, ctx)
            info.direct_io = True
            info.keep_cache = False
            return info
        return await super().open(inode, flags, ctx)


@asynccontextmanager
async def controlled(pinner: Pinner, path: Path) -> AsyncIterator[None]:
    """Serve the control socket and pins for the duration of the block."""
    pinner.install()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_control, pinner, path)
        try:
            yield
        finally:
            await pinner.close()
            nursery.cancel_scope.cancel()
