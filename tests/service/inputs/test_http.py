"""``POST /api/v1/events`` on a live server (uvicorn, the Django app, a real journal), with a
plain HTTP client: answered 200 only once durable, refused lines named, caps and tokens."""

from __future__ import annotations

import gzip
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentinelle.service.inputs import LIMITS_EXTRA, InputLimits
from sentinelle.service.journal import Journal
from sentinelle.service.records import RecordKind
from sentinelle.web.accounts.models import ApiToken
from tests.service.harness import GatedSink, Metrics, journal_records, serving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.network]

EVTX_JSON = {
    "Event": {
        "System": {
            "EventID": 4625,
            "Channel": "Security",
            "Computer": "dc1.hospital.local",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00.000Z"}},
        },
        "EventData": {"TargetUserName": "admin", "IpAddress": "10.0.0.9"},
    }
}
ECS = {
    "@timestamp": "2024-05-01T10:00:01.000Z",
    "event": {"code": "4625", "provider": "Microsoft-Windows-Security-Auditing"},
    "winlog": {"channel": "Security", "event_id": 4625, "event_data": {"TargetUserName": "bob"}},
    "host": {"name": "ws12"},
}
FLAT = {"timestamp": "2024-05-01T10:00:02Z", "src_ip": "10.0.0.9", "action": "deny"}


def ndjson(*documents: Any) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in documents)


def post(
    url: str, body: bytes, token: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-ndjson")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, orjson.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, orjson.loads(error.read() or b"{}"), dict(error.headers)


@pytest.fixture
def token() -> str:
    return ApiToken.objects.create_token("winlogbeat-dc1", "ingest")[1]


@pytest.fixture
def live(journal: Journal) -> Iterator[str]:
    with serving(journal) as url:
        yield url


def test_events_are_answered_once_durable(live: str, token: str, journal_dir: Path) -> None:
    metrics = Metrics()
    status, answer, _ = post(live + "/api/v1/events", ndjson(EVTX_JSON, ECS, FLAT), token)
    assert (status, answer) == (200, {"accepted": 3})
    records = journal_records(journal_dir)  # read at once: durable before the answer
    assert [orjson.loads(r.data) for r in records] == [EVTX_JSON, ECS, FLAT]
    assert {(r.input, r.sender, r.kind, r.key) for r in records} == {
        ("http", "winlogbeat-dc1", RecordKind.JSON, "")
    }
    # Sent again (no answer seen): the same events, the same ids.
    post(live + "/api/v1/events", ndjson(EVTX_JSON, ECS, FLAT), token)
    again = journal_records(journal_dir)[3:]
    assert [r.event_id for r in again] == [r.event_id for r in records]
    assert metrics.delta("events", input="http") == 6


def test_bad_lines_are_refused_by_number_and_the_good_ones_kept(
    live: str, token: str, journal_dir: Path
) -> None:
    body = ndjson(FLAT) + b"{not json\n\n[1, 2]\n" + ndjson(ECS) + b'"text"\r\n'
    status, answer, _ = post(live + "/api/v1/events", body, token)
    assert status == 400
    assert answer["accepted"] == 2 and answer["refused_count"] == 3
    assert [item["line"] for item in answer["refused"]] == [2, 4, 6]
    assert "invalid JSON" in answer["refused"][0]["reason"]
    assert "list is not an event" in answer["refused"][1]["reason"]
    assert [orjson.loads(r.data) for r in journal_records(journal_dir)] == [FLAT, ECS]


def test_compressed_bodies(live: str, token: str, journal_dir: Path) -> None:
    body = ndjson(*[{**FLAT, "n": n} for n in range(500)])
    gz = {"Content-Encoding": "gzip"}
    assert post(live + "/api/v1/events", gzip.compress(body), token, gz)[:2] == (
        200,
        {"accepted": 500},
    )
    deflate = {"Content-Encoding": "deflate"}
    assert post(live + "/api/v1/events", zlib.compress(body), token, deflate)[0] == 200
    assert post(live + "/api/v1/events", gzip.compress(body)[:-20], token, gz)[0] == 400
    assert post(live + "/api/v1/events", body, token, {"Content-Encoding": "br"})[0] == 415
    assert len(journal_records(journal_dir)) == 1000


def test_bodies_over_the_cap_are_refused_before_or_while_read(
    journal: Journal, token: str, journal_dir: Path
) -> None:
    metrics = Metrics()
    limits = InputLimits(max_body_bytes=10_000, max_line_bytes=500)
    with serving(journal, **{LIMITS_EXTRA: limits}) as live:
        url = live + "/api/v1/events"
        big = ndjson(*[{**FLAT, "n": n} for n in range(400)])
        assert post(url, big, token)[0] == 413  # declared length over the cap
        bomb = gzip.compress(b"{}\n" * 100_000)  # 1 KB that inflates to 300 KB
        assert post(url, bomb, token, {"Content-Encoding": "gzip"})[0] == 413
        chunked = urllib.request.Request(url, data=iter([big[:8000], big[8000:]]), method="POST")
        chunked.add_header("Authorization", f"Bearer {token}")
        chunked.add_header("Transfer-Encoding", "chunked")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(chunked, timeout=20)
        assert refused.value.code == 413
        refused.value.close()
        status, answer, _ = post(url, ndjson({"big": "x" * 600}, FLAT), token)
        assert status == 400 and answer["refused"][0]["reason"].startswith("line longer")
    assert len(journal_records(journal_dir)) == 1
    assert metrics.delta("oversized", input="http", what="body") == 3
    assert metrics.delta("oversized", input="http", what="line") == 1


def test_ingest_without_a_valid_token_is_refused_and_counted(live: str) -> None:
    metrics = Metrics()
    url = live + "/api/v1/events"
    api_token = ApiToken.objects.create_token("grafana", "api")[1]
    revoked, revoked_secret = ApiToken.objects.create_token("old", "ingest")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked=revoked.created)
    assert post(url, ndjson(FLAT))[0] == 401
    assert post(url, ndjson(FLAT), "snt_not-a-token")[0] == 401
    assert post(url, ndjson(FLAT), revoked_secret)[0] == 401
    assert post(url, ndjson(FLAT), api_token)[0] == 403
    assert metrics.delta("auth_failures", input="http") == 4


def test_the_journal_refusing_gives_503_with_retry_after(
    gate: GatedSink, token: str, journal_dir: Path
) -> None:
    with serving(gate) as live:
        url = live + "/api/v1/events"
        gate.refuse_next = 1
        status, answer, headers = post(url, ndjson(FLAT), token)
        assert (status, answer["error"]) == (503, "refused")
        assert int(headers["Retry-After"]) >= 1
        gate.fail_next = 1
        assert post(url, ndjson(FLAT), token)[0] == 503
        assert post(url, ndjson(FLAT), token)[:2] == (200, {"accepted": 1})
    assert len(journal_records(journal_dir)) == 1


def test_requests_over_the_concurrency_cap_get_503_until_one_finishes(
    gate: GatedSink, token: str, journal_dir: Path
) -> None:
    limits = InputLimits(max_concurrent_requests=1)
    with serving(gate, **{LIMITS_EXTRA: limits}) as live:
        url = live + "/api/v1/events"
        gate.hold()
        first: list[int] = []
        sender = threading.Thread(target=lambda: first.append(post(url, ndjson(FLAT), token)[0]))
        sender.start()
        while gate.held() == 0:
            threading.Event().wait(0.02)
        status, answer, headers = post(url, ndjson(ECS), token)
        assert (status, answer["error"], headers["Retry-After"]) == (503, "busy", "1")
        assert first == []  # the first is not answered while its events are not durable
        gate.release()
        sender.join(10)
        assert first == [200]
        assert post(url, ndjson(ECS), token)[0] == 200
    assert len(journal_records(journal_dir)) == 2


def test_not_ready_is_503(journal: Journal, token: str) -> None:
    from sentinelle.service.runtime import current

    with serving(journal) as live:
        runtime = current()
        assert runtime is not None
        runtime.ready = False
        status, answer, _ = post(live + "/api/v1/events", ndjson(FLAT), token)
    assert (status, answer["error"]) == (503, "not-ready")
