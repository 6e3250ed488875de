"""Putting a mount together: backend, tree, operations, control socket, main loop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from toutvfs.client import TokenSource
from toutvfs.config import Config
from toutvfs.fs import mount as mounting
from toutvfs.fs.adapter import StreamSettings
from toutvfs.fs.backend import EngineOptions, TunedBackend, VersionFilter
from toutvfs.fs.control import (
    PINS_NAME,
    ControlOperations,
    Pinner,
    PinStore,
    StatusSources,
    control_socket_path,
    controlled,
)
from toutvfs.fs.hls_tree import HlsBackend
from toutvfs.fs.offline import LISTINGS_NAME, ListingStore, OfflineCatalogue
from toutvfs.fs.tree import DEFAULT_TTL, Tree
from toutvfs.hls import Engine
from toutvfs.hls.storage import safe_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MountRequest:
    """Everything a mount needs, as the command line chose it.

    Attributes:
        config: the TOU.TV service (real or emulated); ignored with *hls_urls*.
        hls_urls: master playlists to mount instead of the TOU.TV catalogue.
        auth: credentials for the TOU.TV service.
        versions: ``all``, ``highest``, ``lowest`` or a maximum height.
        ttl: seconds a directory listing is kept.
        fuse_options: extra libfuse options, such as ``allow_other``.
        source: the identity of the TOU.TV service that keys its stored
            data (`toutvfs.fs.identity`); None makes one from the API base.
    """

    mountpoint: str
    auth: TokenSource
    config: Config = field(default_factory=Config)
    hls_urls: tuple[str, ...] = ()
    settings: StreamSettings = field(default_factory=StreamSettings)
    engine: EngineOptions = field(default_factory=EngineOptions)
    versions: str = "all"
    ttl: float = DEFAULT_TTL
    fuse_options: tuple[str, ...] = ()
    debug_fuse: bool = False
    source: str | None = None


def listing_store(cache_dir: Path | None, scope: str) -> ListingStore:
    """Return the store of listings under *cache_dir* for the source *scope*."""
    if cache_dir is None:
        return ListingStore(None)
    return ListingStore(cache_dir / LISTINGS_NAME / safe_name(scope))


def mount(
    request: MountRequest,
    *,
    on_ready: Callable[[], None] | None = None,
    startup: mounting.StartupSignals | None = None,
) -> int:
    """Mount what *request* describes until unmounted or signalled; return 0."""
    cache_dir = request.settings.cache_dir
    backend: TunedBackend | HlsBackend
    tree: Tree
    if request.hls_urls:
        backend = HlsBackend(
            list(request.hls_urls), request.settings, request.engine, request.versions
        )
        # The media keys of --hls playlists already name their URLs.
        listings = listing_store(cache_dir, "hls")
        tree = backend.build_tree(request.ttl, listings)
    else:
        backend = TunedBackend(
            request.config,
            request.auth,
            request.settings,
            request.engine,
            request.source,
        )
        # Records such as the show index have the same key on every
        # TOU.TV source, so each source stores them in its own directory.
        listings = listing_store(cache_dir, backend.source)
        catalogue = VersionFilter(OfflineCatalogue(backend, listings), request.versions)
        tree = Tree(catalogue, backend, ttl=request.ttl)

    store = PinStore(cache_dir / PINS_NAME if cache_dir is not None else None)
    pinner = Pinner(tree, backend, store, listings)
    socket_path = control_socket_path(request.mountpoint)

    def current_engine() -> Engine | None:
        try:
            return backend.engine
        except RuntimeError:
            return None

    operations = ControlOperations(
        tree,
        StatusSources(
            engine=current_engine,
            traffic=backend.traffic,
            mountpoint=request.mountpoint,
            control_socket=str(socket_path),
            pinner=pinner,
        ),
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[object]:
        async with backend.running():
            async with controlled(pinner, socket_path):
                yield backend

    mounting.run(
        operations,
        request.mountpoint,
        mounting.fuse_options(extra=request.fuse_options, debug=request.debug_fuse),
        lifespan,
        on_ready,
        startup,
    )
    return 0
