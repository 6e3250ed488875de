"""What the filesystem layer needs from the catalogue and the HLS engine.

The tree is built from these records and protocols only, so it can be tested
with a fake catalogue. `toutvfs.fs.adapter` implements them on the client
library and the HLS engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ShowEntry:
    """A show in a listing: enough to name its directory."""

    slug: str
    title: str


@dataclass(frozen=True)
class SectionEntry:
    """A section of the browse page: a format, genre, network or collection.

    Attributes:
        kind: ``"formats"``, ``"genres"``, ``"networks"`` or ``"collections"``.
        slug: the category slug that lists its shows.
    """

    kind: str
    title: str
    slug: str


@dataclass(frozen=True)
class Subsection:
    """A lineup of a category page: a titled list of shows."""

    title: str
    shows: tuple[ShowEntry, ...]


@dataclass(frozen=True)
class EpisodeEntry:
    """A playable item of a show: an episode, a trailer, an extra or a film.

    Attributes:
        id_media: the media id that validation takes.
        kind: ``"Episode"``, ``"Trailer"`` or another catalogue media type.
        season: season number, 0 for trailers and extras.
        number: episode number in its season.
        duration: length in seconds, 0 when the catalogue does not say.
        aired: air or availability date, or None.
    """

    id_media: str
    title: str
    kind: str = "Episode"
    season: int = 0
    number: int = 0
    duration: int = 0
    aired: dt.datetime | None = None
    description: str = ""
    tier: str = "Standard"
    url: str = ""
    image_url: str = ""
    rating: str = ""
    production_year: int = 0


@dataclass(frozen=True)
class SeasonEntry:
    """A lineup of a show page: one season, or the trailers and extras."""

    title: str
    number: int
    episodes: tuple[EpisodeEntry, ...]


@dataclass(frozen=True)
class ShowDetail:
    """A show page.

    Attributes:
        film: for a film, its one playable item; None for a series.
    """

    slug: str
    title: str
    seasons: tuple[SeasonEntry, ...] = ()
    film: EpisodeEntry | None = None
    description: str = ""
    poster_url: str = ""
    fanart_url: str = ""
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class VariantEntry:
    """One media version of an episode: an HLS variant of its master playlist.

    Attributes:
        key: stable identifier of the variant within its media.
        resolution: ``(width, height)``, or None for audio-only variants.
        bandwidth: peak bit rate in bit/s.
    """

    key: str
    bandwidth: int
    resolution: tuple[int, int] | None
    codecs: str = ""
    average_bandwidth: int | None = None


@dataclass
class PlayableMedia:
    """The media versions of one episode, or why it cannot be played.

    Attributes:
        variants: lowest bandwidth first; empty when *unavailable* is set.
        unavailable: the service's explanation when the media cannot be
            played (DRM, geo-blocking, subscription, login), else None.
        reason: short tag for the kind of refusal, such as ``"drm"``.
        caption_url: absolute URL of French WebVTT captions, or empty.
    """

    variants: list[VariantEntry] = field(default_factory=list)
    unavailable: str | None = None
    reason: str = ""
    caption_url: str = ""


class Stream(Protocol):
    """An open media version: exact size and random-access reads."""

    @property
    def size(self) -> int: ...

    async def read(self, offset: int, size: int) -> bytes: ...

    def read_buffered(self, offset: int, size: int) -> memoryview | None:
        """Return the bytes of `read` at once, or None if they need an ``await``."""
        ...

    async def close(self) -> None: ...


class Catalogue(Protocol):
    """The catalogue as the directory tree reads it."""

    async def shows(self) -> list[ShowEntry]: ...

    async def show(self, slug: str) -> ShowDetail: ...

    async def media(self, id_media: str) -> PlayableMedia: ...

    async def sections(self) -> list[SectionEntry]: ...

    async def subsections(self, slug: str) -> list[Subsection]: ...

    async def search(self, term: str) -> list[ShowEntry]: ...

    async def fetch(self, url: str) -> bytes:
        """Return the body of a small file: an image or captions."""
        ...


class Streams(Protocol):
    """Opens media versions and reports sizes known without the network."""

    def known_size(self, id_media: str, variant_key: str) -> int | None: ...

    async def cached_bytes(self, id_media: str, variant_key: str) -> int:
        """Return how many bytes of the media version the segment cache has."""
        ...

    async def open(self, id_media: str, variant_key: str) -> Stream: ...


Resolver = Callable[[], Awaitable[str]]
