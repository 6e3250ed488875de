"""Client tests: configuration overrides from the file and the environment."""

from __future__ import annotations

import pytest

from toutvfs.client.settings import config_file, load_config
from toutvfs.config import Config


def test_defaults_without_overrides(tmp_path):
    assert load_config(env={}, path=tmp_path / "absent.toml") == Config()


def test_file_overrides(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        'api_base = "https://api.example.test"\n'
        "page_size = 25\n"
        "signed_url_ttl = 60\n"
        'scopes = ["openid"]\n'
        "[validation_params]\n"
        'tech = "hls"\n',
        encoding="utf-8",
    )
    config = load_config(env={}, path=path)
    assert config.api_base == "https://api.example.test"
    assert config.page_size == 25
    assert config.signed_url_ttl == 60.0
    assert config.scopes == ("openid",)
    assert config.validation_params == {"tech": "hls"}
    assert config.app_code == "toutv"


def test_environment_wins_over_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("page_size = 25\n", encoding="utf-8")
    env = {"TOUTVFS_PAGE_SIZE": "7", "TOUTVFS_SCOPES": '["a", "b"]'}
    config = load_config(env=env, path=path)
    assert config.page_size == 7
    assert config.scopes == ("a", "b")


def test_emulator_url(tmp_path):
    env = {"TOUTVFS_EMULATOR_URL": "http://127.0.0.1:9999/"}
    config = load_config(env=env, path=tmp_path / "absent.toml")
    assert config == Config.for_emulator("http://127.0.0.1:9999")


def test_emulator_url_in_file_with_override(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        'emulator_url = "http://127.0.0.1:8000"\nuser_agent = "x/1"\n', encoding="utf-8"
    )
    config = load_config(env={}, path=path)
    assert config.api_base == "http://127.0.0.1:8000"
    assert config.user_agent == "x/1"


def test_config_file_from_environment(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("page_size = 3\n", encoding="utf-8")
    env = {"TOUTVFS_CONFIG": str(path)}
    assert config_file(env) == path
    assert load_config(env=env).page_size == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "unknown key 'colour'"),
        ('page_size = "many"\n', "invalid value for page_size"),
        ("api_base = 3\n", "invalid value for api_base"),
        ("validation_params = 3\n", "invalid value for validation_params"),
        ("page_size = \n", "cannot read configuration file"),
    ],
)
def test_invalid_file_names_key(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_config(env={}, path=path)


def test_invalid_environment_names_variable(tmp_path):
    with pytest.raises(ValueError, match="TOUTVFS_PAGE_SIZE"):
        load_config(env={"TOUTVFS_PAGE_SIZE": "x"}, path=tmp_path / "absent.toml")
