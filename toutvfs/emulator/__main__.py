"""Emulator layer: the command line, ``python -m toutvfs.emulator``.

It prints the base URL as the first line on standard output once the server
accepts connections, then serves until SIGINT or SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from toutvfs.emulator.loader import CatalogueError
from toutvfs.emulator.server import Emulator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="toutvfs-emulator",
        description="Serve a local TOU.TV emulator until SIGINT or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one"
    )
    parser.add_argument(
        "--catalogue", type=Path, help="JSON or TOML catalogue file (default: demo)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds added before every response",
    )
    parser.add_argument(
        "--rate",
        type=int,
        metavar="BYTES_PER_S",
        help="bandwidth cap per connection, in bytes per second",
    )
    parser.add_argument(
        "--max-connections", type=int, help="connections served at once"
    )
    parser.add_argument(
        "--signed-url-lifetime",
        type=float,
        metavar="SECONDS",
        help="seconds a signed media URL stays valid",
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        metavar="SECONDS",
        help="seconds an access token stays valid",
    )
    parser.add_argument(
        "--strict-cookies",
        action="store_true",
        default=None,
        help="require the master playlist's cookie on key and segment requests",
    )
    parser.add_argument(
        "--media-dir", type=Path, help="cache directory of generated media"
    )
    parser.add_argument(
        "--log", type=Path, help="file that receives one JSON line per request"
    )
    parser.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log_file = args.log.open("a", encoding="utf-8") if args.log else None
    try:
        emulator = Emulator(
            args.catalogue,
            args.host,
            args.port,
            media_dir=args.media_dir,
            latency=args.latency,
            rate=args.rate,
            max_connections=args.max_connections,
            log_file=log_file,
            token_lifetime=args.token_lifetime,
            signed_url_lifetime=args.signed_url_lifetime,
            strict_cookies=args.strict_cookies,
        )
    except (CatalogueError, ValueError) as exc:
        print(f"toutvfs-emulator: {exc}", file=sys.stderr)
        return 2
    try:
        with emulator:
            print(emulator.base_url, flush=True)
            while not done.wait(0.5):
                pass
    except OSError as exc:
        print(f"toutvfs-emulator: cannot serve: {exc}", file=sys.stderr)
        return 1
    finally:
        if log_file is not None:
            log_file.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
