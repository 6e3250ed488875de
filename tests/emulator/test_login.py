"""Emulator layer: the B2C login flow, tokens, refresh and the profile."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from toutvfs.config import Config
from toutvfs.emulator import Emulator
from toutvfs.emulator.tokens import JwtSigner

PROFILE = "/ott/subscription/v2/toutv/subscriber/profile"


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_login_returns_tokens(login_flow: Any) -> None:
    tokens = login_flow("demo@toutvfs.test", "demo")
    assert tokens["token_type"] == "Bearer"
    assert tokens["state"] == "s0"
    assert int(tokens["expires_in"]) == 3600
    access = claims(tokens["access_token"])
    assert access["email"] == "demo@toutvfs.test"
    assert access["exp"] - access["iat"] == 3600
    assert tokens["refresh_token"]
    assert tokens["id_token"].count(".") == 2


def test_login_email_case_insensitive(login_flow: Any) -> None:
    assert "access_token" in login_flow("Demo@ToutVFS.test", "demo")


def test_login_wrong_password(login_flow: Any) -> None:
    result = login_flow("demo@toutvfs.test", "faux")
    answer = result["self_asserted"]
    assert answer["status"] == "400"
    assert answer["errorCode"] == "AADB2C90225"
    assert "mot de passe" in answer["message"]
    assert login_flow("personne@toutvfs.test", "demo")["self_asserted"]["status"] == (
        "400"
    )


def test_login_rejects_missing_csrf(
    config: Config, authorize_query: dict[str, str]
) -> None:
    with httpx.Client() as session:
        page = session.get(
            config.login_base + "oauth2/v2.0/authorize",
            params=authorize_query,
        )
        trans = page.text.split('"transId": "')[1].split('"')[0]
        response = session.post(
            config.login_base + "SelfAsserted",
            params={"tx": trans},
            data={"request_type": "RESPONSE", "email": "demo@toutvfs.test"},
        )
        assert response.status_code == 403


def test_authorize_rejects_other_client(
    config: Config, authorize_query: dict[str, str]
) -> None:
    response = httpx.get(
        config.login_base + "oauth2/v2.0/authorize",
        params={**authorize_query, "client_id": "x"},
    )
    assert response.status_code == 400


def test_refresh_token_rotates(config: Config, login_flow: Any) -> None:
    tokens = login_flow("demo@toutvfs.test", "demo")
    url = config.login_base + "oauth2/v2.0/token"
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": config.client_id,
    }
    fresh = httpx.post(url, data=form)
    assert fresh.status_code == 200
    body = fresh.json()
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"] != tokens["refresh_token"]
    # The refresh usually comes in the same second as the login, and then only
    # the jti makes the two access tokens differ.
    assert body["access_token"] != tokens["access_token"]
    assert body["id_token"] != tokens["id_token"]
    assert claims(body["access_token"])["jti"] != claims(tokens["access_token"])["jti"]
    assert claims(body["access_token"])["email"] == "demo@toutvfs.test"
    reused = httpx.post(url, data=form)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_tokens_same_second_differ() -> None:
    signer = JwtSigner(clock=lambda: 1_800_000_000.0)
    issued = [signer.encode({"email": "demo@toutvfs.test"}, 3600) for _ in range(3)]
    assert len(set(issued)) == 3
    ids = [signer.decode(token)["jti"] for token in issued]
    assert len(set(ids)) == 3
    for token in issued:
        assert signer.decode(token)["iat"] == 1_800_000_000
        assert signer.decode(token)["exp"] == 1_800_003_600


def password_grant(config: Config, email: str, password: str) -> httpx.Response:
    return httpx.post(
        config.login_base + "oauth2/v2.0/token",
        data={"grant_type": "password", "username": email, "password": password},
    )


def test_password_grant(config: Config) -> None:
    good = password_grant(config, "extra@toutvfs.test", "extra")
    assert good.status_code == 200
    assert claims(good.json()["access_token"])["tier"] == "Premium"
    assert password_grant(config, "extra@toutvfs.test", "x").status_code == 400


def test_subscriber_profile(client: httpx.Client, login_flow: Any) -> None:
    tokens = login_flow("demo@toutvfs.test", "demo")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    for path in (PROFILE, PROFILE.replace("subscriber", "Subscriber")):
        response = client.get(path, params={"device": "web"}, headers=bearer)
        assert response.status_code == 200
        body = response.json()
        assert body["tier"] == "Member"
        assert claims(body["claimsToken"])["tier"] == "Member"
        assert body["statsMetas"] == {"rc.tier": "member"}
    assert client.get(PROFILE).status_code == 401


def test_account_me(client: httpx.Client, login_flow: Any) -> None:
    tokens = login_flow("extra@toutvfs.test", "extra")
    response = client.get(
        "/ott/profiling/v1/toutv/accounts/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 200
    assert response.json()["firstName"] == "Extra"
    assert response.json()["email"] == "extra@toutvfs.test"


def test_expired_bearer_rejected() -> None:
    with Emulator(token_lifetime=1) as short:
        config = Config.for_emulator(short.base_url)
        tokens = password_grant(config, "demo@toutvfs.test", "demo").json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        access = claims(tokens["access_token"])
        assert access["exp"] - access["iat"] == 1
        with httpx.Client(base_url=short.base_url) as client:
            status = 200
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                status = client.get(PROFILE, headers=bearer).status_code
                if status == 401:
                    break
                time.sleep(0.1)
            assert status == 401
