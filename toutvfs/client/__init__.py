"""Client layer: the TOU.TV client library on the current services.

`Session` is the async core that the filesystem uses. Token sources define
how it authenticates, and its coroutines return the records of
`toutvfs.client.records`. `Client` is the synchronous facade with the names
of pytoutv's API, which `toutvfs.client.toutv3` also offers as ``toutv3``.
"""

from toutvfs.client.facade import Client
from toutvfs.client.records import (
    BrowsePage,
    BrowseSection,
    Card,
    CardLineup,
    CategoryPage,
    IndexEntry,
    Item,
    MediaMeta,
    SeasonLineup,
    ShowPage,
    SubscriberProfile,
    Tech,
)
from toutvfs.client.retry import RetryPolicy
from toutvfs.client.session import Session
from toutvfs.client.tokens import (
    Anonymous,
    BearerToken,
    PasswordLogin,
    RefreshableToken,
    TokenSource,
)

__all__ = [
    "Anonymous",
    "BearerToken",
    "BrowsePage",
    "BrowseSection",
    "Card",
    "CardLineup",
    "CategoryPage",
    "Client",
    "IndexEntry",
    "Item",
    "MediaMeta",
    "PasswordLogin",
    "RefreshableToken",
    "RetryPolicy",
    "SeasonLineup",
    "Session",
    "ShowPage",
    "SubscriberProfile",
    "Tech",
    "TokenSource",
]
