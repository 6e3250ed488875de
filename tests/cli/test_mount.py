"""Real mounts started by the ``toutvfs`` command against a loopback HLS server."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from clitools import (
    EXIT_TIMEOUT,
    MOUNT_TIMEOUT,
    Foreground,
    HlsServer,
    start_foreground,
    toutvfs,
    unmount,
    wait_for,
)

pytestmark = pytest.mark.fuse


def status_of(mountpoint: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((mountpoint / ".toutvfs-status").read_text())
    return record


def mount_background(
    mountpoint: Path, log: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return toutvfs(*args, "--log-file", str(log), str(mountpoint))


def stop_daemon(mountpoint: Path, signum: int = signal.SIGTERM) -> None:
    pid = status_of(mountpoint)["pid"]
    os.kill(pid, signum)
    wait_for(lambda: not os.path.ismount(mountpoint), EXIT_TIMEOUT, "the unmount")
    wait_for(lambda: not _alive(pid), EXIT_TIMEOUT, "the daemon to exit")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_within_5_seconds(mount: Foreground) -> None:
    """Send SIGTERM and check the mount is gone, exit 0, within 5 s."""
    started = time.monotonic()
    status = mount.stop(signal.SIGTERM)
    elapsed = time.monotonic() - started
    assert status == 0, mount.log()
    assert elapsed < 5.0, f"the unmount took {elapsed:.1f} s"
    assert not os.path.ismount(mount.path)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference(server: HlsServer, index: int) -> bytes:
    """Decrypt variant *index* with the openssl command line, outside toutvfs."""
    directory = server.directory
    key = (directory / "media.key").read_bytes().hex()
    lines = (directory / f"v{index}.m3u8").read_text().splitlines()
    iv = next(line for line in lines if line.startswith("#EXT-X-KEY"))
    iv_hex = iv.split("IV=0x")[1].strip()
    output = b""
    for line in lines:
        if line and not line.startswith("#"):
            output += subprocess.run(
                ["openssl", "enc", "-aes-128-cbc", "-d", "-K", key, "-iv", iv_hex],
                input=(directory / line).read_bytes(),
                capture_output=True,
                check=True,
            ).stdout
    return output


# Background mode and its exit codes


def test_background_returns_once_mounted(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    log = tmp_path / "toutvfs.log"
    result = mount_background(mountpoint, log, "--hls", hls_server.url)
    assert result.returncode == 0, result.stderr + log.read_text()
    assert result.stderr == ""
    assert os.path.ismount(mountpoint)
    try:
        assert sorted(os.listdir(mountpoint)) == [".toutvfs-status", "master"]
        files = sorted(os.listdir(mountpoint / "master"))
        assert files == ["320x180.ts", "640x360.ts"]
        assert (mountpoint / "master" / "640x360.ts").read_bytes() == reference(
            hls_server, 0
        )
        assert status_of(mountpoint)["pid"] != os.getpid()
    finally:
        stop_daemon(mountpoint)
    assert "unmounted" in log.read_text()


def test_background_failure_exits_1(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    log = tmp_path / "toutvfs.log"
    result = mount_background(
        mountpoint, log, "--hls", hls_server.url, "-o", "no_such_fuse_option"
    )
    assert result.returncode == 1
    assert result.stderr == (
        "toutvfs: the mount failed: fuse_session_new() failed "
        "(fuse: unknown option(s): `-o no_such_fuse_option')\n"
    )
    assert not os.path.ismount(mountpoint)


def test_foreground_failure_exits_1(
    home: Path, hls_server: HlsServer, mountpoint: Path
) -> None:
    result = toutvfs(
        "-f", "--hls", hls_server.url, "-o", "no_such_fuse_option", str(mountpoint)
    )
    assert result.returncode == 1
    assert result.stderr.endswith(
        "fuse: unknown option(s): `-o no_such_fuse_option'\n"
        f"toutvfs: cannot mount {mountpoint}: fuse_session_new() failed\n"
    )
    assert "Traceback" not in result.stderr


def test_missing_mountpoint_exits_2(home: Path, tmp_path: Path) -> None:
    result = toutvfs("--hls", "http://127.0.0.1:9/m.m3u8", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert result.stderr == (
        f"toutvfs: mountpoint {tmp_path / 'absent'} does not exist; create it "
        f"with mkdir -p {tmp_path / 'absent'}\n"
    )


@pytest.mark.parametrize(("count", "entries"), [(1, "1 entry"), (2, "2 entries")])
def test_non_empty_mountpoint_exits_2(
    home: Path, mountpoint: Path, count: int, entries: str
) -> None:
    for index in range(count):
        (mountpoint / f"file-{index}").write_text("x")
    result = toutvfs("--hls", "http://127.0.0.1:9/m.m3u8", str(mountpoint))
    assert result.returncode == 2
    assert result.stderr == (
        f"toutvfs: mountpoint {mountpoint} is not empty ({entries}); "
        "use an empty directory\n"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--emulator", "notaurl"],
            "argument --emulator: invalid absolute http(s) URL value: 'notaurl'",
        ),
        (
            ["--hls", "/srv/master.m3u8"],
            "argument --hls: invalid absolute http(s) URL value: '/srv/master.m3u8'",
        ),
        (
            ["--demo", "--cache-size", "inf"],
            "argument --cache-size: invalid positive number value: 'inf'",
        ),
        (
            ["--demo", "--dir-ttl", "inf"],
            "argument --dir-ttl: invalid number of seconds value: 'inf'",
        ),
        (
            ["--demo", "--dir-ttl", "nan"],
            "argument --dir-ttl: invalid number of seconds value: 'nan'",
        ),
    ],
)
def test_invalid_option_value_exits_2(
    home: Path, mountpoint: Path, options: list[str], message: str
) -> None:
    result = toutvfs(*options, str(mountpoint))
    assert result.returncode == 2
    assert result.stderr == f"toutvfs: {message} (see toutvfs --help)\n"
    assert not os.path.ismount(mountpoint)


def test_demo_rejects_token_file(home: Path, mountpoint: Path) -> None:
    result = toutvfs("--token-file", "/nonexistent", "--demo", str(mountpoint))
    assert result.returncode == 2
    assert result.stderr == (
        "toutvfs: --demo logs in with its demo account; "
        "leave out --user and --token-file\n"
    )


# Credential variables and the log line that a demo mount writes for them,
# or None when it writes none.
DEMO_VARIABLE_CASES = [
    pytest.param(
        {
            "TOUTV_BEARER_TOKEN": "bearer-secret-5f1c",
            "TOUTVFS_USER": "someone-7d2e@example.test",
            "TOUTVFS_PASSWORD": "password-secret-9a4b",
        },
        "ignoring $TOUTV_BEARER_TOKEN, $TOUTVFS_USER, $TOUTVFS_PASSWORD, "
        "because --demo logs in with the emulator's demo account",
        id="all-three",
    ),
    pytest.param(
        {"TOUTV_BEARER_TOKEN": "", "TOUTVFS_PASSWORD": "password-secret-3c8f"},
        "ignoring $TOUTVFS_PASSWORD, because --demo logs in with the "
        "emulator's demo account",
        id="empty-token",
    ),
    pytest.param({}, None, id="none"),
]


@pytest.mark.parametrize(("variables", "expected"), DEMO_VARIABLE_CASES)
def test_demo_logs_ignored_variables(
    home: Path,
    mountpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    expected: str | None,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    mount = start_foreground(mountpoint, tmp_path / "toutvfs.log", "--demo")
    assert mount.stop() == 0
    text = mount.log()
    lines = [line for line in text.splitlines() if " ignoring $" in line]
    if expected is None:
        assert lines == []
    else:
        assert len(lines) == 1
        assert lines[0].endswith(f" INFO toutvfs.cli.serve: {expected}")
    assert "credentials: the demo account" in text
    for value in variables.values():
        if value:
            assert value not in text


def test_missing_token_file_exits_2(
    home: Path, mountpoint: Path, tmp_path: Path
) -> None:
    token_file = tmp_path / "absent"
    result = toutvfs("--token-file", str(token_file), str(mountpoint))
    assert result.returncode == 2
    assert result.stderr == (
        f"toutvfs: cannot read the token file {token_file}: No such file or "
        "directory; give --token-file a readable file with a bearer token on "
        "its first line\n"
    )


def test_second_instance_exits_1(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    log = tmp_path / "toutvfs.log"
    first = mount_background(mountpoint, log, "--hls", hls_server.url)
    assert first.returncode == 0, first.stderr
    try:
        second = mount_background(mountpoint, log, "--hls", hls_server.url)
        assert second.returncode == 1
        assert second.stderr == (
            f"toutvfs: {mountpoint} is already mounted by toutvfs; unmount it "
            f"with `fusermount3 -u {mountpoint}` first\n"
        )
    finally:
        stop_daemon(mountpoint)


def test_instance_lock_names_holder(home: Path, mountpoint: Path) -> None:
    from toutvfs.daemon import InstanceLock, MountpointError

    first = InstanceLock(str(mountpoint))
    first.acquire()
    try:
        script = (
            "import sys\n"
            "from toutvfs.daemon import InstanceLock, MountpointError\n"
            "try:\n"
            f"    InstanceLock({str(mountpoint)!r}).acquire()\n"
            "except MountpointError as exc:\n"
            "    print(exc)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert result.stdout == (
            f"another toutvfs (pid {os.getpid()}) is already mounting {mountpoint}\n"
        )
    finally:
        first.close()
    assert MountpointError is not None


# Stale mounts


def test_stale_mount_is_cleaned(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    dead = start_foreground(mountpoint, tmp_path / "dead.log", "--hls", hls_server.url)
    dead.process.kill()
    dead.process.wait(timeout=EXIT_TIMEOUT)
    with pytest.raises(OSError) as caught:
        os.listdir(mountpoint)
    assert caught.value.errno == errno.ENOTCONN

    log = tmp_path / "toutvfs.log"
    result = mount_background(mountpoint, log, "--hls", hls_server.url)
    assert result.returncode == 0, result.stderr + log.read_text()
    try:
        assert result.stderr == (
            f"toutvfs: unmounted the stale mount at {mountpoint} (its daemon had "
            "died)\n"
        )
        assert sorted(os.listdir(mountpoint / "master")) == ["320x180.ts", "640x360.ts"]
    finally:
        stop_daemon(mountpoint)


def test_busy_stale_mount_gives_command(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    dead = start_foreground(mountpoint, tmp_path / "dead.log", "--hls", hls_server.url)
    holder = subprocess.Popen(["sleep", "60"], cwd=mountpoint / "master")
    try:
        dead.process.kill()
        dead.process.wait(timeout=EXIT_TIMEOUT)
        result = toutvfs("--hls", hls_server.url, str(mountpoint))
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(
            f"toutvfs: {mountpoint} is a stale mount still in use"
        )
        assert lines[0].endswith(f"then run `fusermount3 -u -z {mountpoint}`")
    finally:
        holder.kill()
        holder.wait()
        unmount(mountpoint)


# Signals


def test_sigterm_with_blocked_open(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    mount = start_foreground(
        mountpoint, tmp_path / "toutvfs.log", "--hls", hls_server.url, "--no-cache"
    )
    assert sorted(os.listdir(mountpoint / "master"))
    hls_server.stalled.set()
    reader = subprocess.Popen(
        ["cat", str(mountpoint / "master" / "640x360.ts")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    requests = len(hls_server.requests)
    wait_for(
        lambda: len(hls_server.requests) > requests,
        MOUNT_TIMEOUT,
        "the open to reach the stalled server",
    )
    stop_within_5_seconds(mount)
    _, error = reader.communicate(timeout=EXIT_TIMEOUT)
    assert reader.returncode == 1
    assert error.startswith(b"cat: ")


# Reads one byte, then, on a line from standard input, 4 KiB in the middle of
# the third of four segments: a part that measuring the file did not fetch.
READER = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.read(fd, 1)
print("opened", flush=True)
sys.stdin.readline()
try:
    os.pread(fd, 4096, os.fstat(fd).st_size * 5 // 8)
except OSError as exc:
    print(exc.errno, flush=True)
else:
    print("read", flush=True)
"""


def test_sigterm_with_blocked_reads(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    mount = start_foreground(
        mountpoint,
        tmp_path / "toutvfs.log",
        "--hls",
        hls_server.url,
        "--no-cache",
        "--readahead",
        "1",
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(mountpoint / "master" / "640x360.ts")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None
    assert reader.stdout.readline() == "opened\n"
    hls_server.stalled.set()
    reader.stdin.write("\n")
    reader.stdin.flush()
    wait_for(
        lambda: status_of(mountpoint)["reads_waiting"] > 0,
        MOUNT_TIMEOUT,
        "a read to wait on the stalled server",
    )
    stop_within_5_seconds(mount)
    output, _ = reader.communicate(timeout=EXIT_TIMEOUT)
    assert output == f"{errno.EIO}\n"
    assert "failed: the mount is stopping" in mount.log()


def test_second_signal_exits_at_once(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    mount = start_foreground(
        mountpoint, tmp_path / "toutvfs.log", "--hls", hls_server.url
    )
    mount.process.send_signal(signal.SIGINT)
    mount.process.send_signal(signal.SIGINT)
    status = mount.stop(signal.SIGINT)
    assert status in (0, 130), mount.log()
    assert not os.path.ismount(mountpoint)


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3, 0.6])
def test_signal_during_startup(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path, delay: float
) -> None:
    log_path = tmp_path / "toutvfs.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "toutvfs",
                "-f",
                "--hls",
                hls_server.url,
                str(mountpoint),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    time.sleep(delay)  # the point of start-up hit; each delay is one case
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=EXIT_TIMEOUT)
    # -SIGTERM: the signal came before Python had installed its handlers,
    # when nothing was mounted yet.
    assert status in (0, 1, -signal.SIGTERM), log_path.read_text()
    assert not os.path.ismount(mountpoint)
    assert "Traceback" not in log_path.read_text()
    os.stat(mountpoint)


# Status


def test_status_command_output(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    log = tmp_path / "toutvfs.log"
    result = mount_background(
        mountpoint, log, "--hls", hls_server.url, "--cache-size", "64"
    )
    assert result.returncode == 0, result.stderr
    try:
        data = (mountpoint / "master" / "320x180.ts").read_bytes()
        assert data == reference(hls_server, 1)
        with (mountpoint / "master" / "640x360.ts").open("rb"):
            # Let the fetches that the open started end, so that none is
            # cancelled on its way and the request counts below agree.
            deadline = time.monotonic() + 10.0
            record = status_of(mountpoint)
            while record["fetches_in_flight"] and time.monotonic() < deadline:
                time.sleep(0.02)
                record = status_of(mountpoint)
            assert record["fetches_in_flight"] == 0
            # The record is made as the status file opens, before it counts.
            assert record["open_files"] == 1
        shown = toutvfs("status", str(mountpoint))
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        labels = [line.split("  ")[0] for line in lines]
        assert labels == [
            "mountpoint",
            "version",
            "uptime",
            "cache",
            "cache hit rate",
            "requests",
            "errors",
            "open files",
            "fetches in flight",
        ]
        record = status_of(mountpoint)
        assert record["cache_limit"] == 64 * 1024 * 1024
        assert record["cache_bytes"] >= len(data)
        assert record["requests"] == len(hls_server.requests)
        assert record["errors"] == 0
        assert record["open_files"] == 0
        assert record["fetches_in_flight"] == 0
        assert lines[3] == (
            f"cache              {record['cache_bytes'] / 1048576:.1f} MiB of 64.0 MiB"
        )
        assert lines[6] == "errors             0"
        as_json = toutvfs("status", "--json", str(mountpoint))
        assert json.loads(as_json.stdout)["pid"] == record["pid"]
    finally:
        stop_daemon(mountpoint)


def test_status_of_plain_directory(home: Path, tmp_path: Path) -> None:
    result = toutvfs("status", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        f"toutvfs status: {tmp_path} is not a toutvfs mount (no .toutvfs-status)\n"
    )


def test_status_of_missing_path(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = toutvfs("status", str(missing))
    assert result.returncode == 1
    assert result.stderr == (
        f"toutvfs status: {missing} does not exist or is not a directory\n"
    )


def test_status_counts_errors(
    home: Path, hls_server: HlsServer, mountpoint: Path, tmp_path: Path
) -> None:
    log = tmp_path / "toutvfs.log"
    result = mount_background(mountpoint, log, "--hls", hls_server.url, "--no-cache")
    assert result.returncode == 0, result.stderr
    try:
        assert os.listdir(mountpoint / "master")
        (hls_server.directory / "v1.m3u8").rename(hls_server.directory / "v1.hidden")
        try:
            with pytest.raises(OSError) as caught:
                (mountpoint / "master" / "320x180.ts").read_bytes()
        finally:
            (hls_server.directory / "v1.hidden").rename(
                hls_server.directory / "v1.m3u8"
            )
        assert caught.value.errno == errno.EIO
        record = status_of(mountpoint)
        assert record["errors"] == 1
        assert record["request_failures"] >= 1
        assert "opening /master/320x180.ts failed" in log.read_text()
    finally:
        stop_daemon(mountpoint)


def test_signal_to_waiting_parent(home: Path, mountpoint: Path, tmp_path: Path) -> None:
    """Ctrl-C while the background command waits stops the child too."""
    log = tmp_path / "toutvfs.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toutvfs",
            "--demo",
            "--log-file",
            str(log),
            str(mountpoint),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: log.exists() and "starting at" in log.read_text(),
        MOUNT_TIMEOUT,
        "the child to start",
    )
    process.send_signal(signal.SIGINT)
    output, error = process.communicate(timeout=EXIT_TIMEOUT)
    assert process.returncode == 1, error
    assert error == "toutvfs: stopped by SIGINT while starting\n"
    assert output == ""
    assert not os.path.ismount(mountpoint)
    text = log.read_text()
    assert "received SIGTERM, unmounting" in text or "stopped by SIGTERM" in text
