"""Emulator layer: `Emulator`, a local TOU.TV served from background threads.

It binds a `ThreadingHTTPServer` (one thread per connection, HTTP/1.1
keep-alive) and generates or loads the media of every profile its catalogue
uses before it accepts connections, so no request waits for ffmpeg.
"""

from __future__ import annotations

import logging
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from socket import AF_INET6
from types import TracebackType
from typing import IO

from toutvfs.emulator import loader
from toutvfs.emulator.app import Application
from toutvfs.emulator.faults import Fault
from toutvfs.emulator.handler import RequestHandler, RequestRecord
from toutvfs.emulator.media import MediaProfile, MediaSet, MediaStore
from toutvfs.emulator.model import Catalogue, Settings
from toutvfs.emulator.shaping import Shaping

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Connection threads are not joined at close, because a stalled or
    # keep-alive connection could hold close for its whole timeout.
    block_on_close = False
    request_queue_size = 128
    app: Application


class _Server6(_Server):
    address_family = AF_INET6


class Emulator:
    """A running TOU.TV emulator, as a context manager.

    Args:
        catalogue: None for the demo catalogue, a path to a JSON or TOML
            catalogue file, or a `Catalogue`.
        host, port: where to listen; port 0 picks a free port.
        media_dir: the cache directory of generated media; None for
            ``$TOUTVFS_EMULATOR_MEDIA`` or the user cache directory.
        latency: seconds added to every response.
        rate: bandwidth cap in bytes/s per connection, or None.
        max_connections: connections served at once; later ones wait.
        log_file: a text stream that receives each request record as one
            JSON line.
        token_lifetime, signed_url_lifetime, strict_cookies: override the
            catalogue's settings when not None.
        faults: faults added to the catalogue's, checked first.

    Attributes:
        base_url: ``http://HOST:PORT``, without a trailing slash.
        request_log: every `RequestRecord`, oldest first.
        faults: the live fault list; tests may append to it.
    """

    def __init__(
        self,
        catalogue: Catalogue | Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        media_dir: Path | None = None,
        latency: float = 0.0,
        rate: int | None = None,
        max_connections: int | None = None,
        log_file: IO[str] | None = None,
        token_lifetime: float | None = None,
        signed_url_lifetime: float | None = None,
        strict_cookies: bool | None = None,
        faults: tuple[Fault, ...] | list[Fault] = (),
    ) -> None:
        if catalogue is None:
            self.catalogue = loader.load_demo()
        elif isinstance(catalogue, Catalogue):
            self.catalogue = catalogue
        else:
            self.catalogue = loader.load(catalogue)
        base = self.catalogue.settings
        self.settings = Settings(
            token_lifetime=base.token_lifetime
            if token_lifetime is None
            else token_lifetime,
            signed_url_lifetime=base.signed_url_lifetime
            if signed_url_lifetime is None
            else signed_url_lifetime,
            strict_cookies=base.strict_cookies
            if strict_cookies is None
            else strict_cookies,
            max_page_size=base.max_page_size,
        )
        shaping = [Shaping(latency=latency, rate=rate)] if latency or rate else []
        self.media = MediaStore(media_dir)
        self.app = Application(
            self.catalogue,
            self.media,
            self.settings,
            shaping,
            max_connections,
            log_file,
        )
        self.app.faults[:0] = list(faults)
        self.host = host
        self.port = port
        self.base_url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def request_log(self) -> list[RequestRecord]:
        return self.app.request_log

    @property
    def faults(self) -> list[Fault]:
        return self.app.faults

    def media_set(self, profile: MediaProfile | None = None) -> MediaSet:
        """Return the generated media of *profile* (the default one if None)."""
        return self.media.get(profile or MediaProfile())

    def start(self) -> None:
        """Prepare the media, bind and start serving in a background thread."""
        profiles = {
            e.profile.cache_key(): e.profile
            for e in self.catalogue.episodes.values()
            if e.mode != "drm" and e.media_dir is None
        }
        for profile in profiles.values():
            self.media.get(profile)
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, self.port), RequestHandler)
        handler_class = type("BoundHandler", (RequestHandler,), {"app": self.app})
        server.RequestHandlerClass = handler_class
        host, port = server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"
        self.port = int(port)
        self.app.bind(self.base_url)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="toutvfs-emulator",
            daemon=True,
        )
        self._thread.start()
        log.info("emulator serving at %s", self.base_url)

    def stop(self) -> None:
        """Stop serving; stalled responses are cut short."""
        self.app.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        log.info("emulator stopped")

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
