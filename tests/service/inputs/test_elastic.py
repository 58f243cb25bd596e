"""The Elasticsearch subset on a live server, driven by the official ``elasticsearch`` client
(its handshake, its product check, ``helpers.bulk``) and by raw NDJSON for the error shapes."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch, helpers

from sentinelle.service.journal import Journal
from sentinelle.service.records import RecordKind
from sentinelle.web.accounts.models import ApiToken
from sentinelle.web.ingest.elastic import REPORTED_VERSION
from tests.service.harness import GatedSink, Metrics, journal_records, serving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.network]


def winlogbeat_event(n: int) -> dict[str, Any]:
    return {
        "@timestamp": f"2024-05-01T10:00:{n % 60:02d}.000Z",
        "event": {"code": "4625", "kind": "event"},
        "winlog": {"channel": "Security", "event_id": 4625, "record_id": n},
        "host": {"name": "dc1"},
    }


@pytest.fixture
def token() -> str:
    return ApiToken.objects.create_token("winlogbeat", "ingest")[1]


@pytest.fixture
def live(journal: Journal) -> Iterator[str]:
    with serving(journal) as url:
        yield url


def raw(
    url: str, method: str, body: bytes | None, token: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/x-ndjson")
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            text = answer.read()
            return answer.status, orjson.loads(text) if text else {}, dict(answer.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, orjson.loads(error.read() or b"{}"), dict(error.headers)


def test_the_official_client_bulk_helper_sends_and_a_resend_gives_the_same_ids(
    live: str, token: str, journal_dir: Path
) -> None:
    client = Elasticsearch(live + "/es", basic_auth=("winlogbeat", token))
    info = client.info()
    assert info["version"]["number"] == REPORTED_VERSION
    actions = [
        {"_index": "winlogbeat-8.19.0", "_id": f"rec-{n}", "_source": winlogbeat_event(n)}
        for n in range(250)
    ] + [{"_index": "winlogbeat-8.19.0", "_source": winlogbeat_event(999)}]
    ok, errors = helpers.bulk(client, actions, chunk_size=100)
    assert (ok, errors) == (251, [])
    records = journal_records(journal_dir)
    assert len(records) == 251
    assert {(r.input, r.sender, r.kind) for r in records} == {
        ("bulk", "winlogbeat", RecordKind.JSON)
    }
    assert [r.key for r in records[:3]] == ["rec-0", "rec-1", "rec-2"]
    assert orjson.loads(records[0].data) == winlogbeat_event(0)
    # A client that saw no answer sends the bulk again: the same event ids.
    helpers.bulk(client, actions, chunk_size=100)
    again = journal_records(journal_dir)[251:]
    assert [r.event_id for r in again] == [r.event_id for r in records]


@pytest.mark.parametrize("auth", ["api_key_pair", "api_key_encoded", "bearer"])
def test_the_clients_token_forms(live: str, token: str, auth: str) -> None:
    import base64

    forms: dict[str, dict[str, Any]] = {
        "api_key_pair": {"api_key": ("sentinelle", token)},
        "api_key_encoded": {"api_key": base64.b64encode(f"id:{token}".encode()).decode()},
        "bearer": {"bearer_auth": token},
    }
    client = Elasticsearch(live + "/es", **forms[auth])
    assert client.info()["cluster_name"] == "sentinelle"
    assert helpers.bulk(client, [{"_index": "logs", "_source": {"message": auth}}]) == (1, [])


def test_a_wrong_token_is_refused(live: str) -> None:
    from elasticsearch import AuthenticationException

    metrics = Metrics()
    client = Elasticsearch(live + "/es", basic_auth=("elastic", "changeme"))
    with pytest.raises(AuthenticationException):
        client.info()
    assert metrics.delta("auth_failures", input="bulk") == 1


def test_items_fail_alone_with_elasticsearch_errors(
    live: str, token: str, journal_dir: Path
) -> None:
    body = b"".join(
        [
            b'{"index": {"_index": "logs", "_id": "a"}}\n{"message": "kept"}\n',
            b'{"create": {"_id": "b"}}\n{not json\n',
            b'{"update": {"_index": "logs", "_id": "a"}}\n{"doc": {"message": "changed"}}\n',
            b'{"delete": {"_index": "logs", "_id": "a"}}\n',
            b'{"create": {}}\n["not", "an", "object"]\n',
            b'{"create": {"_index": "other"}}\n{"message": "also kept"}\n',
        ]
    )
    status, answer, headers = raw(live + "/es/logs/_bulk", "POST", body, token)
    assert status == 200 and headers["X-Elastic-Product"] == "Elasticsearch"
    assert answer["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in answer["items"]]
    assert statuses == [201, 400, 400, 400, 400, 201]
    assert [next(iter(item)) for item in answer["items"]] == [
        "index", "create", "update", "delete", "create", "create"
    ]  # fmt: skip
    assert answer["items"][1]["create"]["error"]["type"] == "document_parsing_exception"
    assert answer["items"][1]["create"]["_index"] == "logs"  # from the URL
    records = journal_records(journal_dir)
    assert [orjson.loads(r.data)["message"] for r in records] == ["kept", "also kept"]
    assert answer["items"][5]["create"]["_id"] == records[1].event_id


def test_a_malformed_action_line_refuses_the_whole_bulk(
    live: str, token: str, journal_dir: Path
) -> None:
    body = b'{"index": {}}\n{"message": "x"}\n{"bogus": {}}\n{"message": "y"}\n'
    status, answer, _ = raw(live + "/_bulk", "POST", body, token)
    assert status == 400 and "[3]" in answer["error"]["reason"]
    assert journal_records(journal_dir) == []


def test_the_setup_calls_clients_make_succeed_and_documents_go_through_bulk_only(
    live: str, token: str
) -> None:
    es = live + "/es"
    assert raw(es + "/_license", "GET", None, token)[1]["license"]["status"] == "active"
    assert raw(es + "/_xpack", "GET", None, token)[1]["features"]["ilm"]["enabled"] is True
    assert raw(es + "/_cluster/health", "GET", None, token)[1]["status"] == "green"
    assert raw(es + "/_index_template/winlogbeat-8.19.0", "HEAD", None, token)[0] == 200
    assert raw(es + "/_ilm/policy/winlogbeat", "GET", None, token)[0] == 200
    put = raw(es + "/_ilm/policy/winlogbeat", "PUT", b'{"policy": {}}', token)
    assert put[:2] == (200, {"acknowledged": True})
    assert raw(es + "/logs/_doc/1", "PUT", b'{"message": "x"}', token)[0] == 400
    assert raw(es + "/logs/_doc", "POST", b'{"message": "x"}', token)[0] == 400


def test_a_refusing_journal_answers_503_to_the_whole_bulk(
    gate: GatedSink, token: str, journal_dir: Path
) -> None:
    with serving(gate) as live:
        gate.refuse_next = 1
        status, answer, headers = raw(
            live + "/_bulk", "POST", b'{"index": {"_index": "x"}}\n{"a": 1}\n', token
        )
    assert status == 503 and answer["error"]["type"] == "es_rejected_execution_exception"
    assert "Retry-After" in headers
    assert journal_records(journal_dir) == []
