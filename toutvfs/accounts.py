"""Command line layer: stored credentials and the order credentials are taken in.

``toutvfs login`` stores a bearer token and the refresh token that the login
flow returns with it, never the password, in ``credentials.json`` under the
platformdirs user config directory, with mode 0600 in a directory of mode
0700. A mount renews an expired bearer token with the refresh token and
stores the new pair, because a refresh token may be good for one use only. A
token pasted from a browser session comes without a refresh token and works
until its ``exp``.

Several processes may use the same stored login. So each renewal takes an
exclusive `flock` on ``.credentials.json.lock`` beside the file. It keeps
the lock while it reads the stored tokens, refreshes them unless another
process already did, and writes the new ones.

A mount takes the first credentials it finds, in `CREDENTIAL_ORDER`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import httpx
import platformdirs
import trio

from toutvfs.client import (
    Anonymous,
    BearerToken,
    PasswordLogin,
    RefreshableToken,
    Session,
    TokenSource,
)
from toutvfs.client.b2c import Tokens
from toutvfs.client.tokens import DEFAULT_TOKEN_LIFETIME, jwt_expiry
from toutvfs.config import Config
from toutvfs.errors import TokenStoreError

log = logging.getLogger(__name__)

CREDENTIALS_NAME = "credentials.json"

# How long a renewal waits for another process to release the lock on the
# stored login, and how often it tries the lock meanwhile, in seconds. A
# renewal keeps the lock for one refresh request and a file write.
LOCK_TIMEOUT = 30.0
LOCK_POLL_INTERVAL = 0.05

# Environment variables read by the mount and by ``toutvfs login``.
ENV_TOKEN = "TOUTV_BEARER_TOKEN"
ENV_USER = "TOUTVFS_USER"
ENV_PASSWORD = "TOUTVFS_PASSWORD"
CREDENTIAL_VARIABLES = (ENV_TOKEN, ENV_USER, ENV_PASSWORD)

CREDENTIAL_ORDER = (
    "1. command-line options: --token-file FILE, or --user EMAIL with the "
    f"password in ${ENV_PASSWORD} (or typed at a prompt with -f on a terminal);\n"
    f"2. the environment: ${ENV_TOKEN}, or ${ENV_USER} with ${ENV_PASSWORD};\n"
    "3. the file that `toutvfs login` stores;\n"
    "4. none: the catalogue is mounted anonymously, and episodes that need an "
    "account say so in UNAVAILABLE.txt."
)


def _bearer(token: BearerToken) -> TokenSource:
    # BearerToken.user is declared str, TokenSource.user str | None, and
    # mypy treats mutable protocol attributes as invariant.
    return cast(TokenSource, token)


class CredentialsError(Exception):
    """Credentials that cannot be used, reported in one line."""


def credential_variables_set(environ: Mapping[str, str]) -> list[str]:
    """Return the names of the credential variables with a non-empty value."""
    return [name for name in CREDENTIAL_VARIABLES if environ.get(name)]


def credentials_path() -> Path:
    """Return the file that ``toutvfs login`` writes."""
    return Path(platformdirs.user_config_dir("toutvfs")) / CREDENTIALS_NAME


@dataclass(frozen=True)
class StoredCredentials:
    """The content of the credentials file.

    Attributes:
        user: the account the token belongs to, for messages.
        token: the bearer token of media calls.
        expires: the token's ``exp`` in seconds since the epoch, or None.
        service: the API base URL the token was issued for.
        refresh_token: the token that renews *token*, or None for a token
            pasted from a browser session.
    """

    user: str
    token: str = field(repr=False)
    expires: float | None
    service: str
    refresh_token: str | None = field(default=None, repr=False)

    def expired(self, now: float | None = None) -> bool:
        """Return True once the token's ``exp`` has passed."""
        moment = time.time() if now is None else now
        return self.expires is not None and self.expires <= moment


def save_credentials(path: Path, credentials: StoredCredentials) -> None:
    """Write *credentials* to *path* with mode 0600, replacing any older file.

    The file is created with mode 0600 before anything is written to it, so
    the token is never readable by others, not even for a moment.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(
        {
            "user": credentials.user,
            "token": credentials.token,
            "expires": credentials.expires,
            "service": credentials.service,
            "refresh_token": credentials.refresh_token,
        },
        indent=2,
    )
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(data + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_credentials(path: Path) -> StoredCredentials | None:
    """Return the stored credentials, or None when there is no file.

    Raises:
        CredentialsError: the file is unreadable, malformed, or readable by
            other users.
    """
    try:
        status = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    if status.st_mode & 0o077:
        raise CredentialsError(
            f"{path} is readable by other users (mode {status.st_mode & 0o777:o}); "
            f"run `chmod 600 {path}` or `toutvfs login` again"
        )
    try:
        data = json.loads(text)
        return StoredCredentials(
            user=str(data["user"]),
            token=str(data["token"]),
            expires=None if data.get("expires") is None else float(data["expires"]),
            service=str(data.get("service", "")),
            refresh_token=(
                None
                if data.get("refresh_token") is None
                else str(data["refresh_token"])
            ),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(
            f"{path} is not a credentials file ({exc}); run `toutvfs login` again"
        ) from None


def remove_credentials(path: Path) -> bool:
    """Delete the credentials file; return False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


async def log_in(config: Config, user: str, password: str) -> StoredCredentials:
    """Run the login flow for *user* and return what to store.

    Raises:
        InvalidCredentials: the service rejected the user or password.
        NetworkError: the service could not be reached.
    """
    async with httpx.AsyncClient(follow_redirects=False) as http:
        session = Session(config, http, Anonymous())
        tokens = await session.login_flow.login(user, password)
    return _stored_from_tokens(user, config.api_base, tokens)


def _stored_from_tokens(user: str, service: str, tokens: Tokens) -> StoredCredentials:
    expires = jwt_expiry(tokens.access_token)
    if expires is None:
        expires = time.time() + (tokens.lifetime or DEFAULT_TOKEN_LIFETIME)
    return StoredCredentials(
        user=user,
        token=tokens.access_token,
        expires=expires,
        service=service,
        refresh_token=tokens.refresh_token,
    )


def lock_path(path: Path) -> Path:
    """Return the lock file of the credentials file *path*."""
    return path.with_name(f".{path.name}.lock")


def _open_lock(path: Path) -> int:
    """Open or create the lock file *path* with mode 0600 and return its descriptor.

    O_NOFOLLOW rejects a symbolic link put in place of the file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(path, flags, 0o600)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


@contextmanager
def credentials_locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock of the credentials file *path*, for a command that writes it.

    `toutvfs login` and `logout` take it, so that a mount renewing the
    stored login at that moment neither overwrites their change nor
    brings a removed login back.

    Raises:
        CredentialsError: the lock file cannot be opened, or another
            process held the lock for *timeout* seconds.
    """
    lock = lock_path(path)
    try:
        descriptor = _open_lock(lock)
    except OSError as exc:
        raise CredentialsError(
            f"cannot open the lock file {lock}: {exc.strerror}"
        ) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CredentialsError(
                        f"another process held the lock {lock} for {timeout:g} s"
                    ) from None
                time.sleep(LOCK_POLL_INTERVAL)
        yield
    finally:
        os.close(descriptor)


class CredentialsStore:
    """The stored login of one account, shared by every process that uses it.

    `RefreshableToken` calls `locked` around each renewal. Other processes
    that renew the same login wait for the lock, then find the new tokens.
    """

    def __init__(
        self,
        path: Path,
        stored: StoredCredentials,
        *,
        timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = path
        self.user = stored.user
        self.service = stored.service
        self.timeout = timeout
        # Whether the file held another account's login at the last `locked`.
        self._replaced = False

    def __repr__(self) -> str:
        return f"CredentialsStore({str(self.path)!r}, user={self.user!r})"

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[StoredCredentials | None]:
        """Hold the lock on the file and yield its login, or None.

        The context yields None when the file is missing, unusable, or
        contains another account's login. Closing the descriptor on the way
        out releases the lock, also after an exception or a cancellation.

        Raises:
            TokenStoreError: the lock file cannot be opened, or another
                process held the lock for `timeout` seconds.
        """
        lock = lock_path(self.path)
        try:
            descriptor = await trio.to_thread.run_sync(_open_lock, lock)
        except OSError as exc:
            raise TokenStoreError(
                str(self.path),
                f"cannot open the lock file {lock}: {exc.strerror}; the token "
                f"of {self.user} was not renewed",
            ) from None
        try:
            await self._acquire(descriptor, lock)
            yield await trio.to_thread.run_sync(self._load)
        finally:
            os.close(descriptor)

    async def _acquire(self, descriptor: int, lock: Path) -> None:
        # A blocking flock in a worker thread could not be cancelled, so the
        # lock is tried without blocking until the timeout.
        with trio.move_on_after(self.timeout):
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    await trio.sleep(LOCK_POLL_INTERVAL)
                else:
                    return
        raise TokenStoreError(
            str(self.path),
            f"another process held the lock {lock} for {self.timeout:g} s; "
            f"the token of {self.user} was not renewed",
        )

    def _load(self) -> StoredCredentials | None:
        try:
            stored = load_credentials(self.path)
        except CredentialsError as exc:
            log.warning("cannot read the stored login before renewing it: %s", exc)
            return None
        self._replaced = stored is not None and (
            stored.user != self.user or stored.service != self.service
        )
        return None if stored is None or self._replaced else stored

    async def save(self, tokens: Tokens) -> None:
        """Write *tokens* to the file, unless it now contains another login."""
        if self._replaced:
            log.warning(
                "%s now contains another login, so the refreshed token of %s is "
                "kept by this process only",
                self.path,
                self.user,
            )
            return
        renewed = _stored_from_tokens(self.user, self.service, tokens)
        try:
            await trio.to_thread.run_sync(save_credentials, self.path, renewed)
        except OSError as exc:
            log.warning(
                "cannot store the refreshed token of %s in %s: %s; the next "
                "mount may need `toutvfs login` again",
                self.user,
                self.path,
                exc.strerror,
            )


def _stored_login(stored: StoredCredentials, path: Path) -> TokenSource:
    """Return the token source of *stored*, which writes renewed tokens to *path*."""
    if stored.refresh_token is None:
        return _bearer(BearerToken(stored.token, origin=f"the file {path}"))
    return RefreshableToken(
        stored.user,
        stored.token,
        stored.refresh_token,
        expires=stored.expires,
        store=CredentialsStore(path, stored),
    )


def stored_from_token(token: str, config: Config) -> StoredCredentials:
    """Return what to store for a bearer token pasted from a browser session.

    Raises:
        CredentialsError: the token is empty or already expired.
    """
    try:
        source = BearerToken(token, origin="the pasted text")
    except ValueError as exc:
        raise CredentialsError(str(exc)) from None
    credentials = StoredCredentials(
        user=source.user or "bearer-token",
        token=token.strip().removeprefix("Bearer ").strip(),
        expires=jwt_expiry(token.strip().removeprefix("Bearer ").strip()),
        service=config.api_base,
    )
    if credentials.expired():
        raise CredentialsError("the pasted token has already expired")
    return credentials


@dataclass(frozen=True)
class ChosenCredentials:
    """The token source of a mount and where it came from, for the log."""

    source: TokenSource
    origin: str


def choose_credentials(
    *,
    user: str | None,
    token_file: Path | None,
    password: str | None,
    environ: Mapping[str, str],
    stored_path: Path,
    config: Config,
) -> ChosenCredentials:
    """Return the first credentials found in `CREDENTIAL_ORDER`.

    *password* is the one typed at a prompt, if any; otherwise the password
    of ``--user`` comes from the environment.

    Raises:
        CredentialsError: credentials were given but cannot be used.
    """
    if token_file is not None:
        try:
            return ChosenCredentials(
                _bearer(BearerToken.from_file(token_file)), f"token file {token_file}"
            )
        except OSError as exc:
            raise CredentialsError(
                f"cannot read the token file {token_file}: {exc.strerror}; give "
                "--token-file a readable file with a bearer token on its first line"
            ) from None
        except ValueError as exc:
            raise CredentialsError(f"cannot use the token file: {exc}") from None
    if user:
        secret = password if password is not None else environ.get(ENV_PASSWORD)
        if not secret:
            raise CredentialsError(
                f"--user {user} needs a password: set ${ENV_PASSWORD}, or run "
                "`toutvfs login` once and mount without --user"
            )
        return ChosenCredentials(PasswordLogin(user, secret), f"--user {user}")
    if environ.get(ENV_TOKEN):
        try:
            return ChosenCredentials(
                _bearer(
                    BearerToken(
                        environ[ENV_TOKEN],
                        origin=f"environment variable {ENV_TOKEN}",
                    )
                ),
                f"${ENV_TOKEN}",
            )
        except ValueError as exc:
            raise CredentialsError(str(exc)) from None
    if environ.get(ENV_USER):
        env_user = environ[ENV_USER]
        secret = environ.get(ENV_PASSWORD)
        if not secret:
            raise CredentialsError(
                f"${ENV_USER} is set to {env_user} but ${ENV_PASSWORD} is not set"
            )
        return ChosenCredentials(PasswordLogin(env_user, secret), f"${ENV_USER}")
    stored = load_credentials(stored_path)
    if stored is not None:
        if stored.service and stored.service != config.api_base:
            log.warning(
                "the stored credentials are for %s, not %s; mounting anonymously",
                stored.service,
                config.api_base,
            )
            return ChosenCredentials(
                Anonymous(), "none (stored token is for another service)"
            )
        if stored.expired() and stored.refresh_token is None:
            raise CredentialsError(
                f"the token stored for {stored.user} in {stored_path} has expired; "
                "run `toutvfs login` again"
            )
        return ChosenCredentials(
            _stored_login(stored, stored_path), f"stored login of {stored.user}"
        )
    return ChosenCredentials(Anonymous(), "none (anonymous)")
