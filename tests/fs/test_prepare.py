"""The login that a mount starts in the background as it starts."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from toutvfs.errors import InvalidCredentials
from toutvfs.fs.adapter import _prepare


class FailingSession:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def prepare(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "level", "text"),
    [
        (
            InvalidCredentials("ann@example.test", "wrong password"),
            logging.WARNING,
            "cannot log in yet: ",
        ),
        (KeyError("claims"), logging.ERROR, "failed unexpectedly"),
    ],
)
async def test_failed_login_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, error: Exception, level: int, text: str
) -> None:
    session: Any = FailingSession(error)
    with caplog.at_level(logging.WARNING, logger="toutvfs.fs.adapter"):
        await _prepare(session)
    records = [r for r in caplog.records if r.name == "toutvfs.fs.adapter"]
    assert [(r.levelno, text in r.getMessage()) for r in records] == [(level, True)]
