"""Client layer: the `Config` of a client, with the user's overrides applied.

Overrides come from two places, later ones winning:

1. ``config.toml`` in the platformdirs user config directory of ``toutvfs``
   (on Linux ``~/.config/toutvfs/config.toml``), or the file named by
   ``$TOUTVFS_CONFIG``. Keys are `Config` field names, for example
   ``api_base = "https://..."`` or ``page_size = 50``.
2. Environment variables ``TOUTVFS_<FIELD>``, such as ``TOUTVFS_API_BASE``
   or ``TOUTVFS_PAGE_SIZE``. Dict and tuple fields take JSON.

``emulator_url`` in the file, or ``$TOUTVFS_EMULATOR_URL``, starts from
`Config.for_emulator` instead of the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs

from toutvfs.client.redact import redacted_logger
from toutvfs.config import Config

log = redacted_logger(__name__)

ENV_PREFIX = "TOUTVFS_"
CONFIG_FILE_VARIABLE = "TOUTVFS_CONFIG"
EMULATOR_KEY = "emulator_url"
CONFIG_FILE_NAME = "config.toml"

_FIELDS = {item.name: item for item in dataclasses.fields(Config)}


def config_file(env: Mapping[str, str] | None = None) -> Path | None:
    """Return the configuration file to read, or None when there is none."""
    environ = os.environ if env is None else env
    explicit = environ.get(CONFIG_FILE_VARIABLE)
    if explicit:
        return Path(explicit)
    try:
        return Path(platformdirs.user_config_dir("toutvfs")) / CONFIG_FILE_NAME
    except (KeyError, RuntimeError, OSError):
        return None


def _convert(name: str, value: Any, source: str) -> Any:
    """Return *value* as the type of the `Config` field *name*."""
    kind = str(_FIELDS[name].type)
    try:
        if kind == "str":
            if not isinstance(value, str):
                raise TypeError("expected a string")
            return value
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        parsed = json.loads(value) if isinstance(value, str) else value
        if kind.startswith("dict"):
            if not isinstance(parsed, dict):
                raise TypeError("expected a table or a JSON object")
            return {str(key): str(item) for key, item in parsed.items()}
        if kind.startswith("tuple"):
            if not isinstance(parsed, list | tuple):
                raise TypeError("expected a list or a JSON array")
            return tuple(str(item) for item in parsed)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid value for {name} in {source}: {exc}") from exc
    raise ValueError(f"{name} in {source} cannot be overridden (type {kind})")


def load_config(
    env: Mapping[str, str] | None = None, path: Path | None = None
) -> Config:
    """Return the defaults with the configuration file and environment applied.

    Raises:
        ValueError: a key is not a `Config` field or a value has the wrong
            type; the message names the key and where it came from.
    """
    environ = os.environ if env is None else env
    overrides: dict[str, Any] = {}
    emulator: str | None = None

    file_path = path if path is not None else config_file(environ)
    if file_path is not None and file_path.is_file():
        try:
            table = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(
                f"cannot read configuration file {file_path}: {exc}"
            ) from exc
        source = f"configuration file {file_path}"
        for key, value in table.items():
            if key == EMULATOR_KEY:
                emulator = str(value)
            elif key in _FIELDS:
                overrides[key] = _convert(key, value, source)
            else:
                raise ValueError(f"unknown key {key!r} in {source}")

    for name in _FIELDS:
        variable = ENV_PREFIX + name.upper()
        if variable in environ:
            overrides[name] = _convert(name, environ[variable], variable)
    if ENV_PREFIX + EMULATOR_KEY.upper() in environ:
        emulator = environ[ENV_PREFIX + EMULATOR_KEY.upper()]

    config = Config.for_emulator(emulator) if emulator else Config()
    if overrides:
        log.debug("configuration overrides: %s", ", ".join(sorted(overrides)))
        config = config.with_overrides(**overrides)
    return config
