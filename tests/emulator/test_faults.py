"""Emulator layer: every fault kind and trigger fires as configured."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import m3u8
import pytest

from toutvfs.emulator import Emulator, Fault

BROWSE = "/ott/catalog/v2/toutv/browse"


@pytest.fixture(scope="module")
def faulty() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def client(faulty: Emulator) -> Iterator[httpx.Client]:
    faulty.faults.clear()
    with httpx.Client(base_url=faulty.base_url, timeout=10) as session:
        yield session
    faulty.faults.clear()


def first_segment(client: httpx.Client, id_media: int = 990001) -> m3u8.Segment:
    url = client.get("/media/validation/v2/", params={"idMedia": str(id_media)}).json()[
        "url"
    ]
    master = m3u8.loads(client.get(url).text, uri=url)
    variant_url = master.playlists[0].absolute_uri
    playlist = m3u8.loads(client.get(variant_url).text, uri=variant_url)
    segment: m3u8.Segment = playlist.segments[0]
    return segment


def test_status_first_n(faulty: Emulator, client: httpx.Client) -> None:
    fault = Fault("status", endpoint="browse", status=502, first=2)
    faulty.faults.append(fault)
    statuses = [client.get(BROWSE).status_code for _ in range(4)]
    assert statuses == [502, 502, 200, 200]
    assert fault.matched == 4
    assert fault.fired == 2
    assert [r.fault for r in faulty.request_log[-4:]] == [
        "status",
        "status",
        None,
        None,
    ]


def test_status_always(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("status", endpoint="search", status=500))
    statuses = {
        client.get("/ott/catalog/v2/toutv/search?term=a").status_code for _ in range(3)
    }
    assert statuses == {500}
    assert client.get(BROWSE).status_code == 200


def test_probability_is_seeded(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("status", endpoint="browse", probability=0.5, seed=42))
    draws = random.Random(42)
    expected = [503 if draws.random() < 0.5 else 200 for _ in range(40)]
    statuses = [client.get(BROWSE).status_code for _ in range(40)]
    assert statuses == expected
    assert 0 < statuses.count(503) < 40


def test_fault_limited_to_media(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("not-found", endpoint="validation", id_media=910002))
    params = {"idMedia": "910002"}
    assert client.get("/media/validation/v2/", params=params).status_code == 404
    other = client.get("/media/validation/v2/", params={"idMedia": "910001"})
    assert other.status_code == 200


def test_rate_limit(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("rate-limit", endpoint="browse", retry_after=7, first=1))
    response = client.get(BROWSE)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert client.get(BROWSE).status_code == 200


def test_empty_body(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("empty-body", endpoint="browse"))
    response = client.get(BROWSE)
    assert response.status_code == 200
    assert response.headers["content-length"] == "0"
    assert response.content == b""


def test_malformed_json(faulty: Emulator, client: httpx.Client) -> None:
    whole = client.get(BROWSE).content
    faulty.faults.append(Fault("malformed-json", endpoint="browse"))
    response = client.get(BROWSE)
    assert response.status_code == 200
    assert response.content == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_html_page_as_playlist(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("html-page", endpoint="master"))
    url = client.get("/media/validation/v2/", params={"idMedia": "910001"}).json()[
        "url"
    ]
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")
    assert "#EXTM3U" not in response.text


def test_truncated_segment(faulty: Emulator, client: httpx.Client) -> None:
    segment = first_segment(client)
    whole = client.get(segment.absolute_uri).content
    faulty.faults.append(Fault("truncate", endpoint="segment", truncate_to=1000))
    response = client.get(segment.absolute_uri)
    assert response.status_code == 200
    assert response.content == whole[:1000]
    assert response.headers["content-length"] == "1000"


def test_truncate_default_half(faulty: Emulator, client: httpx.Client) -> None:
    segment = first_segment(client)
    whole = client.get(segment.absolute_uri).content
    faulty.faults.append(Fault("truncate", endpoint="segment"))
    assert client.get(segment.absolute_uri).content == whole[: len(whole) // 2]


@pytest.mark.parametrize("length", [8, 0, 24])
def test_bad_key(faulty: Emulator, client: httpx.Client, length: int) -> None:
    segment = first_segment(client)
    good = client.get(segment.key.absolute_uri).content
    faulty.faults.append(Fault("bad-key", endpoint="key", key_length=length))
    bad = client.get(segment.key.absolute_uri).content
    assert len(good) == 16
    assert len(bad) == length
    assert bad[:16] == (good + bytes(8))[:length][:16]


def test_drop_after_bytes(faulty: Emulator, client: httpx.Client) -> None:
    segment = first_segment(client)
    faulty.faults.append(Fault("drop", endpoint="segment", after_bytes=1000, first=1))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(segment.absolute_uri)
    record = faulty.request_log[-1]
    assert record.fault == "drop"
    assert record.bytes == 1000
    assert client.get(segment.absolute_uri).status_code == 200


def test_stall_then_reset(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("stall", endpoint="browse", stall_seconds=0.3, first=1))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(BROWSE)
    assert faulty.request_log[-1].fault == "stall"
    assert client.get(BROWSE).status_code == 200


def test_stall_hits_read_timeout(faulty: Emulator, client: httpx.Client) -> None:
    faulty.faults.append(Fault("stall", endpoint="browse", stall_seconds=5, first=1))
    with pytest.raises(httpx.ReadTimeout):
        client.get(BROWSE, timeout=httpx.Timeout(10, read=0.3))


def test_trickle_completes_small_body(faulty: Emulator, client: httpx.Client) -> None:
    segment = first_segment(client)
    good = client.get(segment.key.absolute_uri).content
    faulty.faults.append(Fault("trickle", endpoint="key", trickle_rate=80))
    assert client.get(segment.key.absolute_uri).content == good
    assert faulty.request_log[-1].bytes == 16


def test_trickle_gives_up(faulty: Emulator, client: httpx.Client) -> None:
    segment = first_segment(client)
    faulty.faults.append(
        Fault("trickle", endpoint="segment", trickle_rate=1000, stall_seconds=0.3)
    )
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(segment.absolute_uri)
    assert 0 < faulty.request_log[-1].bytes < 1000


def error_page_body(status: int, message: str) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>{status}</title></head>"
        f"<body><h1>{status}</h1><p>{message}</p></body></html>"
    ).encode()


# Each fault kind other than ``status``, with its options and a function of
# the unfaulted body that returns the status and body the fault sends.
TRIGGER_KINDS: dict[
    str, tuple[dict[str, int], Callable[[bytes], tuple[int, bytes]]]
] = {
    "not-found": ({}, lambda whole: (404, error_page_body(404, "Introuvable"))),
    "html-page": (
        {},
        lambda whole: (
            200,
            error_page_body(200, "Service temporairement indisponible"),
        ),
    ),
    "truncate": ({"truncate_to": 100}, lambda whole: (200, whole[:100])),
}


def seeded_pattern(seed: int, probability: float, count: int) -> list[bool]:
    """Return whether a fault of this seed and probability fires on each request."""
    draws = random.Random(seed)
    return [draws.random() < probability for _ in range(count)]


# Each trigger: its Fault options, and for a run of requests whether the
# fault fires on each one.
TRIGGERS: dict[str, tuple[dict[str, Any], list[bool]]] = {
    "always": ({}, [True] * 5),
    "first-n": ({"first": 2}, [True, True, False, False, False]),
    "seeded": (
        {"probability": 0.5, "seed": 7},
        seeded_pattern(7, 0.5, 30),
    ),
}


@pytest.mark.parametrize("trigger", list(TRIGGERS))
@pytest.mark.parametrize("kind", list(TRIGGER_KINDS))
def test_trigger_with_kind(
    faulty: Emulator, client: httpx.Client, kind: str, trigger: str
) -> None:
    whole = client.get(BROWSE).content
    assert len(whole) > 100
    kind_options, faulted_response = TRIGGER_KINDS[kind]
    trigger_options, pattern = TRIGGERS[trigger]
    fault = Fault(kind, endpoint="browse", **kind_options, **trigger_options)
    faulty.faults.append(fault)

    received = []
    for _ in pattern:
        response = client.get(BROWSE)
        received.append((response.status_code, response.content))

    expected = [faulted_response(whole) if fires else (200, whole) for fires in pattern]
    assert received == expected
    assert fault.matched == len(pattern)
    assert fault.fired == pattern.count(True)
    records = faulty.request_log[-len(pattern) :]
    assert [record.fault for record in records] == [
        kind if fires else None for fires in pattern
    ]
    assert [record.status for record in records] == [status for status, _ in expected]


def test_seeded_pattern_mixes_outcomes() -> None:
    # The seeded case above would prove little if its draws all agreed.
    _, pattern = TRIGGERS["seeded"]
    assert 0 < pattern.count(True) < len(pattern)


def test_invalid_fault_rejected() -> None:
    with pytest.raises(ValueError, match="invalid fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="invalid fault endpoint"):
        Fault("status", endpoint="nowhere")
    with pytest.raises(ValueError, match="first or probability"):
        Fault("status", first=1, probability=0.5)
