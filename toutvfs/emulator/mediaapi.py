"""Emulator layer: payloads of the media APIs: ``media/meta/v1/index.ashx``
and ``media/validation/v2/``.

Validation answers every refusal with HTTP 200 and an ``errorCode``, as the
real service does: 1 for geo-blocking, 35 when an account is needed, 2 for
premium-only media (the service's code for that case is not on record), and
a DASH URL with licence parameters for DRM media.
"""

from __future__ import annotations

from typing import Any

from toutvfs.emulator.media import MediaSet
from toutvfs.emulator.model import Episode

JsonObject = dict[str, Any]

GEO_BLOCKED_CODE = 1
PREMIUM_ONLY_CODE = 2
NOT_FOUND_CODE = 3
LOGIN_REQUIRED_CODE = 35

GEO_BLOCKED_MESSAGE = "Le contenu sélectionné n'est pas disponible dans votre pays"
PREMIUM_ONLY_MESSAGE = "Le contenu sélectionné est disponible seulement en premium"
LOGIN_REQUIRED_MESSAGE = "Vous devez vous connecter pour regarder ce contenu"
NOT_FOUND_MESSAGE = "Le média demandé n'est pas disponible"
TOKEN_REJECTED_MESSAGE = "Jeton d'accès expiré ou invalide"


def error_message(code: int, text: str) -> JsonObject:
    """Return the ``errorMessage`` body of a 401 or 404 on the media APIs."""
    return {"errorMessage": {"errorCode": code, "text": text}}


def available_techs(episode: Episode) -> list[JsonObject]:
    dash = {"name": "dash", "drm": ["widevine", "playready"], "manifestVersions": ["2"]}
    if episode.mode == "drm":
        return [dash]
    hls = {"name": "hls", "drm": [], "manifestVersions": ["2"]}
    return [hls, {**dash, "drm": ["widevine"]}]


def metas(
    episode: Episode, show_title: str, caption_url: str, image_url: str
) -> dict[str, str]:
    """Return the ``Metas`` of *episode*; every value is a string."""
    drm = episode.mode == "drm"
    return {
        "appCode": "toutv",
        "idMedia": str(episode.id_media),
        "Title": episode.title,
        "Description": episode.description or "",
        "ShortDescription": episode.title,
        "Emission": show_title,
        "SrcSaison": str(episode.season_number),
        "SrcEpisode": str(episode.number),
        "length": str(episode.length),
        "Date": episode.air_date,
        "Rating": "13+",
        "Language": "fr",
        "Genre": "",
        "IsFree": "true" if episode.tier == "Standard" else "false",
        "IsReleased": "true",
        "isAvailable": "true",
        "geoPassed": "false" if episode.restriction == "geo-blocked" else "true",
        "closedCaption": caption_url,
        "closedCaptionHTML5": caption_url,
        "closedCaptionRaw": "",
        "EIA608ClosedCaptions": "false",
        "describedVideo": "false",
        "protectionType": "Widevine" if drm else "",
        "isDrmActive": "true" if drm else "false",
        "protectionSchemes": "cenc" if drm else "",
        "bitrates": ",".join(
            str(v.bitrate // 1000)
            for v in sorted(episode.profile.variants, key=lambda v: v.bitrate)
        ),
        "imagePlayerLargeA": image_url,
        "imageThumbMoyenL": image_url,
        "FileID": f"f{episode.id_media}",
        "providerId": "toutv",
        "lastModifiedDate": f"{episode.air_date}T10:00:00Z",
    }


def meta(episode: Episode, show_title: str, origin: str, output: str) -> JsonObject:
    """Return the meta payload in the ``jsonObject`` or the ``json`` form.

    *origin* is the emulator's ``host:port``; the caption URL is
    protocol-relative, as the service writes it.
    """
    caption = f"//{origin}/cc/{episode.id_media}.vtt"
    image = f"http://{origin}/images/q_auto,w_640/v1/toutv/ep/{episode.id_media}.png"
    values = metas(episode, show_title, caption, image)
    if output == "json":
        return {
            "errorMessage": None,
            "Metas": [{"name": k, "text": v} for k, v in values.items()],
        }
    return {
        "errorMessage": None,
        "availableTechs": available_techs(episode),
        "Metas": values,
    }


def refusal(code: int, message: str) -> JsonObject:
    return {
        "url": None,
        "message": message,
        "errorCode": code,
        "params": None,
        "bitrates": None,
    }


def validation_ok(url: str, media: MediaSet | None) -> JsonObject:
    """Return a successful validation with the master URL and the bitrates."""
    bitrates: list[JsonObject] = []
    if media is not None:
        for index, entry in enumerate(media.variants):
            variant = entry.variant
            bitrates.append(
                {
                    "bitrate": variant.bitrate,
                    "width": variant.width,
                    "height": variant.height,
                    "lines": str(variant.height),
                    "param": None,
                    "max": 1 if index == len(media.variants) - 1 else 0,
                }
            )
    return {
        "url": url,
        "message": None,
        "errorCode": 0,
        "params": [],
        "bitrates": bitrates,
    }


def validation_drm(url: str, base: str) -> JsonObject:
    """Return the DRM answer: a DASH manifest URL and Widevine licence params."""
    return {
        "url": url,
        "message": None,
        "errorCode": 0,
        "params": [
            {
                "name": "widevineLicenseUrl",
                "value": f"{base}/drm/license-proxy-widevine/cenc/",
            },
            {"name": "widevineAuthToken", "value": "eyJhbGciOiJIUzI1NiJ9.e30.drm"},
        ],
        "bitrates": None,
    }


def decide(
    episode: Episode, account_tier: str | None, tech: str
) -> tuple[int, str] | None:
    """Return the refusal (errorCode, message) of a validation, or None.

    *account_tier* is None for an anonymous request. Geo-blocking comes
    first, then the account checks; DRM is not a refusal.
    """
    if episode.restriction == "geo-blocked":
        return GEO_BLOCKED_CODE, GEO_BLOCKED_MESSAGE
    if account_tier is None and (
        episode.restriction == "login-required" or episode.tier == "Member"
    ):
        return LOGIN_REQUIRED_CODE, LOGIN_REQUIRED_MESSAGE
    premium = episode.restriction == "premium-only" or episode.tier == "Premium"
    if premium and account_tier != "Premium":
        return PREMIUM_ONLY_CODE, PREMIUM_ONLY_MESSAGE
    return None
