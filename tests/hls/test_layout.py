"""Layouts: bisection over cumulative sizes, and their JSON records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toutvfs.hls.layout import Layout, LayoutStore


def linear_locate(sizes: list[int], offset: int) -> int:
    start = 0
    for position, size in enumerate(sizes):
        if start <= offset < start + size:
            return position
        start += size
    raise AssertionError("offset outside the layout")


@given(
    st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=30).filter(
        lambda sizes: sum(sizes) > 0
    ),
    st.data(),
)
def test_locate_matches_linear_scan(sizes, data):
    layout = Layout(tuple(sizes), tuple(sizes), "f")
    offset = data.draw(st.integers(min_value=0, max_value=sum(sizes) - 1))
    position = layout.locate(offset)
    assert position == linear_locate(sizes, offset)
    assert sizes[position] > 0
    assert layout.starts[position] <= offset < layout.starts[position + 1]


def test_locate_outside_rejected():
    layout = Layout((10, 0, 5), (16, 0, 16), "f")
    assert layout.total == 15
    assert layout.locate(10) == 2
    with pytest.raises(ValueError):
        layout.locate(15)
    with pytest.raises(ValueError):
        layout.locate(-1)


def test_json_round_trip():
    layout = Layout((10, 0, 5), (16, 16, 16), "abc")
    again = Layout.from_json(layout.to_json())
    assert again == layout
    assert again.starts == (0, 10, 10, 15)


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "[]",
        '{"version": 2, "fingerprint": "f", "sizes": [], "cipher_lengths": []}',
        '{"version": 1, "fingerprint": "f", "sizes": [1], "cipher_lengths": []}',
        '{"version": 1, "fingerprint": "f", "sizes": [-1], "cipher_lengths": [1]}',
    ],
)
def test_invalid_records_rejected(text):
    with pytest.raises((ValueError, KeyError)):
        Layout.from_json(text)


def test_store_ignores_damaged_file(tmp_path, caplog):
    store = LayoutStore(tmp_path)
    store.save("media/1", "720p", Layout((1, 2), (16, 16), "f"))
    assert LayoutStore(tmp_path).load("media/1", "720p") == Layout(
        (1, 2), (16, 16), "f"
    )
    (path,) = tmp_path.rglob("*.json")
    path.write_text("{not json")
    assert LayoutStore(tmp_path).load("media/1", "720p") is None
    assert "unreadable layout" in caplog.text


def test_store_names_cannot_escape(tmp_path):
    store = LayoutStore(tmp_path / "layouts")
    store.save("../../etc", "../passwd", Layout((1,), (16,), "f"))
    paths = list(tmp_path.rglob("*.json"))
    assert len(paths) == 1
    assert paths[0].is_relative_to(tmp_path / "layouts")
