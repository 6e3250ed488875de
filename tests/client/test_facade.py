"""Client tests: the synchronous pytoutv facade against the emulator on loopback.

Expected values come from the emulator's demo catalogue
(``toutvfs/emulator/demo.toml``).
"""

from __future__ import annotations

import datetime
import logging

import pytest

from toutvfs.client.facade import Client
from toutvfs.client.model import Key
from toutvfs.config import Config
from toutvfs.emulator import Emulator
from toutvfs.errors import InvalidCredentials, NotFound, UnsupportedMedia

from .conftest import FAST_RETRIES, endpoint_count
from .fakeservice import DEMO_PASSWORD, DEMO_USER

USER = "demo@toutvfs.test"
PASSWORD = "demo"
HERITIERS = "les-heritiers-du-fleuve"
LOGIN_ENDPOINTS = ("authorize", "self-asserted", "confirmed")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(directory))
    return directory


def make_client(config: Config, **kwargs) -> Client:
    return Client(USER, PASSWORD, config=config, policy=FAST_RETRIES, **kwargs)


def endpoints_since(emulator: Emulator, since: int) -> list[str]:
    return [record.endpoint for record in emulator.request_log[since:]]


def test_client_logs_in_at_creation(emulator, config, cache_dir):
    since = len(emulator.request_log)
    with make_client(config):
        assert endpoints_since(emulator, since) == list(LOGIN_ENDPOINTS)


def test_wrong_password_raises(emulator, config, cache_dir, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "not-the-Password-42"
    since = len(emulator.request_log)
    with pytest.raises(InvalidCredentials) as info:
        Client(USER, secret, config=config, policy=FAST_RETRIES)
    assert info.value.user == USER
    assert secret not in str(info.value)
    assert caplog.records != []
    for record in caplog.records:
        assert secret not in record.getMessage()
    statuses = [r.status for r in emulator.request_log[since:]]
    assert endpoints_since(emulator, since) == ["authorize", "self-asserted"]
    assert statuses == [200, 200]


def test_section_summaries(emulator, config, cache_dir):
    with make_client(config) as client:
        summaries = client.section_summaries
    # The browse page lists formats, then genres, networks and collections.
    assert list(summaries) == [
        "serie",
        "film",
        "documentaire",
        "drames",
        "jeunesse",
        "ici-radio-canada-tele",
        "coups-de-coeur",
    ]
    assert summaries["serie"].title == "Séries"
    assert summaries["serie"].name == "serie"
    assert summaries["coups-de-coeur"].title == "Coups de cœur de l'équipe"
    for name, summary in summaries.items():
        assert summary.title == emulator.catalogue.section(name).title


def test_get_section(emulator, config, cache_dir):
    with make_client(config) as client:
        section = client.get_section("serie")
    assert section.name == "serie"
    assert section.title == "Séries"
    assert len(section.subsection_lineups) == 1
    items = section.subsection_lineups[0].items
    assert [item.url for item in items] == emulator.catalogue.section("serie").shows
    assert items[0].url == HERITIERS
    assert items[0].is_free is True
    # unite-7 is the Premium series.
    assert items[1].url == "unite-7"
    assert items[1].is_free is False
    assert items[0].key == Key(f"show-{HERITIERS}")
    assert items[0].key.key_type == "show"
    assert items[0].key.key_code == HERITIERS


def test_get_section_not_found(config, cache_dir):
    with make_client(config) as client, pytest.raises(NotFound):
        client.get_section("absente")


def test_section_summary_section(config, cache_dir):
    with make_client(config) as client:
        section = client.section_summaries["film"].section
    assert section.title == "Films"
    assert [item.url for item in section.subsection_lineups[0].items] == [
        "le-grand-nord"
    ]


def test_search_show_summaries(emulator, config, cache_dir):
    with make_client(config) as client:
        shows = client.search_show_summaries
        first_show = shows[0].show
    # unite-7 is in the index with the type Season, which counts as a show.
    assert [show.url for show in shows] == list(emulator.catalogue.shows)
    assert len(shows) == 11
    assert shows[0].url == HERITIERS
    assert shows[1].url == "unite-7"
    assert shows[0].searchable_text == (
        "les heritiers du fleuve une famille de pilotes du saint-laurent."
    )
    assert first_show.title == "Les Héritiers du fleuve"


def test_search_summaries_shows_only(service, cache_dir):
    """Check that the index keeps each show once and drops other entries.

    This test runs on the scripted service because the emulator's full index
    lists only shows, each once. The scripted index also has a Media entry,
    a Collection entry and a show listed both as Season and as Show.
    """
    with Client(
        DEMO_USER,
        DEMO_PASSWORD,
        config=service.config,
        transport=service.transport(),
        policy=FAST_RETRIES,
    ) as client:
        shows = client.search_show_summaries
        first_show = shows[0].show
    assert len(service.INDEX) == 6
    assert [show.url for show in shows] == [
        "la-maison-des-marees",
        "brigade-nord",
        "le-phare",
    ]
    assert shows[0].searchable_text == "la maison des marées"
    assert first_show.title == "La Maison des marées"


def test_get_show(config, cache_dir):
    with make_client(config) as client:
        show = client.get_show(HERITIERS)
        premium = client.get_show("unite-7")
    assert show.title == "Les Héritiers du fleuve"
    assert show.id_media is None
    assert show.key.key_code == HERITIERS
    assert show.bg_image_url.startswith(config.api_base.rstrip("/"))
    assert show.bg_image_url.endswith(f"/bg/{HERITIERS}.png")
    assert [season.title for season in show.season_lineups] == [
        "Bande-annonce",
        "Saison 1",
        "Saison 2",
    ]
    season = show.season_lineups[1]
    assert season.name == "saison-1"
    assert season.is_free is True
    assert [item.id_media for item in season.items] == ["910001", "910002", "910003"]
    episode = season.items[0]
    assert episode.id_media == "910001"
    assert episode.title == "Le départ"
    assert episode.details.length == datetime.timedelta(seconds=60)
    assert episode.details.length_text == "1 min"
    assert episode.details.credits[0].names == ["Marie Tremblay"]
    assert episode.details.air_date_text == "2024-01-01"
    # Member is free of charge for an account; Premium is not.
    assert show.season_lineups[2].is_free is True
    assert show.season_lineups[2].items[1].title == "Le dernier quart"
    assert show.season_lineups[2].items[1].is_free is False
    assert premium.season_lineups[0].is_free is False


def test_get_show_not_found(config, cache_dir):
    with make_client(config) as client, pytest.raises(NotFound):
        client.get_show("absent-de-partout")


def test_film_is_its_own_media(config, cache_dir):
    with make_client(config) as client:
        film = client.get_show("le-grand-nord")
    assert film.id_media == "960001"
    assert [season.name for season in film.season_lineups] == ["film"]


def test_season_items_media_versions(emulator, config, cache_dir):
    profile = emulator.catalogue.episodes[910001].profile
    measured = emulator.media_set(profile).variants
    with make_client(config) as client:
        item = client.get_show(HERITIERS).season_lineups[1].items[0]
        versions = item.media_versions
    assert [version.bandwidth for version in versions] == [
        variant.peak_bandwidth for variant in measured
    ]
    assert versions[0].bandwidth < versions[1].bandwidth
    assert versions[0].resolution == (320, 180)
    assert versions[1].resolution == (640, 360)
    assert [version.id_media for version in versions] == ["910001", "910001"]


def test_media_versions_drm(config, cache_dir):
    with make_client(config) as client:
        item = client.get_show("geo-et-drm").season_lineups[0].items[1]
        assert item.id_media == "991002"
        with pytest.raises(UnsupportedMedia) as info:
            assert item.media_versions == []
    assert info.value.signal == "availableTechs"


def test_user_infos(config, cache_dir):
    with make_client(config) as client:
        infos = client.user_infos
    assert infos.email == USER
    assert infos.is_premium is False
    assert infos.stats_metas == {"rc.tier": "member"}
    assert infos.ban_level is None


def test_warm_cache_sends_no_request(emulator, config, cache_dir):
    with make_client(config) as client:
        cold = client.get_show(HERITIERS)
        assert len(client.section_summaries) == 7
    since = len(emulator.request_log)
    with make_client(config) as client:
        before = len(emulator.request_log)
        warm = client.get_show(HERITIERS)
        assert len(client.section_summaries) == 7
        assert len(emulator.request_log) == before
    assert warm.title == cold.title
    # The second client logged in again, and sent nothing else.
    assert endpoints_since(emulator, since) == list(LOGIN_ENDPOINTS)


def test_release_cache_stops_caching(emulator, config, cache_dir):
    since = len(emulator.request_log)
    with make_client(config) as client:
        client.release_cache()
        client.get_show(HERITIERS)
        client.get_show(HERITIERS)
    assert endpoint_count(emulator, "show", since) == 2


def test_release_cache_saves_results(emulator, config, cache_dir):
    with make_client(config) as client:
        client.get_show(HERITIERS)
        client.release_cache()
        files = sorted(path.suffix for path in cache_dir.iterdir())
        since = len(emulator.request_log)
        with make_client(config) as second:
            second.get_show(HERITIERS)
    assert files == [".json", ".lock"]
    # The first client released the lock, so the second one read its file.
    assert endpoint_count(emulator, "show", since) == 0


def test_second_client_same_user_warns(emulator, config, cache_dir, caplog):
    since = len(emulator.request_log)
    with make_client(config) as first:
        with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
            second = make_client(config)
        try:
            second.get_show(HERITIERS)
            second.get_show(HERITIERS)
        finally:
            second.close()
        first.get_show(HERITIERS)
        first.get_show(HERITIERS)
    assert "locked by another client" in caplog.text
    # The second client has no cache, so both of its calls reach the service.
    assert endpoint_count(emulator, "show", since) == 3


def test_no_cache_flag(emulator, config, cache_dir):
    since = len(emulator.request_log)
    with make_client(config, no_cache=True) as client:
        client.get_show(HERITIERS)
        client.get_show(HERITIERS)
    assert not cache_dir.exists()
    assert endpoint_count(emulator, "show", since) == 2


def test_collected_client_saves_cache(emulator, config, cache_dir):
    client = make_client(config)
    client.get_show(HERITIERS)
    # Nothing refers back to a client, so CPython finalizes it at once. No
    # gc.collect() here, which would also collect other tests' garbage.
    del client
    files = sorted(path.suffix for path in cache_dir.iterdir())
    assert files == [".json", ".lock"]
    with make_client(config) as again:
        before = len(emulator.request_log)
        again.get_show(HERITIERS)
        assert len(emulator.request_log) == before
