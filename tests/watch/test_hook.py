"""The detector's hook counts a slice by groups of events; the counts are those of counting each
event alone (``rhythm.count_events``), and the fields census keeps what it kept event by event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.events import Event
from sentinelle.service.journal import JournalEntry
from sentinelle.service.records import Record, RecordKind
from sentinelle.watch.hook import count_slice
from sentinelle.watch.rhythm import INTERVAL, FieldCensus, SourceCounts, count_events

NAMES = st.sampled_from(["dc01", "DC01", " ws-7 ", "", "fw\x00edge", "h\u00e9te"])
VALUES = st.one_of(NAMES, st.none(), st.integers(0, 3), st.lists(NAMES, max_size=2))
FIELDS = st.dictionaries(
    st.sampled_from(["Computer", "host", "hostname", "Hostname", "Channel", "EventID", "x"]),
    VALUES,
    max_size=6,
)


@dataclass(slots=True)
class State:
    sources: Any = None
    fields: Any = None


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            FIELDS,
            st.sampled_from(["syslog-tcp", "http"]),
            st.sampled_from(["10.0.0.1", "bench"]),
            st.sampled_from([RecordKind.SYSLOG, RecordKind.JSON]),
            st.floats(0, 3 * INTERVAL),
        ),
        max_size=40,
    )
)
def test_a_slice_counted_by_groups_equals_each_event_counted_alone(
    events: list[tuple[dict[str, Any], str, str, RecordKind, float]],
) -> None:
    entries = [
        JournalEntry(seq, Record(inp, sender, kind, b"", 1.8e9 + at))
        for seq, (_fields, inp, sender, kind, at) in enumerate(events, 1)
    ]
    slice_events = [Event(fields, None, "j", seq) for seq, (fields, *_r) in enumerate(events, 1)]
    state = State()
    count_slice(state, entries, slice_events)
    reference = SourceCounts()
    count_events(
        reference,
        [(f, inp, sender, str(kind), 1.8e9 + at) for f, inp, sender, kind, at in events],
    )
    assert state.sources.counts == reference.counts


def test_the_census_adds_a_field_once_it_has_a_value() -> None:
    census = FieldCensus()
    base = {"Channel": "Security", "EventID": 4624, "TargetUserName": "bob"}
    census.add({**base, "IpAddress": ""}, 1.0)  # empty: not a populated field
    census.add({**base, "IpAddress": None}, 2.0)
    assert census.seen[("security", 4624)] == {"Channel", "EventID", "TargetUserName"}
    census.add({**base, "IpAddress": "10.0.0.5"}, 3.0)
    assert "IpAddress" in census.seen[("security", 4624)]
    assert census.events[("security", 4624)] == [3.0, 3.0]


def test_the_census_keeps_the_first_fields_of_the_event_when_its_cap_is_reached() -> None:
    from sentinelle.watch import rhythm

    census = FieldCensus()
    wide = {"Channel": "App", "EventID": 1} | {f"f{i:03d}": "v" for i in range(500)}
    census.add(wide, 1.0)
    kept = census.seen[("app", 1)]
    assert len(kept) == rhythm.MAX_FIELDS_PER_KIND
    assert kept == set(list(wide)[: rhythm.MAX_FIELDS_PER_KIND])
