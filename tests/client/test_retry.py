"""Client tests: the retry policy, Retry-After, budgets and the host limit."""

from __future__ import annotations

import random

import httpx
import pytest
import trio
import trio.testing

from toutvfs.client.facade import engine_policy
from toutvfs.client.http import Requester
from toutvfs.client.retry import RetryPolicy, parse_retry_after
from toutvfs.errors import ConnectionError, NetworkTimeout, UnexpectedHttpStatusCode
from toutvfs.hls import RetryPolicy as EnginePolicy

URL = "http://service.test/thing"


class Script:
    """A transport that returns a list of outcomes, then 200."""

    def __init__(self, *outcomes: int | Exception, headers=None) -> None:
        self.outcomes = list(outcomes)
        self.headers = headers or {}
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(trio.current_time())
        if self.outcomes:
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return httpx.Response(outcome, json={}, headers=self.headers)
        return httpx.Response(200, json={"ok": True})


@pytest.fixture
def autojump_clock():
    return trio.testing.MockClock(autojump_threshold=0)


def requester(script: Script, policy: RetryPolicy | None = None) -> Requester:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return Requester(http, policy, rng=random.Random(7))


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    rng = random.Random(1)
    for attempt, bound in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        for _ in range(50):
            delay = policy.backoff(attempt, rng)
            assert 0.0 <= delay <= bound


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("", None), ("soon", None), (None, None)],
)
def test_parse_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_date():
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=10.0) == 20.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=99.0) == 0.0


async def test_429_honours_retry_after(autojump_clock):
    script = Script(429, headers={"Retry-After": "3"})
    response = await requester(script).get_json("thing", URL)
    assert response.data == {"ok": True}
    assert len(script.times) == 2
    assert script.times[1] - script.times[0] == pytest.approx(3.0)


async def test_retry_after_over_cap_fails_at_once(autojump_clock):
    script = Script(429, headers={"Retry-After": "3600"})
    with pytest.raises(UnexpectedHttpStatusCode) as info:
        await requester(script).get_json("thing", URL)
    assert info.value.status_code == 429
    assert len(script.times) == 1


async def test_5xx_retried_until_attempts_run_out(autojump_clock):
    script = Script(500, 502, 503, 504, 500)
    with pytest.raises(UnexpectedHttpStatusCode) as info:
        await requester(script, RetryPolicy(max_attempts=4)).get_json("thing", URL)
    assert info.value.status_code == 504
    assert len(script.times) == 4


async def test_timeouts_then_success(autojump_clock):
    script = Script(httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"))
    response = await requester(script).get_json("thing", URL)
    assert response.status == 200
    assert len(script.times) == 3


async def test_timeout_error_after_last_attempt(autojump_clock):
    script = Script(*[httpx.ReadTimeout("slow")] * 5)
    with pytest.raises(NetworkTimeout) as info:
        await requester(script, RetryPolicy(max_attempts=2)).get_json("thing", URL)
    assert info.value.url == URL
    assert len(script.times) == 2


async def test_total_time_bounds_retries(autojump_clock):
    policy = RetryPolicy(
        max_attempts=100, base_delay=10.0, max_delay=10.0, total_time=25.0
    )
    script = Script(*[httpx.ConnectError("down")] * 100)
    start = trio.current_time()
    with pytest.raises(ConnectionError):
        await requester(script, policy).get_json("thing", URL)
    assert trio.current_time() - start <= 25.0
    assert 2 <= len(script.times) < 100


async def test_404_is_not_retried(autojump_clock):
    script = Script(404)
    with pytest.raises(UnexpectedHttpStatusCode) as info:
        await requester(script).get_json("thing", URL)
    assert info.value.status_code == 404
    assert len(script.times) == 1


async def test_error_url_has_no_query(autojump_clock):
    script = Script(403)
    with pytest.raises(UnexpectedHttpStatusCode) as info:
        await requester(script).get_json(
            "thing", URL + "?hdnea=secret-token", headers={"Authorization": "Bearer t"}
        )
    assert info.value.url == URL
    assert "secret-token" not in str(info.value)
    assert info.value.headers["Authorization"] == "REDACTED"


async def test_per_host_limit_bounds_concurrency():
    active = 0
    peak = 0
    release = trio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await release.wait()
        active -= 1
        return httpx.Response(200, json={})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    req = Requester(http, per_host_limit=2)
    async with trio.open_nursery() as nursery:
        for index in range(6):
            nursery.start_soon(req.get_json, "thing", f"{URL}/{index}")
        await trio.testing.wait_all_tasks_blocked()
        assert active == 2
        release.set()
    assert peak == 2
    assert req.requests_sent == 6


async def test_attempt_timeout_bounds_hung_request(autojump_clock):
    attempts = 0

    async def hang(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    http = httpx.AsyncClient(transport=httpx.MockTransport(hang), timeout=None)
    policy = RetryPolicy(max_attempts=2, attempt_timeout=5.0, base_delay=0.1)
    start = trio.current_time()
    with pytest.raises(NetworkTimeout, match="timed out after 5 s"):
        await Requester(http, policy).get_json("thing", URL)
    assert attempts == 2
    assert trio.current_time() - start < 11.0


def test_engine_policy_maps_shared_fields():
    policy = RetryPolicy(
        max_attempts=2,
        base_delay=0.5,
        max_delay=3.0,
        max_retry_after=7.0,
        total_time=1.0,
        attempt_timeout=1.0,
    )
    mapped = engine_policy(policy)
    assert mapped.attempts == 2
    assert mapped.backoff_initial == 0.5
    assert mapped.backoff_max == 3.0
    assert mapped.retry_after_max == 7.0
    # Timeouts and deadlines stay the engine's defaults.
    default = EnginePolicy()
    assert mapped.request_timeout == default.request_timeout
    assert mapped.deadline == default.deadline
    assert mapped.part_deadline == default.part_deadline
    # A download's own attempts at a part must each send a request.
    assert mapped.failure_hold == 0.0
