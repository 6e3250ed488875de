"""Client layer: the in-memory store of decoded responses that `Session` reuses.

Entries are JSON values (dicts, lists, strings, numbers), never live
objects, and expire after a time to live. `toutvfs.client.cache` saves a
store to disk and loads it back for the synchronous facade.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# pytoutv's cache kept network results for 30 minutes.
DEFAULT_TTL = 30 * 60.0


class ResultStore:
    """Decoded responses keyed by request, each with an expiry time.

    Attributes:
        ttl: seconds an entry stays valid.
        hits, misses: lookups found in the store, and the others.
    """

    def __init__(
        self, ttl: float = DEFAULT_TTL, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl = ttl
        self.hits = 0
        self.misses = 0
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}

    @staticmethod
    def key(url: str, params: Mapping[str, str]) -> str:
        """Return the store key of a GET of *url* with *params*."""
        return url + "?" + json.dumps(sorted(params.items()), ensure_ascii=False)

    def get(self, key: str) -> Any | None:
        """Return the value of *key*, or None when it is absent or expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store *value* under *key* for *ttl* seconds (`ttl` by default)."""
        lifetime = self.ttl if ttl is None else ttl
        if lifetime <= 0:
            return
        self._entries[key] = (self._clock() + lifetime, value)

    def entries(self) -> Iterator[tuple[str, float, Any]]:
        """Iterate over the unexpired (key, expiry, value) entries."""
        now = self._clock()
        for key, (expiry, value) in self._entries.items():
            if expiry > now:
                yield key, expiry, value

    def load(self, entries: Iterator[tuple[str, float, Any]]) -> None:
        """Add entries read back from disk, skipping expired ones."""
        now = self._clock()
        for key, expiry, value in entries:
            if expiry > now:
                self._entries[key] = (expiry, value)

    def __len__(self) -> int:
        return sum(1 for _ in self.entries())
