"""Client tests: shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from toutvfs.client import Session
from toutvfs.client.retry import RetryPolicy

from .fakeservice import FakeService

# Retries without real waiting; tests that check the delays use MockClock.
FAST_RETRIES = RetryPolicy(
    max_attempts=4, base_delay=0.001, max_delay=0.002, total_time=5.0
)


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
async def session(service: FakeService) -> AsyncIterator[Session]:
    async with service.client() as http:
        yield Session(service.config, http, policy=FAST_RETRIES)
