"""End-to-end test: a --debug-http log of a B2C login contains no secret."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from toutvfs.emulator import Emulator
from toutvfs.emulator.handler import Request, Response
from toutvfs.emulator.loader import load_demo
from toutvfs.emulator.model import Account

from .mounting import start_mount

pytestmark = pytest.mark.fuse

USER = "redact@toutvfs.test"
# Random, so that it cannot appear in the log by chance.
PASSWORD = secrets.token_urlsafe(18)

SECRET_QUERY_KEYS = ("nonce", "state", "tx", "csrf_token")
TOKEN_KEYS = ("access_token", "id_token", "refresh_token", "state")
LOGIN_STEPS = ("authorize", "self_asserted", "confirmed", "token")


class SecretRecorder:
    """Every secret value the emulator's login service receives or sends."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str) -> None:
        # A transaction id is "StateProperties=<random>"; its random part is
        # the secret, and the prefix is in the log as a parameter name.
        self.values.add(value.rpartition("=")[2])

    def wrap_step(
        self, step: Callable[[Request], Response]
    ) -> Callable[[Request], Response]:
        def recorded(request: Request) -> Response:
            for key in SECRET_QUERY_KEYS:
                if request.query.get(key):
                    self.add(request.query[key])
            for value in request.cookies.values():
                self.add(value)
            response = step(request)
            self.record_response(response)
            return response

        return recorded

    def record_response(self, response: Response) -> None:
        for name, value in response.headers:
            if name.lower() == "set-cookie":
                for morsel in SimpleCookie(value).values():
                    self.add(morsel.value)
            if name.lower() == "location":
                fragment = dict(parse_qsl(urlsplit(value).fragment))
                for key in TOKEN_KEYS:
                    if fragment.get(key):
                        self.add(fragment[key])
        if response.headers and "json" in dict(response.headers).get(
            "Content-Type", ""
        ):
            body = json.loads(response.body)
            for key in TOKEN_KEYS:
                if isinstance(body, dict) and body.get(key):
                    self.add(str(body[key]))


@pytest.fixture
def recording_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Emulator, SecretRecorder]]:
    catalogue = load_demo()
    catalogue.accounts.append(Account(USER, PASSWORD, tier="Premium"))
    recorder = SecretRecorder()
    with Emulator(catalogue=catalogue) as emulator:
        login = emulator.app.login
        assert login is not None
        for name in LOGIN_STEPS:
            monkeypatch.setattr(login, name, recorder.wrap_step(getattr(login, name)))
        original_claims = login.claims_token

        def claims_token(account: Account) -> str:
            token = original_claims(account)
            recorder.add(token)
            return token

        monkeypatch.setattr(login, "claims_token", claims_token)
        yield emulator, recorder


def test_debug_http_log_has_no_secret(
    recording_emulator: tuple[Emulator, SecretRecorder], tmp_path: Path
) -> None:
    emulator, recorder = recording_emulator
    mount = start_mount(
        tmp_path / "mnt",
        tmp_path / "toutvfs.log",
        "--emulator",
        emulator.base_url,
        "--user",
        USER,
        "--debug-http",
        "--log-level",
        "DEBUG",
        password=PASSWORD,
    )
    try:
        # Listing an episode validates its media, which needs the login.
        media = next(mount.path.glob("shows/*/*/*/*.ts"))
        with media.open("rb") as stream:
            assert len(stream.read(188)) == 188
    finally:
        assert mount.stop() == 0, mount.log()
    text = mount.log()
    # The log covers the whole flow, headers included.
    assert f"logged in as {USER}" in text
    assert "oauth2/v2.0/authorize" in text
    assert "Set-Cookie" in text
    assert "SelfAsserted" in text
    assert "CombinedSigninAndSignup/confirmed" in text
    # Cookies, nonce, state, csrf token, transaction id, the tokens and the
    # claims token: at least two cookies, nonce, state and three tokens.
    assert len(recorder.values) >= 7, recorder.values
    for value in sorted(recorder.values):
        assert len(value) >= 8, value
        assert value not in text
    assert PASSWORD not in text
