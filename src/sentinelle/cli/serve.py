"""``sentinelle serve``: the live service (listeners, journal, detection, store, web API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="YAML settings over the embedded defaults.", metavar="FILE"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Data folder: journal, SQLite store, keys (default: $SENTINELLE_DATA_DIR).",
            metavar="DIR",
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http", help="Web API and ingest (default 127.0.0.1:8080).", metavar="HOST:PORT"
        ),
    ] = None,
    syslog_udp: Annotated[
        str | None,
        typer.Option("--syslog-udp", help="Syslog over UDP, or off.", metavar="HOST:PORT"),
    ] = None,
    syslog_tcp: Annotated[
        str | None,
        typer.Option("--syslog-tcp", help="Syslog over TCP, or off.", metavar="HOST:PORT"),
    ] = None,
    syslog_tls: Annotated[
        str | None,
        typer.Option(
            "--syslog-tls", help="Syslog over TLS (RFC 5425), or off.", metavar="HOST:PORT"
        ),
    ] = None,
    syslog_relp: Annotated[
        str | None,
        typer.Option(
            "--syslog-relp",
            help="Syslog over RELP (rsyslog's omrelp; each message answered once durable), or off.",
            metavar="HOST:PORT",
        ),
    ] = None,
    syslog_relp_tls: Annotated[
        str | None,
        typer.Option(
            "--syslog-relp-tls",
            help="Syslog over RELP over TLS (omrelp's tls=\"on\"; the --config file's "
            "tls_certificate and tls_key), or off.",
            metavar="HOST:PORT",
        ),
    ] = None,
    netflow: Annotated[
        str | None,
        typer.Option(
            "--netflow", help="NetFlow v5/v9 and IPFIX over UDP, or off.", metavar="HOST:PORT"
        ),
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules",
            "-r",
            help="Rule file or folder (repeatable), as in `hunt`; `sigmahq` names the downloaded "
            "set. Default: the shipped rules, config.yml's folders and the SigmaHQ set.",
            metavar="PATH",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Hospital model (default: the worked example).", metavar="FILE"
        ),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print every setting with its value and exit.")
    ] = False,
) -> None:
    """Run the service: detect the hospital's logs as they arrive, and lose none.

    Stops on SIGTERM or Ctrl-C (draining what was accepted); SIGHUP loads the rules again.
    """
    from sentinelle.service.config import load_config, with_overrides

    config = with_overrides(
        load_config(config_file),
        data_dir=str(data_dir) if data_dir is not None else None,
        http=http,
        syslog_udp=syslog_udp,
        syslog_tcp=syslog_tcp,
        syslog_tls=syslog_tls,
        syslog_relp=syslog_relp,
        syslog_relp_tls=syslog_relp_tls,
        netflow=netflow,
        rules=rules or None,
        model=str(model) if model is not None else None,
    )
    if print_config:
        from sentinelle.service.config import dump_config

        typer.echo(dump_config(config), nl=False)
        return
    from sentinelle.service.runner import prepare_metrics

    prepare_metrics(config.data_path())  # before anything imports prometheus_client
    from sentinelle.service.runner import serve as run_service

    run_service(config)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
