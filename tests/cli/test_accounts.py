"""Unit tests of stored credentials and the order credentials are chosen in."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
import time
from pathlib import Path

import pytest

from toutvfs.accounts import (
    CredentialsError,
    StoredCredentials,
    choose_credentials,
    load_credentials,
    remove_credentials,
    save_credentials,
)
from toutvfs.client import Anonymous, BearerToken, PasswordLogin, RefreshableToken
from toutvfs.config import Config


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
