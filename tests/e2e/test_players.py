"""End-to-end tests: mpv and VLC play media files from the start and after a seek."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from toutvfs.emulator import Emulator

from .mounting import Mount, start_mount

pytestmark = pytest.mark.fuse

EPISODE = "shows/Les Héritiers du fleuve/Saison 1/S01E02 Marée haute"
PLAYER_TIMEOUT = 120


@pytest.fixture(scope="module")
def shared_mount() -> Iterator[Mount]:
    """A mount that other users can read, because VLC refuses to run as root.

    It lives outside pytest's temporary directory, whose mode 0700 would keep
    the other user out.
    """
    work = Path(tempfile.mkdtemp(prefix="toutvfs-players-"))
    os.chmod(work, 0o755)
    with Emulator() as emulator:
        mount = start_mount(
            work / "mnt",
            work / "toutvfs.log",
            "--emulator",
            emulator.base_url,
            "--user",
            "demo@toutvfs.test",
            "-o",
            "allow_other",
        )
        try:
            yield mount
        finally:
            assert mount.stop() == 0, mount.log()
            shutil.rmtree(work, ignore_errors=True)


def media(mount: Mount) -> Path:
    return mount.path / EPISODE / "640x360.ts"


def mpv(path: Path, *options: str) -> str:
    result = subprocess.run(
        ["mpv", "--no-config", "--vo=null", "--ao=null", *options, str(path)],
        capture_output=True,
        text=True,
        timeout=PLAYER_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def cvlc(path: Path, *options: str) -> str:
    command = [
        "cvlc",
        "-vv",
        "--intf=dummy",
        "--vout=dummy",
        "--aout=dummy",
        "--play-and-exit",
        "--run-time=2",
        # VLC 3.0 with dummy outputs starts no audio or video decoder when it
        # loads a sibling captions file, for local files too; mpv's test
        # covers the captions.
        "--no-sub-autodetect-file",
        *options,
        str(path),
    ]
    if os.getuid() == 0:
        command = ["runuser", "-u", "nobody", "--", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=PLAYER_TIMEOUT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_mpv_plays_from_start(shared_mount: Mount) -> None:
    output = mpv(media(shared_mount), "--length=2")
    assert "Video --vid=1 (h264 640x360" in output
    assert "Audio --aid=1 (aac" in output
    assert "Exiting... (End of file)" in output


def test_mpv_plays_after_seek(shared_mount: Mount) -> None:
    output = mpv(media(shared_mount), "--start=30", "--length=2")
    assert "AV: 00:00:3" in output
    assert "Exiting... (End of file)" in output


def test_vlc_plays_from_start(shared_mount: Mount) -> None:
    output = cvlc(media(shared_mount))
    assert 'using video decoder module "avcodec"' in output
    assert "using audio decoder module" in output
    assert "main input debug: EOF reached" in output


def test_vlc_plays_after_seek(shared_mount: Mount) -> None:
    output = cvlc(media(shared_mount), "--start-time=30")
    assert 'using video decoder module "avcodec"' in output
    assert "using audio decoder module" in output
    assert "main input debug: EOF reached" in output
