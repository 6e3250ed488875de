"""Reads of parts being fetched: bytes served as they arrive, failures, resumes."""

from __future__ import annotations

import pytest
import trio

from toutvfs.errors import SegmentError
from toutvfs.hls import Engine, ReadaheadSettings

# The ts-implicit variant: five AES-128 segments with the implicit IV.
NAME = "ts-implicit"
FIRST = "ts-implicit/s7.ts"
SECOND = "ts-implicit/s8.ts"
THIRD = "ts-implicit/s9.ts"

# Long enough that a read returning during the pause proves it did not wait
# for the whole part, short enough for a test.
PAUSE = 3.0


def part_sizes(hls_media) -> list[tuple[int, int]]:
    """Return (plaintext size, ciphertext size) of each ts-implicit segment."""
    directory = hls_media.root / NAME
    sizes = []
    for i in range(5):
        segment = directory / f"s{7 + i}.ts"
        plain = directory / f"s{7 + i}.ts.plain"
        sizes.append((plain.stat().st_size, segment.stat().st_size))
    return sizes


def requests_of(media_server, path: str):
    return [r for r in media_server.requests if r.path == "/" + path]


async def open_stream(engine: Engine, hls_media, media_server, media_key: str = "m1"):
    async def resolve() -> str:
        return media_server.url("master.m3u8")

    variant = hls_media.variants[NAME]
    stream = await engine.open(media_key, variant.key, resolve)
    # Keep the fetch of the first segment that open started out of the log.
    await engine.wait_idle()
    media_server.requests.clear()
    return stream, variant.reference


async def test_read_returns_before_part_complete(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)
    stream, reference = await open_stream(engine, hls_media, media_server)
    second = part_sizes(hls_media)[0][0]
    media_server.inject(SECOND, pause_at=80 * 1024, pause=PAUSE)

    started = trio.current_time()
    data = await stream.read(second, 64 * 1024)
    elapsed = trio.current_time() - started

    assert data == reference[second : second + 64 * 1024]
    assert elapsed < PAUSE / 2
    (request,) = requests_of(media_server, SECOND)
    assert request.range is None
    assert not request.finished
    await stream.close()


async def test_open_returns_before_first_segment(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)
    # The first segment's size is not known yet, so its fetch starts with a
    # ranged first piece, which contains the whole 140 KB segment.
    first_piece = f"bytes=0-{ReadaheadSettings().piece_size - 1}"
    media_server.inject(FIRST, pause_at=32 * 1024, pause=PAUSE, range=first_piece)

    variant = hls_media.variants[NAME]
    reference = variant.reference

    async def resolve() -> str:
        return media_server.url("master.m3u8")

    started = trio.current_time()
    stream = await engine.open("m1", variant.key, resolve)
    opened = trio.current_time() - started
    data = await stream.read(0, 16 * 1024)
    first_read = trio.current_time() - started

    assert data == reference[: 16 * 1024]
    assert opened < PAUSE / 2
    assert first_read < PAUSE / 2
    # The probe of its size, and the fetch of the whole segment, still running.
    requests = requests_of(media_server, FIRST)
    assert sorted(r.range or "" for r in requests) == ["bytes=-32", first_piece]
    whole = next(r for r in requests if r.range == first_piece)
    assert not whole.finished
    await stream.close()


async def test_two_readers_share_in_flight_part(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)
    first, reference = await open_stream(engine, hls_media, media_server)
    second, _ = await open_stream(engine, hls_media, media_server)
    start = part_sizes(hls_media)[0][0]
    media_server.inject(SECOND, pause_at=80 * 1024, pause=1.0)
    results: dict[str, bytes] = {}

    async def read(name: str, stream) -> None:
        results[name] = await stream.read(start, 64 * 1024)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read, "first", first)
        nursery.start_soon(read, "second", second)

    expected = reference[start : start + 64 * 1024]
    assert results == {"first": expected, "second": expected}
    assert len(requests_of(media_server, SECOND)) == 1
    await first.close()
    await second.close()


async def test_part_failing_halfway_fails_reader(
    hls_media, media_server, http_client, fast_policy
):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    stream, reference = await open_stream(engine, hls_media, media_server)
    sizes = part_sizes(hls_media)
    start = sizes[0][0]
    half = sizes[1][1] // 2
    media_server.inject(SECOND, count=fast_policy.attempts, cut_at=half)

    # Bytes before the cut arrive and are correct.
    early = await stream.read(start, 16 * 1024)
    assert early == reference[start : start + 16 * 1024]

    with pytest.raises(SegmentError) as caught:
        await stream.read(start, sizes[1][0])
    assert caught.value.index == 1
    assert "segment 1" in str(caught.value)
    assert "/ts-implicit/s8.ts" in str(caught.value)
    # Every attempt after the first requests the rest from the cut.
    requests = requests_of(media_server, SECOND)
    assert len(requests) == fast_policy.attempts
    assert [r.range for r in requests[1:]] == [f"bytes={half}-{sizes[1][1] - 1}"] * (
        fast_policy.attempts - 1
    )
    await stream.close()


@pytest.mark.parametrize(
    ("ignore_range", "status"), [(False, 206), (True, 200)], ids=["range", "whole"]
)
async def test_retry_after_partial_body(
    ignore_range, status, hls_media, media_server, http_client
):
    engine = Engine(http_client, None, 0)
    stream, reference = await open_stream(engine, hls_media, media_server)
    sizes = part_sizes(hls_media)
    start = sizes[0][0]
    half = sizes[1][1] // 2 + 5
    media_server.inject(SECOND, cut_at=half)
    # A server that ignores Range sends the whole part again, which must
    # decrypt to the bytes kept from the first attempt.
    media_server.inject(SECOND, ignore_range=ignore_range)
    data = await stream.read(start, sizes[1][0])

    assert data == reference[start : start + sizes[1][0]]

    requests = requests_of(media_server, SECOND)
    assert [(r.range, r.status) for r in requests] == [
        (None, 200),
        (f"bytes={half}-{sizes[1][1] - 1}", status),
    ]
    await stream.close()


async def test_whole_body_again_differs(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)
    stream, reference = await open_stream(engine, hls_media, media_server)
    sizes = part_sizes(hls_media)
    start = sizes[0][0]
    original = (hls_media.root / NAME / "s8.ts").read_bytes()
    changed = bytearray(original)
    changed[100] ^= 0xFF
    media_server.inject(SECOND, cut_at=sizes[1][1] // 2)
    media_server.inject(SECOND, ignore_range=True, content=bytes(changed))

    with pytest.raises(SegmentError) as caught:
        await stream.read(start, sizes[1][0])

    assert caught.value.index == 1
    assert "changed while it was downloaded" in str(caught.value)
    assert [r.status for r in requests_of(media_server, SECOND)] == [200, 200]
    await stream.close()


async def open_for_seek(hls_media, media_server, http_client):
    """Open with Range fetches from 16 KiB into a part; pick a seek into part 2.

    Returns the stream, the reference, the file offset 50,001 bytes into
    part 2, and the ciphertext offset in part 2 where its tail starts.
    """
    settings = ReadaheadSettings(range_fetch_offset=16 * 1024)
    engine = Engine(http_client, None, 0, readahead=settings)
    stream, reference = await open_stream(engine, hls_media, media_server)
    sizes = part_sizes(hls_media)
    offset = sizes[0][0] + sizes[1][0] + 50_001
    # The block before the one holding the offset, which is its IV.
    first_block = (50_001 // 16) * 16 - 16
    return stream, reference, offset, first_block


async def test_seek_read_returns_before_tail_complete(
    hls_media, media_server, http_client
):
    stream, reference, offset, first_block = await open_for_seek(
        hls_media, media_server, http_client
    )
    media_server.inject(THIRD, pause_at=first_block + 32 * 1024, pause=PAUSE)

    started = trio.current_time()
    data = await stream.read(offset, 4096)
    elapsed = trio.current_time() - started

    assert data == reference[offset : offset + 4096]
    assert elapsed < PAUSE / 2
    (request,) = requests_of(media_server, THIRD)
    cipher_size = part_sizes(hls_media)[2][1]
    assert request.range == f"bytes={first_block}-{cipher_size - 1}"
    assert not request.finished
    await stream.close()


async def test_seek_keeps_tail_being_read(hls_media, media_server, http_client):
    stream, reference, offset, first_block = await open_for_seek(
        hls_media, media_server, http_client
    )
    media_server.inject(THIRD, pause_at=first_block + 1024, pause=1.0)
    results: dict[str, bytes] = {}

    async def read_tail() -> None:
        results["tail"] = await stream.read(offset, 4096)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_tail)
        await trio.sleep(0.3)
        # A seek to the start of the file drops the tail, which the read
        # above still waits for.
        results["start"] = await stream.read(0, 4096)

    assert results["start"] == reference[:4096]
    assert results["tail"] == reference[offset : offset + 4096]
    await stream.close()
