"""Client layer: what a validation response means, a master URL or a refusal.

The service returns refusals as HTTP 200, ``url`` null and an
``errorCode``. Known codes: 1 is geo-blocking (the TOU.TV code since at least
2016), 35 is "login required" (the code CBC Gem uses on the same platform),
and no source records the premium code, so the French premium message is
matched as well. A DASH manifest or licence parameters mean DRM.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from toutvfs.client.records import Validation
from toutvfs.errors import (
    GeoBlocked,
    LoginRequired,
    MediaUnavailable,
    NotFound,
    PremiumOnly,
    UnsupportedMedia,
)

GEO_BLOCKED_CODE = 1
PREMIUM_CODE = 2
LOGIN_REQUIRED_CODE = 35
NOT_FOUND_CODES = frozenset({404})

# Substrings of the service's French messages, lower case.
PREMIUM_WORDS = ("premium", "extra")
GEO_WORDS = ("pays", "country")
LOGIN_WORDS = ("connecter", "compte", "log in", "sign in")

# The Akamai token of a signed URL: "st=<start>~exp=<expiry>~acl=...~hmac=...".
_TOKEN_EXPIRY = re.compile(r"(?:^|~)exp=(\d+)")

# Seconds before a signed URL's expiry at which it is no longer handed out,
# so that a player has time to fetch the playlists it names.
SIGNED_URL_MARGIN = 15.0

# Validation parameter names that belong to a DRM licence exchange.
_LICENCE_SUFFIXES = ("licenseurl", "authtoken", "certificatepath")


def licence_params(validation: Validation) -> list[str]:
    """Return the names of the DRM licence parameters of *validation*."""
    return sorted(
        name
        for name in validation.params
        if name.lower().endswith(_LICENCE_SUFFIXES)
        and name.lower().startswith(("widevine", "playready", "fairplay", "faiplay"))
    )


def refusal_class(code: int, message: str) -> type[MediaUnavailable]:
    """Return the exception class for a refusal with *code* and *message*."""
    lowered = message.lower()
    if code == GEO_BLOCKED_CODE or any(word in lowered for word in GEO_WORDS):
        return GeoBlocked
    if code == LOGIN_REQUIRED_CODE:
        return LoginRequired
    if code == PREMIUM_CODE or any(word in lowered for word in PREMIUM_WORDS):
        return PremiumOnly
    if code in NOT_FOUND_CODES:
        return NotFound
    if any(word in lowered for word in LOGIN_WORDS):
        return LoginRequired
    return MediaUnavailable


def refusal(validation: Validation, id_media: str) -> MediaUnavailable:
    """Return the exception for a validation response that has no URL."""
    code = validation.error_code
    message = validation.message or f"validation failed with errorCode {code}"
    error_class = refusal_class(code, message)
    return error_class(message, error_code=code, id_media=id_media)


def master_url(validation: Validation, id_media: str) -> str:
    """Return the HLS master playlist URL of a validation response.

    Raises:
        MediaUnavailable: a subclass for each refusal, with the service's
            message.
        UnsupportedMedia: the response has licence parameters or a DASH manifest.
    """
    if validation.error_code != 0 or not validation.url:
        raise refusal(validation, id_media)
    licences = licence_params(validation)
    if licences:
        raise UnsupportedMedia(
            f"media {id_media} is DRM-protected: the validation response has "
            f"licence parameters ({', '.join(licences)})",
            signal="licence parameters",
        )
    path = urlsplit(validation.url).path.lower()
    if path.endswith(".mpd"):
        raise UnsupportedMedia(
            f"media {id_media} is offered only as a DASH manifest, not HLS",
            signal="DASH URL",
        )
    return validation.url


def signed_url_lifetime(url: str, now: float, limit: float) -> float:
    """Return how many seconds the signed *url* may be handed out again.

    The URL is valid until the expiry in an ``hdnea``, ``hdnts`` or ``token``
    query value of the form ``exp=<epoch seconds>``, or for *limit* seconds
    when that is sooner or there is no such value. `SIGNED_URL_MARGIN` comes
    off either way.
    """
    lifetime = limit
    for name, value in parse_qsl(urlsplit(url).query):
        if name.lower() not in ("hdnea", "hdnts", "token"):
            continue
        match = _TOKEN_EXPIRY.search(value)
        if match is not None:
            lifetime = min(lifetime, float(match.group(1)) - now)
    return max(lifetime - SIGNED_URL_MARGIN, 0.0)
