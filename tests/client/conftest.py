"""Client tests: shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from toutvfs.client import Session
from toutvfs.client.retry import RetryPolicy
from toutvfs.config import Config
from toutvfs.emulator import Emulator

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


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """An emulator of the demo catalogue on 127.0.0.1, shared by a module."""
    with Emulator() as running:
        yield running


@pytest.fixture
def config(emulator: Emulator) -> Config:
    emulator.faults.clear()
    return Config.for_emulator(emulator.base_url)


def endpoint_count(emulator: Emulator, endpoint: str, since: int = 0) -> int:
    return sum(1 for r in emulator.request_log[since:] if r.endpoint == endpoint)


def clear_segments(emulator: Emulator, id_media: int, variant: int) -> list[bytes]:
    """Return the clear segments of a variant of *id_media*, in playlist order.

    Every HLS mode of the emulator encrypts or slices these same files, so
    they are what a download of any TS mode must write.
    """
    episode = emulator.catalogue.episodes[id_media]
    media = emulator.media_set(episode.profile).variants[variant]
    return [
        (media.directory / "clear" / segment.name).read_bytes()
        for segment in media.segments["clear"]
    ]
