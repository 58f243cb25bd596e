"""One EVTX record's JSON to Sigma-native fields, through a typed decoder for the usual shape.

``flatten_evtx_json`` walks the decoded JSON of any record in Python; on the EVTX hot path that
walk cost more than the decoding itself. Nearly every record, though, has the same shape: the
``System`` children Windows always writes, each attribute child as ``{"#attributes": {...}}``,
and an ``EventData`` of named scalar items. ``decode_record`` decodes that shape with a
``msgspec`` schema, which checks the shape and places every value while parsing (in C), so only
the final dict is built here. A record that does not fit the schema exactly (an unknown ``System``
child or attribute, a ``UserData`` section, unnamed ``Data`` items, a nested value...) is decoded
with orjson and flattened by ``flatten_evtx_json``, the general path, so every record gets the
same fields whichever path it takes; the differential test in tests/readers checks this on the
shared corpora and on generated records.

Before both, the optional C accelerator (``_evtxjson.c``, compiled at install when a compiler is
there) decodes the shapes the typed path handles and most of the general path's (99.5 % of the
attack corpus's records) in one pass, straight into the final dict, and answers None for
anything else, which then takes the Python paths. It is several times cheaper than the typed
path, which builds structs and then the dict in Python. The tests run every check with and
without it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import msgspec
import orjson
from msgspec import UNSET, Meta, Struct, UnsetType, field

from sentinelle.readers.timestamps import parse_windows_time
from sentinelle.readers.winevent import (
    FLAGS_BAD_TIME,
    NO_FLAGS,
    Fields,
    as_int,
    flatten_evtx_json,
)

NativeDecode = Callable[[bytes | str], tuple[dict[str, Any], float | None] | None]
# decode_frame(payload, source, make_event, no_flags, keep_raw) -> (events, leftovers): see
# evtx.py.
NativeFrame = Callable[
    [bytes, str, Callable[..., Any], tuple[str, ...], bool],
    tuple[list[Any], list[tuple[int, int, bytes]]],
]


# The accelerator's calling convention these paths use (``ACCELERATOR_ABI`` in _evtxjson.c).
ACCELERATOR_ABI = 2


def _accelerator() -> tuple[NativeDecode | None, NativeFrame | None]:
    try:
        from sentinelle.readers import _evtxjson
    except ImportError:  # not compiled (no C compiler at install): the Python paths do it all
        return None, None
    if getattr(_evtxjson, "ABI", None) != ACCELERATOR_ABI:
        # Built from another version of its source (an editable install not rebuilt since):
        # its functions would refuse these paths' arguments, and every EVTX file would fail.
        warnings.warn(
            "sentinelle.readers._evtxjson was built from another version of its source and is "
            "not used (EVTX decoding is slower until the package is reinstalled)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None, None
    return _evtxjson.decode_usual, _evtxjson.decode_frame


_native_decode, native_frame = _accelerator()

# What the typed path refuses falls back to the general one; these are its decoding failures.
DECODE_ERRORS = (orjson.JSONDecodeError, KeyError, TypeError, AttributeError)

# Integers msgspec bounds-checks (int64): anything larger goes to the general path, where orjson
# decides (an int up to 2**64 - 1, a float past it), as for every record before.
_I64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
_Int = _I64 | str | None  # ids are ints in the schema, some providers write digit strings
_T = TypeVar("_T")


class _Attributed(Struct, Generic[_T], forbid_unknown_fields=True, gc=False):
    """An element whose content is its attributes only: ``{"#attributes": {...}}``."""

    attributes: _T = field(name="#attributes")


class _ProviderAttributes(Struct, forbid_unknown_fields=True, gc=False):
    Name: str | UnsetType | None = UNSET
    Guid: str | UnsetType | None = UNSET
    EventSourceName: str | UnsetType | None = UNSET


class _QualifierAttributes(Struct, forbid_unknown_fields=True, gc=False):
    Qualifiers: _Int


class _EventIdWithQualifiers(Struct, forbid_unknown_fields=True, gc=False):
    attributes: _QualifierAttributes = field(name="#attributes")
    text: _I64 | str = field(name="#text")


class _TimeAttributes(Struct, forbid_unknown_fields=True, gc=False):
    SystemTime: str


class _ExecutionAttributes(Struct, forbid_unknown_fields=True, gc=False):
    ProcessID: _I64 | str
    ThreadID: _I64 | str


class _SecurityAttributes(Struct, forbid_unknown_fields=True, gc=False):
    UserID: str


class _CorrelationAttributes(Struct, forbid_unknown_fields=True, gc=False):
    ActivityID: str | UnsetType = UNSET
    RelatedActivityID: str | UnsetType = UNSET


class _System(Struct, forbid_unknown_fields=True, gc=False):
    Provider: _Attributed[_ProviderAttributes]
    EventID: _I64 | str | _EventIdWithQualifiers
    TimeCreated: _Attributed[_TimeAttributes]
    EventRecordID: _I64 | str
    Channel: str
    Computer: str
    Version: _Int | UnsetType = UNSET
    Level: _Int | UnsetType = UNSET
    Task: _Int | UnsetType = UNSET
    Opcode: _Int | UnsetType = UNSET
    Keywords: str | UnsetType | None = UNSET
    Correlation: _Attributed[_CorrelationAttributes] | UnsetType | None = UNSET
    Execution: _Attributed[_ExecutionAttributes] | UnsetType | None = UNSET
    Security: _Attributed[_SecurityAttributes] | UnsetType | None = UNSET


class _Event(Struct, forbid_unknown_fields=True, gc=False):
    System: _System
    EventData: dict[str, str | _I64 | float | bool | None] | UnsetType | None = UNSET
    namespace: Any = field(name="#attributes", default=None)


class _Record(Struct, gc=False):
    Event: _Event


_DECODER = msgspec.json.Decoder(_Record)


def decode_record(text: bytes | str) -> tuple[Fields, float | None, tuple[str, ...]]:
    """Fields, timestamp and flags of one EVTX record's JSON (``{"Event": {...}}``).

    Raises one of ``DECODE_ERRORS`` when the text is no JSON record at all.
    """
    if _native_decode is not None and (native := _native_decode(text)) is not None:
        out, ts = native
        if ts is None:  # a SystemTime the accelerator leaves to Python
            ts = parse_windows_time(out["SystemTime"])
        return out, ts, (NO_FLAGS if ts is not None else FLAGS_BAD_TIME)
    return decode_typed(text)


def decode_typed(text: bytes | str) -> tuple[Fields, float | None, tuple[str, ...]]:
    """``decode_record`` without the accelerator: the typed schema, else the general path."""
    try:
        event = _DECODER.decode(text).Event
    except msgspec.DecodeError:  # not the usual shape (or not JSON): the general path decides
        return decode_general(text)
    system = event.System
    data = event.EventData
    if data.__class__ is dict and ("Data" in data or "#attributes" in data):
        return decode_general(text)  # unnamed items: the general path names them
    eid, version, level, task = system.EventID, system.Version, system.Level, system.Task
    opcode, keywords, record = system.Opcode, system.Keywords, system.EventRecordID
    provider = system.Provider.attributes
    execution = system.Execution
    stamp = system.TimeCreated.attributes.SystemTime
    if (
        eid.__class__ is int
        and version.__class__ is int
        and level.__class__ is int
        and task.__class__ is int
        and opcode.__class__ is int
        and record.__class__ is int
        and keywords.__class__ is str
        and provider.Name.__class__ is str
        and provider.Guid.__class__ is str
        and provider.EventSourceName is UNSET
        and execution
        and (pid := execution.attributes.ProcessID).__class__ is int
        and (tid := execution.attributes.ThreadID).__class__ is int
    ):
        # What most records hold (three in four of the attack corpus): built in one step.
        out: Fields = {
            "EventID": eid,
            "Version": version,
            "Level": level,
            "Task": task,
            "Opcode": opcode,
            "Keywords": keywords,
            "EventRecordID": record,
            "Channel": system.Channel,
            "Computer": system.Computer,
            "Provider_Name": provider.Name,
            "Provider_Guid": provider.Guid,
            "SystemTime": stamp,
            "ProcessID": pid,
            "ThreadID": tid,
        }
        _user_and_activity(system, out)
    else:
        out = _system_fields(system)
    if data:
        size = len(out)
        out.update(data)
        if len(out) != size + len(data):
            # An EventData name clashes with a System field: the general path keeps both.
            return decode_general(text)
    ts = parse_windows_time(stamp)
    return out, ts, (NO_FLAGS if ts is not None else FLAGS_BAD_TIME)


def _system_fields(system: _System) -> Fields:
    """The System fields of any record the typed schema accepts: ids may be digit strings
    or carry qualifiers, and every child but a few may be missing."""
    # The order of the general path: the plain and id children as written, then the attributes.
    eid = system.EventID
    out: Fields = {"EventID": eid if eid.__class__ is not str else as_int(eid)}
    if (value := system.Version) is not UNSET:
        out["Version"] = value if value.__class__ is not str else as_int(value)
    if (value := system.Level) is not UNSET:
        out["Level"] = value if value.__class__ is not str else as_int(value)
    if (value := system.Task) is not UNSET:
        out["Task"] = value if value.__class__ is not str else as_int(value)
    if (value := system.Opcode) is not UNSET:
        out["Opcode"] = value if value.__class__ is not str else as_int(value)
    if (value := system.Keywords) is not UNSET and value is not None:
        out["Keywords"] = value
    value = system.EventRecordID
    out["EventRecordID"] = value if value.__class__ is not str else as_int(value)
    out["Channel"] = system.Channel
    out["Computer"] = system.Computer
    provider = system.Provider.attributes
    if provider.Name is not UNSET:
        out["Provider_Name"] = provider.Name
    if provider.Guid is not UNSET:
        out["Provider_Guid"] = provider.Guid
    if provider.EventSourceName is not UNSET:
        out["Provider_EventSourceName"] = provider.EventSourceName
    out["SystemTime"] = system.TimeCreated.attributes.SystemTime
    execution = system.Execution
    if execution:
        pid = execution.attributes.ProcessID
        tid = execution.attributes.ThreadID
        out["ProcessID"] = pid if pid.__class__ is int else as_int(pid)
        out["ThreadID"] = tid if tid.__class__ is int else as_int(tid)
    _user_and_activity(system, out)
    if eid.__class__ is _EventIdWithQualifiers:
        del out["EventID"]  # the general path re-inserts an element-valued id after the rest
        out["Qualifiers"] = as_int(eid.attributes.Qualifiers)
        out["EventID"] = as_int(eid.text)
    return out


def _user_and_activity(system: _System, out: Fields) -> None:
    """The optional Security and Correlation attributes, after the Execution ones."""
    security = system.Security
    if security:
        out["UserID"] = security.attributes.UserID
    correlation = system.Correlation
    if correlation:
        activity = correlation.attributes
        if activity.ActivityID is not UNSET:
            out["ActivityID"] = activity.ActivityID
        if activity.RelatedActivityID is not UNSET:
            out["RelatedActivityID"] = activity.RelatedActivityID


def decode_general(text: bytes | str) -> tuple[Fields, float | None, tuple[str, ...]]:
    """Any record shape, through orjson and the general flattening (the reference)."""
    return flatten_evtx_json(orjson.loads(text))


__all__ = ["DECODE_ERRORS", "decode_general", "decode_record", "decode_typed", "native_frame"]
