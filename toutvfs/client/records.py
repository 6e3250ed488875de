"""Client layer: the plain records that the async session returns.

Every record is a frozen dataclass built by `toutvfs.client.parse` from one
response of the service. Fields the service may leave out or set to null are
``None`` here; lists are tuples so that a record never changes after it is
built.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal

ContentType = Literal["series", "film"]


@dataclass(frozen=True)
class BrowseSection:
    """One entry of the browse page: a format, genre, network or collection.

    Attributes:
        kind: ``"formats"``, ``"genres"``, ``"networks"`` or ``"collections"``.
        title: the display title, for example ``"Séries"``.
        slug: the category slug that `Session.category` takes; the browse page
            gives ``categorie/<slug>``.
        image_url: the section image with its ``(_Size_)`` placeholder, or
            None for genres, which have no image.
    """

    kind: str
    title: str
    slug: str
    image_url: str | None


@dataclass(frozen=True)
class BrowsePage:
    """The browse page: every section of the catalogue, in the service's order."""

    sections: tuple[BrowseSection, ...]

    def by_kind(self, kind: str) -> tuple[BrowseSection, ...]:
        """Return the sections of one kind, such as ``"genres"``."""
        return tuple(section for section in self.sections if section.kind == kind)


@dataclass(frozen=True)
class Card:
    """A show as a catalogue, category or search result lists it.

    Attributes:
        title: the display title; two cards may share one.
        slug: the show's URL name (``url`` in the API), unique per show.
        key: the service's key, for example ``"show-unite-7"``.
        tier: ``"Standard"``, ``"Member"`` or ``"Premium"``, or None.
        type: the result type, ``"Show"`` for most cards.
        description, info_title, image_url: optional display fields.
    """

    title: str
    slug: str
    key: str | None = None
    tier: str | None = None
    type: str | None = None
    description: str | None = None
    info_title: str | None = None
    image_url: str | None = None


@dataclass(frozen=True)
class CardLineup:
    """A titled row of cards on a category page."""

    title: str | None
    cards: tuple[Card, ...]


@dataclass(frozen=True)
class CategoryPage:
    """A category page with every page of its lineups fetched."""

    slug: str
    title: str
    lineups: tuple[CardLineup, ...]

    @property
    def cards(self) -> tuple[Card, ...]:
        """Every card of every lineup, in order."""
        return tuple(card for lineup in self.lineups for card in lineup.cards)


@dataclass(frozen=True)
class IndexEntry:
    """One show of the catalogue index.

    Attributes:
        title: the display title.
        slug: the show's URL name.
        type: ``"Show"`` or ``"Season"``, or None when the
            entry comes from a category page.
        searchable_text: the index's search text, or None.
        image_url: the card image, or None.
    """

    title: str
    slug: str
    type: str | None = None
    searchable_text: str | None = None
    image_url: str | None = None


@dataclass(frozen=True)
class Item:
    """A playable item of a show: an episode, a trailer or a film.

    Attributes:
        id_media: the media id that `Session.meta` and `Session.validate`
            take, as a decimal string.
        title: the display title, which may contain ``/``.
        episode_number: the number within its season, or None.
        media_type: ``"Episode"``, ``"Trailer"`` and so on, or None.
        tier: the item's tier, or None.
        url: the item's URL name, for example ``"show/s01e02"``.
        description: the item's text, often absent.
        duration: length in seconds, or None.
        air_date: first broadcast day, or None when absent or not a date.
        air_date_text: the air date exactly as the service wrote it.
        availability_date: when the item became available (UTC), or None.
        image_url: the card image with its ``(_Size_)`` placeholder, or None.
        info_title: a short label such as ``"S01 É02"``, or None.
        production_year, rating, country, copyright: metadata, or None.
        credits: (role, names) pairs.
    """

    id_media: str
    title: str
    episode_number: int | None = None
    media_type: str | None = None
    tier: str | None = None
    url: str | None = None
    description: str | None = None
    duration: int | None = None
    air_date: datetime.date | None = None
    air_date_text: str | None = None
    availability_date: datetime.datetime | None = None
    image_url: str | None = None
    info_title: str | None = None
    production_year: int | None = None
    rating: str | None = None
    country: str | None = None
    copyright: str | None = None
    credits: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SeasonLineup:
    """A season (or the trailer row, season 0) of a show page."""

    title: str
    season_number: int | None
    tier: str | None
    url: str | None
    items: tuple[Item, ...]


@dataclass(frozen=True)
class ShowPage:
    """A show page: its text, images and lineups.

    Attributes:
        slug: the URL name the page was requested with.
        title, description: display text; the description may be None.
        original_title: the original title, or None.
        images: image URLs by role (``"card"``, ``"background"``, ``"logo"``).
        content_type: ``"series"`` for ``contentType`` ``"Season"``, and
            ``"film"`` for ``"Standalone"``.
        lineups: the seasons in the service's order, trailers included.
        genres: the genres of the structured metadata.
    """

    slug: str
    title: str
    description: str | None
    original_title: str | None
    images: dict[str, str] = field(hash=False)
    content_type: ContentType
    lineups: tuple[SeasonLineup, ...]
    genres: tuple[str, ...] = ()

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item of every lineup, in order."""
        return tuple(item for lineup in self.lineups for item in lineup.items)


@dataclass(frozen=True)
class Tech:
    """One playback technology that the media metadata offers.

    Attributes:
        name: ``"hls"``, ``"dash"`` or ``"smooth"``.
        drm: the DRM systems that protect it; empty means clear.
        manifest_versions: the manifest versions offered.
    """

    name: str
    drm: tuple[str, ...]
    manifest_versions: tuple[str, ...]


@dataclass(frozen=True)
class MediaMeta:
    """The metadata of one media.

    Attributes:
        id_media: the media id.
        techs: the playback technologies; empty when the response is the list
            form of ``Metas``, which has no ``availableTechs``.
        drm_signals: the names of the fields that mark the media as
            DRM-protected; empty when none does.
        caption_url: the closed-caption file, made absolute with ``https:``,
            or None.
        metas: every ``Metas`` entry as a string.
    """

    id_media: str
    techs: tuple[Tech, ...]
    drm_signals: tuple[str, ...]
    caption_url: str | None
    metas: dict[str, str] = field(hash=False)

    def clear_hls(self) -> Tech | None:
        """Return the HLS tech that no DRM protects, or None."""
        for tech in self.techs:
            if tech.name.lower() == "hls" and not tech.drm:
                return tech
        return None


@dataclass(frozen=True)
class Validation:
    """The service's answer to a validation request, before interpretation."""

    url: str | None
    message: str | None
    error_code: int
    params: dict[str, object] = field(hash=False)
    bitrates: tuple[tuple[int, int | None, int | None], ...] = ()


@dataclass(frozen=True)
class SubscriberProfile:
    """The subscriber profile: the account's tier and its claims token."""

    tier: str | None
    claims_token: str | None
    stats_metas: dict[str, str] = field(hash=False)
