"""Client tests: session and facade flows against a real emulator on loopback."""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from pathlib import Path

import httpx
import pytest
import trio

from toutvfs.client import Anonymous, BearerToken, PasswordLogin, Session
from toutvfs.client.facade import Client
from toutvfs.client.tokens import RENEW_MARGIN
from toutvfs.config import Config
from toutvfs.emulator import Emulator, Fault
from toutvfs.errors import (
    ApiChanged,
    GeoBlocked,
    InvalidCredentials,
    LoginRequired,
    NotFound,
    PremiumOnly,
    UnsupportedMedia,
)

from .conftest import FAST_RETRIES, clear_segments, endpoint_count

USER = "demo@toutvfs.test"
PASSWORD = "demo"
HERITIERS = "les-heritiers-du-fleuve"


async def test_catalogue_matches_emulator(emulator, config):
    catalogue = emulator.catalogue
    async with httpx.AsyncClient() as http:
        session = Session(config, http)
        browse = await session.browse()
        serie = await session.category("serie")
        index = await session.show_index()
        show = await session.show(HERITIERS)
    assert sorted(s.slug for s in browse.sections) == sorted(
        s.slug for s in catalogue.sections
    )
    assert [card.slug for card in serie.cards] == catalogue.section("serie").shows
    assert sorted(entry.slug for entry in index) == sorted(catalogue.shows)
    expected = catalogue.shows[HERITIERS]
    assert show.title == expected.title
    assert [item.id_media for item in show.items] == [
        str(episode.id_media) for episode in expected.episodes()
    ]


async def test_category_paging_small_pages(emulator, config):
    since = len(emulator.request_log)
    async with httpx.AsyncClient() as http:
        session = Session(config.with_overrides(page_size=3), http)
        serie = await session.category("serie")
    shows = emulator.catalogue.section("serie").shows
    assert [card.slug for card in serie.cards] == shows
    assert endpoint_count(emulator, "category", since) == -(-len(shows) // 3)


async def test_show_not_found(config):
    async with httpx.AsyncClient() as http:
        with pytest.raises(NotFound):
            await Session(config, http).show("absent-de-partout")


async def test_validation_refusals(config):
    async with httpx.AsyncClient() as http:
        session = Session(config, http, PasswordLogin(USER, PASSWORD))
        with pytest.raises(GeoBlocked) as geo:
            await session.validate("991001")
        with pytest.raises(UnsupportedMedia) as drm:
            await session.validate("991002")
        with pytest.raises(PremiumOnly) as premium:
            await session.validate("991004")
        master = await session.validate("910001")
    assert "pays" in geo.value.message
    assert drm.value.signal == "availableTechs"
    assert "premium" in premium.value.message
    assert master.startswith(config.api_base)


async def test_anonymous_validation_needs_login(config):
    async with httpx.AsyncClient() as http:
        session = Session(config, http, Anonymous())
        with pytest.raises(LoginRequired) as member:
            await session.validate("910003")
        with pytest.raises(LoginRequired) as restricted:
            await session.validate("991003")
    assert member.value.id_media == "910003"
    assert restricted.value.id_media == "991003"


async def test_wrong_password(config, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "not-the-Password-42"
    async with httpx.AsyncClient() as http:
        session = Session(
            config, http, PasswordLogin(USER, secret), policy=FAST_RETRIES
        )
        with pytest.raises(InvalidCredentials) as info:
            await session.validate("910001")
    assert info.value.user == USER
    assert secret not in str(info.value)
    assert all(secret not in record.getMessage() for record in caplog.records)


async def test_token_refreshed_before_expiry(emulator, config):
    now = [time.time()]
    auth = PasswordLogin(USER, PASSWORD, clock=lambda: now[0])
    async with httpx.AsyncClient() as http:
        session = Session(config, http, auth, clock=lambda: now[0])
        await session.validate("910001")
        first_token = auth._token
        first_refresh = auth._refresh_token
        since = len(emulator.request_log)
        # Thirty seconds before exp is inside the renewal margin. The token
        # has not expired, so the client renews it with the refresh token.
        assert RENEW_MARGIN > 30
        now[0] = auth._expiry - 30
        url = await session.validate("910002")
    endpoints = [r.endpoint for r in emulator.request_log[since:]]
    assert "/910002/" in url
    assert auth.logins == 1
    assert auth.refreshes == 1
    assert first_token is not None
    assert auth._token is not None
    assert auth._token != first_token
    assert auth._refresh_token != first_refresh
    assert endpoints.count("token") == 1
    assert endpoints.count("authorize") == 0
    assert endpoints.count("self-asserted") == 0
    statuses = [
        r.status for r in emulator.request_log[since:] if r.endpoint == "validation"
    ]
    assert statuses == [200]


async def test_prepare_logs_in_before_the_first_validation(emulator, config):
    auth = PasswordLogin(USER, PASSWORD)
    async with httpx.AsyncClient() as http:
        session = Session(config, http, auth)
        # The profile arrives slowly, so the validation requests the claims
        # token while the early request is still running.
        emulator.faults.append(
            Fault("trickle", endpoint="profile", first=1, trickle_rate=2000)
        )
        since = len(emulator.request_log)
        async with trio.open_nursery() as nursery:
            # A validation that arrives during the early login shares it.
            nursery.start_soon(session.prepare)
            nursery.start_soon(session.validate, "910001")
        prepared = [r.endpoint for r in emulator.request_log[since:]]
        since = len(emulator.request_log)
        await session.validate("910002")
    assert auth.logins == 1
    assert prepared.count("profile") == 1
    assert prepared.count("validation") == 1
    # The next validation needs neither a login nor the profile.
    later = [r.endpoint for r in emulator.request_log[since:]]
    assert later == ["meta", "validation"]


async def test_prepare_anonymous_sends_nothing(emulator, config):
    async with httpx.AsyncClient() as http:
        session = Session(config, http, Anonymous())
        since = len(emulator.request_log)
        await session.prepare()
    assert emulator.request_log[since:] == []


async def test_relogin_after_expiry():
    # Tokens live 3 s: long enough for a login and a validation on a loaded
    # machine, short enough to wait out.
    with Emulator(token_lifetime=3) as short:
        config = Config.for_emulator(short.base_url)
        # The client's clock lags an hour, so it keeps the token past its exp
        # and the emulator returns 401.
        auth = PasswordLogin(USER, PASSWORD, clock=lambda: time.time() - 3600)
        async with httpx.AsyncClient() as http:
            session = Session(config, http, auth, clock=lambda: time.time() - 3600)
            await session.validate("910001")
            # Wait until the emulator's clock has passed the token's exp.
            wait = auth._expiry + 0.5 - time.time()
            assert wait < 4
            await trio.sleep(max(wait, 0.0))
            url = await session.validate("910002")
        statuses = [r.status for r in short.request_log if r.endpoint == "validation"]
    assert "/910002/" in url
    assert auth.logins == 2
    assert statuses == [200, 401, 200]


async def test_pasted_bearer_token(config):
    async with httpx.AsyncClient() as http:
        login = Session(config, http, PasswordLogin(USER, PASSWORD))
        token = await login.auth.bearer(login.login_flow)
        pasted = Session(config, http, BearerToken(token))
        url = await pasted.validate("910001")
    assert "/910001/" in url


async def test_retries_5xx_and_429(emulator, config):
    emulator.faults.append(Fault("status", endpoint="browse", first=2, status=503))
    emulator.faults.append(Fault("rate-limit", endpoint="show", first=1, retry_after=1))
    since = len(emulator.request_log)
    async with httpx.AsyncClient() as http:
        session = Session(config, http)
        browse = await session.browse()
        show = await session.show(HERITIERS)
    assert len(browse.sections) == len(emulator.catalogue.sections)
    assert show.title
    assert endpoint_count(emulator, "browse", since) == 3
    assert endpoint_count(emulator, "show", since) == 2


@pytest.mark.parametrize("kind", ["malformed-json", "empty-body", "html-page"])
async def test_body_not_json_is_api_changed(emulator, config, kind):
    emulator.faults.append(Fault(kind, endpoint="show"))
    async with httpx.AsyncClient() as http:
        with pytest.raises(ApiChanged) as info:
            await Session(config, http).show(HERITIERS)
    assert info.value.endpoint == f"ott/catalog/v2/toutv/show/{HERITIERS}"
    assert info.value.field == "<body>"


async def test_concurrent_show_one_request(emulator, config):
    since = len(emulator.request_log)
    async with httpx.AsyncClient() as http:
        session = Session(config, http)
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(session.show, HERITIERS)
    assert endpoint_count(emulator, "show", since) == 1


async def test_no_secret_in_logs(emulator, config, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        async with httpx.AsyncClient() as http:
            auth = PasswordLogin(USER, PASSWORD)
            session = Session(config, http, auth)
            master = await session.validate("910001")
            token = auth._token
            refresh = auth._refresh_token
            claims = session._claims
    finally:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
    assert token is not None
    assert refresh is not None
    assert claims is not None
    secrets = [PASSWORD, token, refresh, claims[1], master.split("?", 1)[1]]
    # The demo password is part of the demo user name, which may be logged.
    messages = [
        record.getMessage().replace(USER, "<user>") for record in caplog.records
    ]
    assert any("/media/validation/v2/" in message for message in messages)
    for message in messages:
        for secret in secrets:
            assert secret not in message


def test_facade_cache_warm_sends_nothing(emulator, config, tmp_path, monkeypatch):
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(tmp_path / "cache"))
    with Client(USER, PASSWORD, config=config) as client:
        cold = [summary.url for summary in client.search_show_summaries]
        client.get_show(HERITIERS)
    since = len(emulator.request_log)
    with Client(USER, PASSWORD, config=config) as client:
        after_login = len(emulator.request_log)
        warm = [summary.url for summary in client.search_show_summaries]
        client.get_show(HERITIERS)
        assert len(emulator.request_log) == after_login
    assert warm == cold
    assert endpoint_count(emulator, "search-index", since) == 0


def load_listing_benchmark():
    """Import scripts/bench_client.py, which is not part of the package."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_client.py"
    spec = importlib.util.spec_from_file_location("bench_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_listing_benchmark_small():
    run = load_listing_benchmark().run

    cold, warm, uncached, categories = run(shows=250, page_size=100)
    assert (cold.shows, warm.shows, uncached.shows, categories.shows) == (
        250,
        250,
        250,
        250,
    )
    assert cold.requests == 3
    assert warm.requests == 0
    assert uncached.requests == 3
    # The refused index page, the browse page and 3 category pages.
    assert categories.requests == 5


async def test_index_falls_back_when_retired(emulator, config):
    emulator.faults.append(Fault("status", endpoint="search-index", status=426))
    since = len(emulator.request_log)
    async with httpx.AsyncClient() as http:
        index = await Session(config, http).show_index()
    formats = [s for s in emulator.catalogue.sections if s.kind == "format"]
    expected = {slug for section in formats for slug in section.shows}
    assert {entry.slug for entry in index} == expected
    assert len(index) == len(expected)
    assert endpoint_count(emulator, "search-index", since) == 1
    assert endpoint_count(emulator, "category", since) == len(formats)


async def test_meta_list_form(config):
    async with httpx.AsyncClient() as http:
        session = Session(config.with_overrides(meta_output="json"), http)
        meta = await session.meta("910001")
    assert meta.techs == ()
    assert meta.drm_signals == ()
    assert meta.metas["idMedia"] == "910001"


async def test_dash_validation_is_drm(config):
    params = dict(config.validation_params, tech="dash")
    dash_config = config.with_overrides(validation_params=params)
    async with httpx.AsyncClient() as http:
        session = Session(dash_config, http, PasswordLogin(USER, PASSWORD))
        with pytest.raises(UnsupportedMedia) as info:
            await session.validate("910001")
    assert info.value.signal in ("licence parameters", "DASH URL")


def test_closed_client_rejects_calls(config, tmp_path, monkeypatch):
    monkeypatch.setenv("TOUTV3_CACHE_DIR", str(tmp_path / "cache"))
    client = Client(config=config)
    assert len(client.section_summaries) > 0
    client.close()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get_show(HERITIERS)


@pytest.fixture(scope="module")
def lab_client(emulator, tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("lab-cache")
    config = Config.for_emulator(emulator.base_url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOUTV3_CACHE_DIR", str(cache_dir))
        with Client(USER, PASSWORD, config=config) as client:
            yield client


def lab_episode(client: Client, id_media: int):
    show = client.get_show("laboratoire-hls")
    for season in show.season_lineups:
        for item in season.items:
            if item.id_media == str(id_media):
                return item
    raise AssertionError(f"no media {id_media} in laboratoire-hls")


@pytest.mark.parametrize(
    "id_media",
    [
        pytest.param(990001, id="ffmpeg-aes"),
        pytest.param(990002, id="implicit-iv"),
        pytest.param(990003, id="explicit-iv"),
        pytest.param(990004, id="key-rotation"),
        pytest.param(990005, id="clear"),
        pytest.param(990006, id="none-after-key"),
    ],
)
def test_download_ts_modes_exact_bytes(emulator, lab_client, tmp_path, id_media):
    item = lab_episode(lab_client, id_media)
    version = item.media_versions[0]
    target = tmp_path / "episode.ts"
    progress = list(version.create_download().iter_download(target, chunk_size=65536))
    clear = clear_segments(emulator, id_media, 0)
    expected = b"".join(clear)
    written = target.read_bytes()
    assert len(written) == len(expected)
    assert written == expected
    assert progress[-1].dl_segments == len(clear)
    assert progress[-1].total_segments == len(clear)


def test_download_sample_aes_is_drm(lab_client, tmp_path):
    # The master playlist is clear; the engine finds SAMPLE-AES in the media
    # playlist when the download opens the stream, before any file exists.
    version = lab_episode(lab_client, 990007).media_versions[0]
    with pytest.raises(UnsupportedMedia) as info:
        list(version.create_download().iter_download(tmp_path / "x.ts"))
    assert info.value.signal == "SAMPLE-AES"
    assert not (tmp_path / "x.ts").exists()


def test_download_fmp4_with_init_section(emulator, lab_client, tmp_path):
    version = lab_episode(lab_client, 990008).media_versions[0]
    target = tmp_path / "episode.mp4"
    progress = list(version.create_download().iter_download(target, chunk_size=65536))
    episode = emulator.catalogue.episodes[990008]
    media = emulator.media_set(episode.profile).variants[0]
    directory = media.directory / "fmp4"
    segments = media.segments["fmp4"]
    expected = (directory / "init.mp4").read_bytes() + b"".join(
        (directory / segment.name).read_bytes() for segment in segments
    )
    assert target.read_bytes() == expected
    # The init section is one more part.
    assert progress[-1].total_segments == len(segments) + 1


def test_download_byte_ranges(emulator, lab_client, tmp_path):
    version = lab_episode(lab_client, 990009).media_versions[0]
    target = tmp_path / "episode.ts"
    list(version.create_download().iter_download(target, chunk_size=65536))
    episode = emulator.catalogue.episodes[990009]
    media = emulator.media_set(episode.profile).variants[0]
    expected = b""
    for segment in media.segments["single"]:
        assert segment.byterange is not None
        length, offset = segment.byterange
        body = (media.directory / "single" / segment.name).read_bytes()
        expected += body[offset : offset + length]
    assert target.read_bytes() == expected
