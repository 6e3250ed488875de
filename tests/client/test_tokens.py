"""Client tests: token sources, JWT expiry and the login flow's edge cases."""

from __future__ import annotations

import httpx
import pytest

from toutvfs.client import BearerToken, PasswordLogin, RefreshableToken, Session
from toutvfs.client.tokens import jwt_claims, jwt_expiry
from toutvfs.errors import ApiChanged, InvalidCredentials

from . import payloads
from .conftest import FAST_RETRIES
from .fakeservice import DEMO_PASSWORD, DEMO_USER, json_response


def test_jwt_claims_and_expiry():
    token = payloads.jwt({"exp": 1234, "email": "a@b.test"})
    assert jwt_claims(token)["email"] == "a@b.test"
    assert jwt_expiry(token) == 1234.0


@pytest.mark.parametrize("value", ["", "abc", "a.b.c", "a.!!!.c", "x.eyJ0IjoxfQ.y"])
def test_jwt_expiry_of_non_tokens(value):
    assert jwt_expiry(value) is None


def test_bearer_from_env(monkeypatch):
    token = payloads.jwt({"exp": 2_000_000_000, "email": "env@x.test"})
    monkeypatch.setenv("TOUTV_BEARER_TOKEN", f"Bearer {token}\n")
    source = BearerToken.from_env()
    assert source.user == "env@x.test"
    assert source._token == token


def test_bearer_from_env_unset(monkeypatch):
    monkeypatch.delenv("TOUTV_BEARER_TOKEN", raising=False)
    with pytest.raises(ValueError, match="TOUTV_BEARER_TOKEN is not set"):
        BearerToken.from_env()


def test_bearer_from_file(tmp_path):
    token = payloads.jwt({"exp": 2_000_000_000})
    path = tmp_path / "token.txt"
    path.write_text(f"\n{token}\n", encoding="utf-8")
    assert BearerToken.from_file(path)._token == token


def test_bearer_from_empty_file(tmp_path):
    path = tmp_path / "token.txt"
    path.write_text("  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        BearerToken.from_file(path)


async def test_bearer_expired_raises(service):
    token = payloads.jwt({"exp": 100})
    source = BearerToken(token, origin="test", clock=lambda: 200.0)
    async with service.client() as http:
        session = Session(service.config, http, source, policy=FAST_RETRIES)
        with pytest.raises(InvalidCredentials, match="expired at 1970-01-01"):
            await session.validate("720001")
    assert service.paths["/media/validation/v2/"] == 0


async def test_bearer_rejected_is_not_retried(service):
    token = payloads.jwt({"exp": 2_000_000_000})
    async with service.client() as http:
        session = Session(service.config, http, BearerToken(token), policy=FAST_RETRIES)
        with pytest.raises(InvalidCredentials, match="rejected the token"):
            await session.validate("720001")
    assert service.paths["/media/validation/v2/"] == 1


async def test_bearer_token_accepted(service):
    async with service.client() as http:
        login = PasswordLogin(DEMO_USER, DEMO_PASSWORD, clock=lambda: service.now)
        session = Session(service.config, http, login, clock=lambda: service.now)
        token = await login.bearer(session.login_flow)
        pasted = Session(
            service.config, http, BearerToken(token), clock=lambda: service.now
        )
        url = await pasted.validate("720001")
    assert "/hls/720001/" in url


async def test_login_flow_sends_form_and_csrf(service):
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES)
        tokens = await session.login_flow.login(DEMO_USER, DEMO_PASSWORD)
    assert tokens.access_token == service.tokens_issued[0]
    assert tokens.lifetime == 3600.0
    assert tokens.refresh_token is None
    assert tokens.access_token not in repr(tokens)
    authorize, posted, confirmed = service.requests
    params = authorize.url.params
    assert params["client_id"] == service.config.client_id
    assert params["response_type"] == "id_token token"
    assert "openid" in params["scope"].split()
    assert posted.method == "POST"
    assert posted.url.params["p"] == "B2C_1A_SSO_Login"
    assert posted.headers["X-CSRF-TOKEN"] == "csrf-1"
    assert confirmed.url.params["csrf_token"] == "csrf-1"
    assert "x-ms-cpim-trans=ok" in confirmed.headers["Cookie"]


async def test_login_page_without_settings(service):
    service.fail_next(
        "/b2c/bef1b538-1950-4283-9b27-b096cbc18070/B2C_1A_SSO_Login/oauth2/v2.0/authorize",
        httpx.Response(200, text="<html>maintenance</html>"),
    )
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES)
        with pytest.raises(ApiChanged) as info:
            await session.login_flow.login(DEMO_USER, DEMO_PASSWORD)
    assert info.value.field == "SETTINGS.transId"


async def test_login_redirect_with_error(service):
    service.fail_next(
        "/b2c/bef1b538-1950-4283-9b27-b096cbc18070/B2C_1A_SSO_Login"
        "/api/CombinedSigninAndSignup/confirmed",
        httpx.Response(
            302,
            headers={
                "Location": service.config.redirect_uri
                + "#error=access_denied&error_description=Compte+bloque"
            },
        ),
    )
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES)
        with pytest.raises(InvalidCredentials, match="Compte bloque"):
            await session.login_flow.login(DEMO_USER, DEMO_PASSWORD)


async def test_profile_failure_validates_without_claims(service):
    service.fail_next(
        "/ott/subscription/v2/toutv/subscriber/profile", json_response({}, 404)
    )
    service.validation["720001"] = payloads.validation_ok("http://service.test/m.m3u8")
    async with service.client() as http:
        login = PasswordLogin(DEMO_USER, DEMO_PASSWORD, clock=lambda: service.now)
        session = Session(
            service.config, http, login, policy=FAST_RETRIES, clock=lambda: service.now
        )
        assert await session.validate("720001") == "http://service.test/m.m3u8"
    assert "x-claims-token" not in service.requests[-1].headers


def token_requests(service) -> int:
    """Return how many requests the token endpoint of the B2C policy got."""
    return sum(
        count for path, count in service.paths.items() if path.endswith("/token")
    )


async def test_refreshable_token_renews_and_reports(service):
    service.issue_refresh_tokens = True
    renewed = []
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES)
        first = await session.login_flow.login(DEMO_USER, DEMO_PASSWORD)
        assert first.refresh_token == "refresh-1"
        source = RefreshableToken(
            DEMO_USER,
            first.access_token,
            first.refresh_token,
            expires=service.now - 1,
            on_renewal=renewed.append,
            clock=lambda: service.now,
        )
        token = await source.bearer(session.login_flow)
        again = await source.bearer(session.login_flow)
    assert token == service.tokens_issued[1]
    assert again == token
    assert source.refreshes == 1
    assert [tokens.refresh_token for tokens in renewed] == ["refresh-2"]
    assert service.refresh_tokens == {"refresh-2"}
    assert token_requests(service) == 1


async def test_refreshable_token_rejected_needs_login(service):
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES)
        source = RefreshableToken(
            DEMO_USER,
            payloads.jwt({"exp": 100}),
            "refresh-unknown",
            clock=lambda: service.now,
        )
        with pytest.raises(InvalidCredentials, match="refresh token unknown; log in"):
            await source.bearer(session.login_flow)
        assert source.renewable is False
        with pytest.raises(InvalidCredentials, match="log in again"):
            await source.bearer(session.login_flow)
    assert token_requests(service) == 1
