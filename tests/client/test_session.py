"""Client tests: `Session` coroutines against the scripted service."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

from toutvfs.client import PasswordLogin, Session
from toutvfs.errors import (
    ApiChanged,
    GeoBlocked,
    InvalidCredentials,
    LoginRequired,
    MediaUnavailable,
    NotFound,
    PremiumOnly,
    UnsupportedMedia,
)

from . import payloads
from .conftest import FAST_RETRIES
from .fakeservice import DEMO_PASSWORD, DEMO_USER, FakeService, json_response

VALIDATION = "/media/validation/v2/"
META = "/media/meta/v1/index.ashx"


async def test_browse(session, service):
    page = await session.browse()
    assert [section.slug for section in page.by_kind("formats")] == ["serie", "film"]
    request = service.requests[0]
    assert request.url.params["device"] == "web"
    assert request.headers["User-Agent"] == service.config.user_agent


async def test_category_fetches_every_page(session, service):
    page = await session.category("categorie/serie")
    assert page.slug == "serie"
    assert page.title == "Séries"
    assert [card.slug for card in page.cards] == [
        slug for _, slug, _ in payloads.SERIES_CARDS
    ]
    assert service.paths["/ott/catalog/v2/toutv/category/serie"] == 3
    numbers = sorted(int(r.url.params["pageNumber"]) for r in service.requests)
    assert numbers == [1, 2, 3]
    assert {r.url.params["pageSize"] for r in service.requests} == {"3"}


async def test_category_not_found(session):
    with pytest.raises(NotFound) as info:
        await session.category("nope")
    assert "category 'nope' not found" in str(info.value)


async def test_search(session, service):
    cards = await session.search("jumeaux")
    assert [card.slug for card in cards] == ["jumeaux-1", "jumeaux-2"]
    assert service.requests[0].url.params["term"] == "jumeaux"


async def test_show_index_from_v1(session, service):
    entries = await session.show_index()
    assert [entry.slug for entry in entries] == [
        "la-maison-des-marees",
        "brigade-nord",
        "le-phare",
    ]
    assert service.paths["/ott/catalog/v1/toutv/search"] == 2
    assert {r.url.params["term"] for r in service.requests} == {"*"}


async def test_show_index_falls_back_to_categories(session, service):
    service.index_status = 426
    entries = await session.show_index()
    slugs = [entry.slug for entry in entries]
    assert slugs == [slug for _, slug, _ in payloads.SERIES_CARDS] + ["le-grand-large"]
    assert service.paths["/ott/catalog/v2/toutv/browse"] == 1


async def test_show(session):
    show = await session.show(payloads.SHOW_SLUG)
    assert show.slug == payloads.SHOW_SLUG
    assert [item.id_media for item in show.items] == [
        "720000",
        "720001",
        "720002",
        "720011",
        "720012",
    ]


async def test_show_not_found(session):
    with pytest.raises(NotFound):
        await session.show("absent")


async def test_meta(session, service):
    meta = await session.meta("720001")
    assert meta.clear_hls() is not None
    params = service.requests[0].url.params
    assert params["appCode"] == "toutv"
    assert params["output"] == "jsonObject"


async def test_meta_error_is_not_found(session):
    with pytest.raises(NotFound) as info:
        await session.meta("999999")
    assert info.value.message == "Média introuvable"
    assert info.value.id_media == "999999"


async def test_validate_anonymous_login_required(session, service):
    with pytest.raises(LoginRequired) as info:
        await session.validate("720001")
    assert info.value.message == payloads.LOGIN_MESSAGE
    assert info.value.error_code == 35
    request = service.requests[-1]
    assert request.headers["Authorization"].startswith("client-key ")
    assert "x-claims-token" not in request.headers


def login_session(service: FakeService, http: httpx.AsyncClient) -> Session:
    auth = PasswordLogin(DEMO_USER, DEMO_PASSWORD, clock=lambda: service.now)
    return Session(
        service.config, http, auth, policy=FAST_RETRIES, clock=lambda: service.now
    )


async def test_validate_with_login(service):
    async with service.client() as http:
        session = login_session(service, http)
        url = await session.validate("720001")
    assert url.startswith("http://service.test/hls/720001/master.m3u8?hdnea=")
    request = service.requests[-1]
    assert request.url.path == VALIDATION
    assert request.headers["Authorization"] == f"Bearer {service.tokens_issued[0]}"
    assert request.headers["x-claims-token"].count(".") == 2
    params = request.url.params
    assert params["tech"] == "hls"
    assert params["idMedia"] == "720001"
    assert params["manifestVersion"] == "2"


async def test_validate_reuses_token_and_claims(service):
    async with service.client() as http:
        session = login_session(service, http)
        await session.validate("720001")
        await session.validate("720002")
    assert len(service.tokens_issued) == 1
    assert service.paths["/ott/subscription/v2/toutv/subscriber/profile"] == 1
    assert service.paths[VALIDATION] == 2


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (payloads.validation_refused(1, payloads.GEO_MESSAGE), GeoBlocked, 1),
        (payloads.validation_refused(2, payloads.PREMIUM_MESSAGE), PremiumOnly, 2),
        (payloads.validation_refused(77, payloads.PREMIUM_MESSAGE), PremiumOnly, 77),
        (payloads.validation_refused(35, payloads.LOGIN_MESSAGE), LoginRequired, 35),
        (payloads.validation_refused(404, "Introuvable"), NotFound, 404),
        (payloads.validation_refused(12, "Erreur inconnue"), MediaUnavailable, 12),
    ],
)
async def test_validate_refusals(service, answer, error, code):
    service.validation["720001"] = answer
    async with service.client() as http:
        session = login_session(service, http)
        with pytest.raises(error) as info:
            await session.validate("720001")
    assert type(info.value) is error
    assert info.value.message == answer["message"]
    assert info.value.error_code == code
    assert info.value.id_media == "720001"


async def test_validate_licence_params_are_drm(service):
    service.validation["720001"] = payloads.validation_drm()
    async with service.client() as http:
        with pytest.raises(UnsupportedMedia) as info:
            await login_session(service, http).validate("720001")
    assert info.value.signal == "licence parameters"


async def test_validate_dash_url_is_drm(service):
    service.validation["720001"] = payloads.validation_dash_only()
    async with service.client() as http:
        with pytest.raises(UnsupportedMedia) as info:
            await login_session(service, http).validate("720001")
    assert info.value.signal == "DASH URL"


async def test_validate_dash_only_meta_skips_validation(service):
    async with service.client() as http:
        with pytest.raises(UnsupportedMedia) as info:
            await login_session(service, http).validate("720011")
    assert info.value.signal == "availableTechs"
    assert service.paths[VALIDATION] == 0


async def test_validate_401_logs_in_again(service):
    async with service.client() as http:
        session = login_session(service, http)
        await session.validate("720001")
        service.revoked.add(service.tokens_issued[0])
        url = await session.validate("720002")
    assert "/hls/720002/" in url
    assert len(service.tokens_issued) == 2
    statuses = [r.url.path for r in service.requests if r.url.path == VALIDATION]
    assert len(statuses) == 3


async def test_token_renewed_before_expiry(service):
    async with service.client() as http:
        session = login_session(service, http)
        await session.validate("720001")
        service.now += 3600 - 30
        await session.validate("720002")
    assert len(service.tokens_issued) == 2
    assert service.paths[VALIDATION] == 2


async def test_wrong_password(service, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-Secret-123"
    async with service.client() as http:
        auth = PasswordLogin(DEMO_USER, secret)
        session = Session(service.config, http, auth, policy=FAST_RETRIES)
        with pytest.raises(InvalidCredentials) as info:
            await session.validate("720001")
    assert info.value.user == DEMO_USER
    assert "mot de passe est incorrect" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in repr(auth)
    for record in caplog.records:
        assert secret not in record.getMessage()


async def test_retry_after_5xx(session, service):
    service.fail_next(
        "/ott/catalog/v2/toutv/browse",
        json_response({}, 503),
        httpx.ConnectError("refused"),
    )
    page = await session.browse()
    assert len(page.sections) == 6
    assert service.paths["/ott/catalog/v2/toutv/browse"] == 3
    assert session.requester.requests_sent == 3


async def test_concurrent_callers_share_request(session, service):
    results = []

    async def fetch():
        results.append(await session.show(payloads.SHOW_SLUG))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(fetch)
    assert len(results) == 5
    assert service.paths[f"/ott/catalog/v2/toutv/show/{payloads.SHOW_SLUG}"] == 1


def test_signed_url_lifetime():
    from toutvfs.client.validation import SIGNED_URL_MARGIN, signed_url_lifetime

    url = "https://cdn.test/m.m3u8?hdnea=st=100~exp=200~acl=*~hmac=ab"
    margin = SIGNED_URL_MARGIN
    assert signed_url_lifetime(url, now=100.0, limit=120.0) == 100 - margin
    assert signed_url_lifetime(url, now=150.0, limit=20.0) == 20.0 - margin
    assert signed_url_lifetime(url, now=500.0, limit=120.0) == 0.0
    plain = "https://cdn.test/m.m3u8"
    assert signed_url_lifetime(plain, now=0, limit=120.0) == 120.0 - margin


async def test_signed_url_cached_until_expiry(service):
    from toutvfs.client.results import ResultStore

    clock = [service.now]
    store = ResultStore(clock=lambda: clock[0])
    signed = f"http://service.test/m.m3u8?hdnea=exp={int(service.now) + 60}~hmac=x"
    service.validation["720001"] = payloads.validation_ok(signed)
    async with service.client() as http:
        auth = PasswordLogin(DEMO_USER, DEMO_PASSWORD, clock=lambda: clock[0])
        session = Session(
            service.config,
            http,
            auth,
            policy=FAST_RETRIES,
            store=store,
            clock=lambda: clock[0],
        )
        assert await session.validate("720001") == signed
        clock[0] += 30
        assert await session.validate("720001") == signed
        assert service.paths[VALIDATION] == 1
        clock[0] += 20
        assert await session.validate("720001") == signed
    assert service.paths[VALIDATION] == 2


async def test_token_renewed_with_refresh_token(service):
    service.issue_refresh_tokens = True
    async with service.client() as http:
        session = login_session(service, http)
        await session.validate("720001")
        service.now += 3600 - 30
        await session.validate("720002")
    assert session.auth.logins == 1
    assert session.auth.refreshes == 1
    token_posts = [r for r in service.requests if r.url.path.endswith("/token")]
    assert len(token_posts) == 1
    assert b"grant_type=refresh_token" in token_posts[0].content


async def test_failed_refresh_logs_in_again(service):
    service.issue_refresh_tokens = True
    async with service.client() as http:
        session = login_session(service, http)
        await session.validate("720001")
        service.refresh_tokens.clear()
        service.now += 3600 - 30
        await session.validate("720002")
    assert session.auth.logins == 2
    assert session.auth.refreshes == 0


async def test_store_keeps_only_parsed_bodies(service):
    from toutvfs.client.results import ResultStore

    path = f"/ott/catalog/v2/toutv/show/{payloads.SHOW_SLUG}"
    broken = payloads.show()
    del broken["title"]
    service.fail_next(path, json_response(broken))
    store = ResultStore()
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES, store=store)
        with pytest.raises(ApiChanged):
            await session.show(payloads.SHOW_SLUG)
        first = await session.show(payloads.SHOW_SLUG)
        second = await session.show(payloads.SHOW_SLUG)
    assert first == second
    assert service.paths[path] == 2
    assert store.hits == 1


async def test_validate_401_twice_gives_up(service):
    service.fail_next(
        VALIDATION,
        json_response(payloads.error_401(), 401),
        json_response(payloads.error_401(), 401),
    )
    async with service.client() as http:
        session = login_session(service, http)
        with pytest.raises(MediaUnavailable) as info:
            await session.validate("720001")
    assert info.value.error_code == 401
    assert "401 again" in str(info.value)
    assert service.paths[VALIDATION] == 2
    assert len(service.tokens_issued) == 2


async def test_search_falls_back_to_v1(session, service):
    service.fail_next(
        "/ott/catalog/v2/toutv/search", json_response({"message": "gone"}, 426)
    )
    cards = await session.search("brigade")
    # The scripted v1 index ignores the term and lists every show entry.
    assert [card.slug for card in cards] == [
        "la-maison-des-marees",
        "brigade-nord",
        "le-phare",
    ]
    v1 = [r for r in service.requests if r.url.path == "/ott/catalog/v1/toutv/search"]
    assert {r.url.params["term"] for r in v1} == {"brigade"}
