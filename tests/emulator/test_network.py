"""Emulator layer: latency, bandwidth caps, connection limits, strict cookies."""

from __future__ import annotations

import threading
import time

import httpx
import m3u8
import pytest

from toutvfs.emulator import Emulator, Fault, Shaping
from toutvfs.emulator.shaping import combine

BROWSE = "/ott/catalog/v2/toutv/browse"


def variant_playlist(client: httpx.Client, id_media: int = 990001) -> m3u8.M3U8:
    url = client.get("/media/validation/v2/", params={"idMedia": str(id_media)}).json()[
        "url"
    ]
    master = m3u8.loads(client.get(url).text, uri=url)
    variant_url = master.playlists[0].absolute_uri
    return m3u8.loads(client.get(variant_url).text, uri=variant_url)


def test_latency_delays_every_response() -> None:
    with Emulator(latency=0.25) as emulator:
        with httpx.Client(base_url=emulator.base_url) as client:
            started = time.monotonic()
            assert client.get(BROWSE).status_code == 200
            elapsed = time.monotonic() - started
    assert elapsed >= 0.25
    assert emulator.request_log[-1].duration >= 0.25


def test_rate_caps_bandwidth() -> None:
    rate = 400_000
    with Emulator(rate=rate) as emulator:
        with httpx.Client(base_url=emulator.base_url, timeout=30) as client:
            segment = variant_playlist(client).segments[0]
            started = time.monotonic()
            body = client.get(segment.absolute_uri).content
            elapsed = time.monotonic() - started
    # The cap lets at most one second's worth through as a burst.
    assert elapsed >= len(body) / rate - 1.0
    assert len(body) > rate // 2


def test_shaping_combines_matching_entries() -> None:
    entries = [
        Shaping(latency=0.1),
        Shaping(endpoint="segment", latency=0.2, rate=1000),
        Shaping(endpoint="segment", id_media=5, rate=500),
        Shaping(endpoint="key", latency=9.0),
    ]
    latency, rate = combine(entries, "segment", 5)
    assert latency == pytest.approx(0.3)
    assert rate == 500
    latency, rate = combine(entries, "segment", 6)
    assert latency == pytest.approx(0.3)
    assert rate == 1000
    latency, rate = combine(entries, "browse", None)
    assert latency == pytest.approx(0.1)
    assert rate is None


def test_invalid_shaping_rejected() -> None:
    with pytest.raises(ValueError, match="invalid latency"):
        Shaping(latency=-1)
    with pytest.raises(ValueError, match="invalid rate"):
        Shaping(rate=0)


def test_connection_limit_queues() -> None:
    stall = Fault("stall", endpoint="browse", stall_seconds=1.0, first=1)
    with Emulator(max_connections=1, faults=[stall]) as emulator:
        closed_at: list[float] = []

        def stalled_request() -> None:
            with httpx.Client(base_url=emulator.base_url, timeout=10) as client:
                try:
                    client.get(BROWSE)
                except httpx.HTTPError:
                    closed_at.append(time.monotonic())

        first = threading.Thread(target=stalled_request)
        started = time.monotonic()
        first.start()
        deadline = time.monotonic() + 5
        while not emulator.request_log and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emulator.request_log[0].fault == "stall"
        with httpx.Client(base_url=emulator.base_url, timeout=10) as client:
            assert client.get("/auth-changed").status_code == 200
            answered_at = time.monotonic()
        first.join(timeout=10)
    assert len(closed_at) == 1
    # The only slot is busy until the stall ends, one second after it began.
    assert answered_at - started >= 1.0


def test_strict_cookies() -> None:
    with Emulator(strict_cookies=True) as emulator:
        with httpx.Client(base_url=emulator.base_url) as client:
            playlist = variant_playlist(client)
            assert "hdntl" in client.cookies
            segment = playlist.segments[0]
            assert client.get(segment.absolute_uri).status_code == 200
            assert client.get(segment.key.absolute_uri).status_code == 200
        with httpx.Client() as fresh:
            assert fresh.get(segment.absolute_uri).status_code == 403
            assert fresh.get(segment.key.absolute_uri).status_code == 403
            # Playlists stay open to a client without the cookie.
            token = segment.uri.split("?")[1]
            playlist_url = f"{playlist.base_uri}index.m3u8?{token}"
            assert fresh.get(playlist_url).status_code == 200


def test_default_mode_ignores_cookies(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.base_url) as client:
        segment = variant_playlist(client).segments[0]
    with httpx.Client() as fresh:
        assert fresh.get(segment.absolute_uri).status_code == 200
