"""Stored media playlists of pinned variants: round trip, modes, bad files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from toutvfs.hls.offline import PlaylistStore
from toutvfs.hls.playlist import Encryption, Part

PARTS = [
    Part(0, "init", "http://h/init.mp4?sig=a", (0, 720), None),
    Part(0, "segment", "http://h/s0.m4s?sig=a", None, None),
    Part(
        1,
        "segment",
        "http://h/s1.ts?sig=a",
        (100, 188),
        Encryption("http://h/k?t=1", bytes(range(16))),
    ),
]


def test_round_trip_and_modes(tmp_path: Path) -> None:
    store = PlaylistStore(tmp_path / "playlists")
    store.save("toutv-1", "720p-2816k", PARTS)
    path = tmp_path / "playlists" / "toutv-1" / "720p-2816k.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "playlists").stat().st_mode & 0o777 == 0o700
    assert store.load("toutv-1", "720p-2816k") == PARTS
    assert store.load("toutv-1", "360p-664k") is None


def test_remove_deletes_empty_media_dir(tmp_path: Path) -> None:
    store = PlaylistStore(tmp_path)
    store.save("m", "a", PARTS)
    store.save("m", "b", PARTS)
    assert store.remove("m", "a") is True
    assert store.remove("m", "a") is False
    assert (tmp_path / "m").is_dir()
    assert store.remove("m", "b") is True
    assert not (tmp_path / "m").exists()


def test_no_directory_stores_nothing() -> None:
    store = PlaylistStore(None)
    store.save("m", "a", PARTS)
    assert store.load("m", "a") is None
    assert store.remove("m", "a") is False


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (lambda record: record.update(version=9), "not a playlist record"),
        (lambda record: record.update(variant_key="b"), "another variant"),
        (lambda record: record["parts"][2].update(iv="00"), "not 16 bytes"),
        (lambda record: record["parts"][0].update(kind="audio"), "unknown part kind"),
        (lambda record: record.update(parts=[]), "it has no parts"),
    ],
)
def test_invalid_file_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change, cause
) -> None:
    store = PlaylistStore(tmp_path)
    store.save("m", "a", PARTS)
    path = tmp_path / "m" / "a.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING):
        assert store.load("m", "a") is None
    assert len(caplog.records) == 1
    assert str(path) in caplog.records[0].getMessage()
    assert cause in caplog.records[0].getMessage()
