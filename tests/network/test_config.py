"""Network settings from YAML: defaults, overrides, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.errors import ConfigError
from sentinelle.network.config import NetworkConfig, dump_config, load_config, parse_config


def test_no_file_means_the_defaults() -> None:
    assert load_config(None) == NetworkConfig()
    assert parse_config("") == NetworkConfig()


def test_overrides_at_top_level_or_under_network() -> None:
    text = """
window_seconds: 60
internal_networks: [10.0.0.0/8, 2001:db8::/32]
flood:
  floor_pps: 5e4
  top: 10
baseline:
  timezone: UTC
"""
    config = parse_config(text)
    assert config.window_seconds == 60.0
    assert config.internal_networks == ("10.0.0.0/8", "2001:db8::/32")
    assert (config.flood.floor_pps, config.flood.top) == (50_000.0, 10)
    assert config.flood.floor_bps == NetworkConfig().flood.floor_bps  # untouched default
    nested = parse_config("network:\n" + "".join(f"  {line}\n" for line in text.splitlines()))
    assert nested == config


def test_dump_then_load_gives_the_same_settings(tmp_path: Path) -> None:
    path = tmp_path / "network.yaml"
    path.write_text(dump_config(NetworkConfig()), encoding="utf-8")
    assert load_config(path) == NetworkConfig()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("flood:\n  floor_pss: 10\n", 2, "unknown setting 'flood.floor_pss'"),
        ("flood:\n  top: many\n", 2, "flood.top: expected a whole number"),
        ("flood:\n  top: 2.5\n", 2, "flood.top: expected a whole number"),
        ("step_seconds: 0\n", 1, "step_seconds: must be > 0"),
        ("baseline:\n  alpha: 1.5\n", 2, "baseline.alpha: must be at most 1"),
        ("flood:\n  floor_pps: true\n", 2, "flood.floor_pps: expected a number"),
        ("baseline:\n  timezone: Mars/Olympus\n", 2, "unknown time zone"),
        ("internal_networks: [10.0.0.0/33]\n", 1, "internal_networks:"),
        ("flood: 3\n", 1, "flood: expected a mapping"),
        ("flood: [1\n", 2, "not valid YAML"),
        ("scan:\n  min_ports: 5\nscan:\n  min_ports: 6\n", 3, "given twice"),
    ],
)
def test_errors_name_the_line_and_the_key(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "net.yaml")
    assert caught.value.location is not None
    assert (caught.value.location.source, caught.value.location.line) == ("net.yaml", line)
    assert message in caught.value.message


def test_window_must_hold_a_step() -> None:
    with pytest.raises(ConfigError, match="at least step_seconds"):
        parse_config("step_seconds: 10\nwindow_seconds: 5\n")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.yaml")
    assert caught.value.location is not None


def test_a_time_zone_the_system_does_not_know_is_a_config_error() -> None:
    from dataclasses import replace

    from sentinelle.network.config import BaselineConfig
    from sentinelle.network.detect import NetworkDetector

    config = replace(NetworkConfig(), baseline=BaselineConfig(timezone="Mars/Olympus"))
    with pytest.raises(ConfigError, match="unknown time zone"):
        NetworkDetector(config)
