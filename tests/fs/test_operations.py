"""Tests of the FUSE handlers, called directly without a mount."""

from __future__ import annotations

import errno
import os
import stat
import threading
import types
from collections.abc import Callable
from typing import Any

import pyfuse3
import pytest
import trio
import trio.testing

from toutvfs.errors import InvalidCredentials, NetworkTimeout
from toutvfs.fs.operations import Operations
from toutvfs.fs.source import ShowEntry
from toutvfs.fs.tree import Tree

EPISODE = [b"shows", "Les Héritiers du fleuve".encode(), b"Saison 1"]
CTX: Any = None


@pytest.fixture
def invalidated() -> list[int]:
    return []


@pytest.fixture
def ops(tree: Tree, invalidated: list[int]) -> Operations:
    return Operations(tree, invalidate_attributes=invalidated.append)


async def settled(condition: Callable[[], bool]) -> None:
    """Poll *condition* every 10 ms for at most 10 s, for background work."""
    for _ in range(1000):
        if condition():
            return
        await trio.sleep(0.01)
    raise AssertionError("the condition was not met within 10 s")


async def lookup_path(ops: Operations, *parts: bytes) -> pyfuse3.EntryAttributes:
    inode = pyfuse3.ROOT_INODE
    attr = await ops.getattr(inode, CTX)
    for part in parts:
        attr = await ops.lookup(inode, part, CTX)
        inode = attr.st_ino
    return attr


async def test_directories_are_read_only(ops: Operations) -> None:
    attr = await lookup_path(ops, b"shows")
    assert stat.S_ISDIR(attr.st_mode)
    assert stat.S_IMODE(attr.st_mode) == 0o555
    assert attr.st_uid == os.getuid()
    assert attr.st_gid == os.getgid()


async def test_lookup_missing_name_is_enoent(ops: Operations) -> None:
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.lookup(pyfuse3.ROOT_INODE, b"nope", CTX)
    assert caught.value.errno == errno.ENOENT


async def test_lookup_in_file_is_enotdir(ops: Operations) -> None:
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), b"320x180.ts")
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.lookup(attr.st_ino, b"x", CTX)
    assert caught.value.errno == errno.ENOTDIR


async def test_open_read_returns_exact_bytes(
    ops: Operations, streams: Any, invalidated: list[int]
) -> None:
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), b"640x360.ts")
    captions = await lookup_path(
        ops, *EPISODE, "S01E01 Le départ".encode(), b"640x360.fr.vtt"
    )
    assert stat.S_IMODE(attr.st_mode) == 0o444
    assert attr.attr_timeout == 0
    info = await ops.open(attr.st_ino, os.O_RDONLY, CTX)
    expected = streams.content("1001", "900000-640x360")
    assert await ops.read(info.fh, 0, 100) == expected[:100]
    assert await ops.read(info.fh, 12_300, 4096) == expected[12_300:]
    # The captions beside the video were fetched too (see the next test).
    await settled(lambda: len(invalidated) == 2)
    assert sorted(invalidated) == sorted([attr.st_ino, captions.st_ino])
    after = await ops.getattr(attr.st_ino, CTX)
    assert after.st_size == 12_345
    assert after.st_blocks == 25
    assert after.attr_timeout > 0
    await ops.release(info.fh)
    assert streams.opened[0].closed is True


class BlockingInvalidation:
    """An attribute invalidation that blocks its thread until released."""

    def __init__(self) -> None:
        self.inodes: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, inode: int) -> None:
        self.inodes.append(inode)
        self.started.set()
        assert self.release.wait(10.0)


@pytest.mark.parametrize("name", [b"640x360.ts", b"thumb.jpg"])
async def test_open_waits_for_other_invalidation(
    tree: Tree, streams: Any, catalogue: Any, name: bytes
) -> None:
    # A second open that replied while the first one's invalidation was on
    # its way could read the file at the old size (see _invalidate_or_wait).
    invalidation = BlockingInvalidation()
    ops = Operations(tree, invalidate_attributes=invalidation)
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), name)
    handles: dict[str, int] = {}

    async def open_file(label: str) -> None:
        info = await ops.open(attr.st_ino, os.O_RDONLY, CTX)
        handles[label] = info.fh

    async with trio.open_nursery() as nursery:
        nursery.start_soon(open_file, "first")
        assert await trio.to_thread.run_sync(invalidation.started.wait, 10.0)
        nursery.start_soon(open_file, "second")
        await trio.testing.wait_all_tasks_blocked()
        assert handles == {}
        invalidation.release.set()
    assert set(handles) == {"first", "second"}
    # Opening the video fetched its captions too.
    extra = []
    if name.endswith(b".ts"):
        episode = (*EPISODE, "S01E01 Le départ".encode())
        extra = [(await lookup_path(ops, *episode, b"640x360.fr.vtt")).st_ino]
    await settled(lambda: len(invalidation.inodes) == 1 + len(extra))
    assert sorted(invalidation.inodes) == sorted([attr.st_ino, *extra])
    size = (await ops.getattr(attr.st_ino, CTX)).st_size
    for fh in handles.values():
        assert len(await ops.read(pyfuse3.FileHandleT(fh), size - 1, 4096)) == 1
        await ops.release(pyfuse3.FileHandleT(fh))


async def test_open_for_writing_is_erofs(ops: Operations) -> None:
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), b"640x360.ts")
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
        with pytest.raises(pyfuse3.FUSEError) as caught:
            await ops.open(attr.st_ino, flags, CTX)
        assert caught.value.errno == errno.EROFS


async def test_open_unsupported_media_is_eacces(
    ops: Operations, streams: Any, caplog: pytest.LogCaptureFixture
) -> None:
    streams.refuse.add("1001")
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), b"640x360.ts")
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.open(attr.st_ino, os.O_RDONLY, CTX)
    assert caught.value.errno == errno.EACCES
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert (
        "/shows/Les Héritiers du fleuve/Saison 1/S01E01 Le départ/640x360.ts"
        in errors[0]
    )
    assert "SAMPLE-AES" in errors[0]


async def test_read_with_rejected_login_is_eacces(
    ops: Operations, streams: Any, caplog: pytest.LogCaptureFixture
) -> None:
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), b"640x360.ts")
    info = await ops.open(attr.st_ino, os.O_RDONLY, CTX)
    streams.opened[0].failure = InvalidCredentials(
        "demo@toutvfs.test", "the service rejected the refresh token; log in again"
    )
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.read(info.fh, 0, 4096)
    assert caught.value.errno == errno.EACCES
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert errors[0] == (
        "reading 4096 bytes at 0 of /shows/Les Héritiers du fleuve/Saison 1/"
        "S01E01 Le départ/640x360.ts failed: the service rejected the refresh "
        "token; log in again; run `toutvfs login`, then mount again"
    )
    assert ops.failed_requests == 1
    await ops.release(info.fh)


async def test_notice_reads_whole_text(ops: Operations) -> None:
    attr = await lookup_path(
        ops, *EPISODE, "S01E03 Verrouillé".encode(), b"UNAVAILABLE.txt"
    )
    info = await ops.open(attr.st_ino, os.O_RDONLY, CTX)
    data = await ops.read(info.fh, 0, 65536)
    assert len(data) == attr.st_size
    assert "DRM" in data.decode()


async def test_xattrs_of_media(ops: Operations, streams: Any) -> None:
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), b"640x360.ts")
    listed = await ops.listxattr(attr.st_ino, CTX)
    assert b"user.toutv.id_media" in listed
    assert await ops.getxattr(attr.st_ino, b"user.toutv.id_media", CTX) == b"1001"
    assert await ops.getxattr(attr.st_ino, b"user.toutv.resolution", CTX) == b"640x360"
    assert await ops.getxattr(attr.st_ino, b"user.toutv.size_exact", CTX) == b"0"
    assert b"user.toutv.cached_bytes" in listed
    assert await ops.getxattr(attr.st_ino, b"user.toutv.cached_bytes", CTX) == b"0"
    streams.cached[("1001", "900000-640x360")] = 4096
    assert await ops.getxattr(attr.st_ino, b"user.toutv.cached_bytes", CTX) == b"4096"
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.getxattr(attr.st_ino, b"user.toutv.nope", CTX)
    assert caught.value.errno == pyfuse3.ENOATTR


async def test_forget_drops_lookup_counts(ops: Operations) -> None:
    attr = await lookup_path(ops, b"shows")
    await ops.lookup(pyfuse3.ROOT_INODE, b"shows", CTX)
    assert ops._lookups[attr.st_ino] == 2
    await ops.forget([(attr.st_ino, 1)])
    assert ops._lookups[attr.st_ino] == 1
    await ops.forget([(attr.st_ino, 1)])
    assert attr.st_ino not in ops._lookups


async def test_statfs_answers_without_catalogue(
    ops: Operations, catalogue: Any
) -> None:
    data = await ops.statfs(CTX)
    assert data.f_namemax == 255
    assert catalogue.calls == []


async def test_remote_file_fetched_on_open(
    ops: Operations, catalogue: Any, invalidated: list[int]
) -> None:
    attr = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode(), b"thumb.jpg")
    assert attr.st_size == 0
    assert attr.attr_timeout == 0
    info = await ops.open(attr.st_ino, os.O_RDONLY, CTX)
    expected = b"body of http://images.test/1001_640.jpg"
    assert await ops.read(info.fh, 0, 4096) == expected
    assert invalidated == [attr.st_ino]
    assert (await ops.getattr(attr.st_ino, CTX)).st_size == len(expected)
    assert catalogue.calls.count("fetch:http://images.test/1001_640.jpg") == 1


async def test_open_media_fetches_its_captions_once(
    ops: Operations, catalogue: Any, invalidated: list[int]
) -> None:
    episode = (*EPISODE, "S01E01 Le départ".encode())
    media = await lookup_path(ops, *episode, b"640x360.ts")
    captions = await lookup_path(ops, *episode, b"640x360.fr.vtt")
    other = await lookup_path(ops, *episode, b"320x180.fr.vtt")
    url = "http://cc.test/1001.vtt"
    arrived = trio.Event()
    fetch = catalogue.fetch

    async def slow_fetch(fetched: str) -> bytes:
        await arrived.wait()
        return await fetch(fetched)

    catalogue.fetch = slow_fetch
    info = await ops.open(media.st_ino, os.O_RDONLY, CTX)
    await trio.testing.wait_all_tasks_blocked()
    # The captions of this version are on their way, not those of the other.
    assert ops._fetching.keys() == {captions.st_ino}
    async with trio.open_nursery() as nursery:
        # An open that comes during the fetch waits for it.
        nursery.start_soon(ops.open, captions.st_ino, os.O_RDONLY, CTX)
        await trio.testing.wait_all_tasks_blocked()
        arrived.set()
    assert catalogue.calls.count(f"fetch:{url}") == 1
    reopened = await ops.open(captions.st_ino, os.O_RDONLY, CTX)
    assert await ops.read(reopened.fh, 0, 4096) == f"body of {url}".encode()
    assert catalogue.calls.count(f"fetch:{url}") == 1
    assert (await ops.getattr(captions.st_ino, CTX)).st_size == len(f"body of {url}")
    assert invalidated.count(captions.st_ino) == 1
    assert other.st_ino not in invalidated
    await ops.release(info.fh)


async def test_failed_caption_prefetch_is_fetched_again_on_open(
    ops: Operations, catalogue: Any
) -> None:
    episode = (*EPISODE, "S01E01 Le départ".encode())
    media = await lookup_path(ops, *episode, b"640x360.ts")
    captions = await lookup_path(ops, *episode, b"640x360.fr.vtt")
    fetch = catalogue.fetch
    failures = [NetworkTimeout("GET http://cc.test/1001.vtt timed out")]

    async def failing_fetch(url: str) -> bytes:
        if failures:
            catalogue.calls.append(f"fetch:{url}")
            raise failures.pop()
        return await fetch(url)

    catalogue.fetch = failing_fetch
    await ops.open(media.st_ino, os.O_RDONLY, CTX)
    await trio.testing.wait_all_tasks_blocked()
    assert catalogue.calls.count("fetch:http://cc.test/1001.vtt") == 1
    info = await ops.open(captions.st_ino, os.O_RDONLY, CTX)
    assert await ops.read(info.fh, 0, 4096) == b"body of http://cc.test/1001.vtt"
    # The failed prefetch, then the open's own fetch.
    assert catalogue.calls.count("fetch:http://cc.test/1001.vtt") == 2


async def test_refresh_name_relists_directory(ops: Operations, catalogue: Any) -> None:
    shows = await lookup_path(ops, b"shows")
    await ops.opendir(shows.st_ino, CTX)
    assert catalogue.calls.count("shows") == 1
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.lookup(shows.st_ino, b".toutvfs-refresh", CTX)
    assert caught.value.errno == errno.ENOENT
    await ops.opendir(shows.st_ino, CTX)
    assert catalogue.calls.count("shows") == 2


async def test_readdir_offsets_survive_refresh(
    ops: Operations, catalogue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies: list[tuple[bytes, int]] = []
    room = [2]

    def reply(token: Any, name: bytes, attr: Any, next_id: int) -> bool:
        if room[0] == 0:
            return False
        room[0] -= 1
        replies.append((name, next_id))
        return True

    monkeypatch.setattr(pyfuse3, "readdir_reply", reply)
    shows = await lookup_path(ops, b"shows")
    fh = await ops.opendir(shows.st_ino, CTX)
    await ops.readdir(fh, 0, None)  # type: ignore[arg-type]
    assert len(replies) == 2

    async def fewer_shows() -> list[ShowEntry]:
        return [ShowEntry(slug="fleuve", title="Les Héritiers du fleuve")]

    catalogue.shows = fewer_shows
    with pytest.raises(pyfuse3.FUSEError):
        await ops.lookup(shows.st_ino, b".toutvfs-refresh", CTX)
    fresh = await ops.opendir(shows.st_ino, CTX)
    assert len(ops._listings[fresh]) == 1

    room[0] = 100
    await ops.readdir(fh, replies[-1][1], None)  # type: ignore[arg-type]
    names = [name for name, _ in replies]
    assert len(names) == 4
    assert len(set(names)) == 4
    assert [next_id for _, next_id in replies] == [1, 2, 3, 4]


async def test_forget_drops_only_unlisted_nodes(ops: Operations, tree: Tree) -> None:
    shows = await lookup_path(ops, b"shows")
    await ops.forget([(shows.st_ino, 1)])
    assert tree.get(shows.st_ino) is not None
    await lookup_path(ops, b"shows")
    assert tree.root.entries is not None
    tree.root.entries.pop("shows")  # as a refresh that no longer lists it
    await ops.forget([(shows.st_ino, 1)])
    assert tree.get(shows.st_ino) is None


async def test_media_listed_lowest_first(ops: Operations) -> None:
    episode = await lookup_path(ops, *EPISODE, "S01E01 Le départ".encode())
    fh = await ops.opendir(episode.st_ino, CTX)
    media = [node.name for node in ops._listings[fh] if node.name.endswith(".ts")]
    assert media == ["320x180.ts", "640x360.ts"]


class Context:
    """The one field of `pyfuse3.RequestContext` that lookup reads."""

    def __init__(self, pid: int) -> None:
        self.pid = pid


CREATING_PID = 4242


def creating_ops(tree: Tree, invalidated: list[int]) -> Operations:
    return Operations(
        tree,
        invalidate_attributes=invalidated.append,
        caller_creates=lambda pid: pid == CREATING_PID,
    )


@pytest.mark.parametrize("parts", [[], [b"search"], [b"shows"]])
async def test_lookup_long_name_is_enametoolong(
    ops: Operations, catalogue: Any, parts: list[bytes]
) -> None:
    parent = (await lookup_path(ops, *parts)).st_ino
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.lookup(parent, b"a" * 256, Context(1))
    assert caught.value.errno == errno.ENAMETOOLONG
    assert [call for call in catalogue.calls if call.startswith("search:")] == []


async def test_search_name_limit_is_255_bytes(ops: Operations) -> None:
    search = await lookup_path(ops, b"search")
    attr = await ops.lookup(search.st_ino, "é".encode() * 127 + b"a", Context(1))
    assert stat.S_ISDIR(attr.st_mode)


@pytest.mark.parametrize("name", [b"fle\nuve", b"\x1b[31m", b"bad\xff"])
async def test_search_invalid_name_is_enoent(
    ops: Operations, catalogue: Any, name: bytes
) -> None:
    search = await lookup_path(ops, b"search")
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.lookup(search.st_ino, name, Context(1))
    assert caught.value.errno == errno.ENOENT
    assert [call for call in catalogue.calls if call.startswith("search:")] == []


async def test_creating_lookup_adds_no_search(
    tree: Tree, invalidated: list[int], catalogue: Any
) -> None:
    ops = creating_ops(tree, invalidated)
    search = await lookup_path(ops, b"search")
    await ops.lookup(search.st_ino, b"nord", Context(1))
    with pytest.raises(pyfuse3.FUSEError) as caught:
        await ops.lookup(search.st_ino, b"newdir", Context(CREATING_PID))
    assert caught.value.errno == errno.ENOENT
    # A search made before is found, so mkdir reports EEXIST as for any name.
    found = await ops.lookup(search.st_ino, b"nord", Context(CREATING_PID))
    assert stat.S_ISDIR(found.st_mode)
    assert [call for call in catalogue.calls if call.startswith("search:")] == [
        "search:nord"
    ]
    handle = await ops.opendir(search.st_ino, Context(1))
    assert [node.name for node in ops._listings[handle]] == ["nord"]
    await ops.releasedir(handle)


async def test_creating_lookup_elsewhere_unchanged(
    tree: Tree, invalidated: list[int]
) -> None:
    ops = creating_ops(tree, invalidated)
    attr = await ops.lookup(pyfuse3.ROOT_INODE, b"shows", Context(CREATING_PID))
    assert stat.S_ISDIR(attr.st_mode)


async def test_pushed_out_search_is_forgotten_by_the_kernel(
    tree: Tree, invalidated: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    forgotten: list[tuple[int, str]] = []
    ops = Operations(
        tree,
        invalidate_attributes=invalidated.append,
        invalidate_entry=lambda parent, name: forgotten.append((parent, name)),
        caller_creates=lambda pid: False,
    )
    monkeypatch.setattr("toutvfs.fs.searches.MAX_SEARCHES", 2)
    search = await lookup_path(ops, b"search")
    reader: Any = types.SimpleNamespace(pid=0)
    for term in (b"fleuve", b"nord", b"Fleuve du"):
        await ops.lookup(search.st_ino, term, reader)
    assert forgotten == [(search.st_ino, "fleuve")]
