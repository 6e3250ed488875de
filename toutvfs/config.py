"""Service configuration: every base URL, API version, client id and parameter.

Nothing else in the package spells a TOU.TV host or version. The defaults
describe the real service; `Config.for_emulator` points the same settings at
the embedded emulator, which serves every host's paths under one origin.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# The Azure AD B2C tenant and policy of the current login flow.
B2C_TENANT = "bef1b538-1950-4283-9b27-b096cbc18070"
B2C_POLICY = "B2C_1A_SSO_Login"
B2C_SCOPE_PREFIX = (
    "https://rcmnb2cprod.onmicrosoft.com/84593b65-0ef6-4a72-891c-d351ddd50aab/"
)


@dataclass(frozen=True)
class Config:
    """Where the TOU.TV services live and how to call them.

    Attributes:
        api_base: origin of the catalogue, meta, validation and profile APIs.
        login_base: URL of the B2C policy, ending in ``/``; the login flow
            appends ``oauth2/v2.0/authorize``, ``SelfAsserted`` and so on.
        app_code: the ``appCode`` parameter of the media APIs.
        device: the ``device`` parameter of the catalogue APIs.
        browse_version, category_version, search_version, show_version:
            catalogue API version per endpoint (``v1``, ``v2``, ``v3``).
        search_index_version: version of the legacy index search (``term=*``).
        meta_path, validation_path, profile_path: paths under *api_base* of
            the media metadata, media validation and subscriber profile APIs.
        meta_output: the ``output`` parameter of the metadata API.
        validation_params: query parameters sent to ``media/validation/v2/``
            besides ``appCode`` and ``idMedia``.
        client_id, redirect_uri, scopes: the B2C client registration.
        anonymous_client_key: sent as ``Authorization: client-key ...`` on
            media calls made without an account.
        user_agent: the ``User-Agent`` of every request.
        page_size: page size of paged catalogue calls.
        signed_url_ttl: seconds a signed manifest URL may be reused.
    """

    api_base: str = "https://services.radio-canada.ca"
    login_base: str = f"https://login.cbc.radio-canada.ca/{B2C_TENANT}/{B2C_POLICY}/"
    app_code: str = "toutv"
    device: str = "web"
    browse_version: str = "v2"
    category_version: str = "v2"
    search_version: str = "v2"
    search_index_version: str = "v1"
    show_version: str = "v2"
    meta_path: str = "media/meta/v1/index.ashx"
    meta_output: str = "jsonObject"
    validation_path: str = "media/validation/v2/"
    profile_path: str = "ott/subscription/v2/toutv/subscriber/profile"
    validation_params: dict[str, str] = field(
        default_factory=lambda: {
            "connectionType": "hd",
            "deviceType": "ipad",
            "multibitrate": "true",
            "output": "json",
            "tech": "hls",
            "manifestVersion": "2",
        }
    )
    client_id: str = "ebe6e7b0-3cc3-463d-9389-083c7b24399c"
    redirect_uri: str = "https://ici.tou.tv/auth-changed"
    scopes: tuple[str, ...] = (
        "openid",
        "offline_access",
        B2C_SCOPE_PREFIX + "media-validation",
        B2C_SCOPE_PREFIX + "media-meta",
        B2C_SCOPE_PREFIX + "ott-subscription",
        B2C_SCOPE_PREFIX + "ott-profiling",
        B2C_SCOPE_PREFIX + "toutv",
    )
    anonymous_client_key: str = "90505c8d-9c34-4f34-8da1-3a85bdc6d4f4"
    user_agent: str = "toutvfs/0.1"
    page_size: int = 100
    signed_url_ttl: float = 120.0

    def catalogue_url(self, version: str, path: str) -> str:
        """Return the URL of catalogue endpoint *path* at API *version*."""
        return f"{self.api_base}/ott/catalog/{version}/{self.app_code}/{path}"

    def with_overrides(self, **changes: object) -> Config:
        """Return a copy with the given attributes replaced."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def for_emulator(cls, base_url: str) -> Config:
        """Return the configuration that talks to an emulator at *base_url*.

        The emulator serves the API paths at its root and the B2C policy
        under ``/b2c/<tenant>/<policy>/``.
        """
        base = base_url.rstrip("/")
        return cls(
            api_base=base,
            login_base=f"{base}/b2c/{B2C_TENANT}/{B2C_POLICY}/",
            redirect_uri=f"{base}/auth-changed",
        )
