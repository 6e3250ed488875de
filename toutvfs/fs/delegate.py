"""Filesystem layer: a base class for catalogues that wrap another catalogue.

A wrapper such as `toutvfs.fs.offline.OfflineCatalogue` or
`toutvfs.fs.backend.VersionFilter` subclasses `DelegatingCatalogue` and
overrides only the methods whose results it changes. Every other method of
the `Catalogue` protocol goes to the inner catalogue unchanged.
"""

from __future__ import annotations

from toutvfs.fs.source import (
    Catalogue,
    PlayableMedia,
    SectionEntry,
    ShowDetail,
    ShowEntry,
    Subsection,
)


class DelegatingCatalogue:
    """A `Catalogue` that forwards every call to *inner*.

    Attributes:
        inner: the catalogue that receives the calls.
    """

    def __init__(self, inner: Catalogue) -> None:
        self.inner = inner

    async def shows(self) -> list[ShowEntry]:
        return await self.inner.shows()

    async def show(self, slug: str) -> ShowDetail:
        return await self.inner.show(slug)

    async def media(self, id_media: str) -> PlayableMedia:
        return await self.inner.media(id_media)

    async def sections(self) -> list[SectionEntry]:
        return await self.inner.sections()

    async def subsections(self, slug: str) -> list[Subsection]:
        return await self.inner.subsections(slug)

    async def search(self, term: str) -> list[ShowEntry]:
        return await self.inner.search(term)

    async def fetch(self, url: str) -> bytes:
        return await self.inner.fetch(url)
