"""The directory tree of the filesystem layer: nodes by inode, listed lazily.

A directory is listed by its loader on first use, and the listing is kept for
*ttl* seconds. A failed refresh keeps serving the last listing (and logs a
warning); a failed first listing raises and caches nothing. What each kind
of directory contains is the business of `toutvfs.fs.listings`.

Concurrency: listings run in the trio task of the request that needs them.
A per-directory lock makes a second request for the same directory wait for
the first listing instead of sending the same requests again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import trio

from toutvfs.errors import Error
from toutvfs.fs.nodes import (
    ROOT_INODE,
    DirectoryNode,
    InodeTable,
    Kind,
    LinkNode,
    Loader,
    Node,
    RemoteNode,
    TextNode,
)
from toutvfs.fs.offline import LISTING_RECORDS
from toutvfs.fs.source import Catalogue, Streams

log = logging.getLogger(__name__)

# How long a directory listing is kept, in seconds, unless the mount says.
DEFAULT_TTL = 1800.0


class Tree:
    """The nodes of one mount, by inode, and the listings that fill them."""

    def __init__(
        self,
        catalogue: Catalogue,
        streams: Streams,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from toutvfs.fs.listings import Listings

        self.catalogue = catalogue
        self.streams = streams
        self.ttl = ttl
        self._clock = clock
        self._inodes = InodeTable()
        self._locks: dict[int, trio.Lock] = {}
        self.nodes: dict[int, Node] = {}
        self.listings = Listings(self)
        self.root = DirectoryNode(
            inode=ROOT_INODE,
            identity="root",
            name="",
            kind=Kind.DIRECTORY,
            parent=ROOT_INODE,
            loader=self.listings.root,
        )
        self.nodes[ROOT_INODE] = self.root
        # Called with the parent's inode and the name of each entry that
        # `remove` drops, so that the FUSE layer makes the kernel forget it.
        self.on_remove: Callable[[int, str], None] | None = None

    # Lookups

    def get(self, inode: int) -> Node | None:
        """Return the node with *inode*, or None if the mount never listed it."""
        return self.nodes.get(inode)

    def path_of(self, node: Node) -> str:
        """Return the path of *node* inside the mount, for log messages."""
        parts = []
        while node.inode != ROOT_INODE:
            parts.append(node.name)
            parent = self.nodes.get(node.parent)
            if parent is None:
                break
            node = parent
        return "/" + "/".join(reversed(parts))

    def records_along(self, node: Node) -> dict[str, Any]:
        """Return the catalogue records of the listings from the root to *node*."""
        records: dict[str, Any] = {}
        current = self.nodes.get(node.parent)
        while isinstance(current, DirectoryNode):
            for key, value in current.records.items():
                records.setdefault(key, value)
            if current.inode == ROOT_INODE:
                break
            current = self.nodes.get(current.parent)
        return records

    async def entries(self, directory: DirectoryNode) -> list[Node]:
        """Return the entries of *directory*, listing it if it is stale."""
        lock = self._locks.setdefault(directory.inode, trio.Lock())
        async with lock:
            fresh = self._clock() - directory.loaded_at < self.ttl
            if directory.entries is None or not fresh:
                await self._load(directory)
        assert directory.entries is not None
        return list(directory.entries.values())

    async def lookup(
        self, directory: DirectoryNode, name: str, *, add_missing: bool = True
    ) -> Node | None:
        """Return the entry of *directory* called *name*, or None.

        A name the listing lacks goes to the directory's ``on_missing``
        handler, which may add an entry, unless *add_missing* is false.
        """
        await self.entries(directory)
        assert directory.entries is not None
        found = directory.entries.get(name)
        if found is None and add_missing and directory.on_missing is not None:
            found = await directory.on_missing(directory, name)
            if found is not None:
                self.add(directory, found)
        return found

    def add(self, directory: DirectoryNode, node: Node) -> None:
        """Add *node* to the listing of *directory* until its next refresh."""
        assert directory.entries is not None
        directory.entries[node.name] = node
        self.nodes[node.inode] = node

    def remove(self, directory: DirectoryNode, node: Node) -> None:
        """Drop *node* from the listing of *directory* and from the tree.

        `on_remove` then tells the kernel to forget the entry, so that the
        next lookup of its name reaches the tree again.
        """
        if directory.entries is not None:
            directory.entries.pop(node.name, None)
        self._drop(node)
        if self.on_remove is not None:
            self.on_remove(directory.inode, node.name)

    def _drop(self, node: Node) -> None:
        self.nodes.pop(node.inode, None)
        self._locks.pop(node.inode, None)
        if isinstance(node, DirectoryNode) and node.entries is not None:
            for child in node.entries.values():
                self._drop(child)

    def forget(self, inode: int) -> None:
        """Drop *inode* once the kernel holds no reference, if no listing has it.

        A node that a current listing contains stays, because the next lookup
        would create it again with the same inode.
        """
        node = self.nodes.get(inode)
        if node is None or inode == ROOT_INODE:
            return
        parent = self.nodes.get(node.parent)
        listed = isinstance(parent, DirectoryNode) and (
            parent.entries is not None and parent.entries.get(node.name) is node
        )
        if not listed:
            del self.nodes[inode]

    def invalidate(self, directory: DirectoryNode) -> None:
        """Make the next access list *directory* again."""
        directory.loaded_at = float("-inf")

    async def _load(self, directory: DirectoryNode) -> None:
        assert directory.loader is not None
        records: dict[str, Any] = {}
        token = LISTING_RECORDS.set(records)
        try:
            children = await directory.loader(directory)
        except Error as exc:
            if directory.entries is None:
                raise
            log.warning(
                "refreshing %s failed, serving the last listing: %s",
                self.path_of(directory),
                exc,
            )
            directory.loaded_at = self._clock()
            return
        finally:
            LISTING_RECORDS.reset(token)
        directory.records = records
        for child in children:
            previous = self.nodes.get(child.inode)
            if isinstance(previous, DirectoryNode) and isinstance(child, DirectoryNode):
                # Keep the listing below a refreshed directory: it has its
                # own time to live.
                child.entries = previous.entries
                child.loaded_at = previous.loaded_at
            self.nodes[child.inode] = child
        directory.entries = {child.name: child for child in children}
        directory.loaded_at = self._clock()

    # Node factories

    def inode_for(self, identity: str) -> int:
        """Return the inode number of the node with *identity*."""
        return self._inodes.inode_for(identity)

    def directory(
        self, parent: DirectoryNode, identity: str, name: str, loader: Loader
    ) -> DirectoryNode:
        """Return a new directory node in *parent*."""
        return DirectoryNode(
            inode=self.inode_for(identity),
            identity=identity,
            name=name,
            kind=Kind.DIRECTORY,
            parent=parent.inode,
            mtime_ns=parent.mtime_ns,
            loader=loader,
        )

    def text(
        self, parent: DirectoryNode, identity: str, name: str, content: bytes
    ) -> TextNode:
        """Return a new file node in *parent* whose content is *content*."""
        return TextNode(
            inode=self.inode_for(identity),
            identity=identity,
            name=name,
            kind=Kind.TEXT,
            parent=parent.inode,
            mtime_ns=parent.mtime_ns,
            content=content,
        )

    def remote(
        self, parent: DirectoryNode, identity: str, name: str, url: str
    ) -> RemoteNode:
        """Return a file node in *parent* whose content is fetched from *url*.

        A node that was fetched before is returned as it is, content and all.
        """
        inode = self.inode_for(identity)
        previous = self.nodes.get(inode)
        if isinstance(previous, RemoteNode) and previous.url == url:
            previous.name = name
            return previous
        return RemoteNode(
            inode=inode,
            identity=identity,
            name=name,
            kind=Kind.TEXT,
            parent=parent.inode,
            mtime_ns=parent.mtime_ns,
            url=url,
        )

    def link(
        self, parent: DirectoryNode, identity: str, name: str, target: str
    ) -> LinkNode:
        """Return a symbolic link node in *parent*."""
        return LinkNode(
            inode=self.inode_for(identity),
            identity=identity,
            name=name,
            kind=Kind.LINK,
            parent=parent.inode,
            mtime_ns=parent.mtime_ns,
            target=target,
        )
