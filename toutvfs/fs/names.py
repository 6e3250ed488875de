"""File names for the filesystem layer, made from catalogue titles.

A title becomes a name in NFC with its accents and punctuation kept. The
slash, which no file name may contain, becomes U+2215 DIVISION SLASH (``∕``);
NUL and other control characters are dropped; a name that would be empty,
``.`` or ``..`` gets a fallback; and a name is cut to 255 bytes of UTF-8 on a
character boundary, keeping its extension.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

# Linux limits one path component to 255 bytes.
NAME_MAX = 255

SLASH_LOOKALIKE = "\u2215"


def clean_name(title: str, *, fallback: str = "sans titre", ext: str = "") -> str:
    """Return a valid file name for *title*, followed by *ext* (such as ``.ts``)."""
    return fit_name(clean_stem(title, fallback=fallback), ext)


def clean_stem(title: str, *, fallback: str = "sans titre") -> str:
    """Return *title* made safe for a file name, not yet cut to length."""
    text = unicodedata.normalize("NFC", title)
    text = text.replace("/", SLASH_LOOKALIKE)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    text = " ".join(text.split())
    if text in ("", ".", ".."):
        text = fallback
    return text


def fit_name(stem: str, ext: str = "") -> str:
    """Return *stem* + *ext*, cutting *stem* so the whole is at most 255 bytes."""
    budget = NAME_MAX - len(ext.encode())
    encoded = stem.encode()
    if len(encoded) > budget:
        # Decoding with "ignore" drops a multi-byte character cut in half.
        stem = encoded[:budget].decode(errors="ignore").rstrip()
    return stem + ext


def dedupe(entries: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """Give every entry a distinct name, stable across mounts and refreshes.

    *entries* are ``(identity, stem, ext)`` triples, where *identity* is a
    catalogue id and *stem* comes from `clean_stem`. Names that collide
    (compared after case folding, as file managers on case-insensitive
    shares would) all get a suffix made from a hash of their identity, so
    the suffix of one entry never depends on which other entries exist.
    Returns a mapping of identity to final name.
    """
    items = list(entries)
    counts: dict[str, int] = {}
    for _identity, name, ext in items:
        folded = (name + ext).casefold()
        counts[folded] = counts.get(folded, 0) + 1
    result: dict[str, str] = {}
    for identity, name, ext in items:
        if counts[(name + ext).casefold()] > 1:
            tag = hashlib.blake2b(identity.encode(), digest_size=3).hexdigest()
            result[identity] = fit_name(name, f" [{tag}]{ext}")
        else:
            result[identity] = fit_name(name, ext)
    return result
