"""Client tests: the pytoutv examples of docs/examples, run against the emulator.

Each example runs as its own process, as a user would run it, with the demo
account and ``TOUTVFS_EMULATOR_URL`` pointing at a local emulator. The
expected output is built from the emulator's catalogue.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toutvfs.emulator import Emulator

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
USER = "demo@toutvfs.test"
PASSWORD = "demo"
DOWNLOAD_PATH = Path("/tmp/episode.ts")

# Browse lists, in the order the browse page and so the client give them.
KIND_ORDER = ("format", "genre", "network", "collection")


@pytest.fixture(scope="module")
def emulator():
    with Emulator() as running:
        yield running


def run_example(emulator: Emulator, tmp_path: Path, name: str, *args: str) -> str:
    env = dict(
        os.environ,
        TOUTVFS_EMULATOR_URL=emulator.base_url,
        TOUTV3_CACHE_DIR=str(tmp_path / "cache"),
        TOUTVFS_CONFIG=str(tmp_path / "no-config.toml"),
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), USER, PASSWORD, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stderr
    return result.stdout


def is_free(tier: str) -> bool:
    return tier != "Premium"


def test_example_files_differ_only_in_import():
    for path in sorted(EXAMPLES.glob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "from toutvfs.client import toutv3", path.name
        assert not any("import toutv3" in line for line in lines[1:]), path.name


def test_list_searchable_shows(emulator, tmp_path):
    output = run_example(emulator, tmp_path, "list_searchable_shows.py")
    blocks = output.strip().split("\n")
    assert len(blocks) % 4 == 0
    shows = emulator.catalogue.shows
    seen = []
    for start in range(0, len(blocks), 4):
        title, url, searchable, free = blocks[start : start + 4]
        slug = url.removeprefix("  URL name:        ")
        seen.append(slug)
        assert title == f"{shows[slug].title}:"
        assert searchable.startswith("  Searchable text: ")
        assert free == "  Is free?:        None"
    assert sorted(seen) == sorted(shows)


def test_list_section_summaries(emulator, tmp_path):
    output = run_example(emulator, tmp_path, "list_section_summaries.py")
    sections = sorted(
        emulator.catalogue.sections, key=lambda section: KIND_ORDER.index(section.kind)
    )
    expected = "".join(
        f"{section.title}:\n  Name: {section.slug}\n" for section in sections
    )
    assert output == expected


def test_list_section(emulator, tmp_path):
    output = run_example(emulator, tmp_path, "list_section.py", "serie")
    section = emulator.catalogue.section("serie")
    lines = output.splitlines()
    assert lines[0] == f"Title: {section.title}"
    items = [line.strip() for line in lines if line.startswith("    URL name: ")]
    assert [item.removeprefix("URL name: ") for item in items] == section.shows
    for slug in section.shows:
        show = emulator.catalogue.shows[slug]
        block = [
            f"  {show.title}",
            f"    URL name: {slug}",
            f"    Is free?: {is_free(show.tier)}",
        ]
        assert "\n".join(block) + "\n" in output


def test_list_show(emulator, tmp_path):
    slug = "les-heritiers-du-fleuve"
    output = run_example(emulator, tmp_path, "list_show.py", slug)
    show = emulator.catalogue.shows[slug]
    expected = [f"Title: {show.title}"]
    lineups = []
    if show.trailer is not None:
        lineups.append(("Bande-annonce", [show.trailer]))
    lineups += [(season.display_title, season.episodes) for season in show.seasons]
    for title, episodes in lineups:
        expected += ["", f"Season: {title}"]
        for episode in episodes:
            expected += [
                f"  {episode.title}",
                f"    URL name: {episode.slug}",
                f"    Is free?: {is_free(episode.tier)}",
            ]
    assert output.splitlines() == expected


def test_download_latest_episode(emulator, tmp_path):
    slug = "episodes-perdus"
    DOWNLOAD_PATH.unlink(missing_ok=True)
    try:
        output = run_example(emulator, tmp_path, "download_latest_episode.py", slug)
        show = emulator.catalogue.shows[slug]
        season = show.seasons[-1]
        episode = season.episodes[-1]
        media = emulator.media_set(episode.profile).variants[0]
        clear = media.segments["clear"]
        expected_bytes = b"".join(
            (media.directory / "clear" / segment.name).read_bytes() for segment in clear
        )
        written = DOWNLOAD_PATH.read_bytes()
    finally:
        DOWNLOAD_PATH.unlink(missing_ok=True)
    lines = output.splitlines()
    assert lines[:4] == [
        f"Show:    {show.title}",
        f"Season:  {season.display_title}",
        f"Episode: {episode.title}",
        "",
    ]
    total = len(clear)
    assert lines[4:] == [f"{done}/{total}" for done in range(total + 1)]
    assert len(written) == len(expected_bytes)
    assert written == expected_bytes
