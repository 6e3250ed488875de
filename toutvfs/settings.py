"""Command line layer: the config file and the ``-o`` option list.

Both set the same options as the command line, by their long names with
dashes or underscores (``cache-size`` or ``cache_size``). Precedence, first
wins: command-line options (``-o name=value`` counts as one), then the
config file, then the built-in defaults.

The config file is TOML, for example::

    cache_size = 4096
    versions = "highest"
    log_file = "~/.cache/toutvfs/toutvfs.log"
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

CONFIG_NAME = "config.toml"

# Options of mount(8) and fstab that mean nothing to a FUSE daemon; mount(8)
# may pass them on, and libfuse would reject them.
IGNORED_MOUNT_OPTIONS = frozenset(
    {"auto", "noauto", "user", "nouser", "users", "owner", "defaults", "_netdev"}
    | {"nofail", "rw"}
)

# Options that only the command line may give: they choose what runs.
COMMAND_LINE_ONLY = frozenset({"config", "help", "version", "targets"})


class SettingsError(Exception):
    """A config file or ``-o`` value that is invalid, reported in one line."""


def default_config_path() -> Path:
    """Return the config file read when ``--config`` is not given."""
    return Path(platformdirs.user_config_dir("toutvfs")) / CONFIG_NAME


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Map each settable option name (dest, underscores) to its action."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse has no public list of actions
        if action.option_strings and action.dest not in COMMAND_LINE_ONLY:
            found[action.dest] = action
    return found


def _convert(action: argparse.Action, raw: object, origin: str) -> object:
    """Return *raw* converted as the command line would convert it."""
    name = action.option_strings[-1]
    if action.nargs == 0:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {"1", "true", "yes", "on", ""}:
            return True
        if isinstance(raw, str) and raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{origin}: {name} takes true or false, not {raw!r}")
    if isinstance(action, argparse._AppendAction):
        items = raw if isinstance(raw, list) else [raw]
        return [_convert_one(action, item, origin, name) for item in items]
    return _convert_one(action, raw, origin, name)


def _convert_one(
    action: argparse.Action, raw: object, origin: str, name: str
) -> object:
    if isinstance(raw, bool | list | dict):
        raise SettingsError(f"{origin}: {name} takes one value, not {raw!r}")
    text = str(raw)
    convert = action.type if callable(action.type) else str
    try:
        value = convert(text)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise SettingsError(
            f"{origin}: invalid value {text!r} for {name}: {exc}"
        ) from None
    if action.choices is not None and value not in action.choices:
        allowed = ", ".join(str(choice) for choice in action.choices)
        raise SettingsError(f"{origin}: {name} must be one of {allowed}, not {text!r}")
    return value


def read_config(path: Path) -> dict[str, object]:
    """Return the top-level table of the TOML file *path*.

    Raises:
        SettingsError: the file cannot be read or is not valid TOML.
    """
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except OSError as exc:
        raise SettingsError(
            f"cannot read the config file {path}: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"the config file {path} is not valid TOML: {exc}"
        ) from None


def apply_config(
    parser: argparse.ArgumentParser, values: dict[str, object], origin: str
) -> None:
    """Make *values* the parser's defaults, converted and checked.

    Raises:
        SettingsError: an unknown key or an invalid value.
    """
    actions = _actions(parser)
    defaults: dict[str, object] = {}
    for key, raw in values.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None:
            raise SettingsError(f"{origin}: unknown option {key!r}")
        defaults[dest] = _convert(action, raw, origin)
    parser.set_defaults(**defaults)


@dataclass
class MountOptions:
    """What a list of ``-o`` arguments contains.

    Attributes:
        fuse: options passed to libfuse as they are, such as ``allow_other``.
        toutvfs: toutvfs options by dest, converted, such as ``cache_size``.
        ignored: mount(8) options that were dropped, for a debug message.
    """

    fuse: list[str] = field(default_factory=list)
    toutvfs: dict[str, object] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def split_mount_options(
    parser: argparse.ArgumentParser, arguments: Iterable[str]
) -> MountOptions:
    """Sort ``-o`` arguments into toutvfs options and FUSE options.

    An item whose name is a toutvfs option sets it; an item in
    `IGNORED_MOUNT_OPTIONS` or starting with ``x-`` or ``comment=`` is
    dropped; anything else goes to libfuse, which rejects what it does not
    know when the mount starts.
    """
    actions = _actions(parser)
    result = MountOptions()
    for argument in arguments:
        for item in argument.split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            dest = name.replace("-", "_")
            if item in IGNORED_MOUNT_OPTIONS:
                # Bare "user" is mount(8)'s; "user=EMAIL" is the toutvfs option.
                result.ignored.append(item)
            elif dest in actions and dest != "options":
                origin = f"-o {item}"
                raw: object = value if "=" in item else True
                if actions[dest].nargs != 0 and "=" not in item:
                    raise SettingsError(f"{origin}: {name} needs a value ({name}=...)")
                converted = _convert(actions[dest], raw, origin)
                if isinstance(converted, list):
                    previous = result.toutvfs.get(dest, [])
                    assert isinstance(previous, list)
                    converted = previous + converted
                result.toutvfs[dest] = converted
            elif item.startswith("x-") or item.startswith("comment="):
                result.ignored.append(item)
            else:
                result.fuse.append(item)
    return result
