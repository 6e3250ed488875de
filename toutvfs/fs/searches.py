"""The ``search/`` directory: each name looked up there is a catalogue search.

A name becomes a search only if it is a usable query: its NFC form is not
blank, does not start with a dot and contains no control character, so two
Unicode forms of one query share one entry. The search runs during the
lookup, and only a search that succeeded is remembered. The directory lists
the `MAX_SEARCHES` most recent searches, so lookups of many names cannot
grow the listing, or the searches that ``ls -R`` would run, without bound.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from typing import TYPE_CHECKING

from toutvfs.fs.names import NAME_MAX
from toutvfs.fs.nodes import DirectoryNode, Loader, Node

if TYPE_CHECKING:
    from toutvfs.fs.tree import Tree

# Searches listed in search/; a new one pushes out the oldest.
MAX_SEARCHES = 64

# Unicode categories that no query may contain: control characters (C0, DEL
# and C1), the line and paragraph separators, and the surrogates that stand
# for bytes of a name that are not UTF-8.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def search_term(name: str) -> str | None:
    """Return the query that the name *name* stands for, or None if it is none.

    The query is the NFC form of *name*. It is None when that form is blank,
    starts with a dot (as ``.hidden`` files and editor probes do), contains a
    control character or bytes that are not UTF-8, or is longer than
    `NAME_MAX` bytes in UTF-8.
    """
    term = unicodedata.normalize("NFC", name)
    if not term.strip() or term.startswith("."):
        return None
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in term):
        return None
    # NFC keeps some characters decomposed, so a name can grow.
    if len(term.encode()) > NAME_MAX:
        return None
    return term


class Searches:
    """The searches remembered in one ``search/`` directory, oldest first."""

    def __init__(self, tree: Tree, run_search: Loader) -> None:
        self.tree = tree
        self._run_search = run_search
        self._by_term: OrderedDict[str, DirectoryNode] = OrderedDict()

    async def listing(self, directory: DirectoryNode) -> list[Node]:
        """List the remembered searches: the loader of ``search/``."""
        return list(self._by_term.values())

    async def lookup(self, directory: DirectoryNode, name: str) -> Node | None:
        """Return the search directory for *name*, running the search if new.

        Returns None, with no search run, for a name that is no query.
        Raises the catalogue's error when the search fails, and then
        remembers nothing.
        """
        term = search_term(name)
        if term is None:
            return None
        known = self._by_term.get(term)
        if known is not None:
            return known
        node = self.tree.directory(directory, f"search:{term}", term, self._run_search)
        node.slug = term
        await self.tree.entries(node)
        # A concurrent lookup of the same name may have finished first.
        known = self._by_term.get(term)
        if known is not None:
            return known
        self._by_term[term] = node
        while len(self._by_term) > MAX_SEARCHES:
            _, oldest = self._by_term.popitem(last=False)
            self.tree.remove(directory, oldest)
        return node
