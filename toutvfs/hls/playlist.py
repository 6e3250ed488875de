"""HLS engine: parse master and media playlists into variants and parts.

A media playlist becomes a list of `Part` records in file order: an init
section (fMP4 ``EXT-X-MAP``) wherever it first appears or changes, then each
segment. Every part carries what is needed to fetch and decrypt it on its
own, so the rest of the engine never looks at the playlist text again.

Caveats:
    Alternative renditions (``EXT-X-MEDIA`` audio or subtitle groups) are not
    offered as variants, and live playlists are rejected, because a file of
    exact size needs a finished segment list.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import m3u8

from toutvfs.errors import PlaylistError, UnsupportedMedia

log = logging.getLogger(__name__)

# KEYFORMAT values that mean "the key URI returns the 16 raw key bytes".
IDENTITY_KEYFORMATS = frozenset({"", "identity"})

# Methods that encrypt inside the media samples and need a DRM system.
SAMPLE_METHODS = frozenset({"SAMPLE-AES", "SAMPLE-AES-CTR", "SAMPLE-AES-CENC"})


def redact(url: str) -> str:
    """Return *url* without its query and fragment, which may hold a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True)
class Variant:
    """One entry of a master playlist.

    Attributes:
        uri: absolute URL of the media playlist, signed query included.
        bandwidth: peak bits per second (``BANDWIDTH``), 0 when absent.
        average_bandwidth: ``AVERAGE-BANDWIDTH`` in bits per second, or None.
        resolution: (width, height) in pixels, or None.
        codecs: the ``CODECS`` attribute, or None.
        key: a name that stays the same when the URLs are signed again, made
            of the height and the bandwidth (``"720p-2816k"``).
    """

    uri: str
    bandwidth: int
    average_bandwidth: int | None
    resolution: tuple[int, int] | None
    codecs: str | None
    key: str


@dataclass(frozen=True)
class Encryption:
    """The AES-128-CBC parameters of one part.

    Attributes:
        key_uri: absolute URL of the 16-byte key.
        iv: the 16-byte initialisation vector, explicit or derived from the
            media sequence number.
    """

    key_uri: str
    iv: bytes


@dataclass(frozen=True)
class Part:
    """One unit of file content: an init section or a segment.

    Attributes:
        index: position of the segment in its playlist, from 0; an init
            section has the index of the first segment that uses it.
        kind: ``"init"`` or ``"segment"``.
        uri: absolute URL, signed query included.
        byterange: (offset, length) of a sub-range of *uri*, or None for the
            whole resource.
        encryption: the AES-128 parameters, or None for a clear part.
    """

    index: int
    kind: Literal["init", "segment"]
    uri: str
    byterange: tuple[int, int] | None
    encryption: Encryption | None

    @property
    def label(self) -> str:
        """A name for messages: ``"segment 3"`` or ``"init section of segment 0"``."""
        if self.kind == "init":
            return f"init section of segment {self.index}"
        return f"segment {self.index}"

    def identity(self) -> tuple[object, ...]:
        """Return what identifies this part when its URLs are signed again."""
        key_path = redact(self.encryption.key_uri) if self.encryption else None
        iv = self.encryption.iv.hex() if self.encryption else None
        return (self.kind, self.index, redact(self.uri), self.byterange, key_path, iv)


def check_playlist_text(text: str, url: str) -> None:
    """Raise `PlaylistError` unless *text* starts like an M3U8 playlist."""
    head = text.lstrip("\ufeff \t\r\n")
    if not head.startswith("#EXTM3U"):
        snippet = head[:40].replace("\n", " ")
        raise PlaylistError(
            f"the response from {redact(url)} is not an HLS playlist "
            f"(it starts with {snippet!r})"
        )


def parse_master(text: str, url: str) -> list[Variant]:
    """Return the variants of a master playlist, lowest bandwidth first.

    A media playlist given in place of a master becomes one variant of
    bandwidth 0, so that a bare media playlist URL can be opened too.

    Raises:
        PlaylistError: the text is not a playlist or lists no variant.
        UnsupportedMedia: an ``EXT-X-SESSION-KEY`` announces SAMPLE-AES or a
            key format other than identity.
    """
    check_playlist_text(text, url)
    playlist = _loads(text, url)
    if not playlist.is_variant:
        if not playlist.segments:
            raise PlaylistError(f"the playlist {redact(url)} has no variants")
        return [Variant(url, 0, None, None, None, "media")]

    for session_key in playlist.session_keys or []:
        if session_key is not None:
            _check_method(session_key.method, session_key.keyformat, url)

    entries: list[tuple[int, int, Variant]] = []
    for position, item in enumerate(playlist.playlists):
        info = item.stream_info
        bandwidth = int(info.bandwidth or 0)
        resolution = tuple(info.resolution) if info.resolution else None
        variant = Variant(
            uri=item.absolute_uri,
            bandwidth=bandwidth,
            average_bandwidth=(
                int(info.average_bandwidth) if info.average_bandwidth else None
            ),
            resolution=(resolution[0], resolution[1]) if resolution else None,
            codecs=info.codecs or None,
            key="",
        )
        entries.append((bandwidth, position, variant))
    if not entries:
        raise PlaylistError(f"the master playlist {redact(url)} has no variants")

    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return _with_keys([variant for _, _, variant in entries])


def _with_keys(variants: list[Variant]) -> list[Variant]:
    """Give each variant a unique key; repeats get ``-2``, ``-3`` and so on."""
    seen: dict[str, int] = {}
    keyed: list[Variant] = []
    for variant in variants:
        base = f"{round(variant.bandwidth / 1000)}k"
        if variant.resolution is not None:
            base = f"{variant.resolution[1]}p-{base}"
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}-{seen[base]}"
        keyed.append(
            Variant(
                variant.uri,
                variant.bandwidth,
                variant.average_bandwidth,
                variant.resolution,
                variant.codecs,
                key,
            )
        )
    return keyed


def parse_media(text: str, url: str) -> list[Part]:
    """Return the parts of a media playlist in file order.

    Raises:
        PlaylistError: the text is not a VOD media playlist with at least one
            segment, or a tag is malformed.
        UnsupportedMedia: a key uses SAMPLE-AES (``signal="SAMPLE-AES"``) or
            a key format other than identity (``signal="KEYFORMAT"``).
    """
    check_playlist_text(text, url)
    playlist = _loads(text, url)
    if playlist.is_variant:
        raise PlaylistError(f"{redact(url)} is a master playlist, not a media one")
    if not playlist.segments:
        raise PlaylistError(f"the media playlist {redact(url)} has no segments")
    if not playlist.is_endlist and (playlist.playlist_type or "").upper() != "VOD":
        raise PlaylistError(
            f"the media playlist {redact(url)} is live (no EXT-X-ENDLIST), "
            "so its size cannot be known"
        )

    init_keys = _keys_before_maps(text, url)
    sequence = int(playlist.media_sequence or 0)
    parts: list[Part] = []
    previous_init: tuple[str, str] | None = None
    range_ends: dict[str, int] = {}
    for index, segment in enumerate(playlist.segments):
        encryption = _encryption(segment.key, sequence + index, url)
        init = segment.init_section
        if init is not None and (init.uri, init.byterange or "") != previous_init:
            previous_init = (init.uri, init.byterange or "")
            init_uri = urljoin(url, init.uri)
            init_range = _byterange(init.byterange, init_uri, range_ends, url)
            init_encryption = _init_encryption(init_keys.get(previous_init), url)
            parts.append(Part(index, "init", init_uri, init_range, init_encryption))
        uri = segment.absolute_uri
        byterange = _byterange(segment.byterange, uri, range_ends, url)
        parts.append(Part(index, "segment", uri, byterange, encryption))
    return parts


def _loads(text: str, url: str) -> Any:
    try:
        return m3u8.loads(text, uri=url)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise PlaylistError(f"the playlist {redact(url)} is malformed: {exc}") from exc


def _check_method(method: str | None, keyformat: str | None, url: str) -> str:
    """Return the upper-case method, or raise for what cannot be decrypted."""
    name = (method or "NONE").upper()
    if name in SAMPLE_METHODS:
        raise UnsupportedMedia(
            f"the playlist {redact(url)} uses {name} encryption, which needs DRM",
            signal="SAMPLE-AES",
        )
    if name != "NONE" and (keyformat or "").lower() not in IDENTITY_KEYFORMATS:
        raise UnsupportedMedia(
            f"the playlist {redact(url)} uses key format {keyformat!r}, "
            "which needs DRM",
            signal="KEYFORMAT",
        )
    if name not in {"NONE", "AES-128"}:
        raise PlaylistError(
            f"the playlist {redact(url)} uses the unknown key method {name!r}"
        )
    return name


def _encryption(key: Any, sequence_number: int, url: str) -> Encryption | None:
    if key is None:
        return None
    method = _check_method(key.method, key.keyformat, url)
    if method == "NONE":
        return None
    if not key.uri:
        raise PlaylistError(f"an AES-128 key in {redact(url)} has no URI")
    if key.iv:
        iv = _parse_iv(key.iv, url)
    else:
        # RFC 8216, section 5.2: without an IV attribute, the IV is the
        # media sequence number as a big-endian 128-bit integer.
        iv = sequence_number.to_bytes(16, "big")
    return Encryption(urljoin(url, key.uri), iv)


def _init_encryption(key: dict[str, str] | None, url: str) -> Encryption | None:
    if key is None:
        return None
    method = _check_method(key.get("METHOD"), key.get("KEYFORMAT"), url)
    if method == "NONE":
        return None
    if not key.get("URI") or not key.get("IV"):
        # RFC 8216, section 4.3.2.5: an encrypted init section needs an IV.
        raise PlaylistError(
            f"an encrypted EXT-X-MAP in {redact(url)} has no URI or no IV"
        )
    return Encryption(urljoin(url, key["URI"]), _parse_iv(key["IV"], url))


def _parse_iv(text: str, url: str) -> bytes:
    digits = text[2:] if text[:2].lower() == "0x" else text
    try:
        value = bytes.fromhex(digits.rjust(32, "0"))
    except ValueError:
        value = b""
    if len(value) != 16:
        raise PlaylistError(f"the IV {text!r} in {redact(url)} is not 128 bits")
    return value


_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def _attributes(line: str) -> dict[str, str]:
    body = line.split(":", 1)[1] if ":" in line else ""
    return {name: value.strip('"') for name, value in _ATTRIBUTE.findall(body.strip())}


def _keys_before_maps(
    text: str, url: str
) -> dict[tuple[str, str], dict[str, str] | None]:
    """Map each ``EXT-X-MAP`` (URI, BYTERANGE) to the key tag in force there.

    The m3u8 package attaches keys to segments only, but an init section is
    encrypted by the key tag that precedes its ``EXT-X-MAP``.
    """
    current: dict[str, str] | None = None
    found: dict[tuple[str, str], dict[str, str] | None] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-KEY:"):
            current = _attributes(line)
        elif line.startswith("#EXT-X-MAP:"):
            attributes = _attributes(line)
            if "URI" not in attributes:
                raise PlaylistError(f"an EXT-X-MAP in {redact(url)} has no URI")
            found[(attributes["URI"], attributes.get("BYTERANGE", ""))] = current
    return found


def _byterange(
    value: str | None, uri: str, range_ends: dict[str, int], url: str
) -> tuple[int, int] | None:
    """Return (offset, length) for ``length[@offset]``, or None.

    Without an offset the sub-range starts where the previous sub-range of
    the same resource ended (RFC 8216, section 4.3.2.2).
    """
    if not value:
        return None
    length_text, _, offset_text = value.partition("@")
    try:
        length = int(length_text)
        if offset_text:
            offset = int(offset_text)
        elif uri in range_ends:
            offset = range_ends[uri]
        else:
            raise PlaylistError(
                f"the byte range {value!r} in {redact(url)} has no offset "
                "and follows no sub-range of the same resource"
            )
    except ValueError as exc:
        raise PlaylistError(
            f"the byte range {value!r} in {redact(url)} is invalid"
        ) from exc
    if length <= 0 or offset < 0:
        raise PlaylistError(f"the byte range {value!r} in {redact(url)} is empty")
    range_ends[uri] = offset + length
    return (offset, length)
