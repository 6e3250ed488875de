"""Client layer: every HTTP request of the client goes through `Requester`.

It applies the one retry policy, a per-host limit on concurrent requests and
request sharing, where concurrent callers of the same GET wait for one
response. It maps httpx errors to the `toutvfs.errors` tree and logs each
request with its query string redacted.

Concurrency: `Requester` is used from one trio event loop. Its shared state
(the limiters, the in-flight table and the counter) changes only between
awaits, so it needs no lock.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from toutvfs.client.redact import REDACTED, redact_url, redacted_logger, strip_query
from toutvfs.client.retry import RetryPolicy, is_retryable_status, parse_retry_after
from toutvfs.client.sharing import RequestSharing
from toutvfs.errors import (
    ApiChanged,
    ConnectionError,
    HttpError,
    NetworkTimeout,
    UnexpectedHttpStatusCode,
)

log = redacted_logger(__name__)

# Concurrent requests per host; browsers open about six connections per host.
DEFAULT_PER_HOST_LIMIT = 6

# Headers whose values never appear in an exception or a log.
SECRET_HEADERS = frozenset(
    {"authorization", "x-claims-token", "cookie", "x-csrf-token"}
)

# Retries logged at DEBUG before the log level rises to WARNING.
QUIET_RETRIES = 1


@dataclass(frozen=True)
class JsonResponse:
    """A response whose body was decoded as JSON (None when it is not JSON)."""

    status: int
    data: Any
    headers: httpx.Headers


def _safe_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in (headers or {}).items()
    }


def _safe_params(params: Mapping[str, str] | None) -> dict[str, str]:
    if not params:
        return {}
    query = httpx.QueryParams(params)
    redacted = urlsplit(redact_url("http://x/?" + str(query))).query
    return dict(httpx.QueryParams(redacted))


class Requester:
    """Sends the client's requests with retries, limits and sharing.

    Attributes:
        http: the httpx client; the caller owns it and closes it.
        policy: the retry policy.
        requests_sent: requests put on the wire so far, retries included.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy | None = None,
        *,
        per_host_limit: int = DEFAULT_PER_HOST_LIMIT,
        rng: random.Random | None = None,
    ) -> None:
        if per_host_limit < 1:
            raise ValueError(f"per_host_limit must be at least 1, not {per_host_limit}")
        self.http = http
        self.policy = policy or RetryPolicy()
        self.requests_sent = 0
        self._per_host_limit = per_host_limit
        self._limiters: dict[str, trio.CapacityLimiter] = {}
        self._sharing: RequestSharing[JsonResponse] = RequestSharing()
        self._rng = rng or random.Random()

    def _limiter(self, url: str) -> trio.CapacityLimiter:
        host = urlsplit(url).netloc.lower()
        limiter = self._limiters.get(host)
        if limiter is None:
            limiter = trio.CapacityLimiter(self._per_host_limit)
            self._limiters[host] = limiter
        return limiter

    async def get_json(
        self,
        endpoint: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: frozenset[int] = frozenset({200}),
    ) -> JsonResponse:
        """Send a GET and decode its JSON body.

        Concurrent calls with the same URL, parameters and headers share one
        request. A status in *accept* is returned; any other raises.

        Raises:
            NetworkTimeout, ConnectionError: after the last retry.
            UnexpectedHttpStatusCode: for a status outside *accept*.
            ApiChanged: when a 2xx body is not JSON.
        """
        key = (
            url,
            tuple(sorted((params or {}).items())),
            tuple(sorted((headers or {}).items())),
            tuple(sorted(accept)),
        )

        async def fetch() -> JsonResponse:
            response = await self.send(
                "GET", url, params=params, headers=headers, accept=accept
            )
            return self._decode(endpoint, response)

        return await self._sharing.run(key, fetch)

    def _decode(self, endpoint: str, response: httpx.Response) -> JsonResponse:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            if response.is_success:
                raise ApiChanged(endpoint, "<body>", "the body is not JSON") from None
            data = None
        return JsonResponse(response.status_code, data, response.headers)

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        accept: frozenset[int] = frozenset({200}),
    ) -> httpx.Response:
        """Send one request under the retry policy and return its response.

        Redirects are never followed, so that a caller sees a ``Location``.
        """
        policy = self.policy
        deadline = trio.current_time() + policy.total_time
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send_once(method, url, params, headers, data)
            except (NetworkTimeout, ConnectionError) as exc:
                delay = self._retry_delay(attempt, deadline, None)
                if delay is None:
                    raise
                self._log_retry(attempt, method, url, str(exc), delay)
            else:
                status = response.status_code
                if status in accept:
                    return response
                delay = None
                if is_retryable_status(status):
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    delay = self._retry_delay(attempt, deadline, retry_after)
                if delay is None:
                    raise self._status_error(
                        method, url, params, headers, data, response
                    )
                self._log_retry(attempt, method, url, f"HTTP {status}", delay)
            await trio.sleep(delay)

    def _retry_delay(
        self, attempt: int, deadline: float, retry_after: float | None
    ) -> float | None:
        """Return the delay before the next attempt, or None to stop."""
        policy = self.policy
        if attempt >= policy.max_attempts:
            return None
        if retry_after is not None:
            if retry_after > policy.max_retry_after:
                return None
            delay = retry_after
        else:
            delay = policy.backoff(attempt, self._rng)
        if trio.current_time() + delay > deadline:
            return None
        return delay

    def _log_retry(
        self, attempt: int, method: str, url: str, reason: str, delay: float
    ) -> None:
        level = logging.DEBUG if attempt <= QUIET_RETRIES else logging.WARNING
        log.log(
            level,
            "retrying %s %s in %.2f s after attempt %d: %s",
            method,
            redact_url(url),
            delay,
            attempt,
            reason,
        )

    async def _send_once(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
    ) -> httpx.Response:
        common: dict[str, Any] = {
            "method": method,
            "url": strip_query(url),
            "params": _safe_params(params),
            "headers": _safe_headers(headers),
            "data": None if data is None else {name: REDACTED for name in data},
        }
        async with self._limiter(url):
            self.requests_sent += 1
            try:
                with trio.fail_after(self.policy.attempt_timeout):
                    response = await self.http.request(
                        method,
                        url,
                        params=params,
                        headers=headers,
                        data=data,
                        follow_redirects=False,
                    )
            except trio.TooSlowError as exc:
                raise NetworkTimeout(
                    f"{method} {redact_url(url)} timed out after "
                    f"{self.policy.attempt_timeout:g} s",
                    **common,
                ) from exc
            except httpx.TimeoutException as exc:
                raise NetworkTimeout(
                    f"{method} {redact_url(url)} timed out: {type(exc).__name__}",
                    **common,
                ) from exc
            except httpx.TransportError as exc:
                raise ConnectionError(
                    f"{method} {redact_url(url)} failed: {type(exc).__name__}: {exc}",
                    **common,
                ) from exc
        log.debug(
            "%s %s -> %d (%d bytes)",
            method,
            redact_url(str(response.request.url)),
            response.status_code,
            len(response.content),
        )
        return response

    def _status_error(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        response: httpx.Response,
    ) -> HttpError:
        return UnexpectedHttpStatusCode(
            f"{method} {redact_url(str(response.request.url))} answered HTTP "
            f"{response.status_code}",
            status_code=response.status_code,
            method=method,
            url=strip_query(url),
            params=_safe_params(params),
            headers=_safe_headers(headers),
            data=None if data is None else {name: REDACTED for name in data},
        )
