"""Filesystem layer: the stored directory listings of pinned files.

A directory is listed from catalogue records: the show index for
``shows/``, a show page for a show, a media's versions for an episode.
`OfflineCatalogue` wraps the catalogue and copies every record it returns
into the listing that asked for it (`DirectoryNode.records`, filled while
`Tree` runs the directory's loader). When a file is pinned, `ListingStore`
writes the records of every directory along its path to one file per
pinned media version, ``<directory>/<media>/<variant>.json``. When a later
request fails for lack of network (no connection, or a timeout), the
wrapper returns the stored record instead, so a new mount lists the
pinned paths without the network. Other directories fail as before.

Records hold titles, descriptions, image and caption URLs; never a
password or a token. The files are mode 0600 in directories of mode 0700,
written through a temporary file and a rename.

Caveats:
    Each pinned version stores its own copy of the records along its path,
    the show index included, so that unpinning one deletes one file and
    never what another pin needs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import types
import typing
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import trio

from toutvfs.errors import ConnectionError, NetworkTimeout
from toutvfs.fs.delegate import DelegatingCatalogue
from toutvfs.fs.source import Catalogue, PlayableMedia, ShowDetail, ShowEntry
from toutvfs.hls.storage import (
    TEMP_PREFIX,
    VariantFileStore,
    remove_variant_file,
    write_atomic,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

# The directory of stored listings in the cache directory.
LISTINGS_NAME = "listings"

# The records of the directory listing that the current trio task runs, or
# None outside a listing; `Tree` sets it around each loader.
LISTING_RECORDS: ContextVar[dict[str, Any] | None] = ContextVar(
    "LISTING_RECORDS", default=None
)


def encode(value: Any) -> Any:
    """Return *value*, a record of `toutvfs.fs.source`, as JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: encode(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def decode(hint: Any, data: Any) -> Any:
    """Return the value of type *hint* that `encode` turned into *data*.

    Raises:
        ValueError: *data* does not fit *hint*.
    """
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        options = typing.get_args(hint)
        if data is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return decode(inner, data)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [decode(item, element) for element in _sequence(data)]
    if origin is tuple:
        arguments = typing.get_args(hint)
        elements = _sequence(data)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(decode(arguments[0], element) for element in elements)
        if len(arguments) != len(elements):
            raise ValueError(f"expected {len(arguments)} items, got {len(elements)}")
        return tuple(
            decode(argument, element)
            for argument, element in zip(arguments, elements, strict=True)
        )
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {hint.__name__}")
        hints = typing.get_type_hints(hint)
        values = {
            field.name: decode(hints[field.name], data[field.name])
            for field in dataclasses.fields(hint)
            if field.name in data
        }
        return hint(**values)
    if hint is dt.datetime:
        return dt.datetime.fromisoformat(_typed(str, data))
    if hint in (str, int, bool):
        return _typed(hint, data)
    raise ValueError(f"cannot decode a value of type {hint!r}")


def _sequence(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ValueError(f"expected a list, got {type(data).__name__}")
    return data


def _typed(kind: type, data: Any) -> Any:
    # bool is an int in Python, but a JSON true is no episode number.
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise ValueError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


# The type of the record behind each kind of record key, ``kind:argument``.
RECORD_TYPES: dict[str, Any] = {
    "shows": list[ShowEntry],
    "show": ShowDetail,
    "media": PlayableMedia,
}


class ListingStore(VariantFileStore):
    """The listing records of pinned media versions on disk.

    Args:
        directory: where the files go, or None to store nothing.

    All methods block on file operations; callers in trio run them through
    ``trio.to_thread.run_sync``.
    """

    def save(
        self, media_key: str, variant_key: str, path: str, records: dict[str, Any]
    ) -> None:
        """Store the *records* along *path*, the pinned file's path in the mount."""
        target = self._path(media_key, variant_key)
        if target is None:
            return
        record = {
            "version": FORMAT_VERSION,
            "media_key": media_key,
            "variant_key": variant_key,
            "path": path,
            "records": {key: encode(value) for key, value in records.items()},
        }
        write_atomic(target, json.dumps(record, ensure_ascii=False).encode())

    def remove(self, media_key: str, variant_key: str) -> bool:
        """Delete the records of the version; return False if none were stored."""
        target = self._path(media_key, variant_key)
        return target is not None and remove_variant_file(target)

    def find(self, key: str) -> Any | None:
        """Return the stored record *key*, decoded, or None if no pin has it.

        Where several pins stored the record, the most recently written
        file wins.
        """
        if self.directory is None or not self.directory.is_dir():
            return None
        kind = key.split(":", 1)[0]
        hint = RECORD_TYPES.get(kind)
        if hint is None:
            return None
        files: list[tuple[float, Path]] = []
        for root, _, names in os.walk(self.directory):
            for name in names:
                if name.endswith(".json") and not name.startswith(TEMP_PREFIX):
                    path = Path(root, name)
                    try:
                        files.append((path.stat().st_mtime, path))
                    except FileNotFoundError:
                        continue
        for _, path in sorted(files, reverse=True):
            try:
                record = json.loads(path.read_bytes())
                if record.get("version") != FORMAT_VERSION:
                    raise ValueError("not a listing record of a known version")
                data = record["records"].get(key)
                if data is None:
                    continue
                return decode(hint, data)
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("ignoring the invalid stored listing %s: %s", path, exc)
        return None


class OfflineCatalogue(DelegatingCatalogue):
    """A `Catalogue` that records its results and falls back to stored ones.

    The show index, show pages and media versions are recorded into the
    current listing and served from `ListingStore` when the network fails.
    Sections, subsections, searches and file fetches pass through.
    """

    def __init__(self, inner: Catalogue, store: ListingStore) -> None:
        super().__init__(inner)
        self.store = store

    async def _recorded(self, key: str, call: typing.Awaitable[Any]) -> Any:
        try:
            value = await call
        except (ConnectionError, NetworkTimeout) as exc:
            stored = await trio.to_thread.run_sync(self.store.find, key)
            if stored is None:
                raise
            log.warning(
                "the network failed (%s); serving the stored listing %s", exc, key
            )
            value = stored
        records = LISTING_RECORDS.get()
        if records is not None:
            records[key] = value
        return value

    async def shows(self) -> list[ShowEntry]:
        shows: list[ShowEntry] = await self._recorded("shows", self.inner.shows())
        return shows

    async def show(self, slug: str) -> ShowDetail:
        show: ShowDetail = await self._recorded(f"show:{slug}", self.inner.show(slug))
        return show

    async def media(self, id_media: str) -> PlayableMedia:
        media: PlayableMedia = await self._recorded(
            f"media:{id_media}", self.inner.media(id_media)
        )
        return media
