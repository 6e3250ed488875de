"""The ``toutvfs`` command line: parse options, start the demo, mount.

Exit status: 0 after a clean unmount, 2 for a usage error (including a bad
mountpoint), 1 when the mount could not start.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import platformdirs

from toutvfs import __version__
from toutvfs.config import Config

log = logging.getLogger("toutvfs")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# The emulator's demo account, which `--demo` logs in with.
DEMO_USER = "demo@toutvfs.test"
DEMO_PASSWORD = "demo"

DEFAULT_CACHE_MIB = 2048


class UsageError(Exception):
    """A command-line mistake, reported in one line with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``toutvfs`` command."""
    parser = argparse.ArgumentParser(
        prog="toutvfs",
        description="Mount the TOU.TV catalogue as a read-only filesystem.",
    )
    parser.add_argument("mountpoint", help="an existing, empty directory")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the embedded TOU.TV emulator on a free loopback port and "
        "mount it, logged in with its demo account",
    )
    parser.add_argument(
        "--emulator",
        metavar="URL",
        help="use a TOU.TV emulator already running at URL instead of the real service",
    )
    parser.add_argument(
        "--user",
        default=os.environ.get("TOUTVFS_USER", ""),
        help="TOU.TV account (an email address); the password comes from the "
        "TOUTVFS_PASSWORD environment variable (default: $TOUTVFS_USER, or "
        "anonymous)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(platformdirs.user_cache_dir("toutvfs")),
        help="directory of the segment cache (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        default=DEFAULT_CACHE_MIB,
        metavar="MIB",
        help="bound of the segment cache in MiB (default: %(default)s)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="keep no segments on disk",
    )
    parser.add_argument(
        "--dir-ttl",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="how long a directory listing is kept (default: %(default)s)",
    )
    parser.add_argument(
        "-f",
        "--foreground",
        action="store_true",
        help="stay in the foreground (the only mode for now)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="lowest level of messages written to standard error "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--debug-fuse",
        action="store_true",
        help="log every FUSE request (libfuse's debug output)",
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def check_mountpoint(path: str) -> str:
    """Return *path* as an absolute path, or raise `UsageError`."""
    if not os.path.exists(path):
        raise UsageError(f"mountpoint {path} does not exist; create it first")
    if not os.path.isdir(path):
        raise UsageError(f"mountpoint {path} is not a directory")
    return os.path.abspath(path)


def configure_logging(level: str) -> None:
    """Send the package's log records to standard error, quieting httpx."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("toutvfs")
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every URL at INFO, and signed URLs carry tokens.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        mountpoint = check_mountpoint(args.mountpoint)
    except UsageError as exc:
        print(f"toutvfs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_level)

    from toutvfs.fs.adapter import StreamSettings
    from toutvfs.fs.launch import Credentials, mount

    settings = StreamSettings(
        cache_dir=None if args.no_cache else args.cache_dir,
        cache_size=0 if args.no_cache else args.cache_size * 1024 * 1024,
    )
    credentials = Credentials(args.user, os.environ.get("TOUTVFS_PASSWORD", ""))

    def run(config: Config, on_ready: Callable[[], None] | None = None) -> int:
        return mount(
            config,
            mountpoint,
            credentials,
            settings=settings,
            ttl=args.dir_ttl,
            debug_fuse=args.debug_fuse,
            on_ready=on_ready,
        )

    if args.demo:
        from toutvfs.emulator import Emulator

        credentials = Credentials(user=DEMO_USER, password=DEMO_PASSWORD)
        with Emulator() as emulator:
            log.info("demo emulator at %s", emulator.base_url)
            config = Config.for_emulator(emulator.base_url)
            return run(config, on_ready=lambda: _print_demo_hints(mountpoint))
    if args.emulator:
        return run(Config.for_emulator(args.emulator))
    return run(Config())


def _print_demo_hints(mountpoint: str) -> None:
    print(
        f"toutvfs: the demo is mounted at {mountpoint}. Try:\n"
        f"  ls -R {mountpoint}/shows | head\n"
        f"  mpv {mountpoint}/shows/<show>/<season>/<episode>/<variant>.ts\n"
        "Press Ctrl-C to unmount.",
        file=sys.stderr,
        flush=True,
    )
