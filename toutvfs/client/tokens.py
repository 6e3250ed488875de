"""Client layer: token sources, which define how the client authenticates.

A token source returns the bearer token of media calls, or None for an
anonymous client. `Session` requests it before each media call, and calls
`invalidate` after a 401 so that the next call logs in again.

- `Anonymous`: no account, for the catalogue alone.
- `PasswordLogin`: user and password through the B2C login flow, renewed
  before the token's ``exp``.
- `BearerToken`: a token pasted from a browser session, given directly, in an
  environment variable or in a file; it cannot be renewed.
- `RefreshableToken`: a token stored by an earlier login with the refresh
  token that came with it, renewed through the refresh grant. With a
  `TokenStore` shared by several processes, only one of them sends the
  refresh token and the others take the tokens it stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import trio

from toutvfs.client.redact import redacted_logger
from toutvfs.errors import (
    ApiChanged,
    InvalidCredentials,
    NetworkTimeout,
    UnexpectedHttpStatusCode,
)

if TYPE_CHECKING:
    from toutvfs.client.b2c import LoginFlow, Tokens

log = redacted_logger(__name__)

# A token is renewed this many seconds before its exp, so that a request
# sent just before expiry does not arrive just after it.
RENEW_MARGIN = 60.0

# Seconds that a shielded renewal of a stored login may take: the refresh
# request and the write of its response. With the default retry policy the
# request ends within about 75 s, so this bound stops only a hung renewal.
REFRESH_BOUND = 120.0

# The lifetime assumed for a token without a readable exp claim, in seconds.
DEFAULT_TOKEN_LIFETIME = 3600.0


def jwt_claims(token: str) -> dict[str, Any]:
    """Return the payload of a JSON Web Token without checking its signature.

    The client only reads ``exp``; the service checks signatures. A value
    that is not a JWT gives an empty dict.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token: str) -> float | None:
    """Return the ``exp`` claim of *token* in seconds since the epoch, or None."""
    exp = jwt_claims(token).get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return None


class TokenSource(Protocol):
    """The interface `Session` uses to authenticate.

    Attributes:
        user: the account name for caches and messages, or None.
    """

    user: str | None

    async def bearer(self, flow: LoginFlow) -> str | None:
        """Return a valid bearer token, or None for anonymous calls."""
        ...

    def invalidate(self) -> None:
        """Forget the current token after the service rejected it."""
        ...

    @property
    def renewable(self) -> bool:
        """Whether `bearer` can get a new token after `invalidate`."""
        ...


class StoredTokens(Protocol):
    """The tokens that a `TokenStore` contains."""

    @property
    def token(self) -> str:
        """The bearer token of media calls."""
        ...

    @property
    def refresh_token(self) -> str | None:
        """The token that renews `token`, or None."""
        ...

    @property
    def expires(self) -> float | None:
        """The ``exp`` of `token` in seconds since the epoch, or None."""
        ...


class TokenStore(Protocol):
    """Storage of a refreshable login that other processes renew too.

    A refresh token may be good for one use only, so `RefreshableToken`
    renews only inside `locked`, where no other process can renew the same
    login, and stores the new tokens before leaving it.
    """

    def locked(self) -> AbstractAsyncContextManager[StoredTokens | None]:
        """Lock the store against other processes and yield the tokens it contains.

        The context yields None when the store contains no tokens of this login.

        Raises:
            TokenStoreError: the lock could not be taken.
        """
        ...

    async def save(self, tokens: Tokens) -> None:
        """Replace the stored tokens, inside `locked` only."""
        ...


class Anonymous:
    """No account: the catalogue works, playback needs at least a free account."""

    user: str | None = None

    async def bearer(self, flow: LoginFlow) -> str | None:
        return None

    def invalidate(self) -> None:
        pass

    @property
    def renewable(self) -> bool:
        return False


class BearerToken:
    """A bearer token obtained elsewhere, for example from a browser session.

    Attributes:
        user: a label for caches and messages (the token's ``email`` or
            ``sub`` claim when it has one).
    """

    def __init__(
        self,
        token: str,
        *,
        origin: str = "argument",
        clock: Callable[[], float] = time.time,
    ) -> None:
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[len("bearer ") :].strip()
        if not token:
            raise ValueError(f"the bearer token from {origin} is empty")
        self._token: str | None = token
        self._origin = origin
        self._clock = clock
        claims = jwt_claims(token)
        label = claims.get("email") or claims.get("sub")
        # Declared optional as in TokenSource, which mypy checks invariantly.
        self.user: str | None = str(label) if label else "bearer-token"

    @classmethod
    def from_env(cls, name: str = "TOUTV_BEARER_TOKEN") -> BearerToken:
        """Read the token from the environment variable *name*."""
        value = os.environ.get(name)
        if value is None:
            raise ValueError(f"environment variable {name} is not set")
        return cls(value, origin=f"environment variable {name}")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BearerToken:
        """Read the token from the first line of the file *path*."""
        text = Path(path).read_text(encoding="utf-8")
        first = text.strip().splitlines()[0] if text.strip() else ""
        return cls(first, origin=f"file {os.fspath(path)}")

    async def bearer(self, flow: LoginFlow) -> str | None:
        if self._token is None:
            raise InvalidCredentials(
                self.user or "",
                f"the service rejected the bearer token from {self._origin}; "
                "paste a fresh one",
            )
        expiry = jwt_expiry(self._token)
        if expiry is not None and expiry <= self._clock():
            raise InvalidCredentials(
                self.user or "",
                f"the bearer token from {self._origin} expired at "
                f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(expiry))}; "
                "paste a fresh one",
            )
        return self._token

    def invalidate(self) -> None:
        self._token = None

    @property
    def renewable(self) -> bool:
        return False


class _RenewingToken:
    """A token kept until `RENEW_MARGIN` seconds before its expiry, then renewed.

    Subclasses set the attributes below and implement `_renew`. Concurrent
    callers of `bearer` share one renewal.
    """

    user: str | None
    _token: str | None
    _refresh_token: str | None
    _expiry: float
    _clock: Callable[[], float]
    _lock: trio.Lock

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expiry - RENEW_MARGIN

    async def bearer(self, flow: LoginFlow) -> str | None:
        if self._valid():
            return self._token
        async with self._lock:
            if self._valid():
                return self._token
            await self._update(flow)
            return self._token

    async def _update(self, flow: LoginFlow) -> None:
        """Renew the token and keep the new one."""
        self._keep(await self._renew(flow))

    def _keep(self, tokens: Tokens) -> Tokens:
        """Use *tokens* from now on and return them with the refresh token in use."""
        now = self._clock()
        expiry = jwt_expiry(tokens.access_token)
        if expiry is None:
            expiry = now + (tokens.lifetime or DEFAULT_TOKEN_LIFETIME)
        self._token, self._expiry = tokens.access_token, expiry
        # A service that does not rotate refresh tokens sends none back.
        self._refresh_token = tokens.refresh_token or self._refresh_token
        log.info("token of %s valid for %.0f s", self.user, expiry - now)
        renewed = replace(tokens, refresh_token=self._refresh_token)
        self._renewed(renewed)
        return renewed

    async def _renew(self, flow: LoginFlow) -> Tokens:
        raise NotImplementedError

    def _renewed(self, tokens: Tokens) -> None:
        """Receive the tokens of each renewal, with the refresh token in use."""

    def invalidate(self) -> None:
        self._token = None
        self._expiry = 0.0


class RefreshableToken(_RenewingToken):
    """A bearer token with the refresh token that the login flow returned with it.

    The bearer token is used until `RENEW_MARGIN` seconds before its expiry,
    then exchanged for new tokens through the refresh grant. *on_renewal*
    receives each new set of tokens so that the caller can store it, because
    a refresh token may be good for one use only. A rejected refresh token
    makes `bearer` raise `InvalidCredentials`: only a new login helps then.

    With a *store*, each renewal happens inside `TokenStore.locked`. A token
    that another process renewed and stored meanwhile is taken from the store
    without a refresh, and a token this source renews is saved there before
    the lock is released.

    Attributes:
        refreshes: how many refreshes succeeded.
    """

    def __init__(
        self,
        user: str,
        token: str,
        refresh_token: str,
        *,
        expires: float | None = None,
        on_renewal: Callable[[Tokens], None] | None = None,
        store: TokenStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user = user
        self._token = token
        # The last token this source used, kept after `invalidate`, so that a
        # stored token renewed by another process can be recognized.
        self._last_token = token
        self._refresh_token = refresh_token
        if expires is None:
            expires = jwt_expiry(token)
        # Without any expiry the token is used until the service rejects it.
        self._expiry = float("inf") if expires is None else expires
        self._on_renewal = on_renewal
        self._store = store
        self._clock = clock
        self._lock = trio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"RefreshableToken(user={self.user!r})"

    async def _renew(self, flow: LoginFlow) -> Tokens:
        assert self.user is not None
        if self._refresh_token is None:
            raise InvalidCredentials(
                self.user,
                f"the token of {self.user!r} expired and its refresh token was "
                "rejected; log in again",
            )
        try:
            tokens = await flow.refresh(self.user, self._refresh_token)
        except InvalidCredentials as exc:
            # A rejected refresh token stays rejected: do not send it again.
            self._refresh_token = None
            self._token = None
            raise InvalidCredentials(self.user, f"{exc}; log in again") from None
        self.refreshes += 1
        log.info("token of %s refreshed", self.user)
        return tokens

    async def _update(self, flow: LoginFlow) -> None:
        # A rejected refresh token ends the login, whatever the store contains.
        if self._store is None or self._refresh_token is None:
            await super()._update(flow)
            return
        async with self._store.locked() as stored:
            if stored is not None and self._take_stored(stored):
                return
            # Once sent, the refresh uses up the old refresh token, so the
            # response and its save are not cancelled with the caller, such
            # as a mount that stops just after it started. The bound stops
            # only a hung renewal.
            with trio.CancelScope(shield=True):
                with trio.move_on_after(REFRESH_BOUND) as bound:
                    renewed = self._keep(await self._renew(flow))
                    await self._store.save(renewed)
            if bound.cancelled_caught:
                raise NetworkTimeout(
                    f"renewing the token of {self.user!r} took more than "
                    f"{REFRESH_BOUND:g} s"
                )

    def _take_stored(self, stored: StoredTokens) -> bool:
        """Take the tokens that another process renewed and stored, if any.

        Returns True when the stored token is valid beyond `RENEW_MARGIN`,
        so that no refresh is needed.
        """
        if stored.token == self._last_token:
            return False
        # Another process renewed the login and used up this source's refresh
        # token, so only the stored refresh token can still work.
        self._last_token = stored.token
        self._refresh_token = stored.refresh_token or self._refresh_token
        expiry = float("inf") if stored.expires is None else stored.expires
        now = self._clock()
        if now >= expiry - RENEW_MARGIN:
            return False
        self._token, self._expiry = stored.token, expiry
        log.info(
            "token of %s renewed by another process, valid for %.0f s",
            self.user,
            expiry - now,
        )
        return True

    def _renewed(self, tokens: Tokens) -> None:
        self._last_token = tokens.access_token
        if self._on_renewal is not None:
            self._on_renewal(tokens)

    @property
    def renewable(self) -> bool:
        return self._refresh_token is not None


class PasswordLogin(_RenewingToken):
    """User and password, exchanged for a token through the B2C login flow.

    The token is kept until `RENEW_MARGIN` seconds before its ``exp``. It is
    then renewed with the refresh token when the service gave one, and by a
    new login otherwise or when the refresh fails. After `invalidate` (a
    401), the next call logs in again. Concurrent callers share one login.
    The password never appears in a message or a log record.

    Attributes:
        logins, refreshes: how many logins and refreshes succeeded.
    """

    def __init__(
        self, user: str, password: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        if not user:
            raise ValueError("the user name is empty")
        self.user: str | None = user
        self._password = password
        self._clock = clock
        self._token: str | None = None
        self._refresh_token: str | None = None
        self._expiry = 0.0
        self._lock = trio.Lock()
        self.logins = 0
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"PasswordLogin(user={self.user!r})"

    async def _renew(self, flow: LoginFlow) -> Tokens:
        assert self.user is not None
        if self._token is not None and self._refresh_token is not None:
            refresh_token, self._refresh_token = self._refresh_token, None
            try:
                tokens = await flow.refresh(self.user, refresh_token)
            except (InvalidCredentials, ApiChanged, UnexpectedHttpStatusCode) as exc:
                log.warning(
                    "refresh for %s failed (%s); logging in again", self.user, exc
                )
            else:
                self.refreshes += 1
                return tokens
        tokens = await flow.login(self.user, self._password)
        self.logins += 1
        log.info("logged in as %s", self.user)
        return tokens

    @property
    def renewable(self) -> bool:
        return True
