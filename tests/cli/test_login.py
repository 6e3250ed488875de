"""``toutvfs login`` and ``logout``, and mounts that use the stored token."""

from __future__ import annotations

import base64
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import EXIT_TIMEOUT, MOUNT_TIMEOUT, toutvfs, unmount, wait_for

from toutvfs.emulator import Emulator

DEMO_USER = "demo@toutvfs.test"


def make_jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def log_in_demo(emulator: Emulator, password: str) -> subprocess.CompletedProcess[str]:
    """Run ``toutvfs login`` for the emulator's demo account with *password*."""
    return toutvfs(
        "login",
        "--emulator",
        emulator.base_url,
        "--user",
        DEMO_USER,
        env=dict(os.environ, TOUTVFS_PASSWORD=password),
    )


def credentials_file(home: Path) -> Path:
    return home / "config" / "toutvfs" / "credentials.json"


def test_login_with_pasted_token(home: Path) -> None:
    token = make_jwt({"email": "ann@example.test", "exp": int(time.time()) + 3600})
    result = toutvfs("login", "--token", input=f"Bearer {token}\n")
    assert result.returncode == 0, result.stderr
    path = credentials_file(home)
    assert result.stdout.startswith(
        f"toutvfs: logged in as ann@example.test; token stored in {path}, valid until "
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["token"] == token
    assert stored["user"] == "ann@example.test"
    assert token not in result.stdout + result.stderr


def test_login_rejects_expired_token(home: Path) -> None:
    token = make_jwt({"sub": "x", "exp": int(time.time()) - 10})
    result = toutvfs("login", "--token", input=token + "\n")
    assert result.returncode == 2
    assert result.stderr == "toutvfs login: the pasted token has already expired\n"
    assert not credentials_file(home).exists()


def test_logout_removes_file(home: Path) -> None:
    token = make_jwt({"email": "ann@example.test"})
    assert toutvfs("login", "--token", input=token + "\n").returncode == 0
    result = toutvfs("logout")
    assert result.returncode == 0
    path = credentials_file(home)
    assert result.stdout == f"toutvfs: logged out ann@example.test; deleted {path}\n"
    assert not path.exists()
    again = toutvfs("logout")
    assert again.returncode == 0
    assert again.stdout == f"toutvfs: not logged in ({path} does not exist)\n"


def test_login_with_password(home: Path, emulator: Emulator) -> None:
    result = log_in_demo(emulator, "demo")
    assert result.returncode == 0, result.stderr
    path = credentials_file(home)
    text = path.read_text()
    assert "demo" not in json.loads(text)["token"].split(".")[0]
    assert '"password"' not in text
    assert json.loads(text)["user"] == DEMO_USER
    assert json.loads(text)["service"] == emulator.base_url
    assert json.loads(text)["refresh_token"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_login_wrong_password(home: Path, emulator: Emulator) -> None:
    result = log_in_demo(emulator, "wrong")
    assert result.returncode == 1
    assert result.stderr.startswith("toutvfs login: login failed: ")
    assert len(result.stderr.splitlines()) == 1
    assert "wrong" not in result.stderr
    assert not credentials_file(home).exists()


def mount_emulator(emulator: Emulator, mountpoint: Path, log: Path) -> Iterator[Path]:
    result = toutvfs(
        "--emulator", emulator.base_url, "--log-file", str(log), str(mountpoint)
    )
    assert result.returncode == 0, result.stderr
    try:
        yield mountpoint
    finally:
        stop_mount(mountpoint)


def stop_mount(mountpoint: Path) -> None:
    """Stop the mount at *mountpoint* with SIGTERM and wait until it is gone."""
    record = json.loads((mountpoint / ".toutvfs-status").read_text())
    os.kill(record["pid"], signal.SIGTERM)
    wait_for(lambda: not os.path.ismount(mountpoint), EXIT_TIMEOUT, "unmount")


def read_first_media(root: Path) -> int:
    """Read 4 KiB of the first media file under *root*; return the count read."""
    files = sorted(root.glob("shows/*/*/*/*.ts"))
    assert files
    with files[0].open("rb") as stream:
        return len(stream.read(4096))


def test_mount_uses_stored_login(
    home: Path, emulator: Emulator, mountpoint: Path, tmp_path: Path
) -> None:
    login = log_in_demo(emulator, "demo")
    assert login.returncode == 0, login.stderr
    log = tmp_path / "toutvfs.log"
    for root in mount_emulator(emulator, mountpoint, log):
        assert read_first_media(root) == 4096
    text = log.read_text()
    assert f"credentials: stored login of {DEMO_USER}" in text
    token = json.loads(credentials_file(home).read_text())["token"]
    assert token not in text


def test_mount_anonymous_after_logout(
    home: Path, emulator: Emulator, mountpoint: Path, tmp_path: Path
) -> None:
    assert toutvfs("logout").returncode == 0
    log = tmp_path / "toutvfs.log"
    for root in mount_emulator(emulator, mountpoint, log):
        assert sorted(root.glob("shows/*"))
    assert "credentials: none (anonymous)" in log.read_text()


def test_mount_with_expired_stored_token(
    home: Path, emulator: Emulator, mountpoint: Path
) -> None:
    token = make_jwt({"email": "ann@example.test", "exp": int(time.time()) + 3600})
    assert (
        toutvfs(
            "login", "--token", "--emulator", emulator.base_url, input=token + "\n"
        ).returncode
        == 0
    )
    path = credentials_file(home)
    stored = json.loads(path.read_text())
    stored["expires"] = time.time() - 5
    path.write_text(json.dumps(stored))
    result = toutvfs("--emulator", emulator.base_url, str(mountpoint))
    assert result.returncode == 2
    assert result.stderr == (
        f"toutvfs: the token stored for ann@example.test in {path} has expired; "
        "run `toutvfs login` again\n"
    )
    assert not os.path.ismount(mountpoint)


def store_expired_login(
    home: Path, emulator: Emulator, refresh_token: str | None = None
) -> dict[str, object]:
    """Log in as the demo user, then mark the stored token as expired.

    *refresh_token*, when given, replaces the stored refresh token. Returns
    the stored credentials as written.
    """
    login = log_in_demo(emulator, "demo")
    assert login.returncode == 0, login.stderr
    path = credentials_file(home)
    stored = json.loads(path.read_text())
    stored["expires"] = time.time() - 5
    if refresh_token is not None:
        stored["refresh_token"] = refresh_token
    path.write_text(json.dumps(stored))
    return dict(stored)


def test_mount_refreshes_expired_stored_token(
    home: Path, emulator: Emulator, mountpoint: Path, tmp_path: Path
) -> None:
    before = store_expired_login(home, emulator)
    path = credentials_file(home)
    log = tmp_path / "toutvfs.log"
    for root in mount_emulator(emulator, mountpoint, log):
        assert read_first_media(root) == 4096
    after = json.loads(path.read_text())
    assert after["refresh_token"] != before["refresh_token"]
    assert after["expires"] > time.time()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = log.read_text()
    assert f"token of {DEMO_USER} refreshed" in text
    assert after["refresh_token"] not in text
    assert before["refresh_token"] not in text


def test_rejected_refresh_token_listing_is_eacces(
    home: Path, emulator: Emulator, mountpoint: Path, tmp_path: Path
) -> None:
    stored = store_expired_login(
        home, emulator, refresh_token="refresh-token-the-service-rejects"
    )
    log = tmp_path / "toutvfs.log"
    episode = "shows/Les Héritiers du fleuve/Saison 1/S01E01 Le départ"
    for root in mount_emulator(emulator, mountpoint, log):
        # Listing the episode validates its media, which needs the account.
        with pytest.raises(OSError) as caught:
            os.listdir(root / episode)
        assert caught.value.errno == errno.EACCES
        assert os.path.isdir(root / "shows")
    text = log.read_text()
    lines = [line for line in text.splitlines() if episode in line]
    assert len(lines) == 1, text
    assert " ERROR " in lines[0]
    assert "its refresh token was rejected" in lines[0]
    # The mount tried the login as it started, and logged the failure once.
    early = [line for line in text.splitlines() if "cannot log in yet" in line]
    assert len(early) == 1, text
    assert "rejected the refresh token" in early[0]
    assert lines[0].endswith("run `toutvfs login`, then mount again")
    assert stored["refresh_token"] not in text


def test_two_mounts_refresh_stored_token_once(
    home: Path, emulator: Emulator, mountpoint: Path, tmp_path: Path
) -> None:
    before = store_expired_login(home, emulator)
    since = len(emulator.request_log)
    second = tmp_path / "mnt2"
    second.mkdir()
    roots = (mountpoint, second)
    logs = (tmp_path / "first.log", tmp_path / "second.log")

    # Both mounts start together and renew the expired token as they start.
    # Only one of them may send the single-use refresh token.
    starts = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "toutvfs",
                "--emulator",
                emulator.base_url,
                "--log-file",
                str(log),
                str(root),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root, log in zip(roots, logs, strict=True)
    ]
    episode = "shows/Les Héritiers du fleuve/Saison 1/S01E01 Le départ"
    listings = []
    try:
        for start in starts:
            _, stderr = start.communicate(timeout=MOUNT_TIMEOUT)
            assert start.returncode == 0, stderr
        for root in roots:
            # Listing the episode validates its media, which needs the account.
            listings.append(sorted(os.listdir(root / episode)))
        for root in roots:
            stop_mount(root)
    finally:
        unmount(second)

    expected = [
        "320x180.fr.vtt",
        "320x180.ts",
        "640x360.fr.vtt",
        "640x360.ts",
        "S01E01 Le départ.nfo",
        "thumb.jpg",
    ]
    assert listings == [expected, expected]
    refreshes = [r for r in emulator.request_log[since:] if r.endpoint == "token"]
    assert len(refreshes) == 1
    after = json.loads(credentials_file(home).read_text())
    assert after["refresh_token"] != before["refresh_token"]
    assert after["expires"] > time.time()

    texts = [log.read_text() for log in logs]
    refreshed = f"token of {DEMO_USER} refreshed"
    renewed_elsewhere = f"token of {DEMO_USER} renewed by another process"
    assert sum(text.count(refreshed) for text in texts) == 1
    # The other mount either waited for the lock and took the new token, or
    # started after the renewal and read the new token from the file.
    assert sum(text.count(renewed_elsewhere) for text in texts) <= 1
    for text in texts:
        assert "cannot log in yet" not in text
        assert after["refresh_token"] not in text
