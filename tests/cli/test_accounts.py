"""Unit tests of stored credentials and the order credentials are chosen in."""

from __future__ import annotations

import base64
import dataclasses
import errno
import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from toutvfs.accounts import (
    CredentialsError,
    CredentialsStore,
    StoredCredentials,
    choose_credentials,
    credentials_locked,
    load_credentials,
    lock_path,
    log_in,
    remove_credentials,
    save_credentials,
)
from toutvfs.client import (
    Anonymous,
    BearerToken,
    PasswordLogin,
    RefreshableToken,
    Session,
)
from toutvfs.config import Config
from toutvfs.emulator import Emulator
from toutvfs.errors import InvalidCredentials, TokenStoreError


def make_jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


CONFIG = Config()


def stored(expires: float | None = None) -> StoredCredentials:
    return StoredCredentials(
        user="ann@example.test",
        token=make_jwt({"email": "ann@example.test"}),
        expires=expires,
        service=CONFIG.api_base,
    )


def test_saved_file_has_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "config" / "credentials.json"
    save_credentials(path, stored())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_credentials(path) == stored()


def test_saved_file_has_no_password(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    save_credentials(path, stored())
    assert set(json.loads(path.read_text())) == {
        "user",
        "token",
        "expires",
        "service",
        "refresh_token",
    }


def test_save_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    save_credentials(path, stored())
    save_credentials(path, stored(expires=5.0))
    assert load_credentials(path) == stored(expires=5.0)
    assert os.listdir(tmp_path) == ["credentials.json"]


def test_load_rejects_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    save_credentials(path, stored())
    path.chmod(0o644)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(path)
    assert "readable by other users (mode 644)" in str(caught.value)


def test_load_rejects_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{}")
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(path)
    assert "is not a credentials file" in str(caught.value)


def test_remove_reports_missing(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    assert remove_credentials(path) is False
    save_credentials(path, stored())
    assert remove_credentials(path) is True
    assert not path.exists()


def choose(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "user": None,
        "token_file": None,
        "password": None,
        "environ": {},
        "stored_path": tmp_path / "credentials.json",
        "config": CONFIG,
    }
    arguments.update(overrides)
    return choose_credentials(**arguments)  # type: ignore[arg-type]


def test_choose_anonymous_without_anything(tmp_path: Path) -> None:
    chosen = choose(tmp_path)
    assert isinstance(chosen.source, Anonymous)
    assert chosen.origin == "none (anonymous)"


def test_choose_stored_file(tmp_path: Path) -> None:
    save_credentials(tmp_path / "credentials.json", stored())
    chosen = choose(tmp_path)
    assert isinstance(chosen.source, BearerToken)
    assert chosen.origin == "stored login of ann@example.test"


def test_choose_environment_before_stored(tmp_path: Path) -> None:
    save_credentials(tmp_path / "credentials.json", stored())
    chosen = choose(
        tmp_path, environ={"TOUTVFS_USER": "bob@example.test", "TOUTVFS_PASSWORD": "x"}
    )
    assert isinstance(chosen.source, PasswordLogin)
    assert chosen.source.user == "bob@example.test"
    assert chosen.origin == "$TOUTVFS_USER"


def test_choose_env_token_before_env_user(tmp_path: Path) -> None:
    chosen = choose(
        tmp_path,
        environ={
            "TOUTV_BEARER_TOKEN": make_jwt({"sub": "s1"}),
            "TOUTVFS_USER": "bob@example.test",
            "TOUTVFS_PASSWORD": "x",
        },
    )
    assert isinstance(chosen.source, BearerToken)
    assert chosen.origin == "$TOUTV_BEARER_TOKEN"


def test_choose_options_before_environment(tmp_path: Path) -> None:
    chosen = choose(
        tmp_path,
        user="cat@example.test",
        environ={"TOUTV_BEARER_TOKEN": make_jwt({}), "TOUTVFS_PASSWORD": "pw"},
    )
    assert isinstance(chosen.source, PasswordLogin)
    assert chosen.origin == "--user cat@example.test"


def test_choose_token_file_first(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(make_jwt({"sub": "s2"}) + "\n")
    chosen = choose(tmp_path, token_file=token_file, user="cat@example.test")
    assert isinstance(chosen.source, BearerToken)
    assert chosen.origin == f"token file {token_file}"


def test_choose_missing_token_file_fails(tmp_path: Path) -> None:
    token_file = tmp_path / "absent"
    with pytest.raises(CredentialsError) as caught:
        choose(tmp_path, token_file=token_file)
    assert str(caught.value) == (
        f"cannot read the token file {token_file}: No such file or directory; "
        "give --token-file a readable file with a bearer token on its first line"
    )


def test_choose_user_without_password_fails(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as caught:
        choose(tmp_path, user="cat@example.test")
    assert "needs a password: set $TOUTVFS_PASSWORD" in str(caught.value)


def test_choose_expired_stored_token_fails(tmp_path: Path) -> None:
    save_credentials(tmp_path / "credentials.json", stored(expires=time.time() - 10))
    with pytest.raises(CredentialsError) as caught:
        choose(tmp_path)
    assert "has expired; run `toutvfs login` again" in str(caught.value)


def test_choose_expired_token_with_refresh_token(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    expired = dataclasses.replace(
        stored(expires=time.time() - 10), refresh_token="refresh-1"
    )
    save_credentials(path, expired)
    assert load_credentials(path) == expired
    chosen = choose(tmp_path)
    assert isinstance(chosen.source, RefreshableToken)
    assert chosen.source.renewable is True
    assert chosen.origin == "stored login of ann@example.test"


def test_choose_stored_token_of_other_service(tmp_path: Path) -> None:
    save_credentials(tmp_path / "credentials.json", stored())
    chosen = choose(tmp_path, config=Config.for_emulator("http://127.0.0.1:9"))
    assert isinstance(chosen.source, Anonymous)


# Renewal of a stored login shared by several processes.

DEMO_USER = "demo@toutvfs.test"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


async def store_expired_demo_login(emulator: Emulator, path: Path) -> StoredCredentials:
    """Log in to *emulator* as the demo user and store the login as expired."""
    config = Config.for_emulator(emulator.base_url)
    login = await log_in(config, DEMO_USER, "demo")
    expired = dataclasses.replace(login, expires=time.time() - 5)
    save_credentials(path, expired)
    return expired


def token_requests(emulator: Emulator, since: int) -> int:
    return sum(1 for r in emulator.request_log[since:] if r.endpoint == "token")


def stored_login_source(emulator: Emulator, path: Path) -> RefreshableToken:
    """Return the token source that a mount of *emulator* makes of *path*."""
    config = Config.for_emulator(emulator.base_url)
    source = choose(path.parent, config=config).source
    assert isinstance(source, RefreshableToken)
    return source


async def bearer_in_session(emulator: Emulator, source: RefreshableToken) -> str | None:
    """Return the bearer token of *source*, renewed in a session of its own."""
    config = Config.for_emulator(emulator.base_url)
    async with httpx.AsyncClient() as http:
        session = Session(config, http, source)
        return await source.bearer(session.login_flow)


async def renew_stored_login(emulator: Emulator, path: Path) -> str | None:
    """Renew the login stored at *path* as a mount would."""
    return await bearer_in_session(emulator, stored_login_source(emulator, path))


async def test_concurrent_renewals_refresh_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "credentials.json"
    expired = await store_expired_demo_login(emulator, path)
    since = len(emulator.request_log)
    tokens: list[str | None] = []

    async def renew() -> None:
        tokens.append(await renew_stored_login(emulator, path))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(renew)
        nursery.start_soon(renew)
    assert token_requests(emulator, since) == 1
    assert len(tokens) == 2
    assert tokens[0] == tokens[1]
    renewed = load_credentials(path)
    assert renewed is not None
    assert renewed.token == tokens[0]
    assert renewed.token != expired.token
    assert renewed.refresh_token != expired.refresh_token
    assert renewed.expired() is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock_path(path).stat().st_mode) == 0o600


async def test_reused_refresh_token_is_rejected(
    emulator: Emulator, tmp_path: Path
) -> None:
    # The emulator accepts a refresh token once, as the concurrent renewal
    # test needs: a second renewal without the lock would fail.
    path = tmp_path / "credentials.json"
    expired = await store_expired_demo_login(emulator, path)
    assert await renew_stored_login(emulator, path) is not None
    save_credentials(path, expired)
    with pytest.raises(InvalidCredentials, match="rejected the refresh token"):
        await renew_stored_login(emulator, path)


async def test_renewal_takes_token_stored_meanwhile(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "credentials.json"
    await store_expired_demo_login(emulator, path)
    late = stored_login_source(emulator, path)
    renewed = await renew_stored_login(emulator, path)
    since = len(emulator.request_log)
    token = await bearer_in_session(emulator, late)
    assert token == renewed
    assert token_requests(emulator, since) == 0
    assert late.refreshes == 0


async def test_renewal_uses_refresh_token_stored_meanwhile(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "credentials.json"
    await store_expired_demo_login(emulator, path)
    late = stored_login_source(emulator, path)
    await renew_stored_login(emulator, path)
    # The token renewed by the other process expires too, so the late source
    # must refresh, with the refresh token stored beside that token.
    renewed = load_credentials(path)
    assert renewed is not None
    save_credentials(path, dataclasses.replace(renewed, expires=time.time() - 5))
    since = len(emulator.request_log)
    token = await bearer_in_session(emulator, late)
    assert token_requests(emulator, since) == 1
    assert late.refreshes == 1
    stored_now = load_credentials(path)
    assert stored_now is not None
    assert stored_now.token == token
    assert stored_now.refresh_token != renewed.refresh_token


def hold_lock_in_child(path: Path) -> subprocess.Popen[str]:
    """Start a process that takes the lock of the credentials file *path*."""
    script = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(lock_path(path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "locked\n"
    return child


async def test_lock_of_killed_process_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    save_credentials(path, stored())
    store = CredentialsStore(path, stored(), timeout=0.3)
    child = hold_lock_in_child(path)
    try:
        with pytest.raises(TokenStoreError) as caught:
            async with store.locked():
                pass
        assert str(caught.value) == (
            f"another process held the lock {lock_path(path)} for 0.3 s; the token "
            "of ann@example.test was not renewed"
        )
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    # The lock died with its process; the lock file stays behind.
    assert lock_path(path).exists()
    with trio.fail_after(5):
        async with store.locked() as content:
            assert content == stored()


def lock_is_free(path: Path) -> bool:
    descriptor = os.open(lock_path(path), os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


async def test_lock_released_on_error_and_cancel(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    save_credentials(path, stored())
    store = CredentialsStore(path, stored())
    with pytest.raises(RuntimeError, match="inside the lock"):
        async with store.locked():
            assert lock_is_free(path) is False
            raise RuntimeError("inside the lock")
    assert lock_is_free(path) is True
    with trio.move_on_after(0.2) as scope:
        async with store.locked():
            await trio.sleep_forever()
    assert scope.cancelled_caught is True
    assert lock_is_free(path) is True


async def test_lock_file_symlink_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    save_credentials(path, stored())
    target = tmp_path / "elsewhere"
    lock_path(path).symlink_to(target)
    store = CredentialsStore(path, stored())
    with pytest.raises(TokenStoreError) as caught:
        async with store.locked():
            pass
    assert str(caught.value) == (
        f"cannot open the lock file {lock_path(path)}: "
        f"{os.strerror(errno.ELOOP)}; the token of ann@example.test was not renewed"
    )
    assert not target.exists()


def test_commands_wait_for_a_renewal(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    save_credentials(path, stored())
    child = hold_lock_in_child(path)
    try:
        # A mount renewing the login holds the lock: the command waits,
        # then gives up with a message that names the lock.
        with pytest.raises(CredentialsError) as caught:
            with credentials_locked(path, timeout=0.3):
                remove_credentials(path)
        assert str(caught.value) == (
            f"another process held the lock {lock_path(path)} for 0.3 s"
        )
        assert path.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    with credentials_locked(path, timeout=5.0):
        assert not lock_is_free(path)
        assert remove_credentials(path)
    assert lock_is_free(path)
