"""Exact bytes of every media case, read whole and at random offsets."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from toutvfs.hls import Engine, ReadaheadSettings, Stream
from toutvfs.hls.engine import MASTER_REUSE_SECONDS

CASES = ["ts-clear", "ts-explicit", "ts-implicit", "ts-rotation", "fmp4", "byterange"]


async def read_all(stream: Stream, chunk: int) -> bytes:
    data = bytearray()
    for offset in range(0, stream.size + chunk, chunk):
        piece = await stream.read(offset, chunk)
        data += piece
        if len(piece) < chunk:
            break
    return bytes(data)


async def check_random_reads(stream: Stream, reference: bytes, seed: str) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        offset = rng.randrange(len(reference))
        size = rng.choice([1, 15, 16, 17, 4096, 131072, rng.randrange(1, 400_000)])
        data = await stream.read(offset, size)
        assert data == reference[offset : offset + size], (offset, size)


async def open_case(
    hls_media,
    base_url: str,
    name: str,
    http: httpx.AsyncClient,
    cache: Path | None,
    readahead: ReadaheadSettings | None = None,
) -> tuple[Stream, bytes]:
    variant = hls_media.variants[name]
    engine = Engine(http, cache, 1 << 30, readahead=readahead)

    async def resolve() -> str:
        return f"{base_url}/master.m3u8"

    stream = await engine.open("m1", variant.key, resolve)
    return stream, variant.reference


@pytest.mark.parametrize("name", CASES)
async def test_read_whole_file(name, hls_media, media_server, http_client, tmp_path):
    stream, reference = await open_case(
        hls_media, media_server.base_url, name, http_client, tmp_path / "cache"
    )
    assert stream.size == len(reference)
    assert await read_all(stream, 131072) == reference
    await stream.close()


@pytest.mark.parametrize("name", CASES)
async def test_read_random_offsets(name, hls_media, media_server, http_client):
    stream, reference = await open_case(
        hls_media, media_server.base_url, name, http_client, None
    )
    await check_random_reads(stream, reference, name)
    await stream.close()


@pytest.mark.parametrize("name", CASES)
async def test_read_random_with_range_fetches(
    name, hls_media, media_server, http_client
):
    settings = ReadaheadSettings(range_fetch_offset=16 * 1024, end_bytes=0)
    stream, reference = await open_case(
        hls_media, media_server.base_url, name, http_client, None, settings
    )
    await check_random_reads(stream, reference, name)
    await stream.close()


def plain_and_cipher_sizes(hls_media, name: str) -> list[tuple[int, int]]:
    """Return (plaintext, ciphertext) sizes of the five segments of *name*."""
    sizes = []
    for i in range(5):
        plain = (hls_media.root / "ts-clear" / f"s{7 + i}.ts").stat().st_size
        if name == "ts-implicit":
            plain = (hls_media.root / name / f"s{7 + i}.ts.plain").stat().st_size
        sizes.append((plain, (plain // 16 + 1) * 16))
    return sizes


def range_start(header: str) -> int:
    """Return the first byte of a ``bytes=A-B`` range, or -1 for a suffix range."""
    start = header.removeprefix("bytes=").split("-")[0]
    return int(start) if start else -1


@pytest.mark.parametrize("name", ["ts-implicit", "byterange"])
async def test_seek_fetches_rest_of_part(name, hls_media, media_server, http_client):
    settings = ReadaheadSettings(range_fetch_offset=16 * 1024)
    stream, reference = await open_case(
        hls_media, media_server.base_url, name, http_client, None, settings
    )
    sizes = plain_and_cipher_sizes(hls_media, name)
    plain_start = sum(plain for plain, _ in sizes[:2])
    cipher_base = sum(cipher for _, cipher in sizes[:2]) if name == "byterange" else 0
    offset = plain_start + 50_001
    media_server.requests.clear()

    assert await stream.read(offset, 4096) == reference[offset : offset + 4096]

    # One block before the block that holds the offset, to the part's end,
    # in one request. Read-ahead after the seek fetches the next parts, as
    # deep as the read rate allows, so only part 2's requests count here.
    first = cipher_base + (50_001 // 16) * 16 - 16
    last = cipher_base + sizes[2][1] - 1
    path = "all.ts" if name == "byterange" else "/s9.ts"
    part_2 = [
        r
        for r in media_server.requests
        if r.path.endswith(path)
        and r.range is not None
        and cipher_base <= range_start(r.range) <= last
    ]
    assert [(r.range, r.status) for r in part_2] == [(f"bytes={first}-{last}", 206)]
    await stream.close()


@pytest.mark.parametrize("name", CASES)
async def test_read_without_range_support(
    name, hls_media, plain_server, http_client, tmp_path
):
    stream, reference = await open_case(
        hls_media, plain_server, name, http_client, tmp_path / "cache"
    )
    assert stream.size == len(reference)
    await check_random_reads(stream, reference, name)
    assert await read_all(stream, 65536) == reference
    await stream.close()


async def test_read_edges(hls_media, media_server, http_client):
    stream, reference = await open_case(
        hls_media, media_server.base_url, "ts-implicit", http_client, None
    )
    size = stream.size
    assert await stream.read(size, 100) == b""
    assert await stream.read(size + 5000, 100) == b""
    assert await stream.read(0, 0) == b""
    assert await stream.read(size - 10, 100) == reference[-10:]
    assert await stream.read(size - 1, 1) == reference[-1:]
    assert await stream.read(0, size + 100) == reference
    with pytest.raises(ValueError):
        await stream.read(-1, 10)
    await stream.close()


async def test_variants_sorted_with_attributes(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)
    variants = await engine.variants(media_server.url("master.m3u8"))
    assert [v.key for v in variants] == [hls_media.variants[n].key for n in CASES]
    assert [v.bandwidth for v in variants] == sorted(v.bandwidth for v in variants)
    first = variants[0]
    assert first.uri == media_server.url("ts-clear/media.m3u8")
    assert first.bandwidth == 300_000
    assert first.average_bandwidth == 299_000
    assert first.resolution == (320, 180)
    assert first.codecs == "avc1.42c00d,mp4a.40.2"


async def test_size_costs_one_request_per_part(
    hls_media, media_server, http_client, tmp_path
):
    # Without the early fetch of the end, which tests elsewhere count.
    stream, reference = await open_case(
        hls_media,
        media_server.base_url,
        "ts-implicit",
        http_client,
        tmp_path,
        ReadaheadSettings(end_bytes=0),
    )
    segments = [f"/ts-implicit/s{7 + i}.ts" for i in range(5)]
    requests = [r for r in media_server.requests if r.path in segments]
    tails = [r for r in requests if r.range == "bytes=-32"]
    assert sorted(r.path for r in tails) == sorted(segments)
    assert {r.status for r in tails} == {206}
    assert media_server.count("a.key") == 1
    assert stream.size == len(reference)

    # The first segment was fetched whole during open, once, for this read.
    # Its size was not known yet, so the request was for a first piece,
    # and the segment is shorter than one piece.
    first = (hls_media.root / "ts-implicit/s7.ts.plain").stat().st_size
    assert await stream.read(0, first) == reference[:first]
    first_piece = f"bytes=0-{ReadaheadSettings().piece_size - 1}"
    fetches = [
        r
        for r in media_server.requests
        if r.path in segments and r.range != "bytes=-32"
    ]
    assert [(r.path, r.range, r.status) for r in fetches] == [
        (segments[0], first_piece, 206)
    ]
    await stream.close()


async def test_open_reuses_the_master_that_a_listing_fetched(
    hls_media, media_server, http_client, mock_clock
):
    engine = Engine(http_client, None, 0)
    master = media_server.url("master.m3u8")
    key = hls_media.variants["ts-clear"].key

    async def resolve() -> str:
        return master

    # A listing always fetches the master playlist.
    await engine.variants(master)
    await engine.variants(master)
    assert media_server.count("master.m3u8") == 2
    # An open just after it sends no request for it.
    stream = await engine.open("reuse", key, resolve)
    assert media_server.count("master.m3u8") == 2
    await stream.close()
    # Once the listing is older than the reuse window, an open fetches it.
    mock_clock.jump(MASTER_REUSE_SECONDS + 1)
    stream = await engine.open("reuse-later", key, resolve)
    assert media_server.count("master.m3u8") == 3
    await stream.close()


def last_segment(hls_media, name: str) -> tuple[str, int]:
    """Return the URL path and plaintext size of the last segment of *name*."""
    plains = (hls_media.root / name).glob("s*.ts.plain")
    last = max(plains, key=lambda path: int(path.name[1:].split(".")[0]))
    return f"/{name}/{last.name.removesuffix('.plain')}", last.stat().st_size


async def open_idle(
    hls_media, media_server, http_client, cache: Path | None, end_bytes: int
) -> tuple[Stream, bytes]:
    """Open ts-implicit and wait until the fetches that open started end."""
    engine = Engine(
        http_client, cache, 1 << 30, readahead=ReadaheadSettings(end_bytes=end_bytes)
    )

    async def resolve() -> str:
        return media_server.url("master.m3u8")

    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open("m1", variant.key, resolve)
    await engine.wait_idle()
    return stream, variant.reference


async def test_open_fetches_the_end_for_players(hls_media, media_server, http_client):
    path, size = last_segment(hls_media, "ts-implicit")
    stream, reference = await open_idle(
        hls_media, media_server, http_client, None, end_bytes=1000
    )
    # Besides its 32-byte probe, the last part was asked for from the block
    # before the one that holds its last 1000 bytes.
    start = (size - 1000) // 16 * 16
    served = (hls_media.root / path.lstrip("/")).stat().st_size
    ranges = [r.range for r in media_server.requests if r.path == path]
    assert sorted(ranges) == sorted(["bytes=-32", f"bytes={start - 16}-{served - 1}"])
    media_server.requests.clear()
    # A player's read of the end sends nothing more.
    assert await stream.read(stream.size - 1000, 1000) == reference[-1000:]
    assert [r.path for r in media_server.requests] == []
    await stream.close()


async def test_open_fetches_a_small_last_part_whole(
    hls_media, media_server, http_client, tmp_path
):
    path, size = last_segment(hls_media, "ts-implicit")
    stream, reference = await open_idle(
        hls_media, media_server, http_client, tmp_path, end_bytes=size
    )
    ranges = [r.range for r in media_server.requests if r.path == path]
    assert sorted(ranges, key=str) == sorted([None, "bytes=-32"], key=str)
    media_server.requests.clear()
    assert await stream.read(stream.size - 100, 100) == reference[-100:]
    assert [r.path for r in media_server.requests] == []
    await stream.close()


async def test_no_end_fetch_when_turned_off(hls_media, media_server, http_client):
    path, _ = last_segment(hls_media, "ts-implicit")
    stream, _ = await open_idle(hls_media, media_server, http_client, None, 0)
    assert [r.range for r in media_server.requests if r.path == path] == ["bytes=-32"]
    await stream.close()
