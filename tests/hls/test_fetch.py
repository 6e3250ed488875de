"""The HTTP layer with httpx.MockTransport: statuses, retries, redaction."""

from __future__ import annotations

import email.utils
import logging
import time

import httpx
import pytest
import trio

from toutvfs.errors import ConnectionError, NetworkTimeout, UnexpectedHttpStatusCode
from toutvfs.hls.fetch import Fetcher, RetryPolicy

URL = "https://cdn.test/seg/s1.ts?hdnea=exp=1~hmac=SECRET"
POLICY = RetryPolicy(
    backoff_initial=0.001, backoff_max=0.002, retry_after_max=0.5, deadline=3.0
)


def fetcher_for(handler) -> Fetcher:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Fetcher(client, POLICY, connections_per_host=2)


async def test_partial_content_parsed():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["range"] == "bytes=-4"
        return httpx.Response(
            206, content=b"tail", headers={"Content-Range": "bytes 96-99/100"}
        )

    body = await fetcher_for(handler).get(URL, byte_range="bytes=-4")
    assert body.data == b"tail"
    assert body.start == 96
    assert body.total == 100
    assert body.partial


async def test_full_body_when_range_ignored():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"whole body")

    body = await fetcher_for(handler).get(URL, byte_range="bytes=-4")
    assert (body.data, body.start, body.total, body.partial) == (
        b"whole body",
        0,
        10,
        False,
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Range": "bytes 0-9/20"}, {"Content-Range": "items 1-2"}],
    ids=["missing", "wrong-length", "invalid"],
)
async def test_bad_content_range_rejected(headers):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, content=b"abc", headers=headers)

    with pytest.raises(ConnectionError):
        await fetcher_for(handler).get(URL, byte_range="bytes=0-2")


async def test_retries_then_succeeds():
    statuses = iter([503, 502, 429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses), content=b"ok")

    fetcher = fetcher_for(handler)
    assert (await fetcher.get(URL)).data == b"ok"
    assert fetcher.request_count == 4


async def test_client_error_not_retried():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    fetcher = fetcher_for(handler)
    with pytest.raises(UnexpectedHttpStatusCode) as caught:
        await fetcher.get(URL)
    assert caught.value.status_code == 404
    assert fetcher.request_count == 1


async def test_attempts_bounded():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    fetcher = fetcher_for(handler)
    with pytest.raises(UnexpectedHttpStatusCode):
        await fetcher.get(URL)
    assert fetcher.request_count == POLICY.attempts


async def test_retry_after_date_honoured():
    later = email.utils.formatdate(time.time() + 0.4, usegmt=True)
    statuses = iter([(503, {"Retry-After": later}), (200, {})])

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers = next(statuses)
        return httpx.Response(status, headers=headers, content=b"ok")

    start = trio.current_time()
    assert (await fetcher_for(handler).get(URL)).data == b"ok"
    # An HTTP date has one-second resolution, so the wait is up to the cap.
    assert trio.current_time() - start <= POLICY.retry_after_max + 0.5


async def test_transport_errors_mapped():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ConnectionError):
        await fetcher_for(handler).get(URL)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(NetworkTimeout):
        await fetcher_for(slow).get(URL)


async def test_query_never_in_messages_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="toutvfs")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with pytest.raises(UnexpectedHttpStatusCode) as caught:
        await fetcher_for(handler).get(URL)
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in caught.value.url
    assert "retrying" in caplog.text
    assert "SECRET" not in caplog.text
    assert "https://cdn.test/seg/s1.ts" in str(caught.value)


async def test_deadline_bounds_all_attempts():
    policy = RetryPolicy(
        deadline=0.5, attempts=100, backoff_initial=0.2, backoff_max=0.2
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    fetcher = Fetcher(client, policy, connections_per_host=2)
    start = trio.current_time()
    with pytest.raises(NetworkTimeout, match="did not succeed within 0.5 s"):
        await fetcher.get(URL)
    assert trio.current_time() - start < 1.5
