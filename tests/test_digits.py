"""Digits that ``int`` refuses, wherever text meets ``int``: '²' and '①' pass ``str.isdigit``
and make ``int`` raise, so a check by ``isdigit`` let one character of a log line, a request,
a form or a configuration file stop the work with a ValueError (an internal error, a 500). The
checks use ``isdecimal``, exactly the characters ``int`` reads."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from sentinelle.errors import SentinelleError
from sentinelle.hospital import example_model_path, load_model
from sentinelle.hospital.probes import _split_host_port
from sentinelle.network.collector import parse_listen
from sentinelle.network.flow import _proto_field
from sentinelle.service.config import parse_address
from sentinelle.service.journal import SEGMENT_SUFFIX, list_segments
from sentinelle.watch.rhythm import _event_id
from sentinelle.web.accounts.models import ApiToken

REFUSED = ["²", "①", "1²", "٣²"]


@pytest.mark.parametrize("text", REFUSED)
def test_log_values_that_look_like_digits(text: str) -> None:
    assert _proto_field(text) is None  # a flow's protocol written by a firewall log
    assert _event_id(text) == -1  # an event id counted by the watching


@pytest.mark.parametrize("text", REFUSED)
def test_configured_ports_that_look_like_digits(text: str) -> None:
    with pytest.raises(SentinelleError):
        parse_listen(f"127.0.0.1:{text}")
    with pytest.raises(SentinelleError):
        parse_address(f"127.0.0.1:{text}")
    assert _split_host_port(f"ehr.example:{text}") == ("ehr.example", -1)  # refused by range
    assert _split_host_port(f"[::1]:{text}") == ("::1", -1)
    assert _split_host_port("[::1]") == ("::1", None)  # no port: the kind's default


def test_a_journal_folder_with_a_stray_file_named_in_digits(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / ("²" * 20 + SEGMENT_SUFFIX)).write_bytes(b"")
    assert list_segments(folder) == []


def test_a_crisis_log_entry_naming_an_incident_in_superscript() -> None:
    from sentinelle.web.crisis.forms import LogEntryForm

    form = LogEntryForm(
        load_model(example_model_path()), {"kind": "decision", "text": "x", "incidents": "#²"}
    )
    assert not form.is_valid()
    assert "incidents" in form.errors


@pytest.mark.django_db
def test_an_api_cursor_in_superscript_is_a_bad_request() -> None:
    _row, api = ApiToken.objects.create_token("reader", "api")
    cursor = base64.urlsafe_b64encode("²".encode()).decode().rstrip("=")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api}", raise_request_exception=False)
    assert client.get(f"/api/v1/incidents?cursor={cursor}").status_code == 400
