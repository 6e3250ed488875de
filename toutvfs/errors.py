"""The exception tree of toutvfs and of its client library.

The names above the media errors are pytoutv's, so that scripts written for
that library catch the same classes::

    Error
    ├── NetworkError
    │   └── HttpError                 method, url, params, headers, ...
    │       ├── NetworkTimeout
    │       ├── ConnectionError
    │       └── UnexpectedHttpStatusCode   status_code
    ├── InvalidCredentials            user (never the password)
    ├── TokenStoreError               path: the stored login cannot be locked
    ├── ApiChanged                    endpoint, field
    ├── MediaUnavailable              the service refused to play a media
    │   ├── GeoBlocked
    │   ├── PremiumOnly
    │   ├── LoginRequired
    │   └── NotFound
    ├── UnsupportedMedia              signal (DRM or another unreadable form)
    ├── StreamError                   an HLS playlist, key or segment is bad
    │   ├── PlaylistError
    │   └── SegmentError              segment index
    └── DownloadError                 download
        └── NoSpaceLeft

Only the FUSE layer turns these into errno values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Error(Exception):
    """Root of every exception that toutvfs raises on purpose."""


class NetworkError(Error):
    """A request could not be completed."""


class HttpError(NetworkError):
    """An HTTP request failed.

    Attributes:
        method, url: the request; *url* never carries a query string, because
            signed URLs keep their token there.
        params, data, headers: what was sent, with secrets removed.
        allow_redirects: whether redirects were followed.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "GET",
        url: str = "",
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.params = dict(params or {})
        self.data = data
        self.headers = dict(headers or {})
        self.allow_redirects = allow_redirects


class NetworkTimeout(HttpError):
    """The server did not answer in time."""


class ConnectionError(HttpError):  # noqa: A001 - pytoutv's name
    """The connection could not be made or was reset."""


class UnexpectedHttpStatusCode(HttpError):
    """The server answered with a status the client does not handle.

    Attributes:
        status_code: the HTTP status.
    """

    def __init__(self, message: str, *, status_code: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code


class InvalidCredentials(Error):
    """The service rejected the user name and password.

    Attributes:
        user: the account name; the password is never stored here.
    """

    def __init__(self, user: str, message: str = "") -> None:
        super().__init__(message or f"invalid credentials for user {user!r}")
        self.user = user


class TokenStoreError(Error):
    """The lock on a stored login could not be taken, so it was not renewed.

    Attributes:
        path: the file that stores the login.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class ApiChanged(Error):
    """A response does not have the shape the client expects.

    Attributes:
        endpoint: the API path that answered.
        field: the dotted path of the missing or mistyped field.
    """

    def __init__(self, endpoint: str, field: str, detail: str = "") -> None:
        message = f"unexpected response from {endpoint}: field {field!r}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)
        self.endpoint = endpoint
        self.field = field


class MediaUnavailable(Error):
    """The service refused to play a media.

    Attributes:
        message: the service's own message, shown to the user as it is.
        error_code: the validation ``errorCode``, or None.
        id_media: the media concerned, when known.
    """

    def __init__(
        self, message: str, *, error_code: int | None = None, id_media: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.id_media = id_media


class GeoBlocked(MediaUnavailable):
    """The media is not available from the user's country."""


class PremiumOnly(MediaUnavailable):
    """The media needs a premium (Extra) subscription."""


class LoginRequired(MediaUnavailable):
    """The media needs an account, and the client has none."""


class NotFound(MediaUnavailable):
    """The show, section or media does not exist."""


class UnsupportedMedia(Error):
    """The media is DRM-protected or in a form toutvfs cannot read.

    toutvfs reports DRM and never tries to get around it.

    Attributes:
        signal: what showed it, for example ``"availableTechs"``,
            ``"licence parameters"``, ``"DASH URL"``, ``"SAMPLE-AES"`` or
            ``"KEYFORMAT"``.
    """

    def __init__(self, message: str, *, signal: str) -> None:
        super().__init__(message)
        self.signal = signal


class StreamError(Error):
    """An HLS playlist, key or segment cannot be used."""


class PlaylistError(StreamError):
    """A playlist is missing, empty or not a playlist at all."""


class SegmentError(StreamError):
    """A segment could not be fetched or decrypted.

    Attributes:
        index: the segment's position in its playlist, from 0.
    """

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class DownloadError(Error):
    """A download failed.

    Attributes:
        download: the ``Download`` that failed.
    """

    def __init__(self, message: str, *, download: object = None) -> None:
        super().__init__(message)
        self.download = download


class NoSpaceLeft(DownloadError):
    """The disk filled up during a download."""
