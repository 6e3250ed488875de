"""Emulator layer: the catalogue that an emulator serves, as plain data.

A `Catalogue` is what a catalogue file describes (see `toutvfs.emulator.loader`
and docs/emulator.md): sections, shows with seasons and episodes, accounts,
media profiles, faults and network shaping. The payload builders read it and
never change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toutvfs.emulator.faults import Fault
from toutvfs.emulator.media import MediaProfile
from toutvfs.emulator.shaping import Shaping

TIERS = ("Standard", "Member", "Premium")

# Media modes: how an episode's HLS is packaged, or "drm" for a media that
# only exists as DRM-protected DASH.
HLS_MODES = (
    "aes",
    "aes-implicit-iv",
    "aes-explicit-iv",
    "aes-rotation",
    "clear",
    "none-after-key",
    "sample-aes",
    "fmp4",
    "byterange",
)
MODES = (*HLS_MODES, "drm")

# Refusals that validation returns whatever the account.
RESTRICTIONS = ("none", "geo-blocked", "login-required", "premium-only")

SECTION_KINDS = ("format", "network", "collection", "genre")
SHOW_KINDS = ("series", "film")
MEDIA_TYPES = ("Episode", "Trailer", "Film")


@dataclass
class Episode:
    """A playable item: an episode, a trailer or a film.

    Attributes:
        id_media: the media id that meta and validation take.
        number: episode number within its season (0 for a trailer or film).
        title, description: as the catalogue shows them; a None description
            is left out of the show page.
        tier: who may play it (``Standard``, ``Member``, ``Premium``).
        duration: length in seconds that the catalogue and meta report.
        air_date: ISO date.
        media_type: ``Episode``, ``Trailer`` or ``Film``.
        mode: the media mode, one of `MODES`.
        restriction: a refusal from `RESTRICTIONS` that overrides the tier.
        profile: the generated media it plays; many episodes share one.
        media_dir: a directory of HLS files made elsewhere, served unchanged
            in place of generated media; it must contain ``master.m3u8``.
        faults: faults that fire only on requests about this episode.
        shaping: network shaping for requests about this episode.
        show_slug, season_number: where it sits; set by the catalogue.
    """

    id_media: int
    title: str
    number: int = 1
    description: str | None = None
    tier: str = "Member"
    duration: int | None = None
    air_date: str = "2024-01-01"
    media_type: str = "Episode"
    mode: str = "aes"
    restriction: str = "none"
    profile: MediaProfile = field(default_factory=MediaProfile)
    media_dir: Path | None = None
    faults: list[Fault] = field(default_factory=list)
    shaping: Shaping | None = None
    show_slug: str = ""
    season_number: int = 0

    @property
    def length(self) -> int:
        """Length in whole seconds, from `duration` or the media profile."""
        if self.duration is not None:
            return self.duration
        return int(self.profile.duration)

    @property
    def slug(self) -> str:
        """The item's ``url`` on the show page, such as ``show/s01e02``."""
        return f"{self.show_slug}/s{self.season_number:02d}e{self.number:02d}"


@dataclass
class Season:
    """A season of a series; its lineup on the show page."""

    number: int
    episodes: list[Episode]
    title: str = ""
    tier: str = "Member"

    @property
    def display_title(self) -> str:
        return self.title or f"Saison {self.number}"


@dataclass
class Show:
    """A series or a film.

    Attributes:
        slug: the show's ``url`` (``les-heritiers-du-fleuve``).
        kind: ``series`` or ``film``.
        seasons: the seasons of a series; empty for a film.
        film: the single media of a film.
        trailer: an optional trailer, listed as season 0.
        search_type: the ``type`` of the show in the legacy index
            (``Show``, or ``Season`` for a serialised series).
    """

    slug: str
    title: str
    description: str | None = None
    tier: str = "Member"
    kind: str = "series"
    genre: str = "Drames"
    seasons: list[Season] = field(default_factory=list)
    film: Episode | None = None
    trailer: Episode | None = None
    search_type: str = "Show"
    production_year: int = 2024

    def episodes(self) -> list[Episode]:
        """Return every playable item of the show, trailer first."""
        found: list[Episode] = []
        if self.trailer is not None:
            found.append(self.trailer)
        if self.film is not None:
            found.append(self.film)
        for season in self.seasons:
            found.extend(season.episodes)
        return found


@dataclass
class Section:
    """A browse entry and its category page.

    Attributes:
        slug: the category slug (``serie`` for ``category/serie``).
        kind: which list of the browse page it is in: ``format``,
            ``network``, ``collection`` or ``genre``.
        shows: slugs of its shows, in page order.
    """

    slug: str
    title: str
    kind: str = "format"
    shows: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Account:
    """A test account that the login flow accepts."""

    email: str
    password: str
    tier: str = "Member"
    first_name: str = "Test"
    last_name: str = "Compte"


@dataclass(frozen=True)
class Settings:
    """Service-wide settings of a catalogue.

    Attributes:
        token_lifetime: seconds an access token stays valid.
        signed_url_lifetime: seconds a signed media URL stays valid.
        strict_cookies: require, on key and segment requests, the cookie
            that the master playlist's response sets.
        max_page_size: the largest ``pageSize`` that paged calls honour.
    """

    token_lifetime: float = 3600.0
    signed_url_lifetime: float = 120.0
    strict_cookies: bool = False
    max_page_size: int = 1000


@dataclass
class Catalogue:
    """Everything an emulator serves."""

    sections: list[Section]
    shows: dict[str, Show]
    accounts: list[Account] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    shaping: list[Shaping] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    episodes: dict[int, Episode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index()

    def index(self) -> None:
        """Link every episode to its show and rebuild the id index.

        Raises:
            ValueError: two items share an ``id_media``, or a section names a
                show that does not exist.
        """
        self.episodes = {}
        for show in self.shows.values():
            if show.trailer is not None:
                show.trailer.show_slug = show.slug
                show.trailer.season_number = 0
            if show.film is not None:
                show.film.show_slug = show.slug
                show.film.season_number = 1
            for season in show.seasons:
                for episode in season.episodes:
                    episode.show_slug = show.slug
                    episode.season_number = season.number
            for episode in show.episodes():
                if episode.id_media in self.episodes:
                    raise ValueError(f"duplicate id_media {episode.id_media}")
                self.episodes[episode.id_media] = episode
        for section in self.sections:
            for slug in section.shows:
                if slug not in self.shows:
                    raise ValueError(
                        f"section {section.slug!r} lists unknown show {slug!r}"
                    )

    def section(self, slug: str) -> Section | None:
        """Return the section with *slug*, or None."""
        for section in self.sections:
            if section.slug == slug:
                return section
        return None

    def account(self, email: str) -> Account | None:
        """Return the account with *email* (case-insensitive), or None."""
        for account in self.accounts:
            if account.email.lower() == email.lower():
                return account
        return None
