"""Read patterns: sequential runs, seeks and the adaptive depth."""

from __future__ import annotations

from toutvfs.hls.readahead import ReadaheadSettings, ReadPattern

PART = 1_000_000


def test_first_read_at_zero_is_sequential():
    pattern = ReadPattern(ReadaheadSettings())
    assert not pattern.observe(0, 131072, now=0.0)
    assert pattern.seeks == 0


def test_first_read_elsewhere_is_seek():
    pattern = ReadPattern(ReadaheadSettings())
    assert pattern.observe(5_000_000, 5_131_072, now=0.0)


def test_small_reorder_is_sequential():
    pattern = ReadPattern(ReadaheadSettings())
    pattern.observe(0, 131072, now=0.0)
    pattern.observe(262144, 393216, now=0.01)
    assert not pattern.observe(131072, 262144, now=0.02)
    assert pattern.seeks == 0


def test_jump_is_seek():
    pattern = ReadPattern(ReadaheadSettings())
    pattern.observe(0, 131072, now=0.0)
    assert pattern.observe(50_000_000, 50_131_072, now=0.1)
    assert pattern.observe(0, 4096, now=0.2)
    assert pattern.seeks == 2


def test_fast_reader_gets_max_depth():
    settings = ReadaheadSettings(max_parts=8)
    pattern = ReadPattern(settings)
    now = 0.0
    for offset in range(0, 40 * 131072, 131072):
        pattern.observe(offset, offset + 131072, now)
        now += 0.001
    assert pattern.depth(PART, now) == 8


def test_player_rate_gets_shallow_depth():
    # 2.5 Mbit/s is about 312 kB/s: 8 s of it is 2.5 parts of 1 MB.
    pattern = ReadPattern(ReadaheadSettings(lookahead_seconds=8.0, rate_window=3.0))
    now = 0.0
    offset = 0
    for _ in range(30):
        pattern.observe(offset, offset + 31_250, now)
        offset += 31_250
        now += 0.1
    assert pattern.depth(PART, now) == 3


def test_depth_one_before_rate_known():
    pattern = ReadPattern(ReadaheadSettings())
    pattern.observe(0, 131072, now=0.0)
    assert pattern.depth(PART, 0.0) == 1


def test_seek_resets_rate():
    pattern = ReadPattern(ReadaheadSettings())
    for step in range(20):
        pattern.observe(step * 131072, (step + 1) * 131072, now=step * 0.001)
    pattern.observe(90_000_000, 90_004_096, now=0.05)
    assert pattern.depth(PART, 0.05) == 1


def test_rate_counts_window_only():
    pattern = ReadPattern(ReadaheadSettings(rate_window=1.0))
    pattern.observe(0, 1000, now=0.0)
    pattern.observe(1000, 3000, now=0.5)
    pattern.observe(3000, 7000, now=1.2)
    # The read at 0.0 left the window: 6000 bytes over 0.7 s.
    assert pattern.rate(1.2) == 6000 / 0.7
    pattern.observe(7000, 15000, now=5.0)
    # Only the last read remains, and the elapsed time has its floor.
    assert pattern.rate(5.0) == 8000 / 0.05


def test_seek_clears_rate_window():
    pattern = ReadPattern(ReadaheadSettings())
    pattern.observe(0, 131072, now=0.0)
    pattern.observe(131072, 262144, now=0.1)
    pattern.observe(90_000_000, 90_001_000, now=0.2)
    assert pattern.rate(0.2) == 1000 / 0.05
