"""Putting a mount together: credentials, backend, tree, operations, main loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from toutvfs.client import Anonymous, PasswordLogin, TokenSource
from toutvfs.config import Config
from toutvfs.fs import mount as mounting
from toutvfs.fs.adapter import Backend, StreamSettings
from toutvfs.fs.operations import Operations
from toutvfs.fs.tree import Tree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """How the mount authenticates; anonymous when *user* is empty."""

    user: str = ""
    password: str = field(default="", repr=False)

    def token_source(self) -> TokenSource:
        """Return the client's token source for these credentials."""
        if self.user:
            return PasswordLogin(self.user, self.password)
        return Anonymous()


def mount(
    config: Config,
    mountpoint: str,
    credentials: Credentials,
    *,
    settings: StreamSettings | None = None,
    ttl: float = 1800.0,
    debug_fuse: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Mount the catalogue of *config* at *mountpoint* until unmounted; return 0."""
    backend = Backend(config, credentials.token_source(), settings or StreamSettings())
    tree = Tree(backend, backend, ttl=ttl)
    operations = Operations(tree)
    mounting.run(
        operations,
        mountpoint,
        mounting.fuse_options(debug=debug_fuse),
        backend.running,
        on_ready,
    )
    return 0
