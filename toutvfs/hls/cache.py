"""HLS engine: the on-disk cache of decrypted parts.

Each entry is one part's plaintext followed by a trailer that records its
length and SHA-256, in a file named after the media, the variant (with the
fingerprint of its segment list) and the part's position. An entry is used
only if its trailer matches its content and its length matches the layout;
anything else (a torn write, a partial file left by ``kill -9``, a change on
disk) is deleted and fetched again. Entries are written through a temporary
file and a rename.

The total size is bounded: when an entry does not fit, the least recently
used entries go first, except those that an open reader pins. If the pinned
entries alone fill the cache, the new entry is not stored.

Concurrency: one engine owns a cache directory. The index of entries lives
in memory and changes only in the trio thread, never across an ``await``
in the middle of an update; file I/O runs in worker threads.

Caveats:
    Two engines sharing one directory do not see each other's entries or
    evictions, so the bound holds per engine only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from toutvfs.hls.crypto import Data
from toutvfs.hls.storage import TEMP_PREFIX, make_private_dir, safe_name, write_atomic

log = logging.getLogger(__name__)

MAGIC = b"TVFSPRT1"
# Trailer: SHA-256 of the data, data length (unsigned 64-bit big-endian), magic.
TRAILER = struct.Struct(">32sQ8s")

# A temporary file older than this is debris from a crash and is deleted.
STALE_TEMP_SECONDS = 600.0


@dataclass(frozen=True)
class CacheKey:
    """Where a part belongs: media, variant with its fingerprint, position."""

    media_key: str
    variant_key: str
    fingerprint: str
    position: int

    def relative_path(self) -> Path:
        variant = f"{safe_name(self.variant_key)}-{self.fingerprint[:16]}"
        return Path(safe_name(self.media_key), variant, f"{self.position}.part")


class SegmentCache:
    """Decrypted parts on disk, bounded by size, least recently used out.

    Args:
        directory: the cache root, created with mode 0700.
        limit: maximum bytes of entry files.
        is_pinned: returns True for keys that must not be evicted now.
    """

    def __init__(
        self, directory: Path, limit: int, is_pinned: Callable[[CacheKey], bool]
    ) -> None:
        self.directory = directory
        self.limit = limit
        self.is_pinned = is_pinned
        # Relative path -> (key or None for entries found on disk, file size).
        self._entries: OrderedDict[Path, tuple[CacheKey | None, int]] = OrderedDict()
        self._total = 0
        self._scanned = False
        self._scan_lock = trio.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def total(self) -> int:
        """Bytes of entry files currently indexed."""
        return self._total

    async def _ensure_scanned(self) -> None:
        async with self._scan_lock:
            if self._scanned:
                return
            found = await trio.to_thread.run_sync(self._scan)
            for relative, size in found:
                self._entries[relative] = (None, size)
                self._total += size
            self._scanned = True
            log.info(
                "segment cache %s: %d entries, %d bytes, limit %d bytes",
                self.directory,
                len(found),
                self._total,
                self.limit,
            )

    def _scan(self) -> list[tuple[Path, int]]:
        """List entries oldest first and delete stale temporary files."""
        make_private_dir(self.directory)
        now = time.time()
        found: list[tuple[float, Path, int]] = []
        for root, _, files in os.walk(self.directory):
            for name in files:
                path = Path(root, name)
                try:
                    status = path.stat()
                except FileNotFoundError:
                    continue
                if name.startswith(TEMP_PREFIX):
                    if now - status.st_mtime > STALE_TEMP_SECONDS:
                        path.unlink(missing_ok=True)
                    continue
                if name.endswith(".part"):
                    relative = path.relative_to(self.directory)
                    found.append((status.st_mtime, relative, status.st_size))
        found.sort()
        return [(relative, size) for _, relative, size in found]

    async def cached_bytes(
        self, media_key: str, variant_key: str, fingerprint: str | None
    ) -> int:
        """Return the bytes of decrypted data cached for one variant of a media.

        With *fingerprint* None, entries of every segment list of the variant
        count.
        """
        await self._ensure_scanned()
        media = safe_name(media_key)
        variant = safe_name(variant_key)
        total = 0
        for relative, (_, size) in self._entries.items():
            if relative.parts[0] != media:
                continue
            # The directory is "<variant>-<fingerprint prefix>".
            name, _, prefix = relative.parts[1].rpartition("-")
            if name != variant:
                continue
            if fingerprint is not None and prefix != fingerprint[:16]:
                continue
            total += size - TRAILER.size
        return total

    async def get(self, key: CacheKey, size: int) -> Data | None:
        """Return the cached plaintext of *key* if it is intact and *size* long."""
        await self._ensure_scanned()
        relative = key.relative_path()
        if relative not in self._entries:
            self.misses += 1
            return None
        data = await trio.to_thread.run_sync(self._read_entry, relative, size)
        if data is None:
            self._forget(relative)
            self.misses += 1
            return None
        entry = self._entries.get(relative)
        if entry is not None:
            self._entries[relative] = (key, entry[1])
            self._entries.move_to_end(relative)
        self.hits += 1
        return data

    def _read_entry(self, relative: Path, size: int) -> Data | None:
        path = self.directory / relative
        try:
            with path.open("rb") as file:
                # One buffer for data and trailer, so a part is never copied.
                raw = bytearray(size + TRAILER.size + 1)
                length = file.readinto(raw)
        except FileNotFoundError:
            return None
        del raw[length:]
        data = _check_entry(raw, size)
        if data is None:
            log.warning("deleting the damaged cache entry %s", path)
            path.unlink(missing_ok=True)
            return None
        os.utime(path)
        return data

    async def put(self, key: CacheKey, data: Data) -> bool:
        """Store *data* under *key*; return False when it does not fit."""
        await self._ensure_scanned()
        relative = key.relative_path()
        needed = len(data) + TRAILER.size
        if relative in self._entries:
            self._entries.move_to_end(relative)
            return True
        victims = self._choose_victims(needed)
        if victims is None:
            log.debug("not caching %s: pinned entries fill the cache", relative)
            return False
        for victim in victims:
            self._forget(victim)
        self._entries[relative] = (key, needed)
        self._total += needed
        try:
            await trio.to_thread.run_sync(self._write_entry, relative, victims, data)
        except OSError as exc:
            log.warning("cannot write the cache entry %s: %s", relative, exc)
            self._forget(relative)
            return False
        return True

    def _choose_victims(self, needed: int) -> list[Path] | None:
        if needed > self.limit:
            return None
        excess = self._total + needed - self.limit
        victims: list[Path] = []
        for relative, (key, size) in self._entries.items():
            if excess <= 0:
                break
            if key is not None and self.is_pinned(key):
                continue
            victims.append(relative)
            excess -= size
        return victims if excess <= 0 else None

    def _forget(self, relative: Path) -> None:
        entry = self._entries.pop(relative, None)
        if entry is not None:
            self._total -= entry[1]

    def _write_entry(self, relative: Path, victims: list[Path], data: Data) -> None:
        for victim in victims:
            (self.directory / victim).unlink(missing_ok=True)
        trailer = TRAILER.pack(hashlib.sha256(data).digest(), len(data), MAGIC)
        write_atomic(self.directory / relative, data, trailer, durable=False)


def _check_entry(raw: bytearray, size: int) -> bytearray | None:
    """Strip and check the trailer of *raw* in place; None if it is invalid."""
    if len(raw) != size + TRAILER.size:
        return None
    digest, length, magic = TRAILER.unpack(raw[-TRAILER.size :])
    del raw[-TRAILER.size :]
    if magic != MAGIC or length != size:
        return None
    if hashlib.sha256(raw).digest() != digest:
        return None
    return raw
