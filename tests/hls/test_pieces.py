"""A source's first segment fetched as several ranged pieces at once."""

from __future__ import annotations

import itertools

import pytest

from toutvfs.errors import SegmentError
from toutvfs.hls import Engine, ReadaheadSettings
from toutvfs.hls.pieces import piece_bounds

# Small pieces, so that the test segments (about 140 KB) split in four.
PIECE = 32 * 1024
COUNT = 4
SETTINGS = ReadaheadSettings(first_segment_pieces=COUNT, piece_size=PIECE)
# The size probes of the measurement: encrypted parts, clear parts.
PROBES = ("bytes=-32", "bytes=0-0")


def first_segment(hls_media, name: str) -> tuple[str, int, int]:
    """Return the path, ciphertext size and plaintext size of a first segment."""
    path = f"{name}/s7.ts"
    cipher = (hls_media.root / path).stat().st_size
    plain = hls_media.root / f"{path}.plain"
    return path, cipher, plain.stat().st_size if plain.exists() else cipher


def expected_ranges(
    total: int, encrypted: bool, piece: int = PIECE, count: int = COUNT
) -> list[str]:
    """Return the Range of each piece: piece 0, then the rest split evenly.

    A later piece of an encrypted part starts one block early, because
    that block is the IV of its first block.
    """
    rest = total - piece
    later = min(count - 1, -(-rest // piece))
    bounds = [piece]
    bounds += [piece + (index * rest // later) // 16 * 16 for index in range(1, later)]
    bounds.append(total)
    early = 16 if encrypted else 0
    ranges = [f"bytes=0-{piece - 1}"]
    for low, high in itertools.pairwise(bounds):
        ranges.append(f"bytes={low - early}-{high - 1}")
    return ranges


def fetches_of(media_server, path: str) -> list[str | None]:
    """Return the Range of each GET of *path* other than the size probe."""
    return [
        r.range
        for r in media_server.requests
        if r.path == "/" + path and r.range not in PROBES
    ]


async def open_variant(engine: Engine, hls_media, media_server, name: str):
    async def resolve() -> str:
        return media_server.url("master.m3u8")

    variant = hls_media.variants[name]
    return await engine.open("m1", variant.key, resolve), variant.reference


async def read_first_segment(engine: Engine, hls_media, media_server):
    """Open ts-implicit, check a read of its whole first segment, and wait idle.

    Returns the stream and the variant's reference content.
    """
    _, _, plain = first_segment(hls_media, "ts-implicit")
    stream, reference = await open_variant(
        engine, hls_media, media_server, "ts-implicit"
    )
    assert await stream.read(0, plain) == reference[:plain]
    await engine.wait_idle()
    return stream, reference


async def store_layout(hls_media, media_server, http_client, layout_dir) -> None:
    """Open ts-implicit once, so that its layout is stored in *layout_dir*.

    The requests of that open are then cleared from the log.
    """
    engine = Engine(http_client, None, 0, layout_dir=layout_dir)
    stream, _ = await open_variant(engine, hls_media, media_server, "ts-implicit")
    await stream.close()
    await engine.wait_idle()
    media_server.requests.clear()


@pytest.mark.parametrize(
    ("name", "encrypted"), [("ts-implicit", True), ("ts-clear", False)]
)
async def test_first_segment_split_in_pieces(
    name, encrypted, hls_media, media_server, http_client
):
    engine = Engine(http_client, None, 0, readahead=SETTINGS)
    path, cipher, plain = first_segment(hls_media, name)
    assert cipher % PIECE, "the test needs a size that is no multiple of a piece"
    stream, reference = await open_variant(engine, hls_media, media_server, name)

    assert await stream.read(0, plain) == reference[:plain]
    await engine.wait_idle()

    fetches = fetches_of(media_server, path)
    expected = expected_ranges(cipher, encrypted)
    assert len(expected) == COUNT
    # Piece 0 comes first; its Content-Range gives the length to split.
    assert fetches[0] == expected[0]
    assert sorted(fetches, key=str) == sorted(expected)
    statuses = {r.status for r in media_server.requests if r.path == "/" + path}
    assert statuses == {206}
    assert await stream.read(0, stream.size) == reference
    await stream.close()


async def test_reads_served_across_pieces(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0, readahead=SETTINGS)
    _, _, plain = first_segment(hls_media, "ts-implicit")
    stream, reference = await open_variant(
        engine, hls_media, media_server, "ts-implicit"
    )

    # Reads that end inside a piece, cross a boundary, and end at the part.
    for low, high in [(0, 100), (PIECE - 50, PIECE + 50), (plain - 10, plain)]:
        assert await stream.read(low, high - low) == reference[low:high]
    await stream.close()


async def test_part_just_over_one_piece(hls_media, media_server, http_client):
    path, cipher, _ = first_segment(hls_media, "ts-implicit")
    piece = (cipher - 1000) // 16 * 16
    settings = ReadaheadSettings(first_segment_pieces=COUNT, piece_size=piece)
    engine = Engine(http_client, None, 0, readahead=settings)
    stream, _ = await read_first_segment(engine, hls_media, media_server)
    fetches = fetches_of(media_server, path)
    assert sorted(fetches, key=str) == sorted(expected_ranges(cipher, True, piece))
    assert len(fetches) == 2
    await stream.close()


async def test_known_layout_starts_pieces_together(
    hls_media, media_server, http_client, tmp_path
):
    path, cipher, _ = first_segment(hls_media, "ts-implicit")
    await store_layout(hls_media, media_server, http_client, tmp_path)

    engine = Engine(http_client, None, 0, layout_dir=tmp_path, readahead=SETTINGS)
    stream, _ = await read_first_segment(engine, hls_media, media_server)
    assert media_server.count(path) == COUNT
    assert sorted(fetches_of(media_server, path), key=str) == sorted(
        expected_ranges(cipher, True)
    )
    await stream.close()


@pytest.mark.parametrize("case", ["short part", "one piece"])
async def test_first_segment_in_one_request(
    case, hls_media, media_server, http_client, tmp_path
):
    path, cipher, _ = first_segment(hls_media, "ts-implicit")
    if case == "short part":
        # The stored layout shows that the part is shorter than two pieces.
        piece = cipher // 2 + 16
        settings = ReadaheadSettings(first_segment_pieces=COUNT, piece_size=piece)
        await store_layout(hls_media, media_server, http_client, tmp_path)
    else:
        settings = ReadaheadSettings(first_segment_pieces=1, piece_size=PIECE)

    engine = Engine(http_client, None, 0, layout_dir=tmp_path, readahead=settings)
    stream, _ = await read_first_segment(engine, hls_media, media_server)
    assert fetches_of(media_server, path) == [None]
    await stream.close()


@pytest.mark.parametrize("layout_known", [False, True], ids=["measured", "stored"])
async def test_server_ignoring_range_sends_whole_part(
    layout_known, hls_media, media_server, http_client, tmp_path
):
    path, _, _ = first_segment(hls_media, "ts-implicit")
    if layout_known:
        await store_layout(hls_media, media_server, http_client, tmp_path)
    engine = Engine(http_client, None, 0, layout_dir=tmp_path, readahead=SETTINGS)
    first_piece = f"bytes=0-{PIECE - 1}"
    media_server.inject(path, ignore_range=True, range=first_piece)

    stream, reference = await read_first_segment(engine, hls_media, media_server)
    piece_0 = [r.status for r in media_server.requests if r.range == first_piece]
    assert piece_0 == [200]
    if not layout_known:
        # Piece 0 got the whole body before any other piece was requested.
        assert fetches_of(media_server, path) == [first_piece]
    assert await stream.read(0, stream.size) == reference
    await stream.close()


async def test_failing_piece_fails_part(
    hls_media, media_server, http_client, fast_policy
):
    engine = Engine(http_client, None, 0, policy=fast_policy, readahead=SETTINGS)
    path, cipher, plain = first_segment(hls_media, "ts-implicit")
    ranges = expected_ranges(cipher, True)
    media_server.inject(path, count=fast_policy.attempts, status=500, range=ranges[2])
    stream, reference = await open_variant(
        engine, hls_media, media_server, "ts-implicit"
    )

    # Bytes of the pieces before the failing one arrive and are correct.
    assert await stream.read(0, 1000) == reference[:1000]
    # Bytes after it are never handed out, although their piece arrived.
    last_piece = piece_bounds(PIECE, cipher, COUNT - 1)[-2]
    with pytest.raises(SegmentError) as caught:
        await stream.read(last_piece, 1000)
    assert caught.value.index == 0
    assert "HTTP 500" in str(caught.value)
    with pytest.raises(SegmentError):
        await stream.read(0, plain)
    failed = [r for r in media_server.requests if r.range == ranges[2]]
    assert [r.status for r in failed] == [500] * fast_policy.attempts
    assert ranges[3] in fetches_of(media_server, path)
    await stream.close()


async def test_expired_url_on_one_piece(hls_media, media_server, http_client):
    engine = Engine(http_client, None, 0, readahead=SETTINGS)
    path, cipher, _ = first_segment(hls_media, "ts-implicit")
    ranges = expected_ranges(cipher, True)
    media_server.inject(path, status=403, range=ranges[1])
    stream, _ = await read_first_segment(engine, hls_media, media_server)
    # The piece got fresh URLs from the master playlist and was requested again.
    retried = [r.status for r in media_server.requests if r.range == ranges[1]]
    assert retried == [403, 206]
    assert media_server.count("master.m3u8") == 2
    assert sorted(fetches_of(media_server, path), key=str) == sorted(
        [*ranges, ranges[1]]
    )
    await stream.close()
