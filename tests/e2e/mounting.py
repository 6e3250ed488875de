"""Helpers that mount toutvfs for real and build reference bytes without it."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from toutvfs.fs.control import STATUS_NAME

# Generous bounds that catch hangs; nothing here measures speed.
MOUNT_TIMEOUT = 120.0
UNMOUNT_TIMEOUT = 20.0


def wait_for(condition: object, timeout: float, what: str) -> None:
    """Poll *condition* every 50 ms until it is true, failing after *timeout*."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Mount:
    """A running ``toutvfs`` process and its mountpoint."""

    path: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: BinaryIO

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the process and return its exit status once unmounted."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            status = self.process.wait(timeout=UNMOUNT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            subprocess.run(["fusermount3", "-u", "-z", str(self.path)], check=False)
            raise AssertionError("toutvfs did not exit after the stop signal") from None
        finally:
            self.log_file.close()
        return status


def start_mount(
    mountpoint: Path, log_path: Path, *args: str, password: str = "demo"
) -> Mount:
    """Start ``toutvfs ARGS MOUNTPOINT`` and wait until the mount answers.

    The mount gets an empty cache directory of its own beside *log_path*,
    unless *args* name one, so no test reads what another one cached.
    *password* goes to the mount in ``$TOUTVFS_PASSWORD``.
    """
    mountpoint.mkdir(exist_ok=True)
    if "--cache-dir" not in args and "--no-cache" not in args:
        args = ("--cache-dir", str(log_path.with_suffix(".cache")), *args)
    log_file = log_path.open("wb")
    env = dict(os.environ, TOUTVFS_PASSWORD=password)
    process = subprocess.Popen(
        [sys.executable, "-m", "toutvfs", "-f", *args, str(mountpoint)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    mount = Mount(mountpoint, process, log_path, log_file)

    def ready() -> bool:
        if process.poll() is not None:
            log_file.close()
            raise AssertionError(f"toutvfs exited early:\n{mount.log()}")
        return serves_mountpoint(mountpoint, process.pid)

    try:
        wait_for(ready, MOUNT_TIMEOUT, f"toutvfs (pid {process.pid}) to mount")
    except AssertionError:
        if process.poll() is None:
            process.kill()
            process.wait()
            log_file.close()
            _unmount_if_stale(mountpoint)
        raise
    return mount


def _unmount_if_stale(mountpoint: Path) -> None:
    """Detach a mount whose daemon died, such as one killed after a timeout."""
    try:
        os.listdir(mountpoint)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)


def serves_mountpoint(mountpoint: Path, pid: int) -> bool:
    """Return whether the toutvfs process *pid* serves *mountpoint*.

    A mountpoint whose device differs from its parent's is a mount, but it
    may be a stale one left by an earlier process. Only the process that
    serves the mount writes its own pid into the status file at the root.
    """
    try:
        if os.stat(mountpoint).st_dev == os.stat(mountpoint.parent).st_dev:
            return False
        status = json.loads((mountpoint / STATUS_NAME).read_bytes())
    except (OSError, ValueError):
        # ENOTCONN from a stale mount, ENOENT before the mount, or a status
        # file of another program.
        return False
    return isinstance(status, dict) and status.get("pid") == pid


def ffprobe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(result.stdout))


def _attributes(line: str) -> dict[str, str]:
    """Parse the attribute list of an HLS tag such as ``#EXT-X-KEY:...``."""
    values: dict[str, str] = {}
    text = line.split(":", 1)[1]
    for match in re.finditer(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', text):
        values[match.group(1)] = match.group(2).strip('"')
    return values


class UnsupportedEncryption(Exception):
    """A playlist uses a ``METHOD`` that `openssl_reference` cannot decrypt."""


def _get(url: str, byterange: tuple[int, int] | None = None) -> bytes:
    """Fetch *url*, or only ``(offset, length)`` of it with a Range request."""
    request = urllib.request.Request(url)
    if byterange is not None:
        offset, length = byterange
        request.add_header("Range", f"bytes={offset}-{offset + length - 1}")
    with urllib.request.urlopen(request, timeout=30) as response:
        data = bytes(response.read())
        if byterange is not None:
            assert response.status == 206, f"{url}: status {response.status}"
            assert len(data) == byterange[1], f"{url}: {len(data)} bytes"
        return data


def anonymous_master_url(base_url: str, id_media: str) -> str:
    """Return the signed master playlist URL of an anonymous validation."""
    query = urllib.parse.urlencode({"idMedia": id_media, "tech": "hls"})
    body = json.loads(_get(f"{base_url}/media/validation/v2/?{query}"))
    assert body["errorCode"] == 0, body
    return str(body["url"])


def openssl_decrypt(data: bytes, key: bytes, iv_hex: str) -> bytes:
    """Decrypt AES-128-CBC with the ``openssl enc`` command line, unpadded."""
    command = ["openssl", "enc", "-aes-128-cbc", "-d", "-K", key.hex(), "-iv", iv_hex]
    result = subprocess.run(
        command, input=data, capture_output=True, check=True, timeout=60
    )
    return result.stdout


def _byterange(value: str, ends: dict[str, int], url: str) -> tuple[int, int]:
    """Return ``(offset, length)`` of an ``EXT-X-BYTERANGE`` value for *url*.

    Without ``@offset`` the range starts where the previous range of the
    same resource ended.
    """
    length, _, offset = value.partition("@")
    start = int(offset) if offset else ends.get(url, 0)
    ends[url] = start + int(length)
    return start, int(length)


def openssl_reference(master_url: str, resolution: str) -> bytes:
    """Return the bytes a variant should read as, decrypted by ``openssl``.

    Parses the playlists line by line with plain ``urllib`` and decrypts
    each segment with the ``openssl enc`` command line, so that no code of
    toutvfs's reader is involved. Handles AES-128 with explicit or implicit
    IVs, key rotation, ``METHOD=NONE``, clear segments, an ``EXT-X-MAP``
    init section (written once, before the segments) and
    ``EXT-X-BYTERANGE`` sub-ranges, each decrypted on its own.

    Raises:
        UnsupportedEncryption: a key tag has a method other than AES-128
            or NONE, such as SAMPLE-AES.
    """
    master = _get(master_url).decode()
    lines = master.splitlines()
    media_url = None
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            if _attributes(line).get("RESOLUTION") == resolution:
                media_url = urllib.parse.urljoin(master_url, lines[index + 1])
    assert media_url is not None, f"no variant {resolution} in the master playlist"
    return _media_reference(media_url)


def _media_reference(media_url: str) -> bytes:
    playlist = _get(media_url).decode().splitlines()
    sequence = 0
    key: tuple[bytes, str | None] | None = None
    init_section: tuple[str, tuple[int, int] | None] | None = None
    byterange: str | None = None
    range_ends: dict[str, int] = {}
    output = bytearray()
    for line in playlist:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-KEY:"):
            attrs = _attributes(line)
            if attrs["METHOD"] == "NONE":
                key = None
            elif attrs["METHOD"] == "AES-128":
                key_url = urllib.parse.urljoin(media_url, attrs["URI"])
                key = (_get(key_url), attrs.get("IV"))
            else:
                raise UnsupportedEncryption(attrs["METHOD"])
        elif line.startswith("#EXT-X-MAP:"):
            # NOTE: an init section that follows a key is encrypted. The
            # emulator serves init sections clear, so none is decrypted here.
            assert key is None, "encrypted EXT-X-MAP is not handled"
            attrs = _attributes(line)
            map_url = urllib.parse.urljoin(media_url, attrs["URI"])
            map_range = None
            if "BYTERANGE" in attrs:
                map_range = _byterange(attrs["BYTERANGE"], range_ends, map_url)
            if (map_url, map_range) != init_section:
                init_section = (map_url, map_range)
                output += _get(map_url, map_range)
        elif line.startswith("#EXT-X-BYTERANGE:"):
            byterange = line.split(":", 1)[1]
        elif line and not line.startswith("#"):
            url = urllib.parse.urljoin(media_url, line)
            part = None if byterange is None else _byterange(byterange, range_ends, url)
            byterange = None
            data = _get(url, part)
            if key is None:
                output += data
            else:
                iv = key[1][2:] if key[1] else f"{sequence:032x}"
                output += openssl_decrypt(data, key[0], iv)
            sequence += 1
    return bytes(output)
