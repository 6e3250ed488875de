"""Client layer: the Azure AD B2C login flow of TOU.TV, user and password.

Three requests, with one cookie jar kept across them:

1. GET ``oauth2/v2.0/authorize``: an HTML page whose settings carry the
   transaction id (``transId``) and a CSRF token; the ``x-ms-cpim-csrf``
   cookie carries the CSRF token too.
2. POST ``SelfAsserted?tx=...&p=<policy>`` with the e-mail and password and
   the ``X-CSRF-TOKEN`` header: JSON ``{"status": "200"}`` on success.
3. GET ``api/CombinedSigninAndSignup/confirmed``: a redirect to the redirect
   URI whose fragment contains ``access_token``, ``expires_in`` and, when
   the service issues one, ``refresh_token``.

A refresh token is exchanged for new tokens with one POST to
``oauth2/v2.0/token`` (``grant_type=refresh_token``), the OAuth 2.0
refresh grant of RFC 6749 section 6.

The flow scrapes web pages, so the service can break it at any time. A token
from a browser session (`toutvfs.client.tokens.BearerToken`) does not depend
on it.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx

from toutvfs.client.http import Requester
from toutvfs.client.redact import redacted_logger
from toutvfs.config import Config
from toutvfs.errors import ApiChanged, InvalidCredentials

log = redacted_logger(__name__)

_SETTING_PATTERNS = {
    name: re.compile(r'"' + name + r'"\s*:\s*"((?:[^"\\]|\\.)*)"')
    for name in ("transId", "csrf")
}

CSRF_COOKIE = "x-ms-cpim-csrf"


@dataclass(frozen=True)
class Tokens:
    """What a login or a refresh returns.

    Attributes:
        access_token: the bearer token of media calls.
        lifetime: seconds it is valid for, when the service sends it.
        refresh_token: a token for `LoginFlow.refresh`, or None.
    """

    access_token: str
    lifetime: float | None
    refresh_token: str | None

    def __repr__(self) -> str:
        return f"Tokens(lifetime={self.lifetime!r})"


def _policy(config: Config) -> str:
    """Return the policy name, the last path segment of the login base."""
    return urlsplit(config.login_base).path.rstrip("/").rsplit("/", 1)[-1]


def _setting(page: str, name: str, endpoint: str) -> str:
    match = _SETTING_PATTERNS[name].search(page)
    if match is None:
        raise ApiChanged(endpoint, f"SETTINGS.{name}", "not found in the login page")
    value: str = json.loads('"' + match.group(1) + '"')
    return value


class LoginFlow:
    """Runs the login flow with a `Requester`, its own cookies and no redirects."""

    def __init__(self, config: Config, requester: Requester) -> None:
        self.config = config
        self.requester = requester

    async def login(self, user: str, password: str) -> Tokens:
        """Log in and return the tokens.

        Raises:
            InvalidCredentials: the service rejected the user or password; the
                message is the service's, never the password.
            ApiChanged: a page or response of the flow has an unexpected shape.
        """
        config = self.config
        cookies = httpx.Cookies()
        policy = _policy(config)
        authorize = config.login_base + "oauth2/v2.0/authorize"
        page = await self._send(
            cookies,
            "GET",
            authorize,
            params={
                "client_id": config.client_id,
                "redirect_uri": config.redirect_uri,
                "response_type": "id_token token",
                "response_mode": "fragment",
                "scope": " ".join(config.scopes),
                "nonce": secrets.token_urlsafe(16),
                "state": secrets.token_urlsafe(16),
                "prompt": "login",
                "ui_locales": "fr",
            },
        )
        trans_id = _setting(page.text, "transId", "oauth2/v2.0/authorize")
        csrf = cookies.get(CSRF_COOKIE) or _setting(
            page.text, "csrf", "oauth2/v2.0/authorize"
        )

        answer = await self._send(
            cookies,
            "POST",
            config.login_base + "SelfAsserted",
            params={"tx": trans_id, "p": policy},
            headers={"X-CSRF-TOKEN": csrf, "X-Requested-With": "XMLHttpRequest"},
            data={"request_type": "RESPONSE", "email": user, "password": password},
            accept=frozenset({200, 400, 401}),
        )
        self._check_self_asserted(answer, user)

        confirmed = await self._send(
            cookies,
            "GET",
            config.login_base + "api/CombinedSigninAndSignup/confirmed",
            params={
                "rememberMe": "true",
                "csrf_token": csrf,
                "tx": trans_id,
                "p": policy,
            },
            accept=frozenset({200, 302, 303}),
        )
        return self._token_from_redirect(confirmed, user)

    async def _send(
        self,
        cookies: httpx.Cookies,
        method: str,
        url: str,
        *,
        params: dict[str, str],
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        accept: frozenset[int] = frozenset({200}),
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        jar = "; ".join(f"{cookie.name}={cookie.value}" for cookie in cookies.jar)
        if jar:
            all_headers["Cookie"] = jar
        response = await self.requester.send(
            method, url, params=params, headers=all_headers, data=data, accept=accept
        )
        cookies.extract_cookies(response)
        return response

    def _check_self_asserted(self, answer: httpx.Response, user: str) -> None:
        try:
            body = answer.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiChanged("SelfAsserted", "<body>", "the body is not JSON") from None
        status = str(body.get("status", "")) if isinstance(body, dict) else ""
        if status == "200" and answer.status_code == 200:
            return
        message = body.get("message") if isinstance(body, dict) else None
        log.warning("login rejected for %s: %s", user, message or f"status {status}")
        raise InvalidCredentials(
            user,
            f"the service rejected the login of {user!r}: "
            f"{message or 'invalid user name or password'}",
        )

    def _token_from_redirect(self, response: httpx.Response, user: str) -> Tokens:
        endpoint = "api/CombinedSigninAndSignup/confirmed"
        location = response.headers.get("Location")
        if not location:
            raise ApiChanged(endpoint, "Location", "no redirect to the redirect URI")
        fragment = dict(parse_qsl(urlsplit(location).fragment))
        if "error" in fragment:
            description = fragment.get("error_description", fragment["error"])
            raise InvalidCredentials(
                user, f"the service rejected the login of {user!r}: {description}"
            )
        token = fragment.get("access_token")
        if not token:
            raise ApiChanged(endpoint, "Location#access_token", "missing")
        return Tokens(
            token, _lifetime(fragment.get("expires_in")), fragment.get("refresh_token")
        )

    async def refresh(self, user: str, refresh_token: str) -> Tokens:
        """Exchange *refresh_token* for new tokens.

        Raises:
            InvalidCredentials: the service rejected the refresh token.
            ApiChanged: the response has no access token.
        """
        config = self.config
        endpoint = "oauth2/v2.0/token"
        response = await self.requester.send(
            "POST",
            config.login_base + endpoint,
            headers={"User-Agent": config.user_agent},
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": config.client_id,
                "scope": " ".join(config.scopes),
            },
            accept=frozenset({200, 400, 401}),
        )
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiChanged(endpoint, "<body>", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiChanged(endpoint, "<root>", "expected an object")
        if response.status_code != 200:
            description = body.get("error_description") or body.get("error")
            raise InvalidCredentials(
                user,
                f"the service rejected the refresh token of {user!r}: {description}",
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ApiChanged(endpoint, "access_token", "missing")
        expires_in = body.get("expires_in")
        new_refresh = body.get("refresh_token")
        return Tokens(
            token,
            _lifetime(None if expires_in is None else str(expires_in)),
            new_refresh if isinstance(new_refresh, str) else None,
        )


def _lifetime(expires_in: str | None) -> float | None:
    if expires_in is not None and expires_in.isdigit():
        return float(expires_in)
    return None
