"""Unit tests of the config file and ``-o`` handling of the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from toutvfs.cli import UsageError, build_parser, parse_mount_arguments
from toutvfs.settings import SettingsError, apply_config, split_mount_options


def test_config_file_sets_defaults(tmp_path: Path, home: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('cache-size = 4096\nversions = "highest"\nforeground = true\n')
    args = parse_mount_arguments(["--config", str(config), "/mnt"])
    assert args.cache_size == 4096
    assert args.versions == "highest"
    assert args.foreground is True
    assert args.mountpoint == "/mnt"


def test_command_line_wins_over_config(tmp_path: Path, home: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("cache_size = 4096\nreadahead = 3\n")
    args = parse_mount_arguments(
        ["--config", str(config), "--cache-size", "10", "/mnt"]
    )
    assert args.cache_size == 10
    assert args.readahead == 3


def test_default_config_file_is_read(home: Path) -> None:
    path = home / "config" / "toutvfs" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("dir_ttl = 5\n")
    args = parse_mount_arguments(["/mnt"])
    assert args.dir_ttl == 5.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cache_size = 0\n", "invalid value '0' for --cache-size"),
        ("colour = 1\n", "unknown option 'colour'"),
        ('log_level = "LOUD"\n', "--log-level must be one of"),
        ("cache_size = [1, 2]\n", "--cache-size takes one value"),
        ("cache_size = \n", "is not valid TOML"),
        ('no_cache = "maybe"\n', "--no-cache takes true or false"),
    ],
)
def test_config_file_errors(
    tmp_path: Path, home: Path, text: str, message: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(UsageError) as caught:
        parse_mount_arguments(["--config", str(config), "/mnt"])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_config_file_is_an_error(tmp_path: Path, home: Path) -> None:
    with pytest.raises(UsageError) as caught:
        parse_mount_arguments(["--config", str(tmp_path / "absent.toml"), "/mnt"])
    assert "cannot read the config file" in str(caught.value)


def test_mount_options_split() -> None:
    parser = build_parser()
    options = split_mount_options(
        parser,
        ["allow_other,cache_size=512,noauto,user", "versions=720,x-systemd.automount"],
    )
    assert options.fuse == ["allow_other"]
    assert options.toutvfs == {"cache_size": 512, "versions": "720"}
    assert options.ignored == ["noauto", "user", "x-systemd.automount"]


def test_mount_option_flags_and_lists() -> None:
    parser = build_parser()
    options = split_mount_options(
        parser, ["foreground,no-cache=false,hls=http://a/x.m3u8,hls=http://b/y.m3u8"]
    )
    assert options.toutvfs == {
        "foreground": True,
        "no_cache": False,
        "hls": ["http://a/x.m3u8", "http://b/y.m3u8"],
    }


def test_mount_option_needs_value() -> None:
    with pytest.raises(SettingsError) as caught:
        split_mount_options(build_parser(), ["cache_size"])
    assert (
        str(caught.value) == "-o cache_size: cache_size needs a value (cache_size=...)"
    )


def test_o_options_apply_to_args(home: Path) -> None:
    args = parse_mount_arguments(
        ["toutvfs", "/mnt", "-o", "rw,default_permissions,allow_other,readahead=2"]
    )
    assert args.readahead == 2
    assert args.fuse_options == ("default_permissions", "allow_other")
    assert args.mountpoint == "/mnt"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nfs", "/mnt"], "unknown source 'nfs'"),
        (["a", "b", "c"], "expected [SOURCE] MOUNTPOINT"),
        (["--demo", "--hls", "http://x/m.m3u8", "/mnt"], "exclude each other"),
    ],
)
def test_target_errors(home: Path, argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_mount_arguments(argv)
    assert message in str(caught.value)


def test_demo_source_sets_demo(home: Path) -> None:
    args = parse_mount_arguments(["demo", "/mnt"])
    assert args.demo is True


def test_apply_config_converts_types() -> None:
    parser = build_parser()
    apply_config(parser, {"dir-ttl": "2.5", "debug_http": True}, "test")
    args = parser.parse_args(["/mnt"])
    assert args.dir_ttl == 2.5
    assert args.debug_http is True


def test_help_states_units_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fragment in (
        "in MiB (default: 2048)",
        "in seconds (default: 1800)",
        "(default: all)",
        "ahead of a sequential reader (default: 8)",
        "have their own limit of 32 (default: 8)",
        "(default: INFO)",
        "Credentials are taken from the first of:",
        "3. the file that `toutvfs login` stores",
    ):
        assert fragment in text
