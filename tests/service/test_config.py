"""The service's settings: defaults, the file over them (errors with file:line), flags on top."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinelle.errors import ConfigError
from sentinelle.service.config import ServeConfig, load_config, parse_config, with_overrides
from tests.ports import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "serve.example.yml"


def test_the_documented_example_loads_and_routes_critical_alerts_off_email() -> None:
    config = load_config(EXAMPLE)
    critical = [r for r in config.notifications.routes if r.min_level == "critical"]
    assert critical
    assert all(not url.startswith(("mailto", "mailtos")) for r in critical for url in r.urls)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("http: 127.0.0.1:8080\nsyslg_tcp: off\n", ":2:", "unknown setting 'syslg_tcp'"),
        ("syslog_tcp: 127.0.0.1:70000\n", ":1:", "out of range"),
        ("netflow: nowhere\n", ":1:", "expected HOST:PORT"),
        ("journal:\n  max_bytes: -1\n", ":2:", "must be > 0"),
        ("detector:\n  incident_level: urgent\n", ":2:", "incident_level"),
        ("notifications:\n  routes:\n    - {name: a}\n", ":3:", "needs a name and at least one"),
        ("notifications:\n  routes: x\n", ":2:", "expected a list"),
        ("rules: [a, [b]]\n", ":1:", "list of strings"),
        ("inputs:\n  max_connections: 0\n", ":2:", "inputs.max_connections: must be > 0"),
        ("inputs:\n  udp_linger: -1\n", ":2:", "inputs.udp_linger: must be >= 0"),
        ("inputs:\n  max_datagram_bytes: 70000\n", ":2:", "cannot exceed 65535"),
        ("inputs:\n  max_connectoins: 9\n", ":2:", "unknown setting 'inputs.max_connectoins'"),
        ("tls_client_ca: ca.pem\n", ":", "needs tls_certificate and tls_key"),
    ],
)
def test_bad_settings_name_the_file_and_line(text: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "serve.yml")
    assert f"serve.yml{where}" in str(caught.value) and message in str(caught.value)


def test_every_input_limit_and_the_client_ca_reach_the_inputs() -> None:
    """Each cap of ``InputLimits`` is settable in the file and is what the listeners get."""
    import dataclasses

    from sentinelle.service.inputs import InputLimits, InputsConfig

    defaults = dataclasses.asdict(InputLimits())
    changed = {
        name: (value * 2 if name != "max_datagram_bytes" else 1500)
        for name, value in defaults.items()
    }
    text = "\n".join(
        [
            "syslog_tls: 127.0.0.1:6514",
            "tls_certificate: /etc/s/cert.pem",
            "tls_key: /etc/s/key.pem",
            "tls_client_ca: /etc/s/ca.pem",
            "inputs:",
            *(f"  {name}: {value}" for name, value in changed.items()),
        ]
    )
    inputs = InputsConfig.from_serve(parse_config(text))
    assert dataclasses.asdict(inputs.limits) == changed
    assert inputs.tls is not None and inputs.tls.client_ca == Path("/etc/s/ca.pem")
    assert InputsConfig.from_serve(ServeConfig()).limits == InputLimits()


def test_relp_over_tls_takes_the_tls_files_and_needs_them() -> None:
    from sentinelle.service.inputs import InputsConfig

    text = "syslog_relp_tls: 0.0.0.0:2515\ntls_certificate: /s/cert.pem\ntls_key: /s/key.pem\n"
    inputs = InputsConfig.from_serve(parse_config(text))
    assert inputs.syslog_relp_tls == ("0.0.0.0", 2515) and inputs.syslog_tls is None
    assert inputs.tls is not None and inputs.tls.cert == Path("/s/cert.pem")
    with pytest.raises(ConfigError, match="RELP over TLS listener needs a certificate and a key"):
        InputsConfig.from_serve(parse_config("syslog_relp_tls: 127.0.0.1:2515\n"))
    with pytest.raises(ConfigError, match=r"serve\.yml:1: syslog_relp_tls: expected HOST:PORT"):
        parse_config("syslog_relp_tls: nowhere\n", "serve.yml")
    with pytest.raises(ConfigError, match=r"--syslog-relp-tls"):
        with_overrides(ServeConfig(), syslog_relp_tls="nowhere")
    assert with_overrides(ServeConfig(), syslog_relp_tls="off").address("syslog_relp_tls") is None


def test_flags_override_the_file() -> None:
    config = with_overrides(parse_config("http: 0.0.0.0:80\n"), http="127.0.0.1:9", rules=["x"])
    assert config.http == "127.0.0.1:9" and config.rules == ("x",)
    assert config.address("syslog_tls") is None
    with pytest.raises(ConfigError, match="--netflow"):
        with_overrides(ServeConfig(), netflow="2055")


def test_print_config_shows_every_setting(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentinelle.cli.main",
            "serve",
            "--print-config",
            "--data-dir",
            str(tmp_path),
            "--syslog-udp",
            "off",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    shown = parse_config(done.stdout.replace(f"data_dir: {tmp_path}", "data_dir: ''"))
    assert shown.syslog_udp == "off" and shown.http == "127.0.0.1:8080"
    assert "min_free_bytes" in done.stdout and "routes" in done.stdout
    assert shown == ServeConfig(
        data_dir="", syslog_udp="off", model=shown.model
    )  # every setting, read back as it was
    names = (
        "max_connections_per_source",
        "refused_lines_listed",
        "tls_client_ca",
        "syslog_relp_tls",
    )
    for name in names:
        assert f"{name}:" in done.stdout


@pytest.mark.parametrize("flag", ["--syslog-tls", "--syslog-relp-tls"])
def test_a_tls_listener_without_its_files_stops_the_service_before_it_starts(
    tmp_path: Path, flag: str
) -> None:
    """Refused with the reason alone: nothing started (a detector spawned before the check
    died with a traceback when the service exited under it)."""
    command = [sys.executable, "-m", "sentinelle.cli.main", "serve", "--data-dir", str(tmp_path)]
    done = subprocess.run(
        [
            *command,
            "--http",
            f"127.0.0.1:{free_port()}",
            "--syslog-udp",
            "off",
            flag,
            f"127.0.0.1:{free_port()}",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "needs a certificate and a key" in done.stderr
    assert "Traceback" not in done.stderr and "detector.spawned" not in done.stderr
    assert not (tmp_path / "journal").exists()
