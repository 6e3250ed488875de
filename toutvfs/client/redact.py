"""Client layer: removal of tokens and signed query strings from logged text.

Every URL the client logs goes through `redact_url`, and `RedactingFilter`
scrubs each record of the client's loggers and of httpx's, so that a token
that slips into a message is still replaced.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

# Query parameters that carry no secret and help to read a log.
SAFE_QUERY_KEYS = frozenset(
    {
        "appCode",
        "connectionType",
        "device",
        "deviceType",
        "filter",
        "idMedia",
        "manifestVersion",
        "multibitrate",
        "output",
        "p",
        "pageNumber",
        "pageSize",
        "sort",
        "tech",
        "term",
        "tier",
    }
)

_PATTERNS = (
    # JSON Web Tokens: three base64url parts, the first one a JSON header.
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    # Authorization header values and form fields.
    re.compile(r"(?i)(\b(?:bearer|client-key)\s+)[^\s'\",;]+"),
    re.compile(
        r"(?i)(\b(?:password|access_token|id_token|refresh_token|claims|"
        r"csrf_token|hdnea|hdntl|hdnts|tx|token|hmac|code|state|nonce)"
        r"[=:]\s*)[^\s&'\",;#]+"
    ),
)


def redact_url(url: str) -> str:
    """Return *url* with every query value outside a safe list replaced.

    The fragment goes too, because the login redirect carries the access
    token there.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    query = [
        (key, value if key in SAFE_QUERY_KEYS else REDACTED)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urlencode(query, safe="*"), fragment)
    )


def strip_query(url: str) -> str:
    """Return *url* without its query string and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def redact_text(text: str) -> str:
    """Return *text* with tokens, secrets and signed parameters replaced."""
    text = _PATTERNS[0].sub(REDACTED, text)
    for pattern in _PATTERNS[1:]:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """A filter that rewrites each record's message with `redact_text`.

    It formats the message once, then drops the arguments, so that no
    handler sees the raw values.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        cleaned = redact_text(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


REDACTING_FILTER = RedactingFilter()

HTTPCORE_CHILD_LOGGERS = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def redacted_logger(name: str) -> logging.Logger:
    """Return the logger *name* with the redacting filter attached once."""
    logger = logging.getLogger(name)
    if REDACTING_FILTER not in logger.filters:
        logger.addFilter(REDACTING_FILTER)
    return logger


def quiet_http_loggers() -> None:
    """Set httpx's and httpcore's loggers to WARNING unless the user set them.

    httpx logs every request URL at INFO, query string and all. Both loggers
    also get the redacting filter, for when a user turns them back on.
    """
    for name in ("httpx", "httpcore"):
        logger = redacted_logger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    # A logger's filter does not see its children's records, and httpcore
    # logs request headers, Authorization included, from these at DEBUG.
    for name in HTTPCORE_CHILD_LOGGERS:
        redacted_logger(name)
