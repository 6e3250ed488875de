"""The pyfuse3 request handlers of the filesystem layer.

This is the only module that raises `pyfuse3.FUSEError`: `_errno_for` turns
each domain error into one errno, and every failed request logs one line
naming the file and the cause.

Concurrency: pyfuse3 runs each request in its own trio task, so handlers may
interleave at every ``await``. Open streams live in `_streams` from ``open``
to ``release``; a read that is waiting on the network runs in a cancel scope
that `cancel_reads` cancels at shutdown, so that it fails with EIO instead
of keeping the mount alive.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import count

import pyfuse3
import trio
from pyfuse3 import FileHandleT, FUSEError, InodeT

from toutvfs.errors import (
    Error,
    InvalidCredentials,
    MediaUnavailable,
    NetworkError,
    NotFound,
    StreamError,
    UnsupportedMedia,
)
from toutvfs.fs.caller import caller_creates
from toutvfs.fs.listings import captions_identity
from toutvfs.fs.names import NAME_MAX
from toutvfs.fs.nodes import (
    DirectoryNode,
    LinkNode,
    MediaNode,
    Node,
    RemoteNode,
    TextNode,
)
from toutvfs.fs.source import Stream
from toutvfs.fs.tree import Tree

log = logging.getLogger(__name__)

XATTR_PREFIX = "user.toutv."
# Bytes of a media file's decrypted segments in the segment cache.
CACHED_BYTES_XATTR = XATTR_PREFIX + "cached_bytes"

# How long the kernel may keep names and attributes. Sizes that are still
# estimates get no caching, so the exact size shows as soon as it is known.
ENTRY_TIMEOUT = 60.0
ATTR_TIMEOUT = 60.0

# Looking up this name in a directory makes the next listing of that
# directory fetch it again; the lookup itself fails with ENOENT.
REFRESH_NAME = ".toutvfs-refresh"

# Preferred I/O size reported in st_blksize: large reads cost fewer requests.
BLOCK_SIZE = 128 * 1024

# pyfuse3 starts a worker task per concurrent request up to this number, so
# reads waiting on a slow server leave workers free for stat and readdir.
MAX_WORKERS = 1000

# Write requests are answered with EROFS; access modes that imply writing.
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _errno_for(exc: BaseException) -> int:
    """Return the errno that a failed request reports for *exc*."""
    if isinstance(exc, NotFound):
        return errno.ENOENT
    # A rejected login is a permission problem that only the user can fix,
    # so it gets the errno that programs show as "Permission denied".
    if isinstance(exc, MediaUnavailable | UnsupportedMedia | InvalidCredentials):
        return errno.EACCES
    if isinstance(exc, NetworkError | StreamError):
        return errno.EIO
    return errno.EIO


def _invalidate_entry(parent: int, name: str) -> None:
    # Queued: a handler that waited for the kernel here could deadlock it.
    pyfuse3.invalidate_entry_async(
        InodeT(parent), os.fsencode(name), ignore_enoent=True
    )


def _invalidate_attributes(inode: int) -> None:
    try:
        pyfuse3.invalidate_inode(InodeT(inode), attr_only=True)
    except FileNotFoundError:
        # The kernel has no cached state for this inode, so none of it is stale.
        pass


class Operations(pyfuse3.Operations):
    """Serve a `Tree` through FUSE, read-only."""

    supports_dot_lookup = False
    enable_writeback_cache = False
    enable_acl = False

    def __init__(
        self,
        tree: Tree,
        invalidate_attributes: Callable[[int], None] = _invalidate_attributes,
        caller_creates: Callable[[int], bool] = caller_creates,
        invalidate_entry: Callable[[int, str], None] = _invalidate_entry,
    ) -> None:
        """Serve *tree*.

        Handler tests replace *invalidate_attributes*, *invalidate_entry*
        and *caller_creates*, which returns whether the thread behind a
        request creates a name.
        """
        super().__init__()
        self.tree = tree
        tree.on_remove = invalidate_entry
        self._invalidate_attributes = invalidate_attributes
        self._caller_creates = caller_creates
        self._uid = os.getuid()
        self._gid = os.getgid()
        self._mounted_ns = time.time_ns()
        self._handles = count(1)
        self._listings: dict[int, list[Node]] = {}
        self._streams: dict[int, tuple[MediaNode, Stream]] = {}
        self._texts: dict[int, bytes] = {}
        self._lookups: dict[int, int] = {}
        self._read_scopes: set[trio.CancelScope] = set()
        # Attribute invalidations on their way to the kernel, by inode.
        self._invalidations: dict[int, list[trio.Event]] = {}
        # Fetches of small files in progress, by inode. Each event is set
        # when its fetch ends.
        self._fetching: dict[int, trio.Event] = {}
        # Requests that failed with an errno because of a domain or unexpected
        # error.
        self.failed_requests = 0
        # Set by cancel_reads; media reads then fail at once.
        self.stopping = False

    # Helpers

    def _node(self, inode: int) -> Node:
        node = self.tree.get(inode)
        if node is None:
            raise FUSEError(errno.ENOENT)
        return node

    def _directory(self, inode: int) -> DirectoryNode:
        node = self._node(inode)
        if not isinstance(node, DirectoryNode):
            raise FUSEError(errno.ENOTDIR)
        return node

    @contextmanager
    def _reporting(self, action: str, node: Node) -> Iterator[None]:
        """Turn a domain error into its errno, logging it once."""
        try:
            yield
        except FUSEError:
            raise
        except InvalidCredentials as exc:
            # The token source keeps a rejected refresh token out of every
            # later request, so only a new login and a new mount help.
            self.failed_requests += 1
            log.error(
                "%s %s failed: %s; run `toutvfs login`, then mount again",
                action,
                self.tree.path_of(node),
                exc,
            )
            raise FUSEError(_errno_for(exc)) from None
        except Error as exc:
            self.failed_requests += 1
            log.error("%s %s failed: %s", action, self.tree.path_of(node), exc)
            raise FUSEError(_errno_for(exc)) from None
        except Exception:
            self.failed_requests += 1
            log.exception("%s %s failed unexpectedly", action, self.tree.path_of(node))
            raise FUSEError(errno.EIO) from None

    def attributes(self, node: Node) -> pyfuse3.EntryAttributes:
        """Return the attributes of *node*."""
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = InodeT(node.inode)
        attr.st_uid = self._uid
        attr.st_gid = self._gid
        attr.st_blksize = BLOCK_SIZE
        attr.entry_timeout = ENTRY_TIMEOUT
        attr.attr_timeout = ATTR_TIMEOUT
        mtime = node.mtime_ns or self._mounted_ns
        attr.st_mtime_ns = attr.st_ctime_ns = attr.st_atime_ns = mtime
        if isinstance(node, DirectoryNode):
            attr.st_mode = pyfuse3.ModeT(stat.S_IFDIR | 0o555)
            attr.st_nlink = 2
            attr.st_size = 0
        elif isinstance(node, LinkNode):
            attr.st_mode = pyfuse3.ModeT(stat.S_IFLNK | 0o777)
            attr.st_nlink = 1
            attr.st_size = len(os.fsencode(node.target))
        else:
            attr.st_mode = pyfuse3.ModeT(stat.S_IFREG | 0o444)
            attr.st_nlink = 1
            if isinstance(node, MediaNode):
                attr.st_size = node.size
                if not node.size_exact:
                    attr.attr_timeout = 0
                    attr.entry_timeout = 0
            elif isinstance(node, TextNode):
                attr.st_size = len(node.content)
            elif isinstance(node, RemoteNode):
                if node.content is None:
                    attr.attr_timeout = 0
                    attr.entry_timeout = 0
                else:
                    attr.st_size = len(node.content)
        attr.st_blocks = math.ceil(attr.st_size / 512)
        return attr

    def _remember(self, node: Node) -> None:
        self._lookups[node.inode] = self._lookups.get(node.inode, 0) + 1

    # Names and attributes

    async def lookup(
        self, parent_inode: InodeT, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        directory = self._directory(parent_inode)
        if len(name) > NAME_MAX:
            raise FUSEError(errno.ENAMETOOLONG)
        text = os.fsdecode(name)
        if text == REFRESH_NAME:
            log.info("refresh of %s requested", self.tree.path_of(directory))
            self.tree.invalidate(directory)
            raise FUSEError(errno.ENOENT)
        # The kernel looks a name up before mkdir, mknod, symlink, link and
        # open(O_CREAT). Finding none, it fails them with EROFS, so such a
        # lookup must not make a name up, as search/ would.
        add_missing = directory.on_missing is None or not self._caller_creates(ctx.pid)
        child: Node | None = None
        with self._reporting("listing", directory):
            child = await self.tree.lookup(directory, text, add_missing=add_missing)
        if child is None:
            raise FUSEError(errno.ENOENT)
        self._remember(child)
        return self.attributes(child)

    async def forget(self, inode_list: Sequence[tuple[InodeT, int]]) -> None:
        for inode, nlookup in inode_list:
            remaining = self._lookups.get(inode, 0) - nlookup
            if remaining > 0:
                self._lookups[inode] = remaining
                continue
            self._lookups.pop(inode, None)
            self.tree.forget(inode)

    async def getattr(
        self, inode: InodeT, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return self.attributes(self._node(inode))

    async def readlink(self, inode: InodeT, ctx: pyfuse3.RequestContext) -> bytes:
        node = self._node(inode)
        if not isinstance(node, LinkNode):
            raise FUSEError(errno.EINVAL)
        return os.fsencode(node.target)

    # Directories

    async def opendir(self, inode: InodeT, ctx: pyfuse3.RequestContext) -> FileHandleT:
        directory = self._directory(inode)
        with self._reporting("listing", directory):
            entries = await self.tree.entries(directory)
        handle = next(self._handles)
        # The listing is fixed for the life of the handle, so readdir
        # offsets stay valid even if the directory is refreshed meanwhile.
        # It keeps the loader's order: media versions lowest first.
        self._listings[handle] = entries
        return FileHandleT(handle)

    async def readdir(
        self, fh: FileHandleT, start_id: int, token: pyfuse3.ReaddirToken
    ) -> None:
        entries = self._listings[fh]
        for position in range(start_id, len(entries)):
            node = entries[position]
            name = os.fsencode(node.name)
            if not pyfuse3.readdir_reply(
                token, name, self.attributes(node), position + 1
            ):
                break
            self._remember(node)

    async def releasedir(self, fh: FileHandleT) -> None:
        self._listings.pop(fh, None)

    # Files

    async def open(
        self, inode: InodeT, flags: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.FileInfo:
        node = self._node(inode)
        if flags & _WRITE_FLAGS:
            raise FUSEError(errno.EROFS)
        if isinstance(node, DirectoryNode):
            raise FUSEError(errno.EISDIR)
        handle = next(self._handles)
        if isinstance(node, TextNode):
            self._texts[handle] = node.content
            return pyfuse3.FileInfo(fh=FileHandleT(handle), keep_cache=True)
        if isinstance(node, RemoteNode):
            with self._reporting("fetching", node):
                self._texts[handle] = await self._remote_content(node)
            return pyfuse3.FileInfo(fh=FileHandleT(handle), keep_cache=True)
        if not isinstance(node, MediaNode):
            raise FUSEError(errno.EINVAL)
        assert node.variant is not None
        self._prefetch_captions(node)
        with self._reporting("opening", node):
            stream = await self.tree.streams.open(node.id_media, node.variant.key)
        self._streams[handle] = (node, stream)
        changed = not node.size_exact or node.size != stream.size
        if changed:
            node.size = stream.size
            node.size_exact = True
        # The kernel may hold the estimate, so it must drop it before the reply.
        await self._invalidate_or_wait(node.inode, changed=changed)
        return pyfuse3.FileInfo(fh=FileHandleT(handle), keep_cache=True)

    async def _remote_content(self, node: RemoteNode) -> bytes:
        """Return the body of *node*, fetched once for callers that come together.

        Raises:
            Error: the fetch failed.
        """
        while node.content is None:
            pending = self._fetching.get(node.inode)
            if pending is not None:
                # Another caller is fetching it. If that fetch fails, this
                # caller fetches the file itself.
                await pending.wait()
                continue
            done = trio.Event()
            self._fetching[node.inode] = done
            try:
                content = await self.tree.catalogue.fetch(node.url)
            finally:
                del self._fetching[node.inode]
                done.set()
            node.content = content
            await self._invalidate_or_wait(node.inode, changed=True)
            return content
        await self._invalidate_or_wait(node.inode, changed=False)
        return node.content

    def _prefetch_captions(self, node: MediaNode) -> None:
        """Start fetching the captions beside *node*, if they are not fetched yet.

        Players such as mpv and VLC open the captions named like a video
        right after the video, so their fetch runs while the video opens.
        """
        directory = self.tree.get(node.parent)
        if not isinstance(directory, DirectoryNode) or directory.entries is None:
            return
        assert node.variant is not None
        identity = captions_identity(node.id_media, node.variant.key)
        for entry in directory.entries.values():
            if (
                isinstance(entry, RemoteNode)
                and entry.identity == identity
                and entry.content is None
                and entry.inode not in self._fetching
            ):
                trio.lowlevel.spawn_system_task(
                    self._prefetch, entry, name=f"prefetch {entry.name}"
                )

    async def _prefetch(self, node: RemoteNode) -> None:
        try:
            await self._remote_content(node)
        except Exception as exc:
            # The open of the file fetches it again and reports the failure.
            log.debug("prefetching %s failed: %s", self.tree.path_of(node), exc)

    async def _invalidate_or_wait(self, inode: int, changed: bool) -> None:
        """Invalidate the kernel's attributes of *inode* if *changed*.

        An open that changed nothing still waits for the invalidations that
        other opens of *inode* are sending, because replying first is
        unsafe. The caller's next GETATTR may then be pending when an
        invalidation arrives, and the kernel drops that GETATTR's reply.
        The read that follows stops at the size the kernel had, the
        estimate. Seen with ``--debug-fuse`` on Linux 6.18.
        """
        if not changed:
            pending = list(self._invalidations.get(inode, ()))
            for event in pending:
                await event.wait()
            return
        done = trio.Event()
        self._invalidations.setdefault(inode, []).append(done)
        try:
            await trio.to_thread.run_sync(self._invalidate_attributes, inode)
        finally:
            done.set()
            events = self._invalidations[inode]
            events.remove(done)
            if not events:
                del self._invalidations[inode]

    # pyfuse3 replies with any object that exports a contiguous buffer
    # (fuse_read_async in pyfuse3 3.5.0's handlers.pxi calls
    # PyObject_GetBuffer), so a view of a part in memory is sent uncopied.
    async def read(  # type: ignore[override]
        self, fh: FileHandleT, off: int, size: int
    ) -> bytes | memoryview:
        text = self._texts.get(fh)
        if text is not None:
            return text[off : off + size]
        node, stream = self._streams[fh]
        if not self.stopping:
            with self._reporting(f"reading {size} bytes at {off} of", node):
                view = stream.read_buffered(off, size)
            if view is not None:
                return view
        with trio.CancelScope() as scope:
            if self.stopping:
                scope.cancel()
            self._read_scopes.add(scope)
            try:
                with self._reporting(f"reading {size} bytes at {off} of", node):
                    return await stream.read(off, size)
            finally:
                self._read_scopes.discard(scope)
        self.failed_requests += 1
        log.error("reading %s failed: the mount is stopping", self.tree.path_of(node))
        raise FUSEError(errno.EIO)

    async def release(self, fh: FileHandleT) -> None:
        self._texts.pop(fh, None)
        entry = self._streams.pop(fh, None)
        if entry is not None:
            await entry[1].close()

    @property
    def open_files(self) -> int:
        """Files open now: media streams and small files."""
        return len(self._streams) + len(self._texts)

    @property
    def reads_waiting(self) -> int:
        """Media reads running now, most of them waiting on the network."""
        return len(self._read_scopes)

    def cancel_reads(self) -> None:
        """Make every read that is waiting, and every later one, fail with EIO.

        For shutdown: the kernel may retry a failed readahead as a new read.
        """
        self.stopping = True
        for scope in list(self._read_scopes):
            scope.cancel()

    # The rest

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = BLOCK_SIZE
        data.f_frsize = BLOCK_SIZE
        data.f_files = len(self.tree.nodes)
        data.f_namemax = NAME_MAX
        return data

    async def getxattr(
        self, inode: InodeT, name: bytes, ctx: pyfuse3.RequestContext
    ) -> bytes:
        node = self._node(inode)
        key = os.fsdecode(name)
        if key == CACHED_BYTES_XATTR and isinstance(node, MediaNode):
            assert node.variant is not None
            with self._reporting("reading the cache size of", node):
                cached = await self.tree.streams.cached_bytes(
                    node.id_media, node.variant.key
                )
            return str(cached).encode()
        values = self._xattrs(node)
        if key not in values:
            raise FUSEError(pyfuse3.ENOATTR)
        return values[key].encode()

    async def listxattr(
        self, inode: InodeT, ctx: pyfuse3.RequestContext
    ) -> Sequence[bytes]:
        node = self._node(inode)
        names = list(self._xattrs(node))
        if isinstance(node, MediaNode):
            names.append(CACHED_BYTES_XATTR)
        return [os.fsencode(name) for name in names]

    def _xattrs(self, node: Node) -> dict[str, str]:
        values = {XATTR_PREFIX + key: value for key, value in node.xattrs.items()}
        if isinstance(node, MediaNode):
            values[XATTR_PREFIX + "size_exact"] = "1" if node.size_exact else "0"
        return values
