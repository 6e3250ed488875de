"""HLS engine: the on-disk cache of decrypted parts.

Each entry is one part's plaintext followed by a trailer that records its
length and SHA-256, in a file named after the media, the variant (with the
fingerprint of its segment list) and the part's position. An entry is used
only if its trailer matches its content and its length matches the layout;
anything else (a torn write, a partial file left by ``kill -9``, a change on
disk) is deleted and fetched again. Entries are written through a temporary
file and a rename.

Each variant directory also contains a key file, `KEY_FILE_NAME`, with the
media key, the variant key and the whole fingerprint, and each entry's file
name is its position. So the index built at start knows the key of every
entry it finds on disk, and pins protect those entries as well as the ones
this process wrote. The key file is written and flushed to the device
before the first entry of its directory.

The total size is bounded: when an entry does not fit, the least recently
used entries go first, except those for which `is_pinned` returns True
(parts an open reader needs, versions pinned by ``toutvfs prefetch``). If
the pinned entries alone fill the cache, the new entry is not stored.

Concurrency: one engine owns a cache directory. The index of entries lives
in memory and changes only in the trio thread, never across an ``await``
in the middle of an update; file I/O runs in worker threads.

Caveats:
    Two engines sharing one directory do not see each other's entries or
    evictions, so the bound holds per engine only.

    An entry whose directory has no valid key file (written by an older
    version, or the key file was deleted) is indexed without a key until a
    read requests it, and until then it is evicted even when pinned.
    The next entry written to that directory writes the key file again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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

ENTRY_SUFFIX = ".part"

# The file in each variant directory that records the key of its entries.
KEY_FILE_NAME = "key.json"


@dataclass(frozen=True)
class CacheKey:
    """Where a part belongs: media, variant with its fingerprint, position."""

    media_key: str
    variant_key: str
    fingerprint: str
    position: int

    def relative_path(self) -> Path:
        variant = f"{safe_name(self.variant_key)}-{self.fingerprint[:16]}"
        return Path(
            safe_name(self.media_key), variant, f"{self.position}{ENTRY_SUFFIX}"
        )


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
        # Relative path -> (key, file size). The key is None for an entry
        # found on disk without a valid key file, until a read names it.
        self._entries: OrderedDict[Path, tuple[CacheKey | None, int]] = OrderedDict()
        # Relative variant directories whose key file is known to be valid.
        self._key_files: set[Path] = set()
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
            for relative, size, key in found:
                self._entries[relative] = (key, size)
                self._total += size
                if key is not None:
                    self._key_files.add(relative.parent)
            self._scanned = True
            log.info(
                "segment cache %s: %d entries (%d without a key), %d bytes, "
                "limit %d bytes",
                self.directory,
                len(found),
                sum(1 for _, _, key in found if key is None),
                self._total,
                self.limit,
            )

    def _scan(self) -> list[tuple[Path, int, CacheKey | None]]:
        """List entries with keys, oldest first, and delete stale temporary files."""
        make_private_dir(self.directory)
        now = time.time()
        found: list[tuple[float, Path, int, CacheKey | None]] = []
        for root, _, files in os.walk(self.directory):
            entries: list[tuple[float, Path, int]] = []
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
                if name.endswith(ENTRY_SUFFIX):
                    relative = path.relative_to(self.directory)
                    entries.append((status.st_mtime, relative, status.st_size))
            if not entries:
                continue
            directory_key = _read_key_file(Path(root, KEY_FILE_NAME))
            for mtime, relative, size in entries:
                key = _entry_key(directory_key, relative)
                found.append((mtime, relative, size, key))
        found.sort(key=lambda entry: (entry[0], entry[1]))
        return [(relative, size, key) for _, relative, size, key in found]

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

    async def contains(self, key: CacheKey) -> bool:
        """Return True if an entry for *key* is indexed, without checking it."""
        await self._ensure_scanned()
        return key.relative_path() in self._entries

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
        entry = self._entries.get(relative)
        if entry is not None:
            self._entries[relative] = (key, entry[1])
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
        write_key_file = relative.parent not in self._key_files
        try:
            await trio.to_thread.run_sync(
                self._write_entry, key, victims, data, write_key_file
            )
        except OSError as exc:
            log.warning("cannot write the cache entry %s: %s", relative, exc)
            self._forget(relative)
            return False
        self._key_files.add(relative.parent)
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

    def _write_entry(
        self, key: CacheKey, victims: list[Path], data: Data, write_key_file: bool
    ) -> None:
        """Delete *victims*, then write the key file if asked and the entry of *key*."""
        for victim in victims:
            (self.directory / victim).unlink(missing_ok=True)
        path = self.directory / key.relative_path()
        if write_key_file:
            # Flushed to the device, because it is written once per directory
            # and losing it leaves every entry there without a key.
            write_atomic(path.with_name(KEY_FILE_NAME), _key_record(key))
        trailer = TRAILER.pack(hashlib.sha256(data).digest(), len(data), MAGIC)
        write_atomic(path, data, trailer, durable=False)


def _key_record(key: CacheKey) -> bytes:
    """Return the key file content of the directory of *key*."""
    record = {
        "media_key": key.media_key,
        "variant_key": key.variant_key,
        "fingerprint": key.fingerprint,
    }
    return json.dumps(record, sort_keys=True).encode() + b"\n"


def _read_key_file(path: Path) -> CacheKey | None:
    """Return the key in *path* at position 0, or None if it is missing or invalid."""
    try:
        record = json.loads(path.read_bytes())
        fields = (record["media_key"], record["variant_key"], record["fingerprint"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the invalid cache key file %s: %s", path, exc)
        return None
    if not all(isinstance(field, str) for field in fields):
        log.warning("ignoring the invalid cache key file %s: not strings", path)
        return None
    return CacheKey(*fields, position=0)


def _entry_key(directory_key: CacheKey | None, relative: Path) -> CacheKey | None:
    """Return the key of the entry at *relative*, or None if no key names it.

    The key must give back *relative* exactly, so a key file copied into
    another directory or a file named ``07.part`` keys nothing.
    """
    if directory_key is None:
        return None
    position = relative.name.removesuffix(ENTRY_SUFFIX)
    if not (position.isascii() and position.isdigit()):
        return None
    key = dataclasses.replace(directory_key, position=int(position))
    return key if key.relative_path() == relative else None


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
