"""Filesystem layer: the identity of a mount's source, which keys its stored data.

A mount keeps segments, layouts, media playlists, listings and pins in the
cache directory, which mounts of every source share by default. The engine's
media keys start with the source's identity, and the stored listings of a
TOU.TV source sit in a directory named after it, so a mount never serves
what it stored for another source, even with the network down.

NOTE: pins that earlier versions stored under unscoped keys (``toutv-<id>``,
``hls-<n>``) match no mount now, yet they still keep their segments from
eviction until ``pins.json`` is edited or the cache directory is deleted.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

# The identity of ``--demo``, whose emulator listens on a new port each time.
DEMO = "demo"

# Hex digits of SHA-256 kept in an identity.
DIGEST_LENGTH = 16


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


def service_identity(api_base: str) -> str:
    """Return the identity of the TOU.TV service or emulator at *api_base*."""
    return "toutv-" + _digest(api_base.rstrip("/"))


def playlist_identity(url: str) -> str:
    """Return the identity of the HLS master playlist at *url*.

    The query string and fragment are left out, because a signed URL gets a
    new signature each time it is issued.
    """
    parts = urlsplit(url)
    without_query = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return "hls-" + _digest(without_query)
