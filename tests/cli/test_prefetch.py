"""``toutvfs prefetch`` and ``unpin`` on real mounts, with the server stopped."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from clitools import EXIT_TIMEOUT, HlsServer, toutvfs, wait_for

from toutvfs.emulator import Emulator
from toutvfs.fs.identity import playlist_identity, service_identity

pytestmark = pytest.mark.fuse


def status_of(mountpoint: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((mountpoint / ".toutvfs-status").read_text())
    return record


def drop_page_cache(path: Path) -> None:
    """Make the next read of *path* reach the filesystem, not the page cache."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


@pytest.fixture
def mounted(home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path) -> Any:
    log = tmp_path / "toutvfs.log"
    result = toutvfs(
        "--hls",
        hls_server.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--log-file",
        str(log),
        str(mountpoint),
    )
    assert result.returncode == 0, result.stderr
    yield mountpoint
    pid = status_of(mountpoint)["pid"]
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.ismount(mountpoint), EXIT_TIMEOUT, "the unmount")


def test_prefetch_then_play_offline(
    mounted: Path, hls_server: HlsServer, tmp_path: Path
) -> None:
    directory = mounted / "master"
    result = toutvfs("prefetch", str(directory))
    assert result.returncode == 0, result.stderr
    total = sum(path.stat().st_size for path in directory.iterdir())
    assert result.stdout == (
        f"toutvfs: prefetched and pinned 2 files, {total / 1024:.1f} KiB\n"
    )
    progress = result.stderr.strip().splitlines()
    assert len(progress) == 1
    assert progress[0].startswith("[########################] 100.0% ")
    assert " left" in progress[0]
    pins = json.loads((tmp_path / "cache" / "pins.json").read_text())
    assert pins == {
        playlist_identity(hls_server.url): {
            "180p-264k": "/master/320x180.ts",
            "360p-664k": "/master/640x360.ts",
        }
    }
    assert status_of(mounted)["pinned_open"] == 2
    online = {path.name: path.read_bytes() for path in sorted(directory.iterdir())}

    hls_server.stop()
    requests = len(hls_server.requests)
    for path in sorted(directory.iterdir()):
        drop_page_cache(path)
        assert path.read_bytes() == online[path.name]
    assert len(hls_server.requests) == requests
    assert status_of(mounted)["errors"] == 0
    # The reads above may come from the engine's memory pool, but every part
    # is on disk too, which is what keeps a larger file playable.
    entries = list((tmp_path / "cache" / "segments").rglob("*.part"))
    assert len(entries) == 8


def test_offline_without_pin_fails(mounted: Path, hls_server: HlsServer) -> None:
    path = mounted / "master" / "320x180.ts"
    result = toutvfs("prefetch", "--no-pin", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("toutvfs: prefetched 1 file, ")
    assert status_of(mounted)["pinned_open"] == 0
    hls_server.stop()
    with pytest.raises(OSError) as caught:
        path.read_bytes()
    assert caught.value.errno == errno.EIO


def test_unpin_releases(mounted: Path, tmp_path: Path) -> None:
    path = mounted / "master" / "640x360.ts"
    assert toutvfs("prefetch", str(path)).returncode == 0
    result = toutvfs("unpin", str(mounted / "master"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "toutvfs: unpinned 1 of 2 files\n"
    assert json.loads((tmp_path / "cache" / "pins.json").read_text()) == {}
    assert status_of(mounted)["pinned_open"] == 0


def test_prefetch_outside_mount(home: Path, tmp_path: Path) -> None:
    result = toutvfs("prefetch", str(tmp_path))
    assert result.returncode == 1
    assert (
        result.stderr == f"toutvfs prefetch: {tmp_path} is not inside a toutvfs mount\n"
    )


def test_prefetch_missing_path(mounted: Path) -> None:
    result = toutvfs("prefetch", str(mounted / "master" / "absent.ts"))
    assert result.returncode == 1
    assert result.stderr == (
        f"toutvfs prefetch: {mounted / 'master' / 'absent.ts'} does not exist\n"
    )


def test_pins_survive_remount(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    """Pinned entries are kept over a remount even when new entries need room."""
    cache = tmp_path / "cache"
    common = ("--hls", hls_server.url, "--cache-dir", str(cache), "--cache-size", "0.8")
    assert toutvfs(*common, str(mountpoint)).returncode == 0
    small = mountpoint / "master" / "320x180.ts"
    assert toutvfs("prefetch", str(small)).returncode == 0
    os.kill(status_of(mountpoint)["pid"], signal.SIGTERM)
    wait_for(lambda: not os.path.ismount(mountpoint), EXIT_TIMEOUT, "the unmount")
    pinned = sorted(
        p.name for p in (cache / "segments").rglob("*.part") if "180p" in str(p)
    )
    assert len(pinned) == 4

    assert toutvfs(*common, str(mountpoint)).returncode == 0
    try:
        # 0.8 MiB cannot hold both variants (about 0.94 MiB), so reading
        # the larger one would evict the smaller one if it were not pinned.
        (mountpoint / "master" / "640x360.ts").read_bytes()
        after = sorted(
            p.name for p in (cache / "segments").rglob("*.part") if "180p" in str(p)
        )
        assert after == pinned
    finally:
        os.kill(status_of(mountpoint)["pid"], signal.SIGTERM)
        wait_for(lambda: not os.path.ismount(mountpoint), EXIT_TIMEOUT, "the unmount")


def test_two_mounts_share_cache_dir(
    home: Path, hls_server: HlsServer, tmp_path: Path
) -> None:
    """Two mounts reading the same files into one cache leave only intact entries."""
    import hashlib
    import struct
    import threading

    cache = tmp_path / "cache"
    mounts = [tmp_path / "one", tmp_path / "two"]
    for path in mounts:
        path.mkdir()
        result = toutvfs("--hls", hls_server.url, "--cache-dir", str(cache), str(path))
        assert result.returncode == 0, result.stderr
    try:
        results: dict[tuple[str, str], bytes] = {}

        def read(root: Path, name: str) -> None:
            results[(root.name, name)] = (root / "master" / name).read_bytes()

        threads = [
            threading.Thread(target=read, args=(root, name))
            for root in mounts
            for name in ("320x180.ts", "640x360.ts")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=EXIT_TIMEOUT)
        assert len(results) == 4
        for name in ("320x180.ts", "640x360.ts"):
            assert results[("one", name)] == results[("two", name)]
    finally:
        for path in mounts:
            os.kill(status_of(path)["pid"], signal.SIGTERM)
            wait_for(lambda p=path: not os.path.ismount(p), EXIT_TIMEOUT, "unmount")

    entries = sorted((cache / "segments").rglob("*.part"))
    assert len(entries) == 8
    trailer = struct.Struct(">32sQ8s")
    for entry in entries:
        raw = entry.read_bytes()
        digest, length, magic = trailer.unpack(raw[-trailer.size :])
        data = raw[: -trailer.size]
        assert magic == b"TVFSPRT1"
        assert length == len(data)
        assert hashlib.sha256(data).digest() == digest
    # Besides the entries, each variant directory contains one key file.
    key_files = sorted({entry.with_name("key.json") for entry in entries})
    assert len(key_files) == 2
    leftovers = [p for p in (cache / "segments").rglob("*") if p.is_file()]
    assert sorted(leftovers) == sorted(entries + key_files)


def stop_mount(mountpoint: Path) -> None:
    os.kill(status_of(mountpoint)["pid"], signal.SIGTERM)
    wait_for(lambda: not os.path.ismount(mountpoint), EXIT_TIMEOUT, "the unmount")


def private_files(root: Path) -> list[Path]:
    """Return the files under *root*, checking modes 0600 and 0700 on the way."""
    assert root.stat().st_mode & 0o777 == 0o700
    files = []
    for path in sorted(root.rglob("*")):
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), path
        if path.is_file():
            files.append(path)
    return files


def test_pinned_plays_after_remount_offline(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    """A new mount lists and plays a pinned file with the server gone."""
    cache = tmp_path / "cache"
    log = tmp_path / "toutvfs.log"
    # The query is a stand-in for a signature, which no log line may show.
    master = hls_server.url + "?sig=offline-secret"
    common = ("--hls", master, "--cache-dir", str(cache))
    assert toutvfs(*common, "--log-file", str(log), str(mountpoint)).returncode == 0
    small = mountpoint / "master" / "320x180.ts"
    try:
        result = toutvfs("prefetch", str(small))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("toutvfs: prefetched and pinned 1 file, ")
        online = small.read_bytes()
    finally:
        stop_mount(mountpoint)
    key = playlist_identity(hls_server.url)
    playlists = private_files(cache / "playlists")
    assert [path.relative_to(cache).as_posix() for path in playlists] == [
        f"playlists/{key}/180p-264k.json"
    ]
    listings = private_files(cache / "listings")
    assert [path.relative_to(cache).as_posix() for path in listings] == [
        f"listings/hls/{key}/180p-264k.json"
    ]
    hls_server.stop()

    assert toutvfs(*common, "--log-file", str(log), str(mountpoint)).returncode == 0
    try:
        assert sorted(os.listdir(mountpoint / "master")) == ["320x180.ts", "640x360.ts"]
        assert small.stat().st_size == len(online)
        assert small.read_bytes() == online
        with pytest.raises(OSError) as caught:
            (mountpoint / "master" / "640x360.ts").read_bytes()
        assert caught.value.errno == errno.EIO
        text = log.read_text()
        assert f"serving the stored listing media:{key}" in text
        assert f"{key}/180p-264k: the network failed" in text
        assert "offline-secret" not in text

        result = toutvfs("unpin", str(small))
        assert result.returncode == 0, result.stderr
        assert result.stdout == "toutvfs: unpinned 1 of 1 file\n"
        assert [p for p in (cache / "playlists").rglob("*") if p.is_file()] == []
        assert [p for p in (cache / "listings").rglob("*") if p.is_file()] == []
    finally:
        stop_mount(mountpoint)


def test_toutv_pinned_plays_after_remount_offline(
    home: Path, mountpoint: Path, tmp_path: Path
) -> None:
    """A TOU.TV mount lists and plays a pinned episode with the emulator stopped."""
    cache = tmp_path / "cache"
    log = tmp_path / "toutvfs.log"
    env = dict(os.environ, TOUTVFS_PASSWORD="demo")
    episode = Path("shows", "Les Héritiers du fleuve", "Saison 1", "S01E01 Le départ")
    with Emulator() as emulator:
        source = service_identity(emulator.base_url)
        common = (
            "--emulator",
            emulator.base_url,
            "--user",
            "demo@toutvfs.test",
            "--cache-dir",
            str(cache),
            "--log-file",
            str(log),
        )
        result = toutvfs(*common, str(mountpoint), env=env)
        assert result.returncode == 0, result.stderr
        pinned = mountpoint / episode / "320x180.ts"
        try:
            names = sorted(os.listdir(mountpoint / episode))
            assert toutvfs("prefetch", str(pinned)).returncode == 0
            online = pinned.read_bytes()
        finally:
            stop_mount(mountpoint)
    playlists = private_files(cache / "playlists")
    assert len(playlists) == 1
    assert playlists[0].relative_to(cache).parts[1].startswith(f"{source}-")
    listings = private_files(cache / "listings")
    assert len(listings) == 1
    assert listings[0].relative_to(cache).parts[1] == source
    stored = listings[0].read_text()
    assert sorted(json.loads(stored)["records"]) == [
        "media:" + json.loads(stored)["media_key"].removeprefix(f"{source}-"),
        "show:les-heritiers-du-fleuve",
        "shows",
    ]
    assert "demo@toutvfs.test" not in stored

    # The emulator is stopped, so its port refuses connections.
    result = toutvfs(*common, str(mountpoint), env=env)
    assert result.returncode == 0, result.stderr
    try:
        assert "Les Héritiers du fleuve" in os.listdir(mountpoint / "shows")
        assert "Saison 1" in os.listdir(mountpoint / episode.parent.parent)
        assert sorted(os.listdir(mountpoint / episode)) == names
        assert pinned.read_bytes() == online
        with pytest.raises(OSError) as caught:
            (mountpoint / episode / "640x360.ts").read_bytes()
        assert caught.value.errno == errno.EIO
        assert "serving the stored listing shows" in log.read_text()
    finally:
        stop_mount(mountpoint)


def dead_loopback_url() -> str:
    """Return an http URL of a loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def pin_then_unmount(mountpoint: Path, path: Path, *options: str) -> None:
    """Mount with *options*, pin *path* with ``toutvfs prefetch``, then unmount."""
    result = toutvfs(*options, str(mountpoint))
    assert result.returncode == 0, result.stderr
    try:
        assert toutvfs("prefetch", str(path)).returncode == 0
    finally:
        stop_mount(mountpoint)


def test_demo_pins_unseen_by_other_emulator(
    home: Path, mountpoint: Path, tmp_path: Path
) -> None:
    """A pin of the demo lists and plays nothing on a mount of another emulator."""
    cache = tmp_path / "cache"
    episode = Path("shows", "Les Héritiers du fleuve", "Saison 1", "S01E01 Le départ")
    pinned = mountpoint / episode / "320x180.ts"
    demo = ("--demo", "--cache-dir", str(cache), "--log-file", str(tmp_path / "a.log"))
    pin_then_unmount(mountpoint, pinned, *demo)
    assert len(private_files(cache / "listings" / "demo")) == 1
    assert len(private_files(cache / "playlists")) == 1

    log = tmp_path / "other.log"
    other = ("--emulator", dead_loopback_url(), "--cache-dir", str(cache))
    result = toutvfs(*other, "--log-file", str(log), str(mountpoint))
    assert result.returncode == 0, result.stderr
    try:
        with pytest.raises(OSError) as caught:
            os.listdir(mountpoint / "shows")
        assert caught.value.errno == errno.EIO
        with pytest.raises(OSError) as caught:
            pinned.read_bytes()
        assert caught.value.errno == errno.EIO
        assert "serving the stored listing" not in log.read_text()
    finally:
        stop_mount(mountpoint)


def test_hls_pins_unseen_by_other_playlist(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    """A pin of one master playlist is not served for another with the same name."""
    cache = tmp_path / "cache"
    small = mountpoint / "master" / "320x180.ts"
    first = ("--hls", hls_server.url, "--cache-dir", str(cache))
    pin_then_unmount(mountpoint, small, *first, "--log-file", str(tmp_path / "a.log"))
    hls_server.stop()

    log = tmp_path / "other.log"
    other = dead_loopback_url() + "/master.m3u8"
    options = ("--hls", other, "--cache-dir", str(cache), "--log-file", str(log))
    result = toutvfs(*options, str(mountpoint))
    assert result.returncode == 0, result.stderr
    try:
        assert "master" in os.listdir(mountpoint)
        with pytest.raises(OSError) as caught:
            os.listdir(mountpoint / "master")
        assert caught.value.errno == errno.EIO
        with pytest.raises(OSError) as caught:
            small.read_bytes()
        assert caught.value.errno == errno.EIO
        assert "serving the stored listing" not in log.read_text()
    finally:
        stop_mount(mountpoint)
