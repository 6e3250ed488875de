"""Faults: retries, Retry-After, expired signed URLs, stalls, bad media."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import trio

from toutvfs.errors import (
    NetworkTimeout,
    PlaylistError,
    SegmentError,
    UnsupportedMedia,
)
from toutvfs.hls import Engine, ReadaheadSettings, RetryPolicy

SEGMENT_2 = "ts-implicit/s9.ts"


async def open_implicit(engine: Engine, hls_media, url: str):
    async def resolve() -> str:
        return url

    variant = hls_media.variants["ts-implicit"]
    return await engine.open("m1", variant.key, resolve), variant.reference


def whole_gets(media_server, path: str) -> int:
    return sum(
        1 for r in media_server.requests if r.path == "/" + path and r.range is None
    )


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"status": 500},
        {"status": 429},
        {"reset": True},
        {"stall": 5.0},
    ],
    ids=["503", "500", "429", "reset", "stall"],
)
async def test_transient_fault_retried(
    fault, hls_media, media_server, http_client, fast_policy
):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    stream, reference = await open_implicit(
        engine, hls_media, media_server.url("master.m3u8")
    )
    media_server.inject(SEGMENT_2, count=2, **fault)

    assert await stream.read(0, stream.size) == reference
    assert whole_gets(media_server, SEGMENT_2) == 3
    await stream.close()


async def test_retry_after_honoured(hls_media, media_server, http_client, fast_policy):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    stream, reference = await open_implicit(
        engine, hls_media, media_server.url("master.m3u8")
    )
    media_server.inject(SEGMENT_2, status=429, headers={"Retry-After": "1"})
    start = trio.current_time()

    assert await stream.read(0, stream.size) == reference
    assert trio.current_time() - start >= 0.95
    await stream.close()


async def test_retry_after_capped(hls_media, media_server, http_client, fast_policy):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    stream, reference = await open_implicit(
        engine, hls_media, media_server.url("master.m3u8")
    )
    media_server.inject(SEGMENT_2, status=503, headers={"Retry-After": "3600"})
    start = trio.current_time()

    assert await stream.read(0, stream.size) == reference
    assert trio.current_time() - start < fast_policy.retry_after_max + 1.0
    await stream.close()


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ({"status": 500}, "HTTP 500"),
        ({"status": 404}, "HTTP 404"),
        ({"stall": 10.0}, ""),
    ],
    ids=["500", "404", "stall"],
)
async def test_persistent_fault_names_segment(
    fault, cause, hls_media, media_server, http_client, fast_policy
):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    stream, reference = await open_implicit(
        engine, hls_media, media_server.url("master.m3u8")
    )
    media_server.inject(SEGMENT_2, count=50, **fault)
    start = trio.current_time()
    first_part_end = len((hls_media.root / "ts-implicit/s7.ts.plain").read_bytes())

    with pytest.raises(SegmentError) as caught:
        await stream.read(0, stream.size)

    assert caught.value.index == 2
    message = str(caught.value)
    assert "segment 2" in message
    assert "/ts-implicit/s9.ts" in message
    assert cause in message
    assert trio.current_time() - start < fast_policy.part_deadline + 2.0
    # The parts before it still read.
    assert await stream.read(0, first_part_end) == reference[:first_part_end]
    await stream.close()


async def test_failed_part_held_then_retried(
    hls_media, media_server, http_client, fast_policy
):
    policy = dataclasses.replace(fast_policy, failure_hold=2.0)
    engine = Engine(http_client, None, 0, policy=policy)
    stream, reference = await open_implicit(
        engine, hls_media, media_server.url("master.m3u8")
    )
    media_server.inject(SEGMENT_2, count=50, status=500)
    with pytest.raises(SegmentError):
        await stream.read(0, stream.size)
    requests = media_server.count(SEGMENT_2)
    assert requests > 1

    # Within the hold, the same part fails at once with no new request.
    start = trio.current_time()
    with pytest.raises(SegmentError) as caught:
        await stream.read(0, stream.size)
    assert caught.value.index == 2
    assert trio.current_time() - start < 0.5
    assert media_server.count(SEGMENT_2) == requests

    # After the hold, the next read fetches the part again.
    media_server.reset()
    await trio.sleep(2.0)
    assert await stream.read(0, stream.size) == reference
    assert whole_gets(media_server, SEGMENT_2) == 1
    await stream.close()


async def test_stalled_stream_does_not_block_others(
    hls_media, media_server, http_client, fast_policy
):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    stalled, _ = await open_implicit(engine, hls_media, media_server.url("master.m3u8"))
    other_variant = hls_media.variants["ts-explicit"]

    async def resolve() -> str:
        return media_server.url("master.m3u8")

    other = await engine.open("m2", other_variant.key, resolve)
    media_server.inject(SEGMENT_2, count=50, stall=10.0)
    failed = trio.Event()

    async def read_stalled() -> None:
        with pytest.raises(SegmentError):
            await stalled.read(0, stalled.size)
        failed.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_stalled)
        assert await other.read(0, other.size) == other_variant.reference
        assert not failed.is_set()
    assert failed.is_set()
    await stalled.close()
    await other.close()


def signing_resolver(media_server, issued: list[str]):
    """Return a resolve function that signs with tokens t1, t2, t3 in turn.

    Each call appends the token it used to *issued*.
    """
    tokens = iter(["t1", "t2", "t3"])

    async def resolve() -> str:
        issued.append(next(tokens))
        return media_server.url("master.m3u8", token=issued[-1])

    return resolve


async def test_expired_url_resolved_again(
    hls_media, media_server, http_client, fast_policy
):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    media_server.tokens = {"t1"}
    issued: list[str] = []
    resolve = signing_resolver(media_server, issued)

    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open("m1", variant.key, resolve)
    assert await stream.read(0, 1000) == variant.reference[:1000]
    media_server.tokens = {"t2"}

    assert await stream.read(0, stream.size) == variant.reference
    assert issued == ["t1", "t2"]
    forbidden = [r for r in media_server.requests if r.status == 403]
    assert len(forbidden) >= 1
    await stream.close()


async def test_expired_url_resolved_again_for_seek(
    hls_media, media_server, http_client, fast_policy
):
    # Reads from 16 KiB into a part fetch only the rest of the part.
    settings = ReadaheadSettings(range_fetch_offset=16 * 1024)
    engine = Engine(http_client, None, 0, policy=fast_policy, readahead=settings)
    media_server.tokens = {"t1"}
    issued: list[str] = []
    resolve = signing_resolver(media_server, issued)

    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open("m1", variant.key, resolve)
    await engine.wait_idle()
    media_server.requests.clear()
    media_server.tokens = {"t2"}
    directory = hls_media.root / "ts-implicit"
    before = [(directory / f"s{n}.ts.plain").stat().st_size for n in (7, 8)]
    # 50,001 bytes into part 2, which nothing has fetched yet.
    offset = sum(before) + 50_001

    assert await stream.read(offset, 4096) == variant.reference[offset : offset + 4096]
    assert issued == ["t1", "t2"]
    fetches = [r for r in media_server.requests if r.path == "/" + SEGMENT_2]
    assert [r.status for r in fetches] == [403, 206]
    assert fetches[0].range is not None
    assert fetches[1].range == fetches[0].range
    assert fetches[1].query["token"] == ["t2"]
    await stream.close()


async def test_expired_url_with_changed_list(
    hls_media, media_server, http_client, fast_policy
):
    # The same variant key now points at another segment list.
    other = hls_media.root / "master-changed.m3u8"
    text = (hls_media.root / "master.m3u8").read_text()
    other.write_text(text.replace("ts-implicit/media.m3u8", "ts-explicit/media.m3u8"))
    engine = Engine(http_client, None, 0, policy=fast_policy)
    media_server.tokens = {"t1"}
    # Every job that gets the 403 resolves the URL again, read-ahead included.
    masters = itertools.chain(["master.m3u8"], itertools.repeat("master-changed.m3u8"))
    tokens = itertools.chain(["t1"], itertools.repeat("t2"))

    async def resolve() -> str:
        return media_server.url(next(masters), token=next(tokens))

    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open("m1", variant.key, resolve)
    media_server.tokens = {"t2"}

    # The middle, because open fetched the start and the end already.
    with pytest.raises(SegmentError, match="segment list changed") as caught:
        await stream.read(stream.size // 2, 10)
    assert isinstance(caught.value.__cause__, PlaylistError)
    await stream.close()


async def test_open_resolves_again_on_403(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)
    media_server.tokens = {"fresh"}
    tokens = iter(["stale", "fresh"])

    async def resolve() -> str:
        return media_server.url("master.m3u8", token=next(tokens))

    variant = hls_media.variants["ts-clear"]
    stream = await engine.open("m1", variant.key, resolve)
    assert stream.size == len(variant.reference)
    await stream.close()


def write_playlist(root, name: str, key_line: str, segments: list[str]) -> str:
    directory = root / name
    directory.mkdir(exist_ok=True)
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:7", key_line]
    for segment in segments:
        lines += ["#EXTINF:4.0,", segment]
    lines.append("#EXT-X-ENDLIST")
    (directory / "media.m3u8").write_text("\n".join(lines) + "\n")
    return f"{name}/media.m3u8"


async def open_media_playlist(engine: Engine, url: str):
    async def resolve() -> str:
        return url

    return await engine.open("bad", "media", resolve)


@pytest.mark.parametrize(
    ("name", "key", "segments", "message"),
    [
        ("wrong-key", "b.key", "ts-implicit", "padding is invalid"),
        ("short-key", "short.key", "ts-implicit", "15 bytes long, expected 16"),
        ("unaligned", "a.key", "ts-clear", "not a positive multiple of 16"),
    ],
)
async def test_bad_crypto_names_segment(
    name, key, segments, message, hls_media, media_server, http_client
):
    (hls_media.root / "short.key").write_bytes(bytes(15))
    key_line = f'#EXT-X-KEY:METHOD=AES-128,URI="../{key}"'
    paths = [f"../{segments}/s{7 + i}.ts" for i in range(5)]
    path = write_playlist(hls_media.root, name, key_line, paths)
    engine = Engine(http_client, None, 0)

    with pytest.raises(SegmentError, match=message) as caught:
        await open_media_playlist(engine, media_server.url(path))
    assert caught.value.index == 0
    assert "segment 0" in str(caught.value)


async def test_damaged_last_block_detected(hls_media, media_server, http_client):
    directory = hls_media.root / "damaged"
    directory.mkdir(exist_ok=True)
    body = bytearray((hls_media.root / "ts-implicit/s9.ts").read_bytes())
    body[-1] ^= 0xFF
    (directory / "s9.ts").write_bytes(bytes(body))
    segments = ["../ts-implicit/s7.ts", "../ts-implicit/s8.ts", "s9.ts"]
    path = write_playlist(
        hls_media.root, "damaged", '#EXT-X-KEY:METHOD=AES-128,URI="../a.key"', segments
    )
    engine = Engine(http_client, None, 0)
    with pytest.raises(SegmentError, match="padding") as caught:
        await open_media_playlist(engine, media_server.url(path))
    assert caught.value.index == 2


@pytest.mark.parametrize(
    ("key_line", "signal"),
    [
        ('#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://k"', "SAMPLE-AES"),
        ('#EXT-X-KEY:METHOD=AES-128,URI="k",KEYFORMAT="com.widevine"', "KEYFORMAT"),
    ],
)
async def test_drm_rejected_at_open(
    key_line, signal, hls_media, media_server, http_client
):
    path = write_playlist(hls_media.root, f"drm-{signal}", key_line, ["a.ts"])
    engine = Engine(http_client, None, 0)
    with pytest.raises(UnsupportedMedia) as caught:
        await open_media_playlist(engine, media_server.url(path))
    assert caught.value.signal == signal
    assert media_server.count(f"drm-{signal}/a.ts") == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>Sign in</body></html>", b'{"error": 1}', b"\xff\xfe\x00"],
    ids=["empty", "html", "json", "binary"],
)
async def test_bad_master_rejected(body, hls_media, media_server, http_client):
    (hls_media.root / "bad-master.m3u8").write_bytes(body)
    engine = Engine(http_client, None, 0)
    with pytest.raises(PlaylistError, match="not an HLS playlist"):
        await engine.variants(media_server.url("bad-master.m3u8"))


async def test_unknown_variant_key(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)

    async def resolve() -> str:
        return media_server.url("master.m3u8")

    with pytest.raises(PlaylistError, match="no variant '4k'"):
        await engine.open("m1", "4k", resolve)


async def test_open_bounded_by_deadline(hls_media, media_server, http_client):
    policy = RetryPolicy(read_timeout=5.0, deadline=5.0, open_deadline=1.0)
    engine = Engine(http_client, None, 0, policy=policy)
    media_server.inject("ts-implicit/media.m3u8", count=5, stall=10.0)
    start = trio.current_time()

    with pytest.raises(NetworkTimeout, match="did not finish within 1 s"):
        await open_implicit(engine, hls_media, media_server.url("master.m3u8"))
    assert trio.current_time() - start < 3.0
