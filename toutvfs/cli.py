"""Command line layer: the ``toutvfs`` command and its subcommands.

``toutvfs [SOURCE] MOUNTPOINT`` mounts; ``toutvfs login``, ``logout``,
``status``, ``prefetch`` and ``unpin`` are the other commands. The mount
form also takes the arguments that mount(8) passes to a FUSE helper
(``toutvfs SOURCE MOUNTPOINT -o OPTIONS``), so ``mount -t fuse.toutvfs`` and
``/etc/fstab`` work.

Exit status: 0 on success (in the background, once the mount responds to a
``stat``; in the foreground, after a clean unmount), 1 when the mount or
command failed, 2 for a usage error (an invalid option or mountpoint), 130
after a second stop signal.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import math
import os
import sys
import textwrap
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import platformdirs

from toutvfs import __version__
from toutvfs.config import Config

if TYPE_CHECKING:
    from toutvfs.client import TokenSource
    from toutvfs.daemon import Readiness
    from toutvfs.fs.mount import StartupSignals

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# The emulator's demo account, which `--demo` logs in with.
DEMO_USER = "demo@toutvfs.test"
DEMO_PASSWORD = "demo"

DEFAULT_CACHE_MIB = 2048
DEFAULT_DIR_TTL = 1800.0

SUBCOMMANDS = ("login", "logout", "status", "prefetch", "unpin")

# Sources that mount(8) and fstab may name before the mountpoint.
SOURCES = ("toutvfs", "demo")


class UsageError(Exception):
    """A command-line mistake, reported in one line with exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line `UsageError` exceptions."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see toutvfs --help)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    # float() accepts "inf" and "nan", which no size or duration can be.
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if not value > 0:
        raise ValueError("must be more than zero")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def _http_url(text: str) -> str:
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    return text


def _versions(text: str) -> str:
    from toutvfs.fs.backend import parse_versions

    return parse_versions(text)


_positive_int.__name__ = "positive integer"
_non_negative_float.__name__ = "number of seconds"
_positive_float.__name__ = "positive number"
_versions.__name__ = "versions"
_http_url.__name__ = "absolute http(s) URL"


def default_log_file() -> Path:
    """Return the log file of a mount in the background without --log-file."""
    return Path(platformdirs.user_log_dir("toutvfs")) / "toutvfs.log"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the mount command."""
    from toutvfs.accounts import CREDENTIAL_ORDER
    from toutvfs.hls import ReadaheadSettings
    from toutvfs.hls.engine import DEFAULT_CONNECTIONS_PER_HOST, MEASURE_CONCURRENCY
    from toutvfs.settings import default_config_path

    parser = _OneLineParser(
        prog="toutvfs",
        usage="%(prog)s [options] [SOURCE] MOUNTPOINT\n"
        "       %(prog)s {login,logout,status,prefetch,unpin} ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Mount the TOU.TV catalogue as a read-only filesystem.\n\n"
        "Other commands: toutvfs login | logout | status MOUNTPOINT | "
        "prefetch PATH... | unpin PATH... (each has --help).",
        epilog="Credentials are taken from the first of:\n"
        + "\n".join(
            textwrap.fill(line, width=79, subsequent_indent="   ")
            for line in CREDENTIAL_ORDER.splitlines()
        )
        + "\n\n"
        + textwrap.fill(
            "Options can also be given as -o name=value and in the config file, "
            "by their long names; the command line and -o win over the config "
            "file.",
            width=79,
        ),
    )
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="[SOURCE] MOUNTPOINT",
        help="an existing, empty directory; SOURCE (toutvfs or demo) is what "
        "mount(8) passes and may be left out",
    )
    where = parser.add_argument_group("what to mount")
    where.add_argument(
        "--demo",
        action="store_true",
        help="start the embedded TOU.TV emulator on a free loopback port and "
        "mount it, logged in with its demo account",
    )
    where.add_argument(
        "--emulator",
        metavar="URL",
        type=_http_url,
        help="use a TOU.TV emulator already running at URL instead of the real service",
    )
    where.add_argument(
        "--hls",
        metavar="URL",
        type=_http_url,
        action="append",
        default=[],
        help="mount the HLS master playlist at URL instead of TOU.TV: one "
        "directory per playlist, one file per variant (repeat for more)",
    )
    account = parser.add_argument_group("account")
    account.add_argument(
        "--user",
        metavar="EMAIL",
        help="log in as EMAIL; the password comes from $TOUTVFS_PASSWORD, or "
        "from a prompt with -f on a terminal",
    )
    account.add_argument(
        "--token-file",
        metavar="FILE",
        type=Path,
        help="use the bearer token on the first line of FILE",
    )
    cache = parser.add_argument_group("cache and network")
    cache.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(platformdirs.user_cache_dir("toutvfs")),
        metavar="DIR",
        help="directory of the segment cache, layouts and pins (default: %(default)s)",
    )
    cache.add_argument(
        "--cache-size",
        type=_positive_float,
        default=DEFAULT_CACHE_MIB,
        metavar="MIB",
        help="maximum size of the segment cache in MiB (default: %(default)s)",
    )
    cache.add_argument(
        "--no-cache",
        action="store_true",
        help="keep no segments on disk; prefetch and pins need the cache",
    )
    cache.add_argument(
        "--dir-ttl",
        type=_non_negative_float,
        default=DEFAULT_DIR_TTL,
        metavar="SECONDS",
        help="how long a directory listing is kept before it is fetched again, "
        "in seconds (default: %(default).0f)",
    )
    cache.add_argument(
        "--versions",
        type=_versions,
        default="all",
        metavar="WHICH",
        help="media versions listed per episode: all, highest, lowest, or a "
        "maximum height in pixels such as 720 (default: %(default)s)",
    )
    cache.add_argument(
        "--readahead",
        type=_positive_int,
        default=ReadaheadSettings().max_parts,
        metavar="PARTS",
        help="maximum HLS segments fetched ahead of a sequential reader "
        "(default: %(default)s)",
    )
    cache.add_argument(
        "--max-connections",
        type=_positive_int,
        default=DEFAULT_CONNECTIONS_PER_HOST,
        metavar="N",
        help="maximum concurrent segment downloads and catalogue requests to one "
        f"host; size probes and keys have their own limit of {MEASURE_CONCURRENCY} "
        "(default: %(default)s)",
    )
    process = parser.add_argument_group("process and logs")
    process.add_argument(
        "-f",
        "--foreground",
        action="store_true",
        help="stay in the foreground and log to standard error; by default the "
        "command returns once the mount responds and the mount runs in the "
        "background",
    )
    process.add_argument(
        "-o",
        dest="options",
        metavar="OPTIONS",
        action="append",
        default=[],
        help="comma-separated mount options: FUSE options such as allow_other "
        "or default_permissions go to libfuse, and toutvfs options by long "
        "name (cache_size=4096, versions=720) set those options",
    )
    process.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"TOML file of option defaults (default: {default_config_path()}, "
        "read if it exists)",
    )
    process.add_argument(
        "--log-file",
        type=Path,
        metavar="FILE",
        help="append log records to FILE (default: standard error with -f, "
        f"else {default_log_file()})",
    )
    process.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="lowest level of log records written (default: %(default)s)",
    )
    process.add_argument(
        "--debug-http",
        action="store_true",
        help="log every HTTP request and response at DEBUG, with tokens and "
        "signed query strings replaced by REDACTED",
    )
    process.add_argument(
        "--debug-fuse",
        action="store_true",
        help="log every FUSE request (libfuse's debug output, which goes to "
        "standard error, so use it with -f)",
    )
    # What mount(8) adds when it runs a mount helper: the type, and -n, -s or
    # -v for no mtab, sloppy option parsing and verbose output. None of
    # them changes what toutvfs does.
    for flag in ("-n", "-s", "-v"):
        parser.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-t", dest="mount_type", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in SUBCOMMANDS:
        from toutvfs.commands import run_subcommand

        return run_subcommand(arguments)
    try:
        return _mount_command(arguments)
    except UsageError as exc:
        print(f"toutvfs: {exc}", file=sys.stderr)
        return EXIT_USAGE


def parse_mount_arguments(arguments: list[str]) -> argparse.Namespace:
    """Parse the mount command's arguments, config file and ``-o`` options.

    Raises:
        UsageError: an invalid option, config file or target.
    """
    from toutvfs.settings import (
        SettingsError,
        apply_config,
        default_config_path,
        read_config,
        split_mount_options,
    )

    parser = build_parser()
    # The config file must be known before the other options are parsed,
    # because its values become the parser's defaults.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config", type=Path)
    known, _ = first.parse_known_args(arguments)
    try:
        config_path = known.config
        if config_path is not None or default_config_path().exists():
            path = config_path or default_config_path()
            apply_config(parser, read_config(path), str(path))
        args = parser.parse_args(arguments)
        mount_options = split_mount_options(parser, args.options)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    for dest, value in mount_options.toutvfs.items():
        setattr(args, dest, value)
    args.fuse_options = tuple(mount_options.fuse)
    args.ignored_options = tuple(mount_options.ignored)

    if len(args.targets) > 2:
        raise UsageError("expected [SOURCE] MOUNTPOINT, got " + " ".join(args.targets))
    if len(args.targets) == 2:
        source = args.targets[0]
        if source not in SOURCES:
            raise UsageError(
                f"unknown source {source!r}: use toutvfs or demo (or leave it out)"
            )
        if source == "demo":
            args.demo = True
    args.mountpoint = args.targets[-1]
    chosen = [name for name in ("demo", "emulator", "hls") if getattr(args, name)]
    if len(chosen) > 1:
        raise UsageError("--demo, --emulator and --hls exclude each other")
    if args.demo and (args.user or args.token_file):
        # The demo always logs in with its own account, so these options
        # would be ignored without a word.
        raise UsageError(
            "--demo logs in with its demo account; leave out --user and --token-file"
        )
    return args


def _mount_command(arguments: list[str]) -> int:
    from toutvfs.accounts import (
        CredentialsError,
        choose_credentials,
        credential_variables_set,
        credentials_path,
    )
    from toutvfs.daemon import (
        InstanceLock,
        MountpointError,
        check_mountpoint,
        daemonize,
    )
    from toutvfs.fs.mount import StartupInterrupted, StartupSignals

    startup = StartupSignals()
    startup.install()
    try:
        args = parse_mount_arguments(arguments)
        try:
            mountpoint = check_mountpoint(args.mountpoint)
        except MountpointError as exc:
            print(f"toutvfs: {exc}", file=sys.stderr)
            return EXIT_USAGE if exc.usage else EXIT_FAILURE
        config = _service_config(args)
        password = None
        if args.user and args.foreground and sys.stdin.isatty():
            if not os.environ.get("TOUTVFS_PASSWORD"):
                password = getpass.getpass(f"TOU.TV password for {args.user}: ")
        ignored_variables: list[str] = []
        try:
            if args.demo:
                from toutvfs.client import PasswordLogin

                chosen_auth: TokenSource = PasswordLogin(DEMO_USER, DEMO_PASSWORD)
                origin = "the demo account"
                ignored_variables = credential_variables_set(os.environ)
            else:
                chosen = choose_credentials(
                    user=args.user,
                    token_file=args.token_file,
                    password=password,
                    environ=os.environ,
                    stored_path=credentials_path(),
                    config=config,
                )
                chosen_auth, origin = chosen.source, chosen.origin
        except CredentialsError as exc:
            print(f"toutvfs: {exc}", file=sys.stderr)
            return EXIT_USAGE

        lock = InstanceLock(mountpoint)
        try:
            lock.acquire()
        except MountpointError as exc:
            print(f"toutvfs: {exc}", file=sys.stderr)
            return EXIT_FAILURE

        log_file = args.log_file
        if log_file is None and not args.foreground:
            log_file = default_log_file()

        def serve(readiness: Readiness | None) -> int:
            from toutvfs.logs import configure_logging

            lock.record_pid()
            configure_logging(args.log_level, log_file, debug_http=args.debug_http)
            log.info(
                "toutvfs %s starting at %s; credentials: %s",
                __version__,
                mountpoint,
                origin,
            )
            if ignored_variables:
                # Names only, because the values are secrets or an e-mail address.
                log.info(
                    "ignoring %s, because --demo logs in with the emulator's demo "
                    "account",
                    ", ".join(f"${name}" for name in ignored_variables),
                )
            if args.ignored_options:
                log.debug("ignored mount options: %s", ",".join(args.ignored_options))
            ready = readiness.ready if readiness is not None else None
            return _run_mount(args, mountpoint, config, chosen_auth, ready, startup)

        if args.foreground:
            try:
                return serve(None)
            except RuntimeError as exc:
                # pyfuse3.init raises RuntimeError, after libfuse has printed
                # its own reason on standard error.
                print(f"toutvfs: cannot mount {mountpoint}: {exc}", file=sys.stderr)
                return EXIT_FAILURE
        assert log_file is not None
        try:
            return daemonize(serve, log_hint=str(log_file), output=log_file)
        finally:
            lock.close()
    except StartupInterrupted as exc:
        print(f"toutvfs: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _service_config(args: argparse.Namespace) -> Config:
    if args.emulator:
        return Config.for_emulator(args.emulator)
    return Config()


def _run_mount(
    args: argparse.Namespace,
    mountpoint: str,
    config: Config,
    auth: TokenSource,
    ready: Callable[[], None] | None,
    startup: StartupSignals,
) -> int:
    from toutvfs.fs.adapter import StreamSettings
    from toutvfs.fs.backend import EngineOptions
    from toutvfs.fs.launch import MountRequest, mount

    settings = StreamSettings(
        cache_dir=None if args.no_cache else args.cache_dir,
        cache_size=0 if args.no_cache else int(args.cache_size * 1024 * 1024),
    )
    log.info(
        "segment cache: %s",
        "off" if args.no_cache else f"{args.cache_dir}, limit {args.cache_size:g} MiB",
    )

    def request(service: Config, source: str | None = None) -> MountRequest:
        return MountRequest(
            mountpoint=mountpoint,
            auth=auth,
            config=service,
            hls_urls=tuple(args.hls),
            settings=settings,
            engine=EngineOptions(
                readahead=args.readahead, connections=args.max_connections
            ),
            versions=args.versions,
            ttl=args.dir_ttl,
            fuse_options=args.fuse_options,
            debug_fuse=args.debug_fuse,
            source=source,
        )

    if args.demo:
        from toutvfs.emulator import Emulator
        from toutvfs.fs.identity import DEMO

        with Emulator() as emulator:
            log.info("demo emulator at %s", emulator.base_url)

            def demo_ready() -> None:
                _print_demo_hints(mountpoint, to_terminal=args.foreground)
                if ready is not None:
                    ready()

            return mount(
                # The demo's port changes at each start, so its stored
                # data is keyed by a fixed identity instead of its URL.
                request(Config.for_emulator(emulator.base_url), DEMO),
                on_ready=demo_ready,
                startup=startup,
            )
    return mount(request(config), on_ready=ready, startup=startup)


def _print_demo_hints(mountpoint: str, *, to_terminal: bool) -> None:
    hints = (
        f"toutvfs: the demo is mounted at {mountpoint}. Try:\n"
        f"  ls -R {mountpoint}/shows | head\n"
        f"  mpv {mountpoint}/shows/<show>/<season>/<episode>/<variant>.ts\n"
    )
    if to_terminal:
        print(hints + "Press Ctrl-C to unmount.", file=sys.stderr, flush=True)
    else:
        log.info("%s", hints.strip())
