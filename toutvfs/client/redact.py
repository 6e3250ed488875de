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

# Header names whose values are credentials, in any case.
_CREDENTIAL_HEADERS = r"(?:set-cookie|cookie|proxy-authorization|authorization)"

# A header as the repr of a (name, value) pair of bytes or strings, the form
# httpcore logs: ``(b'Set-Cookie', b'a=1; Path=/')``. Groups: name, prefix
# up to the value's opening quote, quote, value.
_HEADER_PAIR = re.compile(
    r"(?i)b?['\"](" + _CREDENTIAL_HEADERS + r")['\"](\s*[,:]\s*b?)(['\"])(.*?)\3"
)
# A header as a line of text: ``Cookie: a=1; b=2``. Groups: name, separator,
# value up to the end of the line or a quote.
_HEADER_LINE = re.compile(
    r"(?im)\b(" + _CREDENTIAL_HEADERS + r")(:[ \t]*)([^\r\n'\"]+)"
)

# Set-Cookie attributes, whose values are no secret.
_COOKIE_ATTRIBUTES = frozenset(
    {"domain", "expires", "httponly", "max-age", "partitioned", "path"}
    | {"samesite", "secure"}
)

_URL = re.compile(r"https?://[^\s'\"<>\\]+")

_PATTERNS = (
    # JSON Web Tokens: three base64url parts, the first one a JSON header.
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    # Authorization header values and form fields.
    re.compile(r"(?i)(\b(?:bearer|basic|client-key)\s+)[^\s'\",;]+"),
    # Query and form fields, also as JSON members (``"password": "x"``).
    re.compile(
        r"(?i)(\b(?:password|access_token|id_token|refresh_token|claims|"
        r"csrf_token|hdnea|hdntl|hdnts|tx|token|hmac|code|state|nonce|"
        r"client_secret)['\"]?\s*[=:]\s*['\"]?)[^\s&'\",;#]+"
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
    """Return *text* with tokens, secrets and signed parameters replaced.

    It replaces the values of cookies and of ``Authorization`` headers, as
    header lines or as the (name, value) pairs that httpcore logs. In each
    URL it replaces the query values and fragment, as `redact_url` does. It
    also replaces JSON Web Tokens and the values of secret fields such as
    ``password``, ``nonce`` and ``state``.
    """
    text = _HEADER_PAIR.sub(_redact_header_pair, text)
    text = _HEADER_LINE.sub(_redact_header_line, text)
    text = _URL.sub(lambda match: redact_url(match.group(0)), text)
    text = _PATTERNS[0].sub(REDACTED, text)
    for pattern in _PATTERNS[1:]:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def redact_header_value(name: str, value: str) -> str:
    """Return the value of header *name* with its credentials replaced.

    ``Cookie`` keeps each cookie's name, ``Set-Cookie`` its cookie's name
    and attributes, and ``Authorization`` its scheme.
    """
    lowered = name.lower()
    if lowered.endswith("authorization"):
        scheme, space, _credentials = value.strip().partition(" ")
        return f"{scheme} {REDACTED}" if space else REDACTED
    pairs = []
    for index, pair in enumerate(value.split(";")):
        key, equals, _ = pair.partition("=")
        is_attribute = index > 0 and key.strip().lower() in _COOKIE_ATTRIBUTES
        if lowered == "set-cookie" and is_attribute:
            pairs.append(pair)
        elif equals:
            pairs.append(f"{key}={REDACTED}")
        else:
            # A cookie without a name is all value.
            pairs.append(f" {REDACTED}" if pair.strip() else pair)
    return ";".join(pairs)


def _redact_header_pair(match: re.Match[str]) -> str:
    name, separator, quote, value = match.group(1, 2, 3, 4)
    prefix = match.group(0)[: match.start(2) - match.start(0)]
    cleaned = redact_header_value(name, value)
    return f"{prefix}{separator}{quote}{cleaned}{quote}"


def _redact_header_line(match: re.Match[str]) -> str:
    name, separator, value = match.group(1, 2, 3)
    return f"{name}{separator}{redact_header_value(name, value)}"


class RedactingFilter(logging.Filter):
    """A filter that rewrites each record's message with `redact_text`.

    It formats the message once, then drops the arguments, so that no
    handler receives the raw values. Tracebacks and stack information are
    redacted too.
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
        # Formatters print exc_text as it is when it is set, so a traceback
        # (an httpx error names its URL) is formatted and redacted here.
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


_TRACEBACK_FORMATTER = logging.Formatter()


REDACTING_FILTER = RedactingFilter()

HTTPCORE_CHILD_LOGGERS = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
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
