"""Emulator layer: catalogue files (TOML and JSON), their errors, the demo."""

from __future__ import annotations

import json
import re
import subprocess
import time
import tomllib
from pathlib import Path

import httpx
import m3u8
import pytest

from toutvfs.emulator import CatalogueError, Emulator, load, load_demo

SMALL = """
[settings]
signed_url_lifetime = 30
max_page_size = 2

[[accounts]]
email = "moi@exemple.test"
password = "secret"
tier = "Premium"

[[sections]]
slug = "serie"
title = "Séries"
shows = ["ma-serie", "mon-film"]

[[shows]]
slug = "ma-serie"
title = "L'Été / Partie 1"
tier = "Standard"

[[shows.seasons]]
number = 1

[[shows.seasons.episodes]]
id_media = 100001
title = "Le début"
mode = "clear"

[[shows.seasons.episodes.faults]]
kind = "status"
endpoint = "master"
status = 503
first = 1

[[shows.seasons.episodes]]
id_media = 100002
number = 2
title = "Loin"
mode = "geo-blocked"

[[shows]]
slug = "mon-film"
title = "Mon film"
kind = "film"

[shows.film]
id_media = 100100
title = "Mon film"
duration = 5400

[[shaping]]
endpoint = "browse"
latency = 0.0
"""

SEASON_2 = "[[shows.seasons]]\nnumber = 2\n[[shows.seasons.episodes]]\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_catalogue(tmp_path: Path) -> None:
    catalogue = load(write(tmp_path / "c.toml", SMALL))
    assert set(catalogue.shows) == {"ma-serie", "mon-film"}
    assert catalogue.settings.signed_url_lifetime == 30
    first = catalogue.episodes[100001]
    assert first.mode == "clear"
    assert first.tier == "Standard"
    assert first.slug == "ma-serie/s01e01"
    assert catalogue.episodes[100002].restriction == "geo-blocked"
    assert catalogue.episodes[100002].mode == "aes"
    assert catalogue.episodes[100100].media_type == "Film"
    assert catalogue.episodes[100100].length == 5400
    assert len(first.faults) == 1


def test_json_equals_toml(tmp_path: Path) -> None:
    data = tomllib.loads(SMALL)
    from_json = load(write(tmp_path / "c.json", json.dumps(data)))
    from_toml = load(write(tmp_path / "c.toml", SMALL))
    assert from_json.shows == from_toml.shows
    assert from_json.sections == from_toml.sections
    assert from_json.accounts == from_toml.accounts


def test_catalogue_served(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", SMALL)
    with Emulator(path) as emulator, httpx.Client(base_url=emulator.base_url) as client:
        page = client.get("/ott/catalog/v2/toutv/category/serie?pageSize=50").json()
        items = page["content"][0]["items"]
        assert items["pageSize"] == 2
        assert [card["title"] for card in items["results"]] == [
            "L'Été / Partie 1",
            "Mon film",
        ]
        url = client.get("/media/validation/v2/?idMedia=100001").json()["url"]
        assert client.get(url).status_code == 503
        assert client.get(url).status_code == 200
        geo = client.get("/media/validation/v2/?idMedia=100002").json()
        assert geo["errorCode"] == 1
        other = client.get("/media/validation/v2/?idMedia=100100").json()
        assert other["errorCode"] == 35


def test_documented_example_loads(tmp_path: Path) -> None:
    # docs/emulator.md shows a catalogue that uses every table: it must load.
    docs = Path(__file__).parents[2] / "docs" / "emulator.md"
    section = docs.read_text(encoding="utf-8").split("## Catalogue files", 1)[1]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match is not None
    media = tmp_path / "media" / "ep2"
    media.mkdir(parents=True)
    (media / "master.m3u8").write_text("#EXTM3U\n", encoding="utf-8")

    catalogue = load(write(tmp_path / "catalogue.toml", match.group(1)))

    assert set(catalogue.shows) == {"ma-serie", "mon-film"}
    assert sorted(catalogue.episodes) == [100000, 100001, 100002, 100100]
    first = catalogue.episodes[100001]
    assert first.mode == "aes-rotation"
    assert first.profile.first_sequence == 100
    assert len(first.profile.variants) == 3
    assert [fault.first for fault in first.faults] == [2]
    assert first.shaping is not None
    assert first.shaping.rate == 200000
    assert catalogue.episodes[100002].media_dir == media
    assert catalogue.episodes[100100].media_type == "Film"
    assert [fault.seed for fault in catalogue.faults] == [7]
    assert catalogue.accounts[0].tier == "Member"


def test_episode_shaping_is_scoped(tmp_path: Path) -> None:
    # Shaping in an episode's table applies to that episode only, as its
    # faults do.
    geo = 'mode = "geo-blocked"'
    text = SMALL.replace(
        geo, geo + '\nshaping = { endpoint = "validation", latency = 0.5 }', 1
    )
    path = write(tmp_path / "c.toml", text)
    with Emulator(path) as emulator, httpx.Client(base_url=emulator.base_url) as client:
        durations = {}
        for id_media in (100001, 100002):
            started = time.monotonic()
            response = client.get(f"/media/validation/v2/?idMedia={id_media}")
            durations[id_media] = time.monotonic() - started
            assert response.status_code == 200
        log = {
            record.id_media: record.duration
            for record in emulator.request_log
            if record.endpoint == "validation"
        }
    assert durations[100002] >= 0.5
    assert log[100002] >= 0.5
    assert durations[100001] < 0.5
    assert log[100001] < 0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('colour = "red"', "unknown key"),
        ('[[shows.seasons]]\nnumber = "un"', "expected an integer"),
        ('[[shows.seasons]]\nnumber = 2\ntier = "Gold"', "tier: expected one of"),
        (
            SEASON_2 + "id_media = 100001\ntitle = 'x'",
            "duplicate id_media",
        ),
        (
            SEASON_2 + "id_media = 7\ntitle = 'x'\nmode = 'hls'",
            "mode: expected one of",
        ),
    ],
)
def test_invalid_catalogue(tmp_path: Path, change: str, message: str) -> None:
    anchor = '[[shows]]\nslug = "mon-film"'
    text = SMALL.replace(anchor, change + "\n\n" + anchor, 1)
    with pytest.raises(CatalogueError, match=message):
        load(write(tmp_path / "bad.toml", text))


def test_error_names_place(tmp_path: Path) -> None:
    text = SMALL.replace('title = "Loin"', 'title = "Loin"\ntier = "Gold"')
    with pytest.raises(CatalogueError) as caught:
        load(write(tmp_path / "bad.toml", text))
    assert "shows[0].seasons[0].episodes[1].tier" in str(caught.value)
    assert "bad.toml" in str(caught.value)


def test_unknown_section_show(tmp_path: Path) -> None:
    text = SMALL.replace('shows = ["ma-serie", "mon-film"]', 'shows = ["absente"]')
    with pytest.raises(CatalogueError, match="unknown show 'absente'"):
        load(write(tmp_path / "bad.toml", text))


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read catalogue"):
        load(tmp_path / "absent.toml")
    with pytest.raises(CatalogueError, match="invalid catalogue"):
        load(write(tmp_path / "broken.json", "{"))


def test_demo_catalogue_content() -> None:
    demo = load_demo()
    titles = [show.title for show in demo.shows.values()]
    assert len(titles) >= 10
    assert any("/" in title for title in titles)
    assert any("'" in title for title in titles)
    assert any(any(c in title for c in "éÉèàÎî") for title in titles)
    assert len(titles) - len(set(titles)) == 1
    assert len({s.kind for s in demo.sections}) == 4
    episodes = list(demo.episodes.values())
    assert any(e.media_type == "Trailer" for e in episodes)
    assert any(e.media_type == "Film" for e in episodes)
    assert any(e.mode == "drm" for e in episodes)
    assert any(e.restriction == "geo-blocked" for e in episodes)
    assert any(e.tier == "Premium" or e.restriction == "premium-only" for e in episodes)
    assert max(len(show.seasons) for show in demo.shows.values()) >= 3
    assert {a.email for a in demo.accounts} == {
        "demo@toutvfs.test",
        "extra@toutvfs.test",
    }


def make_external_hls(directory: Path) -> None:
    """Write a clear HLS media made by ffmpeg alone, as someone else would."""
    directory.mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:rate=25",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            str(directory / "part%d.ts"),
            str(directory / "media.m3u8"),
        ],
        check=True,
        timeout=60,
    )
    (directory / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x90\nmedia.m3u8\n"
    )


def test_media_dir_served_unchanged(tmp_path: Path) -> None:
    make_external_hls(tmp_path / "ext")
    text = SMALL.replace('mode = "clear"', 'media_dir = "ext"')
    path = write(tmp_path / "c.toml", text)
    with Emulator(path) as emulator, httpx.Client(base_url=emulator.base_url) as client:
        url = client.get("/media/validation/v2/?idMedia=100001").json()["url"]
        assert "/cdn/ext/100001/master.m3u8?hdnea=" in url
        client.get(url)  # the episode's fault takes the first master request
        master = client.get(url)
        assert master.content == (tmp_path / "ext" / "master.m3u8").read_bytes()
        assert client.get(url.split("?")[0]).status_code == 403
        media_url = m3u8.loads(master.text, uri=url).playlists[0].absolute_uri
        media = client.get(media_url)
        assert media.content == (tmp_path / "ext" / "media.m3u8").read_bytes()
        playlist = m3u8.loads(media.text, uri=media_url)
        for segment in playlist.segments:
            name = segment.uri
            body = client.get(segment.absolute_uri).content
            assert body == (tmp_path / "ext" / name).read_bytes()
        escape = client.get(f"{emulator.base_url}/cdn/ext/100001/%2e%2e/c.toml")
        assert escape.status_code == 404
