"""Emulator layer: read a catalogue file (JSON or TOML) into a `Catalogue`.

docs/emulator.md documents the format. Every error names the file and the
place in it (``shows[2].seasons[0].episodes[1].tier``) and says what was
expected.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from toutvfs.emulator.faults import Fault
from toutvfs.emulator.media import MediaProfile, Variant
from toutvfs.emulator.model import (
    MEDIA_TYPES,
    MODES,
    RESTRICTIONS,
    SECTION_KINDS,
    SHOW_KINDS,
    TIERS,
    Account,
    Catalogue,
    Episode,
    Season,
    Section,
    Settings,
    Show,
)
from toutvfs.emulator.shaping import Shaping

DEMO_RESOURCE = "demo.toml"


class CatalogueError(ValueError):
    """A catalogue file is missing, unreadable or invalid."""


def load_demo() -> Catalogue:
    """Return the demo catalogue that ships with the package."""
    text = resources.files("toutvfs.emulator").joinpath(DEMO_RESOURCE).read_text()
    return parse(tomllib.loads(text), DEMO_RESOURCE, Path("."))


def load(path: Path | str) -> Catalogue:
    """Read the catalogue file at *path*; ``.json`` is JSON, anything else TOML.

    Raises:
        CatalogueError: the file cannot be read or is not a valid catalogue.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"invalid catalogue {path}: {exc}") from exc
    return parse(data, str(path), path.parent)


class _Reader:
    """Typed access to one table of the file, with the place for errors."""

    def __init__(self, data: Any, where: str, source: str) -> None:
        if not isinstance(data, dict):
            raise CatalogueError(f"{source}: {where} must be a table")
        self.data: dict[str, Any] = data
        self.where = where
        self.source = source
        self._known: set[str] = set()

    def fail(self, key: str, message: str) -> CatalogueError:
        place = f"{self.where}.{key}" if self.where else key
        return CatalogueError(f"{self.source}: {place}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self._known.add(key)
        value = self.data.get(key, default)
        if value is None:
            return default
        # bool is an int in Python, but not a number in a catalogue file.
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {_kind_name(kind)}, got {value!r}")
        return value

    def require(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            raise self.fail(key, "missing")
        return self.get(key, kind)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value: str = self.get(key, str, default)
        if value not in choices:
            raise self.fail(key, f"expected one of {', '.join(choices)}; got {value!r}")
        return value

    def children(self, key: str) -> list[_Reader]:
        items = self.get(key, list, [])
        return [
            _Reader(item, f"{self.where}.{key}[{i}]".lstrip("."), self.source)
            for i, item in enumerate(items)
        ]

    def check_unknown(self) -> None:
        unknown = set(self.data) - self._known
        if unknown:
            raise self.fail(sorted(unknown)[0], "unknown key")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names |= {list: "a list", dict: "a table"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def parse(data: Any, source: str, base_dir: Path) -> Catalogue:
    """Build a `Catalogue` from the decoded content of a catalogue file."""
    root = _Reader(data, "", source)
    profiles = {"default": MediaProfile()}
    profile_table = root.get("profiles", dict, {})
    for name, table in profile_table.items():
        profiles[name] = _profile(_Reader(table, f"profiles.{name}", source))
    settings = _settings(_Reader(root.get("settings", dict, {}), "settings", source))
    accounts = [_account(r) for r in root.children("accounts")]
    shows: dict[str, Show] = {}
    for reader in root.children("shows"):
        show = _show(reader, profiles, base_dir)
        if show.slug in shows:
            raise reader.fail("slug", f"duplicate show slug {show.slug!r}")
        shows[show.slug] = show
    sections = [_section(r) for r in root.children("sections")]
    faults = [_fault(r) for r in root.children("faults")]
    shaping = [_shaping(r) for r in root.children("shaping")]
    root.check_unknown()
    try:
        return Catalogue(sections, shows, accounts, faults, shaping, settings)
    except ValueError as exc:
        raise CatalogueError(f"{source}: {exc}") from exc


def _profile(reader: _Reader) -> MediaProfile:
    variants = tuple(
        Variant(
            width=v.require("width", int),
            height=v.require("height", int),
            bitrate=v.require("bitrate", int),
        )
        for v in reader.children("variants")
    )
    profile = MediaProfile(
        duration=float(reader.get("duration", (int, float), 60.0)),
        segment_duration=reader.get("segment_duration", int, 5),
        first_sequence=reader.get("first_sequence", int, 4816),
        fps=reader.get("fps", int, 25),
        tone=reader.get("tone", int, 440),
        variants=variants or MediaProfile().variants,
    )
    reader.check_unknown()
    if not 1 <= len(profile.variants) <= 4:
        raise reader.fail("variants", "a profile has 1 to 4 variants")
    if profile.duration <= 0 or profile.segment_duration <= 0:
        raise reader.fail("duration", "durations must be positive")
    return profile


def _settings(reader: _Reader) -> Settings:
    defaults = Settings()
    settings = Settings(
        token_lifetime=float(
            reader.get("token_lifetime", (int, float), defaults.token_lifetime)
        ),
        signed_url_lifetime=float(
            reader.get(
                "signed_url_lifetime", (int, float), defaults.signed_url_lifetime
            )
        ),
        strict_cookies=reader.get("strict_cookies", bool, False),
        max_page_size=reader.get("max_page_size", int, defaults.max_page_size),
    )
    reader.check_unknown()
    return settings


def _account(reader: _Reader) -> Account:
    account = Account(
        email=reader.require("email", str),
        password=reader.require("password", str),
        tier=reader.choice("tier", TIERS, "Member"),
        first_name=reader.get("first_name", str, "Test"),
        last_name=reader.get("last_name", str, "Compte"),
    )
    reader.check_unknown()
    return account


def _episode(
    reader: _Reader,
    profiles: dict[str, MediaProfile],
    base_dir: Path,
    tier: str,
    media_type: str,
) -> Episode:
    profile_name = reader.get("profile", str, "default")
    if profile_name not in profiles:
        raise reader.fail("profile", f"unknown profile {profile_name!r}")
    mode = reader.get("mode", str, "aes")
    restriction = reader.choice("restriction", RESTRICTIONS, "none")
    # The refusals may be written as a mode, for short.
    if mode in RESTRICTIONS[1:]:
        restriction, mode = mode, "aes"
    if mode not in MODES:
        raise reader.fail(
            "mode", f"expected one of {', '.join(MODES + RESTRICTIONS[1:])}"
        )
    media_dir = reader.get("media_dir", str)
    episode = Episode(
        id_media=reader.require("id_media", int),
        title=reader.require("title", str),
        number=reader.get("number", int, 0 if media_type != "Episode" else 1),
        description=reader.get("description", str),
        tier=reader.choice("tier", TIERS, tier),
        duration=reader.get("duration", int),
        air_date=reader.get("air_date", str, "2024-01-01"),
        media_type=reader.choice("media_type", MEDIA_TYPES, media_type),
        mode=mode,
        restriction=restriction,
        profile=profiles[profile_name],
        media_dir=(base_dir / media_dir) if media_dir else None,
        faults=[_fault(r) for r in reader.children("faults")],
        shaping=_shaping(_Reader(reader.get("shaping", dict), "shaping", reader.source))
        if reader.get("shaping", dict)
        else None,
    )
    reader.check_unknown()
    if (
        episode.media_dir is not None
        and not (episode.media_dir / "master.m3u8").is_file()
    ):
        raise reader.fail("media_dir", f"{episode.media_dir} has no master.m3u8")
    return episode


def _show(reader: _Reader, profiles: dict[str, MediaProfile], base_dir: Path) -> Show:
    slug = reader.require("slug", str)
    if not slug or "/" in slug:
        raise reader.fail("slug", "a slug is not empty and has no '/'")
    tier = reader.choice("tier", TIERS, "Member")
    kind = reader.choice("kind", SHOW_KINDS, "series")
    seasons: list[Season] = []
    for season_reader in reader.children("seasons"):
        season_tier = season_reader.choice("tier", TIERS, tier)
        episodes = [
            _episode(r, profiles, base_dir, season_tier, "Episode")
            for r in season_reader.children("episodes")
        ]
        seasons.append(
            Season(
                number=season_reader.require("number", int),
                episodes=episodes,
                title=season_reader.get("title", str, ""),
                tier=season_tier,
            )
        )
        season_reader.check_unknown()
    film = trailer = None
    if reader.get("film", dict):
        film = _episode(
            _Reader(reader.get("film", dict), f"{reader.where}.film", reader.source),
            profiles,
            base_dir,
            tier,
            "Film",
        )
    if reader.get("trailer", dict):
        trailer = _episode(
            _Reader(
                reader.get("trailer", dict), f"{reader.where}.trailer", reader.source
            ),
            profiles,
            base_dir,
            "Standard",
            "Trailer",
        )
    show = Show(
        slug=slug,
        title=reader.require("title", str),
        description=reader.get("description", str),
        tier=tier,
        kind=kind,
        genre=reader.get("genre", str, "Drames"),
        seasons=seasons,
        film=film,
        trailer=trailer,
        search_type=reader.choice("search_type", ("Show", "Season"), "Show"),
        production_year=reader.get("production_year", int, 2024),
    )
    reader.check_unknown()
    if kind == "film" and (film is None or seasons):
        raise reader.fail("film", "a film has a film table and no seasons")
    if kind == "series" and film is not None:
        raise reader.fail("film", "only a show of kind film has a film table")
    return show


def _section(reader: _Reader) -> Section:
    section = Section(
        slug=reader.require("slug", str),
        title=reader.require("title", str),
        kind=reader.choice("kind", SECTION_KINDS, "format"),
        shows=list(reader.get("shows", list, [])),
    )
    reader.check_unknown()
    return section


def _fault(reader: _Reader) -> Fault:
    fields: dict[str, Any] = {"kind": reader.require("kind", str)}
    numbers: dict[str, type | tuple[type, ...]] = {
        "id_media": int,
        "first": int,
        "probability": (int, float),
        "seed": int,
        "status": int,
        "retry_after": int,
        "after_bytes": int,
        "stall_seconds": (int, float),
        "trickle_rate": int,
        "truncate_to": int,
        "key_length": int,
    }
    for key, kind in numbers.items():
        value = reader.get(key, kind)
        if value is not None:
            fields[key] = value
    fields["endpoint"] = reader.get("endpoint", str, "*")
    reader.check_unknown()
    try:
        return Fault(**fields)
    except ValueError as exc:
        raise reader.fail("kind", str(exc)) from exc


def _shaping(reader: _Reader) -> Shaping:
    try:
        shaping = Shaping(
            endpoint=reader.get("endpoint", str, "*"),
            id_media=reader.get("id_media", int),
            latency=float(reader.get("latency", (int, float), 0.0)),
            rate=reader.get("rate", int),
        )
    except ValueError as exc:
        raise reader.fail("endpoint", str(exc)) from exc
    reader.check_unknown()
    return shaping
