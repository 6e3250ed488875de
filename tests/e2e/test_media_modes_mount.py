"""End-to-end tests: every HLS media mode of the emulator, read through a mount.

Each file must read as exactly the bytes that `openssl_reference` builds from
the same playlists with urllib and the ``openssl`` command line.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from toutvfs.emulator import Emulator

from .mounting import (
    Mount,
    UnsupportedEncryption,
    anonymous_master_url,
    ffprobe,
    openssl_reference,
    start_mount,
)

pytestmark = pytest.mark.fuse

# Media modes that toutvfs reads, with the id_media of their episode.
READABLE_MODES = {
    "aes": 710001,
    "aes-implicit-iv": 710002,
    "aes-explicit-iv": 710003,
    "aes-rotation": 710004,
    "clear": 710005,
    "none-after-key": 710006,
    "fmp4": 710007,
    "byterange": 710008,
}
SAMPLE_AES_ID = 710009
MODES = {**READABLE_MODES, "sample-aes": SAMPLE_AES_ID}

# Ten 2-second segments: three keys in the rotation mode, five keyed and five
# clear segments in none-after-key. An odd first sequence number makes every
# implicit IV differ from the default profile's.
PROFILE = """
[profiles.court]
duration = 20
segment_duration = 2
first_sequence = 731
"""


def catalogue_text() -> str:
    episodes = "".join(
        f"""
[[shows.seasons.episodes]]
id_media = {id_media}
number = {number}
title = "{mode}"
mode = "{mode}"
profile = "court"
"""
        for number, (mode, id_media) in enumerate(MODES.items(), start=1)
    )
    return (
        PROFILE
        + """
[[shows]]
slug = "modes"
title = "Modes"
tier = "Standard"

[[shows.seasons]]
number = 1
"""
        + episodes
    )


@pytest.fixture(scope="module")
def modes_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    path = tmp_path_factory.mktemp("catalogue") / "modes.toml"
    path.write_text(catalogue_text())
    with Emulator(catalogue=path, host="127.0.0.1") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def modes_mount(
    modes_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mount]:
    where = tmp_path_factory.mktemp("modes")
    mount = start_mount(
        where / "mnt", where / "toutvfs.log", "--emulator", modes_emulator.base_url
    )
    yield mount
    assert mount.stop() == 0, mount.log()


def episode_directory(mount: Mount, mode: str) -> Path:
    number = list(MODES).index(mode) + 1
    return mount.path / "shows" / "Modes" / "Saison 1" / f"S01E{number:02d} {mode}"


@pytest.mark.parametrize("mode", sorted(READABLE_MODES))
def test_mode_reads_as_openssl_reference(
    modes_mount: Mount, modes_emulator: Emulator, mode: str
) -> None:
    paths = sorted(episode_directory(modes_mount, mode).glob("*.ts"))
    assert [path.name for path in paths] == ["320x180.ts", "640x360.ts"]
    url = anonymous_master_url(modes_emulator.base_url, str(READABLE_MODES[mode]))
    for path in paths:
        expected = openssl_reference(url, path.name.removesuffix(".ts"))
        data = path.read_bytes()
        assert len(data) == len(expected), path.name
        assert data == expected, path.name
        assert os.stat(path).st_size == len(data), path.name
        report = ffprobe(path)
        codecs = sorted(stream["codec_name"] for stream in report["streams"])
        assert codecs == ["aac", "h264"], path.name


def test_sample_aes_mode_open_is_eacces(
    modes_mount: Mount, modes_emulator: Emulator
) -> None:
    url = anonymous_master_url(modes_emulator.base_url, str(SAMPLE_AES_ID))
    with pytest.raises(UnsupportedEncryption, match="SAMPLE-AES"):
        openssl_reference(url, "640x360")
    path = episode_directory(modes_mount, "sample-aes") / "640x360.ts"
    with pytest.raises(OSError) as caught:
        path.open("rb")
    assert caught.value.errno == errno.EACCES
    assert os.path.isdir(modes_mount.path / "shows")
