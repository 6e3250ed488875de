"""Unit tests of the command line's helpers: logs, pins, versions, names, output."""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

import pytest

from toutvfs.client import Anonymous
from toutvfs.commands import format_status
from toutvfs.config import Config
from toutvfs.daemon import mount_entry
from toutvfs.fs.adapter import StreamSettings
from toutvfs.fs.backend import (
    EngineOptions,
    TunedBackend,
    parse_versions,
    select_versions,
)
from toutvfs.fs.control import PinStore
from toutvfs.fs.hls_tree import playlist_names
from toutvfs.fs.identity import DEMO, playlist_identity, service_identity
from toutvfs.fs.source import VariantEntry
from toutvfs.logs import REPEAT_BURST, REPEAT_WINDOW, RepeatLimiter, configure_logging
from toutvfs.prefetch import Progress


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(
        "toutvfs.x", logging.ERROR, __file__, 1, message, args, None
    )


def test_repeat_limiter_drops_and_summarises() -> None:
    now = [0.0]
    limiter = RepeatLimiter(clock=lambda: now[0])
    passed = [limiter.filter(record("reading %s failed", i)) for i in range(12)]
    assert passed == [True] * REPEAT_BURST + [False] * (12 - REPEAT_BURST)
    now[0] = REPEAT_WINDOW + 1
    summary = record("reading %s failed", "f")
    assert limiter.filter(summary) is True
    assert summary.getMessage() == (
        f"reading f failed ({12 - REPEAT_BURST} similar messages dropped)"
    )


def test_repeat_limiter_keeps_other_messages() -> None:
    limiter = RepeatLimiter(clock=lambda: 0.0)
    for _ in range(REPEAT_BURST):
        assert limiter.filter(record("first %s", 1))
    assert not limiter.filter(record("first %s", 1))
    assert limiter.filter(record("second %s", 1))


@pytest.fixture
def clean_loggers() -> object:
    names = ("toutvfs", "httpx", "httpcore")
    saved = {name: logging.getLogger(name).handlers[:] for name in names}
    yield None
    for name in names:
        logger = logging.getLogger(name)
        for handler in logger.handlers[:]:
            if handler not in saved[name]:
                logger.removeHandler(handler)
                handler.close()


def test_log_file_is_redacted(tmp_path: Path, clean_loggers: object) -> None:
    log_file = tmp_path / "logs" / "toutvfs.log"
    handler = configure_logging("INFO", log_file)
    token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"
    logging.getLogger("toutvfs.test").info("got %s and password=hunter2", token)
    logging.getLogger("httpx").warning("GET https://x/a.m3u8?hdnea=exp~1~hmac")
    handler.flush()
    text = log_file.read_text()
    assert token not in text
    assert "hunter2" not in text
    assert "hmac" not in text
    assert text.count("REDACTED") == 3
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"


def test_debug_http_sets_levels(tmp_path: Path, clean_loggers: object) -> None:
    configure_logging("INFO", tmp_path / "a.log", debug_http=True)
    assert logging.getLogger("httpx").level == logging.DEBUG
    configure_logging("INFO", tmp_path / "b.log")
    assert logging.getLogger("httpx").level == logging.WARNING


def test_pin_store_shared_between_mounts(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    now = [0.0]
    first = PinStore(path, clock=lambda: now[0])
    second = PinStore(path, clock=lambda: now[0])
    first.add("m1", "720p", "/a")
    second.add("m2", "360p", "/b")
    assert PinStore(path).pins == {"m1": {"720p": "/a"}, "m2": {"360p": "/b"}}
    now[0] = 10.0
    assert first.contains("m2", "360p")
    assert first.remove("m2", "360p") is True
    assert first.remove("m2", "360p") is False
    now[0] = 20.0
    assert not second.contains("m2", "360p")
    assert second.contains("m1", "720p")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pins.json", "pins.json.lock"]


def test_pin_store_without_directory() -> None:
    store = PinStore(None)
    store.add("m", "v", "/x")
    assert store.contains("m", "v")
    assert store.remove("m", "v") is True


def test_pin_store_ignores_damaged_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pins.json"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        store = PinStore(path)
    assert store.pins == {}
    assert "ignoring the unreadable pin list" in caplog.text


VARIANTS = [
    VariantEntry("a", 200_000, (320, 180)),
    VariantEntry("audio", 64_000, None),
    VariantEntry("c", 3_000_000, (1280, 720)),
    VariantEntry("b", 900_000, (640, 360)),
]


@pytest.mark.parametrize(
    ("versions", "keys"),
    [
        ("all", ["a", "audio", "c", "b"]),
        ("highest", ["c"]),
        ("lowest", ["audio"]),
        ("360", ["audio", "a", "b"]),
        ("1080", ["audio", "a", "b", "c"]),
    ],
)
def test_select_versions(versions: str, keys: list[str]) -> None:
    assert [v.key for v in select_versions(VARIANTS, versions)] == keys


def test_select_versions_keeps_lowest_when_none_fit() -> None:
    video = [v for v in VARIANTS if v.resolution]
    assert [v.key for v in select_versions(video, "100")] == ["a"]


@pytest.mark.parametrize(
    ("text", "value"), [("ALL", "all"), ("720p", "720"), (" lowest ", "lowest")]
)
def test_parse_versions(text: str, value: str) -> None:
    assert parse_versions(text) == value


@pytest.mark.parametrize("text", ["0", "best", "-5", "720x"])
def test_parse_versions_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_versions(text)


def test_playlist_names_are_unique() -> None:
    playlists = playlist_names(
        [
            "http://a/x/master.m3u8?token=1",
            "http://b/y/master.m3u8",
            "http://c/",
            "http://d/show%20one.m3u8",
        ]
    )
    assert [p.name for p in playlists] == [
        "master",
        "master-2",
        "playlist",
        "show%20one",
    ]
    assert [p.key for p in playlists] == [
        playlist_identity("http://a/x/master.m3u8"),
        playlist_identity("http://b/y/master.m3u8"),
        playlist_identity("http://c/"),
        playlist_identity("http://d/show%20one.m3u8"),
    ]


def test_playlist_keys_ignore_query() -> None:
    first = hashlib.sha256(b"http://a/x/master.m3u8").hexdigest()[:16]
    playlists = playlist_names(
        [
            "http://a/x/master.m3u8?token=1",
            "http://a/x/master.m3u8?token=2",
            "http://a/x/master.m3u8#start",
            "http://b/x/master.m3u8",
        ]
    )
    assert [p.key for p in playlists] == [
        f"hls-{first}",
        f"hls-{first}-2",
        f"hls-{first}-3",
        "hls-" + hashlib.sha256(b"http://b/x/master.m3u8").hexdigest()[:16],
    ]


def test_service_identity_by_api_base() -> None:
    local = hashlib.sha256(b"http://127.0.0.1:8080").hexdigest()[:16]
    assert service_identity("http://127.0.0.1:8080/") == f"toutv-{local}"
    assert service_identity("http://127.0.0.1:8080") == f"toutv-{local}"
    assert service_identity("http://127.0.0.1:8081") != f"toutv-{local}"


def test_backend_media_keys_by_source() -> None:
    emulator = Config.for_emulator("http://127.0.0.1:8080")
    settings = StreamSettings(cache_dir=None, cache_size=0)
    options = EngineOptions()
    backend = TunedBackend(emulator, Anonymous(), settings, options)
    assert backend.cache_media_key("42") == service_identity(emulator.api_base) + "-42"
    demo = TunedBackend(emulator, Anonymous(), settings, options, DEMO)
    assert demo.cache_media_key("42") == "demo-42"
    real = TunedBackend(Config(), Anonymous(), settings, options)
    assert real.cache_media_key("42") != backend.cache_media_key("42")


def test_format_status() -> None:
    text = format_status(
        {
            "mountpoint": "/mnt/tv",
            "version": "0.1.0",
            "pid": 42,
            "uptime_seconds": 3725.4,
            "cache_bytes": 3 * 1024 * 1024,
            "cache_limit": 2048 * 1024 * 1024,
            "cache_hits": 3,
            "cache_misses": 1,
            "hit_rate": 0.75,
            "requests": 10,
            "request_failures": 2,
            "errors": 1,
            "open_files": 4,
            "fetches_in_flight": 5,
        }
    )
    assert text.splitlines() == [
        "mountpoint         /mnt/tv",
        "version            0.1.0 (pid 42)",
        "uptime             1:02:05",
        "cache              3.0 MiB of 2048.0 MiB",
        "cache hit rate     75.0% of 4",
        "requests           10 (2 failed)",
        "errors             1",
        "open files         4",
        "fetches in flight  5",
    ]


def test_progress_line() -> None:
    progress = Progress(4 * 1024 * 1024, stream=io.StringIO())
    progress.started = 100.0
    progress.done = 1024 * 1024
    assert progress.line(now=102.0) == (
        "[######..................]  25.0% 1.0 MiB of 4.0 MiB, 512.0 KiB/s, 0:06 left"
    )


def test_progress_line_before_any_byte() -> None:
    progress = Progress(10, stream=io.StringIO())
    assert progress.line().endswith("0 B of 10 B, 0 B/s, --:-- left")


def test_mount_entry_unescapes(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 0:21 / / rw - ext4 /dev/sda1 rw\n"
        "52 22 0:47 / /mnt/my\\040tv ro,relatime shared:1 - fuse.toutvfs toutvfs ro\n"
    )
    entry = mount_entry("/mnt/my tv", str(info))
    assert entry is not None
    assert entry.fstype == "fuse.toutvfs"
    assert entry.source == "toutvfs"
    assert mount_entry("/mnt/other", str(info)) is None
