"""Client layer: `Client`, the synchronous facade with pytoutv's names.

`Client(user, password)` logs in, opens the per-user disk cache and starts a
trio loop in a background thread, where one `Session` and one
`httpx.AsyncClient` live until `close`. Every property and method runs the
matching session coroutine in that loop and returns `toutvfs.client.model`
objects.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from toutvfs.client import adapt, model
from toutvfs.client.cache import UserCache
from toutvfs.client.portal import LoopThread
from toutvfs.client.redact import redacted_logger
from toutvfs.client.retry import RetryPolicy
from toutvfs.client.session import Session
from toutvfs.client.settings import load_config
from toutvfs.client.tokens import Anonymous, PasswordLogin, TokenSource
from toutvfs.config import Config

if TYPE_CHECKING:
    from toutvfs.client.download import Download
    from toutvfs.hls import Engine
    from toutvfs.hls.fetch import RetryPolicy as FetchPolicy

log = redacted_logger(__name__)

T = TypeVar("T")

# Seconds to wait for a connection, and for any other step of a request.
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0


def engine_policy(policy: RetryPolicy) -> FetchPolicy:
    """Map the client's retry policy to the one of the HLS engine's requests.

    The two share attempts, backoff and the ``Retry-After`` cap. Timeouts
    and deadlines stay the engine's, because the engine bounds each part
    and each open as a whole. Two behaviours differ: the engine adds up to
    50% jitter where the client draws from zero to the bound, and it waits
    the cap on a longer ``Retry-After`` where the client fails at once.

    The engine's failure hold is off: it serves FUSE readers queued on one
    page, while a download is one reader whose own attempts at a part must
    each send a request.
    """
    from toutvfs.hls.fetch import RetryPolicy as FetchPolicy

    return FetchPolicy(
        attempts=policy.max_attempts,
        backoff_initial=policy.base_delay,
        backoff_max=policy.max_delay,
        retry_after_max=policy.max_retry_after,
        failure_hold=0.0,
    )


class _Runtime:
    """The loop, HTTP client, session and cache of one `Client`, closed together.

    It is separate from `Client` so that a finalizer can close it without
    keeping the client alive.
    """

    def __init__(self, cache: UserCache) -> None:
        self.loop = LoopThread()
        self.cache = cache
        self.http: httpx.AsyncClient | None = None
        self.session: Session | None = None
        self.engine: Engine | None = None

    async def _release_cache(self) -> None:
        # Runs in the loop thread, so no session coroutine changes the store
        # while the cache saves it.
        self.cache.release()
        if self.session is not None:
            self.session.store = None

    def release_cache(self) -> None:
        if self.loop.running:
            self.loop.run(self._release_cache)
        else:
            self.cache.release()

    def close(self) -> None:
        self.release_cache()
        if self.loop.running and self.http is not None:
            self.loop.run(self.http.aclose)
        self.loop.close()


class Client:
    """A TOU.TV client with pytoutv's synchronous API.

    Args:
        user, password: the account; without them the client is anonymous,
            which is enough for the catalogue but not for playback.
        no_cache: when true, no disk cache is opened.
        config: the service configuration; by default `load_config` reads
            the user's configuration file and environment.
        auth: a token source that replaces *user* and *password*, for
            example `toutvfs.client.BearerToken.from_env()`.
        policy: the retry policy of every request. The HLS engine's
            requests (playlists, keys and segments) take its attempts,
            backoff and ``Retry-After`` cap through `engine_policy`.
        transport: the httpx transport, for tests; by default httpx's own.

    Raises:
        InvalidCredentials: the service rejected *user* and *password*.
    """

    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        no_cache: bool = False,
        *,
        config: Config | None = None,
        auth: TokenSource | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config if config is not None else load_config()
        if auth is None:
            auth = PasswordLogin(user, password or "") if user else Anonymous()
        self._auth = auth
        self._user = auth.user
        cache = UserCache() if no_cache else UserCache.open(self._user)
        self._runtime = _Runtime(cache)
        self._finalizer = weakref.finalize(self, self._runtime.close)
        self._policy = policy
        self._transport = transport
        try:
            self._run(self._start)
        except BaseException:
            self.close()
            raise

    async def _start(self) -> None:
        runtime = self._runtime
        runtime.http = httpx.AsyncClient(
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
            transport=self._transport,
        )
        runtime.session = Session(
            self._config,
            runtime.http,
            self._auth,
            policy=self._policy,
            store=runtime.cache.store,
        )
        # pytoutv logged in when the client was made, so a wrong password
        # fails here and not at the first playback.
        await self._auth.bearer(runtime.session.login_flow)

    def _run(self, function: Callable[..., Awaitable[T]], *args: object) -> T:
        return self._runtime.loop.run(function, *args)

    @property
    def session(self) -> Session:
        """The async session under this client."""
        session = self._runtime.session
        if session is None:
            raise RuntimeError("the client is closed")
        return session

    @property
    def config(self) -> Config:
        """The service configuration of this client."""
        return self._config

    # -- pytoutv API ------------------------------------------------------

    @property
    def user_infos(self) -> model.UserInfos:
        """The account's information (mostly None on the current services)."""
        return adapt.user_infos(self._user, self._run(self.session.profile))

    @property
    def search_show_summaries(self) -> list[model.SearchShowSummary]:
        """Every show of the catalogue."""
        entries = self._run(self.session.show_index)
        return [adapt.search_show_summary(entry, self) for entry in entries]

    @property
    def section_summaries(self) -> dict[str, model.SectionSummary]:
        """The sections of the browse page, by name."""
        return adapt.section_summaries(self._run(self.session.browse), self)

    def get_section(self, name: str) -> model.Section:
        """Return the section *name* with its lineups.

        Raises:
            NotFound: the service has no such section.
        """
        return adapt.section(self._run(self.session.category, name), self)

    def get_show(self, url_name: str) -> model.Show:
        """Return the show whose URL name is *url_name*.

        Raises:
            NotFound: the service has no such show.
        """
        return adapt.show(self._run(self.session.show, url_name), self)

    def release_cache(self) -> None:
        """Save the disk cache and release its lock; later results are not cached.

        Calling it twice is allowed.
        """
        self._runtime.release_cache()

    def close(self) -> None:
        """Release the cache and stop the background loop.

        A client that is garbage-collected without `close` is closed then.
        """
        self._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- media ------------------------------------------------------------

    def _engine(self) -> Engine:
        from toutvfs.hls import Engine, ReadaheadSettings

        runtime = self._runtime
        if runtime.engine is None:
            assert runtime.http is not None
            policy = None if self._policy is None else engine_policy(self._policy)
            # A download reads every part once, in order: fetching the end
            # early, or the first segment in pieces, would only add requests.
            readahead = ReadaheadSettings(end_bytes=0, first_segment_pieces=1)
            runtime.engine = Engine(
                runtime.http, None, 0, policy=policy, readahead=readahead
            )
        return runtime.engine

    def _media_versions(self, id_media: str) -> list[model.MediaVersion]:
        engine = self._engine()

        async def versions() -> list[model.MediaVersion]:
            master = await self.session.validate(id_media)
            variants = await engine.variants(master)
            return [
                model.MediaVersion(
                    id_media=id_media,
                    bandwidth=variant.bandwidth,
                    resolution=variant.resolution,
                    variant_key=variant.key,
                    _client=self,
                )
                for variant in variants
            ]

        return self._run(versions)

    def _create_download(self, version: model.MediaVersion) -> Download:
        from toutvfs.client.download import Download

        return Download(self, version)
