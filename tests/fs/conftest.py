"""A fake catalogue and fake streams for tests of the filesystem layer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from toutvfs.errors import NetworkError, UnsupportedMedia
from toutvfs.fs.source import (
    EpisodeEntry,
    PlayableMedia,
    SeasonEntry,
    SectionEntry,
    ShowDetail,
    ShowEntry,
    Subsection,
    VariantEntry,
)
from toutvfs.fs.tree import Tree

LOW = VariantEntry(key="400000-320x180", bandwidth=400_000, resolution=(320, 180))
HIGH = VariantEntry(key="900000-640x360", bandwidth=900_000, resolution=(640, 360))

AIRED = dt.datetime(2024, 1, 2, 5, 0, tzinfo=dt.UTC)


def episode(id_media: str, title: str, number: int, season: int = 1) -> EpisodeEntry:
    return EpisodeEntry(
        id_media=id_media,
        title=title,
        season=season,
        number=number,
        duration=60,
        aired=AIRED,
        description=f"{title} : la suite.",
        url=f"fleuve/s{season:02d}e{number:02d}",
        image_url=f"http://images.test/{id_media}_(_Size_).jpg",
    )


FLEUVE = ShowEntry(slug="fleuve", title="Les Héritiers du fleuve")
NORD = ShowEntry(slug="nord", title="Le Grand Nord")


@dataclass
class FakeCatalogue:
    """A catalogue of one series and one film, counting calls."""

    calls: list[str] = field(default_factory=list)
    failing: bool = False

    async def shows(self) -> list[ShowEntry]:
        self.calls.append("shows")
        if self.failing:
            raise NetworkError("connection refused")
        return [
            FLEUVE,
            NORD,
            ShowEntry(slug="doublon-1", title="Doublon"),
            ShowEntry(slug="doublon-2", title="Doublon"),
        ]

    async def show(self, slug: str) -> ShowDetail:
        self.calls.append(f"show:{slug}")
        if slug == "nord":
            return ShowDetail(
                slug="nord",
                title="Le Grand Nord",
                film=episode("2001", "Le Grand Nord", 0),
            )
        return ShowDetail(
            slug=slug,
            title="Les Héritiers du fleuve",
            description="Une famille de pilotes.",
            poster_url="http://images.test/poster_(_Size_).jpg",
            genres=("Drames",),
            seasons=(
                SeasonEntry(
                    title="Saison 1",
                    number=1,
                    episodes=(
                        episode("1001", "Le départ", 1),
                        episode("1002", "Brume / Partie 1", 2),
                        episode("1003", "Verrouillé", 3),
                    ),
                ),
            ),
        )

    async def media(self, id_media: str) -> PlayableMedia:
        self.calls.append(f"media:{id_media}")
        if id_media == "1003":
            return PlayableMedia(
                unavailable="Ce contenu est protégé par DRM.", reason="drm"
            )
        return PlayableMedia(
            variants=[LOW, HIGH], caption_url=f"http://cc.test/{id_media}.vtt"
        )

    async def sections(self) -> list[SectionEntry]:
        self.calls.append("sections")
        return [
            SectionEntry(kind="formats", title="Séries", slug="serie"),
            SectionEntry(kind="genres", title="Drames", slug="drames"),
        ]

    async def subsections(self, slug: str) -> list[Subsection]:
        self.calls.append(f"subsections:{slug}")
        if slug == "serie":
            return [
                Subsection(title="Populaires", shows=(FLEUVE, NORD)),
                Subsection(title="", shows=(FLEUVE,)),
            ]
        return [Subsection(title="Drames", shows=(FLEUVE,))]

    async def search(self, term: str) -> list[ShowEntry]:
        self.calls.append(f"search:{term}")
        return [
            show for show in (FLEUVE, NORD) if term.casefold() in show.title.casefold()
        ]

    async def fetch(self, url: str) -> bytes:
        self.calls.append(f"fetch:{url}")
        return f"body of {url}".encode()


class FakeStream:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.closed = False
        # Raised by every read once set, as by a stream whose source fails.
        self.failure: Exception | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    async def read(self, offset: int, size: int) -> bytes:
        if self.failure is not None:
            raise self.failure
        return self.data[offset : offset + size]

    def read_buffered(self, offset: int, size: int) -> memoryview | None:
        # Every read goes through `read`, so that `failure` applies to it.
        return None

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeStreams:
    """Streams whose content is a pattern derived from the media and variant."""

    opened: list[FakeStream] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    cached: dict[tuple[str, str], int] = field(default_factory=dict)

    def content(self, id_media: str, variant_key: str) -> bytes:
        unit = f"{id_media}/{variant_key};".encode()
        return (unit * 2000)[:12_345]

    def known_size(self, id_media: str, variant_key: str) -> int | None:
        return None

    async def cached_bytes(self, id_media: str, variant_key: str) -> int:
        return self.cached.get((id_media, variant_key), 0)

    async def open(self, id_media: str, variant_key: str) -> FakeStream:
        if id_media in self.refuse:
            raise UnsupportedMedia("SAMPLE-AES key in playlist", signal="SAMPLE-AES")
        stream = FakeStream(self.content(id_media, variant_key))
        self.opened.append(stream)
        return stream


@pytest.fixture
def catalogue() -> FakeCatalogue:
    return FakeCatalogue()


@pytest.fixture
def streams() -> FakeStreams:
    return FakeStreams()


@pytest.fixture
def tree(catalogue: FakeCatalogue, streams: FakeStreams) -> Tree:
    return Tree(catalogue, streams)
