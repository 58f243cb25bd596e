"""Windows events (EVTX records, evtx-JSON, Winlogbeat/ECS) flattened to Sigma-native names.

One place decides the names, so that a rule matches an event the same way whether it came from a
``.evtx`` file, an ``evtx_dump`` JSON line or a Winlogbeat document. The naming rules are
documented in docs/ARCHITECTURE.md (readers section); in short:

* ``System`` children keep their element name (``EventID``, ``Channel``, ``Computer``...), their
  attributes become ``Provider_Name``, ``Provider_Guid``, ``ProcessID``, ``ThreadID``, ``UserID``,
  ``ActivityID``, ``SystemTime``, ``Qualifiers``; numeric ids are ints.
* ``EventData/Data[@Name]`` becomes that name; unnamed ``Data`` items become ``Data`` (all items
  joined with a newline, so ``Data|contains`` sees every item) and ``Data_1``, ``Data_2``...;
  ``Binary`` stays ``Binary``.
* ``UserData`` leaves take their leaf element name.
* A name that is already taken (a System field, an earlier leaf) is kept under its dotted path
  (``EventData.Level``, ``UserData.LogFileCleared.SubjectUserName``) instead of overwriting.
"""

from __future__ import annotations

from typing import Any

from sentinelle.events import FLAG_BAD_TIMESTAMP, FLAG_NO_TIMESTAMP
from sentinelle.readers.timestamps import parse_timestamp, parse_windows_time
from sentinelle.readers.values import INT_MAX, INT_MIN, FieldBudget, json_text

Fields = dict[str, Any]

# System elements whose value is an integer in the schema; some providers render them as text.
_INT_SYSTEM = frozenset(("EventID", "Version", "Level", "Task", "Opcode", "EventRecordID"))
_INT_ATTRIBUTES = frozenset(("ProcessID", "ThreadID", "ProcessorID", "SessionID", "Qualifiers"))
# Attributes that are namespaces or schema noise, never matched by rules.
_SKIP_ATTRIBUTES = frozenset(("xmlns",))

NO_FLAGS: tuple[str, ...] = ()
FLAGS_NO_TIME: tuple[str, ...] = (FLAG_NO_TIMESTAMP,)
FLAGS_BAD_TIME: tuple[str, ...] = (FLAG_BAD_TIMESTAMP,)


def as_int(value: Any) -> Any:
    """An int for integer-looking values (``"4624"``, ``"0x10"`` stays text); else the value.

    Digits past what outputs encode (64 bits) stay text, as ``values.settle`` keeps them.
    Decimal digits of any script, exactly what ``int`` reads (``isdigit`` also takes
    superscripts and circled numbers, which stopped the reading of a whole file).
    """
    if isinstance(value, str):
        text = value.strip()
        if (text.isdecimal() or (text[:1] == "-" and text[1:].isdecimal())) and len(text) < 22:
            number = int(text)
            return number if INT_MIN <= number <= INT_MAX else value
    return value


def is_evtx_json(doc: Any) -> bool:
    event = doc.get("Event") if isinstance(doc, dict) else None
    return isinstance(event, dict) and isinstance(event.get("System"), dict)


def is_winlogbeat(doc: dict[str, Any]) -> bool:
    winlog = doc.get("winlog")
    if isinstance(winlog, dict):
        return True
    # Winlogbeat 5/6 wrote the same fields at the top level.
    return "event_id" in doc and ("log_name" in doc or "event_data" in doc)


def flatten_evtx_json(
    doc: dict[str, Any], budget: FieldBudget | None = None
) -> tuple[Fields, float | None, tuple[str, ...]]:
    """Fields, timestamp and flags of one ``{"Event": {...}}`` record.

    ``budget`` bounds the nested sections (see ``values.FieldBudget``).
    """
    event: dict[str, Any] = doc["Event"]
    system = event.get("System")
    # A copy of System is the start of the fields: cloning a dict is one C call with the right
    # size, far cheaper than inserting its ~14 children one by one.
    out: Fields = system.copy() if isinstance(system, dict) else {}
    if out:
        _system(system, out)  # type: ignore[arg-type]  # out is non-empty only for a dict
    for section, value in event.items():
        if section in ("System", "#attributes") or value is None:
            continue
        if section == "EventData":
            _event_data(value, out)
        elif section == "UserData":
            _leaves(value, "UserData", out, budget)
        else:  # RenderingInfo, ProcessingErrorData, DebugData...: dotted under the section
            _dotted(value, section, out, budget)
    stamp = out.get("SystemTime")
    if stamp is None:
        return out, None, FLAGS_NO_TIME
    ts = parse_windows_time(stamp) if isinstance(stamp, str) else None
    return out, ts, (NO_FLAGS if ts is not None else FLAGS_BAD_TIME)


def _text_of(value: Any) -> Any:
    if isinstance(value, dict) and "#text" in value:
        return value["#text"]
    return value


# System children that are dicts of attributes, and those that must be ints.
_ATTRIBUTE_CHILDREN = ("Provider", "TimeCreated", "Execution", "Security", "Correlation")
_INT_CHILDREN = ("EventID", "Version", "Level", "Task", "Opcode", "EventRecordID")
_PLAIN_CHILDREN = ("Keywords", "Channel", "Computer")
_STANDARD_CHILDREN = frozenset((*_ATTRIBUTE_CHILDREN, *_INT_CHILDREN, *_PLAIN_CHILDREN))


def _system(system: dict[str, Any], out: Fields) -> None:
    """Turn ``out``, a copy of ``system``, into Sigma-native System fields.

    Hot path, once per EVTX record: only the few children that are not plain values (attribute
    dicts, ints written as text) are touched, instead of a Python loop over all of them.
    """
    pop = out.pop
    for name in _ATTRIBUTE_CHILDREN:
        value = pop(name, None)
        if value is None:
            continue
        if value.__class__ is dict:
            attributes = value.get("#attributes")
            if attributes.__class__ is dict and len(value) == 1:
                if name == "Provider":
                    for attr, attr_value in attributes.items():
                        out["Provider_" + attr] = attr_value
                else:
                    for attr, attr_value in attributes.items():
                        if attr in _INT_ATTRIBUTES:
                            out[attr] = as_int(attr_value)
                        elif attr not in _SKIP_ATTRIBUTES:
                            out[attr] = attr_value
            else:
                _system_element(name, value, out)
        else:
            out[name] = value
    for name in _INT_CHILDREN:
        value = out.get(name)
        if value is not None and value.__class__ is not int:
            if value.__class__ is dict:
                del out[name]
                _system_element(name, value, out)
            else:
                out[name] = as_int(value)
    for name in _PLAIN_CHILDREN:
        if name in out and out[name] is None:
            del out[name]
    if not _STANDARD_CHILDREN.issuperset(system):
        for name, value in system.items():
            if name in _ATTRIBUTE_CHILDREN or name in _INT_CHILDREN:
                continue
            if value is None:
                out.pop(name, None)
            elif value.__class__ is dict:
                del out[name]
                _system_element(name, value, out)


def _system_element(name: str, value: dict[str, Any], out: Fields) -> None:
    """A System child given as a dict: its attributes, then its text under its own name."""
    attributes = value.get("#attributes")
    if isinstance(attributes, dict):
        prefix = "Provider_" if name == "Provider" else ""
        for attr, attr_value in attributes.items():
            if attr in _INT_ATTRIBUTES:
                out[prefix + attr] = as_int(attr_value)
            elif attr not in _SKIP_ATTRIBUTES:
                out[prefix + attr] = attr_value
    if "#text" in value:
        text = value["#text"]
        out[name] = as_int(text) if name in _INT_SYSTEM else text
    elif not isinstance(attributes, dict):
        _dotted(value, name, out)


def _event_data(data: Any, out: Fields) -> None:
    if data.__class__ is not dict:
        # <EventData>text</EventData>: rare, kept under the section name.
        out.setdefault("EventData", data)
        return
    if (
        "Data" not in data
        and "#attributes" not in data
        and dict not in map(type, data.values())
        and out.keys().isdisjoint(data)
    ):
        out.update(data)  # the common case: named scalar items, no clash
        return
    for name, value in data.items():
        if name == "Data":
            _unnamed_data(value, out)
        elif name == "#attributes":
            if isinstance(value, dict):
                for attr, attr_value in value.items():
                    if attr not in _SKIP_ATTRIBUTES:
                        _put(out, f"EventData_{attr}", attr_value, f"EventData.#{attr}")
        else:
            item = _text_of(value)
            if isinstance(item, dict):
                _dotted(item, name, out)
            else:
                _put(out, name, item, f"EventData.{name}")


def _unnamed_data(value: Any, out: Fields) -> None:
    value = _text_of(value)
    items = value if isinstance(value, list) else [value]
    texts = [item for item in items if item is not None]
    if not texts:
        return
    if len(texts) == 1:
        _put(out, "Data", texts[0], "EventData.Data")
    else:
        _put(out, "Data", "\n".join(str(item) for item in texts), "EventData.Data")
    for index, item in enumerate(texts, 1):
        _put(out, f"Data_{index}", item, f"EventData.Data_{index}")


def _put(out: Fields, name: str, value: Any, fallback: str) -> None:
    if name in out:
        out[fallback] = value
    else:
        out[name] = value


def _leaves(
    value: Any, path: str, out: Fields, budget: FieldBudget | None = None, depth: int = 0
) -> None:
    """UserData (and winlog.user_data): leaf element names, dotted path on a clash."""
    budget = FieldBudget() if budget is None else budget
    if _too_deep(value, path, out, budget, depth):
        return
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "#attributes":
                continue
            if key == "#text":
                _put(out, path.rsplit(".", 1)[-1], child, path)
                continue
            if budget.spent(path):
                budget.dropped += 1
                continue
            _leaves(child, f"{path}.{key}", out, budget, depth + 1)
    elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            if budget.spent(path):
                budget.dropped += 1
                continue
            _leaves(item, f"{path}.{index}", out, budget, depth + 1)
    elif value is not None and budget.room(path, value):
        _put(out, path.rsplit(".", 1)[-1], value, path)


def _dotted(
    value: Any, path: str, out: Fields, budget: FieldBudget | None = None, depth: int = 0
) -> None:
    budget = FieldBudget() if budget is None else budget
    if _too_deep(value, path, out, budget, depth):
        return
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "#attributes" and isinstance(child, dict):
                for attr, attr_value in child.items():
                    if attr not in _SKIP_ATTRIBUTES and not budget.spent(path):
                        name = f"{path}_{attr}"
                        if budget.room(name, attr_value):
                            out[name] = attr_value
            elif key == "#text":
                out[path] = child
            elif budget.spent(path):
                budget.dropped += 1
            else:
                _dotted(child, f"{path}.{key}", out, budget, depth + 1)
    elif value is not None and budget.room(path, value):
        out[path] = value


def _too_deep(value: Any, path: str, out: Fields, budget: FieldBudget, depth: int) -> bool:
    """Past the budget's depth a nested value is kept whole, as JSON text, under ``path``:
    a thousand levels of nesting cost no recursion and lose nothing."""
    if depth < budget.depth or not isinstance(value, dict | list) or not value:
        return False
    text = json_text(value)
    if budget.room(path, text):
        budget.deep += 1
        out[path] = text
    return True


# Winlogbeat / ECS -------------------------------------------------------------------------

# winlog.* (Winlogbeat 7+) and top-level (Winlogbeat 5/6) names -> Sigma-native names.
_WINLOG_NAMES = {
    "event_id": "EventID",
    "channel": "Channel",
    "log_name": "Channel",
    "computer_name": "Computer",
    "provider_name": "Provider_Name",
    "source_name": "Provider_Name",
    "provider_guid": "Provider_Guid",
    "record_id": "EventRecordID",
    "record_number": "EventRecordID",
    "task": "Task",
    "opcode": "Opcode",
    "version": "Version",
    "keywords": "Keywords",
    "process_id": "ProcessID",
    "thread_id": "ThreadID",
    "activity_id": "ActivityID",
    "related_activity_id": "RelatedActivityID",
}
# log.level / winlog level names -> the numeric EVTX level.
_LEVELS = {"critical": 1, "error": 2, "warning": 3, "information": 4, "info": 4, "verbose": 5}
_WINLOG_INTS = frozenset(("EventID", "EventRecordID", "ProcessID", "ThreadID", "Version"))


def flatten_winlogbeat(
    doc: dict[str, Any], budget: FieldBudget | None = None
) -> tuple[Fields, float | None, tuple[str, ...]]:
    """Winlogbeat/ECS document to the same names as an EVTX record.

    The Windows part (``winlog.*``) is mapped; everything else (``host.*``, ``agent.*``,
    ``message``...) is kept as dotted names so nothing is lost.
    """
    out: Fields = {}
    winlog = doc.get("winlog")
    legacy = not isinstance(winlog, dict)
    source: dict[str, Any] = doc if legacy else winlog  # type: ignore[assignment]
    for key, value in source.items():
        name = _WINLOG_NAMES.get(key)
        if name is not None:
            if value is not None:
                out[name] = as_int(value) if name in _WINLOG_INTS else value
        elif key in ("event_data", "user_data"):
            continue
        elif key == "process" and isinstance(value, dict):
            if "pid" in value:
                out["ProcessID"] = as_int(value["pid"])
            thread = value.get("thread")
            if isinstance(thread, dict) and "id" in thread:
                out["ThreadID"] = as_int(thread["id"])
        elif key == "user" and isinstance(value, dict) and "identifier" in value:
            out["UserID"] = value["identifier"]
            for sub, sub_value in value.items():
                if sub != "identifier":
                    out[f"winlog.user.{sub}"] = sub_value
        elif not legacy:
            _dotted(value, f"winlog.{key}", out, budget)
    event_data = source.get("event_data")
    if isinstance(event_data, dict):
        for name, value in event_data.items():
            _put(out, name, value, f"EventData.{name}")
    user_data = source.get("user_data")
    if user_data is not None:
        _leaves(user_data, "UserData", out, budget)
    if "EventID" not in out:
        code = doc.get("event", {}).get("code") if isinstance(doc.get("event"), dict) else None
        if code is not None:
            out["EventID"] = as_int(code)
    if "Computer" not in out:
        host = doc.get("host")
        if isinstance(host, dict) and host.get("name") is not None:
            out["Computer"] = host["name"]
    level = source.get("level")
    if level is None and isinstance(doc.get("log"), dict):
        level = doc["log"].get("level")
    if isinstance(level, str) and level.lower() in _LEVELS:
        out["Level"] = _LEVELS[level.lower()]
    for key, value in doc.items():
        if key == "winlog" or (legacy and (key in _WINLOG_NAMES or key in _LEGACY_TAKEN)):
            continue
        _dotted(value, key, out, budget)
    stamp = doc.get("@timestamp", doc.get("timestamp"))
    if stamp is None:
        return out, None, FLAGS_NO_TIME
    ts = parse_timestamp(stamp)
    return out, ts, (NO_FLAGS if ts is not None else FLAGS_BAD_TIME)


_LEGACY_TAKEN = frozenset(("event_data", "user_data", "process", "user", "level"))
