"""Emulator layer: generate large catalogues for scale tests.

``python -m toutvfs.emulator.largegen --shows 5000 --episodes 100000 -o big.json``
writes a catalogue file in the documented format; `large_catalogue` builds
the same data in memory. Every episode plays the default media profile, so a
catalogue of any size needs one generated media set. The output depends only
on the arguments and the seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from toutvfs.emulator.loader import parse
from toutvfs.emulator.model import Catalogue

FIRST_ID = 1_000_000
EPISODES_PER_SEASON = 10
# One show in FILM_EVERY is a film, with a single media.
FILM_EVERY = 10
GENRES = ("Drames", "Humour", "Jeunesse", "Documentaires", "Variétés")
WORDS = (
    "fleuve",
    "été",
    "château",
    "forêt",
    "hiver",
    "l'île",
    "Québec",
    "rivière",
    "nuit",
    "cœur",
    "étoile",
    "lac",
)
TIERS = ("Standard", "Member", "Member", "Premium")


def large_catalogue_data(shows: int, episodes: int, seed: int = 0) -> dict[str, Any]:
    """Return the content of a catalogue file with *shows* shows and
    *episodes* playable items in total.

    Raises:
        ValueError: there are fewer episodes than shows, because each show
            has at least one.
    """
    if shows < 1 or episodes < shows:
        raise ValueError(
            f"invalid sizes: {shows} shows and {episodes} episodes; "
            "every show needs at least one episode"
        )
    draw = random.Random(seed)
    films = [index % FILM_EVERY == FILM_EVERY - 1 for index in range(shows)]
    series = films.count(False)
    if series == 0 and episodes > shows:
        raise ValueError("a catalogue of films only has one episode per show")
    extra = episodes - films.count(True)
    base, remainder = divmod(extra, series) if series else (0, 0)
    next_id = FIRST_ID
    show_tables: list[dict[str, Any]] = []
    for index in range(shows):
        words = " ".join(draw.sample(WORDS, 2))
        slug = f"emission-{index:05d}"
        title = f"Émission {index} : {words}"
        genre = GENRES[index % len(GENRES)]
        tier = TIERS[index % len(TIERS)]
        table: dict[str, Any] = {
            "slug": slug,
            "title": title,
            "description": f"Description de l'émission {index}.",
            "tier": tier,
            "genre": genre,
        }
        if films[index]:
            table["kind"] = "film"
            table["film"] = {"id_media": next_id, "title": title}
            next_id += 1
        else:
            count = base + (1 if remainder > 0 else 0)
            remainder -= 1
            seasons: list[dict[str, Any]] = []
            for number in range(1, count + 1):
                season_number = (number - 1) // EPISODES_PER_SEASON + 1
                if len(seasons) < season_number:
                    seasons.append({"number": season_number, "episodes": []})
                seasons[-1]["episodes"].append(
                    {
                        "id_media": next_id,
                        "number": (number - 1) % EPISODES_PER_SEASON + 1,
                        "title": f"Épisode {number}",
                    }
                )
                next_id += 1
            table["seasons"] = seasons
        show_tables.append(table)
    sections = [
        {
            "slug": "serie",
            "title": "Séries",
            "kind": "format",
            "shows": [t["slug"] for t in show_tables if "seasons" in t],
        },
        {
            "slug": "film",
            "title": "Films",
            "kind": "format",
            "shows": [t["slug"] for t in show_tables if "film" in t],
        },
    ]
    for genre in GENRES:
        sections.append(
            {
                "slug": genre.lower().replace("é", "e"),
                "title": genre,
                "kind": "genre",
                "shows": [t["slug"] for t in show_tables if t["genre"] == genre],
            }
        )
    return {
        "accounts": [
            {"email": "demo@toutvfs.test", "password": "demo", "tier": "Member"},
            {"email": "extra@toutvfs.test", "password": "extra", "tier": "Premium"},
        ],
        "sections": sections,
        "shows": show_tables,
    }


def large_catalogue(shows: int, episodes: int, seed: int = 0) -> Catalogue:
    """Return the catalogue that `large_catalogue_data` describes."""
    data = large_catalogue_data(shows, episodes, seed)
    return parse(data, f"<large catalogue {shows}x{episodes}>", Path("."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toutvfs.emulator.largegen",
        description="Write a large emulator catalogue file (JSON).",
    )
    parser.add_argument("--shows", type=int, default=5000, help="number of shows")
    parser.add_argument(
        "--episodes", type=int, default=100_000, help="playable items in total"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the titles")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="catalogue file to write"
    )
    args = parser.parse_args(argv)
    try:
        data = large_catalogue_data(args.shows, args.episodes, args.seed)
    except ValueError as exc:
        print(f"largegen: {exc}", file=sys.stderr)
        return 2
    args.output.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
