"""Client tests: media versions and `iter_download` against the emulator.

Episode 910001 of the demo catalogue plays the default generated media in
the ``aes`` mode: two variants of 12 AES-128 segments each. A download must
write the emulator's clear segments, byte for byte.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest

from toutvfs.client.facade import Client
from toutvfs.emulator import Emulator, Fault
from toutvfs.errors import DownloadError, NetworkTimeout, NoSpaceLeft

from .conftest import FAST_RETRIES, clear_segments

USER = "demo@toutvfs.test"
PASSWORD = "demo"
ID_MEDIA = 910001
# The first segment's name: the default profile starts at sequence 4816.
FIRST_SEGMENT = "/seg_04816.ts"


@pytest.fixture
def client(config, tmp_path, monkeypatch):
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(tmp_path / "cache"))
    with Client(USER, PASSWORD, config=config, policy=FAST_RETRIES) as made:
        yield made


def episode(client: Client):
    item = client.get_show("les-heritiers-du-fleuve").season_lineups[1].items[0]
    assert item.id_media == str(ID_MEDIA)
    return item


def segment_statuses(emulator: Emulator, since: int) -> list[int]:
    log = emulator.request_log[since:]
    return [record.status for record in log if record.endpoint == "segment"]


def whole_segment_paths(emulator: Emulator, since: int) -> list[str]:
    """Return the paths of the segments fetched whole since *since*.

    Opening a stream also fetches the last 32 bytes of every segment, with
    a range request that returns 206, to learn its exact size. It may fetch the
    first segment whole, so tests count from the first progress on.
    """
    log = emulator.request_log[since:]
    return [r.path for r in log if r.endpoint == "segment" and r.status == 200]


def test_download_exact_bytes(emulator, client, tmp_path):
    segments = clear_segments(emulator, ID_MEDIA, 0)
    expected = b"".join(segments)
    version = episode(client).media_versions[0]
    target = tmp_path / "episode.ts"
    chunk_size = 65536
    progress = list(
        version.create_download().iter_download(target, chunk_size=chunk_size)
    )
    assert len(segments) == 12
    assert target.read_bytes() == expected
    last = progress[-1]
    assert last.dl_bytes == len(expected)
    assert last.dl_segments == 12
    assert last.total_segments == 12
    assert last.dl_seconds >= 0
    assert progress[0].dl_bytes == 0
    assert progress[0].dl_segments == 0
    assert [p.dl_bytes for p in progress] == sorted(p.dl_bytes for p in progress)
    # The start, then one progress after each chunk of each segment.
    chunks = sum(math.ceil(len(segment) / chunk_size) for segment in segments)
    assert len(progress) == 1 + chunks


def test_download_resumes_after_whole_parts(emulator, client, tmp_path):
    segments = clear_segments(emulator, ID_MEDIA, 1)
    expected = b"".join(segments)
    first = len(segments[0])
    version = episode(client).media_versions[1]
    target = tmp_path / "partial.ts"
    # A first part of zeros, which resuming keeps as it is, plus 100 bytes of
    # the second part, which it drops.
    target.write_bytes(bytes(first) + expected[first : first + 100])
    download = version.create_download().iter_download(target)
    start = next(download)
    since = len(emulator.request_log)
    progress = [start, *download]
    written = target.read_bytes()
    assert len(written) == len(expected)
    assert written[:first] == bytes(first)
    assert written[first:] == expected[first:]
    assert progress[0].dl_segments == 1
    assert progress[0].dl_bytes == first
    # The start, then one progress per chunk of 4096 bytes of parts 1 to 11.
    chunks = sum(math.ceil(len(segment) / 4096) for segment in segments[1:])
    assert len(progress) == 1 + chunks
    fetched = whole_segment_paths(emulator, since)
    assert len(fetched) == 11
    assert not [path for path in fetched if path.endswith(FIRST_SEGMENT)]


def test_download_complete_file_is_kept(emulator, client, tmp_path):
    expected = b"".join(clear_segments(emulator, ID_MEDIA, 0))
    version = episode(client).media_versions[0]
    target = tmp_path / "done.ts"
    target.write_bytes(expected)
    download = version.create_download().iter_download(target)
    start = next(download)
    since = len(emulator.request_log)
    progress = [start, *download]
    assert target.read_bytes() == expected
    assert len(progress) == 1
    assert progress[0].dl_segments == 12
    assert progress[0].dl_bytes == len(expected)
    assert segment_statuses(emulator, since) == []


def test_download_longer_file_restarts(emulator, client, tmp_path):
    expected = b"".join(clear_segments(emulator, ID_MEDIA, 0))
    version = episode(client).media_versions[0]
    target = tmp_path / "other.ts"
    target.write_bytes(b"x" * (len(expected) + 100_000))
    progress = list(version.create_download().iter_download(target))
    assert target.read_bytes() == expected
    assert progress[0].dl_bytes == 0


def test_download_retries_failed_segment(emulator, client, tmp_path):
    expected = b"".join(clear_segments(emulator, ID_MEDIA, 0))
    version = episode(client).media_versions[0]
    target = tmp_path / "retry.ts"
    download = version.create_download().iter_download(target)
    # The first progress comes once the stream is open, after the requests
    # for the sizes, so the fault hits requests for whole segments.
    assert next(download).dl_bytes == 0
    since = len(emulator.request_log)
    fault = Fault("status", endpoint="segment", id_media=ID_MEDIA, first=2)
    emulator.faults.append(fault)
    list(download)
    assert target.read_bytes() == expected
    assert fault.fired == 2
    statuses = segment_statuses(emulator, since)
    assert statuses.count(503) == 2
    # The open kept the first segment, so parts 1 to 11 are fetched whole.
    assert statuses.count(200) == 11
    assert len(statuses) == 13


def test_download_policy_governs_segments(emulator, config, tmp_path, monkeypatch):
    from toutvfs.client import download as download_module

    monkeypatch.setattr(download_module, "PART_RETRY_DELAY", 0.0)
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(tmp_path / "cache"))
    policy = dataclasses.replace(FAST_RETRIES, max_attempts=1)
    with Client(USER, PASSWORD, config=config, policy=policy) as client:
        version = episode(client).media_versions[0]
        download = version.create_download().iter_download(tmp_path / "one.ts")
        assert next(download).dl_bytes == 0
        since = len(emulator.request_log)
        emulator.faults.append(Fault("status", endpoint="segment", id_media=ID_MEDIA))
        with pytest.raises(DownloadError, match="part 1 of media"):
            list(download)
    log = [r for r in emulator.request_log[since:] if r.endpoint == "segment"]
    assert {r.status for r in log} == {503}
    # Part 0 came with the open. With one attempt per engine fetch, each of
    # `Download`'s attempts at part 1 sends exactly one request. The stream's
    # read-ahead may have fetched part 1 once before the first attempt, so
    # a part gets at most one request more; the engine's default policy
    # would send 6 per fetch.
    attempts = download_module.PART_ATTEMPTS
    requests_per_path = Counter(r.path for r in log)
    part_1 = [r for r in log if r.path.endswith("/seg_04817.ts")]
    assert attempts <= len(part_1) <= attempts + 1
    assert max(requests_per_path.values()) <= attempts + 1


def test_download_no_space_left(client):
    version = episode(client).media_versions[0]
    download = version.create_download()
    with pytest.raises(NoSpaceLeft) as info:
        list(download.iter_download("/dev/full", chunk_size=65536))
    assert info.value.download is download
    assert "no space left" in str(info.value)


def test_download_bad_directory(client, tmp_path):
    version = episode(client).media_versions[0]
    with pytest.raises(DownloadError) as info:
        list(version.create_download().iter_download(tmp_path / "absent" / "x.ts"))
    assert type(info.value) is DownloadError
    assert "cannot open" in str(info.value)


def test_download_chunk_size_must_be_positive(client):
    version = episode(client).media_versions[0]
    with pytest.raises(ValueError, match="chunk_size"):
        list(version.create_download().iter_download("/dev/null", chunk_size=0))


class FlakyStream:
    """A stream whose reads fail *failures* times before returning zeros."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.reads = 0

    async def read(self, offset: int, size: int) -> bytes:
        self.reads += 1
        if self.reads <= self.failures:
            raise NetworkTimeout("segment timed out", url="http://cdn.test/s.ts")
        return bytes(size)


def test_part_retried_after_engine_gives_up(client, monkeypatch):
    """Check `Download` retries a part whose read fails after the engine's retries.

    The stream is a stand-in because the engine makes up to 6 attempts per
    segment request, with backoff, so making it give up through emulator faults
    would take seconds per part.
    """
    from toutvfs.client import download as download_module

    monkeypatch.setattr(download_module, "PART_RETRY_DELAY", 0.0)
    download = episode(client).media_versions[0].create_download()
    stream = FlakyStream(failures=2)
    data = download._fetch_part(stream, (0, 10, 30), 1)
    assert data == bytes(20)
    assert stream.reads == 3


def test_part_fails_after_attempts(client, monkeypatch):
    """Check `Download` gives up on a part after `PART_ATTEMPTS` failed reads.

    The stream is a stand-in because the engine makes up to 6 attempts per
    segment request, with backoff, so 3 failed reads through emulator faults
    would take seconds.
    """
    from toutvfs.client import download as download_module

    monkeypatch.setattr(download_module, "PART_RETRY_DELAY", 0.0)
    download = episode(client).media_versions[0].create_download()
    stream = FlakyStream(failures=10)
    message = f"part 1 of media {ID_MEDIA} failed after 3"
    with pytest.raises(DownloadError, match=message):
        download._fetch_part(stream, (0, 10, 30), 1)
    assert stream.reads == download_module.PART_ATTEMPTS
