"""Fixtures of the command-line tests; the helpers are in ``clitools.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib, which puts no test directory
# on sys.path; the test modules import their helpers from this one.
sys.path.insert(0, str(Path(__file__).parent))

from clitools import HlsServer, encode_media, unmount  # noqa: E402


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with an encrypted two-variant HLS stream made by ffmpeg."""
    directory = tmp_path_factory.mktemp("hls")
    encode_media(directory)
    return directory


@pytest.fixture
def hls_server(hls_media: Path) -> Iterator[HlsServer]:
    server = HlsServer(hls_media)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME and XDG directories, so no test touches the real ones."""
    root = tmp_path / "home"
    root.mkdir()
    for name, value in {
        "HOME": root,
        "XDG_CONFIG_HOME": root / "config",
        "XDG_CACHE_HOME": root / "cache",
        "XDG_STATE_HOME": root / "state",
        "XDG_RUNTIME_DIR": root / "run",
    }.items():
        monkeypatch.setenv(name, str(value))
    (root / "run").mkdir(mode=0o700)
    for name in ("TOUTV_BEARER_TOKEN", "TOUTVFS_USER", "TOUTVFS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def mountpoint(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "mnt"
    path.mkdir()
    yield path
    unmount(path)


# END
