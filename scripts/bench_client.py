"""Client benchmark: list every show of a large emulated catalogue, cold and warm.

Run it as ``python scripts/bench_client.py [--shows N]``. It
builds a catalogue of N one-episode shows in one format section, starts the
emulator on loopback, and lists every show through the synchronous facade
(``Client.search_show_summaries``) three times:

- cold: an anonymous client with an empty disk cache;
- warm: a second client of the same user, which loads that cache from disk;
- no cache: a client with ``no_cache=True``, for the time without the cache;
- category pages: no cache, with the v1 index answering 426, so the client
  lists the category pages of every format instead.

It prints a Markdown table of wall time and the requests the emulator saw.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from toutvfs.client.facade import Client
from toutvfs.config import Config
from toutvfs.emulator import Catalogue, Emulator, Fault
from toutvfs.emulator.model import Episode, Season, Section, Show


@dataclass(frozen=True)
class Run:
    """One listing: its name, the shows listed, seconds and requests."""

    name: str
    shows: int
    seconds: float
    requests: int


def large_catalogue(shows: int) -> Catalogue:
    """Return a catalogue of *shows* one-episode series in one format section."""
    catalogue_shows: dict[str, Show] = {}
    for number in range(shows):
        slug = f"serie-{number:05d}"
        episode = Episode(id_media=100000 + number, title=f"Épisode {number}")
        catalogue_shows[slug] = Show(
            slug=slug,
            title=f"Série {number:05d}",
            seasons=[Season(number=1, episodes=[episode])],
        )
    section = Section(slug="serie", title="Séries", shows=list(catalogue_shows))
    return Catalogue(sections=[section], shows=catalogue_shows)


@contextlib.contextmanager
def cache_directory(path: Path) -> Iterator[None]:
    """Point ``$TOUTV3_CACHE_DIR`` at *path* for the duration of the block."""
    previous = os.environ.get("TOUTV3_CACHE_DIR")
    os.environ["TOUTV3_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TOUTV3_CACHE_DIR"]
        else:
            os.environ["TOUTV3_CACHE_DIR"] = previous


def list_shows(
    emulator: Emulator, config: Config, name: str, cache_dir: Path, no_cache: bool
) -> Run:
    """List every show with a new anonymous client and count its requests."""
    before = len(emulator.request_log)
    start = time.perf_counter()
    with cache_directory(cache_dir), Client(config=config, no_cache=no_cache) as client:
        summaries = client.search_show_summaries
    seconds = time.perf_counter() - start
    return Run(name, len(summaries), seconds, len(emulator.request_log) - before)


def run(shows: int, page_size: int) -> list[Run]:
    """Return the cold, warm, no-cache and category-page runs over *shows* shows."""
    with (
        tempfile.TemporaryDirectory() as scratch,
        Emulator(large_catalogue(shows)) as emulator,
    ):
        config = Config.for_emulator(emulator.base_url).with_overrides(
            page_size=page_size
        )
        cache_dir = Path(scratch) / "cache"
        runs = [
            list_shows(emulator, config, "cold", cache_dir, no_cache=False),
            list_shows(emulator, config, "warm", cache_dir, no_cache=False),
            list_shows(emulator, config, "no cache", cache_dir, no_cache=True),
        ]
        emulator.faults.append(Fault("status", endpoint="search-index", status=426))
        runs.append(
            list_shows(emulator, config, "category pages", cache_dir, no_cache=True)
        )
        return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shows", type=int, default=5000, help="shows in the catalogue"
    )
    parser.add_argument(
        "--page-size", type=int, default=100, help="entries per page of the index"
    )
    args = parser.parse_args(argv)
    # The category-page run logs the client's fallback warning on purpose.
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    runs = run(args.shows, args.page_size)
    print(f"{args.shows} shows, page size {args.page_size}\n")
    print("| run | shows listed | seconds | requests |")
    print("|---|---|---|---|")
    for entry in runs:
        print(
            f"| {entry.name} | {entry.shows} | {entry.seconds:.3f} | {entry.requests} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
