"""Client tests: parsers against the service's shapes, nulls and changes."""

from __future__ import annotations

import datetime

import pytest

from toutvfs.client import parse
from toutvfs.errors import ApiChanged

from . import payloads


def test_browse_sections_and_slugs():
    page = parse.parse_browse(payloads.browse(), "browse")
    kinds = [section.kind for section in page.sections]
    assert kinds == [
        "formats",
        "formats",
        "genres",
        "genres",
        "networks",
        "collections",
    ]
    slugs = [section.slug for section in page.sections]
    assert slugs == ["serie", "film", "comedies", "policiers", "artv", "classiques"]
    assert page.by_kind("genres")[0].title == "Comédies"
    assert page.by_kind("genres")[0].image_url is None
    assert page.by_kind("formats")[0].image_url.endswith("/f/series.jpg")


def test_browse_null_kinds_are_empty():
    data = payloads.browse()
    data["genres"] = None
    del data["collections"]
    page = parse.parse_browse(data, "browse")
    assert page.by_kind("genres") == ()
    assert page.by_kind("collections") == ()
    assert len(page.by_kind("formats")) == 2


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("categorie/film", "film"),
        ("category/film", "film"),
        ("/categorie/serie?sort=Alphabetic", "serie"),
        ("documentaire", "documentaire"),
    ],
)
def test_category_slug(url, slug):
    assert parse.category_slug(url) == slug


def test_category_page_and_header():
    data = payloads.category("serie", 1, 3, payloads.SERIES_CARDS, header=True)
    title, header, lineups, pages = parse.parse_category(data, "category/serie")
    assert title == "Séries"
    assert pages == 3
    assert header is not None
    assert header.title == "À la une"
    assert [card.slug for card in lineups[0].cards] == [
        "la-maison-des-marees",
        "brigade-nord",
        "contes-legendes",
    ]
    third = lineups[0].cards[2]
    assert third.title == "Contes / Légendes"
    assert third.tier == "Standard"
    assert third.description is None
    assert third.key == "show-contes-legendes"


def test_card_ignores_unknown_fields():
    data = payloads.search_v2([("Le Phare", "le-phare", "Member")])
    data["results"][0]["brandNewField"] = {"nested": [1, 2, 3]}
    data["results"][0]["badge"] = {"message": "Nouveau", "type": "new"}
    data["extra"] = True
    cards, pages = parse.parse_search(data, "search")
    assert pages == 1
    assert cards[0].slug == "le-phare"


def test_card_missing_url_names_field():
    data = payloads.search_v2([("Le Phare", "le-phare", "Member")])
    del data["results"][0]["url"]
    with pytest.raises(ApiChanged) as info:
        parse.parse_search(data, "search")
    assert info.value.endpoint == "search"
    assert info.value.field == "results[0].url"


def test_card_mistyped_title_names_field():
    data = payloads.search_v2([("Le Phare", "le-phare", "Member")])
    data["results"][0]["title"] = 12
    with pytest.raises(ApiChanged) as info:
        parse.parse_search(data, "search")
    assert info.value.field == "results[0].title"
    assert "expected str, got int" in str(info.value)


def test_index_keeps_shows_only():
    entries, pages = parse.parse_index(
        payloads.search_v1(
            [
                ("A", "a", "Show"),
                ("B", "b", "Season"),
                ("C", "c", "Collection"),
                ("Episode", "a/s01e01", "Media"),
            ],
            1,
            10,
        ),
        "search v1",
    )
    assert pages == 1
    assert [entry.slug for entry in entries] == ["a", "b"]
    assert entries[1].type == "Season"
    assert entries[0].searchable_text == "a"


def test_index_root_must_be_object():
    with pytest.raises(ApiChanged) as info:
        parse.parse_index([1, 2], "search v1")
    assert info.value.field == "<root>"


def test_show_lineups_and_items():
    show = parse.parse_show(payloads.show(), "show/x", payloads.SHOW_SLUG)
    assert show.title == "La Maison des marées"
    assert show.content_type == "series"
    assert show.original_title is None
    assert sorted(show.images) == ["background", "card"]
    assert show.genres == ("Comédies", "Drames")
    assert [lineup.season_number for lineup in show.lineups] == [0, 1, 2]
    assert [lineup.tier for lineup in show.lineups] == ["Standard", "Member", "Premium"]
    assert len(show.items) == 5
    first = show.lineups[1].items[0]
    assert first.id_media == "720001"
    assert first.episode_number == 1
    assert first.media_type == "Episode"
    assert first.duration == 1320
    assert first.air_date == datetime.date(2025, 3, 2)
    assert first.availability_date == datetime.datetime(
        2025, 3, 2, 4, tzinfo=datetime.UTC
    )
    assert first.url == "la-maison-des-marees/s01e01"
    assert first.credits == (("Réalisation", "Luc Gagnon"),)


def test_show_item_without_description():
    show = parse.parse_show(payloads.show(), "show/x", payloads.SHOW_SLUG)
    item = show.lineups[1].items[1]
    assert item.title == "Grande marée / Partie 1"
    assert item.description is None


def test_show_invalid_air_date_kept_as_text():
    show = parse.parse_show(payloads.show(), "show/x", payloads.SHOW_SLUG)
    trailer = show.lineups[0].items[0]
    assert trailer.media_type == "Trailer"
    assert trailer.air_date is None
    assert trailer.air_date_text == "2025-02-00"


def test_show_standalone_is_film():
    data = payloads.show(content_type="Standalone")
    assert parse.parse_show(data, "show/x", "x").content_type == "film"


def test_show_nulls_accepted():
    data = payloads.show()
    data["description"] = None
    data["images"] = None
    data["structuredMetadata"] = None
    data["content"][0]["lineups"][1]["items"][0]["metadata"] = None
    data["content"][0]["lineups"][2]["items"] = None
    show = parse.parse_show(data, "show/x", "x")
    assert show.description is None
    assert show.images == {}
    assert show.genres == ()
    assert show.lineups[1].items[0].duration is None
    assert show.lineups[2].items == ()


def test_item_missing_id_media_names_field():
    data = payloads.show()
    del data["content"][0]["lineups"][1]["items"][0]["idMedia"]
    with pytest.raises(ApiChanged) as info:
        parse.parse_show(data, "show/x", "x")
    assert info.value.field == "content[0].lineups[1].items[0].idMedia"


def test_meta_clear_hls_beside_drm_dash():
    meta = parse.parse_meta(payloads.meta("720001"), "meta", "720001")
    assert meta.drm_signals == ()
    assert meta.clear_hls() is not None
    assert [tech.name for tech in meta.techs] == ["hls", "dash"]
    assert meta.techs[1].drm == ("widevine",)
    assert meta.caption_url == "https://static.example.invalid/cc/720001.vtt"
    assert meta.metas["Emission"] == "La Maison des marées"


def test_meta_dash_only_is_drm():
    data = payloads.meta("720011", payloads.DASH_DRM_TECHS, drm_metas=True)
    meta = parse.parse_meta(data, "meta", "720011")
    assert meta.drm_signals == ("availableTechs",)
    assert meta.clear_hls() is None


def test_meta_list_form():
    meta = parse.parse_meta(payloads.meta_list_form("720002"), "meta", "720002")
    assert meta.techs == ()
    assert meta.drm_signals == ()
    assert meta.id_media == "720002"
    assert meta.metas["SrcEpisode"] == "1"
    assert meta.caption_url == "https://static.example.invalid/cc/720002.vtt"


def test_meta_list_form_drm_metas():
    data = payloads.meta_list_form("720011")
    for entry in data["Metas"]:
        if entry["name"] == "isDrmActive":
            entry["text"] = "true"
    meta = parse.parse_meta(data, "meta", "720011")
    assert meta.drm_signals == ("isDrmActive",)


def test_meta_error_message():
    data = {"errorMessage": {"errorCode": 404, "text": "Média introuvable"}}
    assert parse.meta_error(data, "meta") == (404, "Média introuvable")
    assert parse.meta_error(payloads.meta("1"), "meta") is None


def test_validation_ok_and_bitrates():
    answer = parse.parse_validation(payloads.validation_ok("https://x/m.m3u8"), "v")
    assert answer.url == "https://x/m.m3u8"
    assert answer.error_code == 0
    assert answer.params == {}
    assert answer.bitrates == ((500000, 640, 360), (1500000, 1280, 720))


def test_validation_refusal_nulls():
    answer = parse.parse_validation(
        payloads.validation_refused(1, payloads.GEO_MESSAGE), "v"
    )
    assert answer.url is None
    assert answer.error_code == 1
    assert answer.params == {}
    assert answer.bitrates == ()
    assert answer.message == payloads.GEO_MESSAGE


def test_validation_drm_params():
    answer = parse.parse_validation(payloads.validation_drm(), "v")
    assert sorted(answer.params) == ["widevineAuthToken", "widevineLicenseUrl"]


def test_profile():
    profile = parse.parse_profile(payloads.profile(1900000000), "profile")
    assert profile.tier == "Member"
    assert profile.claims_token is not None
    assert profile.stats_metas == {"rc.tier": "member"}
    empty = parse.parse_profile({"tier": None, "claimsToken": None}, "profile")
    assert empty.claims_token is None
    assert empty.stats_metas == {}
