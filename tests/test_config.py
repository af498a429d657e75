"""Config: defaults, precedence (flag > file > default), and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeserver.config import ConfigError, load_config


def test_defaults_with_no_config() -> None:
    config = load_config()
    assert (config.listen.host, config.listen.port) == ("127.0.0.1", 8008)
    assert config.server_name == "localhost"
    assert config.database_url == "sqlite:///data/homeserver.db"
    assert config.redis is None
    assert config.registration_open is True
    assert config.rate_limits.enabled is True


def test_flag_beats_file_beats_default(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server_name: file.example\nlisten: {port: 9000, host: 127.0.0.2}\n")
    config = load_config(str(path), {"listen.port": 9100, "listen.host": None})
    assert config.server_name == "file.example"
    assert config.listen.port == 9100
    assert config.listen.host == "127.0.0.2"


def test_registration_closed_by_default_off_loopback() -> None:
    assert load_config(None, {"listen.host": "0.0.0.0"}).registration_open is False
    assert load_config(None, {"listen.host": "::1"}).registration_open is True
    explicit = load_config(None, {"listen.host": "0.0.0.0", "registration.open": True})
    assert explicit.registration_open is True


@pytest.mark.parametrize(
    ("yaml_text", "names"),
    [
        ("bogus: 1\n", "bogus"),
        ("listen: {port: eighty}\n", "listen.port"),
        ("listen: {port: 70000}\n", "listen.port"),
        ("rate_limits: {login: {burst: 0}}\n", "rate_limits.login.burst"),
        ("registration: {open: maybe}\n", "registration.open"),
        ("limits: {max_body_byte: 5}\n", "limits.max_body_byte"),
        ("limits: {password_hash_threads: 0}\n", "limits.password_hash_threads"),
        ("database: mysql://x/y\n", "database"),
        ("redis: http://x\n", "redis"),
        ("federation: {endpoints: {b.example: ftp://b}}\n", "federation.endpoints.b.example"),
        ("server_name: 'bad name'\n", "server_name"),
        ("listen: {trusted_proxies: [10.0.0.0/33]}\n", "listen.trusted_proxies"),
        ("- a list\n", "mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, yaml_text: str, names: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        load_config(str(path))


def test_unreadable_file() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("/nonexistent/config.yaml")


def test_sample_config_is_valid_and_matches_defaults() -> None:
    sample = Path(__file__).parent.parent / "config.sample.yaml"
    config = load_config(str(sample))
    assert config == load_config()
