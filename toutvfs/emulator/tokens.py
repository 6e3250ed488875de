"""Emulator layer: the emulator's credentials: JWTs and signed media URLs.

Access, id and claims tokens are JWTs signed with HS256 under a key that each
emulator draws at start. Media URLs carry an Akamai-style ``hdnea`` token,
``st=<start>~exp=<expiry>~acl=*~hmac=<hex>``, whose HMAC-SHA256 covers the
text before ``~hmac=``. The strict cookie mode uses the same form in the
``hdntl`` cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]

# Random bytes in the ``jti`` claim of each JWT. At 128 bits, two tokens
# sharing a ``jti`` are negligibly unlikely.
JTI_BYTES = 16


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class InvalidToken(Exception):
    """A token is malformed, badly signed or expired."""


class JwtSigner:
    """Makes and checks HS256 JWTs under one secret key."""

    def __init__(self, secret: bytes | None = None, clock: Clock = time.time) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock

    def encode(self, claims: dict[str, Any], lifetime: float) -> str:
        """Return a JWT of *claims* with ``iat`` now and ``exp`` after *lifetime*.

        ``iat`` and ``exp`` are whole seconds, so a random ``jti`` (JWT ID)
        makes two tokens issued in the same second differ.
        """
        now = int(self._clock())
        body = {
            **claims,
            "iat": now,
            "exp": now + int(lifetime),
            "jti": secrets.token_urlsafe(JTI_BYTES),
        }
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
        signature = self._sign(f"{header}.{payload}")
        return f"{header}.{payload}.{signature}"

    def decode(self, token: str) -> dict[str, Any]:
        """Return the claims of *token*.

        Raises:
            InvalidToken: the token is malformed, its signature is wrong or
                its ``exp`` has passed.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a JWT")
        header, payload, signature = parts
        if not hmac.compare_digest(signature, self._sign(f"{header}.{payload}")):
            raise InvalidToken("bad signature")
        try:
            claims = json.loads(_b64url_decode(payload))
        except (ValueError, binascii.Error) as exc:
            raise InvalidToken("bad payload") from exc
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise InvalidToken("no exp claim")
        if claims["exp"] <= self._clock():
            raise InvalidToken("expired")
        return claims

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._secret, text.encode(), hashlib.sha256).digest()
        return _b64url(digest)


class UrlSigner:
    """Makes and checks the ``hdnea`` tokens of signed media URLs."""

    def __init__(
        self,
        lifetime: float,
        secret: bytes | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.lifetime = lifetime
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock

    def token(self) -> str:
        """Return a token valid from now for `lifetime` seconds."""
        start = int(self._clock())
        fields = f"st={start}~exp={start + int(self.lifetime)}~acl=*"
        return f"{fields}~hmac={self._sign(fields)}"

    def cookie(self) -> str:
        """Return an ``hdntl`` cookie value valid for `lifetime` seconds."""
        fields = f"exp={int(self._clock()) + int(self.lifetime)}~acl=/*"
        return f"{fields}~hmac={self._sign(fields)}"

    def check(self, token: str | None) -> bool:
        """Return whether *token* is well signed and not yet expired."""
        if not token:
            return False
        fields, marker, signature = token.rpartition("~hmac=")
        if not marker or not hmac.compare_digest(signature, self._sign(fields)):
            return False
        values = dict(
            item.partition("=")[::2] for item in fields.split("~") if "=" in item
        )
        try:
            expiry = int(values["exp"])
        except (KeyError, ValueError):
            return False
        return self._clock() < expiry

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()
