"""Client layer: the per-user disk cache of network results.

One JSON file per user holds decoded responses with their expiry times, and
a lock file next to it is held with ``flock`` from `UserCache.open` until
`UserCache.release`. A second client of the same user, in this process or
another, gets no disk cache and a warning, and so does a client that finds a
symbolic link in place of the lock file. The cache file is read only when
it is a regular file of this user and no symbolic link, so one that another
user planted is ignored with a warning. The cache never raises because it
cannot be created, read or written; it logs a warning and the client runs
without it.

The directory is the first of these that can be created and written:
``$TOUTV3_CACHE_DIR``, the platformdirs user cache directory for ``toutv3``
(on Linux ``$XDG_CACHE_HOME/toutv3``, else ``~/.cache/toutv3``), then
``./.toutv3-cache``. Directories are created with mode 0700 and files with
0600. A save writes a temporary file and renames it over the old one, so a
crash leaves the old file or the new one, never half of one.

toutvfs owns the last two directories, so an existing one of another mode is
changed to 0700, and one owned by another user is skipped. The directory in
``$TOUTV3_CACHE_DIR`` belongs to the user who named it, so its mode is never
changed. When it gives other users any access, the client logs one warning,
and only the 0600 modes of the files keep them private.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import platformdirs

from toutvfs.client.redact import redacted_logger
from toutvfs.client.results import DEFAULT_TTL, ResultStore

log = redacted_logger(__name__)

# Version of the file layout; a file of another version is ignored and replaced.
FORMAT_VERSION = 1

CACHE_DIR_VARIABLE = "TOUTV3_CACHE_DIR"
APP_NAME = "toutv3"
FALLBACK_DIR_NAME = ".toutv3-cache"

DIR_MODE = 0o700
FILE_MODE = 0o600

# Directories of $TOUTV3_CACHE_DIR already warned about as open to others.
_warned_shared: set[Path] = set()


def candidate_directories(
    env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> list[Path]:
    """Return the cache directories to try, in lookup order."""
    environ = os.environ if env is None else env
    candidates: list[Path] = []
    explicit = environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        candidates.append(Path(explicit))
    try:
        candidates.append(Path(platformdirs.user_cache_dir(APP_NAME)))
    except (KeyError, RuntimeError, OSError) as exc:
        # platformdirs needs a home directory to name the user cache.
        log.debug("no user cache directory: %s", exc)
    try:
        candidates.append((cwd or Path.cwd()) / FALLBACK_DIR_NAME)
    except OSError as exc:
        # The working directory was deleted under the process.
        log.debug("no working directory: %s", exc)
    return candidates


def _usable(directory: Path, *, named: bool) -> bool:
    """Create *directory* if needed and return whether the cache may use it.

    *named* is true for the directory of ``$TOUTV3_CACHE_DIR``, whose mode is
    left as the user set it.
    """
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        status = directory.stat()
    except OSError as exc:
        log.debug("cache directory %s cannot be created: %s", directory, exc)
        return False
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    if named:
        _warn_if_shared(directory, stat.S_IMODE(status.st_mode))
        return True
    return _make_private(directory, status)


def _warn_if_shared(directory: Path, mode: int) -> None:
    """Warn once per process and directory when other users can access it."""
    if mode & 0o077 and directory not in _warned_shared:
        _warned_shared.add(directory)
        log.warning(
            "cache directory %s (from $%s) has mode %o, which gives other "
            "users access to it; the cache files in it stay mode 600. Run "
            "`chmod 700 %s` to make the directory private",
            directory,
            CACHE_DIR_VARIABLE,
            mode,
            directory,
        )


def _make_private(directory: Path, status: os.stat_result) -> bool:
    """Change the mode of a directory that toutvfs owns to 0700.

    Returns False, after a warning, when the directory belongs to another
    user or its mode cannot be changed, so the next candidate is tried.
    """
    if status.st_uid != os.geteuid():
        log.warning(
            "cache directory %s belongs to user id %d, not to this user (%d); "
            "skipping it",
            directory,
            status.st_uid,
            os.geteuid(),
        )
        return False
    mode = stat.S_IMODE(status.st_mode)
    if mode == DIR_MODE:
        return True
    try:
        os.chmod(directory, DIR_MODE)
    except OSError as exc:
        log.warning(
            "cannot change the mode of cache directory %s from %o to 700: %s; "
            "skipping it",
            directory,
            mode,
            exc,
        )
        return False
    log.info("cache directory %s changed from mode %o to 700", directory, mode)
    return True


def find_directory(
    env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path | None:
    """Return the first usable cache directory, or None when none is."""
    environ = os.environ if env is None else env
    explicit = environ.get(CACHE_DIR_VARIABLE)
    named = Path(explicit) if explicit else None
    for directory in candidate_directories(env, cwd):
        if _usable(directory, named=directory == named):
            return directory
    return None


def file_stem(user: str | None) -> str:
    """Return the cache file name of *user* without its suffix.

    The name is a hash, so that an e-mail address does not show in a
    directory listing.
    """
    digest = hashlib.sha256((user or "anonymous").encode("utf-8")).hexdigest()
    return f"cache-{digest[:24]}"


class UserCache:
    """The open disk cache of one user, or a no-op when it is unavailable.

    Attributes:
        store: the in-memory results, shared with `Session`; None when the
            disk cache is unavailable.
        path: the cache file, or None.
    """

    def __init__(self) -> None:
        self.store: ResultStore | None = None
        self.path: Path | None = None
        self._lock_file: IO[bytes] | None = None
        self._user: str | None = None

    @classmethod
    def open(
        cls,
        user: str | None,
        *,
        ttl: float = DEFAULT_TTL,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> UserCache:
        """Lock and load the cache of *user*; never raises on disk trouble."""
        cache = cls()
        cache._user = user

        directory = find_directory(env, cwd)
        if directory is None:
            log.warning("no usable cache directory; running without a disk cache")
            return cache

        stem = file_stem(user)
        lock_path = directory / (stem + ".lock")
        try:
            lock_file = _open_private(lock_path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                log.warning(
                    "cache lock %s is a symbolic link, which the client does "
                    "not follow; running without a disk cache. Remove the link "
                    "if you did not make it",
                    lock_path,
                )
            else:
                log.warning(
                    "cannot open cache lock %s: %s; no disk cache", lock_path, exc
                )
            return cache
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            log.warning(
                "the cache of user %s is locked by another client (%s); this "
                "client runs without a disk cache",
                user,
                lock_path,
            )
            return cache

        cache._lock_file = lock_file
        cache.path = directory / (stem + ".json")
        cache.store = ResultStore(ttl, clock=clock)
        cache.store.load(cache._read())
        log.debug("cache %s loaded with %d entries", cache.path, len(cache.store))
        return cache

    @property
    def locked(self) -> bool:
        """Whether this client holds the cache lock."""
        return self._lock_file is not None

    def _read(self) -> Iterator[tuple[str, float, Any]]:
        assert self.path is not None
        try:
            raw = _read_own_file(self.path)
        except FileNotFoundError:
            return iter(())
        except UntrustedFileError as exc:
            log.warning(
                "ignoring cache %s and starting empty, because %s", self.path, exc
            )
            return iter(())
        except OSError as exc:
            log.warning("cannot read cache %s: %s; starting empty", self.path, exc)
            return iter(())
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("cache %s is corrupt; it will be replaced", self.path)
            return iter(())
        if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
            log.warning(
                "cache %s has another format version; it will be replaced", self.path
            )
            return iter(())
        return _entries(document.get("entries"))

    def save(self) -> bool:
        """Write the cache atomically; return whether it was written."""
        if self.store is None or self.path is None or not self.locked:
            return False
        document = {
            "format": FORMAT_VERSION,
            "entries": [
                {"key": key, "expires": expiry, "value": value}
                for key, expiry, value in self.store.entries()
            ],
        }
        try:
            _write_atomically(self.path, json.dumps(document, ensure_ascii=False))
        except (OSError, TypeError, ValueError) as exc:
            log.warning("cannot save cache %s: %s", self.path, exc)
            return False
        return True

    def release(self) -> None:
        """Save the cache and release its lock; later results are not cached."""
        if self._lock_file is None:
            return
        self.save()
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
        self._lock_file.close()
        self._lock_file = None
        self.store = None
        log.debug("cache of user %s released", self._user)


def _entries(raw: Any) -> Iterator[tuple[str, float, Any]]:
    if not isinstance(raw, list):
        return
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        key, expiry = entry.get("key"), entry.get("expires")
        if (
            isinstance(key, str)
            and isinstance(expiry, int | float)
            and "value" in entry
        ):
            yield key, float(expiry), entry["value"]


def _open_private(path: Path) -> IO[bytes]:
    """Open or create *path* and set its mode to 0600, whatever it was before.

    A symbolic link at *path* is not followed and raises `OSError` with
    ``ELOOP``, because another user who can write the directory could point
    it at a file of this user, whose mode would then change.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    descriptor = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
    except OSError:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "r+b")


class UntrustedFileError(Exception):
    """A cache file that another user may have planted, so it is not read."""


def _read_own_file(path: Path) -> bytes:
    """Return the contents of *path*, a regular file of this user.

    A symbolic link at *path* is not followed, because another user who can
    write the directory could point it at any file this user can read.

    Raises:
        FileNotFoundError: no file is at *path*.
        UntrustedFileError: *path* is a symbolic link, is not a regular file, or
            belongs to another user.
        OSError: the file cannot be opened or read.
    """
    # O_NONBLOCK keeps the open of a planted FIFO from waiting for a writer.
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UntrustedFileError(
                "it is a symbolic link, which the client does not follow. "
                "Remove the link if you did not make it"
            ) from exc
        raise
    with os.fdopen(descriptor, "rb") as stream:
        status = os.fstat(stream.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise UntrustedFileError("it is not a regular file")
        if status.st_uid != os.geteuid():
            raise UntrustedFileError(
                f"it belongs to user id {status.st_uid}, not to this user "
                f"({os.geteuid()})"
            )
        return stream.read()


def _write_atomically(path: Path, text: str) -> None:
    """Write *text* to a temporary file beside *path*, then rename it over."""
    descriptor, temporary = tempfile.mkstemp(
        prefix=path.name + ".", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), FILE_MODE)
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
