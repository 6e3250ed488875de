"""End-to-end tests: a real FUSE mount of the emulator, read by real programs."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from toutvfs.client import PasswordLogin, Session
from toutvfs.config import Config

from .mounting import (
    MOUNT_TIMEOUT,
    UNMOUNT_TIMEOUT,
    ffprobe,
    openssl_reference,
    serves_mountpoint,
    start_mount,
    wait_for,
)

pytestmark = pytest.mark.fuse


def media_files(root: Path) -> list[Path]:
    return sorted(root.glob("shows/*/*/*/*.ts"))


def first_episode(mount: Any) -> Path:
    """Return a season directory's first episode that has media files."""
    for season in sorted(mount.path.glob("shows/*/*")):
        episodes = [e for e in sorted(season.iterdir()) if list(e.glob("*.ts"))]
        if len(episodes) >= 2:
            return episodes[0]
    raise AssertionError("no season with two playable episodes")


def master_url(base_url: str, id_media: str) -> str:
    async def validate() -> str:
        async with httpx.AsyncClient() as http:
            session = Session(
                Config.for_emulator(base_url),
                http,
                PasswordLogin("demo@toutvfs.test", "demo"),
            )
            return await session.validate(id_media)

    return trio.run(validate)


def test_listing_has_seasons_episodes_and_variants(mounted: Any) -> None:
    episode = first_episode(mounted)
    season = episode.parent
    episodes = [e for e in season.iterdir() if list(e.glob("*.ts"))]
    assert len(episodes) >= 2
    variants = sorted(p.name for p in episode.glob("*.ts"))
    assert len(variants) >= 2
    for name in variants:
        assert "x" in name.removesuffix(".ts")


def test_file_matches_openssl_reference(mounted: Any, emulator: Any) -> None:
    episode = first_episode(mounted)
    path = sorted(episode.glob("*.ts"))[-1]
    id_media = os.getxattr(path, "user.toutv.id_media").decode()
    resolution = os.getxattr(path, "user.toutv.resolution").decode()
    expected = openssl_reference(master_url(emulator.base_url, id_media), resolution)
    data = path.read_bytes()
    assert len(data) == len(expected)
    assert data == expected
    assert os.stat(path).st_size == len(expected)


def test_tail_and_dd_on_cold_files(mounted: Any, emulator: Any) -> None:
    episode = first_episode(mounted)
    tail_path, dd_path = sorted(episode.glob("*.ts"))
    expected = {}
    for path in (tail_path, dd_path):
        id_media = os.getxattr(path, "user.toutv.id_media").decode()
        resolution = os.getxattr(path, "user.toutv.resolution").decode()
        url = master_url(emulator.base_url, id_media)
        expected[path] = openssl_reference(url, resolution)

    tail = subprocess.run(
        ["tail", "-c", "1000", str(tail_path)], capture_output=True, check=True
    )
    assert tail.stdout == expected[tail_path][-1000:]

    # 64 KiB blocks from block 20: a seek into the middle of the file.
    dd = subprocess.run(
        ["dd", f"if={dd_path}", "bs=65536", "skip=20", "count=3", "status=none"],
        capture_output=True,
        check=True,
    )
    assert dd.stdout == expected[dd_path][20 * 65536 : 23 * 65536]


def test_fstat_is_exact_after_open(mounted: Any) -> None:
    path = sorted(first_episode(mounted).glob("*.ts"))[0]
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read()
    assert size == len(data)
    assert os.getxattr(path, "user.toutv.size_exact") == b"1"


def test_concurrent_first_opens_read_end(mounted: Any, emulator: Any) -> None:
    # The listing shows an estimate, below the exact size for this file.
    # Each reader's first read ends at the exact end of the file.
    path = sorted(first_episode(mounted).glob("*.ts"))[-1]
    id_media = os.getxattr(path, "user.toutv.id_media").decode()
    resolution = os.getxattr(path, "user.toutv.resolution").decode()
    expected = openssl_reference(master_url(emulator.base_url, id_media), resolution)
    assert os.getxattr(path, "user.toutv.size_exact") == b"0"
    assert os.stat(path).st_size < len(expected)
    tail_size = 128 * 1024
    start = threading.Barrier(2, timeout=30.0)
    tails: list[bytes] = []

    def read_tail() -> None:
        start.wait()
        descriptor = os.open(path, os.O_RDONLY)
        try:
            tails.append(os.pread(descriptor, tail_size, len(expected) - tail_size))
        finally:
            os.close(descriptor)

    readers = [threading.Thread(target=read_tail) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(60.0)
        assert not reader.is_alive()
    assert [len(tail) for tail in tails] == [tail_size, tail_size]
    assert tails == [expected[-tail_size:]] * 2


def test_ffprobe_reports_h264_aac_and_duration(mounted: Any) -> None:
    episode = first_episode(mounted)
    path = sorted(episode.glob("*.ts"))[0]
    duration = float(os.getxattr(path, "user.toutv.duration"))
    report = ffprobe(path)
    codecs = sorted(stream["codec_name"] for stream in report["streams"])
    assert codecs == ["aac", "h264"]
    assert abs(float(report["format"]["duration"]) - duration) < 0.5


def test_mpv_plays_picture_and_sound(mounted: Any) -> None:
    path = sorted(first_episode(mounted).glob("*.ts"))[-1]
    result = subprocess.run(
        [
            "mpv",
            "--no-config",
            "--vo=null",
            "--ao=null",
            "--length=3",
            "--msg-level=all=info",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Video --vid=1" in result.stdout
    assert "Audio --aid=1" in result.stdout
    assert "Exiting... (End of file)" in result.stdout or "(Quit)" in result.stdout


def test_write_is_erofs(mounted: Any) -> None:
    path = sorted(first_episode(mounted).glob("*.ts"))[0]
    with pytest.raises(OSError) as caught:
        path.open("r+b")
    assert caught.value.errno == errno.EROFS
    with pytest.raises(OSError) as caught:
        (mounted.path / "shows" / "new").mkdir()
    assert caught.value.errno == errno.EROFS


def test_bad_mountpoint_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    regular = tmp_path / "file"
    regular.write_text("")
    for target in (missing, regular):
        result = subprocess.run(
            [sys.executable, "-m", "toutvfs", "--demo", str(target)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(target) in lines[0]


def test_demo_mounts_and_sigint_exits_0(tmp_path: Path) -> None:
    mount = start_mount(tmp_path / "demo", tmp_path / "demo.log", "--demo")
    try:
        assert media_files(mount.path)
    finally:
        status = mount.stop(signal.SIGINT)
    assert status == 0, mount.log()
    assert not os.path.ismount(mount.path)


def test_start_mount_rejects_busy_mountpoint(emulator: Any, tmp_path: Path) -> None:
    first = start_mount(
        tmp_path / "mnt", tmp_path / "first.log", "--emulator", emulator.base_url
    )
    try:
        # The second process finds the first one's mount and exits 1, so
        # the helper must not take the first mount for the second one's.
        with pytest.raises(AssertionError, match="toutvfs exited early"):
            start_mount(
                tmp_path / "mnt",
                tmp_path / "second.log",
                "--emulator",
                emulator.base_url,
            )
        assert serves_mountpoint(first.path, first.process.pid)
    finally:
        assert first.stop() == 0, first.log()


def test_start_mount_waits_past_stale_mount(emulator: Any, tmp_path: Path) -> None:
    mountpoint = tmp_path / "mnt"
    dead = start_mount(
        mountpoint, tmp_path / "dead.log", "--emulator", emulator.base_url
    )
    dead.process.kill()
    dead.process.wait(timeout=UNMOUNT_TIMEOUT)
    dead.log_file.close()
    try:
        mount = start_mount(
            mountpoint, tmp_path / "new.log", "--emulator", emulator.base_url
        )
    except AssertionError:
        subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)
        raise
    try:
        assert serves_mountpoint(mountpoint, mount.process.pid)
        assert "unmounted the stale mount" in mount.log()
        assert media_files(mountpoint)
    finally:
        assert mount.stop() == 0, mount.log()


def test_demo_script_mounts_and_ctrl_c_unmounts(tmp_path: Path) -> None:
    mountpoint = tmp_path / "toutv"
    script = Path(__file__).resolve().parents[2] / "scripts" / "demo"
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(script), str(mountpoint), "--cache-dir", str(tmp_path / "cache")],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: os.path.ismount(mountpoint), MOUNT_TIMEOUT, "the demo")
        assert media_files(mountpoint)
        assert "Press Ctrl-C to unmount." in log_path.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=UNMOUNT_TIMEOUT)
    assert status == 0, log_path.read_text()
    assert not os.path.ismount(mountpoint)
