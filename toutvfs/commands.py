"""Command line layer: the ``login``, ``logout``, ``status``, ``prefetch``, ``unpin``
commands."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from toutvfs.accounts import (
    ENV_PASSWORD,
    CredentialsError,
    credentials_locked,
    credentials_path,
    load_credentials,
    log_in,
    remove_credentials,
    save_credentials,
    stored_from_token,
)
from toutvfs.config import Config
from toutvfs.errors import Error
from toutvfs.logs import configure_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the subcommands."""
    parser = argparse.ArgumentParser(prog="toutvfs")
    commands = parser.add_subparsers(dest="command", required=True)

    login = commands.add_parser(
        "login",
        help="log in and store a token for later mounts",
        description="Log in to TOU.TV and store the bearer token and the "
        f"refresh token (never the password) in {credentials_path()} with mode "
        "0600. Mounts renew the bearer token with the refresh token. A pasted "
        "token has no refresh token: run this again when it expires.",
    )
    login.add_argument(
        "--user", metavar="EMAIL", help="account e-mail (prompted if missing)"
    )
    login.add_argument(
        "--token",
        action="store_true",
        help="store a bearer token pasted from a browser session instead of "
        "logging in (read from standard input)",
    )
    login.add_argument(
        "--emulator", metavar="URL", help="log in to a TOU.TV emulator at URL"
    )

    commands.add_parser(
        "logout",
        help="delete the stored token",
        description=f"Delete {credentials_path()}.",
    )

    status = commands.add_parser(
        "status",
        help="print the state of a mount",
        description="Print version, uptime, cache, requests, errors, open "
        "files and fetches in flight of the toutvfs mount at MOUNTPOINT.",
    )
    status.add_argument("mountpoint", metavar="MOUNTPOINT")
    status.add_argument("--json", action="store_true", help="print the raw JSON record")

    prefetch = commands.add_parser(
        "prefetch",
        help="fill the cache with files and pin them",
        description="Read the media files given (directories are walked) "
        "through the mount so that they are in the segment cache, and pin "
        "them so that they stay there until `toutvfs unpin`; pinned files "
        "play without network while the mount runs.",
    )
    prefetch.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    prefetch.add_argument(
        "--no-pin", action="store_true", help="fill the cache without pinning"
    )

    unpin = commands.add_parser(
        "unpin",
        help="let pinned files be evicted again",
        description="Unpin the media files given (directories are walked).",
    )
    unpin.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    return parser


def run_subcommand(arguments: Sequence[str]) -> int:
    """Run one subcommand and return its exit status."""
    args = build_parser().parse_args(arguments)
    # Each command reports its own failure in one line; warnings that the
    # layers below log on the way would repeat it.
    configure_logging("ERROR", None)
    try:
        if args.command == "login":
            return _login(args)
        if args.command == "logout":
            return _logout()
        if args.command == "status":
            return _status(args)
        if args.command == "prefetch":
            from toutvfs.prefetch import prefetch

            return prefetch(list(args.paths), pin=not args.no_pin)
        from toutvfs.prefetch import unpin

        return unpin(list(args.paths))
    except CommandError as exc:
        print(f"toutvfs {args.command}: {exc}", file=sys.stderr)
        return exc.status


class CommandError(Exception):
    """A failed subcommand, reported in one line with *status*."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def _login(args: argparse.Namespace) -> int:
    config = Config.for_emulator(args.emulator) if args.emulator else Config()
    path = credentials_path()
    try:
        if args.token:
            if sys.stdin.isatty():
                print("Paste the bearer token, then press Enter:", file=sys.stderr)
            stored = stored_from_token(sys.stdin.readline(), config)
        else:
            user = args.user or os.environ.get("TOUTVFS_USER") or input("E-mail: ")
            password = os.environ.get(ENV_PASSWORD)
            if password is None:
                password = getpass.getpass(f"TOU.TV password for {user}: ")
            stored = trio.run(log_in, config, user, password)
    except CredentialsError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except Error as exc:
        raise CommandError(f"login failed: {exc}") from None
    try:
        with credentials_locked(path):
            save_credentials(path, stored)
    except CredentialsError as exc:
        raise CommandError(f"cannot store the login: {exc}") from None
    until = (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stored.expires))
        if stored.expires is not None
        else "an unknown time"
    )
    print(
        f"toutvfs: logged in as {stored.user}; token stored in {path}, "
        f"valid until {until}"
    )
    return EXIT_OK


def _logout() -> int:
    path = credentials_path()
    try:
        stored = load_credentials(path)
    except CredentialsError:
        stored = None
    try:
        with credentials_locked(path):
            removed = remove_credentials(path)
    except CredentialsError as exc:
        raise CommandError(f"cannot log out: {exc}") from None
    if not removed:
        print(f"toutvfs: not logged in ({path} does not exist)")
        return EXIT_OK
    who = f" {stored.user}" if stored is not None else ""
    print(f"toutvfs: logged out{who}; deleted {path}")
    return EXIT_OK


def read_status(mountpoint: Path) -> dict[str, Any]:
    """Return the status record of the toutvfs mount at *mountpoint*.

    Raises:
        CommandError: the path is not a running toutvfs mount.
    """
    from toutvfs.fs.control import STATUS_NAME

    if not mountpoint.is_dir():
        raise CommandError(f"{mountpoint} does not exist or is not a directory")
    path = mountpoint / STATUS_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(
            f"{mountpoint} is not a toutvfs mount (no {STATUS_NAME})"
        ) from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        record: dict[str, Any] = json.loads(text)
    except ValueError:
        raise CommandError(f"{path} is not a status record") from None
    return record


def _mib(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MiB"


def format_status(record: dict[str, Any]) -> str:
    """Return the lines that ``toutvfs status`` prints for *record*."""
    uptime = int(record["uptime_seconds"])
    hours, rest = divmod(uptime, 3600)
    minutes, seconds = divmod(rest, 60)
    rate = record["hit_rate"]
    lookups = record["cache_hits"] + record["cache_misses"]
    hit_rate = "n/a (no lookups)" if rate is None else f"{rate:.1%} of {lookups}"
    lines = [
        f"mountpoint         {record['mountpoint']}",
        f"version            {record['version']} (pid {record['pid']})",
        f"uptime             {hours}:{minutes:02d}:{seconds:02d}",
        f"cache              {_mib(record['cache_bytes'])} of "
        f"{_mib(record['cache_limit'])}",
        f"cache hit rate     {hit_rate}",
        f"requests           {record['requests']} "
        f"({record['request_failures']} failed)",
        f"errors             {record['errors']}",
        f"open files         {record['open_files']}",
        f"fetches in flight  {record['fetches_in_flight']}",
    ]
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    record = read_status(Path(args.mountpoint))
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    else:
        print(format_status(record))
    return EXIT_OK
