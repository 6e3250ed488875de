"""Client layer: pytoutv model objects made from the session's records.

Where the current services have no field for a pytoutv property, the
property is None, and docs/api.md lists each one. ``is_free`` means "playable
without a premium subscription": tiers ``Standard`` and ``Member`` are free,
``Premium`` is not.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from toutvfs.client import model
from toutvfs.client.records import (
    BrowsePage,
    Card,
    CategoryPage,
    IndexEntry,
    Item,
    SeasonLineup,
    ShowPage,
    SubscriberProfile,
)

if TYPE_CHECKING:
    from toutvfs.client.facade import Client

FREE_TIERS = frozenset({"standard", "member"})
PREMIUM_TIER = "premium"


def is_free(tier: str | None) -> bool | None:
    """Return whether *tier* needs no premium subscription, or None if unknown."""
    if tier is None:
        return None
    return tier.lower() in FREE_TIERS


def length_text(seconds: int | None) -> str | None:
    """Return a length such as ``"44 min"`` or ``"1 h 38 min"``."""
    if seconds is None:
        return None
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def user_infos(user: str | None, profile: SubscriberProfile | None) -> model.UserInfos:
    tier = profile.tier if profile is not None else None
    return model.UserInfos(
        email=user,
        name=user,
        stats_metas=dict(profile.stats_metas) if profile is not None else None,
        is_premium=None if tier is None else tier.lower() == PREMIUM_TIER,
    )


def section_summaries(
    page: BrowsePage, client: Client
) -> dict[str, model.SectionSummary]:
    summaries: dict[str, model.SectionSummary] = {}
    for section in page.sections:
        summaries.setdefault(
            section.slug,
            model.SectionSummary(
                name=section.slug, title=section.title, _client=client
            ),
        )
    return summaries


def search_show_summary(entry: IndexEntry, client: Client) -> model.SearchShowSummary:
    return model.SearchShowSummary(
        title=entry.title,
        url=entry.slug,
        image_url=entry.image_url,
        searchable_text=entry.searchable_text,
        is_media=False,
        _client=client,
    )


def show_lineup_item(card: Card, client: Client) -> model.ShowLineupItem:
    return model.ShowLineupItem(
        title=card.title,
        url=card.slug,
        key=model.Key.parse(card.key),
        description=card.description,
        image_url=card.image_url,
        is_free=is_free(card.tier),
        length_text=card.info_title,
        _client=client,
    )


def section(page: CategoryPage, client: Client) -> model.Section:
    lineups = [
        model.SubsectionLineup(
            name=lineup.title,
            title=lineup.title,
            items=[show_lineup_item(card, client) for card in lineup.cards],
        )
        for lineup in page.lineups
    ]
    return model.Section(name=page.slug, title=page.title, subsection_lineups=lineups)


def details(item: Item) -> model.Details:
    return model.Details(
        rating=item.rating,
        air_date_text=item.air_date_text,
        credits=[
            model.Credits(role=role, names=[name.strip() for name in names.split(",")])
            for role, names in item.credits
        ],
        copyright=item.copyright,
        description=item.description,
        country=item.country,
        length_text=length_text(item.duration),
        length=None
        if item.duration is None
        else datetime.timedelta(seconds=item.duration),
        production_year=item.production_year,
        details_type=item.media_type,
        image_url=item.image_url,
    )


def episode(item: Item, client: Client) -> model.EpisodeLineupItem:
    return model.EpisodeLineupItem(
        id_media=item.id_media,
        title=item.title,
        url=item.url,
        description=item.description,
        image_url=item.image_url,
        details=details(item),
        is_free=is_free(item.tier),
        template=item.media_type,
        _client=client,
    )


def season(lineup: SeasonLineup, client: Client) -> model.SeasonLineup:
    name = lineup.url.rsplit("/", 1)[-1] if lineup.url else None
    return model.SeasonLineup(
        name=name,
        title=lineup.title,
        url=lineup.url,
        is_free=is_free(lineup.tier),
        items=[episode(item, client) for item in lineup.items],
    )


def show(page: ShowPage, client: Client) -> model.Show:
    """Return the `model.Show` of *page*; a film's ``id_media`` is its media."""
    id_media = None
    if page.content_type == "film":
        playable = [item for item in page.items if item.media_type != "Trailer"]
        if playable:
            id_media = playable[0].id_media
    return model.Show(
        id_media=id_media,
        title=page.title,
        key=model.Key.parse(f"show-{page.slug}"),
        description=page.description,
        bg_image_url=page.images.get("background"),
        image_url=page.images.get("card"),
        details=model.Details(
            original_title=page.original_title,
            description=page.description,
            image_url=page.images.get("card"),
        ),
        season_lineups=[season(lineup, client) for lineup in page.lineups],
        _client=client,
    )
