"""HLS engine: the stored media playlists of pinned variants, for offline opens.

A pinned variant's parts (the parsed media playlist) are written to
``<directory>/<media>/<variant>.json``, so that a later engine can open the
variant when the network fails: the stored layout gives the sizes and the
segment cache gives the plaintext. The segment cache stores decrypted
parts, so no AES key is stored.

The part URLs keep their signed query strings, so the files are private to
the user (mode 0600 in directories of mode 0700, see
`toutvfs.hls.storage`) and no message here prints a URL with its query.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from toutvfs.hls.playlist import Encryption, Part
from toutvfs.hls.storage import VariantFileStore, remove_variant_file, write_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _encode_part(part: Part) -> dict[str, Any]:
    encryption = part.encryption
    return {
        "index": part.index,
        "kind": part.kind,
        "uri": part.uri,
        "byterange": list(part.byterange) if part.byterange is not None else None,
        "key_uri": encryption.key_uri if encryption is not None else None,
        "iv": encryption.iv.hex() if encryption is not None else None,
    }


def _decode_part(record: dict[str, Any]) -> Part:
    kind = record["kind"]
    if kind not in ("init", "segment"):
        raise ValueError(f"unknown part kind {kind!r}")
    byterange = record["byterange"]
    encryption = None
    if record["key_uri"] is not None:
        iv = bytes.fromhex(record["iv"])
        if len(iv) != 16:
            raise ValueError("an IV that is not 16 bytes long")
        encryption = Encryption(key_uri=str(record["key_uri"]), iv=iv)
    return Part(
        index=int(record["index"]),
        kind=kind,
        uri=str(record["uri"]),
        byterange=(int(byterange[0]), int(byterange[1])) if byterange else None,
        encryption=encryption,
    )


class PlaylistStore(VariantFileStore):
    """Media playlists of pinned variants on disk, one JSON file each.

    Args:
        directory: where the files go, or None to store nothing.

    All methods block on small file operations; callers in trio run them
    through ``trio.to_thread.run_sync``.
    """

    def save(self, media_key: str, variant_key: str, parts: list[Part]) -> None:
        """Store *parts* as the playlist of the variant, replacing any other."""
        path = self._path(media_key, variant_key)
        if path is None:
            return
        record = {
            "version": FORMAT_VERSION,
            "media_key": media_key,
            "variant_key": variant_key,
            "parts": [_encode_part(part) for part in parts],
        }
        write_atomic(path, json.dumps(record).encode())

    def load(self, media_key: str, variant_key: str) -> list[Part] | None:
        """Return the stored parts of the variant, or None if none are stored."""
        path = self._path(media_key, variant_key)
        if path is None:
            return None
        try:
            record = json.loads(path.read_bytes())
            if record.get("version") != FORMAT_VERSION:
                raise ValueError("not a playlist record of a known version")
            if (record["media_key"], record["variant_key"]) != (
                media_key,
                variant_key,
            ):
                raise ValueError("the record belongs to another variant")
            parts = [_decode_part(part) for part in record["parts"]]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("ignoring the invalid stored playlist %s: %s", path, exc)
            return None
        if not parts:
            log.warning("ignoring the stored playlist %s: it has no parts", path)
            return None
        return parts

    def remove(self, media_key: str, variant_key: str) -> bool:
        """Delete the stored playlist of the variant; return False if none was."""
        path = self._path(media_key, variant_key)
        return path is not None and remove_variant_file(path)
