"""HLS engine: download a part and decrypt it as its body arrives.

A `PartDownload` streams one part's ciphertext, from its start or from a
block boundary for a seek, and appends each block's plaintext to a
`Progress` as soon as it is decrypted. In CBC a block needs only the
ciphertext block before it, and only the last block holds PKCS#7 padding,
so every plaintext byte below the part's measured size is final when it is
appended. Readers wait on the `Progress` for the bytes they need.

A download may also stop short of the part's end, at a block boundary, so
that several connections fetch one part as pieces (see
`toutvfs.hls.pieces`). Such a piece asks for its bytes only and keeps the
padding, which belongs to the part's last piece.

A retry after a partial body requests the rest with ``Range``. A server
that answers a retry with the whole body again (status 200) makes the
download start over, and every byte that was already decrypted must come
out the same, or the part fails with `PartChanged`. So bytes handed to a
reader never change. Sizes and ranges are checked as they come, and the
whole part's length and padding at the end.
"""

from __future__ import annotations

import trio
from cryptography.hazmat.primitives.ciphers import (
    Cipher,
    CipherContext,
    algorithms,
    modes,
)

from toutvfs.hls.crypto import BLOCK, CryptoError, Data, check_key, padding_length
from toutvfs.hls.fetch import Fetcher, Head
from toutvfs.hls.parts import KeyRing, PartChanged
from toutvfs.hls.playlist import Part, redact


class Progress:
    """The plaintext of a part as it is decrypted, from offset *start* of the part.

    Attributes:
        start: the part's plaintext offset of ``data[0]``.
        data: the plaintext decrypted so far. Bytes are only appended,
            except that `PartDownload.finish` removes the padding.
        finished: True once the download ended, with or without an error.
    """

    def __init__(self, start: int = 0) -> None:
        self.start = start
        self.data = bytearray()
        self.finished = False
        self._changed = trio.Event()

    @property
    def end(self) -> int:
        """The part's plaintext offset just after the last decrypted byte."""
        return self.start + len(self.data)

    def notify(self) -> None:
        """Wake the readers that wait for more bytes."""
        self._changed.set()
        self._changed = trio.Event()

    def finish(self) -> None:
        """Mark the download ended and wake every reader."""
        self.finished = True
        self.notify()

    async def wait_for(self, end: int) -> None:
        """Wait until the bytes up to offset *end* are in, or the download ended."""
        while self.end < end and not self.finished:
            await self._changed.wait()

    def slice(self, low: int, high: int) -> bytes:
        """Return the part's plaintext bytes *low* to *high*, already arrived."""
        return bytes(self.data[low - self.start : high - self.start])


class PartDownload:
    """One part's body, fetched from a block boundary to its end and decrypted.

    Args:
        part: the part.
        served: the part's measured ciphertext length, or None while it is
            not measured yet.
        progress: receives the plaintext. Its ``start``, a multiple of 16,
            is the first plaintext byte to fetch.
        keys: the key ring of the part's key.
        stop: the ciphertext offset, a multiple of 16, where the download
            ends (excluded), or None for the part's end. A part that turns
            out to end at or before *stop* is fetched to its end, and so is
            a part whose server sends the whole body (status 200) in response
            to the first request.

    Attributes:
        head_received: set once the first response's head is checked;
            `served` and `stop` then hold what that head showed.
    """

    def __init__(
        self,
        part: Part,
        served: int | None,
        progress: Progress,
        keys: KeyRing,
        stop: int | None = None,
    ) -> None:
        if progress.start % BLOCK:
            raise ValueError(f"a download starts at a block, not {progress.start}")
        if stop is not None and (stop % BLOCK or stop <= progress.start):
            raise ValueError(
                f"a download from {progress.start} cannot stop at {stop}: "
                f"the stop must be a later multiple of {BLOCK}"
            )
        if stop is not None and part.byterange is not None:
            raise ValueError("a part with a byte range is fetched whole")
        self.part = part
        self.progress = progress
        self._keys = keys
        self._base = part.byterange[0] if part.byterange is not None else 0
        if part.byterange is not None:
            served = part.byterange[1]
        self._served = served
        self._stop = stop
        self._drop_stop_at_end()
        self.head_received = trio.Event()
        # Ciphertext offset in the part where the download starts. In CBC a
        # block in the middle needs the block before it as its IV, so that
        # block is fetched too and its decrypted output thrown away.
        self._first = progress.start
        self._discard = 0
        if part.encryption is not None and progress.start > 0:
            self._first -= BLOCK
            self._discard = BLOCK
        # Ciphertext offset in the part of the next byte to take.
        self._received = self._first
        # Resource offset of the next byte of the current response.
        self._position = 0
        # Whether the current response is a 206.
        self._partial = False
        # Plaintext bytes made since the download last started from byte 0.
        self._emitted = 0
        self._key: bytes | None = None
        self._key_error: Exception | None = None
        # Ciphertext that arrived before the key.
        self._pending = bytearray()
        self._decryptor: CipherContext | None = None

    @property
    def served(self) -> int | None:
        """The part's ciphertext length, or None while it is not known."""
        return self._served

    @property
    def stop(self) -> int | None:
        """The ciphertext offset where the download ends, or None for the end."""
        return self._stop

    def range_header(self) -> str | None:
        """Return the ``Range`` of the next request: the bytes still missing."""
        if self._stop is not None:
            return f"bytes={self._received}-{self._stop - 1}"
        if self._received == 0 and self.part.byterange is None:
            return None
        start = self._base + self._received
        if self._served is None:
            return f"bytes={start}-"
        return f"bytes={start}-{self._base + self._served - 1}"

    async def run(self, fetcher: Fetcher, part: Part) -> Data:
        """Fetch the rest of the part and return its whole plaintext.

        *part* is the same part, maybe with a freshly signed URL. The key
        is fetched beside the body, whose first bytes wait for it.
        """
        self.part = part
        failure: Exception | None = None
        # Both tasks catch their errors, so that the nursery raises none (it
        # would wrap them in an ExceptionGroup).
        async with trio.open_nursery() as nursery:
            if part.encryption is not None and self._key is None:
                nursery.start_soon(
                    self._load_key, part.encryption.key_uri, nursery.cancel_scope
                )
            try:
                await fetcher.stream(
                    part.uri, self.range_header, self.on_head, self.on_chunk
                )
            except Exception as exc:
                failure = exc
                nursery.cancel_scope.cancel()
        if self._key_error is not None:
            raise self._key_error
        if failure is not None:
            raise failure
        return self.finish()

    async def _load_key(self, key_uri: str, scope: trio.CancelScope) -> None:
        try:
            key = await self._keys.get(key_uri)
            check_key(key)
        except Exception as exc:
            self._key_error = exc
            scope.cancel()
            return
        self._key = key
        pending, self._pending = self._pending, bytearray()
        if pending:
            try:
                self._decrypt(pending)
            except Exception as exc:
                self._key_error = exc
                scope.cancel()

    def on_head(self, head: Head) -> None:
        """Check where a response starts, before its body."""
        if head.partial:
            expected = self._base + self._received
            if head.start != expected:
                raise PartChanged(
                    f"the server returned {redact(self.part.uri)} from byte "
                    f"{head.start}, not from the requested {expected}"
                )
            if self.part.byterange is None and head.total is not None:
                self._check_served(head.total)
        elif self._first > 0:
            raise PartChanged(f"{redact(self.part.uri)} was served without its range")
        else:
            if self.part.byterange is None and head.total is not None:
                self._check_served(head.total)
            if not self.head_received.is_set():
                # The server ignores Range, and the whole part is coming.
                self._stop = None
            self._restart()
        self._drop_stop_at_end()
        self._position = head.start
        self._partial = head.partial
        self.head_received.set()

    def on_chunk(self, chunk: bytes) -> None:
        """Decrypt the part's bytes in one chunk of a response body."""
        chunk_start = self._position
        self._position += len(chunk)
        wanted = self._base + self._received
        if self._position <= wanted:
            return
        piece = chunk[max(0, wanted - chunk_start) :]
        limit = self._served if self._stop is None else self._stop
        if limit is not None and len(piece) > limit - self._received:
            if self._stop is None and self.part.byterange is None:
                raise PartChanged(
                    f"{redact(self.part.uri)} is longer than the "
                    f"{self._served} bytes measured"
                )
            if self._stop is not None and self._partial:
                raise PartChanged(
                    f"the server returned more of {redact(self.part.uri)} "
                    f"than the requested bytes up to {self._stop - 1}"
                )
            # A whole resource sent for a byte range, or for a piece on a
            # retry: the rest is not this download's.
            piece = piece[: limit - self._received]
        if not piece:
            return
        self._received += len(piece)
        if self.part.encryption is None:
            self._emit(piece)
        elif self._key is None:
            self._pending += piece
        else:
            self._decrypt(piece)

    def _check_served(self, total: int) -> None:
        if self._served is None:
            self._served = total
        elif total != self._served:
            raise PartChanged(
                f"{redact(self.part.uri)} is {total} bytes long, "
                f"but {self._served} were measured"
            )

    def _drop_stop_at_end(self) -> None:
        """Fetch to the part's end if the stop is not before it."""
        if self._stop is not None and self._served is not None:
            if self._stop >= self._served:
                self._stop = None

    def _restart(self) -> None:
        """Decrypt again from the part's first byte, checking what was kept."""
        self._received = 0
        self._emitted = 0
        self._pending.clear()
        self._decryptor = None

    def _decrypt(self, ciphertext: Data) -> None:
        if self._decryptor is None:
            assert self.part.encryption is not None and self._key is not None
            # A download from the middle throws the first block's output away,
            # so its IV does not matter.
            iv = self.part.encryption.iv if self._first == 0 else bytes(BLOCK)
            cipher = Cipher(algorithms.AES(self._key), modes.CBC(iv))
            self._decryptor = cipher.decryptor()
        self._emit(self._decryptor.update(ciphertext))

    def _emit(self, plaintext: bytes) -> None:
        """Append new plaintext, comparing it with bytes kept before a restart."""
        if self._discard:
            dropped = min(self._discard, len(plaintext))
            self._discard -= dropped
            plaintext = plaintext[dropped:]
        data = self.progress.data
        kept = len(data) - self._emitted
        if kept > 0:
            overlap = min(kept, len(plaintext))
            if data[self._emitted : self._emitted + overlap] != plaintext[:overlap]:
                raise PartChanged(
                    f"{redact(self.part.uri)} changed while it was downloaded"
                )
        self._emitted += len(plaintext)
        if kept < len(plaintext):
            data += plaintext[kept:]
            self.progress.notify()

    def finish(self) -> Data:
        """Check the body's length and padding, and return the plaintext.

        A download with a stop checks that it received every byte up to
        the stop, and keeps its last block, which is no padding.
        """
        if self._stop is not None and self._received != self._stop:
            raise PartChanged(
                f"{redact(self.part.uri)} ended at byte {self._received}, "
                f"before the requested {self._stop}"
            )
        if (
            self._stop is None
            and self._served is not None
            and self._received != self._served
        ):
            raise PartChanged(
                f"{redact(self.part.uri)} is {self._received} bytes long, "
                f"but {self._served} were measured"
            )
        data = self.progress.data
        if len(data) != self._emitted:
            raise PartChanged(
                f"{redact(self.part.uri)} became shorter while it was downloaded"
            )
        if self.part.encryption is None or self._stop is not None:
            return data
        length = self._received - self._first
        if length <= 0 or length % BLOCK:
            raise CryptoError(
                f"the ciphertext is {self._received} bytes long, "
                f"not a positive multiple of {BLOCK}"
            )
        assert self._decryptor is not None
        self._decryptor.finalize()
        pad = padding_length(bytes(data[-BLOCK:]))
        del data[len(data) - pad :]
        return data
