"""Emulator layer: the large-catalogue generator and serving it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from toutvfs.emulator import Emulator, load
from toutvfs.emulator.largegen import large_catalogue, large_catalogue_data


@pytest.fixture(scope="module")
def large() -> Emulator:
    return Emulator(large_catalogue(5000, 100_000))


def test_large_catalogue_sizes(large: Emulator) -> None:
    catalogue = large.catalogue
    assert len(catalogue.shows) == 5000
    assert len(catalogue.episodes) == 100_000
    profiles = {episode.profile for episode in catalogue.episodes.values()}
    assert len(profiles) == 1


def test_large_catalogue_served(large: Emulator) -> None:
    with large, httpx.Client(base_url=large.base_url, timeout=30) as client:
        series = client.get(
            "/ott/catalog/v2/toutv/category/serie", params={"pageSize": 100}
        ).json()["content"][0]["items"]
        assert series["totalRecords"] == 4500
        assert series["totalPages"] == 45
        index = client.get(
            "/ott/catalog/v1/toutv/search", params={"term": "*", "pageSize": 1000}
        ).json()
        assert index["totalRecords"] == 5000
        assert index["totalPages"] == 5
        show = client.get("/ott/catalog/v2/toutv/show/emission-04999").json()
        assert show["title"].startswith("Émission 4999")
        last = max(large.catalogue.episodes)
        validation = client.get(
            "/media/validation/v2/",
            params={"idMedia": str(last)},
            headers={},
        ).json()
        assert validation["errorCode"] in (0, 2, 35)


def test_large_catalogue_is_deterministic() -> None:
    assert large_catalogue_data(50, 400, seed=3) == large_catalogue_data(
        50, 400, seed=3
    )
    assert large_catalogue_data(50, 400, seed=3) != large_catalogue_data(
        50, 400, seed=4
    )


def test_large_catalogue_rejects_sizes() -> None:
    with pytest.raises(ValueError, match="at least one episode"):
        large_catalogue_data(10, 5)


def test_largegen_cli_writes_loadable_file(tmp_path: Path) -> None:
    output = tmp_path / "big.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "toutvfs.emulator.largegen",
            "--shows",
            "120",
            "--episodes",
            "2000",
            "-o",
            str(output),
        ],
        check=True,
        timeout=60,
    )
    catalogue = load(output)
    assert len(catalogue.shows) == 120
    assert len(catalogue.episodes) == 2000
    films = [s for s in catalogue.shows.values() if s.kind == "film"]
    assert len(films) == 12
