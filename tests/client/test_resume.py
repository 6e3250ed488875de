"""Client tests: `iter_download` against the emulator, resuming and retrying.

The emulator's request log shows which segments a download fetched whole
(a GET without ``Range``), so these tests assert exactly what a resume
skips and what a retry repeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import pytest

from toutvfs.client.facade import Client
from toutvfs.client.model import MediaVersion
from toutvfs.config import Config
from toutvfs.emulator import Emulator, Fault

USER = "demo@toutvfs.test"
PASSWORD = "demo"

# AES-128 with implicit IVs, twelve segments in the demo profile.
ID_MEDIA = 990002


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def client(
    emulator: Emulator, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    # A new client per test, so no segment is left in an engine's memory.
    emulator.faults.clear()
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(tmp_path / "cache"))
    with Client(USER, PASSWORD, config=Config.for_emulator(emulator.base_url)) as made:
        yield made
    emulator.faults.clear()


def media_version(client: Client) -> MediaVersion:
    show = client.get_show("laboratoire-hls")
    for season in show.season_lineups:
        for item in season.items:
            if item.id_media == str(ID_MEDIA):
                return item.media_versions[0]
    raise AssertionError(f"no media {ID_MEDIA} in laboratoire-hls")


def clear_parts(emulator: Emulator) -> list[tuple[str, bytes]]:
    """Return the name and plaintext of each segment of the first variant."""
    episode = emulator.catalogue.episodes[ID_MEDIA]
    media = emulator.media_set(episode.profile).variants[0]
    return [
        (segment.name, (media.directory / "clear" / segment.name).read_bytes())
        for segment in media.segments["clear"]
    ]


def whole_segment_fetches(emulator: Emulator, since: int) -> list[str]:
    """Return the file names of the segments fetched whole since *since*."""
    return [
        PurePosixPath(record.path).name
        for record in emulator.request_log[since:]
        if record.endpoint == "segment"
        and record.id_media == ID_MEDIA
        and record.method == "GET"
        and record.range is None
        and record.status == 200
    ]


def test_resume_fetches_missing_parts(emulator, client, tmp_path):
    parts = clear_parts(emulator)
    expected = b"".join(body for _, body in parts)
    kept_parts = 5
    kept_bytes = sum(len(body) for _, body in parts[:kept_parts])
    target = tmp_path / "episode.ts"
    # Five whole parts and the start of the sixth, as an interrupted run leaves.
    target.write_bytes(expected[: kept_bytes + 1000])
    version = media_version(client)
    since = len(emulator.request_log)

    progress = list(version.create_download().iter_download(target, 65536))

    assert target.read_bytes() == expected
    assert progress[0].dl_bytes == kept_bytes
    assert progress[0].dl_segments == kept_parts
    assert progress[-1].dl_segments == len(parts)
    assert progress[-1].total_segments == len(parts)
    # Opening the stream fetches the first segment whole. The parts on disk
    # are not fetched again.
    names = [name for name, _ in parts]
    fetched = whole_segment_fetches(emulator, since)
    assert sorted(fetched) == sorted([names[0], *names[kept_parts:]])


def test_resume_complete_file_fetches_nothing(emulator, client, tmp_path):
    parts = clear_parts(emulator)
    expected = b"".join(body for _, body in parts)
    target = tmp_path / "episode.ts"
    target.write_bytes(expected)
    version = media_version(client)
    since = len(emulator.request_log)

    progress = list(version.create_download().iter_download(target))

    assert target.read_bytes() == expected
    assert len(progress) == 1
    assert progress[0].dl_segments == len(parts)
    assert whole_segment_fetches(emulator, since) == [parts[0][0]]


def test_download_retries_failed_segments(emulator, client, tmp_path):
    parts = clear_parts(emulator)
    expected = b"".join(body for _, body in parts)
    version = media_version(client)
    since = len(emulator.request_log)
    emulator.faults.append(
        Fault("status", endpoint="segment", id_media=ID_MEDIA, status=503, first=2)
    )
    target = tmp_path / "episode.ts"

    list(version.create_download().iter_download(target, 65536))

    assert target.read_bytes() == expected
    records = [
        record
        for record in emulator.request_log[since:]
        if record.endpoint == "segment" and record.id_media == ID_MEDIA
    ]
    failed = [record for record in records if record.status == 503]
    assert len(failed) == 2
    for record in failed:
        retried = [
            other
            for other in records
            if other.path == record.path
            and other.range == record.range
            and other.status in (200, 206)
        ]
        assert len(retried) == 1, record.path
    assert sorted(whole_segment_fetches(emulator, since)) == sorted(
        name for name, _ in parts
    )
