"""End-to-end test of readdir on a directory of many long names."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="module")
def catalogue_5000(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    path = tmp_path_factory.mktemp("large5000") / "catalogue.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "toutvfs.emulator.largegen",
            "--shows",
            "5000",
            "--episodes",
            "100000",
            "-o",
            str(path),
        ],
        check=True,
        timeout=300,
    )
    with Emulator(catalogue=path) as emulator:
        yield emulator


def test_large_catalogue_lists_every_show(
    catalogue_5000: Emulator, tmp_path: Path
) -> None:
    mount = start_mount(
        tmp_path / "mnt",
        tmp_path / "toutvfs.log",
        "--emulator",
        catalogue_5000.base_url,
    )
    try:
        before = len(catalogue_5000.request_log)
        names = os.listdir(mount.path / "shows")
        cold = catalogue_5000.request_log[before:]
        assert len(names) == 5000
        assert len(set(names)) == 5000
        assert {record.endpoint for record in cold} == {"search-index"}
        assert all(record.status == 200 for record in cold)
        before = len(catalogue_5000.request_log)
        assert len(os.listdir(mount.path / "shows")) == 5000
        assert len(catalogue_5000.request_log) == before
    finally:
        assert mount.stop() == 0, mount.log()
