"""End-to-end test of readdir on a directory of many long names."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from toutvfs.emulator import Emulator

from .mounting import Mount, start_mount

pytestmark = pytest.mark.fuse

SHOWS = 1500


def title(number: int) -> str:
    # 300 bytes of UTF-8, distinct in the first 255 bytes.
    return f"{number:04d} " + "é" * 147 + "x"


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    work = tmp_path_factory.mktemp("large")
    lines = []
    for number in range(SHOWS):
        lines += ["[[shows]]", f'slug = "s{number}"', f'title = "{title(number)}"', ""]
    path = work / "large.toml"
    path.write_text("\n".join(lines))
    with Emulator(catalogue=path) as emulator:
        mount = start_mount(
            work / "mnt", work / "toutvfs.log", "--emulator", emulator.base_url
        )
        yield mount
        assert mount.stop() == 0, mount.log()


def test_title_is_300_bytes() -> None:
    assert len(title(7).encode()) == 300


def test_readdir_lists_each_entry_once(large: Mount) -> None:
    names = os.listdir(large.path / "shows")
    assert len(names) == SHOWS
    assert len(set(names)) == SHOWS
    for name in names:
        assert len(name.encode()) <= 255
    expected = {title(n).encode()[:255].decode(errors="ignore") for n in range(SHOWS)}
    assert set(names) == expected


def test_ls_unsorted_counts_every_entry(large: Mount) -> None:
    result = subprocess.run(
        ["ls", "-f", str(large.path / "shows")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    listed = [line for line in result.stdout.splitlines() if line not in (".", "..")]
    assert len(listed) == SHOWS
    assert len(set(listed)) == SHOWS
