"""Nodes of the filesystem tree and their inode numbers.

Every node has an identity string made from catalogue ids (``show:<slug>``,
``media:<id>:<variant>``, ...). Its inode number is a hash of that identity,
so the same show or media version gets the same inode on every mount.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from toutvfs.fs.source import EpisodeEntry, SeasonEntry, ShowEntry, VariantEntry

ROOT_INODE = 1

# Inode numbers stay below 2**63 so that they fit in a signed 64-bit ino_t.
_INODE_MASK = (1 << 63) - 1


class Kind(enum.Enum):
    """The file type of a node."""

    DIRECTORY = "directory"
    MEDIA = "media"
    TEXT = "text"
    LINK = "link"


@dataclass(eq=False)
class Node:
    """One file, directory or link of the tree.

    Attributes:
        identity: catalogue-derived key the inode number is hashed from.
        parent: inode of the directory that lists this node.
        mtime_ns: modification time in nanoseconds since the epoch.
        xattrs: extended attributes, without their ``user.toutv.`` prefix.
    """

    inode: int
    identity: str
    name: str
    kind: Kind
    parent: int
    mtime_ns: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)


Loader = Callable[["DirectoryNode"], Awaitable[list[Node]]]
MissingHandler = Callable[["DirectoryNode", str], Awaitable["Node | None"]]


@dataclass(eq=False)
class DirectoryNode(Node):
    """A directory whose entries come from *loader* and are kept for a while.

    Attributes:
        loader: coroutine function that lists the entries from the catalogue.
        entries: the last listing by name, or None before the first one.
        loaded_at: monotonic time of the last successful listing.
        on_missing: coroutine function called on lookup of a name the
            listing lacks. It may return a node to add, as the ``search``
            directory does.
        slug: the show or category this directory stands for, if any.
        show_title: the title of the show this directory belongs to.
        members: the shows a subsection directory links to.
        season: the season this directory stands for, if any.
        episode: the episode this directory stands for, if any.
        records: the catalogue records of the last listing, by record key,
            which `toutvfs.fs.offline` stores for pinned files.
    """

    loader: Loader | None = None
    entries: dict[str, Node] | None = None
    loaded_at: float = 0.0
    on_missing: MissingHandler | None = None
    slug: str = ""
    show_title: str = ""
    members: tuple[ShowEntry, ...] = ()
    season: SeasonEntry | None = None
    episode: EpisodeEntry | None = None
    records: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class MediaNode(Node):
    """A media version of an episode: one HLS variant, read through the engine.

    Attributes:
        size: exact size once *size_exact* is true, an estimate before.
    """

    id_media: str = ""
    variant: VariantEntry | None = None
    size: int = 0
    size_exact: bool = False


@dataclass(eq=False)
class TextNode(Node):
    """A small file whose whole content is known: notices and metadata."""

    content: bytes = b""


@dataclass(eq=False)
class RemoteNode(Node):
    """A small file fetched whole on first open: an image or captions.

    Attributes:
        content: the body once fetched, else None; the size is 0 until then.
    """

    url: str = ""
    content: bytes | None = None


@dataclass(eq=False)
class LinkNode(Node):
    """A relative symbolic link."""

    target: str = ""


class InodeTable:
    """Maps identities to inode numbers that never collide within a mount."""

    def __init__(self) -> None:
        self._by_inode: dict[int, str] = {ROOT_INODE: "root"}
        self._by_identity: dict[str, int] = {"root": ROOT_INODE}

    def inode_for(self, identity: str) -> int:
        """Return the inode of *identity*, assigning it on first use."""
        inode = self._by_identity.get(identity)
        if inode is not None:
            return inode
        attempt = 0
        while True:
            seed = identity if attempt == 0 else f"{identity}#{attempt}"
            digest = hashlib.blake2b(seed.encode(), digest_size=8).digest()
            inode = int.from_bytes(digest, "big") & _INODE_MASK
            if inode > ROOT_INODE and inode not in self._by_inode:
                break
            attempt += 1
        self._by_inode[inode] = identity
        self._by_identity[identity] = inode
        return inode
