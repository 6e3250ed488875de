"""Emulator layer: master and media playlists, keys, segments, ranges, tokens."""

from __future__ import annotations

import time

import httpx
import m3u8
import pytest

from toutvfs.emulator import Emulator


def master_url(client: httpx.Client, id_media: int) -> str:
    body = client.get(
        "/media/validation/v2/", params={"idMedia": str(id_media), "tech": "hls"}
    ).json()
    url: str = body["url"]
    return url


def test_master_playlist(client: httpx.Client) -> None:
    url = master_url(client, 910001)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    master = m3u8.loads(response.text, uri=url)
    assert master.is_variant
    resolutions = [p.stream_info.resolution for p in master.playlists]
    assert resolutions == [(320, 180), (640, 360)]
    bandwidths = [p.stream_info.bandwidth for p in master.playlists]
    assert bandwidths == sorted(bandwidths)
    for playlist in master.playlists:
        assert playlist.stream_info.average_bandwidth > 0
        assert playlist.stream_info.codecs.startswith("avc1.42c0")
        assert "hdnea=" in playlist.uri


def test_media_playlist(client: httpx.Client) -> None:
    url = master_url(client, 910001)
    master = m3u8.loads(client.get(url).text, uri=url)
    variant_url = master.playlists[0].absolute_uri
    playlist = m3u8.loads(client.get(variant_url).text, uri=variant_url)
    assert playlist.media_sequence == 4816
    assert playlist.is_endlist
    assert len(playlist.segments) == 12
    assert all(4 <= s.duration <= 6 for s in playlist.segments)
    assert sum(s.duration for s in playlist.segments) >= 60
    key = playlist.keys[0]
    assert key.method == "AES-128"
    assert key.iv == "0x000000000000000000000000000012d0"
    key_response = client.get(key.absolute_uri)
    assert key_response.status_code == 200
    assert len(key_response.content) == 16
    segment = client.get(playlist.segments[0].absolute_uri)
    assert segment.status_code == 200
    assert segment.headers["content-type"] == "video/mp2t"
    assert len(segment.content) % 16 == 0


def segment_url(client: httpx.Client, id_media: int = 910001) -> str:
    url = master_url(client, id_media)
    master = m3u8.loads(client.get(url).text, uri=url)
    variant_url = master.playlists[0].absolute_uri
    playlist = m3u8.loads(client.get(variant_url).text, uri=variant_url)
    uri: str = playlist.segments[1].absolute_uri
    return uri


def test_segment_head_and_ranges(client: httpx.Client) -> None:
    url = segment_url(client)
    whole = client.get(url).content
    head = client.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(whole))
    assert head.headers["accept-ranges"] == "bytes"
    assert head.content == b""
    part = client.get(url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-299/{len(whole)}"
    assert part.content == whole[100:300]
    tail = client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206
    assert tail.content == whole[-50:]
    open_ended = client.get(url, headers={"Range": f"bytes={len(whole) - 10}-"})
    assert open_ended.content == whole[-10:]
    beyond = client.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(whole)}"


def test_keep_alive_reuses_connection(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.base_url) as client:
        url = segment_url(client)
        first = client.get(url)
        second = client.get(url)
    assert first.headers.get("connection") != "close"
    assert first.content == second.content


def test_unsigned_media_rejected(client: httpx.Client) -> None:
    url = segment_url(client)
    bare = url.split("?")[0]
    assert client.get(bare).status_code == 403
    forged = bare + "?hdnea=st=1~exp=99999999999~acl=*~hmac=00"
    assert client.get(forged).status_code == 403


def test_signed_url_expires() -> None:
    with Emulator(signed_url_lifetime=1) as short:
        with httpx.Client(base_url=short.base_url) as client:
            url = master_url(client, 910001)
            assert client.get(url).status_code == 200
            status = 200
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                status = client.get(url).status_code
                if status == 403:
                    break
                time.sleep(0.1)
            assert status == 403


def test_request_log_records(emulator: Emulator, client: httpx.Client) -> None:
    url = segment_url(client)
    before = len(emulator.request_log)
    client.get(url, headers={"Range": "bytes=0-99"})
    record = emulator.request_log[before]
    assert len(emulator.request_log) == before + 1
    assert record.method == "GET"
    assert record.path.startswith("/cdn/out/v1/910001/v0/ffmpeg-aes/seg_")
    assert record.query == {"hdnea": "***"}
    assert record.range == "bytes=0-99"
    assert record.status == 206
    assert record.bytes == 100
    assert record.endpoint == "segment"
    assert record.id_media == 910001
    assert record.duration >= 0


@pytest.mark.parametrize("path", ["/images/q_auto,w_200/v1/toutv/cards/x.png"])
def test_image(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(response.content[16:20], "big")
    assert width == 200
