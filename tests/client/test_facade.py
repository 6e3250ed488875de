"""Client tests: the synchronous pytoutv facade over the scripted service."""

from __future__ import annotations

import datetime
import logging

import pytest

from toutvfs.client.facade import Client
from toutvfs.client.model import Key
from toutvfs.errors import InvalidCredentials, NotFound

from . import payloads
from .conftest import FAST_RETRIES
from .fakeservice import DEMO_PASSWORD, DEMO_USER, FakeService


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(directory))
    return directory


def make_client(service: FakeService, **kwargs) -> Client:
    return Client(
        DEMO_USER,
        DEMO_PASSWORD,
        config=service.config,
        transport=service.transport(),
        policy=FAST_RETRIES,
        **kwargs,
    )


def test_client_logs_in_at_creation(service, cache_dir):
    with make_client(service):
        assert len(service.tokens_issued) == 1


def test_wrong_password_raises(service, cache_dir):
    with pytest.raises(InvalidCredentials) as info:
        Client(
            DEMO_USER,
            "nope",
            config=service.config,
            transport=service.transport(),
            policy=FAST_RETRIES,
        )
    assert info.value.user == DEMO_USER
    assert "nope" not in str(info.value)


def test_section_summaries(service, cache_dir):
    with make_client(service) as client:
        summaries = client.section_summaries
    assert list(summaries) == [
        "serie",
        "film",
        "comedies",
        "policiers",
        "artv",
        "classiques",
    ]
    assert summaries["serie"].title == "Séries"
    assert summaries["serie"].name == "serie"


def test_get_section(service, cache_dir):
    with make_client(service) as client:
        section = client.get_section("serie")
    assert section.name == "serie"
    assert section.title == "Séries"
    assert len(section.subsection_lineups) == 1
    items = section.subsection_lineups[0].items
    assert [item.url for item in items] == [
        slug for _, slug, _ in payloads.SERIES_CARDS
    ]
    assert items[0].is_free is True
    assert items[1].is_free is False
    assert items[0].key == Key("show-la-maison-des-marees")
    assert items[0].key.key_type == "show"


def test_get_section_not_found(service, cache_dir):
    with make_client(service) as client, pytest.raises(NotFound):
        client.get_section("nope")


def test_section_summary_section(service, cache_dir):
    with make_client(service) as client:
        section = client.section_summaries["film"].section
    assert section.title == "Films"


def test_search_show_summaries(service, cache_dir):
    with make_client(service) as client:
        shows = client.search_show_summaries
        first_show = shows[0].show
    assert [show.url for show in shows] == [
        "la-maison-des-marees",
        "brigade-nord",
        "le-phare",
    ]
    assert shows[0].searchable_text == "la maison des marées"
    assert first_show.title == "La Maison des marées"


def test_get_show(service, cache_dir):
    with make_client(service) as client:
        show = client.get_show(payloads.SHOW_SLUG)
    assert show.title == "La Maison des marées"
    assert show.id_media is None
    assert show.key.key_code == payloads.SHOW_SLUG
    assert show.bg_image_url.endswith(f"/bg/{payloads.SHOW_SLUG}.jpg")
    assert [season.title for season in show.season_lineups] == [
        "Bande-annonce",
        "Saison 1",
        "Saison 2",
    ]
    season = show.season_lineups[1]
    assert season.name == "saison-1"
    assert season.is_free is True
    episode = season.items[0]
    assert episode.id_media == "720001"
    assert episode.title == "L'arrivée"
    assert episode.details.length == datetime.timedelta(seconds=1320)
    assert episode.details.length_text == "22 min"
    assert episode.details.credits[0].names == ["Luc Gagnon"]
    assert show.season_lineups[2].is_free is False


def test_user_infos(service, cache_dir):
    with make_client(service) as client:
        infos = client.user_infos
    assert infos.email == DEMO_USER
    assert infos.is_premium is False
    assert infos.stats_metas == {"rc.tier": "member"}
    assert infos.ban_level is None


def test_warm_cache_sends_no_request(service, cache_dir):
    with make_client(service) as client:
        cold = client.get_show(payloads.SHOW_SLUG)
        assert len(client.section_summaries) == 6
    sent = len(service.requests)
    with make_client(service) as client:
        before = len(service.requests)
        warm = client.get_show(payloads.SHOW_SLUG)
        assert len(client.section_summaries) == 6
        assert len(service.requests) == before
    assert warm.title == cold.title
    # The second client logged in again: authorize, SelfAsserted, confirmed.
    assert len(service.requests) == sent + 3


def test_release_cache_stops_caching(service, cache_dir):
    with make_client(service) as client:
        client.release_cache()
        client.get_show(payloads.SHOW_SLUG)
        client.get_show(payloads.SHOW_SLUG)
    path = f"/ott/catalog/v2/toutv/show/{payloads.SHOW_SLUG}"
    assert service.paths[path] == 2


def test_second_client_same_user_warns(service, cache_dir, caplog):
    with make_client(service) as first:
        with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
            second = make_client(service)
        try:
            second.get_show(payloads.SHOW_SLUG)
            second.get_show(payloads.SHOW_SLUG)
        finally:
            second.close()
        first.get_show(payloads.SHOW_SLUG)
        first.get_show(payloads.SHOW_SLUG)
    assert "locked by another client" in caplog.text
    path = f"/ott/catalog/v2/toutv/show/{payloads.SHOW_SLUG}"
    assert service.paths[path] == 3


def test_no_cache_flag(service, cache_dir):
    with make_client(service, no_cache=True) as client:
        client.get_show(payloads.SHOW_SLUG)
    assert not cache_dir.exists()


def test_collected_client_saves_cache(service, cache_dir):
    import gc

    client = make_client(service)
    client.get_show(payloads.SHOW_SLUG)
    del client
    gc.collect()
    files = sorted(path.suffix for path in cache_dir.iterdir())
    assert files == [".json", ".lock"]
    with make_client(service) as again:
        before = len(service.requests)
        again.get_show(payloads.SHOW_SLUG)
        assert len(service.requests) == before
