"""Emulator layer: JSON payloads of the catalogue API (browse, category,
search, show and season pages).

The shapes follow the OTT catalogue API of TOU.TV as third-party clients use
it: ``ott/catalog/v2/toutv/...`` with camelCase fields, paged lists as
``{totalPages, totalRecords, pageNumber, pageSize, results}``, and the legacy
v1 search index with its singular ``result`` list.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from toutvfs.emulator.model import Catalogue, Episode, Season, Section, Show

JsonObject = dict[str, Any]
T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20


def normalize(text: str) -> str:
    """Return *text* case-folded and without accents, for search and sorting."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def image(base: str, kind: str, name: str) -> JsonObject:
    """Return an ``Image`` whose URL holds the ``(_Size_)`` width placeholder."""
    url = f"{base}/images/q_auto,w_(_Size_)/v1/toutv/{kind}/{name}.png"
    return {"url": url, "altText": "", "size": ""}


def paged(
    entries: Sequence[T], page: int, size: int, render: Callable[[T], JsonObject]
) -> JsonObject:
    """Return page *page* (from 1) of *entries* as a ``Paged`` object.

    Only the entries on the page are rendered, so paging through a large
    catalogue costs the page size, not the catalogue size.
    """
    total = len(entries)
    start = (page - 1) * size
    return {
        "totalPages": max(1, math.ceil(total / size)),
        "totalRecords": total,
        "pageNumber": page,
        "pageSize": size,
        "results": [render(entry) for entry in entries[start : start + size]],
    }


def duration_text(seconds: int) -> str:
    """Return a length as the catalogue writes it: ``1 h 38 min``."""
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def card(show: Show, base: str) -> JsonObject:
    """Return the ``Result`` card of *show* (search and category items)."""
    info = None
    if show.film is not None:
        info = duration_text(show.film.length)
    return {
        "title": show.title,
        "key": f"show-{show.slug}",
        "infoTitle": info,
        "description": show.description,
        "tier": show.tier,
        "images": {
            "card": image(base, "cards", show.slug),
            "background": image(base, "bg", show.slug),
        },
        "url": show.slug,
        "badge": None,
        "type": "Show",
        "grantedRight": show.tier,
        "closedCaptionAvailable": True,
        "videoDescriptionAvailable": False,
        "cardOptions": ["favourite"],
        "isFavouriteSupported": True,
    }


def browse(catalogue: Catalogue, base: str) -> JsonObject:
    """Return the browse page: formats, networks, collections and genres."""

    def entries(kind: str) -> list[Section]:
        return [s for s in catalogue.sections if s.kind == kind]

    return {
        "formats": [
            {
                "title": s.title,
                "image": image(base, "formats", s.slug),
                "url": f"categorie/{s.slug}",
            }
            for s in entries("format")
        ],
        "networks": [
            {
                "title": s.title,
                "image": image(base, "networks", s.slug),
                "background": {
                    "solidColor": "#0d1e2d",
                    "gradientType": "linear",
                    "colorStart": "#0d1e2d",
                    "colorEnd": "#1b3a57",
                },
                "url": f"categorie/{s.slug}",
            }
            for s in entries("network")
        ],
        "collections": [
            {
                "title": s.title,
                "image": image(base, "collections", s.slug),
                "url": f"categorie/{s.slug}",
            }
            for s in entries("collection")
        ],
        "genres": [
            {"title": s.title, "url": f"categorie/{s.slug}"} for s in entries("genre")
        ],
        "htmlMeta": {
            "title": "Explorer | ICI TOU.TV",
            "description": "Explorez le catalogue.",
            "og:title": "Explorer",
        },
    }


def category(
    catalogue: Catalogue,
    section: Section,
    base: str,
    page: int,
    size: int,
    alphabetic: bool,
) -> JsonObject:
    """Return page *page* of the category page of *section*."""
    shows = [catalogue.shows[slug] for slug in section.shows]
    if alphabetic:
        shows.sort(key=lambda show: (normalize(show.title), show.slug))
    return {
        "title": section.title,
        "header": None,
        "content": [
            {
                "key": f"category-{section.slug}",
                "items": paged(shows, page, size, lambda show: card(show, base)),
                "cardImageType": "card",
                "lineupType": "grid",
            }
        ],
        "actions": [
            {
                "title": "Populaires",
                "url": f"categorie/{section.slug}",
                "isSelected": not alphabetic,
            },
            {
                "title": "A à Z",
                "url": f"categorie/{section.slug}?sort=Alphabetic",
                "isSelected": alphabetic,
            },
        ],
        "htmlMeta": {"title": f"{section.title} | ICI TOU.TV"},
        "hasAds": False,
    }


def _matches(show: Show, term: str) -> bool:
    wanted = normalize(term).strip()
    text = normalize(f"{show.title} {show.description or ''} {show.slug}")
    return all(word in text for word in wanted.split())


def search(
    catalogue: Catalogue, base: str, term: str, page: int, size: int
) -> JsonObject:
    """Return search v2 results: a ``Paged`` list of cards at the top level."""
    found = [s for s in catalogue.shows.values() if _matches(s, term)]
    return paged(found, page, size, lambda show: card(show, base))


def search_index(
    catalogue: Catalogue, base: str, term: str, page: int, size: int
) -> JsonObject:
    """Return the legacy v1 search index (``result``, singular).

    ``term=*`` lists every show; another term lists the matching shows and
    the episodes whose title matches.
    """
    entries: list[JsonObject] = []
    everything = term.strip() == "*"
    for show in catalogue.shows.values():
        if everything or _matches(show, term):
            entries.append(
                {
                    "title": show.title,
                    "searchableText": normalize(
                        f"{show.title} {show.description or ''}"
                    ),
                    "image": {"url": image(base, "cards", show.slug)["url"]},
                    "type": show.search_type,
                    "url": show.slug,
                }
            )
    if not everything:
        wanted = normalize(term).strip()
        for episode in catalogue.episodes.values():
            if wanted and wanted in normalize(episode.title):
                entries.append(
                    {
                        "title": episode.title,
                        "searchableText": normalize(episode.title),
                        "image": {"url": ""},
                        "type": "Media",
                        "url": episode.slug,
                    }
                )
    window = paged(entries, page, size, lambda entry: entry)
    return {
        "totalRecords": window["totalRecords"],
        "pageNumber": page,
        "totalPages": window["totalPages"],
        "pageSize": size,
        "result": window["results"],
    }


def item(episode: Episode, base: str) -> JsonObject:
    """Return the show page ``Item`` of *episode*."""
    payload: JsonObject = {
        "idMedia": episode.id_media,
        "title": episode.title,
        "infoTitle": f"S{episode.season_number:02d} É{episode.number:02d}",
        "tier": episode.tier,
        "images": {
            "card": {
                "url": f"{base}/images/q_auto,w_(_Size_)/v1/toutv/ep/"
                f"{episode.id_media}.png"
            }
        },
        "url": episode.slug,
        "episodeNumber": episode.number,
        "completionTime": 0,
        "mediaType": episode.media_type,
        "type": "Media",
        "formattedIdMedia": f"{episode.id_media:08d}",
        "uniqueIdentifier": episode.slug.replace("/", "-"),
        "callToActionTitle": "Regarder",
        "closedCaptionAvailable": True,
        "videoDescriptionAvailable": False,
        "isPlaybackStatusSupported": True,
        "links": {
            "next": None,
            "previous": None,
            "action": None,
            "callToActionNext": None,
        },
        "metadata": {
            "duration": episode.length,
            "airDate": episode.air_date,
            "availabilityDate": f"{episode.air_date}T05:00:00Z",
            "productionYear": int(episode.air_date[:4]),
            "rating": "13+",
            "country": "Canada",
            "copyright": "© Productions toutvfs",
            "credits": [{"title": "Réalisation", "peoples": "Marie Tremblay"}],
        },
    }
    # The service leaves the key out, rather than sending null, when an item
    # has no description.
    if episode.description is not None:
        payload["description"] = episode.description
    return payload


def lineup(
    title: str, tier: str, number: int, url: str, episodes: list[Episode], base: str
) -> JsonObject:
    return {
        "title": title,
        "tier": tier,
        "seasonNumber": number,
        "url": url,
        "selectedTrailerUrl": None,
        "items": [item(e, base) for e in episodes],
    }


def lineups(show: Show, base: str) -> dict[str, JsonObject]:
    """Return every lineup of *show*, keyed by the last part of its URL."""
    found: dict[str, JsonObject] = {}
    if show.trailer is not None:
        found["bande-annonce"] = lineup(
            "Bande-annonce",
            show.trailer.tier,
            0,
            f"{show.slug}/bande-annonce",
            [show.trailer],
            base,
        )
    if show.film is not None:
        found["film"] = lineup(
            "Film", show.film.tier, 1, f"{show.slug}/film", [show.film], base
        )
    for season in show.seasons:
        found[f"saison-{season.number}"] = _season_lineup(show, season, base)
    return found


def _season_lineup(show: Show, season: Season, base: str) -> JsonObject:
    return lineup(
        season.display_title,
        season.tier,
        season.number,
        f"{show.slug}/saison-{season.number}",
        season.episodes,
        base,
    )


def show_page(
    catalogue: Catalogue, show: Show, base: str, part: str | None = None
) -> JsonObject | None:
    """Return the show page of *show*, or one season's page when *part* is a
    lineup URL part (``saison-2``, ``bande-annonce``, ``film``) or an episode
    part (``s01e02``); None when *part* names nothing."""
    every = lineups(show, base)
    selected = show.slug
    if part is None:
        shown = list(every.values())
    elif part in every:
        shown = [every[part]]
        selected = f"{show.slug}/{part}"
    else:
        episode = next(
            (e for e in show.episodes() if e.slug == f"{show.slug}/{part}"), None
        )
        if episode is None:
            return None
        season = next(
            (s for s in show.seasons if s.number == episode.season_number), None
        )
        if season is None or episode.media_type != "Episode":
            key = "film" if episode.media_type == "Film" else "bande-annonce"
            shown = [every[key]]
        else:
            shown = [_season_lineup(show, season, base)]
        selected = episode.slug
    recommendations = [
        card(other, base)
        for other in catalogue.shows.values()
        if other.slug != show.slug and other.genre == show.genre
    ][:3]
    episodes = [e for e in show.episodes() if e.media_type == "Episode"]
    return {
        "title": show.title,
        "originalTitle": None,
        "description": show.description,
        "badge": None,
        "images": {
            "card": image(base, "cards", show.slug),
            "background": image(base, "bg", show.slug),
            "logo": image(base, "logo", show.slug),
        },
        "selectedUrl": selected,
        "contentType": "Standalone" if show.kind == "film" else "Season",
        "requestedType": "Show",
        "navigationFilters": [{"url": show.slug, "title": "Épisodes"}],
        "messages": [],
        "recommendations": {"items": recommendations},
        "structuredMetadata": {
            "@type": "Movie" if show.kind == "film" else "TVSeries",
            "name": show.title,
            "numberOfSeasons": len(show.seasons),
            "numberOfEpisodes": len(episodes),
            "inLanguage": "fr",
            "countryOfOrigin": {"name": "Canada"},
            "genre": [show.genre],
            "contentRating": "13+",
            "datePublished": f"{show.production_year}-01-01",
            "abstract": show.description or "",
            "image": image(base, "cards", show.slug)["url"],
            "url": f"{base}/{show.slug}",
        },
        "metadata": None,
        "event": None,
        "hasOnlyATrailer": show.trailer is not None
        and not show.seasons
        and show.film is None,
        "isFavouriteSupported": True,
        "isShareSupported": True,
        "content": [
            {"title": None, "seasonTitle": None, "items": None, "lineups": shown}
        ],
    }
