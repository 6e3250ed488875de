"""HLS engine: decrypted parts held in memory, bounded by one byte budget.

Readers copy slices out of whole decrypted parts, so a part stays here while
a reader walks through it in kernel-sized reads, and prefetched parts wait
here until they are read. One pool serves every stream of an engine.

The bound covers parts at rest in the pool. Parts being fetched or
decrypted are outside it, so the peak is the limit plus one part per
running fetch; read-ahead asks `BufferPool.has_room` before it starts one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from toutvfs.hls.crypto import Data


class BufferPool:
    """A least-recently-used map of part plaintexts with a byte limit.

    Parts whose readers have moved on are *consumed*: they are dropped first,
    and `has_room` counts their bytes as free.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: OrderedDict[Hashable, Data] = OrderedDict()
        self._total = 0
        self._consumed: set[Hashable] = set()
        self._consumed_bytes = 0

    @property
    def total(self) -> int:
        """Bytes held now."""
        return self._total

    def get(self, key: Hashable) -> Data | None:
        """Return the part under *key* and mark it recently used."""
        data = self._parts.get(key)
        if data is not None:
            self._parts.move_to_end(key)
            self._unconsume(key, data)
        return data

    def put(self, key: Hashable, data: Data) -> None:
        """Keep *data*, dropping the least recently used parts beyond the limit.

        A part larger than the whole limit is not kept.
        """
        self.discard(key)
        if len(data) > self.limit:
            return
        self._parts[key] = data
        self._total += len(data)
        while self._total > self.limit:
            dropped_key, dropped = self._parts.popitem(last=False)
            self._total -= len(dropped)
            self._unconsume(dropped_key, dropped)

    def demote(self, key: Hashable) -> None:
        """Mark *key* consumed, so that it is the first to drop."""
        data = self._parts.get(key)
        if data is not None and key not in self._consumed:
            self._parts.move_to_end(key, last=False)
            self._consumed.add(key)
            self._consumed_bytes += len(data)

    def discard(self, key: Hashable) -> None:
        data = self._parts.pop(key, None)
        if data is not None:
            self._total -= len(data)
            self._unconsume(key, data)

    def has_room(self, size: int) -> bool:
        """Return True if *size* more bytes fit by dropping only consumed parts."""
        return self._total - self._consumed_bytes + size <= self.limit

    def _unconsume(self, key: Hashable, data: Data) -> None:
        if key in self._consumed:
            self._consumed.discard(key)
            self._consumed_bytes -= len(data)
