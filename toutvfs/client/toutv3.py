"""Client layer: the ``toutv3`` names of pytoutv, for scripts written for it.

After ``from toutvfs.client import toutv3``, the names a pytoutv script uses
resolve as they did: ``toutv3.client.Client``, ``toutv3.model`` and
``toutv3.download``, and the exceptions at the top level.
"""

from toutvfs.client import download, model
from toutvfs.client import facade as client
from toutvfs.errors import (
    ApiChanged,
    ConnectionError,
    DownloadError,
    Error,
    HttpError,
    InvalidCredentials,
    NetworkError,
    NetworkTimeout,
    NoSpaceLeft,
    UnexpectedHttpStatusCode,
    UnsupportedMedia,
)

__all__ = [
    "ApiChanged",
    "ConnectionError",
    "DownloadError",
    "Error",
    "HttpError",
    "InvalidCredentials",
    "NetworkError",
    "NetworkTimeout",
    "NoSpaceLeft",
    "UnexpectedHttpStatusCode",
    "UnsupportedMedia",
    "client",
    "download",
    "model",
]
