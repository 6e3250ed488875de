"""Filesystem layer: a tree of arbitrary HLS master playlists, for ``--hls``.

Layout::

    <name>/<WxH>.ts      one directory per master playlist, one file per variant

A directory is named after the last path component of its master playlist
URL without ``.m3u8`` (``stream-2`` for the second of two URLs with the same
name). Each file reads as the variant's segments decrypted and concatenated,
exactly like a TOU.TV media version; the engine does the work.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import trio

from toutvfs.fs import names
from toutvfs.fs.adapter import StreamSettings, variant_entries
from toutvfs.fs.backend import (
    CountingTransport,
    EngineOptions,
    TrafficCounters,
    make_engine,
    select_versions,
)
from toutvfs.fs.identity import playlist_identity
from toutvfs.fs.listings import MEDIA_EXTENSION, variant_stems
from toutvfs.fs.nodes import DirectoryNode, Kind, MediaNode, Node
from toutvfs.fs.offline import ListingStore, OfflineCatalogue
from toutvfs.fs.source import (
    PlayableMedia,
    SectionEntry,
    ShowDetail,
    ShowEntry,
    Stream,
    Subsection,
)
from toutvfs.fs.tree import Tree
from toutvfs.hls import Engine
from toutvfs.hls.playlist import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Playlist:
    """One master playlist of the mount.

    Attributes:
        key: the media key of its files in the engine's caches: the
            playlist's `playlist_identity`, with ``-<n>`` added for the
            second and later copies of one URL.
        name: the directory name.
        url: the master playlist URL.
    """

    key: str
    name: str
    url: str


def playlist_names(urls: list[str]) -> list[Playlist]:
    """Return a `Playlist` for each URL, with unique directory names."""
    playlists: list[Playlist] = []
    taken: set[str] = set()
    keys: set[str] = set()
    for url in urls:
        key = identity = playlist_identity(url)
        copy = 2
        while key in keys:
            key = f"{identity}-{copy}"
            copy += 1
        keys.add(key)
        base = posixpath.basename(urlsplit(url).path)
        base = base.removesuffix(".m3u8") or "playlist"
        name = names.clean_name(base)
        suffix = 2
        while name in taken:
            name = names.clean_name(f"{base}-{suffix}")
            suffix += 1
        taken.add(name)
        playlists.append(Playlist(key=key, name=name, url=url))
    return playlists


class HlsBackend:
    """Catalogue and streams of the ``--hls`` playlists, on one `Engine`."""

    def __init__(
        self,
        urls: list[str],
        settings: StreamSettings,
        options: EngineOptions,
        versions: str = "all",
    ) -> None:
        self.playlists = {playlist.key: playlist for playlist in playlist_names(urls)}
        self.settings = settings
        self.options = options
        self.versions = versions
        self.traffic = TrafficCounters()
        self._engine: Engine | None = None
        self._tree: Tree | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("HlsBackend.running() has not been entered")
        return self._engine

    @asynccontextmanager
    async def running(self) -> AsyncIterator[HlsBackend]:
        """Open the HTTP client and the engine's task nursery, then close them."""
        transport = CountingTransport(self.traffic)
        async with httpx.AsyncClient(transport=transport) as http:
            async with trio.open_nursery() as nursery:
                self._engine = make_engine(http, self.settings, self.options, nursery)
                try:
                    yield self
                finally:
                    nursery.cancel_scope.cancel()
                    self._engine = None

    def cache_media_key(self, id_media: str) -> str:
        """Return the engine's media key of *id_media*: the playlist's key."""
        return id_media

    def build_tree(self, ttl: float, listings: ListingStore | None = None) -> Tree:
        """Return a tree whose root lists the playlists.

        The playlist directories are served from *listings* when the
        network fails.
        """
        listings = listings or ListingStore(None)
        tree = Tree(OfflineCatalogue(self, listings), self, ttl=ttl)
        tree.root.loader = self._list_root
        self._tree = tree
        return tree

    @property
    def tree(self) -> Tree:
        if self._tree is None:
            raise RuntimeError("HlsBackend.build_tree() has not been called")
        return self._tree

    async def _list_root(self, root: DirectoryNode) -> list[Node]:
        tree = self.tree
        return [
            tree.directory(
                root, f"hls:{playlist.key}", playlist.name, self._list_playlist
            )
            for playlist in self.playlists.values()
        ]

    async def _list_playlist(self, directory: DirectoryNode) -> list[Node]:
        tree = self.tree
        key = directory.identity.removeprefix("hls:")
        playlist = self.playlists[key]
        media = await tree.catalogue.media(key)
        entries = select_versions(media.variants, self.versions)
        nodes: list[Node] = []
        for variant, stem in zip(entries, variant_stems(entries), strict=True):
            identity = f"media:{key}:{variant.key}"
            inode = tree.inode_for(identity)
            existing = tree.get(inode)
            if isinstance(existing, MediaNode) and existing.size_exact:
                nodes.append(existing)
                continue
            known = self.known_size(key, variant.key)
            node = MediaNode(
                inode=inode,
                identity=identity,
                name=names.fit_name(stem, MEDIA_EXTENSION),
                kind=Kind.MEDIA,
                parent=directory.inode,
                id_media=key,
                variant=variant,
                size=known or 0,
                size_exact=known is not None,
            )
            node.xattrs.update(
                {"url": redact(playlist.url), "bandwidth": str(variant.bandwidth)}
            )
            nodes.append(node)
        log.info("%s: %d variants", playlist.name, len(nodes))
        return nodes

    # Catalogue: the TOU.TV parts of the protocol, other than media, list
    # nothing here.

    async def shows(self) -> list[ShowEntry]:
        return []

    async def show(self, slug: str) -> ShowDetail:
        return ShowDetail(slug=slug, title=slug)

    async def media(self, id_media: str) -> PlayableMedia:
        """Return the variants of the master playlist whose key is *id_media*."""
        found = await self.engine.variants(self.playlists[id_media].url)
        return PlayableMedia(variants=variant_entries(found))

    async def sections(self) -> list[SectionEntry]:
        return []

    async def subsections(self, slug: str) -> list[Subsection]:
        return []

    async def search(self, term: str) -> list[ShowEntry]:
        return []

    async def fetch(self, url: str) -> bytes:
        return b""

    # Streams

    def known_size(self, id_media: str, variant_key: str) -> int | None:
        return self.engine.known_size(id_media, variant_key)

    async def cached_bytes(self, id_media: str, variant_key: str) -> int:
        return await self.engine.cached_bytes(id_media, variant_key)

    async def open(self, id_media: str, variant_key: str) -> Stream:
        url = self.playlists[id_media].url

        async def resolve() -> str:
            return url

        return await self.engine.open(id_media, variant_key, resolve)
