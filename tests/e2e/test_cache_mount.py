"""The segment cache through a real mount: a tiny limit, and a kill -9."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from toutvfs.emulator import Emulator

from .mounting import Mount, openssl_reference, start_mount
from .test_mount import first_episode, master_url

pytestmark = pytest.mark.fuse

CHUNK = 128 * 1024
# Bound on each reader thread, far above the few seconds a read takes.
READ_TIMEOUT = 120.0


def mount_args(emulator: Emulator, cache: Path, *extra: str) -> tuple[str, ...]:
    return (
        "--emulator",
        emulator.base_url,
        "--user",
        "demo@toutvfs.test",
        "--cache-dir",
        str(cache),
        *extra,
    )


def largest_media(mount: Mount, emulator: Emulator) -> tuple[Path, bytes]:
    """Return the largest media file of the first episode and its reference bytes."""
    path = sorted(first_episode(mount).glob("*.ts"))[-1]
    id_media = os.getxattr(path, "user.toutv.id_media").decode()
    resolution = os.getxattr(path, "user.toutv.resolution").decode()
    reference = openssl_reference(master_url(emulator.base_url, id_media), resolution)
    return path, reference


def cache_entries(cache: Path) -> list[Path]:
    """Return the finished entries of the segment cache, temporary files excluded."""
    paths = (cache / "segments").rglob("*.part")
    return sorted(path for path in paths if not path.name.startswith(".tmp-"))


def read_chunks(path: Path, offsets: list[int], into: dict[int, bytes]) -> None:
    """Read CHUNK bytes at each offset, in order, through one descriptor."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        for offset in offsets:
            into[offset] = os.pread(descriptor, CHUNK, offset)
    finally:
        os.close(descriptor)


def test_tiny_cache_readers_at_both_ends(emulator: Emulator, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    limit_mib = 1.5
    mount = start_mount(
        tmp_path / "mnt",
        tmp_path / "toutvfs.log",
        *mount_args(emulator, cache, "--cache-size", str(limit_mib)),
    )
    try:
        path, reference = largest_media(mount, emulator)
        assert len(reference) > 2 * limit_mib * 1024 * 1024
        # The size is exact from the first open on. Opening once before the
        # readers start keeps this test about eviction; test_mount.py
        # covers two first opens racing.
        assert os.stat(path).st_size != 0
        with path.open("rb") as handle:
            assert os.fstat(handle.fileno()).st_size == len(reference)
        offsets = list(range(0, len(reference), CHUNK))
        forward: dict[int, bytes] = {}
        backward: dict[int, bytes] = {}
        readers = [
            threading.Thread(target=read_chunks, args=(path, offsets, forward)),
            threading.Thread(target=read_chunks, args=(path, offsets[::-1], backward)),
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(READ_TIMEOUT)
            assert not reader.is_alive()
        assert b"".join(forward[offset] for offset in offsets) == reference
        assert b"".join(backward[offset] for offset in offsets) == reference
        entries = cache_entries(cache)
        assert entries
        assert sum(entry.stat().st_size for entry in entries) <= limit_mib * 1024**2
    finally:
        assert mount.stop() == 0, mount.log()


def test_partial_entry_after_kill_9(emulator: Emulator, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = start_mount(
        tmp_path / "mnt", tmp_path / "first.log", *mount_args(emulator, cache)
    )
    try:
        path, reference = largest_media(first, emulator)
        relative = path.relative_to(first.path)
        assert path.read_bytes() == reference
        # The last segment reaches the cache just after the read returns.
        deadline = time.monotonic() + 10.0
        while len(cache_entries(cache)) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        first.process.kill()
        first.process.wait()
        first.log_file.close()
    try:
        with pytest.raises(OSError) as caught:
            os.listdir(first.path / "shows")
        assert caught.value.errno == errno.ENOTCONN
    finally:
        # The stale mount would keep serving the file from the page cache.
        subprocess.run(["fusermount3", "-u", str(first.path)], check=True)

    # A kill -9 during a write leaves a temporary file that was never
    # renamed. A truncated entry stands for a file whose tail was lost.
    # The demo file has 12 segments, all cached by the first read.
    entries = cache_entries(cache)
    assert len(entries) == 12
    temporary = entries[0].with_name(".tmp-0123456789ab-" + entries[0].name)
    temporary.write_bytes(entries[0].read_bytes()[:1000])
    truncated = entries[1].read_bytes()
    entries[1].write_bytes(truncated[: len(truncated) // 2])

    emulator.request_log.clear()
    second = start_mount(
        tmp_path / "mnt", tmp_path / "second.log", *mount_args(emulator, cache)
    )
    try:
        assert (second.path / relative).read_bytes() == reference
        segment_gets = [
            record.path
            for record in emulator.request_log
            if record.path.endswith(".ts") and record.range is None
        ]
        assert len(segment_gets) == 1
    finally:
        assert second.stop() == 0, second.log()
    assert len(cache_entries(cache)) == 12
    assert temporary.exists()
