"""Emulator layer: generated posters, thumbnails and WebVTT captions.

Images are solid-colour PNGs whose colour comes from a hash of their name, so
that each show has its own; captions have one cue every ten seconds.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib

DEFAULT_WIDTH = 320
MAX_WIDTH = 1920
CUE_SECONDS = 10


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@functools.lru_cache(maxsize=256)
def png(name: str, width: int) -> bytes:
    """Return a 16:9 PNG of *width* pixels in the colour of *name*."""
    width = max(1, min(width, MAX_WIDTH))
    height = max(1, width * 9 // 16)
    red, green, blue = hashlib.sha256(name.encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def width_from_params(params: str) -> int:
    """Return the width of an image URL's ``q_auto,w_<N>`` part.

    The ``(_Size_)`` placeholder left in place gets the default width.
    """
    for part in params.split(","):
        if part.startswith("w_") and part[2:].isdigit():
            return int(part[2:])
    return DEFAULT_WIDTH


def _timestamp(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.000"


def webvtt(title: str, duration: int) -> str:
    """Return WebVTT captions for a media of *duration* seconds."""
    cues = ["WEBVTT", ""]
    for number, start in enumerate(range(0, max(duration, 1), CUE_SECONDS), 1):
        end = min(start + CUE_SECONDS - 1, max(duration, 1))
        cues += [
            str(number),
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{title} ({number})",
            "",
        ]
    return "\n".join(cues)
