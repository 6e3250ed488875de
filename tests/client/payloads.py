"""Client tests: JSON payloads in the shapes the TOU.TV services return.

The titles, ids and URLs are made up for these tests; the field names,
nesting and types follow the service's. Every builder returns a fresh value,
so a test may change one without touching another.
"""

from __future__ import annotations

import base64
import json
from typing import Any

IMAGE_BASE = "https://img.example.invalid/w_(_Size_)/v1/toutv"


def image(path: str) -> dict[str, Any]:
    return {"url": f"{IMAGE_BASE}/{path}", "altText": "", "size": ""}


def jwt(claims: dict[str, Any]) -> str:
    """Return an unsigned token whose payload is *claims*."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def browse() -> dict[str, Any]:
    return {
        "formats": [
            {
                "title": "Séries",
                "image": image("f/series.jpg"),
                "url": "categorie/serie",
            },
            {"title": "Films", "image": image("f/films.jpg"), "url": "categorie/film"},
        ],
        "networks": [
            {
                "title": "ICI ARTV",
                "image": image("n/artv.jpg"),
                "background": {
                    "solidColor": "#101010",
                    "gradientType": "linear",
                    "colorStart": "#101010",
                    "colorEnd": "#202020",
                },
                "url": "categorie/artv",
            }
        ],
        "collections": [
            {
                "title": "Grands classiques",
                "image": image("c/classiques.jpg"),
                "url": "categorie/classiques",
            }
        ],
        "genres": [
            {"title": "Comédies", "url": "categorie/comedies"},
            {"title": "Policiers", "url": "categorie/policiers"},
        ],
        "htmlMeta": {"title": "Explorer", "og:title": "Explorer"},
    }


def card(title: str, slug: str, tier: str = "Member", **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "title": title,
        "key": f"show-{slug}",
        "infoTitle": None,
        "description": None,
        "tier": tier,
        "images": {
            "card": image(f"cards/{slug}.jpg"),
            "background": image(f"bg/{slug}.jpg"),
        },
        "url": slug,
        "badge": None,
        "type": "Show",
        "grantedRight": "Member",
        "closedCaptionAvailable": True,
        "videoDescriptionAvailable": False,
        "cardOptions": ["favourite"],
        "isFavouriteSupported": True,
    }
    value.update(extra)
    return value


def paged(
    results: list[dict[str, Any]], page: int, pages: int, size: int, total: int
) -> dict[str, Any]:
    return {
        "totalPages": pages,
        "totalRecords": total,
        "pageNumber": page,
        "pageSize": size,
        "results": results,
    }


SERIES_CARDS = [
    ("La Maison des marées", "la-maison-des-marees", "Member"),
    ("Brigade nord", "brigade-nord", "Premium"),
    ("Contes / Légendes", "contes-legendes", "Standard"),
    ("Jumeaux", "jumeaux-1", "Member"),
    ("Jumeaux", "jumeaux-2", "Member"),
    ("Hiver long", "hiver-long", "Member"),
    ("Le Phare", "le-phare", "Member"),
]


def category(
    slug: str,
    page: int,
    size: int,
    cards: list[tuple[str, str, str]],
    title: str = "Séries",
    header: bool = False,
) -> dict[str, Any]:
    """Return page *page* of a category listing *cards* by pages of *size*."""
    pages = max(1, -(-len(cards) // size))
    chosen = cards[(page - 1) * size : page * size]
    value: dict[str, Any] = {
        "title": title,
        "header": None,
        "content": [
            {
                "key": f"category-{slug}",
                "items": paged(
                    [card(*entry) for entry in chosen], page, pages, size, len(cards)
                ),
                "cardImageType": "card",
                "lineupType": "grid",
            }
        ],
        "actions": [
            {
                "title": "A à Z",
                "url": f"categorie/{slug}?sort=Alphabetic",
                "isSelected": False,
            }
        ],
        "htmlMeta": {"title": title},
        "hasAds": False,
    }
    if header:
        value["header"] = {
            "title": "À la une",
            "key": "header",
            "items": [card(*cards[0])],
            "cardImageType": "banner",
            "layoutType": "hero",
            "lineupType": "carousel",
        }
    return value


def search_v2(cards: list[tuple[str, str, str]]) -> dict[str, Any]:
    return paged([card(*entry) for entry in cards], 1, 1, 20, len(cards))


def search_v1(
    entries: list[tuple[str, str, str]], page: int, size: int
) -> dict[str, Any]:
    """Return page *page* of the v1 index of *entries* (title, url, type)."""
    pages = max(1, -(-len(entries) // size))
    chosen = entries[(page - 1) * size : page * size]
    return {
        "totalRecords": len(entries),
        "pageNumber": page,
        "totalPages": pages,
        "pageSize": size,
        "result": [
            {
                "title": title,
                "searchableText": title.lower(),
                "image": {
                    "url": f"{IMAGE_BASE}/cards/{url}.jpg" if kind != "Media" else ""
                },
                "type": kind,
                "url": url,
            }
            for title, url, kind in chosen
        ],
    }


def item(
    id_media: int,
    title: str,
    slug: str,
    season: int,
    episode: int,
    media_type: str = "Episode",
    tier: str = "Member",
    description: str | None = "auto",
    air_date: str | None = None,
    duration: int = 1320,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "idMedia": id_media,
        "title": title,
        "infoTitle": f"S{season:02d} É{episode:02d}",
        "tier": tier,
        "images": {"card": {"url": f"{IMAGE_BASE}/ep/{id_media}.jpg"}},
        "url": f"{slug}/s{season:02d}e{episode:02d}",
        "episodeNumber": episode,
        "completionTime": 0,
        "mediaType": media_type,
        "type": "Media",
        "formattedIdMedia": f"{id_media:08d}",
        "uniqueIdentifier": f"{slug}-s{season:02d}e{episode:02d}",
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
            "duration": duration,
            "airDate": air_date or f"2025-03-{episode + 1:02d}",
            "availabilityDate": f"2025-03-{episode + 1:02d}T04:00:00Z",
            "productionYear": 2025,
            "rating": "G",
            "country": "Canada",
            "copyright": "© Studio Marée",
            "credits": [{"title": "Réalisation", "peoples": "Luc Gagnon"}],
        },
    }
    if description == "auto":
        value["description"] = f"{title}, épisode {episode}."
    elif description is not None:
        value["description"] = description
    return value


def lineup(
    title: str, season: int, tier: str, slug: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "title": title,
        "tier": tier,
        "seasonNumber": season,
        "url": f"{slug}/saison-{season}",
        "selectedTrailerUrl": None,
        "items": items,
    }


SHOW_SLUG = "la-maison-des-marees"


def show(slug: str = SHOW_SLUG, content_type: str = "Season") -> dict[str, Any]:
    """Return a series with a trailer row, two seasons and mixed tiers."""
    return {
        "title": "La Maison des marées",
        "originalTitle": None,
        "description": "Trois générations dans une auberge de la côte.",
        "badge": None,
        "images": {
            "card": image(f"cards/{slug}.jpg"),
            "background": image(f"bg/{slug}.jpg"),
            "logo": None,
        },
        "selectedUrl": slug,
        "contentType": content_type,
        "requestedType": "Show",
        "navigationFilters": [{"url": slug, "title": "Épisodes"}],
        "messages": [],
        "recommendations": {"items": [card("Le Phare", "le-phare")]},
        "structuredMetadata": {
            "@type": "TVSeries",
            "name": "La Maison des marées",
            "numberOfSeasons": 2,
            "numberOfEpisodes": 4,
            "inLanguage": "fr",
            "countryOfOrigin": {"name": "Canada"},
            "genre": ["Comédies", "Drames"],
            "contentRating": "G",
        },
        "metadata": None,
        "event": None,
        "hasOnlyATrailer": False,
        "isFavouriteSupported": True,
        "isShareSupported": True,
        "content": [
            {
                "title": None,
                "seasonTitle": None,
                "items": None,
                "lineups": [
                    lineup(
                        "Bande-annonce",
                        0,
                        "Standard",
                        slug,
                        [
                            item(
                                720000,
                                "Bande-annonce",
                                slug,
                                1,
                                0,
                                "Trailer",
                                "Standard",
                                air_date="2025-02-00",
                                duration=75,
                            ),
                        ],
                    ),
                    lineup(
                        "Saison 1",
                        1,
                        "Member",
                        slug,
                        [
                            item(720001, "L'arrivée", slug, 1, 1),
                            item(
                                720002,
                                "Grande marée / Partie 1",
                                slug,
                                1,
                                2,
                                description=None,
                            ),
                        ],
                    ),
                    lineup(
                        "Saison 2",
                        2,
                        "Premium",
                        slug,
                        [
                            item(720011, "Le retour", slug, 2, 1, tier="Premium"),
                            item(720012, "Dernière nuit", slug, 2, 2, tier="Premium"),
                        ],
                    ),
                ],
            }
        ],
    }


METAS_CLEAR = {
    "appCode": "toutv",
    "Title": "L'arrivée",
    "Emission": "La Maison des marées",
    "SrcSaison": "1",
    "SrcEpisode": "1",
    "length": "1320",
    "Language": "fr",
    "IsFree": "false",
    "geoPassed": "true",
    "closedCaption": "//static.example.invalid/cc/{id}.vtt",
    "closedCaptionHTML5": "//static.example.invalid/cc/{id}.vtt",
    "EIA608ClosedCaptions": "false",
    "protectionType": "",
    "isDrmActive": "false",
    "protectionSchemes": "",
    "bitrates": "500,1500",
}


def meta(
    id_media: str, techs: list[dict[str, Any]] | None = None, drm_metas: bool = False
) -> dict[str, Any]:
    """Return meta in the object form; *techs* defaults to clear HLS plus DRM DASH."""
    metas = {
        name: value.replace("{id}", id_media) for name, value in METAS_CLEAR.items()
    }
    metas["idMedia"] = id_media
    if drm_metas:
        metas.update(
            protectionType="Widevine", isDrmActive="true", protectionSchemes="cenc"
        )
    if techs is None:
        techs = [
            {"name": "hls", "drm": [], "manifestVersions": ["2"]},
            {"name": "dash", "drm": ["widevine"], "manifestVersions": ["2"]},
        ]
    return {"errorMessage": None, "availableTechs": techs, "Metas": metas}


def meta_list_form(id_media: str) -> dict[str, Any]:
    metas = meta(id_media)["Metas"]
    return {
        "errorMessage": None,
        "Metas": [{"name": name, "text": text} for name, text in metas.items()],
    }


DASH_DRM_TECHS = [
    {"name": "dash", "drm": ["widevine", "playready"], "manifestVersions": ["2"]}
]


def validation_ok(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "message": None,
        "errorCode": 0,
        "params": [],
        "bitrates": [
            {
                "bitrate": 500000,
                "width": 640,
                "height": 360,
                "lines": "360",
                "param": None,
                "max": 0,
            },
            {
                "bitrate": 1500000,
                "width": 1280,
                "height": 720,
                "lines": "720",
                "param": None,
                "max": 1,
            },
        ],
    }


def validation_refused(code: int, message: str) -> dict[str, Any]:
    return {
        "url": None,
        "message": message,
        "errorCode": code,
        "params": None,
        "bitrates": None,
    }


GEO_MESSAGE = "Le contenu sélectionné n'est pas disponible dans votre pays"
PREMIUM_MESSAGE = "Le contenu sélectionné est disponible seulement en premium"
LOGIN_MESSAGE = "Connectez-vous pour regarder ce contenu"


def validation_drm() -> dict[str, Any]:
    return {
        "url": "https://cdn.example.invalid/out/v1/x/index-multi-drm.mpd?filter=3000",
        "message": None,
        "errorCode": 0,
        "params": [
            {"name": "widevineLicenseUrl", "value": "https://lic.example.invalid/wv/"},
            {"name": "widevineAuthToken", "value": jwt({"k": "v"})},
        ],
        "bitrates": None,
    }


def validation_dash_only() -> dict[str, Any]:
    value = validation_drm()
    value["params"] = []
    return value


def profile(claims_exp: int, tier: str = "Member") -> dict[str, Any]:
    return {
        "tier": tier,
        "claimsToken": jwt({"tier": tier, "exp": claims_exp}),
        "statsMetas": {"rc.tier": tier.lower()},
    }


def error_401() -> dict[str, Any]:
    return {"errorMessage": {"errorCode": 401, "text": "Jeton expiré ou invalide"}}
