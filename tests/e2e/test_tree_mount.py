"""End-to-end tests of the directory tree, on a catalogue written for them."""

from __future__ import annotations

import errno
import os
import subprocess
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from toutvfs.emulator import Emulator
from toutvfs.fs.searches import MAX_SEARCHES

from .mounting import Mount, start_mount

pytestmark = pytest.mark.fuse

LONG_TITLE = "Très long titre " + "é" * 160  # 336 bytes of UTF-8
NFC_TITLE = unicodedata.normalize("NFC", "Émission déjà vue")
NFD_TITLE = unicodedata.normalize("NFD", "Émission déjà vue")

CATALOGUE = f"""
[[accounts]]
email = "demo@toutvfs.test"
password = "demo"
tier = "Member"

[[sections]]
slug = "serie"
title = "Séries / Tout"
kind = "format"
shows = ["barre", "doublon-1", "doublon-2", "points"]

[[sections]]
slug = "drames"
title = "Drames"
kind = "genre"
shows = ["barre"]

[[shows]]
slug = "barre"
title = "Avant / Après"
description = "Une émission avec une barre."
genre = "Drames"

[[shows.seasons]]
number = 1
tier = "Standard"

[[shows.seasons.episodes]]
id_media = 500001
number = 1
title = "Premier : l'épisode"
description = "Le premier."
air_date = "2024-03-01"

[[shows.seasons.episodes]]
id_media = 500002
number = 2
title = "Hors du pays"
restriction = "geo-blocked"

[[shows.seasons.episodes]]
id_media = 500003
number = 3
title = "Réservé Extra"
restriction = "premium-only"

[[shows.seasons.episodes]]
id_media = 500004
number = 4
title = "Verrouillé"
mode = "drm"

[[shows.seasons.episodes]]
id_media = 500005
number = 5
title = "FairPlay"
mode = "sample-aes"

[[shows.seasons.episodes]]
id_media = 500006
number = 6
title = "Membres seulement"
tier = "Member"

[[shows]]
slug = "doublon-1"
title = "Doublon"

[[shows]]
slug = "doublon-2"
title = "Doublon"

[[shows]]
slug = "points"
title = ".."

[[shows]]
slug = "nul"
title = "Nul\\u0000Titre\\u0007"

[[shows]]
slug = "long"
title = "{LONG_TITLE}"

[[shows]]
slug = "nfc"
title = "{NFC_TITLE}"

[[shows]]
slug = "nfd"
title = "{NFD_TITLE}"
"""

SEASON = "shows/Avant ∕ Après/Saison 1"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    path = tmp_path_factory.mktemp("catalogue") / "hostile.toml"
    path.write_text(CATALOGUE)
    with Emulator(catalogue=path) as emulator:
        yield emulator


def mount_with(emulator: Emulator, where: Path, *extra: str) -> Mount:
    return start_mount(
        where / "mnt", where / "toutvfs.log", "--emulator", emulator.base_url, *extra
    )


@pytest.fixture(scope="module")
def member(
    hostile: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mount]:
    mount = mount_with(
        hostile, tmp_path_factory.mktemp("member"), "--user", "demo@toutvfs.test"
    )
    yield mount
    assert mount.stop() == 0, mount.log()


@pytest.fixture(scope="module")
def anonymous(
    hostile: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mount]:
    mount = mount_with(hostile, tmp_path_factory.mktemp("anonymous"))
    yield mount
    assert mount.stop() == 0, mount.log()


def test_hostile_titles_become_valid_names(member: Mount) -> None:
    names = sorted(os.listdir(member.path / "shows"))
    assert "Avant ∕ Après" in names
    assert "sans titre" in names
    assert "NulTitre" in names
    long_names = [n for n in names if n.startswith("Très long titre")]
    assert len(long_names) == 1
    assert len(long_names[0].encode()) <= 255
    assert len(long_names[0].encode()) >= 254
    doublons = [n for n in names if n.startswith("Doublon [")]
    assert len(doublons) == 2
    emissions = [n for n in names if n.startswith(NFC_TITLE + " [")]
    assert len(emissions) == 2
    assert len(names) == 8
    for name in names:
        assert os.path.isdir(member.path / "shows" / name)


def test_names_are_stable_across_mounts(
    member: Mount, hostile: Emulator, tmp_path: Path
) -> None:
    first = sorted(os.listdir(member.path / "shows"))
    inodes = {n: os.stat(member.path / "shows" / n).st_ino for n in first}
    other = mount_with(hostile, tmp_path, "--user", "demo@toutvfs.test")
    try:
        again = sorted(os.listdir(other.path / "shows"))
        assert again == first
        for name in again:
            assert os.stat(other.path / "shows" / name).st_ino == inodes[name]
    finally:
        assert other.stop() == 0


def test_section_links_resolve(member: Mount) -> None:
    sections = sorted(os.listdir(member.path / "sections"))
    assert sections == ["Drames", "Séries ∕ Tout"]
    subsection = member.path / "sections" / "Drames"
    (lineup,) = os.listdir(subsection)
    link = subsection / lineup / "Avant ∕ Après"
    assert os.readlink(link) == "../../../shows/Avant ∕ Après"
    assert link.resolve() == (member.path / "shows" / "Avant ∕ Après").resolve()
    assert sorted(os.listdir(link)) == sorted(
        os.listdir(member.path / "shows" / "Avant ∕ Après")
    )


def test_search_from_ls(member: Mount) -> None:
    result = subprocess.run(
        ["ls", str(member.path / "search" / "Avant")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == ["Avant ∕ Après"]
    link = member.path / "search" / "Avant" / "Avant ∕ Après"
    assert os.path.isdir(link)
    assert "Avant" in os.listdir(member.path / "search")


def test_episode_nfo_values(member: Mount) -> None:
    directory = member.path / SEASON / "S01E01 Premier : l'épisode"
    root = ET.parse(directory / "S01E01 Premier : l'épisode.nfo").getroot()
    assert root.tag == "episodedetails"
    assert root.findtext("title") == "Premier : l'épisode"
    assert root.findtext("showtitle") == "Avant / Après"
    assert root.findtext("season") == "1"
    assert root.findtext("episode") == "1"
    assert root.findtext("plot") == "Le premier."
    assert root.findtext("aired") == "2024-03-01"
    show = ET.parse(member.path / "shows" / "Avant ∕ Après" / "tvshow.nfo").getroot()
    assert show.findtext("title") == "Avant / Après"
    assert show.findtext("plot") == "Une émission avec une barre."


def test_every_nfo_parses(member: Mount) -> None:
    found = list((member.path / "shows" / "Avant ∕ Après").rglob("*.nfo"))
    assert len(found) >= 3
    for path in found:
        ET.parse(path)


def test_media_xattrs(member: Mount) -> None:
    directory = member.path / SEASON / "S01E01 Premier : l'épisode"
    media = sorted(directory.glob("*.ts"))
    assert [p.name for p in media] == ["320x180.ts", "640x360.ts"]
    path = media[1]
    assert os.getxattr(path, "user.toutv.id_media") == b"500001"
    assert os.getxattr(path, "user.toutv.resolution") == b"640x360"
    assert os.getxattr(path, "user.toutv.tier") == b"Standard"
    assert int(os.getxattr(path, "user.toutv.bandwidth")) > 0
    assert b"avc1" in os.getxattr(path, "user.toutv.codecs")
    assert os.getxattr(directory, "user.toutv.id_media") == b"500001"
    with pytest.raises(OSError) as caught:
        os.getxattr(path, "user.toutv.missing")
    assert caught.value.errno == errno.ENODATA
    assert "user.toutv.cached_bytes" in os.listxattr(path)
    size = len(path.read_bytes())
    assert os.getxattr(path, "user.toutv.cached_bytes") == str(size).encode()


def test_captions_and_images_have_exact_sizes(member: Mount) -> None:
    directory = member.path / SEASON / "S01E01 Premier : l'épisode"
    for name in ("640x360.fr.vtt", "thumb.jpg"):
        data = (directory / name).read_bytes()
        assert len(data) > 0
        assert os.stat(directory / name).st_size == len(data)
    assert (directory / "640x360.fr.vtt").read_bytes().startswith(b"WEBVTT")
    poster = member.path / "shows" / "Avant ∕ Après" / "poster.jpg"
    assert poster.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mpv_loads_the_captions(member: Mount) -> None:
    path = member.path / SEASON / "S01E01 Premier : l'épisode" / "640x360.ts"
    result = subprocess.run(
        ["mpv", "--no-config", "--vo=null", "--ao=null", "--length=1", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    subs = [line for line in result.stdout.splitlines() if "--sid=1" in line]
    assert len(subs) == 1, result.stdout
    assert "640x360.fr.vtt" in subs[0]


def test_opening_a_video_fetches_its_captions(
    hostile: Emulator, tmp_path: Path
) -> None:
    mount = mount_with(hostile, tmp_path, "--user", "demo@toutvfs.test")

    def caption_requests() -> int:
        return sum(1 for record in hostile.request_log if record.endpoint == "caption")

    try:
        directory = mount.path / SEASON / "S01E01 Premier : l'épisode"
        captions = directory / "640x360.fr.vtt"
        # Not fetched yet, so its size is not known.
        assert os.stat(captions).st_size == 0
        before = caption_requests()
        with (directory / "640x360.ts").open("rb"):
            # Players open the captions next; their fetch has started.
            deadline = time.monotonic() + 30.0
            while caption_requests() == before and time.monotonic() < deadline:
                time.sleep(0.02)
            assert caption_requests() == before + 1
            data = captions.read_bytes()
        assert caption_requests() == before + 1
        id_media = os.getxattr(directory / "640x360.ts", "user.toutv.id_media")
        url = f"{hostile.base_url}/cc/{id_media.decode()}.vtt"
        assert data == httpx.get(url).content
        assert os.stat(captions).st_size == len(data)
    finally:
        assert mount.stop() == 0, mount.log()


@pytest.mark.parametrize(
    ("episode", "reason", "text"),
    [
        ("S01E02 Hors du pays", "geo", "pas disponible dans votre pays"),
        ("S01E03 Réservé Extra", "premium", "premium"),
        ("S01E04 Verrouillé", "drm", "DRM"),
    ],
)
def test_unavailable_episode_notice(
    member: Mount, episode: str, reason: str, text: str
) -> None:
    directory = member.path / SEASON / episode
    assert os.listdir(directory) == ["UNAVAILABLE.txt"]
    notice = directory / "UNAVAILABLE.txt"
    assert os.getxattr(notice, "user.toutv.reason") == reason.encode()
    assert text in notice.read_text()


def test_login_required_when_anonymous(anonymous: Mount) -> None:
    directory = anonymous.path / SEASON / "S01E06 Membres seulement"
    assert os.listdir(directory) == ["UNAVAILABLE.txt"]
    assert os.getxattr(directory / "UNAVAILABLE.txt", "user.toutv.reason") == b"login"
    playable = anonymous.path / SEASON / "S01E01 Premier : l'épisode"
    assert "640x360.ts" in os.listdir(playable)


def test_sample_aes_open_is_eacces(member: Mount) -> None:
    path = member.path / SEASON / "S01E05 FairPlay" / "640x360.ts"
    with pytest.raises(OSError) as caught:
        path.open("rb")
    assert caught.value.errno == errno.EACCES
    lines = [line for line in member.log().splitlines() if "S01E05 FairPlay" in line]
    assert len(lines) == 1, member.log()
    assert "ERROR" in lines[0]
    assert "SAMPLE-AES" in lines[0]
    assert os.path.isdir(member.path / "shows")


def errno_of(call: Callable[[], object]) -> int | None:
    try:
        call()
    except OSError as exc:
        return exc.errno
    return None


def test_search_names_checked(hostile: Emulator, tmp_path: Path) -> None:
    mount = mount_with(hostile, tmp_path, "--user", "demo@toutvfs.test")
    search = mount.path / "search"
    try:
        for length in (256, 4000):
            too_long = partial(os.listdir, search / ("a" * length))
            assert errno_of(too_long) == errno.ENAMETOOLONG, length
        for name in ("fle\nuve", "tab\there", "esc\x1b[0m", "  "):
            assert errno_of(partial(os.stat, search / name)) == errno.ENOENT, name
        nfd = unicodedata.normalize("NFD", "Après")
        nfc = unicodedata.normalize("NFC", "Après")
        assert os.listdir(search / nfd) == ["Avant ∕ Après"]
        assert os.listdir(search / nfc) == ["Avant ∕ Après"]
        assert os.stat(search / nfd).st_ino == os.stat(search / nfc).st_ino
        assert os.listdir(search) == [nfc]
        searches = [r for r in hostile.request_log if r.endpoint == "search"]
        terms = [record.query.get("term") for record in searches]
        assert terms.count(nfc) == 1
        assert terms.count(nfd) == 0
    finally:
        assert mount.stop() == 0, mount.log()


def test_search_creating_calls_erofs(hostile: Emulator, tmp_path: Path) -> None:
    mount = mount_with(hostile, tmp_path, "--user", "demo@toutvfs.test")
    search = mount.path / "search"
    outside = tmp_path / "outside"
    outside.write_text("x")
    calls: dict[str, Callable[[], object]] = {
        "mkdir": lambda: os.mkdir(search / "newdir"),
        "mknod": lambda: os.mkfifo(search / "fifo"),
        "creat": lambda: os.close(
            os.open(search / "file", os.O_WRONLY | os.O_CREAT, 0o644)
        ),
        "symlink": lambda: os.symlink("target", search / "link"),
        "link": lambda: os.link(outside, search / "hard"),
        "rename": lambda: os.rename(search / "Avant", search / "moved"),
    }
    try:
        assert os.listdir(search / "Avant") == ["Avant ∕ Après"]
        for name, call in calls.items():
            assert errno_of(call) == errno.EROFS, name
        assert errno_of(lambda: os.mkdir(search / "Avant")) == errno.EEXIST
        assert errno_of(lambda: os.rmdir(search / "Avant")) == errno.EROFS
        assert os.listdir(search) == ["Avant"]
    finally:
        assert mount.stop() == 0, mount.log()


def test_search_keeps_recent_searches(hostile: Emulator, tmp_path: Path) -> None:
    mount = mount_with(hostile, tmp_path, "--user", "demo@toutvfs.test")
    search = mount.path / "search"
    try:
        for index in range(MAX_SEARCHES + 6):
            os.stat(search / f"terme{index}")
        expected = sorted(f"terme{index}" for index in range(6, MAX_SEARCHES + 6))
        assert sorted(os.listdir(search)) == expected
        # A search pushed out is a new search when its name comes again,
        # although the kernel had its entry cached.
        before = searches_of(hostile, "Avant")
        assert os.listdir(search / "Avant") == ["Avant ∕ Après"]
        for index in range(MAX_SEARCHES):
            os.stat(search / f"autre{index}")
        assert "Avant" not in os.listdir(search)
        assert os.listdir(search / "Avant") == ["Avant ∕ Après"]
        assert searches_of(hostile, "Avant") == before + 2
    finally:
        assert mount.stop() == 0, mount.log()


def searches_of(emulator: Emulator, term: str) -> int:
    """Count the emulator's searches for *term* so far."""
    return sum(
        1
        for record in emulator.request_log
        if record.endpoint == "search" and record.query.get("term") == term
    )
