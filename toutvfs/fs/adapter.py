"""The catalogue and streams of a mount, on the client library and HLS engine.

`Backend` implements the `Catalogue` and `Streams` protocols of
`toutvfs.fs.source` with a `toutvfs.client.Session` and a
`toutvfs.hls.Engine` sharing one `httpx.AsyncClient`. It owns that client
and the engine's background tasks between `running` and its exit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from toutvfs.client import Session, TokenSource
from toutvfs.client.records import Item, ShowPage
from toutvfs.config import Config
from toutvfs.errors import (
    ConnectionError,
    Error,
    GeoBlocked,
    LoginRequired,
    MediaUnavailable,
    NetworkTimeout,
    PremiumOnly,
    UnexpectedHttpStatusCode,
    UnsupportedMedia,
)
from toutvfs.fs.identity import service_identity
from toutvfs.fs.source import (
    EpisodeEntry,
    PlayableMedia,
    SeasonEntry,
    SectionEntry,
    ShowDetail,
    ShowEntry,
    Stream,
    Subsection,
    VariantEntry,
)
from toutvfs.hls import Engine, Variant

log = logging.getLogger(__name__)

# Seconds allowed for fetching an image or a captions file.
FETCH_TIMEOUT = 30.0

# Index entries of these types are shows; the others are episodes or
# collections, which have no show page.
SHOW_TYPES = frozenset({"Show", "Season", None})

# Advice to the user for each kind of refusal, written into UNAVAILABLE.txt.
ADVICE = {
    "drm": "This media is DRM-protected. toutvfs does not play DRM-protected "
    "media; watch it in a web browser or the TOU.TV app.",
    "geo": "TOU.TV offers this media only in Canada.",
    "premium": "This media needs an Extra (premium) subscription: log in with "
    "an account that has one.",
    "login": "This media needs a TOU.TV account: run `toutvfs login` and mount again.",
    "refused": "TOU.TV refused to play this media.",
}


@dataclass(frozen=True)
class StreamSettings:
    """Cache settings of the HLS engine.

    Attributes:
        cache_dir: root of the segment cache, or None for no disk cache.
        cache_size: bound of the segment cache in bytes.
    """

    cache_dir: Path | None = None
    cache_size: int = 0


def _reason(exc: MediaUnavailable | UnsupportedMedia) -> str:
    if isinstance(exc, UnsupportedMedia):
        return "drm"
    if isinstance(exc, GeoBlocked):
        return "geo"
    if isinstance(exc, PremiumOnly):
        return "premium"
    if isinstance(exc, LoginRequired):
        return "login"
    return "refused"


def _aired(item: Item) -> dt.datetime | None:
    if item.availability_date is not None:
        return item.availability_date
    if item.air_date is not None:
        return dt.datetime.combine(item.air_date, dt.time(), tzinfo=dt.UTC)
    return None


def _episode(item: Item, season: int) -> EpisodeEntry:
    return EpisodeEntry(
        id_media=item.id_media,
        title=item.title,
        kind=item.media_type or "Episode",
        season=season,
        number=item.episode_number or 0,
        duration=item.duration or 0,
        aired=_aired(item),
        description=item.description or "",
        tier=item.tier or "Standard",
        url=item.url or "",
        image_url=item.image_url or "",
        rating=item.rating or "",
        production_year=item.production_year or 0,
    )


def show_detail(page: ShowPage) -> ShowDetail:
    """Return the directory view of a show page."""
    poster_url = page.images.get("card", "")
    fanart_url = page.images.get("background", "")
    if page.content_type == "film":
        films = [item for item in page.items if item.media_type != "Trailer"]
        films = films or list(page.items)
        if films:
            return ShowDetail(
                slug=page.slug,
                title=page.title,
                film=_episode(films[0], 0),
                description=page.description or "",
                genres=page.genres,
                poster_url=poster_url,
                fanart_url=fanart_url,
            )
    seasons = tuple(
        SeasonEntry(
            title=lineup.title,
            number=lineup.season_number or 0,
            episodes=tuple(
                _episode(item, lineup.season_number or 0) for item in lineup.items
            ),
        )
        for lineup in page.lineups
    )
    return ShowDetail(
        slug=page.slug,
        title=page.title,
        seasons=seasons,
        description=page.description or "",
        genres=page.genres,
        poster_url=poster_url,
        fanart_url=fanart_url,
    )


class Backend:
    """Catalogue and streams over the TOU.TV services, for one mount."""

    def __init__(
        self,
        config: Config,
        auth: TokenSource,
        settings: StreamSettings,
        source: str | None = None,
    ) -> None:
        self.config = config
        # The identity that starts every media key of the engine; see
        # `toutvfs.fs.identity`. It defaults to one made from the API base.
        self.source = source or service_identity(config.api_base)
        self.auth = auth
        self.settings = settings
        self._session: Session | None = None
        self._engine: Engine | None = None
        self._http: httpx.AsyncClient | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("Backend.running() has not been entered")
        return self._session

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("Backend.running() has not been entered")
        return self._engine

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Backend]:
        """Open the HTTP client and the engine's task nursery, then close them."""
        async with httpx.AsyncClient(follow_redirects=False) as http:
            async with trio.open_nursery() as nursery:
                self._http = http
                self._session = Session(self.config, http, self.auth)
                self._engine = Engine(
                    http,
                    self.settings.cache_dir,
                    self.settings.cache_size,
                    nursery=nursery,
                )
                self.prepare_soon(nursery)
                try:
                    yield self
                finally:
                    nursery.cancel_scope.cancel()
                    self._session = None
                    self._engine = None
                    self._http = None

    def prepare_soon(self, nursery: trio.Nursery) -> None:
        """Log in in the background, so that the first open need not wait for it."""
        nursery.start_soon(_prepare, self.session, name="log in")

    # Catalogue

    async def shows(self) -> list[ShowEntry]:
        index = await self.session.show_index()
        return [
            ShowEntry(slug=entry.slug, title=entry.title)
            for entry in index
            if entry.type in SHOW_TYPES
        ]

    async def show(self, slug: str) -> ShowDetail:
        return show_detail(await self.session.show(slug))

    async def sections(self) -> list[SectionEntry]:
        browse = await self.session.browse()
        return [
            SectionEntry(kind=section.kind, title=section.title, slug=section.slug)
            for section in browse.sections
        ]

    async def subsections(self, slug: str) -> list[Subsection]:
        page = await self.session.category(slug)
        return [
            Subsection(
                title=lineup.title or "",
                shows=tuple(ShowEntry(card.slug, card.title) for card in lineup.cards),
            )
            for lineup in page.lineups
        ]

    async def search(self, term: str) -> list[ShowEntry]:
        cards = await self.session.search(term)
        return [
            ShowEntry(card.slug, card.title)
            for card in cards
            if card.type in SHOW_TYPES
        ]

    async def fetch(self, url: str) -> bytes:
        if self._http is None:
            raise RuntimeError("Backend.running() has not been entered")
        # The query of a signed URL is a secret, so messages leave it out.
        safe_url = url.split("?", 1)[0]
        try:
            response = await self._http.get(url, timeout=FETCH_TIMEOUT)
        except httpx.TimeoutException as exc:
            raise NetworkTimeout(f"GET {safe_url} timed out", url=safe_url) from exc
        except httpx.HTTPError as exc:
            raise ConnectionError(
                f"GET {safe_url} failed: {exc}", url=safe_url
            ) from exc
        if response.status_code != 200:
            raise UnexpectedHttpStatusCode(
                f"GET {safe_url} returned HTTP {response.status_code}",
                status_code=response.status_code,
                url=safe_url,
            )
        return response.content

    async def media(self, id_media: str) -> PlayableMedia:
        try:
            meta = await self.session.meta(id_media)
            master_url = await self.session.validate(id_media)
        except (MediaUnavailable, UnsupportedMedia) as exc:
            reason = _reason(exc)
            log.info("media %s is unavailable (%s): %s", id_media, reason, exc)
            return PlayableMedia(
                unavailable=f"{exc}\n\n{ADVICE[reason]}", reason=reason
            )
        variants = await self.engine.variants(master_url)
        return PlayableMedia(
            variants=variant_entries(variants), caption_url=meta.caption_url or ""
        )

    # Streams

    def media_key(self, id_media: str) -> str:
        """Return the engine's media key of *id_media*, unique to this source."""
        return f"{self.source}-{id_media}"

    def known_size(self, id_media: str, variant_key: str) -> int | None:
        return self.engine.known_size(self.media_key(id_media), variant_key)

    async def cached_bytes(self, id_media: str, variant_key: str) -> int:
        return await self.engine.cached_bytes(self.media_key(id_media), variant_key)

    async def open(self, id_media: str, variant_key: str) -> Stream:
        async def resolve() -> str:
            return await self.session.validate(id_media)

        return await self.engine.open(self.media_key(id_media), variant_key, resolve)


async def _prepare(session: Session) -> None:
    """Log *session* in, logging a failure instead of raising it into the mount."""
    try:
        await session.prepare()
    except Error as exc:
        # Each file that needs the account reports the failure again.
        log.warning("cannot log in yet: %s", exc)
    except Exception:
        log.exception("logging in as the mount started failed unexpectedly")


def variant_entries(variants: list[Variant]) -> list[VariantEntry]:
    """Return the directory view of the engine's variants, in the same order."""
    return [
        VariantEntry(
            key=variant.key,
            bandwidth=variant.bandwidth,
            resolution=variant.resolution,
            codecs=variant.codecs or "",
            average_bandwidth=variant.average_bandwidth,
        )
        for variant in variants
    ]
