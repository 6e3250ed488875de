"""Tests of the search/ directory over a fake catalogue."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from toutvfs.errors import NetworkError
from toutvfs.fs.nodes import DirectoryNode
from toutvfs.fs.searches import MAX_SEARCHES, search_term
from toutvfs.fs.tree import Tree

NFC = unicodedata.normalize("NFC", "Héritiers")
NFD = unicodedata.normalize("NFD", "Héritiers")


async def search_dir(tree: Tree) -> DirectoryNode:
    node = await tree.lookup(tree.root, "search")
    assert isinstance(node, DirectoryNode)
    return node


async def listed(tree: Tree) -> list[str]:
    return [node.name for node in await tree.entries(await search_dir(tree))]


def searches_run(catalogue: Any) -> list[str]:
    return [call for call in catalogue.calls if call.startswith("search:")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nord", "nord"),
        (NFD, NFC),
        ("a" * 255, "a" * 255),
        ("", None),
        ("   ", None),
        (".hidden", None),
        ("fle\nuve", None),
        ("tab\there", None),
        ("del\x7f", None),
        ("c1\x85", None),
        ("line\u2028break", None),
        ("bad\udcff", None),
        # U+0958 stays decomposed under NFC: 85 of them grow to 510 bytes.
        ("\u0958" * 85, None),
    ],
)
def test_search_term_cases(name: str, expected: str | None) -> None:
    assert search_term(name) == expected


async def test_search_lookup_runs_search(catalogue: Any, tree: Tree) -> None:
    directory = await search_dir(tree)
    node = await tree.lookup(directory, "nord")
    assert isinstance(node, DirectoryNode)
    assert searches_run(catalogue) == ["search:nord"]
    assert node.entries is not None
    assert sorted(node.entries) == ["Le Grand Nord"]
    assert await listed(tree) == ["nord"]


@pytest.mark.parametrize("name", ["fle\nuve", "tab\there", " ", ".x", "del\x7f"])
async def test_invalid_name_not_searched(catalogue: Any, tree: Tree, name: str) -> None:
    directory = await search_dir(tree)
    assert await tree.lookup(directory, name) is None
    assert searches_run(catalogue) == []
    assert await listed(tree) == []


async def test_two_forms_one_entry(catalogue: Any, tree: Tree) -> None:
    directory = await search_dir(tree)
    composed = await tree.lookup(directory, NFC)
    decomposed = await tree.lookup(directory, NFD)
    assert composed is not None
    assert decomposed is composed
    assert searches_run(catalogue) == [f"search:{NFC}"]
    assert await listed(tree) == [NFC]


async def test_failed_search_not_remembered(catalogue: Any, tree: Tree) -> None:
    directory = await search_dir(tree)
    working = catalogue.search

    async def failing(term: str) -> list[Any]:
        catalogue.calls.append(f"search:{term}")
        raise NetworkError("connection refused")

    catalogue.search = failing
    with pytest.raises(NetworkError):
        await tree.lookup(directory, "nord")
    assert await listed(tree) == []
    catalogue.search = working
    node = await tree.lookup(directory, "nord")
    assert node is not None
    assert searches_run(catalogue) == ["search:nord", "search:nord"]
    assert await listed(tree) == ["nord"]


async def test_searches_keep_most_recent(catalogue: Any, tree: Tree) -> None:
    directory = await search_dir(tree)
    first = await tree.lookup(directory, "q0")
    assert first is not None
    for index in range(1, MAX_SEARCHES + 2):
        assert await tree.lookup(directory, f"q{index}") is not None
    expected = [f"q{index}" for index in range(2, MAX_SEARCHES + 2)]
    assert await listed(tree) == expected
    assert tree.get(first.inode) is None
    # A remembered search is not run again.
    assert await tree.lookup(directory, "q2") is not None
    assert len(searches_run(catalogue)) == MAX_SEARCHES + 2


async def test_listing_survives_refresh(catalogue: Any, streams: Any) -> None:
    now = [0.0]
    tree = Tree(catalogue, streams, ttl=10.0, clock=lambda: now[0])
    directory = await search_dir(tree)
    assert await tree.lookup(directory, "nord") is not None
    now[0] = 11.0
    assert await listed(tree) == ["nord"]
    assert searches_run(catalogue) == ["search:nord"]
