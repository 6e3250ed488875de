"""Client layer: what a validation answer means, a master URL or a refusal.

The service answers refusals with HTTP 200, ``url`` null and an
``errorCode``. Known codes: 1 is geo-blocking (the TOU.TV code since at least
2016), 35 is "login required" (the code CBC Gem uses on the same platform),
and no source records the premium code, so the French premium message is
matched as well. A DASH manifest or licence parameters mean DRM.
"""

from __future__ import annotations

from urllib.parse import urlsplit

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
    """Return the exception for a validation answer that has no URL."""
    code = validation.error_code
    message = validation.message or f"validation refused with errorCode {code}"
    error_class = refusal_class(code, message)
    return error_class(message, error_code=code, id_media=id_media)


def master_url(validation: Validation, id_media: str) -> str:
    """Return the HLS master playlist URL of a validation answer.

    Raises:
        MediaUnavailable: a subclass for each refusal, with the service's
            message.
        UnsupportedMedia: licence parameters or a DASH manifest came back.
    """
    if validation.error_code != 0 or not validation.url:
        raise refusal(validation, id_media)
    licences = licence_params(validation)
    if licences:
        raise UnsupportedMedia(
            f"media {id_media} is DRM-protected: the validation answer carries "
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
