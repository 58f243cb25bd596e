"""What a hunt read and found, accumulated detection by detection so it never holds them all.

Every output that shows a summary (the terminal table, the HTML report) reads this one object,
so the figures agree whichever format the analyst picked.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentinelle.detections import LEVELS, Detection, level_rank
from sentinelle.events import ReadIssue
from sentinelle.hunt.attack import tactics_of, techniques_of

if TYPE_CHECKING:
    from sentinelle.hunt.hospital import HospitalFindings

# Read issues kept verbatim for the report; the rest are counted only, since a corrupt file can
# produce one issue per record.
MAX_ISSUE_SAMPLES = 200
# Seconds since the epoch of 0001-01-01 and 10000-01-01: the times a datetime can hold.
_CALENDAR = (-62_135_596_800.0, 253_402_300_800.0)


@dataclass(slots=True)
class FileResult:
    """What one worker reports for one input file."""

    path: str
    events: int = 0
    events_without_time: int = 0
    detections: int = 0
    issues: int = 0
    issue_samples: list[ReadIssue] = field(default_factory=list)
    failed: bool = False  # the file as a whole could not be read
    seconds: float = 0.0
    hosts: set[str] = field(default_factory=set)  # computers with detections (a sample)


@dataclass(frozen=True, slots=True)
class RuleKey:
    rule_id: str
    title: str
    level: str


@functools.lru_cache(maxsize=64)
def _counted_level(level: str) -> str:
    """A detection's level as the summary counts it."""
    return level.lower() if level.lower() in LEVELS else "informational"


@functools.lru_cache(maxsize=16384)
def _rule_facts(
    rule_id: str, title: str, level: str, tags: tuple[str, ...]
) -> tuple[str, RuleKey, tuple[str, ...], tuple[str, ...]]:
    """What the summary counts of a rule's detection (its level as counted, its key, the
    names of its tactics and its techniques), worked out once per rule: a frozen dataclass
    and the tag parsing are slow to redo for every detection."""
    counted = _counted_level(level)
    return (
        counted,
        RuleKey(rule_id, title, counted),
        tuple(tactic.name for tactic in tactics_of(tags)),
        tuple(techniques_of(tags)),
    )


@dataclass(slots=True)
class HuntSummary:
    """Counts over the files read and over the detections shown."""

    files: int = 0
    files_failed: int = 0
    events: int = 0
    events_without_time: int = 0
    read_issues: int = 0
    issue_samples: list[ReadIssue] = field(default_factory=list)
    rules_loaded: int = 0
    rule_errors: list[str] = field(default_factory=list)
    rules_seconds: float = 0.0  # loading the compiled rules, or compiling them (cold cache)
    rules_compiled: bool = False  # compiled by this hunt, not taken from the cache
    detections: int = 0
    by_host: Counter[str] = field(default_factory=Counter)
    per_hour: dict[int, Counter[str]] = field(default_factory=dict)
    first: float | None = None
    last: float | None = None
    seconds: float = 0.0
    hospital: HospitalFindings | None = None  # with a hospital model (``hunt.hospital``)
    # Wall-clock seconds per stage of the command, in order (start-up, inputs, rules, reading
    # and matching, timeline): where a hunt's time goes, shown with Elapsed.
    stages: dict[str, float] = field(default_factory=dict)
    # The same stages in CPU seconds of the command's own process (workers and the EVTX parser
    # process apart), for ``--stats``: on a busy machine wall-clock time says little.
    stage_cpu: dict[str, float] = field(default_factory=dict)
    # What correlation rules forgot at their state caps (``Correlator.evictions``), one record
    # per rule: rule_id, title, groups, entries, events, first, last (input times).
    state_evictions: list[dict[str, Any]] = field(default_factory=list)
    # What follows from a detection's rule and level alone (the counts by level, rule, tactic
    # and technique) is counted per (rule id, title, level, tags) while detections stream, one
    # dict entry a detection, and spread over those counters when one is read (summing the
    # 16,020 detections of the mitre corpus x10 took 46 to 52 ms with seven counter updates
    # each, 32 to 33 ms so).
    _per_rule: dict[tuple[str, str, str, tuple[str, ...]], int] = field(
        default_factory=dict, init=False, repr=False
    )
    _by_level: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _by_rule: Counter[RuleKey] = field(default_factory=Counter, init=False, repr=False)
    _by_tactic: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _by_technique: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _rules_by_technique: dict[str, Counter[str]] = field(
        default_factory=dict, init=False, repr=False
    )

    def add_file(self, result: FileResult) -> None:
        self.files += 1
        self.files_failed += int(result.failed)
        self.events += result.events
        self.events_without_time += result.events_without_time
        self.read_issues += result.issues
        room = MAX_ISSUE_SAMPLES - len(self.issue_samples)
        if room > 0:
            self.issue_samples.extend(result.issue_samples[:room])

    def add(self, det: Detection) -> None:
        """Count one detection that the hunt shows."""
        self.detections += 1
        key = (det.rule_id, det.rule_title, det.level, tuple(det.tags))  # a tuple: as it is
        per_rule = self._per_rule
        per_rule[key] = per_rule.get(key, 0) + 1
        host = det.computer
        if host:
            self.by_host[host] += 1
        ts = det.timestamp
        # A time the calendar cannot hold (NaN, the year 99999) places nothing on the timeline.
        if ts is not None and _CALENDAR[0] <= ts < _CALENDAR[1]:
            if self.first is None or ts < self.first:
                self.first = ts
            if self.last is None or ts > self.last:
                self.last = ts
            hour = int(ts // 3600)
            counts = self.per_hour.get(hour)
            if counts is None:  # not setdefault: that would make a Counter per detection
                counts = self.per_hour[hour] = Counter()
            counts[_counted_level(det.level)] += 1

    def _spread(self) -> None:
        """The counts kept per rule and level so far, added to the counters they make."""
        if not self._per_rule:
            return
        pending, self._per_rule = self._per_rule, {}
        for (rule_id, title, level, tags), count in pending.items():
            counted, rule, tactics, techniques = _rule_facts(rule_id, title, level, tags)
            self._by_level[counted] += count
            self._by_rule[rule] += count
            for tactic in tactics:
                self._by_tactic[tactic] += count
            for technique in techniques:
                self._by_technique[technique] += count
                per_rule = self._rules_by_technique.get(technique)
                if per_rule is None:
                    per_rule = self._rules_by_technique[technique] = Counter()
                per_rule[title] += count

    @property
    def by_level(self) -> Counter[str]:
        """Detections shown per level (Sigma's five; an unknown one counts as informational)."""
        self._spread()
        return self._by_level

    @property
    def by_rule(self) -> Counter[RuleKey]:
        self._spread()
        return self._by_rule

    @property
    def by_tactic(self) -> Counter[str]:
        self._spread()
        return self._by_tactic

    @property
    def by_technique(self) -> Counter[str]:
        self._spread()
        return self._by_technique

    @property
    def rules_by_technique(self) -> dict[str, Counter[str]]:
        """Per ATT&CK technique, the detections shown per rule title."""
        self._spread()
        return self._rules_by_technique

    @property
    def highest_level(self) -> str | None:
        """The most severe level among the detections shown, or None without any."""
        if not self.by_level:
            return None
        return max(self.by_level, key=level_rank)
