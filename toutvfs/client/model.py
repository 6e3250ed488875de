"""Client layer: the pytoutv object model that the synchronous facade returns.

The classes and properties keep the names of pytoutv's ``toutv3.model``.
`toutvfs.client.adapt` fills them from the session's records. A property
with no source on the current services is None, or empty for a list, and
docs/api.md lists each one. Properties that need another request (``show``,
``section``, ``media_versions``) send it when read, through the client that
made the object.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toutvfs.client.download import Download
    from toutvfs.client.facade import Client


@dataclass(frozen=True, order=True)
class Key:
    """A catalogue key such as ``show-unite-7``, split at its first dash.

    Attributes:
        key: the whole key.
        key_type: the part before the first dash (``"show"``).
        key_code: the part after it (``"unite-7"``).
    """

    key: str
    key_type: str = field(compare=False, default="")
    key_code: str = field(compare=False, default="")

    @classmethod
    def parse(cls, key: str | None) -> Key | None:
        """Return the `Key` of *key*, or None when *key* is None."""
        if not key:
            return None
        key_type, _, key_code = key.partition("-")
        return cls(key=key, key_type=key_type, key_code=key_code)

    def __str__(self) -> str:
        return self.key


@dataclass
class _Linked:
    """Base of model objects that can send requests through their client."""

    _client: Client | None = field(
        default=None, repr=False, compare=False, kw_only=True
    )

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError(
                f"this {type(self).__name__} has no client to fetch with"
            )
        return self._client


@dataclass
class Bookmark(_Linked):
    """A show the user bookmarked."""

    key: Key | None = None
    creation_date: datetime.datetime | None = None
    url: str | None = None

    @property
    def show(self) -> Show:
        """The bookmarked show, fetched when read."""
        if self.url is None:
            raise RuntimeError("this bookmark has no show URL")
        return self._require_client().get_show(self.url)


@dataclass
class UserInfos:
    """The account's information."""

    ban_level: int | None = None
    name: str | None = None
    email: str | None = None
    is_hd: bool | None = None
    bookmarks: list[Bookmark] = field(default_factory=list)
    stats_metas: dict[str, str] | None = None
    rc_telco: str | None = None
    rc_features: Any = None
    is_premium: bool | None = None
    show_ads: bool | None = None


@dataclass
class SectionSummary(_Linked):
    """A section of the browse page, by name (its category slug)."""

    name: str = ""
    title: str = ""

    @property
    def section(self) -> Section:
        """The whole section, fetched when read."""
        return self._require_client().get_section(self.name)


@dataclass
class SearchShowSummary(_Linked):
    """A show of the catalogue index."""

    title: str = ""
    url: str = ""
    is_free: bool | None = None
    image_url: str | None = None
    key: Key | None = None
    searchable_text: str | None = None
    is_media: bool = False
    is_geolocalized: bool | None = None

    @property
    def show(self) -> Show:
        """The show page, fetched when read."""
        return self._require_client().get_show(self.url)


@dataclass
class ShowLineupItem(_Linked):
    """A show in a section's lineup."""

    title: str = ""
    url: str = ""
    key: Key | None = None
    description: str | None = None
    image_url: str | None = None
    is_active: bool = True
    is_drm: bool | None = None
    is_free: bool | None = None
    is_geolocalized: bool | None = None
    length_text: str | None = None
    share_url: str | None = None
    template: str | None = None

    @property
    def show(self) -> Show:
        """The show page, fetched when read."""
        return self._require_client().get_show(self.url)


@dataclass
class SubsectionLineup:
    """A row of shows in a section."""

    name: str | None = None
    title: str | None = None
    is_free: bool | None = None
    items: list[ShowLineupItem] = field(default_factory=list)


@dataclass
class Section:
    """A section (a category page) with its lineups."""

    name: str = ""
    title: str = ""
    subsection_lineups: list[SubsectionLineup] = field(default_factory=list)
    stats_metas: dict[str, str] | None = None


@dataclass
class Network:
    """A broadcaster."""

    name: str | None = None
    title: str | None = None
    image_url: str | None = None
    url: str | None = None


@dataclass
class Credits:
    """One role and the people in it."""

    role: str = ""
    names: list[str] = field(default_factory=list)


@dataclass
class Details:
    """The descriptive details of a show or an episode."""

    rating: str | None = None
    air_date_text: str | None = None
    original_title: str | None = None
    credits: list[Credits] = field(default_factory=list)
    copyright: str | None = None
    description: str | None = None
    country: str | None = None
    length_text: str | None = None
    length: datetime.timedelta | None = None
    production_year: int | None = None
    details_type: str | None = None
    image_url: str | None = None
    networks: list[Network] = field(default_factory=list)


@dataclass
class MediaVersion(_Linked):
    """One variant of a media: a bandwidth and a resolution.

    Attributes:
        id_media: the media.
        bandwidth: peak bits per second.
        resolution: (width, height) in pixels, or None.
        variant_key: the HLS engine's name of the variant.
    """

    id_media: str = ""
    bandwidth: int = 0
    resolution: tuple[int, int] | None = None
    variant_key: str = ""

    def create_download(self) -> Download:
        """Return a `Download` of this version; nothing is fetched yet."""
        return self._require_client()._create_download(self)


@dataclass
class _Playable(_Linked):
    id_media: str | None = None

    @property
    def media_versions(self) -> list[MediaVersion]:
        """The media's versions, lowest bandwidth first, fetched when read.

        Raises:
            MediaUnavailable: a subclass for each refusal of the service.
            UnsupportedMedia: the media is DRM-protected.
        """
        if self.id_media is None:
            raise RuntimeError(f"this {type(self).__name__} has no media")
        return self._require_client()._media_versions(self.id_media)


@dataclass
class EpisodeLineupItem(_Playable):
    """An episode, trailer or other media of a season."""

    title: str = ""
    url: str | None = None
    key: Key | None = None
    description: str | None = None
    image_url: str | None = None
    details: Details | None = None
    is_active: bool = True
    is_free: bool | None = None
    is_drm: bool | None = None
    is_geolocalized: bool | None = None
    share_url: str | None = None
    template: str | None = None


@dataclass
class SeasonLineup:
    """A season of a show, or its trailer row."""

    name: str | None = None
    title: str = ""
    url: str | None = None
    is_free: bool | None = None
    items: list[EpisodeLineupItem] = field(default_factory=list)


@dataclass
class Show(_Playable):
    """A show page; ``id_media`` is set for a film, a single media."""

    title: str = ""
    key: Key | None = None
    description: str | None = None
    bg_image_url: str | None = None
    image_url: str | None = None
    details: Details | None = None
    season_lineups: list[SeasonLineup] = field(default_factory=list)
    stats_metas: dict[str, str] | None = None


@dataclass(frozen=True)
class DownloadProgress:
    """The state of a download after one more chunk.

    Attributes:
        dl_bytes: bytes in the output file so far.
        dl_segments: media segments written completely.
        total_segments: media segments in all.
        dl_seconds: seconds since the download started.
    """

    dl_bytes: int
    dl_segments: int
    total_segments: int
    dl_seconds: float
