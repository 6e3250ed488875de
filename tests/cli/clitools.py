"""Helpers of the command-line tests: HLS media, a loopback HLS server, mounts.

The media are made once per session by ffmpeg's HLS muxer (AES-128, two
variants, 2-second segments) and served by `HlsServer`, a small HTTP server
on 127.0.0.1 that a test can stall (requests wait until released) or stop.
Mounts run ``python -m toutvfs`` as a subprocess, as a user would.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Generous bounds that catch hangs; nothing here measures speed.
MOUNT_TIMEOUT = 60.0
EXIT_TIMEOUT = 20.0

SEGMENT_SECONDS = 2
MEDIA_SECONDS = 8
VARIANTS = (("640x360", "600k"), ("320x180", "200k"))
MASTER_NAME = "master.m3u8"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll *condition* every 20 ms until it is true, failing after *timeout*."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def encode_media(directory: Path) -> None:
    key = os.urandom(16)
    (directory / "media.key").write_bytes(key)
    (directory / "key.info").write_text(
        f"media.key\n{directory / 'media.key'}\n{os.urandom(16).hex()}\n"
    )
    lines = ["#EXTM3U"]
    for index, (size, rate) in enumerate(VARIANTS):
        width, height = size.split("x")
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc=size={size}:rate=25",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                str(MEDIA_SECONDS),
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-b:v",
                rate,
                "-g",
                "50",
                "-keyint_min",
                "50",
                "-sc_threshold",
                "0",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "-f",
                "hls",
                "-hls_time",
                str(SEGMENT_SECONDS),
                "-hls_playlist_type",
                "vod",
                "-hls_key_info_file",
                str(directory / "key.info"),
                "-hls_segment_filename",
                str(directory / f"v{index}_%03d.ts"),
                str(directory / f"v{index}.m3u8"),
            ],
            check=True,
        )
        bandwidth = int(rate.removesuffix("k")) * 1000 + 64000
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},"
            'CODECS="avc1.42c01e,mp4a.40.2"'
        )
        lines.append(f"v{index}.m3u8")
    (directory / MASTER_NAME).write_text("\n".join(lines) + "\n")


@dataclass
class HlsServer:
    """A loopback HTTP server of one directory that tests can stall or stop.

    Attributes:
        requests: paths requested so far, in order.
    """

    directory: Path
    port: int = 0
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{MASTER_NAME}"

    def start(self) -> None:
        owner = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(owner.directory), **kwargs)  # type: ignore[arg-type]

            def send_head(self):  # type: ignore[no-untyped-def]
                owner.requests.append(self.path)
                if owner.stalled.is_set():
                    # Bounded: a stalled request waits at most 60 s.
                    owner.release.wait(timeout=60)
                return super().send_head()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                # A client that goes away mid-response (a cancelled read)
                # is expected here; anything else still shows.
                error = sys.exc_info()[1]
                if not isinstance(error, ConnectionError):
                    super().handle_error(request, client_address)  # type: ignore[arg-type]

        server = Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self.release.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def toutvfs(
    *args: str, timeout: float = MOUNT_TIMEOUT, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m toutvfs ARGS`` to completion and return the result."""
    return subprocess.run(
        [sys.executable, "-m", "toutvfs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def unmount(path: Path) -> None:
    """Unmount *path* if it is still mounted (cleanup after a failed test)."""
    if os.path.ismount(path):
        subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False)


@dataclass
class Foreground:
    """A ``toutvfs -f`` process and its mountpoint."""

    path: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            unmount(self.path)
            raise AssertionError("toutvfs did not exit after the stop signal") from None


def start_foreground(mountpoint: Path, log_path: Path, *args: str) -> Foreground:
    """Start ``toutvfs -f ARGS MOUNTPOINT`` and wait until the mount answers."""
    mountpoint.mkdir(exist_ok=True)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "toutvfs", "-f", *args, str(mountpoint)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    mount = Foreground(mountpoint, process, log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"toutvfs exited early:\n{mount.log()}")
        return os.path.ismount(mountpoint) and "the mount answers" in mount.log()

    try:
        wait_for(ready, MOUNT_TIMEOUT, "the mount")
    except BaseException:
        mount.stop(signal.SIGKILL)
        unmount(mountpoint)
        raise
    return mount


def which(program: str) -> str:
    found = shutil.which(program)
    assert found is not None, f"{program} is not installed"
    return found
