"""The effect of each mount option, through real mounts of a loopback HLS server."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clitools import EXIT_TIMEOUT, HlsServer, toutvfs, wait_for

from toutvfs.daemon import mount_entry

pytestmark = pytest.mark.fuse


def status_of(mountpoint: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((mountpoint / ".toutvfs-status").read_text())
    return record


class Mounter:
    """Mounts in the background with given options and unmounts at the end."""

    def __init__(self, mountpoint: Path, log: Path) -> None:
        self.mountpoint = mountpoint
        self.log = log
        self.mounted = False

    def __call__(self, *args: str, log: bool = True) -> None:
        extra = ("--log-file", str(self.log)) if log else ()
        result = toutvfs(*args, *extra, str(self.mountpoint))
        assert result.returncode == 0, result.stderr
        self.mounted = True

    def unmount(self) -> None:
        if self.mounted:
            os.kill(status_of(self.mountpoint)["pid"], signal.SIGTERM)
            wait_for(
                lambda: not os.path.ismount(self.mountpoint), EXIT_TIMEOUT, "unmount"
            )
            self.mounted = False


@pytest.fixture
def mount(home: Path, mountpoint: Path, tmp_path: Path) -> Iterator[Mounter]:
    mounter = Mounter(mountpoint, tmp_path / "toutvfs.log")
    yield mounter
    mounter.unmount()


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ("all", ["320x180.ts", "640x360.ts"]),
        ("highest", ["640x360.ts"]),
        ("lowest", ["320x180.ts"]),
        ("200", ["320x180.ts"]),
        ("360p", ["320x180.ts", "640x360.ts"]),
        ("100", ["320x180.ts"]),
    ],
)
def test_versions(
    mount: Mounter, hls_server: HlsServer, versions: str, expected: list[str]
) -> None:
    mount("--hls", hls_server.url, "--versions", versions)
    assert sorted(os.listdir(mount.mountpoint / "master")) == expected


def test_cache_dir_and_size(
    mount: Mounter, hls_server: HlsServer, tmp_path: Path
) -> None:
    cache = tmp_path / "elsewhere"
    mount("--hls", hls_server.url, "--cache-dir", str(cache), "--cache-size", "3")
    (mount.mountpoint / "master" / "320x180.ts").read_bytes()
    # The last segment reaches the cache just after the read returns: wait
    # until no temporary file is left.
    deadline = time.monotonic() + 10.0
    while True:
        found = list((cache / "segments").rglob("*.part"))
        parts = [part for part in found if not part.name.startswith(".tmp-")]
        if len(parts) == len(found) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(parts) == 4
    record = status_of(mount.mountpoint)
    assert record["cache_limit"] == 3 * 1024 * 1024
    assert record["cache_bytes"] == sum(part.stat().st_size for part in parts)


def test_no_cache(mount: Mounter, hls_server: HlsServer, tmp_path: Path) -> None:
    cache = tmp_path / "unused"
    mount("--hls", hls_server.url, "--cache-dir", str(cache), "--no-cache")
    (mount.mountpoint / "master" / "320x180.ts").read_bytes()
    assert not cache.exists()
    record = status_of(mount.mountpoint)
    assert record["cache_limit"] == 0
    assert record["cache_bytes"] == 0


def test_dir_ttl_zero_lists_again(mount: Mounter, hls_server: HlsServer) -> None:
    mount("--hls", hls_server.url, "--dir-ttl", "0")
    for _ in range(3):
        os.listdir(mount.mountpoint / "master")
    assert hls_server.requests.count("/master.m3u8") == 3


def test_dir_ttl_keeps_listing(mount: Mounter, hls_server: HlsServer) -> None:
    mount("--hls", hls_server.url, "--dir-ttl", "600")
    for _ in range(3):
        os.listdir(mount.mountpoint / "master")
    assert hls_server.requests.count("/master.m3u8") == 1


class Concurrency:
    """The peak number of whole-segment downloads served at once.

    Size probes and keys are ranged or small requests, which the engine
    limits separately, so only GETs of whole ``.ts`` files count.
    """

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, path: str, byte_range: str | None) -> None:
        if byte_range is not None or not path.endswith(".ts"):
            return
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.05)  # keeps the request open so overlaps can show
        with self._lock:
            self.active -= 1


def test_max_connections_one(mount: Mounter, hls_server: HlsServer) -> None:
    concurrency = Concurrency()
    hls_server.on_request = concurrency
    mount("--hls", hls_server.url, "--max-connections", "1", "--no-cache")
    (mount.mountpoint / "master" / "640x360.ts").read_bytes()
    assert concurrency.peak == 1


def test_max_connections_default_overlaps(
    mount: Mounter, hls_server: HlsServer
) -> None:
    concurrency = Concurrency()
    hls_server.on_request = concurrency
    mount("--hls", hls_server.url, "--no-cache")
    (mount.mountpoint / "master" / "640x360.ts").read_bytes()
    assert concurrency.peak > 1


def test_log_level_warning_drops_info(mount: Mounter, hls_server: HlsServer) -> None:
    mount("--hls", hls_server.url, "--log-level", "warning")
    os.listdir(mount.mountpoint / "master")
    mount.unmount()
    assert mount.log.read_text() == ""


def test_default_log_file(mount: Mounter, hls_server: HlsServer, home: Path) -> None:
    mount("--hls", hls_server.url, log=False)
    log = home / "state" / "toutvfs" / "log" / "toutvfs.log"
    wait_for(log.exists, EXIT_TIMEOUT, "the default log file")
    assert "the mount responds" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_debug_http_is_redacted(
    mount: Mounter, hls_server: HlsServer, hls_media: Path
) -> None:
    (hls_media / "signed.m3u8").write_text(
        (hls_media / "master.m3u8").read_text().replace(".m3u8", ".m3u8?hdnea=s3cr3t")
    )
    url = hls_server.url.replace("master.m3u8", "signed.m3u8?token=t0ps3cr3t")
    mount("--hls", url, "--debug-http", "--log-level", "DEBUG")
    (mount.mountpoint / "signed" / "320x180.ts").read_bytes()
    mount.unmount()
    text = mount.log.read_text()
    assert "HTTP Request: GET" in text
    assert "signed.m3u8" in text
    assert "t0ps3cr3t" not in text
    assert "s3cr3t" not in text


def test_without_debug_http_no_requests_logged(
    mount: Mounter, hls_server: HlsServer
) -> None:
    mount("--hls", hls_server.url, "--log-level", "DEBUG")
    os.listdir(mount.mountpoint / "master")
    mount.unmount()
    assert "HTTP Request" not in mount.log.read_text()


def test_fuse_options(mount: Mounter, hls_server: HlsServer) -> None:
    mount("--hls", hls_server.url, "-o", "allow_other,noauto,readahead=2")
    entry = mount_entry(str(mount.mountpoint))
    assert entry is not None
    assert entry.fstype == "fuse.toutvfs"
    assert entry.source == "toutvfs"
    mounts = Path("/proc/self/mountinfo").read_text()
    line = next(row for row in mounts.splitlines() if f" {mount.mountpoint} " in row)
    assert "allow_other" in line
    assert " ro," in line or " ro " in line


def test_config_file(
    mount: Mounter, hls_server: HlsServer, home: Path, tmp_path: Path
) -> None:
    config = home / "config" / "toutvfs" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'versions = "lowest"\nhls = ["{hls_server.url}"]\nno_cache = true\n'
    )
    mount()
    assert os.listdir(mount.mountpoint / "master") == ["320x180.ts"]
    assert status_of(mount.mountpoint)["cache_limit"] == 0


def test_mount_helper_arguments(mount: Mounter, hls_server: HlsServer) -> None:
    """The arguments mount(8) gives a helper: source, mountpoint, -o, -t, -n."""
    result = toutvfs(
        "toutvfs",
        str(mount.mountpoint),
        "-o",
        f"rw,nosuid,nodev,noatime,hls={hls_server.url},log_file={mount.log}",
        "-t",
        "fuse.toutvfs",
        "-n",
    )
    assert result.returncode == 0, result.stderr
    mount.mounted = True
    assert sorted(os.listdir(mount.mountpoint / "master")) == [
        "320x180.ts",
        "640x360.ts",
    ]
    line = next(
        row
        for row in Path("/proc/self/mountinfo").read_text().splitlines()
        if f" {mount.mountpoint} " in row
    )
    assert "nosuid" in line.split(" - ")[0]
    assert "nodev" in line.split(" - ")[0]


def test_mount_fuse3_runs_toutvfs(
    mount: Mounter, hls_server: HlsServer, tmp_path: Path
) -> None:
    """``mount.fuse3`` (what mount -t fuse.toutvfs runs) finds toutvfs on PATH."""
    import subprocess
    import sys

    script = Path(sys.executable).parent / "toutvfs"
    assert script.exists(), f"{script} is missing: install the project with pip -e"
    result = subprocess.run(
        [
            "mount.fuse3",
            "toutvfs",
            str(mount.mountpoint),
            "-t",
            "toutvfs",
            "-o",
            f"hls={hls_server.url},versions=lowest,log_file={mount.log}",
        ],
        env=dict(os.environ, PATH=f"{script.parent}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    mount.mounted = True
    assert os.listdir(mount.mountpoint / "master") == ["320x180.ts"]
