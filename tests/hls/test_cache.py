"""The on-disk segment cache: hits, damage, crashes, bounds, pins, modes."""

from __future__ import annotations

import json
import os
import stat
from collections import Counter

import pytest
import trio

from toutvfs.hls import Engine, ReadaheadSettings
from toutvfs.hls.cache import CacheKey, SegmentCache
from toutvfs.hls.stream import Stream

SEGMENTS = [f"/ts-implicit/s{7 + i}.ts" for i in range(5)]


def segment_gets(media_server) -> int:
    """Return the number of whole-segment GETs.

    Those are the GETs without Range, and the first segment's GET of its
    first piece, which contains the whole 140 KB segment with the default
    settings.
    """
    first_piece = f"bytes=0-{ReadaheadSettings().piece_size - 1}"
    return sum(
        1
        for r in media_server.requests
        if r.path in SEGMENTS and r.range in (None, first_piece)
    )


async def read_implicit(engine: Engine, hls_media, media_server) -> bytes:
    """Read the ts-implicit variant in 128 KiB reads, as the kernel does."""
    variant = hls_media.variants["ts-implicit"]

    async def resolve() -> str:
        return media_server.url("master.m3u8")

    stream = await engine.open("m1", variant.key, resolve)
    data = bytearray()
    for offset in range(0, stream.size, 131072):
        data += await stream.read(offset, 131072)
    await stream.close()
    await engine.wait_idle()
    assert data == variant.reference
    return data


def entry_files(cache_dir):
    """Return the cache entries under *cache_dir*, temporary files excluded."""
    paths = (cache_dir / "segments").rglob("*.part")
    return sorted(path for path in paths if not path.name.startswith(".tmp-"))


async def test_second_engine_reads_from_cache(
    hls_media, media_server, http_client, tmp_path
):
    await read_implicit(Engine(http_client, tmp_path, 1 << 30), hls_media, media_server)
    assert segment_gets(media_server) == 5
    assert len(entry_files(tmp_path)) == 5
    media_server.requests.clear()

    later = Engine(http_client, tmp_path, 1 << 30)
    await read_implicit(later, hls_media, media_server)
    assert segment_gets(media_server) == 0
    assert later.cache is not None
    assert later.cache.hits == 5


def segment_requests(media_server) -> int:
    """Count every request of a segment, with or without ``Range``."""
    return sum(1 for r in media_server.requests if r.path in SEGMENTS)


def count_loads(cache: SegmentCache) -> Counter[int]:
    """Count the calls of ``cache.get`` by part position from now on."""
    loads: Counter[int] = Counter()
    get = cache.get

    async def counted(key: CacheKey, size: int):
        loads[key.position] += 1
        return await get(key, size)

    cache.get = counted  # type: ignore[method-assign]
    return loads


async def open_warm(
    hls_media, media_server, http_client, tmp_path, **options
) -> tuple[Engine, Stream, Counter[int]]:
    """Fill the cache with one engine, then open ts-implicit in a second one.

    Returns the second engine, its stream and its count of cache loads.
    The request log starts empty for the second engine.
    """
    await read_implicit(Engine(http_client, tmp_path, 1 << 30), hls_media, media_server)
    media_server.requests.clear()
    later = Engine(http_client, tmp_path, 1 << 30, **options)
    assert later.cache is not None
    loads = count_loads(later.cache)

    async def resolve() -> str:
        return media_server.url("master.m3u8")

    stream = await later.open("m1", hls_media.variants["ts-implicit"].key, resolve)
    return later, stream, loads


async def test_warm_concurrent_reads_load_once(
    hls_media, media_server, http_client, tmp_path
):
    variant = hls_media.variants["ts-implicit"]
    # Reads from 16 KiB into a part that is neither in memory nor being
    # loaded ask the disk cache whether to fetch a tail instead.
    readahead = ReadaheadSettings(range_fetch_offset=16384)
    later, stream, loads = await open_warm(
        hls_media, media_server, http_client, tmp_path, readahead=readahead
    )
    size = stream.size
    chunk = 32768
    data = bytearray(size)

    async def read_at(offset: int) -> None:
        piece = await stream.read(offset, chunk)
        data[offset : offset + len(piece)] = piece

    # Start in the middle, a seek, then go on to the end four reads at a
    # time, as the kernel's asynchronous read-ahead does.
    middle = (size // 2) // chunk * chunk
    offsets = list(range(middle, size, chunk))
    for batch in range(0, len(offsets), 4):
        async with trio.open_nursery() as nursery:
            for offset in offsets[batch : batch + 4]:
                nursery.start_soon(read_at, offset)
    await stream.close()
    await later.wait_idle()

    first = stream._source.layout.locate(middle)
    assert data[middle:] == variant.reference[middle:]
    assert segment_requests(media_server) == 0
    assert later.cache is not None
    assert later.cache.misses == 0
    # The open prefetches part 0, and the seek may cancel it mid-load.
    assert loads[0] <= 1
    assert {p: n for p, n in loads.items() if p > 0} == dict.fromkeys(
        range(first, 5), 1
    )


async def test_buffered_reads_share_part(
    hls_media, media_server, http_client, tmp_path
):
    reference = hls_media.reference("ts-implicit")
    later, stream, loads = await open_warm(
        hls_media, media_server, http_client, tmp_path
    )
    size = stream.size
    starts = stream._source.layout.starts
    # The first pass loads every part into memory.
    for offset in range(0, size, 131072):
        assert await stream.read(offset, 131072) == reference[offset : offset + 131072]

    # The second pass is served from memory, except reads across parts.
    chunk = 16384
    served = 0
    expected = 0
    for offset in range(0, size, chunk):
        end = min(offset + chunk, size)
        view = stream.read_buffered(offset, chunk)
        within_part = all(not offset < start < end for start in starts)
        if within_part:
            expected += 1
            assert isinstance(view, memoryview)
        else:
            assert view is None
            view = memoryview(await stream.read(offset, chunk))
        if isinstance(view, memoryview) and within_part:
            served += 1
        assert view == reference[offset:end]
    assert served == expected
    assert served > 0
    assert stream.read_buffered(size, chunk) is None
    assert stream.read_buffered(size - 10, chunk) == reference[size - 10 :]
    await stream.close()
    assert stream.read_buffered(0, chunk) is None
    await later.wait_idle()

    assert segment_requests(media_server) == 0
    assert loads == Counter(range(5))


async def test_cached_bytes_of_variant(hls_media, media_server, http_client, tmp_path):
    engine = Engine(http_client, tmp_path, 1 << 30)
    key = hls_media.variants["ts-implicit"].key
    assert await engine.cached_bytes("m1", key) == 0
    data = await read_implicit(engine, hls_media, media_server)
    assert await engine.cached_bytes("m1", key) == len(data)
    assert await engine.cached_bytes("m2", key) == 0
    other = hls_media.variants["ts-explicit"].key
    assert await engine.cached_bytes("m1", other) == 0

    # A new engine finds the entries on disk, without their keys.
    later = Engine(http_client, tmp_path, 1 << 30)
    assert await later.cached_bytes("m1", key) == len(data)
    assert await Engine(http_client, None, 0).cached_bytes("m1", key) == 0


async def test_cache_files_private(hls_media, media_server, http_client, tmp_path):
    root = tmp_path / "cache"
    await read_implicit(Engine(http_client, root, 1 << 30), hls_media, media_server)
    paths = list(root.rglob("*"))
    assert paths
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


async def test_damaged_entry_fetched_again(
    hls_media, media_server, http_client, tmp_path, caplog
):
    await read_implicit(Engine(http_client, tmp_path, 1 << 30), hls_media, media_server)
    victim = entry_files(tmp_path)[2]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    media_server.requests.clear()

    await read_implicit(Engine(http_client, tmp_path, 1 << 30), hls_media, media_server)
    assert segment_gets(media_server) == 1
    assert "damaged cache entry" in caplog.text


async def test_partial_entries_after_crash_ignored(
    hls_media, media_server, http_client, tmp_path
):
    await read_implicit(Engine(http_client, tmp_path, 1 << 30), hls_media, media_server)
    files = entry_files(tmp_path)
    # What kill -9 can leave: a temporary file, and (with no rename) nothing
    # else. A truncated entry stands for a disk that lost the file's tail.
    temporary = files[0].with_name(".tmp-0123456789ab-" + files[0].name)
    temporary.write_bytes(files[0].read_bytes()[:5000])
    files[1].write_bytes(files[1].read_bytes()[:5000])
    media_server.requests.clear()

    await read_implicit(Engine(http_client, tmp_path, 1 << 30), hls_media, media_server)
    assert segment_gets(media_server) == 1
    assert temporary.exists()
    assert len(entry_files(tmp_path)) == 5


async def test_stale_temporary_files_deleted(tmp_path):
    directory = tmp_path / "segments" / "m" / "v"
    directory.mkdir(parents=True)
    stale = directory / ".tmp-aaaa-1.part"
    stale.write_bytes(b"x" * 10)
    os.utime(stale, (0, 0))
    cache = SegmentCache(tmp_path / "segments", 1000, lambda key: False)
    assert await cache.get(CacheKey("m", "v", "f" * 64, 1), 10) is None
    assert not stale.exists()


async def test_cache_bounded_lru(hls_media, media_server, http_client, tmp_path):
    sizes = [
        len(p.read_bytes())
        for p in sorted((hls_media.root / "ts-implicit").glob("*.plain"))
    ]
    limit = sum(sorted(sizes)[-2:]) + 2 * 48 + 10
    # No early fetch of the end, so parts enter the cache in file order.
    readahead = ReadaheadSettings(max_parts=1, end_bytes=0)
    engine = Engine(http_client, tmp_path, limit, readahead=readahead)
    await read_implicit(engine, hls_media, media_server)

    files = entry_files(tmp_path)
    assert sum(path.stat().st_size for path in files) <= limit
    assert engine.cache is not None
    assert engine.cache.total <= limit
    # The oldest entries went first: only the last two parts remain.
    assert [path.name for path in files] == ["3.part", "4.part"]


async def test_pinned_entries_not_evicted(tmp_path):
    pinned = {CacheKey("m", "v", "f" * 64, 0)}
    # Each entry takes its data plus a 48-byte trailer.
    cache = SegmentCache(tmp_path, 300, lambda key: key in pinned)
    assert await cache.put(CacheKey("m", "v", "f" * 64, 0), b"a" * 100)
    assert await cache.put(CacheKey("m", "v", "f" * 64, 1), b"b" * 50)
    # Part 1 goes to make room; part 0 is pinned and stays.
    assert await cache.put(CacheKey("m", "v", "f" * 64, 2), b"c" * 60)
    assert await cache.get(CacheKey("m", "v", "f" * 64, 0), 100) == b"a" * 100
    assert await cache.get(CacheKey("m", "v", "f" * 64, 1), 50) is None
    # Nothing unpinned is left to evict, so a large entry is not stored.
    assert not await cache.put(CacheKey("m", "v", "f" * 64, 3), b"d" * 140)
    assert await cache.get(CacheKey("m", "v", "f" * 64, 0), 100) == b"a" * 100
    assert cache.total == 148 + 108


FINGERPRINT = "f" * 64


def part_key(position: int, media_key: str = "m") -> CacheKey:
    return CacheKey(media_key, "v", FINGERPRINT, position)


async def fill_then_age(root, keys: list[CacheKey]) -> None:
    """Store 100 bytes under each of *keys*, with the first the oldest on disk."""
    cache = SegmentCache(root, 300, lambda key: False)
    for key in keys:
        assert await cache.put(key, b"x" * 100)
    for age, key in enumerate(reversed(keys), start=1):
        seconds = 1_000_000_000 - age
        os.utime(root / key.relative_path(), (seconds, seconds))


class PinRecorder:
    """An `is_pinned` predicate that records the keys it was asked about."""

    def __init__(self, pinned: set[CacheKey] | None = None) -> None:
        self.pinned = pinned
        self.asked: list[CacheKey] = []

    def __call__(self, key: CacheKey) -> bool:
        self.asked.append(key)
        return self.pinned is None or key in self.pinned


def part_names(root) -> list[str]:
    return sorted(path.name for path in root.rglob("*.part"))


async def test_pinned_entry_from_disk_kept(tmp_path):
    await fill_then_age(tmp_path, [part_key(0), part_key(1)])
    recorder = PinRecorder({part_key(0)})
    later = SegmentCache(tmp_path, 300, recorder)
    # 2 * 148 bytes are on disk, so 108 more need one entry out.
    assert await later.put(part_key(2), b"c" * 60)
    assert recorder.asked == [part_key(0), part_key(1)]
    assert part_names(tmp_path) == ["0.part", "2.part"]
    assert later.total == 148 + 108
    assert await later.get(part_key(0), 100) == b"x" * 100
    assert await later.get(part_key(1), 100) is None


async def test_unpinned_entry_from_disk_evicted(tmp_path):
    await fill_then_age(tmp_path, [part_key(0), part_key(1)])
    recorder = PinRecorder(set())
    later = SegmentCache(tmp_path, 300, recorder)
    assert await later.put(part_key(2), b"c" * 60)
    assert recorder.asked == [part_key(0)]
    assert part_names(tmp_path) == ["1.part", "2.part"]
    assert later.total == 148 + 108


async def test_key_file_records_whole_key(tmp_path):
    # A media key this long gets a hashed directory name, which no reader
    # of the path alone could turn back into the key.
    long_key = part_key(0, media_key="m" * 200)
    await fill_then_age(tmp_path, [long_key, part_key(1)])
    key_file = tmp_path / long_key.relative_path().with_name("key.json")
    assert json.loads(key_file.read_text()) == {
        "fingerprint": FINGERPRINT,
        "media_key": "m" * 200,
        "variant_key": "v",
    }
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    recorder = PinRecorder({long_key})
    later = SegmentCache(tmp_path, 300, recorder)
    assert await later.put(part_key(2), b"c" * 60)
    assert recorder.asked == [long_key, part_key(1)]
    assert part_names(tmp_path) == ["0.part", "2.part"]


@pytest.mark.parametrize(
    ("content", "warning"),
    [
        pytest.param(None, False, id="missing"),
        pytest.param(b"{not json", True, id="not-json"),
        pytest.param(b'["m", "v"]', True, id="not-an-object"),
        pytest.param(
            b'{"media_key": "m", "variant_key": 1, "fingerprint": "f"}',
            True,
            id="not-strings",
        ),
        pytest.param(
            json.dumps(
                {"media_key": "other", "variant_key": "v", "fingerprint": FINGERPRINT}
            ).encode(),
            False,
            id="another-directory",
        ),
    ],
)
async def test_entry_without_valid_key_evicted(tmp_path, caplog, content, warning):
    await fill_then_age(tmp_path, [part_key(0), part_key(1)])
    key_file = tmp_path / part_key(0).relative_path().with_name("key.json")
    if content is None:
        key_file.unlink()
    else:
        key_file.write_bytes(content)
    recorder = PinRecorder()
    later = SegmentCache(tmp_path, 300, recorder)
    # Every key is pinned, but the entries found on disk have none.
    assert await later.put(part_key(2), b"c" * 60)
    assert recorder.asked == []
    assert part_names(tmp_path) == ["1.part", "2.part"]
    assert ("ignoring the invalid cache key file" in caplog.text) == warning
    # The put wrote the key file again, so the next index keys the entries,
    # and with every key pinned no entry makes room for a new one.
    assert json.loads(key_file.read_bytes())["media_key"] == "m"
    again = PinRecorder()
    assert not await SegmentCache(tmp_path, 300, again).put(part_key(3), b"d" * 60)
    assert again.asked == [part_key(1), part_key(2)]
    assert part_names(tmp_path) == ["1.part", "2.part"]


async def test_readers_at_both_ends_tiny_cache(
    hls_media, media_server, http_client, tmp_path
):
    variant = hls_media.variants["ts-implicit"]
    sizes = [
        len(p.read_bytes())
        for p in sorted((hls_media.root / "ts-implicit").glob("*.plain"))
    ]
    limit = max(sizes) * 2 + 200
    engine = Engine(http_client, tmp_path, limit)

    async def resolve() -> str:
        return media_server.url("master.m3u8")

    head = await engine.open("m1", variant.key, resolve)
    tail = await engine.open("m1", variant.key, resolve)
    reference = variant.reference
    size = head.size
    chunk = 32768
    async with trio.open_nursery() as nursery:

        async def forward() -> None:
            for offset in range(0, size, chunk):
                assert (
                    await head.read(offset, chunk) == reference[offset : offset + chunk]
                )

        async def backward() -> None:
            for offset in range(size - chunk, -chunk, -chunk):
                start = max(offset, 0)
                assert await tail.read(start, chunk) == reference[start : start + chunk]

        nursery.start_soon(forward)
        nursery.start_soon(backward)
    assert engine.cache is not None
    assert engine.cache.total <= limit
    await head.close()
    await tail.close()


@pytest.mark.parametrize("cache_size", [0, None])
async def test_cache_turned_off(
    cache_size, hls_media, media_server, http_client, tmp_path
):
    cache_dir = tmp_path if cache_size == 0 else None
    engine = Engine(http_client, cache_dir, cache_size or 0)
    assert engine.cache is None
    await read_implicit(engine, hls_media, media_server)
    assert not (tmp_path / "segments").exists()
    media_server.requests.clear()
    later = Engine(http_client, cache_dir, cache_size or 0)
    await read_implicit(later, hls_media, media_server)
    assert segment_gets(media_server) == 5
