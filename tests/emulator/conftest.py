"""Fixtures of the emulator tests: one demo emulator per session, clients and
the login flow as a client runs it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from toutvfs.config import Config
from toutvfs.emulator import Emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=10) as session:
        yield session


@pytest.fixture
def config(emulator: Emulator) -> Config:
    return Config.for_emulator(emulator.base_url)


_SETTINGS = re.compile(r"var SETTINGS = (\{.*?\});")


def authorize_params(config: Config) -> dict[str, str]:
    """Return the query of the B2C authorize request, as the web app sends it."""
    return {
        "client_id": config.client_id,
        "redirect_uri": config.redirect_uri,
        "response_type": "id_token token",
        "response_mode": "fragment",
        "scope": " ".join(config.scopes),
        "nonce": "n0",
        "state": "s0",
        "prompt": "login",
        "ui_locales": "fr",
    }


def login(config: Config, email: str, password: str) -> dict[str, Any]:
    """Run the B2C flow and return the fields of the redirect's fragment.

    Raises:
        AssertionError: a step answered something else than the flow expects.
    """
    with httpx.Client(timeout=10) as session:
        page = session.get(
            config.login_base + "oauth2/v2.0/authorize",
            params=authorize_params(config),
        )
        assert page.status_code == 200, page.text
        match = _SETTINGS.search(page.text)
        assert match is not None
        settings = json.loads(match.group(1))
        asserted = session.post(
            config.login_base + "SelfAsserted",
            params={"tx": settings["transId"], "p": "B2C_1A_SSO_Login"},
            data={"request_type": "RESPONSE", "email": email, "password": password},
            headers={"X-CSRF-TOKEN": session.cookies["x-ms-cpim-csrf"]},
        )
        assert asserted.status_code == 200
        if asserted.json()["status"] != "200":
            return {"self_asserted": asserted.json()}
        confirmed = session.get(
            config.login_base + "api/CombinedSigninAndSignup/confirmed",
            params={
                "rememberMe": "true",
                "csrf_token": settings["csrf"],
                "tx": settings["transId"],
                "p": "B2C_1A_SSO_Login",
            },
        )
        assert confirmed.status_code == 302
        location = confirmed.headers["location"]
        assert location.startswith(config.redirect_uri + "#")
        return dict(parse_qsl(urlsplit(location).fragment))


LoginFlow = Callable[[str, str], dict[str, Any]]


@pytest.fixture
def login_flow(config: Config) -> LoginFlow:
    """Return a function that logs in to the session emulator."""

    def run(email: str, password: str) -> dict[str, Any]:
        return login(config, email, password)

    return run


@pytest.fixture
def authorize_query(config: Config) -> dict[str, str]:
    return authorize_params(config)
