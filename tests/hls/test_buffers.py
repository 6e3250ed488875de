"""The memory pool: byte bound, LRU order and consumed parts."""

from __future__ import annotations

from toutvfs.hls.buffers import BufferPool


def test_bound_drops_least_recent():
    pool = BufferPool(250)
    pool.put("a", b"a" * 100)
    pool.put("b", b"b" * 100)
    assert pool.get("a") == b"a" * 100
    pool.put("c", b"c" * 100)
    assert pool.get("b") is None
    assert pool.get("a") is not None
    assert pool.total == 200


def test_consumed_dropped_first_and_counted_free():
    pool = BufferPool(300)
    pool.put("a", b"a" * 100)
    pool.put("b", b"b" * 100)
    pool.put("c", b"c" * 100)
    assert not pool.has_room(100)
    pool.demote("c")
    assert pool.has_room(100)
    pool.put("d", b"d" * 100)
    assert pool.get("c") is None
    assert pool.get("a") is not None
    assert pool.total == 300


def test_oversized_part_not_kept():
    pool = BufferPool(10)
    pool.put("a", b"x" * 11)
    assert pool.get("a") is None
    assert pool.total == 0


def test_replace_and_discard():
    pool = BufferPool(100)
    pool.put("a", b"x" * 10)
    pool.demote("a")
    pool.put("a", b"y" * 20)
    assert pool.total == 20
    assert pool.has_room(80)
    pool.discard("a")
    assert pool.total == 0
    assert pool.has_room(100)
