"""Client tests: a scripted TOU.TV service behind `httpx.MockTransport`.

Routes respond with the payload builders of `payloads`. Tests change
`routes`, queue failures with `fail_next`, and read `requests` to count what
the client sent. Flows against a real server use the emulator instead.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from toutvfs.config import Config

from . import payloads

BASE = "http://service.test"
DEMO_USER = "ana@example.test"
DEMO_PASSWORD = "correct horse battery staple"

Handler = Callable[[httpx.Request], httpx.Response]


def json_response(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **headers},
    )


class FakeService:
    """Route table and request log of the scripted service."""

    def __init__(self, *, page_size: int = 3, token_lifetime: int = 3600) -> None:
        self.config = Config.for_emulator(BASE).with_overrides(page_size=page_size)
        self.page_size = page_size
        self.requests: list[httpx.Request] = []
        self.paths: Counter[str] = Counter()
        self.failures: dict[str, list[httpx.Response | Exception]] = {}
        self.now = 1_800_000_000.0
        self.token_lifetime = token_lifetime
        self.tokens_issued: list[str] = []
        self.revoked: set[str] = set()
        self.issue_refresh_tokens = False
        self.refresh_tokens: set[str] = set()
        self.validation: dict[str, Any] = {}
        self.index_status = 200
        self.routes: dict[str, Handler] = {
            "/ott/catalog/v2/toutv/browse": lambda r: json_response(payloads.browse()),
            "/ott/catalog/v2/toutv/search": self._search_v2,
            "/ott/catalog/v1/toutv/search": self._search_v1,
            "/media/meta/v1/index.ashx": self._meta,
            "/media/validation/v2/": self._validation,
            "/ott/subscription/v2/toutv/subscriber/profile": self._profile,
        }

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport())

    def fail_next(self, path: str, *outcomes: httpx.Response | Exception) -> None:
        """Respond to the next requests of *path* with *outcomes*, in order."""
        self.failures.setdefault(path, []).extend(outcomes)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        self.paths[path] += 1
        queued = self.failures.get(path)
        if queued:
            outcome = queued.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        route = self.routes.get(path)
        if route is not None:
            return route(request)
        if path.startswith("/ott/catalog/v2/toutv/category/"):
            return self._category(request, path.rsplit("/", 1)[-1])
        if path.startswith("/ott/catalog/v2/toutv/show/"):
            slug = path.removeprefix("/ott/catalog/v2/toutv/show/")
            if slug == payloads.SHOW_SLUG:
                return json_response(payloads.show(slug))
            return json_response({"message": "not found"}, 404)
        if path.startswith("/b2c/"):
            return self._b2c(request, path)
        return json_response({"message": f"no route {path}"}, 404)

    # -- catalogue --------------------------------------------------------

    def _category(self, request: httpx.Request, slug: str) -> httpx.Response:
        if slug not in ("serie", "film"):
            return json_response({"message": "not found"}, 404)
        page = int(request.url.params.get("pageNumber", "1"))
        size = int(request.url.params.get("pageSize", "10"))
        cards = (
            payloads.SERIES_CARDS
            if slug == "serie"
            else [
                ("Le Grand Large", "le-grand-large", "Member"),
                ("Le Phare", "le-phare", "Member"),
            ]
        )
        title = "Séries" if slug == "serie" else "Films"
        return json_response(payloads.category(slug, page, size, cards, title))

    def _search_v2(self, request: httpx.Request) -> httpx.Response:
        term = request.url.params.get("term", "").lower()
        cards = [entry for entry in payloads.SERIES_CARDS if term in entry[0].lower()]
        return json_response(payloads.search_v2(cards))

    INDEX = [
        ("La Maison des marées", "la-maison-des-marees", "Show"),
        ("L'arrivée", "la-maison-des-marees/s01e01", "Media"),
        ("Brigade nord", "brigade-nord", "Season"),
        ("Grands classiques", "classiques", "Collection"),
        ("Le Phare", "le-phare", "Show"),
        ("Brigade nord", "brigade-nord", "Show"),
    ]

    def _search_v1(self, request: httpx.Request) -> httpx.Response:
        if self.index_status != 200:
            return json_response({"message": "gone"}, self.index_status)
        page = int(request.url.params.get("pageNumber", "1"))
        size = int(request.url.params.get("pageSize", "10"))
        return json_response(payloads.search_v1(self.INDEX, page, size))

    # -- media ------------------------------------------------------------

    def _meta(self, request: httpx.Request) -> httpx.Response:
        id_media = request.url.params["idMedia"]
        if id_media == "720011":
            return json_response(payloads.meta(id_media, payloads.DASH_DRM_TECHS, True))
        if id_media == "999999":
            return json_response(
                {
                    "errorMessage": {"errorCode": 404, "text": "Média introuvable"},
                    "Metas": None,
                }
            )
        if request.url.params.get("output") == "json":
            return json_response(payloads.meta_list_form(id_media))
        return json_response(payloads.meta(id_media))

    def _bearer(self, request: httpx.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :]
        return None

    def _token_valid(self, token: str | None) -> bool:
        if token is None or token not in self.tokens_issued or token in self.revoked:
            return False
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        return float(claims["exp"]) > self.now

    def _validation(self, request: httpx.Request) -> httpx.Response:
        id_media = request.url.params["idMedia"]
        token = self._bearer(request)
        if token is not None and not self._token_valid(token):
            return json_response(payloads.error_401(), 401)
        scripted = self.validation.get(id_media)
        if scripted is not None:
            return json_response(scripted)
        if token is None:
            return json_response(
                payloads.validation_refused(35, payloads.LOGIN_MESSAGE)
            )
        if "x-claims-token" not in request.headers:
            return json_response(payloads.validation_refused(35, "claims missing"))
        return json_response(
            payloads.validation_ok(
                f"{BASE}/hls/{id_media}/master.m3u8?hdnea=st=1~exp=2~acl=*~hmac=abc"
            )
        )

    def _profile(self, request: httpx.Request) -> httpx.Response:
        if not self._token_valid(self._bearer(request)):
            return json_response(payloads.error_401(), 401)
        return json_response(payloads.profile(int(self.now) + 600))

    # -- login ------------------------------------------------------------

    def _issue(self) -> dict[str, Any]:
        token = payloads.jwt(
            {
                "email": DEMO_USER,
                "exp": int(self.now) + self.token_lifetime,
                "n": len(self.tokens_issued),
            }
        )
        self.tokens_issued.append(token)
        tokens: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        if self.issue_refresh_tokens:
            refresh = f"refresh-{len(self.tokens_issued)}"
            self.refresh_tokens.add(refresh)
            tokens["refresh_token"] = refresh
        return tokens

    def _b2c(self, request: httpx.Request, path: str) -> httpx.Response:
        if path.endswith("/oauth2/v2.0/authorize"):
            settings = {
                "transId": "StateProperties=eyJUSUQiOiJ0eDEifQ",
                "csrf": "csrf-1",
            }
            page = (
                f"<html><script>var SETTINGS = {json.dumps(settings)};</script></html>"
            )
            return httpx.Response(
                200,
                text=page,
                headers={"Set-Cookie": "x-ms-cpim-csrf=csrf-1; Path=/"},
            )
        if path.endswith("/SelfAsserted"):
            form = dict(parse_qsl(request.content.decode()))
            if request.headers.get("X-CSRF-TOKEN") != "csrf-1":
                return json_response({"status": "403", "message": "CSRF"}, 403)
            if form.get("email") == DEMO_USER and form.get("password") == DEMO_PASSWORD:
                return httpx.Response(
                    200,
                    content=b'{"status":"200"}',
                    headers={"Set-Cookie": "x-ms-cpim-trans=ok; Path=/"},
                )
            return json_response(
                {"status": "400", "message": "Votre mot de passe est incorrect."}
            )
        if path.endswith("/api/CombinedSigninAndSignup/confirmed"):
            if "x-ms-cpim-trans=ok" not in request.headers.get("Cookie", ""):
                return json_response({"message": "no session"}, 400)
            tokens = self._issue()
            fragment = "&".join(f"{name}={value}" for name, value in tokens.items())
            location = f"{self.config.redirect_uri}#{fragment}"
            return httpx.Response(302, headers={"Location": location})
        if path.endswith("/oauth2/v2.0/token"):
            form = dict(parse_qsl(request.content.decode()))
            refresh = form.get("refresh_token", "")
            if (
                form.get("grant_type") != "refresh_token"
                or refresh not in self.refresh_tokens
            ):
                return json_response(
                    {
                        "error": "invalid_grant",
                        "error_description": "refresh token unknown",
                    },
                    400,
                )
            self.refresh_tokens.discard(refresh)
            return json_response(self._issue())
        return json_response({"message": "no route"}, 404)


def query(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query))
