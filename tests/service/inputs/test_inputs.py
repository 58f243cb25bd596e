"""Inputs as the service starts them: from its configuration, all bound or none."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sentinelle.errors import ConfigError
from sentinelle.service.config import ServeConfig
from sentinelle.service.inputs import LIMITS_EXTRA, InputLimits, Inputs, InputsConfig
from sentinelle.service.journal import Journal
from sentinelle.service.runtime import Runtime, install
from tests.ports import free_port
from tests.service.harness import ServiceLoop

pytestmark = pytest.mark.network


@pytest.mark.django_db(transaction=True)
def test_the_service_configuration_gives_the_listeners(journal: Journal, tmp_path: Path) -> None:
    config = ServeConfig(
        syslog_udp=f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        syslog_tcp=f"127.0.0.1:{free_port(socket.SOCK_STREAM)}",
        syslog_tls="off",
        netflow=f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        watch_folder=str(tmp_path),
    )
    inputs = Inputs(config, journal)
    assert inputs.config.folder == tmp_path and inputs.config.syslog_tls is None
    service = ServiceLoop()
    runtime = Runtime(sink=journal)
    install(runtime)
    try:
        service.run(inputs.start())
        assert sorted(inputs.addresses) == ["netflow", "syslog-tcp", "syslog-udp"]
        assert all(port > 0 for _, port in inputs.addresses.values())
        assert runtime.extras[LIMITS_EXTRA] == InputLimits()  # for the HTTP ingest views
        service.run(inputs.stop(timeout=1))
    finally:
        install(None)
        service.close()


def test_a_listener_that_cannot_bind_leaves_none_bound(journal: Journal) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        free_udp = free_port(socket.SOCK_DGRAM)
        config = InputsConfig(syslog_udp=("127.0.0.1", free_udp), syslog_tcp=("127.0.0.1", port))
        service = ServiceLoop()
        try:
            with pytest.raises(ConfigError, match="syslog-tcp"):
                service.run(Inputs(config, journal).start())
        finally:
            service.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
            again.bind(("127.0.0.1", free_udp))  # the UDP listener was closed


def test_open_connections_is_one_series_in_the_services_multiprocess_metrics(
    tmp_path: Path,
) -> None:
    """``sentinelle serve`` counts in prometheus-client's multiprocess mode: the gauge must add
    up the live processes, not show one series per pid."""
    code = (
        "from sentinelle.service.inputs import metrics\n"
        "from prometheus_client import CollectorRegistry, generate_latest, multiprocess\n"
        "metrics.OPEN_CONNECTIONS.labels('syslog-tcp').inc(3)\n"
        "registry = CollectorRegistry()\n"
        f"multiprocess.MultiProcessCollector(registry, path={str(tmp_path)!r})\n"
        "print(generate_latest(registry).decode())\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert 'sentinelle_input_open_connections{input="syslog-tcp"} 3.0' in done.stdout
