"""Emulator layer: the application: routes, the request log, faults, shaping.

`Application` maps each request path to an endpoint (see `ROUTES`), builds
its response from the catalogue and the generated media, and owns what is
shared by all connections: the signers, the login service, the faults, the
shaping entries, the connection limit and the request log.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from toutvfs.emulator import cdn, images, mediaapi, payloads
from toutvfs.emulator.faults import Fault, select_fault
from toutvfs.emulator.handler import (
    Request,
    RequestRecord,
    Response,
    error_page,
    file_response,
    json_response,
    text_response,
)
from toutvfs.emulator.login import LoginService
from toutvfs.emulator.media import MediaSet, MediaStore
from toutvfs.emulator.model import Account, Catalogue, Episode, Settings
from toutvfs.emulator.shaping import Shaping, combine
from toutvfs.emulator.tokens import InvalidToken, JwtSigner, UrlSigner

log = logging.getLogger(__name__)

Handler = Callable[["Application", Request, "re.Match[str]"], Response]


@dataclass(frozen=True)
class Route:
    endpoint: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


class Application:
    """Everything one emulator serves, shared by its connection threads."""

    def __init__(
        self,
        catalogue: Catalogue,
        media: MediaStore,
        settings: Settings,
        shaping: list[Shaping],
        max_connections: int | None,
        log_file: IO[str] | None,
    ) -> None:
        self.catalogue = catalogue
        self.media = media
        self.settings = settings
        self.faults: list[Fault] = list(catalogue.faults)
        for episode in catalogue.episodes.values():
            for fault in episode.faults:
                if fault.id_media is None:
                    fault.id_media = episode.id_media
                self.faults.append(fault)
        self.shaping: list[Shaping] = [*shaping, *catalogue.shaping]
        for episode in catalogue.episodes.values():
            if episode.shaping is not None:
                # An episode's shaping, like its faults, applies to it alone.
                scoped = episode.shaping
                if scoped.id_media is None:
                    scoped = replace(scoped, id_media=episode.id_media)
                self.shaping.append(scoped)
        self.request_log: list[RequestRecord] = []
        self.stopping = threading.Event()
        self.base_url = ""
        self.origin = ""
        self.jwt = JwtSigner()
        self.urls = UrlSigner(settings.signed_url_lifetime)
        self.login: LoginService | None = None
        self._log_file = log_file
        self._log_lock = threading.Lock()
        self._slots = (
            threading.BoundedSemaphore(max_connections) if max_connections else None
        )

    def bind(self, base_url: str) -> None:
        """Set the origin that absolute URLs in payloads use."""
        self.base_url = base_url
        self.origin = base_url.split("://", 1)[1]
        self.login = LoginService(
            self.catalogue, base_url, self.jwt, self.settings.token_lifetime
        )

    # Shared state of the connections

    def acquire_connection_slot(self) -> bool:
        """Wait for a free connection slot; False once the emulator stops."""
        if self._slots is None:
            return True
        while not self.stopping.is_set():
            if self._slots.acquire(timeout=0.1):
                return True
        return False

    def release_connection_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self.request_log.append(record)
            if self._log_file is not None:
                self._log_file.write(record.to_json() + "\n")
                self._log_file.flush()

    def select_fault(self, request: Request) -> Fault | None:
        return select_fault(self.faults, request.endpoint, request.id_media)

    def shaping_for(self, request: Request) -> tuple[float, int | None]:
        return combine(self.shaping, request.endpoint, request.id_media)

    # Dispatch

    def handle(self, request: Request) -> Response:
        """Return the response to *request* before faults and shaping."""
        method = "GET" if request.method == "HEAD" else request.method
        allowed: set[str] = set()
        for route in ROUTES:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if method not in route.methods:
                allowed |= route.methods
                continue
            request.endpoint = route.endpoint
            return route.handler(self, request, match)
        if allowed:
            refused = error_page(405, "Méthode non permise")
            refused.headers.append(("Allow", ", ".join(sorted(allowed))))
            return refused
        return error_page(404, "Introuvable")

    def episode(self, request: Request, raw_id: str | None) -> Episode | None:
        """Return the episode *raw_id* names and note its id on *request*."""
        if raw_id is None or not raw_id.isdigit():
            return None
        request.id_media = int(raw_id)
        return self.catalogue.episodes.get(request.id_media)

    def media_set(self, episode: Episode) -> MediaSet:
        return self.media.get(episode.profile)

    def page_params(self, request: Request) -> tuple[int, int] | Response:
        """Return (pageNumber, pageSize) from the query, or a 400 response."""
        raw_page = request.query.get("pageNumber") or request.query.get("page") or "1"
        raw_size = request.query.get("pageSize") or str(payloads.DEFAULT_PAGE_SIZE)
        if not (raw_page.isdigit() and raw_size.isdigit()):
            return _bad_request("pageNumber et pageSize doivent être des entiers")
        page, size = int(raw_page), int(raw_size)
        if page < 1 or size < 1:
            return _bad_request("pageNumber et pageSize doivent être positifs")
        return page, min(size, self.settings.max_page_size)


def _bad_request(message: str) -> Response:
    return json_response({"errorCode": 400, "message": message}, 400)


def _not_found(message: str = "Introuvable") -> Response:
    return json_response({"errorCode": 404, "message": message}, 404)


# Catalogue


def _browse(app: Application, request: Request, match: re.Match[str]) -> Response:
    return json_response(payloads.browse(app.catalogue, app.base_url))


def _category(app: Application, request: Request, match: re.Match[str]) -> Response:
    section = app.catalogue.section(match["slug"])
    if section is None:
        return _not_found(f"catégorie {match['slug']} inconnue")
    params = app.page_params(request)
    if isinstance(params, Response):
        return params
    alphabetic = request.query.get("sort", "").lower() == "alphabetic"
    return json_response(
        payloads.category(app.catalogue, section, app.base_url, *params, alphabetic)
    )


def _search(app: Application, request: Request, match: re.Match[str]) -> Response:
    term = request.query.get("term")
    if term is None:
        return _bad_request("le paramètre term est requis")
    params = app.page_params(request)
    if isinstance(params, Response):
        return params
    return json_response(payloads.search(app.catalogue, app.base_url, term, *params))


def _search_index(app: Application, request: Request, match: re.Match[str]) -> Response:
    term = request.query.get("term")
    if term is None:
        return _bad_request("le paramètre term est requis")
    params = app.page_params(request)
    if isinstance(params, Response):
        return params
    return json_response(
        payloads.search_index(app.catalogue, app.base_url, term, *params)
    )


def _show(app: Application, request: Request, match: re.Match[str]) -> Response:
    show = app.catalogue.shows.get(match["slug"])
    if show is None:
        return _not_found(f"émission {match['slug']} inconnue")
    page = payloads.show_page(app.catalogue, show, app.base_url, match["part"])
    if page is None:
        return _not_found(f"saison {match['part']} inconnue")
    return json_response(page)


# Media APIs


def _meta(app: Application, request: Request, match: re.Match[str]) -> Response:
    episode = app.episode(request, request.query.get("idMedia"))
    if episode is None:
        return json_response(
            mediaapi.error_message(mediaapi.NOT_FOUND_CODE, mediaapi.NOT_FOUND_MESSAGE),
            404,
        )
    show = app.catalogue.shows[episode.show_slug]
    output = request.query.get("output", "jsonObject")
    return json_response(mediaapi.meta(episode, show.title, app.origin, output))


def _rejected_token() -> Response:
    return json_response(
        mediaapi.error_message(401, mediaapi.TOKEN_REJECTED_MESSAGE), 401
    )


def _validation(app: Application, request: Request, match: re.Match[str]) -> Response:
    assert app.login is not None
    try:
        account = app.login.bearer_account(request)
        if account is not None:
            app.login.check_claims(request, account)
    except InvalidToken:
        return _rejected_token()
    episode = app.episode(request, request.query.get("idMedia"))
    if episode is None:
        return json_response(
            mediaapi.refusal(mediaapi.NOT_FOUND_CODE, mediaapi.NOT_FOUND_MESSAGE), 404
        )
    refusal = mediaapi.decide(
        episode, account.tier if account else None, request.query.get("tech", "hls")
    )
    if refusal is not None:
        return json_response(mediaapi.refusal(*refusal))
    root = cdn.media_root(app.base_url, episode.id_media)
    token = app.urls.token()
    if episode.mode == "drm" or request.query.get("tech", "hls") != "hls":
        url = f"{root}/index-multi-drm.mpd?filter=3000&hdnea={token}"
        return json_response(mediaapi.validation_drm(url, app.base_url))
    if episode.media_dir is not None:
        url = f"{app.base_url}/cdn/ext/{episode.id_media}/master.m3u8?hdnea={token}"
        return json_response(mediaapi.validation_ok(url, None))
    url = f"{root}/index-aes.m3u8?hdnea={token}"
    return json_response(mediaapi.validation_ok(url, app.media_set(episode)))


def _authenticated(app: Application, request: Request) -> Account | Response:
    """Return the bearer token's account, or the 401 of a missing or bad one."""
    assert app.login is not None
    try:
        account = app.login.bearer_account(request)
    except InvalidToken:
        return _rejected_token()
    return account if account is not None else _rejected_token()


def _profile(app: Application, request: Request, match: re.Match[str]) -> Response:
    account = _authenticated(app, request)
    if isinstance(account, Response):
        return account
    assert app.login is not None
    return json_response(
        {
            "tier": account.tier,
            "claimsToken": app.login.claims_token(account),
            "statsMetas": {"rc.tier": account.tier.lower()},
        }
    )


def _account(app: Application, request: Request, match: re.Match[str]) -> Response:
    account = _authenticated(app, request)
    if isinstance(account, Response):
        return account
    return json_response(
        {
            "firstName": account.first_name,
            "lastName": account.last_name,
            "email": account.email,
            "tier": account.tier,
            "isPremium": account.tier == "Premium",
        }
    )


def _login_step(name: str) -> Handler:
    def handler(app: Application, request: Request, match: re.Match[str]) -> Response:
        assert app.login is not None
        step: Callable[[Request], Response] = getattr(app.login, name)
        return step(request)

    return handler


def _auth_changed(app: Application, request: Request, match: re.Match[str]) -> Response:
    return text_response(
        "<!DOCTYPE html><html><body>Connexion réussie.</body></html>",
        "text/html; charset=utf-8",
    )


# CDN


def _signed(app: Application, request: Request) -> Response | None:
    """Return a 403 unless the request carries a valid token (and cookie)."""
    if not app.urls.check(request.query.get("hdnea")):
        return error_page(403, "Accès refusé : jeton expiré ou invalide")
    return None


def _strict_cookie(app: Application, request: Request) -> Response | None:
    if app.settings.strict_cookies and not app.urls.check(request.cookies.get("hdntl")):
        return error_page(403, "Accès refusé : témoin hdntl absent ou expiré")
    return None


def _hls_episode(app: Application, request: Request, raw_id: str) -> Episode | None:
    episode = app.episode(request, raw_id)
    if episode is None or episode.mode == "drm" or episode.media_dir is not None:
        return None
    return episode


def _master(app: Application, request: Request, match: re.Match[str]) -> Response:
    episode = _hls_episode(app, request, match["id"])
    if episode is None:
        return error_page(404, "Introuvable")
    refused = _signed(app, request)
    if refused is not None:
        return refused
    token = request.query["hdnea"]
    body = cdn.master_playlist(app.media_set(episode), token)
    response = text_response(body, cdn.PLAYLIST_TYPE, kind="playlist")
    response.headers.append(
        ("Set-Cookie", f"hdntl={app.urls.cookie()}; Path=/cdn/; HttpOnly")
    )
    return response


def _playlist(app: Application, request: Request, match: re.Match[str]) -> Response:
    episode = _hls_episode(app, request, match["id"])
    media = app.media_set(episode) if episode is not None else None
    if episode is None or media is None or int(match["v"]) >= len(media.variants):
        return error_page(404, "Introuvable")
    refused = _signed(app, request)
    if refused is not None:
        return refused
    root = cdn.media_root(app.base_url, episode.id_media)
    body = cdn.media_playlist(
        media, int(match["v"]), episode.mode, root, request.query["hdnea"]
    )
    return text_response(body, cdn.PLAYLIST_TYPE, kind="playlist")


def _key(app: Application, request: Request, match: re.Match[str]) -> Response:
    episode = _hls_episode(app, request, match["id"])
    key = app.media_set(episode).keys.get(match["name"]) if episode else None
    if key is None:
        return error_page(404, "Introuvable")
    refused = _signed(app, request) or _strict_cookie(app, request)
    if refused is not None:
        return refused
    return Response(
        200,
        [("Content-Type", "application/octet-stream")],
        key,
        kind="key",
    )


def _segment(app: Application, request: Request, match: re.Match[str]) -> Response:
    episode = _hls_episode(app, request, match["id"])
    media = app.media_set(episode) if episode is not None else None
    layout = match["layout"]
    if (
        media is None
        or layout not in cdn.LAYOUTS
        or int(match["v"]) >= len(media.variants)
    ):
        return error_page(404, "Introuvable")
    path = media.variants[int(match["v"])].directory / layout / match["name"]
    if not path.is_file():
        return error_page(404, "Introuvable")
    refused = _signed(app, request) or _strict_cookie(app, request)
    if refused is not None:
        return refused
    return file_response(path, cdn.CONTENT_TYPES.get(path.suffix, "video/mp2t"))


def _dash(app: Application, request: Request, match: re.Match[str]) -> Response:
    episode = app.episode(request, match["id"])
    if episode is None:
        return error_page(404, "Introuvable")
    refused = _signed(app, request)
    if refused is not None:
        return refused
    return text_response(cdn.dash_manifest(episode.id_media), cdn.CONTENT_TYPES[".mpd"])


def _external(app: Application, request: Request, match: re.Match[str]) -> Response:
    """Serve a file of an episode's ``media_dir`` unchanged.

    Only the master playlist needs the signed token, because the playlists
    of such a directory were written elsewhere and do not carry it.
    """
    episode = app.episode(request, match["id"])
    if episode is None or episode.media_dir is None:
        return error_page(404, "Introuvable")
    root = episode.media_dir.resolve()
    path = (root / match["rest"]).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return error_page(404, "Introuvable")
    if match["rest"] == "master.m3u8":
        refused = _signed(app, request)
        if refused is not None:
            return refused
    suffix = Path(match["rest"]).suffix
    request.endpoint = {".m3u8": "playlist", ".key": "key"}.get(suffix, "segment")
    if match["rest"] == "master.m3u8":
        request.endpoint = "master"
    response = file_response(
        path, cdn.CONTENT_TYPES.get(suffix, "application/octet-stream")
    )
    response.kind = {"playlist": "playlist", "key": "key"}.get(
        request.endpoint, "binary"
    )
    return response


# Images, captions and retired APIs


def _image(app: Application, request: Request, match: re.Match[str]) -> Response:
    width = images.width_from_params(match["params"])
    body = images.png(f"{match['kind']}/{match['name']}", width)
    return Response(200, [("Content-Type", "image/png")], body)


def _caption(app: Application, request: Request, match: re.Match[str]) -> Response:
    episode = app.episode(request, match["id"])
    if episode is None:
        return error_page(404, "Introuvable")
    return text_response(
        images.webvtt(episode.title, episode.length), "text/vtt; charset=utf-8"
    )


def _retired(app: Application, request: Request, match: re.Match[str]) -> Response:
    return json_response(
        {"errorCode": 426, "message": "Upgrade Required: cette API n'existe plus"},
        426,
    )


def _route(endpoint: str, pattern: str, handler: Handler, *methods: str) -> Route:
    flags = re.IGNORECASE if endpoint == "profile" else 0
    return Route(
        endpoint, frozenset(methods or ("GET",)), re.compile(pattern, flags), handler
    )


_B2C = r"/b2c/[^/]+/[^/]+/"
_CDN = r"/cdn/out/v1/(?P<id>\d+)"

ROUTES: tuple[Route, ...] = (
    _route("browse", r"/ott/catalog/v[23]/toutv/browse", _browse),
    _route("category", r"/ott/catalog/v2/toutv/category/(?P<slug>[^/]+)", _category),
    _route("search", r"/ott/catalog/v2/toutv/search", _search),
    _route("search-index", r"/ott/catalog/v1/toutv/search", _search_index),
    _route(
        "show",
        r"/ott/catalog/v2/toutv/show/(?P<slug>[^/]+)(?:/(?P<part>[^/]+))?",
        _show,
    ),
    _route("meta", r"/media/meta/v1/index\.ashx", _meta),
    _route("validation", r"/media/validation/v2/?", _validation),
    _route("profile", r"/ott/subscription/v2/toutv/subscriber/profile", _profile),
    _route("account", r"/ott/profiling/v1/toutv/accounts/me", _account),
    _route("authorize", _B2C + r"oauth2/v2\.0/authorize", _login_step("authorize")),
    _route(
        "self-asserted", _B2C + "SelfAsserted", _login_step("self_asserted"), "POST"
    ),
    _route(
        "confirmed",
        _B2C + "api/CombinedSigninAndSignup/confirmed",
        _login_step("confirmed"),
    ),
    _route("token", _B2C + r"oauth2/v2\.0/token", _login_step("token"), "POST"),
    _route("auth-changed", r"/auth-changed", _auth_changed),
    _route("master", _CDN + r"/index-aes\.m3u8", _master),
    _route("playlist", _CDN + r"/v(?P<v>\d+)/index\.m3u8", _playlist),
    _route("key", _CDN + r"/keys/(?P<name>[a-z0-9-]+)\.key", _key),
    _route(
        "segment",
        _CDN
        + r"/v(?P<v>\d+)/(?P<layout>[a-z0-9-]+)/(?P<name>[A-Za-z0-9_-]+\.[a-z0-9]+)",
        _segment,
    ),
    _route("dash", _CDN + r"/index-multi-drm\.mpd", _dash),
    _route("segment", r"/cdn/ext/(?P<id>\d+)/(?P<rest>.+)", _external),
    _route(
        "image",
        r"/images/(?P<params>[^/]+)/v1/toutv/(?P<kind>[a-z]+)/(?P<name>[^/]+)\.png",
        _image,
    ),
    _route("caption", r"/cc/(?P<id>\d+)\.vtt", _caption),
    _route("retired", r"/toutv/presentation/.*", _retired),
)
