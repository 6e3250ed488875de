"""Fixtures that mount toutvfs for real, against an emulator on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from toutvfs.emulator import Emulator

from .mounting import Mount, start_mount


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def mounted(emulator: Emulator, tmp_path: Path) -> Iterator[Mount]:
    mount = start_mount(
        tmp_path / "mnt",
        tmp_path / "toutvfs.log",
        "--emulator",
        emulator.base_url,
        "--user",
        "demo@toutvfs.test",
    )
    try:
        yield mount
    finally:
        status = mount.stop()
        assert status == 0, mount.log()
        assert not os.path.ismount(mount.path)
