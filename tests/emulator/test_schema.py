"""Emulator layer: its answers have the field names and value types of the
service's payloads, as written in ``payloads/`` after the service's shapes.

The comparison is structural: the same keys at every level and the same JSON
types, where null on either side matches any type (the service documents
those fields as nullable) and a list's elements are merged into one schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest

from toutvfs.emulator import Emulator

PAYLOADS = Path(__file__).parent / "payloads"
V2 = "/ott/catalog/v2/toutv"

# Payload file, request path, query, and whether it needs a member account.
CASES: list[tuple[str, str, dict[str, str], bool]] = [
    ("browse.json", f"{V2}/browse", {}, False),
    ("browse.json", "/ott/catalog/v3/toutv/browse", {}, False),
    ("category.json", f"{V2}/category/serie", {"pageSize": "4"}, False),
    (
        "category.json",
        f"{V2}/category/serie",
        {"pageSize": "4", "pageNumber": "2"},
        False,
    ),
    ("search-v2.json", f"{V2}/search", {"term": "fleuve"}, False),
    ("search-v1.json", "/ott/catalog/v1/toutv/search", {"term": "marée"}, False),
    ("search-v1.json", "/ott/catalog/v1/toutv/search", {"term": "*"}, False),
    ("show.json", f"{V2}/show/les-heritiers-du-fleuve", {}, False),
    (
        "meta-jsonobject.json",
        "/media/meta/v1/index.ashx",
        {"idMedia": "910001", "output": "jsonObject"},
        False,
    ),
    (
        "meta-jsonobject.json",
        "/media/meta/v1/index.ashx",
        {"idMedia": "991002", "output": "jsonObject"},
        False,
    ),
    (
        "meta-json.json",
        "/media/meta/v1/index.ashx",
        {"idMedia": "910001", "output": "json"},
        False,
    ),
    ("validation-ok.json", "/media/validation/v2/", {"idMedia": "910001"}, False),
    # Every refusal has one shape: login required, geo-blocked, premium only.
    ("validation-refusal.json", "/media/validation/v2/", {"idMedia": "910003"}, False),
    ("validation-refusal.json", "/media/validation/v2/", {"idMedia": "991001"}, False),
    ("validation-refusal.json", "/media/validation/v2/", {"idMedia": "910012"}, False),
    ("validation-drm.json", "/media/validation/v2/", {"idMedia": "991002"}, False),
    (
        "subscriber-profile.json",
        "/ott/subscription/v2/toutv/subscriber/profile",
        {},
        True,
    ),
]


def schema(value: Any) -> Any:
    """Return the structure of a JSON value: key sets, element schemas, types."""
    if isinstance(value, dict):
        return {key: schema(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            merged = merge(merged, schema(item))
        return [merged]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def merge(left: Any, right: Any) -> Any:
    """Merge two element schemas of one list; keys present in either count."""
    if left is None or left == "null":
        return right
    if right is None or right == "null":
        return left
    if isinstance(left, dict) and isinstance(right, dict):
        return {
            key: merge(left.get(key), right.get(key))
            for key in left.keys() | right.keys()
        }
    if isinstance(left, list) and isinstance(right, list):
        return [merge(left[0], right[0])]
    return left


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Return where *actual* does not have the structure of *expected*."""
    if expected in (None, "null") or actual in (None, "null"):
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        found = []
        missing = sorted(expected.keys() - actual.keys())
        extra = sorted(actual.keys() - expected.keys())
        if missing:
            found.append(f"{path}: missing keys {missing}")
        if extra:
            found.append(f"{path}: unexpected keys {extra}")
        for key in expected.keys() & actual.keys():
            found += differences(expected[key], actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {actual!r}"]
        return differences(expected[0], actual[0], f"{path}[]")
    if expected != actual:
        return [f"{path}: expected {expected}, got {actual}"]
    return []


def test_schema_compares_types() -> None:
    assert differences(schema({"a": 1}), schema({"a": "1"})) == [
        "$.a: expected number, got str"
    ]
    assert differences(schema({"a": [{"b": 1}]}), schema({"a": [{"c": 1}]})) == [
        "$.a[]: missing keys ['b']",
        "$.a[]: unexpected keys ['c']",
    ]
    assert differences(schema({"a": None}), schema({"a": {"x": 1}})) == []


@pytest.mark.parametrize("name", sorted(p.name for p in PAYLOADS.glob("*.json")))
def test_payload_file_parses(name: str) -> None:
    payload = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    assert isinstance(payload, dict)
    assert payload


def test_playlist_files_parse() -> None:
    master = m3u8.load(str(PAYLOADS / "master.m3u8"))
    assert master.is_variant
    assert len(master.playlists) == 2
    media = m3u8.load(str(PAYLOADS / "media-implicit-iv.m3u8"))
    assert media.media_sequence == 200
    assert media.keys[0].iv is None


@pytest.mark.parametrize(("name", "path", "query", "member"), CASES)
def test_answer_matches_payload(
    client: httpx.Client,
    login_flow: Any,
    name: str,
    path: str,
    query: dict[str, str],
    member: bool,
) -> None:
    expected = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    headers = {}
    if member:
        tokens = login_flow("demo@toutvfs.test", "demo")
        headers["Authorization"] = f"Bearer {tokens['access_token']}"
    response = client.get(path, params=query, headers=headers)
    assert response.status_code == 200
    assert differences(schema(expected), schema(response.json())) == []


def test_error_401_matches_payload(client: httpx.Client) -> None:
    expected = json.loads((PAYLOADS / "error-401.json").read_text(encoding="utf-8"))
    response = client.get(
        "/media/validation/v2/",
        params={"idMedia": "910001"},
        headers={"Authorization": "Bearer x.y.z"},
    )
    assert response.status_code == 401
    assert differences(schema(expected), schema(response.json())) == []


def test_master_playlist_matches_payload(
    emulator: Emulator, client: httpx.Client
) -> None:
    expected = m3u8.load(str(PAYLOADS / "master.m3u8"))
    url = client.get("/media/validation/v2/", params={"idMedia": "910001"}).json()[
        "url"
    ]
    actual = m3u8.loads(client.get(url).text, uri=url)
    assert actual.version == expected.version
    assert actual.is_independent_segments == expected.is_independent_segments
    for playlist in actual.playlists:
        info = playlist.stream_info
        assert info.bandwidth > 0
        assert info.average_bandwidth > 0
        assert info.resolution is not None
        assert info.codecs.count(",") == 1
        assert info.frame_rate == expected.playlists[0].stream_info.frame_rate
        assert "hdnea=st=" in playlist.uri
