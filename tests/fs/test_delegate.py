"""The delegating catalogue base: every protocol method reaches the inner one."""

from __future__ import annotations

import inspect
from typing import Any

from toutvfs.fs import source
from toutvfs.fs.backend import VersionFilter
from toutvfs.fs.delegate import DelegatingCatalogue
from toutvfs.fs.offline import ListingStore, OfflineCatalogue

# Each protocol method with the argument a test passes (None for no argument)
# and the object the inner catalogue returns.
RESULTS: dict[str, tuple[str | None, object]] = {
    "shows": (None, [source.ShowEntry("s", "Série")]),
    "show": ("s", source.ShowDetail("s", "Série")),
    "media": ("m1", source.PlayableMedia(caption_url="http://h/c.vtt")),
    "sections": (None, [source.SectionEntry("genres", "Drames", "drames")]),
    "subsections": ("drames", [source.Subsection("À la une", ())]),
    "search": ("fleuve", [source.ShowEntry("t", "Trouvé")]),
    "fetch": ("http://h/p.png", b"\x89PNG"),
}

# The methods that both wrappers leave to the inner catalogue.
UNCHANGED = ("sections", "subsections", "search", "fetch")


class Recording:
    """A catalogue that records each call with its argument."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def _record(self, method: str, argument: str | None) -> Any:
        self.calls.append((method, argument))
        return RESULTS[method][1]

    async def shows(self) -> Any:
        return self._record("shows", None)

    async def show(self, slug: str) -> Any:
        return self._record("show", slug)

    async def media(self, id_media: str) -> Any:
        return self._record("media", id_media)

    async def sections(self) -> Any:
        return self._record("sections", None)

    async def subsections(self, slug: str) -> Any:
        return self._record("subsections", slug)

    async def search(self, term: str) -> Any:
        return self._record("search", term)

    async def fetch(self, url: str) -> Any:
        return self._record("fetch", url)


def coroutine_methods(cls: type) -> set[str]:
    return {
        name for name, value in vars(cls).items() if inspect.iscoroutinefunction(value)
    }


async def call_each(catalogue: object, methods: tuple[str, ...]) -> None:
    """Call *methods* of *catalogue* in order, checking each result's identity."""
    for method in methods:
        argument, expected = RESULTS[method]
        arguments = () if argument is None else (argument,)
        result = await getattr(catalogue, method)(*arguments)
        assert result is expected, method


def test_delegate_defines_every_protocol_method() -> None:
    assert coroutine_methods(DelegatingCatalogue) == coroutine_methods(source.Catalogue)


def test_table_covers_every_protocol_method() -> None:
    assert set(RESULTS) == coroutine_methods(source.Catalogue)


async def test_delegate_forwards_calls_and_results() -> None:
    inner = Recording()
    methods = tuple(RESULTS)
    await call_each(DelegatingCatalogue(inner), methods)
    assert inner.calls == [(method, RESULTS[method][0]) for method in methods]


async def test_wrappers_pass_through_unchanged_methods() -> None:
    offline_inner = Recording()
    filter_inner = Recording()
    wrappers = (
        (OfflineCatalogue(offline_inner, ListingStore(None)), offline_inner),
        (VersionFilter(filter_inner, "all"), filter_inner),
    )
    for wrapper, inner in wrappers:
        await call_each(wrapper, UNCHANGED)
        assert inner.calls == [(method, RESULTS[method][0]) for method in UNCHANGED]
