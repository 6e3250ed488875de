"""Client layer: `Session`, the async core of the TOU.TV client.

The filesystem and the synchronous facade both call it. Each coroutine sends
its requests through one `Requester` (retries, per-host limit, request
sharing) and returns records of `toutvfs.client.records`. Catalogue calls are
anonymous; media validation carries the token source's bearer token and the
subscriber profile's claims token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx
import trio

from toutvfs.client import parse, validation
from toutvfs.client.b2c import LoginFlow
from toutvfs.client.http import DEFAULT_PER_HOST_LIMIT, JsonResponse, Requester
from toutvfs.client.records import (
    BrowsePage,
    Card,
    CardLineup,
    CategoryPage,
    IndexEntry,
    MediaMeta,
    ShowPage,
    SubscriberProfile,
)
from toutvfs.client.redact import quiet_http_loggers, redacted_logger
from toutvfs.client.results import ResultStore
from toutvfs.client.retry import RetryPolicy
from toutvfs.client.tokens import Anonymous, TokenSource, jwt_expiry
from toutvfs.config import Config
from toutvfs.errors import (
    InvalidCredentials,
    LoginRequired,
    MediaUnavailable,
    NotFound,
    UnexpectedHttpStatusCode,
    UnsupportedMedia,
)

log = redacted_logger(__name__)

T = TypeVar("T")

# Statuses of the v1 index that mean it is gone, so category pages stand in.
INDEX_GONE_STATUSES = frozenset({404, 410, 426})

# Seconds a metadata response is kept in memory without a store.
META_MEMORY_SECONDS = 60.0

# Claims tokens without a readable exp are kept this many seconds.
CLAIMS_LIFETIME = 600.0


class Session:
    """The async TOU.TV client.

    Args:
        config: where the services are and how to call them.
        http: the httpx client; the caller owns and closes it.
        auth: the token source; anonymous when None.
        policy: the retry policy of every request.
        per_host_limit: concurrent requests per host.
        store: a cache of decoded responses, or None for no cache.
        clock: wall-clock time in seconds, for token expiry.

    Attributes:
        requester: the request layer, with its ``requests_sent`` counter.
    """

    def __init__(
        self,
        config: Config,
        http: httpx.AsyncClient,
        auth: TokenSource | None = None,
        *,
        policy: RetryPolicy | None = None,
        per_host_limit: int = DEFAULT_PER_HOST_LIMIT,
        store: ResultStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        quiet_http_loggers()
        self.config = config
        self.auth: TokenSource = auth if auth is not None else Anonymous()
        self.requester = Requester(http, policy, per_host_limit=per_host_limit)
        self.login_flow = LoginFlow(config, self.requester)
        self.store = store
        # Kept in memory even without a store: validated master URLs until
        # their signed expiry, because the HLS engine resolves again when it
        # opens a media, and metadata for a minute, because callers read it
        # just before validate reads it again.
        self._memory = ResultStore(META_MEMORY_SECONDS, clock=clock)
        self._clock = clock
        self._claims: tuple[str, str, float] | None = None

    # -- plumbing ---------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": self.config.user_agent}
        headers.update(extra or {})
        return headers

    async def _fetch(
        self,
        endpoint: str,
        url: str,
        params: Mapping[str, str],
        parser: Callable[[Any], T],
        *,
        resource: str,
        id_media: str = "",
        headers: Mapping[str, str] | None = None,
        accept: frozenset[int] = frozenset({200, 404}),
        cacheable: bool = True,
        in_memory: bool = False,
    ) -> T:
        """Return ``parser(body)`` of a GET, from a store when one has the body.

        The stores are the session's memory (with *in_memory*) and its
        `store` (with *cacheable*). A body goes into them only after it
        parsed, so a response of an unexpected shape is not served again.

        Raises:
            NotFound: HTTP 404 (when *accept* contains 404), naming *resource*.
        """
        stores = [
            store
            for store, wanted in ((self._memory, in_memory), (self.store, cacheable))
            if store is not None and wanted
        ]
        key = ResultStore.key(url, params)
        for store in stores:
            cached = store.get(key)
            if cached is not None:
                return parser(cached)
        response = await self.requester.get_json(
            endpoint, url, params=params, headers=self._headers(headers), accept=accept
        )
        if response.status == 404:
            raise NotFound(
                f"{resource} not found (HTTP 404 from {endpoint})", id_media=id_media
            )
        result = parser(response.data)
        for store in stores:
            store.put(key, response.data)
        return result

    def _catalogue_params(self, **extra: str) -> dict[str, str]:
        params = {"device": self.config.device}
        params.update(extra)
        return params

    async def _catalogue(
        self,
        version: str,
        path: str,
        resource: str,
        parser: Callable[[Any, str], T],
        **params: str,
    ) -> T:
        url = self.config.catalogue_url(version, path)
        endpoint = url.removeprefix(self.config.api_base).lstrip("/")
        return await self._fetch(
            endpoint,
            url,
            self._catalogue_params(**params),
            lambda data: parser(data, path),
            resource=resource,
        )

    # -- catalogue --------------------------------------------------------

    async def browse(self) -> BrowsePage:
        """Return the browse page: formats, genres, networks and collections."""
        return await self._catalogue(
            self.config.browse_version, "browse", "browse page", parse.parse_browse
        )

    async def category(self, slug: str) -> CategoryPage:
        """Return the category *slug* with every page of its lineups.

        Raises:
            NotFound: the service has no such category.
        """
        slug = parse.category_slug(slug)
        path = f"category/{slug}"
        version = self.config.category_version

        async def page(
            number: int,
        ) -> tuple[str, CardLineup | None, tuple[CardLineup, ...], int]:
            return await self._catalogue(
                version,
                path,
                f"category {slug!r}",
                parse.parse_category,
                pageNumber=str(number),
                pageSize=str(self.config.page_size),
            )

        title, header, lineups, total_pages = await page(1)
        later = await fetch_pages(page, 2, total_pages)
        # Later pages repeat the header; only their content lineups count.
        pages = {1: lineups} | {number: later[number][2] for number in later}
        merged = _merge_pages(pages)
        if header is not None:
            merged = (header, *merged)
        return CategoryPage(slug=slug, title=title, lineups=merged)

    async def search(self, term: str) -> tuple[Card, ...]:
        """Return the cards that search v2 finds for *term* (its first page).

        When search v2 returns 404, 410 or 426, the client searches the v1
        index for *term* instead, and its show entries become cards.
        """
        try:
            cards, _ = await self._catalogue(
                self.config.search_version,
                "search",
                f"search {term!r}",
                parse.parse_search,
                term=term,
                pageSize=str(self.config.page_size),
            )
            return cards
        except UnexpectedHttpStatusCode as exc:
            if exc.status_code not in INDEX_GONE_STATUSES:
                raise
            status = exc.status_code
        except NotFound:
            status = 404
        log.warning(
            "search %s returned HTTP %d, so searching the %s index",
            self.config.search_version,
            status,
            self.config.search_index_version,
        )
        entries = await self._index_pages(term)
        return tuple(
            Card(
                title=entry.title,
                slug=entry.slug,
                type=entry.type,
                image_url=entry.image_url,
            )
            for entry in entries
        )

    async def show_index(self) -> tuple[IndexEntry, ...]:
        """Return every show of the catalogue, each slug once.

        The source is the legacy v1 index searched with ``term=*``, one
        request per page of `Config.page_size` entries, because it lists the
        whole catalogue in the fewest requests. Episodes in it are dropped.
        When the index returns 404, 410 or 426, the client lists the category
        pages of every browse format instead.
        """
        try:
            return await self._index_from_search()
        except UnexpectedHttpStatusCode as exc:
            if exc.status_code not in INDEX_GONE_STATUSES:
                raise
            log.warning(
                "show index: search %s returned HTTP %d, so listing category pages",
                self.config.search_index_version,
                exc.status_code,
            )
        except NotFound:
            log.warning("show index: the v1 index is gone; listing category pages")
        return await self._index_from_categories()

    async def _index_from_search(self) -> tuple[IndexEntry, ...]:
        return await self._index_pages("*")

    async def _index_pages(self, term: str) -> tuple[IndexEntry, ...]:
        """Return the show entries of every page of the v1 index for *term*."""
        version = self.config.search_index_version
        url = self.config.catalogue_url(version, "search")
        endpoint = f"search {version}"

        async def page(number: int) -> tuple[tuple[IndexEntry, ...], int]:
            return await self._fetch(
                endpoint,
                url,
                self._catalogue_params(
                    term=term,
                    pageNumber=str(number),
                    pageSize=str(self.config.page_size),
                ),
                lambda data: parse.parse_index(data, endpoint),
                resource="show index",
                accept=frozenset({200}),
            )

        first, total_pages = await page(1)
        later = await fetch_pages(page, 2, total_pages)
        pages = {1: first} | {number: later[number][0] for number in later}
        return _unique(entry for number in sorted(pages) for entry in pages[number])

    async def _index_from_categories(self) -> tuple[IndexEntry, ...]:
        browse = await self.browse()
        pages: dict[int, CategoryPage] = {}

        async def fetch_into(index: int, slug: str) -> None:
            pages[index] = await self.category(slug)

        async with trio.open_nursery() as nursery:
            for index, section in enumerate(browse.by_kind("formats")):
                nursery.start_soon(fetch_into, index, section.slug)
        return _unique(
            IndexEntry(title=card.title, slug=card.slug, image_url=card.image_url)
            for index in sorted(pages)
            for card in pages[index].cards
        )

    async def show(self, slug: str) -> ShowPage:
        """Return the show page of *slug* with its lineups and items.

        Raises:
            NotFound: the service has no such show.
        """
        slug = slug.strip("/")
        path = f"show/{slug}"
        return await self._catalogue(
            self.config.show_version,
            path,
            f"show {slug!r}",
            lambda data, endpoint: parse.parse_show(data, endpoint, slug),
        )

    # -- media ------------------------------------------------------------

    async def meta(self, id_media: str) -> MediaMeta:
        """Return the metadata of *id_media*: techs, DRM signals, captions.

        Raises:
            NotFound: the service has no such media.
        """
        config = self.config
        url = f"{config.api_base}/{config.meta_path}"
        params = {
            "appCode": config.app_code,
            "idMedia": str(id_media),
            "output": config.meta_output,
        }
        id_media = str(id_media)

        def parse_meta(data: Any) -> MediaMeta:
            error = parse.meta_error(data, config.meta_path)
            if error is not None:
                code, text = error
                error_class = validation.refusal_class(code or 0, text)
                raise error_class(text, error_code=code, id_media=id_media)
            scheme = config.api_base.split(":", 1)[0]
            return parse.parse_meta(data, config.meta_path, id_media, scheme)

        return await self._fetch(
            config.meta_path,
            url,
            params,
            parse_meta,
            resource=f"media {id_media}",
            id_media=id_media,
            in_memory=True,
        )

    async def profile(self) -> SubscriberProfile | None:
        """Return the subscriber profile, or None for an anonymous session."""
        token = await self.auth.bearer(self.login_flow)
        if token is None:
            return None
        return await self._profile(token)

    async def _profile(self, token: str) -> SubscriberProfile:
        config = self.config
        url = f"{config.api_base}/{config.profile_path}"
        return await self._fetch(
            config.profile_path,
            url,
            {"device": config.device},
            lambda data: parse.parse_profile(data, config.profile_path),
            resource="subscriber profile",
            headers={"Authorization": f"Bearer {token}"},
            accept=frozenset({200}),
            cacheable=False,
        )

    async def prepare(self) -> None:
        """Log in and get the claims token now, before the first validation.

        A mount calls this as it starts, so that the first media opened
        waits for neither. An anonymous session sends nothing.

        Raises:
            InvalidCredentials: the login or the pasted token was rejected.
            NetworkError: the service could not be reached.
            TokenStoreError: a stored login could not be locked for renewal.
        """
        await self._media_headers()

    async def _claims_token(self, token: str) -> str | None:
        now = self._clock()
        if self._claims is not None:
            bearer, claims, expiry = self._claims
            if bearer == token and now < expiry:
                return claims
        try:
            profile = await self._profile(token)
        except UnexpectedHttpStatusCode as exc:
            log.warning(
                "subscriber profile returned HTTP %d, so validating without a "
                "claims token",
                exc.status_code,
            )
            return None
        if profile.claims_token is None:
            return None
        expiry = jwt_expiry(profile.claims_token) or now + CLAIMS_LIFETIME
        self._claims = (token, profile.claims_token, expiry)
        return profile.claims_token

    async def _media_headers(self) -> dict[str, str]:
        token = await self.auth.bearer(self.login_flow)
        if token is None:
            return {"Authorization": f"client-key {self.config.anonymous_client_key}"}
        headers = {"Authorization": f"Bearer {token}"}
        claims = await self._claims_token(token)
        if claims is not None:
            headers["x-claims-token"] = claims
        return headers

    async def validate(self, id_media: str, *, fresh: bool = False) -> str:
        """Return the HLS master playlist URL of *id_media*, signed and short-lived.

        A URL validated earlier is returned again until shortly before its
        signed expiry, unless *fresh* is true, for a caller whose CDN
        rejected that URL. Otherwise the metadata is read first, so that a
        media with no clear HLS tech is reported as DRM without a validation
        request. A 401 with a renewable token source leads to one new login
        and one retry.

        Raises:
            GeoBlocked, PremiumOnly, LoginRequired, NotFound: the service
                refused, with its own message.
            UnsupportedMedia: the media is DRM-protected, and ``signal``
                names the field that showed it.
            InvalidCredentials: the login or the pasted token was rejected.
        """
        id_media = str(id_media)
        config = self.config
        url = f"{config.api_base}/{config.validation_path}"
        params = {"appCode": config.app_code, "idMedia": id_media}
        params.update(config.validation_params)
        store_key = ResultStore.key(url, params)
        for store in (self._memory, self.store):
            cached = store.get(store_key) if store is not None and not fresh else None
            if isinstance(cached, str):
                return cached
        meta = await self.meta(id_media)
        if meta.drm_signals:
            signal = meta.drm_signals[0]
            raise UnsupportedMedia(
                f"media {id_media} is DRM-protected: {signal} offers no clear HLS",
                signal=signal,
            )
        response = await self._request_validation(url, params)
        if response.status == 401:
            self._token_rejected(response, id_media)
            response = await self._request_validation(url, params)
            if response.status == 401:
                raise MediaUnavailable(
                    f"validation of media {id_media} returned 401 again after a "
                    "new login",
                    error_code=401,
                    id_media=id_media,
                )
        if response.status == 404:
            raise NotFound(
                _service_text(response.data) or f"media {id_media} not found",
                id_media=id_media,
            )
        answer = parse.parse_validation(response.data, config.validation_path)
        master = validation.master_url(answer, id_media)
        lifetime = validation.signed_url_lifetime(
            master, self._clock(), config.signed_url_ttl
        )
        for store in (self._memory, self.store):
            if store is not None:
                store.put(store_key, master, ttl=lifetime)
        return master

    async def _request_validation(
        self, url: str, params: Mapping[str, str]
    ) -> JsonResponse:
        headers = await self._media_headers()
        return await self.requester.get_json(
            self.config.validation_path,
            url,
            params=params,
            headers=self._headers(headers),
            accept=frozenset({200, 401, 404}),
        )

    def _token_rejected(self, response: JsonResponse, id_media: str) -> None:
        """Forget the token after a 401, or raise when no new one can be had.

        Raises:
            LoginRequired: the session is anonymous.
            InvalidCredentials: the token source cannot get a new token.
        """
        text = _service_text(response.data) or "HTTP 401"
        if isinstance(self.auth, Anonymous):
            raise LoginRequired(text, error_code=401, id_media=id_media)
        self.auth.invalidate()
        self._claims = None
        if not self.auth.renewable:
            raise InvalidCredentials(
                self.auth.user or "", f"the service rejected the token: {text}"
            )
        log.info(
            "validation of %s returned 401 (%s), so logging in again", id_media, text
        )


def _service_text(data: Any) -> str | None:
    """Return the message of an error body such as ``{"errorMessage": {...}}``."""
    if not isinstance(data, dict):
        return None
    error = data.get("errorMessage")
    if isinstance(error, dict) and isinstance(error.get("text"), str):
        return str(error["text"])
    for key in ("message", "error_description"):
        if isinstance(data.get(key), str):
            return str(data[key])
    return None


def _merge_pages(pages: dict[int, tuple[CardLineup, ...]]) -> tuple[CardLineup, ...]:
    """Concatenate the cards of lineup *i* of every page, page by page."""
    merged: list[CardLineup] = []
    for number in sorted(pages):
        for index, lineup in enumerate(pages[number]):
            if index < len(merged):
                previous = merged[index]
                merged[index] = CardLineup(
                    previous.title, previous.cards + lineup.cards
                )
            else:
                merged.append(lineup)
    return tuple(merged)


def _unique(entries: Iterable[IndexEntry]) -> tuple[IndexEntry, ...]:
    seen: set[str] = set()
    result: list[IndexEntry] = []
    for entry in entries:
        if entry.slug not in seen:
            seen.add(entry.slug)
            result.append(entry)
    return tuple(result)


async def fetch_pages(
    fetch: Callable[[int], Awaitable[T]], first: int, last: int
) -> dict[int, T]:
    """Run ``fetch(n)`` for pages *first* to *last* concurrently, by number.

    The requester's per-host limit bounds how many run at once.
    """
    results: dict[int, T] = {}

    async def fetch_into(number: int) -> None:
        results[number] = await fetch(number)

    async with trio.open_nursery() as nursery:
        for number in range(first, last + 1):
            nursery.start_soon(fetch_into, number)
    return results
