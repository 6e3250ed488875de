"""HLS engine: measure single parts, and fetch their keys.

Measuring a part costs one small request: a ranged GET for its last 32
bytes, whose ``Content-Range`` gives the ciphertext length and whose two
blocks give the padding. Clear parts with a byte range cost nothing. A
server that ignores ``Range`` sends the whole body with status 200; its
plaintext is then handed to a callback so that the download is not wasted.

Errors are raised as they come (network errors from `toutvfs.hls.fetch`,
`CryptoError`, `PartChanged`); `toutvfs.hls.source` adds the segment index.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from toutvfs.hls.crypto import (
    BLOCK,
    CryptoError,
    Data,
    check_key,
    decrypt_part,
    plain_size_from_tail,
)
from toutvfs.hls.fetch import Body, Fetcher
from toutvfs.hls.playlist import Part, redact

# Bytes fetched from the end of an encrypted part to learn its padding: the
# last block and the one before it, which is the last block's IV.
TAIL_BYTES = 2 * BLOCK

# Receives a part and its whole plaintext.
BodyCallback = Callable[[Part, Data], Awaitable[None]]


class PartChanged(ValueError):
    """A part's body does not match its recorded length or range."""


class KeyRing:
    """AES keys by URL without query, each fetched once and checked."""

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher
        self._keys: dict[str, bytes] = {}
        self._locks: dict[str, trio.Lock] = {}

    async def get(self, uri: str) -> bytes:
        """Return the 16-byte key at *uri*; raise `CryptoError` for another length."""
        name = redact(uri)
        lock = self._locks.setdefault(name, trio.Lock())
        async with lock:
            key = self._keys.get(name)
            if key is None:
                body = await self._fetcher.get(uri, limited=False)
                key = bytes(body.data)
                try:
                    check_key(key)
                except CryptoError as exc:
                    raise CryptoError(f"the key at {name} is invalid: {exc}") from None
                self._keys[name] = key
            return key


def _range_header(start: int, end: int) -> str:
    """Return the Range header for bytes *start* to *end*, end excluded."""
    return f"bytes={start}-{end - 1}"


def _check_partial(body: Body, start: int, end: int, part: Part) -> None:
    if body.start != start or body.start + len(body.data) != end:
        raise PartChanged(
            f"the server returned bytes {body.start}-"
            f"{body.start + len(body.data) - 1} of {redact(part.uri)} "
            f"for the range {start}-{end - 1}"
        )


def _slice_range(data: Data, part: Part) -> Data:
    """Cut the part's byte range out of a whole resource."""
    if part.byterange is None:
        return data
    offset, length = part.byterange
    if offset + length > len(data):
        raise PartChanged(
            f"{redact(part.uri)} is {len(data)} bytes long, shorter than the "
            f"byte range {length}@{offset}"
        )
    return data[offset : offset + length]


async def measure_part(
    part: Part,
    fetcher: Fetcher,
    keys: KeyRing,
    on_body: BodyCallback | None = None,
) -> tuple[int, int]:
    """Return (plaintext size, served length) of *part*.

    The plaintext of a server that ignored ``Range`` goes to *on_body*.
    """
    encryption = part.encryption
    if encryption is None and part.byterange is not None:
        return part.byterange[1], part.byterange[1]

    if part.byterange is not None:
        offset, length = part.byterange
        start = offset + max(0, length - TAIL_BYTES)
        body = await fetcher.get(
            part.uri, byte_range=_range_header(start, offset + length), small=True
        )
    elif encryption is None:
        body = await fetcher.get(part.uri, byte_range="bytes=0-0", small=True)
    else:
        body = await fetcher.get(
            part.uri, byte_range=f"bytes=-{TAIL_BYTES}", small=True
        )

    if not body.partial:
        data = _slice_range(body.data, part)
        plaintext = await _decrypt(part, data, keys)
        if on_body is not None:
            await on_body(part, plaintext)
        return len(plaintext), len(data)

    if part.byterange is not None:
        offset, length = part.byterange
        _check_partial(body, start, offset + length, part)
        served = length
    elif body.total is None:
        raise PartChanged(f"{redact(part.uri)} has no known length")
    else:
        served = body.total
    if encryption is None:
        return served, served
    key = await keys.get(encryption.key_uri)
    return plain_size_from_tail(served, body.data, key, encryption.iv), served


async def _decrypt(part: Part, data: Data, keys: KeyRing) -> Data:
    if part.encryption is None:
        return data
    key = await keys.get(part.encryption.key_uri)
    return decrypt_part(data, key, part.encryption.iv)
