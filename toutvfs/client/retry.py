"""Client layer: the one retry policy of every request the client sends.

A request is retried after a timeout, a connection error, a 5xx status or a
429. The delay grows exponentially with full jitter, a ``Retry-After`` header
is honoured up to a cap, and no request retries past a total time budget.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

# Statuses worth another try: the server is overloaded or failed for a moment.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed request.

    Attributes:
        max_attempts: attempts in all, the first one included.
        base_delay: seconds before the first retry, before jitter.
        max_delay: upper bound of one backoff delay, in seconds.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds; a
            longer one makes the request fail at once.
        total_time: seconds after the first attempt past which no retry
            starts.
        attempt_timeout: seconds one attempt may take, whatever timeouts the
            httpx client has, so that a request ends after at most about
            ``max_attempts * attempt_timeout`` plus the delays.
    """

    max_attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 30.0
    total_time: float = 45.0
    attempt_timeout: float = 30.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the delay before retry number *attempt* (1 for the first).

        Full jitter: a uniform draw between 0 and the exponential bound, so
        that clients that failed together do not retry together.
        """
        bound = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0.0, bound)


def is_retryable_status(status: int) -> bool:
    """Tell whether an HTTP *status* is worth another attempt."""
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the wait in seconds that a ``Retry-After`` header requests, or None.

    The header is either a number of seconds or an HTTP date. A date in the
    past gives 0; an unreadable value gives None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)
