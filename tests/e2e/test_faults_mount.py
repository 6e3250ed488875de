"""End-to-end tests of faults: the errno, the log line and the time bound.

Each test scripts one fault in an emulator of its own and reads through a
mount of it. A read that cannot be served must fail with EIO, never return
zeros, and the mount must keep answering other requests meanwhile.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toutvfs.emulator import Emulator, Fault

from .mounting import Mount, openssl_reference, start_mount

pytestmark = pytest.mark.fuse

EPISODE = "shows/Les Héritiers du fleuve/Saison 1/S01E01 Le départ"

# A persistent fault must fail a read within about 30 s; this bound adds
# slack for a loaded machine and still catches a read that hangs.
FAILURE_BOUND = 60.0

# What "stays fast" means for stat and readdir while reads are stuck.
RESPONSIVE_BOUND = 5.0


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[tuple[Emulator, Mount]]:
    with Emulator(signed_url_lifetime=120) as emulator:
        mount = start_mount(
            tmp_path / "mnt",
            tmp_path / "toutvfs.log",
            "--emulator",
            emulator.base_url,
            "--user",
            "demo@toutvfs.test",
        )
        try:
            yield emulator, mount
        finally:
            assert mount.stop() == 0, mount.log()


def media_of(mount: Mount) -> Path:
    return sorted((mount.path / EPISODE).glob("*.ts"))[-1]


def id_media(path: Path) -> int:
    return int(os.getxattr(path, "user.toutv.id_media"))


def read_error(path: Path, offset: int = 0, size: int = 65536) -> tuple[int, float]:
    """Read *size* bytes at *offset*; return the errno and the seconds it took."""
    started = time.monotonic()
    with pytest.raises(OSError) as caught:
        with path.open("rb", buffering=0) as handle:
            handle.seek(offset)
            while handle.read(size):
                pass
    return caught.value.errno or 0, time.monotonic() - started


def error_lines(mount: Mount, path: Path) -> list[str]:
    return [
        line
        for line in mount.log().splitlines()
        if "ERROR" in line and path.name in line and path.parent.name in line
    ]


def test_persistent_503_fails_with_eio(faulty: tuple[Emulator, Mount]) -> None:
    emulator, mount = faulty
    path = media_of(mount)
    os.stat(path)
    emulator.faults.append(
        Fault("status", endpoint="segment", id_media=id_media(path), status=503)
    )
    code, seconds = read_error(path)
    assert code == errno.EIO
    assert seconds < FAILURE_BOUND
    lines = error_lines(mount, path)
    assert len(lines) >= 1, mount.log()
    assert "503" in lines[0]
    assert "hdnea" not in mount.log()
    assert os.listdir(mount.path / EPISODE)


def test_truncated_segment_is_eio_not_garbage(faulty: tuple[Emulator, Mount]) -> None:
    emulator, mount = faulty
    path = media_of(mount)
    os.stat(path)
    emulator.faults.append(
        Fault("truncate", endpoint="segment", id_media=id_media(path), truncate_to=1000)
    )
    code, seconds = read_error(path)
    assert code == errno.EIO
    assert seconds < FAILURE_BOUND


def test_bad_key_is_eio(faulty: tuple[Emulator, Mount]) -> None:
    emulator, mount = faulty
    path = media_of(mount)
    os.stat(path)
    emulator.faults.append(Fault("bad-key", endpoint="key", key_length=8))
    code, _seconds = read_error(path)
    assert code == errno.EIO
    assert any("key" in line for line in error_lines(mount, path)), mount.log()


def test_transient_faults_are_retried(faulty: tuple[Emulator, Mount]) -> None:
    emulator, mount = faulty
    path = media_of(mount)
    number = id_media(path)
    resolution = os.getxattr(path, "user.toutv.resolution").decode()
    emulator.faults.extend(
        [
            Fault("status", endpoint="segment", id_media=number, status=500, first=2),
            Fault("rate-limit", endpoint="segment", id_media=number, first=1),
            Fault(
                "drop", endpoint="segment", id_media=number, after_bytes=100, first=1
            ),
        ]
    )
    data = path.read_bytes()
    from .test_mount import master_url

    expected = openssl_reference(master_url(emulator.base_url, str(number)), resolution)
    assert data == expected
    assert sum(fault.fired for fault in emulator.faults) == 4


def test_stat_stays_fast_while_reads_stall(faulty: tuple[Emulator, Mount]) -> None:
    emulator, mount = faulty
    path = media_of(mount)
    size = os.stat(path).st_size
    with path.open("rb") as handle:
        handle.read(1)  # the layout is known before the server stalls
    emulator.faults.append(
        Fault("stall", endpoint="segment", id_media=id_media(path), stall_seconds=20)
    )
    results: list[int] = []
    lock = threading.Lock()

    def reader(offset: int) -> None:
        code, _seconds = read_error(path, offset, 4096)
        with lock:
            results.append(code)

    threads = [
        threading.Thread(target=reader, args=(size * n // 120,), daemon=True)
        for n in range(120)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # lets the readers reach the stalled server
    started = time.monotonic()
    os.stat(mount.path / "shows")
    os.listdir(mount.path / "shows")
    os.statvfs(mount.path)
    assert time.monotonic() - started < RESPONSIVE_BOUND
    for thread in threads:
        thread.join(timeout=FAILURE_BOUND + 30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(results) == 120
    assert set(results) == {errno.EIO}
