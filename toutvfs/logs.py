"""Command line layer: where a mount's log records go, redacted and rate-limited.

Every handler gets the client's redacting filter, so a token that reaches a
message from any logger is replaced before it is written. Repeats of the
same message (same logger, level and format string) are rate-limited: at
most `REPEAT_BURST` in each `REPEAT_WINDOW` seconds, then one summary line
when the window ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from toutvfs.client.redact import RedactingFilter, quiet_http_loggers

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s.%(funcName)s: %(message)s"

# Records with the same logger, level and format string allowed per window.
REPEAT_BURST = 5
REPEAT_WINDOW = 60.0

# Loggers that httpx and httpcore use; --debug-http sets them to DEBUG.
HTTP_LOGGERS = ("httpx", "httpcore")


class RepeatLimiter(logging.Filter):
    """Drop repeats of one message beyond `REPEAT_BURST` per `REPEAT_WINDOW`.

    The first record after a window in which records were dropped carries a
    note with the number dropped.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        # (logger, level, format) -> (window start, records seen, records dropped)
        self._windows: dict[tuple[str, int, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        start, seen, dropped = self._windows.get(key, (now, 0, 0))
        if now - start >= REPEAT_WINDOW:
            if dropped:
                record.msg = f"{record.msg} (%d similar messages dropped)"
                record.args = (*_args_tuple(record.args), dropped)
            self._windows[key] = (now, 1, 0)
            return True
        if seen < REPEAT_BURST:
            self._windows[key] = (start, seen + 1, dropped)
            return True
        self._windows[key] = (start, seen + 1, dropped + 1)
        return False


def _args_tuple(args: object) -> tuple[object, ...]:
    if args is None:
        return ()
    if isinstance(args, tuple):
        return args
    return (args,)


def configure_logging(
    level: str, log_file: Path | None, *, debug_http: bool = False
) -> logging.Handler:
    """Send the records of toutvfs (and, with *debug_http*, of httpx) to one place.

    Records go to *log_file* (appended, created with mode 0600) or to
    standard error when it is None. Returns the handler, so tests and the
    daemon can remove or flush it.
    """
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler()
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.touch(mode=0o600, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    handler.addFilter(RepeatLimiter())

    package = logging.getLogger("toutvfs")
    package.addHandler(handler)
    package.setLevel(level)
    quiet_http_loggers()
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.DEBUG if debug_http else logging.WARNING)
    return handler
