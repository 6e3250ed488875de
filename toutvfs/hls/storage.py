"""HLS engine: private files on disk for the layout store and segment cache.

Directories are created mode 0700 and files mode 0600, because cached media
belongs to the user who mounted it. Every file is written to a temporary
name in the same directory, flushed, then renamed over its final name, so a
crash leaves either the old file, the new file, or a temporary file that
readers ignore (its name starts with `TEMP_PREFIX`).

All functions here block; callers in trio run them through
``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from urllib.parse import quote

TEMP_PREFIX = ".tmp-"

# Longest component that `safe_name` keeps readable; longer names are hashed.
MAX_READABLE_NAME = 96


def safe_name(key: str) -> str:
    """Return a file name for *key* that cannot escape its directory."""
    quoted = quote(key, safe="-_.")
    if quoted and len(quoted) <= MAX_READABLE_NAME and not quoted.startswith("."):
        return quoted
    return "h-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def make_private_dir(path: Path) -> None:
    """Create *path* and its missing parents with mode 0700."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    # Path.mkdir(parents=True) would give the parents the umask's mode.
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def write_atomic(path: Path, *chunks: bytes | bytearray, durable: bool = True) -> None:
    """Write *chunks* in turn to *path* through a temporary file and a rename.

    With *durable* the file is flushed to the device before the rename, so it
    survives a power loss too; without it, only a process crash is covered.
    """
    make_private_dir(path.parent)
    temporary = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(6)}-{path.name}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def variant_file(directory: Path, media_key: str, variant_key: str) -> Path:
    """Return the JSON file of one media variant under *directory*."""
    return directory / safe_name(media_key) / f"{safe_name(variant_key)}.json"


class VariantFileStore:
    """A base for stores of one JSON file per media variant.

    Args:
        directory: where the files go, or None to store nothing on disk.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, media_key: str, variant_key: str) -> Path | None:
        if self.directory is None:
            return None
        return variant_file(self.directory, media_key, variant_key)


def remove_variant_file(path: Path) -> bool:
    """Delete a `variant_file` and its media directory once empty.

    Returns False if the file did not exist.
    """
    if not path.exists():
        return False
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass  # other variants of the media still have files
    return True
