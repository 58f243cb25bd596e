"""``CompiledRules``: the rule set turned into per-logsource buckets of multi-pattern matchers.

An event meets only the rules of its channel and event id: one dict lookup gives its
``bucket.Bucket``, which matches the event's fields against all those rules at once.

Buckets are built on first use, or all at once by ``warm`` (``load_compiled`` does so before
writing the cache). A pickled set carries the buckets built so far, each as its own pickled
bytes: an unpickled set turns back into a ``Bucket`` only those its events need, so a hunt from
the cache (and every worker forked from it) pays neither the build nor the loading of the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sentinelle.detections import Detection
from sentinelle.engine import ir, reference, values
from sentinelle.engine.bucket import Bucket
from sentinelle.engine.plan import Plan, RuleInfo, Variant
from sentinelle.engine.progress import CompileProgress
from sentinelle.errors import RuleError
from sentinelle.events import Event, EventBatch
from sentinelle.gcpause import collector_paused

BucketKey = tuple[str | None, int | None]
Keys = tuple[BucketKey, ...]  # the keys whose rules one bucket holds
# A bucket: the keys whose rules it holds, and the event id its rules are folded for (see
# ``_bucket_for``): an id, _OTHER_ID (an id none of them names), or None (not folded).
Slot = tuple[Keys, int | str | None]
_OTHER_ID = "other"
_MEMO_LIMIT = 4096
_GUARD = "\0"  # bucket keys of channel-less sources: NUL + the guard field name
_ELSE = "\x01"  # a channel no rule names: the events of every channel without rules
# Errors a stored bucket may raise when it cannot be unpickled (then it is built again).
_UNPICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
)


_RULE_FIELDS = tuple(f.name for f in dataclasses.fields(RuleInfo))


class CompiledRules:
    """A compiled rule set. Pickles as its plan and the buckets built so far.

    ``reference=True`` evaluates with the plain reference evaluator instead (same results, slow);
    the tests run every case both ways.
    """

    _plan: Plan | None

    def __init__(
        self, plan: Plan, correlations: Sequence[Any] = (), *, reference: bool = False
    ) -> None:
        self._rules = plan.rules
        self._errors = plan.errors
        self._unmapped = plan.unmapped
        self._slots = [(v.rule, v.channel, v.event_ids, v.guard) for v in plan.variants]
        self._trees: list[ir.Node | ir.Encoded] | None = [v.tree for v in plan.variants]
        self._named = [ir.event_ids_named(v.tree) for v in plan.variants]
        self._trees_blob = b""
        self._correlations = list(correlations)
        self.reference = reference
        # The caps of the correlators this set makes (``CorrelationLimits``; None: defaults).
        self.correlation_limits: Any = None
        self._setup()

    @property
    def rules(self) -> list[RuleInfo]:
        return self._rules

    @property
    def errors(self) -> list[RuleError]:
        return self._errors

    @property
    def plan(self) -> Plan:
        """The plan this set was compiled from (trees decoded from the cache form if needed)."""
        if self._plan is None:
            variants = [self._variant(i) for i in range(len(self._slots))]
            self._plan = Plan(self._rules, variants, self._errors, self._unmapped)
        return self._plan

    @property
    def correlations(self) -> list[Any]:
        """The pySigma correlation rules of the set, references resolved."""
        return self._correlations

    def __getstate__(self) -> dict[str, Any]:
        # Trees travel as nested tuples (several times faster to unpickle than the objects),
        # pickled apart: a set whose buckets come from the cache never needs them.
        trees = self._trees_blob
        if self._trees is not None:
            encoded = [t if isinstance(t, tuple) else ir.encode(t) for t in self._trees]
            trees = pickle.dumps(encoded, pickle.HIGHEST_PROTOCOL)
        return {
            # Rule facts as plain tuples: a slotted dataclass unpickles field by field in Python.
            "rules": [tuple(getattr(r, f) for f in _RULE_FIELDS) for r in self._rules],
            "errors": self._errors,
            "unmapped": self._unmapped,
            "slots": self._slots,
            "named": self._named,
            "trees": trees,
            "correlations": self._correlations,
            "reference": self.reference,
            "buckets": {
                **self._stored,
                **{k: pickle.dumps(b, pickle.HIGHEST_PROTOCOL) for k, b in self._buckets.items()},
            },
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._rules = [RuleInfo(*r) for r in state["rules"]]
        self._errors = state["errors"]
        self._unmapped = state["unmapped"]
        self._slots = state["slots"]
        self._named = state["named"]
        self._trees = None
        self._trees_blob = state["trees"]
        self._correlations = state["correlations"]
        self.reference = state["reference"]
        self.correlation_limits = None
        self._setup(state.get("buckets") or {})

    def _variant(self, index: int) -> Variant:
        trees = self._trees
        if trees is None:
            trees = self._trees = pickle.loads(self._trees_blob)  # noqa: S301 - see __getstate__
        tree = trees[index]
        if isinstance(tree, tuple):
            tree = trees[index] = ir.decode(tree, self._atoms)
        rule, channel, event_ids, guard = self._slots[index]
        return Variant(rule, channel, event_ids, tree, guard)

    def _setup(self, stored: dict[Slot, bytes] | None = None) -> None:
        self._plan = None
        self._atoms: dict[ir.Encoded, ir.Atom] = {}
        self._by_key: dict[BucketKey, list[int]] = defaultdict(list)
        guards: set[str] = set()
        for index, (_, channel, event_ids, guard) in enumerate(self._slots):
            for eid in event_ids or (None,):
                if guard is not None:
                    guards.add(guard)
                    self._by_key[(_GUARD + guard, eid)].append(index)
                else:
                    self._by_key[(channel, eid)].append(index)
        self._by_key = dict(self._by_key)
        # The event ids the rules of each key name in EventID tests.
        self._named_by_key = {
            key: frozenset().union(*(self._named[i] for i in indices))
            for key, indices in self._by_key.items()
        }
        self._guards = tuple(sorted(guards))
        self._guard_set = frozenset(guards)
        self._buckets: dict[Slot, Bucket] = {}
        self._stored: dict[Slot, bytes] = stored or {}  # pickled buckets not needed yet
        self._memo: dict[tuple[Any, type, Any, tuple[str, ...]], Bucket | None] = {}
        self._info = self._rules
        self._absent_memo: dict[Any, dict[str, list[str]]] = {}
        self._pickled: bytes | None = None

    def warm(self, progress: CompileProgress | None = None) -> None:
        """Build now every bucket an event is likely to meet, rather than on its first event.

        Those are the buckets of every channel and event id the rules name (in logsources or
        in EventID tests), crossed, plus those of events whose channel or id no rule names,
        and, for events without a channel (syslog and the like), those of each guard field
        alone. Rarer events (a channel with a guard field, several guard fields) meet buckets
        built on first use.
        """
        channels = {k[0] for k in self._by_key if k[0] is None or not k[0].startswith(_GUARD)}
        eids = {k[1] for k in self._by_key}
        for named in self._named_by_key.values():
            eids.update(int(n) for n in named if isinstance(n, int) or n.is_integer())
        unnamed = -1  # an event id no rule names: buckets folded for "none of theirs"
        while unnamed in eids:
            unnamed -= 1
        wanted: list[tuple[str | None, int | None, tuple[str, ...]]] = [
            (channel, eid, ()) for channel in (*channels, _ELSE) for eid in (*eids, None, unnamed)
        ]
        wanted += [(None, None, (guard,)) for guard in self._guards]
        if progress is not None:
            progress.stage("building matchers", len(wanted))
        for channel, eid, guards in wanted:
            self._bucket_for(channel, eid, guards)
            if progress is not None:
                progress.advance()

    def _bucket_for(
        self, channel: str | None, eid: int | None, guards: tuple[str, ...]
    ) -> Bucket | None:
        wanted = [(channel, eid), (channel, None), (None, eid), (None, None)]
        for g in guards:
            wanted += [(_GUARD + g, eid), (_GUARD + g, None)]
        keys = tuple(k for k in dict.fromkeys(wanted) if k in self._by_key)
        if not keys:
            return None
        # Most events of a bucket's channel have an event id that its rules' EventID tests
        # decide: folded for that id, the bucket drops the rules that cannot hold (on a busy
        # channel such as Security, most of them) and the fields only those rules read.
        fold: int | str | None = None
        if eid is not None:
            named = frozenset().union(*(self._named_by_key[k] for k in keys))
            if named:
                fold = eid if eid in named else _OTHER_ID
        slot = (keys, fold)
        bucket = self._buckets.get(slot)
        if bucket is None:
            # A bucket is tens of thousands of objects that live as long as the set: the cyclic
            # collector would only walk them again and again while they are made (~25 % of
            # the time to unpickle the buckets a hunt over the mitre corpus meets).
            with collector_paused():
                bucket = self._load_bucket(slot) or self._build_bucket(keys, fold)
            self._buckets[slot] = bucket
        return bucket

    def _load_bucket(self, slot: Slot) -> Bucket | None:
        """The bucket the cache brought, if it did and it unpickles."""
        blob = self._stored.pop(slot, None)
        if blob is None:
            return None
        try:
            bucket = pickle.loads(blob)  # noqa: S301 - part of our own cache entry
        except _UNPICKLE_ERRORS:
            return None  # a damaged entry only costs this bucket its build
        return bucket if isinstance(bucket, Bucket) else None

    def _build_bucket(self, keys: Keys, fold: int | str | None) -> Bucket:
        indices = sorted({i for k in keys for i in self._by_key[k]})
        variants = [self._variant(i) for i in indices]
        if fold is not None:
            eid = fold if isinstance(fold, int) else None
            folded = []
            for i, v in zip(indices, variants, strict=True):
                if not self._named[i]:
                    folded.append(v)
                    continue
                tree = ir.fold_event_id(v.tree, eid)
                if tree != ir.Const(False):  # a rule that cannot hold for this id is left out
                    folded.append(dataclasses.replace(v, tree=tree))
            variants = folded
        return Bucket(sorted(variants, key=lambda v: v.rule))

    def _matching_rules(self, fields: dict[str, Any]) -> list[int]:
        channel = fields.get("Channel")
        eid = fields.get("EventID")
        guards: tuple[str, ...] = ()
        if self._guards:
            present = fields.keys() & self._guard_set  # most events have none of them
            if present:
                guards = tuple(g for g in self._guards if g in present and fields[g] is not None)
        # The id's type is part of the key: 4688 == 4688.0 and 1 == True as dict keys, yet
        # they name different buckets (True is no event id).
        key = (channel, eid.__class__, eid, guards)
        try:
            bucket = self._memo[key]
        except (KeyError, TypeError):
            ch = channel.lower() if isinstance(channel, str) else None
            n = values.number(eid)
            if isinstance(n, float) and n.is_integer():
                n = int(n)  # as the reference does: 4688.0 is event id 4688
            bucket = self._bucket_for(ch, n if isinstance(n, int) else None, guards)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()  # hostile input with endless channels: stay bounded
            with contextlib.suppress(TypeError):  # unhashable channel or id value
                self._memo[key] = bucket
        if bucket is None:
            return []
        return bucket.match(fields)

    def _reference_rules(self, fields: dict[str, Any]) -> list[int]:
        channel = fields.get("Channel")
        ch = channel.lower() if isinstance(channel, str) else None
        n = values.number(fields.get("EventID"))
        out: list[int] = []
        for v in self.plan.variants:
            if out and out[-1] == v.rule:
                continue
            if v.channel is not None and v.channel != ch:
                continue
            if v.guard is not None and fields.get(v.guard) is None:
                continue
            if v.event_ids and n not in v.event_ids:
                continue
            if reference.evaluate(v.tree, fields):
                out.append(v.rule)
        return sorted(set(out))

    def hits(self, fields: dict[str, Any]) -> list[int]:
        """Indices into ``rules`` of the rules an event with ``fields`` matches, in order."""
        return self._reference_rules(fields) if self.reference else self._matching_rules(fields)

    def match(self, event: Event) -> list[Detection]:
        """Detections of every rule that matches ``event``, in rule order."""
        idx = self.hits(event.fields)
        if not idx:
            return []
        return [self._detection(i, event) for i in idx]

    def match_batch(self, batch: EventBatch | Iterable[Event]) -> list[Detection]:
        """Detections of the events of ``batch``, in event order then rule order.

        A batch read with this set as ``rules`` (``readers.read_paths``) names it as
        ``matched_by``: the events the reader's worker already matched bring their ``hits``.
        """
        if isinstance(batch, EventBatch):
            owner: object = batch.matched_by
            if owner is self:
                return self._take_hits(batch.events)
        out: list[Detection] = []
        if self.reference or self._guards:
            match = self.match
            for event in batch:
                found = match(event)
                if found:
                    out.extend(found)
            return out
        # ``match``, ``hits`` and the memo look-up of ``_matching_rules`` inlined for the usual
        # case (no guard fields, a bucket already met): three Python calls an event fewer, on
        # every event a hunt reads. Anything else takes ``_matching_rules`` (same key, same
        # answer: the property test matches whole batches against the reference).
        memo = self._memo
        detection = self._detection
        for event in batch:
            fields = event.fields
            eid = fields.get("EventID")
            idx: list[int] | None
            try:
                bucket = memo[(fields.get("Channel"), eid.__class__, eid, ())]
            except (KeyError, TypeError):  # a bucket not met yet, or an unhashable value
                idx = self._matching_rules(fields)
            else:
                idx = bucket.match(fields) if bucket is not None else None
            if idx:
                out.extend([detection(i, event) for i in idx])
        return out

    def _take_hits(self, events: list[Event]) -> list[Detection]:
        out: list[Detection] = []
        info = self._info
        count = len(info)
        for event in events:
            idx = event.hits
            if idx is None:
                idx = self.hits(event.fields)
            elif idx and not all(i.__class__ is int and 0 <= i < count for i in idx):
                idx = self.hits(event.fields)  # not what this set's own worker could send
            if idx:
                out.extend([self._detection(i, event) for i in idx])
        return out

    def adopt_pickle(self, data: bytes) -> None:
        """``data`` is this set as unpickled (from the cache): ``pickled`` gives it back."""
        self._pickled = data

    def pickled(self) -> bytes:
        """This set, pickled once and kept, for a reader's worker process to run.

        See ``readers.read_paths(rules=...)``: a worker runs the rules on part of the
        records while the consumer of the batches falls behind.
        """
        if self._pickled is None:
            self._pickled = pickle.dumps(self, pickle.HIGHEST_PROTOCOL)
        return self._pickled

    def _detection(self, index: int, event: Event) -> Detection:
        info = self._info[index]
        det = Detection(
            rule_id=info.id,
            rule_title=info.title,
            level=info.level,
            timestamp=event.timestamp,
            tags=info.tags,
            rule_type="detection",
            event=event,
            rule_name=info.name,
        )
        if info.suppressed:
            det.details["suppressed"] = True
        if info.absent_filters:
            filters = self._absent_filters(index, event.fields)
            if filters:
                det.details["unsupported_filter_fields"] = filters
        return det

    def _absent_filters(self, index: int, fields: dict[str, Any]) -> dict[str, list[str]]:
        """``RuleInfo.absent_filters_for`` the event's source, worked out once per rule and
        source (every detection of a rule on one source shares the answer, read only)."""
        channel, eid = fields.get("Channel"), fields.get("EventID")
        key: tuple[Any, ...] | None = (index, channel, eid.__class__, eid)
        try:
            return self._absent_memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable channel or id
            key = None
        n = values.number(eid)
        number = int(n) if isinstance(n, int | float) and float(n).is_integer() else None
        found = self._info[index].absent_filters_for(channel, number)
        if key is not None and len(self._absent_memo) < _MEMO_LIMIT:
            self._absent_memo[key] = found
        return found

    def correlator(self) -> Any:
        """A fresh correlator for the correlation rules of the set, with
        ``correlation_limits`` (the defaults when None)."""
        from sentinelle.engine.correlation import Correlator

        return Correlator(self._correlations, base_rule_refs(self._rules), self.correlation_limits)

    def rejections(self) -> list[RuleError]:
        """Everything of the set that will never run: the load errors, then the correlations
        the correlator refuses though pySigma let them through (a percentile without
        ``percentile``, cycles, aliases naming unknown rules...)."""
        if not self._correlations:
            return list(self.errors)  # no need to load the correlation engine
        return [*self.errors, *self.correlator().errors]


def base_rule_refs(rules: Sequence[RuleInfo]) -> list[Any]:
    """The detection rules as the correlator knows them (``BaseRuleRef``)."""
    from sentinelle.engine.correlation import BaseRuleRef

    return [BaseRuleRef(r.id, r.name, r.title, r.level, r.tags) for r in rules]
