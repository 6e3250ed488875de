"""Engine behaviour: shared fetches, read-ahead, layouts and request counts."""

from __future__ import annotations

import trio

from toutvfs.hls import Engine, ReadaheadSettings

SEGMENTS = [f"/ts-implicit/s{7 + i}.ts" for i in range(5)]


def segment_gets(media_server) -> list[str]:
    """Return the paths of whole-segment GETs in arrival order.

    Those are the GETs without Range, and the first segment's GET of its
    first piece, which contains the whole 140 KB segment with the default
    settings.
    """
    first_piece = f"bytes=0-{ReadaheadSettings().piece_size - 1}"
    return [
        r.path
        for r in media_server.requests
        if r.path in SEGMENTS and r.range in (None, first_piece)
    ]


async def wait_until(predicate) -> None:
    """Poll *predicate* every 10 ms, for at most 10 s."""
    for _ in range(1000):
        if predicate():
            return
        await trio.sleep(0.01)
    raise AssertionError("the condition was not met within 10 s")


def resolver(url: str):
    async def resolve() -> str:
        return url

    return resolve


async def test_concurrent_readers_share_fetches(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0)
    variant = hls_media.variants["ts-implicit"]
    resolve = resolver(media_server.url("master.m3u8"))
    streams = [await engine.open("m1", variant.key, resolve) for _ in range(3)]
    results: list[bytes] = []

    async def read(stream) -> None:
        results.append(await stream.read(0, stream.size))

    async with trio.open_nursery() as nursery:
        for stream in streams:
            nursery.start_soon(read, stream)

    assert results == [variant.reference] * 3
    assert sorted(segment_gets(media_server)) == sorted(SEGMENTS)
    # One measurement for all three opens: the last 32 bytes of each part.
    tails = [r for r in media_server.requests if r.range == "bytes=-32"]
    assert sorted(r.path for r in tails) == sorted(SEGMENTS)
    for stream in streams:
        await stream.close()


async def test_seek_fetches_covering_segment_first(
    hls_media, media_server, http_client
):
    # Without the early fetch of the end, which would fetch part 4 at open.
    engine = Engine(http_client, None, 0, readahead=ReadaheadSettings(end_bytes=0))
    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open(
        "m1", variant.key, resolver(media_server.url("master.m3u8"))
    )
    media_server.requests.clear()
    offset = stream.size - 1000

    assert await stream.read(offset, 4096) == variant.reference[offset:]
    # Part 0's early fetch, started by open, may land after the clear.
    gets = [path for path in segment_gets(media_server) if path != SEGMENTS[0]]
    assert gets == [SEGMENTS[4]]
    await stream.close()


async def test_sequential_reader_prefetches(hls_media, media_server, http_client):
    # Without the early fetch of the end, so that read-ahead fetches part 4.
    engine = Engine(http_client, None, 0, readahead=ReadaheadSettings(end_bytes=0))
    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open(
        "m1", variant.key, resolver(media_server.url("master.m3u8"))
    )
    media_server.requests.clear()
    await stream.read(0, 65536)
    await stream.read(65536, 65536)

    # Both reads fell in part 0, which open fetched; parts 1 to 4 come ahead.
    def prefetched() -> list[str]:
        return [path for path in segment_gets(media_server) if path != SEGMENTS[0]]

    await wait_until(lambda: len(prefetched()) == 4)
    assert sorted(prefetched()) == sorted(SEGMENTS[1:])
    await stream.close()


async def test_seek_cancels_prefetch(hls_media, media_server, http_client, fast_policy):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open(
        "m1", variant.key, resolver(media_server.url("master.m3u8"))
    )
    source = stream._source
    for path in SEGMENTS[1:4]:
        media_server.inject(path.lstrip("/"), count=5, stall=10.0)
    await stream.read(0, 65536)
    await stream.read(65536, 65536)
    await wait_until(lambda: 1 in source._jobs)
    jobs = dict(source._jobs)

    # A seek to the last part withdraws the stalled prefetches.
    assert await stream.read(stream.size - 100, 100) == variant.reference[-100:]
    for position, job in jobs.items():
        if position != 4:
            assert job.scope.cancel_called, position
    await stream.close()


async def test_close_cancels_prefetch(
    hls_media, media_server, http_client, fast_policy
):
    engine = Engine(http_client, None, 0, policy=fast_policy)
    variant = hls_media.variants["ts-implicit"]
    stream = await engine.open(
        "m1", variant.key, resolver(media_server.url("master.m3u8"))
    )
    source = stream._source
    media_server.inject(SEGMENTS[1].lstrip("/"), count=5, stall=10.0)
    await stream.read(0, 65536)
    await stream.read(65536, 65536)
    await wait_until(lambda: 1 in source._jobs)
    job = source._jobs[1]

    await stream.close()
    assert job.scope.cancel_called
    await wait_until(job.done.is_set)
    assert source._jobs == {}


async def test_prefetch_shared_with_other_reader_survives_close(
    hls_media, media_server, http_client
):
    engine = Engine(http_client, None, 0)
    variant = hls_media.variants["ts-implicit"]
    resolve = resolver(media_server.url("master.m3u8"))
    first = await engine.open("m1", variant.key, resolve)
    second = await engine.open("m1", variant.key, resolve)
    await first.read(0, 65536)
    await first.read(65536, 65536)
    await first.close()

    assert await second.read(0, second.size) == variant.reference
    assert sorted(segment_gets(media_server)) == sorted(SEGMENTS)
    await second.close()


async def test_layout_stored_for_good(hls_media, media_server, http_client, tmp_path):
    variant = hls_media.variants["ts-implicit"]
    resolve = resolver(media_server.url("master.m3u8"))
    engine = Engine(http_client, tmp_path, 0)
    assert engine.known_size("m1", variant.key) is None
    stream = await engine.open("m1", variant.key, resolve)
    await stream.close()

    later = Engine(http_client, tmp_path, 0)
    media_server.requests.clear()
    assert later.known_size("m1", variant.key) == len(variant.reference)
    assert later.known_size("m2", variant.key) is None
    assert media_server.requests == []

    stream = await later.open("m1", variant.key, resolve)
    assert stream.size == len(variant.reference)
    assert [r for r in media_server.requests if r.range] == []
    await stream.close()
    layout_files = list((tmp_path / "layouts").rglob("*.json"))
    assert len(layout_files) == 1
    assert layout_files[0].stat().st_mode & 0o777 == 0o600


async def test_changed_list_measured_again(
    hls_media, media_server, http_client, tmp_path
):
    explicit = hls_media.variants["ts-explicit"]
    implicit = hls_media.variants["ts-implicit"]
    engine = Engine(http_client, tmp_path, 0)
    resolve = resolver(media_server.url("master.m3u8"))
    stream = await engine.open("m1", implicit.key, resolve)
    await stream.close()

    # Same media and variant key, other segments: the stored layout is stale.
    changed = hls_media.root / "master-swapped.m3u8"
    text = (hls_media.root / "master.m3u8").read_text()
    changed.write_text(text.replace("ts-implicit/media.m3u8", "ts-explicit/media.m3u8"))
    later = Engine(http_client, tmp_path, 0)
    stream = await later.open(
        "m1", implicit.key, resolver(media_server.url("master-swapped.m3u8"))
    )
    assert stream.size == len(explicit.reference)
    assert await stream.read(0, stream.size) == explicit.reference
    assert later.known_size("m1", implicit.key) == len(explicit.reference)
    await stream.close()


async def test_no_layout_dir_keeps_memory_only(hls_media, media_server, http_client):
    variant = hls_media.variants["ts-clear"]
    engine = Engine(http_client, None, 0)
    stream = await engine.open(
        "m1", variant.key, resolver(media_server.url("master.m3u8"))
    )
    assert engine.known_size("m1", variant.key) == len(variant.reference)
    await stream.close()


async def test_memory_pool_bounded(hls_media, media_server, http_client):
    variant = hls_media.variants["ts-implicit"]
    limit = 300_000
    engine = Engine(
        http_client,
        None,
        0,
        memory_limit=limit,
        readahead=ReadaheadSettings(max_parts=8),
    )
    stream = await engine.open(
        "m1", variant.key, resolver(media_server.url("master.m3u8"))
    )
    peak = 0
    data = bytearray()
    for offset in range(0, stream.size, 32768):
        data += await stream.read(offset, 32768)
        peak = max(peak, engine.shared.pool.total)
    assert bytes(data) == variant.reference
    assert peak <= limit
    await stream.close()
