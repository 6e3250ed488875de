"""Client tests: media versions and `iter_download` over a small AES-128 HLS."""

from __future__ import annotations

import pytest

from toutvfs.client.facade import Client
from toutvfs.errors import DownloadError, NoSpaceLeft, UnsupportedMedia

from . import fakehls
from .conftest import FAST_RETRIES
from .fakeservice import DEMO_PASSWORD, DEMO_USER, FakeService


@pytest.fixture
def client(service: FakeService, tmp_path, monkeypatch):
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(tmp_path / "cache"))
    with Client(
        DEMO_USER,
        DEMO_PASSWORD,
        config=service.config,
        transport=service.transport(),
        policy=FAST_RETRIES,
    ) as made:
        yield made


def episode(client: Client, season: int = 1, index: int = 0):
    return client.get_show("la-maison-des-marees").season_lineups[season].items[index]


def segment_requests(service: FakeService, bandwidth: int, index: int) -> list:
    name = f"/s{bandwidth}_{index}.ts"
    return [r for r in service.requests if r.url.path.endswith(name)]


def test_media_versions_lowest_first(client):
    versions = episode(client).media_versions
    assert [version.bandwidth for version in versions] == [500000, 1500000]
    assert versions[0].resolution == (640, 360)
    assert versions[1].resolution == (1280, 720)
    assert versions[0].id_media == "720001"


def test_media_versions_drm(client):
    with pytest.raises(UnsupportedMedia) as info:
        assert episode(client, season=2).media_versions == []
    assert info.value.signal == "availableTechs"


def test_download_exact_bytes(client, tmp_path):
    version = episode(client).media_versions[0]
    target = tmp_path / "episode.ts"
    progress = list(version.create_download().iter_download(target, chunk_size=1000))
    expected = fakehls.plaintext(500000)
    assert target.read_bytes() == expected
    last = progress[-1]
    assert last.dl_bytes == len(expected)
    assert last.dl_segments == 3
    assert last.total_segments == 3
    assert last.dl_seconds >= 0
    assert progress[0].dl_bytes == 0
    assert [p.dl_bytes for p in progress] == sorted(p.dl_bytes for p in progress)
    # One progress after each chunk: 5 + 8 + 4 chunks of at most 1000 bytes.
    assert len(progress) == 1 + 5 + 8 + 4


def test_download_resumes_after_whole_parts(client, service, tmp_path):
    version = episode(client).media_versions[1]
    expected = fakehls.plaintext(1500000)
    first = fakehls.SEGMENT_SIZES[0]
    target = tmp_path / "partial.ts"
    # The first part whole, plus 100 bytes of the second, which are dropped.
    target.write_bytes(expected[: first + 100])
    progress = list(version.create_download().iter_download(target))
    assert target.read_bytes() == expected
    assert progress[0].dl_segments == 1
    assert progress[0].dl_bytes == first
    full_fetches = [
        r for r in segment_requests(service, 1500000, 0) if "Range" not in r.headers
    ]
    assert full_fetches == []


def test_download_complete_file_is_kept(client, service, tmp_path):
    version = episode(client).media_versions[0]
    target = tmp_path / "done.ts"
    expected = fakehls.plaintext(500000)
    target.write_bytes(expected)
    progress = list(version.create_download().iter_download(target))
    assert target.read_bytes() == expected
    assert len(progress) == 1
    assert progress[0].dl_segments == 3


def test_download_longer_file_restarts(client, tmp_path):
    version = episode(client).media_versions[0]
    target = tmp_path / "other.ts"
    target.write_bytes(b"x" * 100_000)
    list(version.create_download().iter_download(target))
    assert target.read_bytes() == fakehls.plaintext(500000)


def test_download_retries_failed_segment(client, service, tmp_path):
    version = episode(client).media_versions[0]
    service.hls_failures["s500000_1.ts"] = 2
    target = tmp_path / "retry.ts"
    list(version.create_download().iter_download(target))
    assert target.read_bytes() == fakehls.plaintext(500000)
    assert service.hls_failures["s500000_1.ts"] == 0


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
