"""Tests of the directory tree over a fake catalogue."""

from __future__ import annotations

from typing import Any

import pytest

from toutvfs.errors import NetworkError
from toutvfs.fs.nodes import DirectoryNode, MediaNode, TextNode
from toutvfs.fs.tree import Tree


async def walk(tree: Tree, *parts: str) -> Any:
    node: Any = tree.root
    for part in parts:
        child = await tree.lookup(node, part)
        assert child is not None, f"{part} not found"
        node = child
    return node


async def names_in(tree: Tree, *parts: str) -> list[str]:
    directory = await walk(tree, *parts)
    return sorted(node.name for node in await tree.entries(directory))


async def test_root_lists_shows(tree: Tree) -> None:
    assert await names_in(tree) == ["search", "sections", "shows"]


async def test_shows_dedupes_same_titles(tree: Tree) -> None:
    listed = await names_in(tree, "shows")
    assert "Les Héritiers du fleuve" in listed
    assert "Le Grand Nord" in listed
    doublons = [name for name in listed if name.startswith("Doublon")]
    assert len(doublons) == 2
    assert doublons[0] != doublons[1]


async def test_series_lists_seasons_and_episodes(tree: Tree) -> None:
    assert await names_in(tree, "shows", "Les Héritiers du fleuve") == [
        "Saison 1",
        "poster.jpg",
        "tvshow.nfo",
    ]
    assert await names_in(tree, "shows", "Les Héritiers du fleuve", "Saison 1") == [
        "S01E01 Le départ",
        "S01E02 Brume \u2215 Partie 1",
        "S01E03 Verrouillé",
    ]


async def test_episode_lists_variants_by_resolution(tree: Tree) -> None:
    path = ("shows", "Les Héritiers du fleuve", "Saison 1", "S01E01 Le départ")
    assert await names_in(tree, *path) == [
        "320x180.fr.vtt",
        "320x180.ts",
        "640x360.fr.vtt",
        "640x360.ts",
        "S01E01 Le départ.nfo",
        "thumb.jpg",
    ]
    media = await walk(tree, *path, "640x360.ts")
    assert isinstance(media, MediaNode)
    assert media.id_media == "1001"
    assert media.size == 900_000 * 60 // 8
    assert media.size_exact is False


async def test_film_holds_versions_directly(tree: Tree) -> None:
    assert await names_in(tree, "shows", "Le Grand Nord") == [
        "320x180.fr.vtt",
        "320x180.ts",
        "640x360.fr.vtt",
        "640x360.ts",
        "Le Grand Nord.nfo",
        "thumb.jpg",
        "tvshow.nfo",
    ]


async def test_unavailable_episode_has_notice(tree: Tree) -> None:
    path = ("shows", "Les Héritiers du fleuve", "Saison 1", "S01E03 Verrouillé")
    assert await names_in(tree, *path) == ["UNAVAILABLE.txt"]
    notice = await walk(tree, *path, "UNAVAILABLE.txt")
    assert isinstance(notice, TextNode)
    assert "Ce contenu est protégé par DRM." in notice.content.decode()


async def test_listing_is_cached_until_ttl(catalogue: Any, streams: Any) -> None:
    now = [0.0]
    tree = Tree(catalogue, streams, ttl=10.0, clock=lambda: now[0])
    await names_in(tree, "shows")
    await names_in(tree, "shows")
    assert catalogue.calls.count("shows") == 1
    now[0] = 11.0
    await names_in(tree, "shows")
    assert catalogue.calls.count("shows") == 2


async def test_failed_refresh_serves_last_listing(
    catalogue: Any, streams: Any, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    tree = Tree(catalogue, streams, ttl=10.0, clock=lambda: now[0])
    before = await names_in(tree, "shows")
    catalogue.failing = True
    now[0] = 11.0
    assert await names_in(tree, "shows") == before
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "/shows" in warnings[0].getMessage()


async def test_failed_first_listing_is_not_cached(catalogue: Any, tree: Tree) -> None:
    catalogue.failing = True
    shows = await walk(tree, "shows")
    with pytest.raises(NetworkError):
        await tree.entries(shows)
    assert shows.entries is None
    catalogue.failing = False
    assert len(await tree.entries(shows)) == 4


async def test_inodes_are_stable_across_trees(catalogue: Any, streams: Any) -> None:
    path = ("shows", "Les Héritiers du fleuve", "Saison 1", "S01E01 Le départ")
    first = await walk(Tree(catalogue, streams), *path, "320x180.ts")
    second = await walk(Tree(catalogue, streams), *path, "320x180.ts")
    assert first.inode == second.inode
    assert first.inode > 1


async def test_listing_shows_fetches_no_show_page(catalogue: Any, tree: Tree) -> None:
    await names_in(tree, "shows")
    assert catalogue.calls == ["shows"]


async def test_refresh_keeps_child_listings(catalogue: Any, streams: Any) -> None:
    now = [0.0]
    tree = Tree(catalogue, streams, ttl=10.0, clock=lambda: now[0])
    show = await walk(tree, "shows", "Les Héritiers du fleuve")
    assert isinstance(show, DirectoryNode)
    await tree.entries(show)
    now[0] = 11.0
    await names_in(tree, "shows")
    refreshed = await walk(tree, "shows", "Les Héritiers du fleuve")
    assert refreshed.inode == show.inode
    assert refreshed.entries is not None


async def test_sections_link_into_shows(tree: Tree) -> None:
    assert await names_in(tree, "sections") == ["Drames", "Séries"]
    assert await names_in(tree, "sections", "Séries") == ["Populaires", "Tout"]
    links = await tree.entries(await walk(tree, "sections", "Séries", "Populaires"))
    targets = sorted((link.name, link.target) for link in links)
    assert targets == [
        ("Le Grand Nord", "../../../shows/Le Grand Nord"),
        ("Les Héritiers du fleuve", "../../../shows/Les Héritiers du fleuve"),
    ]


async def test_search_runs_on_lookup(catalogue: Any, tree: Tree) -> None:
    assert await names_in(tree, "search") == []
    query = await walk(tree, "search", "nord")
    links = await tree.entries(query)
    assert [(link.name, link.target) for link in links] == [
        ("Le Grand Nord", "../../shows/Le Grand Nord")
    ]
    assert "search:nord" in catalogue.calls
    assert await names_in(tree, "search") == ["nord"]


async def test_episode_nfo_has_kodi_fields(tree: Tree) -> None:
    import xml.etree.ElementTree as ET

    path = (
        "shows",
        "Les Héritiers du fleuve",
        "Saison 1",
        "S01E02 Brume \u2215 Partie 1",
    )
    node = await walk(tree, *path, "S01E02 Brume \u2215 Partie 1.nfo")
    root = ET.fromstring(node.content)
    assert root.tag == "episodedetails"
    assert root.findtext("title") == "Brume / Partie 1"
    assert root.findtext("showtitle") == "Les Héritiers du fleuve"
    assert root.findtext("season") == "1"
    assert root.findtext("episode") == "2"
    assert root.findtext("plot") == "Brume / Partie 1 : la suite."
    assert root.findtext("aired") == "2024-01-02"
    assert root.findtext("runtime") == "1"


async def test_images_use_sized_urls(tree: Tree) -> None:
    poster = await walk(tree, "shows", "Les Héritiers du fleuve", "poster.jpg")
    assert poster.url == "http://images.test/poster_600.jpg"
    assert poster.content is None
