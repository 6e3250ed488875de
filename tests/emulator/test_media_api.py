"""Emulator layer: media meta and validation, anonymous and with accounts."""

from __future__ import annotations

from typing import Any

import httpx

from toutvfs.config import Config
from toutvfs.emulator import Emulator
from toutvfs.emulator.tokens import JwtSigner

META = "/media/meta/v1/index.ashx"
VALIDATION = "/media/validation/v2/"


def validate(
    client: httpx.Client, id_media: int, headers: dict[str, str] | None = None
) -> httpx.Response:
    params = {
        **Config().validation_params,
        "appCode": "toutv",
        "idMedia": str(id_media),
    }
    return client.get(VALIDATION, params=params, headers=headers or {})


def member_headers(client: httpx.Client, tokens: dict[str, Any]) -> dict[str, str]:
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    profile = client.get(
        "/ott/subscription/v2/toutv/subscriber/profile", headers=bearer
    ).json()
    return {**bearer, "x-claims-token": profile["claimsToken"]}


def test_meta_json_object(client: httpx.Client, emulator: Emulator) -> None:
    body = client.get(
        META, params={"appCode": "toutv", "idMedia": "910001", "output": "jsonObject"}
    ).json()
    assert body["errorMessage"] is None
    assert [tech["name"] for tech in body["availableTechs"]] == ["hls", "dash"]
    assert body["availableTechs"][0]["drm"] == []
    metas = body["Metas"]
    assert all(isinstance(value, str) for value in metas.values())
    assert metas["idMedia"] == "910001"
    assert metas["Emission"] == "Les Héritiers du fleuve"
    assert metas["length"] == "60"
    host = emulator.base_url.removeprefix("http:")
    assert metas["closedCaptionHTML5"] == f"{host}/cc/910001.vtt"
    captions = client.get("http:" + metas["closedCaptionHTML5"])
    assert captions.status_code == 200
    assert captions.text.startswith("WEBVTT\n")


def test_meta_json_list_form(client: httpx.Client) -> None:
    body = client.get(
        META, params={"appCode": "toutv", "idMedia": "910002", "output": "json"}
    ).json()
    assert set(body) == {"errorMessage", "Metas"}
    names = {entry["name"]: entry["text"] for entry in body["Metas"]}
    assert names["Title"] == "Marée haute"
    assert all(set(entry) == {"name", "text"} for entry in body["Metas"])


def test_meta_drm_only(client: httpx.Client) -> None:
    body = client.get(META, params={"idMedia": "991002"}).json()
    assert [tech["name"] for tech in body["availableTechs"]] == ["dash"]
    assert body["Metas"]["isDrmActive"] == "true"


def test_meta_unknown_media(client: httpx.Client) -> None:
    response = client.get(META, params={"idMedia": "1"})
    assert response.status_code == 404
    assert response.json()["errorMessage"]["errorCode"] == 3


def test_validation_anonymous_standard(client: httpx.Client) -> None:
    response = validate(client, 910001)
    assert response.status_code == 200
    body = response.json()
    assert body["errorCode"] == 0
    assert body["message"] is None
    assert body["params"] == []
    assert body["url"].startswith(f"{client.base_url}/cdn/out/v1/910001/")
    assert "hdnea=st=" in body["url"]
    assert [(b["width"], b["height"]) for b in body["bitrates"]] == [
        (320, 180),
        (640, 360),
    ]


def test_validation_client_key_is_anonymous(client: httpx.Client) -> None:
    headers = {"Authorization": "client-key 90505c8d-9c34-4f34-8da1-3a85bdc6d4f4"}
    assert validate(client, 910001, headers).json()["errorCode"] == 0
    assert validate(client, 910003, headers).json()["errorCode"] == 35


def test_validation_refusals_anonymous(client: httpx.Client) -> None:
    cases = {910003: 35, 991003: 35, 991001: 1, 910012: 2, 991004: 2}
    for id_media, code in cases.items():
        response = validate(client, id_media)
        assert response.status_code == 200
        body = response.json()
        assert body["errorCode"] == code, id_media
        assert body["url"] is None
        assert body["params"] is None
        assert body["bitrates"] is None
        assert body["message"]


def test_validation_geo_message(client: httpx.Client) -> None:
    body = validate(client, 991001).json()
    assert body["message"] == (
        "Le contenu sélectionné n'est pas disponible dans votre pays"
    )


def test_validation_drm(client: httpx.Client) -> None:
    body = validate(client, 991002).json()
    assert body["errorCode"] == 0
    assert ".mpd" in body["url"]
    names = [param["name"] for param in body["params"]]
    assert names == ["widevineLicenseUrl", "widevineAuthToken"]
    manifest = client.get(body["url"])
    assert manifest.status_code == 200
    assert "ContentProtection" in manifest.text


def test_validation_bad_bearer(
    emulator: Emulator, client: httpx.Client, login_flow: Any
) -> None:
    # Each token goes with the account's real claims token, so that only the
    # bearer token can be the reason for a 401.
    headers = member_headers(client, login_flow("demo@toutvfs.test", "demo"))
    claims = {"email": "demo@toutvfs.test", "tier": "Member"}
    valid = emulator.app.jwt.encode(claims, lifetime=3600)
    forged = JwtSigner(b"another emulator").encode(claims, lifetime=3600)
    expired = emulator.app.jwt.encode(claims, lifetime=-10)
    accepted = validate(client, 910003, {**headers, "Authorization": f"Bearer {valid}"})
    assert accepted.status_code == 200
    assert accepted.json()["errorCode"] == 0
    for token in ("", "nonsense", "a.b.c", forged, expired):
        bearer = {**headers, "Authorization": f"Bearer {token}".strip()}
        response = validate(client, 910003, bearer)
        assert response.status_code == 401, token
        assert response.json()["errorMessage"]["errorCode"] == 401
        assert response.json()["errorMessage"]["text"]


def test_validation_member(client: httpx.Client, login_flow: Any) -> None:
    headers = member_headers(client, login_flow("demo@toutvfs.test", "demo"))
    assert validate(client, 910003, headers).json()["errorCode"] == 0
    assert validate(client, 910012, headers).json()["errorCode"] == 2
    assert validate(client, 991001, headers).json()["errorCode"] == 1


def test_validation_premium(client: httpx.Client, login_flow: Any) -> None:
    headers = member_headers(client, login_flow("extra@toutvfs.test", "extra"))
    assert validate(client, 910012, headers).json()["errorCode"] == 0
    assert validate(client, 991004, headers).json()["errorCode"] == 0


def test_validation_needs_claims_token(client: httpx.Client, login_flow: Any) -> None:
    tokens = login_flow("demo@toutvfs.test", "demo")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = validate(client, 910003, bearer)
    assert response.status_code == 401
    other = member_headers(client, login_flow("extra@toutvfs.test", "extra"))
    mixed = {**bearer, "x-claims-token": other["x-claims-token"]}
    assert validate(client, 910003, mixed).status_code == 401
