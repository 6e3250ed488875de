"""Client layer: parsers from the service's JSON to `toutvfs.client.records`.

Each parser takes the decoded body and the endpoint name used in errors. It
reads only the fields it needs, so unknown fields are ignored, and it accepts
null wherever the service may send null. A required field that is missing or
of the wrong type raises `ApiChanged` naming the endpoint and the field.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from toutvfs.client.jsonshape import Node
from toutvfs.client.records import (
    BrowsePage,
    BrowseSection,
    Card,
    CardLineup,
    ContentType,
    IndexEntry,
    Item,
    MediaMeta,
    SeasonLineup,
    ShowPage,
    SubscriberProfile,
    Tech,
    Validation,
)
from toutvfs.errors import ApiChanged

log = logging.getLogger(__name__)

BROWSE_KINDS = ("formats", "genres", "networks", "collections")

# The browse page links to the web site's French path; the API path differs.
_BROWSE_URL_PREFIX = "categorie/"

# contentType of a show page: "Season" is a series, "Standalone" a film.
_CONTENT_TYPES: dict[str, ContentType] = {"season": "series", "standalone": "film"}

# Search v1 index types that stand for a show. "Media" is an episode. A
# "Collection" is taken to be a browse collection, which is a category page;
# no source shows one with a show page.
INDEX_SHOW_TYPES = frozenset({"show", "season"})


def category_slug(url: str) -> str:
    """Return the category slug of a browse ``url`` such as ``categorie/film``.

    A query string (``?sort=Alphabetic``) and the prefix are dropped.
    """
    path = url.split("?", 1)[0].strip("/")
    for prefix in (_BROWSE_URL_PREFIX, "category/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def parse_browse(data: Any, endpoint: str) -> BrowsePage:
    """Parse the browse page; a kind that is absent or null counts as empty."""
    root = Node(data, endpoint)
    sections: list[BrowseSection] = []
    for kind in BROWSE_KINDS:
        for entry in root.opt_items(kind):
            image = entry.opt("image")
            sections.append(
                BrowseSection(
                    kind=kind,
                    title=entry.text("title"),
                    slug=category_slug(entry.text("url")),
                    image_url=image.opt_text("url") if image else None,
                )
            )
    return BrowsePage(sections=tuple(sections))


def _image_url(node: Node, role: str = "card") -> str | None:
    images = node.opt("images")
    if images is None:
        image = node.opt("image")
        return image.opt_text("url") if image else None
    chosen = images.opt(role)
    return chosen.opt_text("url") if chosen else None


def parse_card(node: Node) -> Card:
    """Parse one search or category result."""
    return Card(
        title=node.text("title"),
        slug=node.text("url"),
        key=node.opt_text("key"),
        tier=node.opt_text("tier"),
        type=node.opt_text("type"),
        description=node.opt_text("description"),
        info_title=node.opt_text("infoTitle"),
        image_url=_image_url(node),
    )


def parse_paged_cards(node: Node) -> tuple[tuple[Card, ...], int]:
    """Parse a ``Paged<Result>`` object into its cards and its page count."""
    cards = tuple(parse_card(entry) for entry in node.opt_items("results"))
    total_pages = node.opt_integer("totalPages")
    return cards, max(total_pages or 1, 1)


def parse_search(data: Any, endpoint: str) -> tuple[tuple[Card, ...], int]:
    """Parse search v2, a ``Paged<Result>`` at the top level."""
    return parse_paged_cards(Node(data, endpoint))


def parse_category(
    data: Any, endpoint: str
) -> tuple[str, CardLineup | None, tuple[CardLineup, ...], int]:
    """Parse one page of a category.

    Returns:
        The title, the header lineup or None, the content lineups, and the
        page count of the first content lineup, which pages the category.
    """
    root = Node(data, endpoint)
    title = root.text("title")
    header_lineup = None
    header = root.opt("header")
    if header is not None:
        cards = tuple(parse_card(entry) for entry in header.opt_items("items"))
        header_lineup = CardLineup(title=header.opt_text("title"), cards=cards)
    lineups: list[CardLineup] = []
    total_pages = 1
    for index, content in enumerate(root.opt_items("content")):
        items = content.opt("items")
        if items is None:
            cards, pages = (), 1
        elif isinstance(items.value, list):
            cards, pages = tuple(parse_card(entry) for entry in items.items()), 1
        else:
            cards, pages = parse_paged_cards(items)
        if index == 0:
            total_pages = pages
        lineups.append(CardLineup(title=content.opt_text("title"), cards=cards))
    return title, header_lineup, tuple(lineups), total_pages


def parse_index(data: Any, endpoint: str) -> tuple[tuple[IndexEntry, ...], int]:
    """Parse one page of the search v1 index, keeping shows only.

    The v1 index names its list ``result``, in the singular.
    """
    root = Node(data, endpoint)
    entries: list[IndexEntry] = []
    for node in root.opt_items("result"):
        kind = node.opt_text("type")
        if kind is not None and kind.lower() not in INDEX_SHOW_TYPES:
            continue
        image = node.opt("image")
        entries.append(
            IndexEntry(
                title=node.text("title"),
                slug=node.text("url"),
                type=kind,
                searchable_text=node.opt_text("searchableText"),
                image_url=image.opt_text("url") if image else None,
            )
        )
    total_pages = root.opt_integer("totalPages")
    return tuple(entries), max(total_pages or 1, 1)


def _parse_date(text: str | None) -> datetime.date | None:
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text[:10])
    except ValueError:
        log.debug("ignored air date %r: not a calendar date", text)
        return None


def _parse_datetime(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        log.debug("ignored date %r: not an ISO 8601 date and time", text)
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def parse_item(node: Node) -> Item:
    """Parse one item of a show lineup."""
    metadata = node.opt("metadata") or Node({}, node.endpoint, node.path)
    air_date_text = metadata.opt_text("airDate")
    credits = tuple(
        (credit.opt_text("title") or "", credit.opt_text("peoples") or "")
        for credit in metadata.opt_items("credits")
    )
    return Item(
        id_media=node.id_string("idMedia"),
        title=node.text("title"),
        episode_number=node.opt_integer("episodeNumber"),
        media_type=node.opt_text("mediaType"),
        tier=node.opt_text("tier"),
        url=node.opt_text("url"),
        description=node.opt_text("description"),
        duration=metadata.opt_integer("duration"),
        air_date=_parse_date(air_date_text),
        air_date_text=air_date_text,
        availability_date=_parse_datetime(metadata.opt_text("availabilityDate")),
        image_url=_image_url(node),
        info_title=node.opt_text("infoTitle"),
        production_year=metadata.opt_integer("productionYear"),
        rating=metadata.opt_text("rating"),
        country=metadata.opt_text("country"),
        copyright=metadata.opt_text("copyright"),
        credits=credits,
    )


def parse_lineup(node: Node) -> SeasonLineup:
    """Parse one season lineup of a show page."""
    return SeasonLineup(
        title=node.opt_text("title") or "",
        season_number=node.opt_integer("seasonNumber"),
        tier=node.opt_text("tier"),
        url=node.opt_text("url"),
        items=tuple(parse_item(entry) for entry in node.opt_items("items")),
    )


def parse_show(data: Any, endpoint: str, slug: str) -> ShowPage:
    """Parse a show page; the lineups of every ``content`` entry are kept."""
    root = Node(data, endpoint)
    images: dict[str, str] = {}
    images_node = root.opt("images")
    if images_node is not None and isinstance(images_node.value, dict):
        for role in images_node.value:
            image = images_node.opt(role)
            url = image.opt_text("url") if image else None
            if url:
                images[role] = url

    raw_type = root.opt_text("contentType")
    content_type = _CONTENT_TYPES.get((raw_type or "").lower(), "series")
    if raw_type is not None and raw_type.lower() not in _CONTENT_TYPES:
        log.debug("show %s: unknown contentType %r, taken as series", slug, raw_type)

    lineups = tuple(
        parse_lineup(lineup)
        for content in root.opt_items("content")
        for lineup in content.opt_items("lineups")
    )

    genres: tuple[str, ...] = ()
    structured = root.opt("structuredMetadata")
    if structured is not None:
        genres = tuple(
            genre.value
            for genre in structured.opt_items("genre")
            if isinstance(genre.value, str) and genre.value
        )
    return ShowPage(
        slug=slug,
        title=root.text("title"),
        description=root.opt_text("description"),
        original_title=root.opt_text("originalTitle"),
        images=images,
        content_type=content_type,
        lineups=lineups,
        genres=genres,
    )


def _metas(root: Node) -> dict[str, str]:
    metas_node = root.opt("Metas")
    if metas_node is None:
        return {}
    metas: dict[str, str] = {}
    if isinstance(metas_node.value, list):
        # The output=json form: [{"name": ..., "text": ...}, ...].
        for entry in metas_node.items():
            name = entry.opt_text("name")
            if name is not None:
                metas[name] = (
                    "" if entry.opt("text") is None else str(entry.value["text"])
                )
        return metas
    if not isinstance(metas_node.value, dict):
        raise ApiChanged(root.endpoint, "Metas", "expected an object or a list")
    for name, value in metas_node.value.items():
        metas[name] = "" if value is None else str(value)
    return metas


def _absolute(url: str, scheme: str) -> str:
    # Caption URLs are protocol-relative ("//host/path.vtt"): they take the
    # scheme of the API that returned them.
    return f"{scheme}:{url}" if url.startswith("//") else url


def meta_error(data: Any, endpoint: str) -> tuple[int | None, str] | None:
    """Return the (code, text) of the meta ``errorMessage``, or None."""
    error = Node(data, endpoint).opt("errorMessage")
    if error is None:
        return None
    return error.opt_integer("errorCode"), error.opt_text("text") or "unknown error"


def parse_meta(
    data: Any, endpoint: str, id_media: str, scheme: str = "https"
) -> MediaMeta:
    """Parse media metadata in either the object or the list form of ``Metas``.

    DRM signals, best first: when ``availableTechs`` is present, only the lack
    of an HLS tech without DRM counts, because a clear HLS tech can sit beside
    a protected DASH one. Without ``availableTechs`` the ``isDrmActive`` and
    ``protectionType`` metas decide.
    """
    root = Node(data, endpoint)
    techs = tuple(
        Tech(
            name=tech.text("name"),
            drm=tuple(str(drm.value) for drm in tech.opt_items("drm")),
            manifest_versions=tuple(
                str(version.value) for version in tech.opt_items("manifestVersions")
            ),
        )
        for tech in root.opt_items("availableTechs")
    )
    metas = _metas(root)
    signals: list[str] = []
    if techs:
        if not any(tech.name.lower() == "hls" and not tech.drm for tech in techs):
            signals.append("availableTechs")
    else:
        if metas.get("isDrmActive", "").strip().lower() == "true":
            signals.append("isDrmActive")
        if metas.get("protectionType", "").strip():
            signals.append("protectionType")
    caption = metas.get("closedCaptionHTML5") or metas.get("closedCaption") or None
    return MediaMeta(
        id_media=metas.get("idMedia") or id_media,
        techs=techs,
        drm_signals=tuple(signals),
        caption_url=_absolute(caption, scheme) if caption else None,
        metas=metas,
    )


def parse_validation(data: Any, endpoint: str) -> Validation:
    """Parse a validation response, where errors are HTTP 200 with ``errorCode``."""
    root = Node(data, endpoint)
    params: dict[str, object] = {}
    for param in root.opt_items("params"):
        name = param.opt_text("name")
        if name is not None:
            value = param.value.get("value") if isinstance(param.value, dict) else None
            params[name] = value
    bitrates = tuple(
        (
            entry.integer("bitrate"),
            entry.opt_integer("width"),
            entry.opt_integer("height"),
        )
        for entry in root.opt_items("bitrates")
    )
    return Validation(
        url=root.opt_text("url"),
        message=root.opt_text("message"),
        error_code=root.opt_integer("errorCode") or 0,
        params=params,
        bitrates=bitrates,
    )


def parse_profile(data: Any, endpoint: str) -> SubscriberProfile:
    """Parse the subscriber profile."""
    root = Node(data, endpoint)
    stats: dict[str, str] = {}
    stats_node = root.opt("statsMetas")
    if stats_node is not None and isinstance(stats_node.value, dict):
        stats = {name: str(value) for name, value in stats_node.value.items()}
    return SubscriberProfile(
        tier=root.opt_text("tier"),
        claims_token=root.opt_text("claimsToken"),
        stats_metas=stats,
    )
