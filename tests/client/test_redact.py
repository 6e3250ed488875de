"""Client tests: no token, password or signed query string in any log record."""

from __future__ import annotations

import logging
import sys

import pytest

from toutvfs.client import PasswordLogin, Session
from toutvfs.client.redact import RedactingFilter, redact_text, redact_url

from . import payloads
from .conftest import FAST_RETRIES
from .fakeservice import DEMO_PASSWORD, DEMO_USER


def test_redact_url_keeps_safe_params():
    url = "https://cdn.test/a/master.m3u8?hdnea=st=1~exp=2~hmac=ff&lang=fr&idMedia=7"
    redacted = redact_url(url)
    assert redacted.startswith("https://cdn.test/a/master.m3u8?")
    assert "hmac=ff" not in redacted
    assert "hdnea=REDACTED" in redacted
    assert "lang=REDACTED" in redacted
    assert "idMedia=7" in redacted


def test_redact_url_drops_fragment():
    redacted = redact_url("https://x.test/auth-changed#access_token=abc&token_type=B")
    assert redacted == "https://x.test/auth-changed#REDACTED"


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def.ghi",
        "header client-key 90505c8d-9c34",
        "password=hunter2&email=a",
        "x?hdnea=st=1~exp=2~hmac=ff",
        "token eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.sig",
    ],
)
def test_redact_text_removes_secrets(text):
    cleaned = redact_text(text)
    for secret in ("abc.def.ghi", "90505c8d", "hunter2", "hmac=ff", "eyJ4IjoxfQ"):
        assert secret not in cleaned


async def test_no_secret_in_any_log_record(service, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "toutvfs"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        async with service.client() as http:
            login = PasswordLogin(DEMO_USER, DEMO_PASSWORD, clock=lambda: service.now)
            session = Session(
                service.config,
                http,
                login,
                policy=FAST_RETRIES,
                clock=lambda: service.now,
            )
            url = await session.validate("720001")
            service.revoked.add(service.tokens_issued[0])
            await session.validate("720002")
    finally:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("toutvfs").setLevel(logging.NOTSET)
    secrets = [DEMO_PASSWORD, "hmac=abc", url.split("?", 1)[1]]
    secrets += service.tokens_issued
    secrets.append(payloads.jwt({"tier": "Member", "exp": int(service.now) + 600}))
    messages = [record.getMessage() for record in caplog.records]
    assert any("logged in as" in message for message in messages)
    assert any("/media/validation/v2/" in message for message in messages)
    for message in messages:
        for secret in secrets:
            assert secret not in message


@pytest.fixture
def unset_http_loggers():
    """Reset httpx's and httpcore's levels to NOTSET, as in a fresh process."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
    yield loggers
    for logger, level in zip(loggers, before, strict=True):
        logger.setLevel(level)


async def test_http_loggers_quiet_by_default(service, caplog, unset_http_loggers):
    caplog.set_level(logging.DEBUG)
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES)
        await session.browse()
    for logger in unset_http_loggers:
        assert logger.level == logging.WARNING, logger.name
    names = {record.name for record in caplog.records}
    assert names
    for name in names:
        assert name.startswith("toutvfs."), name


async def test_http_logger_level_kept_when_set(service, caplog, unset_http_loggers):
    httpx_logger = unset_http_loggers[0]
    httpx_logger.setLevel(logging.INFO)
    caplog.set_level(logging.DEBUG)
    async with service.client() as http:
        session = Session(service.config, http, policy=FAST_RETRIES)
        await session.browse()
    assert httpx_logger.level == logging.INFO
    requests = [record for record in caplog.records if record.name == "httpx"]
    assert len(requests) == 1
    assert "/ott/catalog/v2/toutv/browse" in requests[0].getMessage()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[(b'Set-Cookie', b'x-ms-cpim-csrf=c5rf; Path=/b2c/; HttpOnly')]",
            "[(b'Set-Cookie', b'x-ms-cpim-csrf=REDACTED; Path=/b2c/; HttpOnly')]",
        ),
        (
            "[(b'Cookie', b'x-ms-cpim-csrf=c5rf; x-ms-cpim-trans=tr4ns')]",
            "[(b'Cookie', b'x-ms-cpim-csrf=REDACTED; x-ms-cpim-trans=REDACTED')]",
        ),
        ("('cookie', 'opaquevalue')", "('cookie', ' REDACTED')"),
        (
            "{'Set-Cookie': 'hdntl=exp~hmac; Max-Age=60; Secure'}",
            "{'Set-Cookie': 'hdntl=REDACTED; Max-Age=60; Secure'}",
        ),
        (
            "[(b'Authorization', b'Bearer opaque-t0ken')]",
            "[(b'Authorization', b'Bearer REDACTED')]",
        ),
        ("Cookie: a=1; b=2", "Cookie: a=REDACTED; b=REDACTED"),
        (
            "Set-Cookie: s=9; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/",
            "Set-Cookie: s=REDACTED; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/",
        ),
        ("authorization: Basic Zm9vOmJhcg==", "authorization: Basic REDACTED"),
        ("Authorization: s3cr3t", "Authorization: REDACTED"),
    ],
)
def test_redact_text_header_values(text, expected):
    assert redact_text(text) == expected


def test_redact_text_url_query_and_fragment():
    text = (
        "HTTP Request: GET http://h.test/authorize?client_id=app&nonce=n0nce"
        '&state=st4te&code=c0de&client_secret=s3cret&idMedia=5 "HTTP/1.1 200 OK"'
    )
    assert redact_text(text) == (
        "HTTP Request: GET http://h.test/authorize?client_id=REDACTED"
        "&nonce=REDACTED&state=REDACTED&code=REDACTED&client_secret=REDACTED"
        '&idMedia=5 "HTTP/1.1 200 OK"'
    )


def test_redact_text_location_fragment():
    text = "(b'Location', b'http://h.test/auth-changed#access_token=t&state=s')"
    assert redact_text(text) == "(b'Location', b'http://h.test/auth-changed#REDACTED')"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nonce=n0nce&state=st4te", "nonce=REDACTED&state=REDACTED"),
        ("code=c0de&client_secret=s3cret", "code=REDACTED&client_secret=REDACTED"),
        (
            '{"password": "hunter2", "client_secret":"s3cret"}',
            '{"password": "REDACTED", "client_secret":"REDACTED"}',
        ),
    ],
)
def test_redact_text_secret_fields(text, expected):
    assert redact_text(text) == expected


def test_filter_redacts_args_and_traceback():
    record = logging.LogRecord(
        "httpcore.http11", logging.DEBUG, __file__, 1, "headers %s", None, None
    )
    record.args = ([(b"Set-Cookie", b"x-ms-cpim-trans=tr4ns; Path=/")],)
    try:
        raise ValueError("failed: http://h.test/token?password=hunter2")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert record.getMessage() == (
        "headers [(b'Set-Cookie', b'x-ms-cpim-trans=REDACTED; Path=/')]"
    )
    assert record.exc_text is not None
    assert "hunter2" not in record.exc_text
    assert "password=REDACTED" in record.exc_text
