"""Provides the hub's timeliness figures: how fast each unit reported its cases up.

A county assesses its townships by their information reports: late (迟报) and missing (漏报)
ones. The hub already holds what it needs: every case event a unit sent (``hub_events``, each
with the case as it stood, its ``reporting`` facts included) and every report it received
(``hub_reports``). :func:`unit_obligations` rebuilds each case's history from them
(:func:`moments`: one :class:`~uplink.reporting.CaseMoment` per applied case event, in seq
order, what each event's ``change`` says winning over its snapshot of the case, which may have
been projected late) and hands it, with the reports filed, to the same calculator the township uses
(:func:`uplink.obligations.compute`) under the hub's own ``[sitrep]`` rules, so both sides
count alike and a township cannot report its way out of a rule the county set.

:func:`timeliness` sums the obligations falling due in a period per unit: how many, met on
time, late (with the median and worst delay, in minutes, of the reports that came late), still
unmet past their deadline (``overdue``; the initial reports among them are ``missing``: a
reportable case with no initial report after its deadline), and still due (deadline not
reached). Everything is evaluated as of ``now``: a report that came after the period still
turns a missing one into a late one.

A unit is read in a few queries whatever its size: its candidate cases (open, or changed
recently enough to owe something in the period), their case events through the
``(unit, subject, seq)`` index with only the fields the calculator needs, and their reports.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from incidents.models import Severity
from store.clock import from_iso, to_iso
from store.db import Database
from store.errors import InvalidInput
from store.i18n import _
from uplink.hub import get_unit, list_units
from uplink.models import Kind
from uplink.obligations import compute
from uplink.reporting import (
    CaseMoment,
    Channel,
    Filed,
    Obligation,
    ObligationKind,
    ObligationState,
    ReportKind,
)
from uplink.sitrep_rules import SitrepRules

_IN_CHUNK = 500
_decode = json.JSONDecoder().raw_decode  # SQLite's JSON text: no whitespace to skip first
# The applied events whose payload carries the case as it stood (reports are the filed ones).
_MOMENT_KINDS = tuple(kind.value for kind in Kind if kind.is_case) + (Kind.RESYNC.value,)


@dataclass(frozen=True)
class HubObligation:
    """One obligation of a unit's case, as the hub computes it.

    Attributes:
        met_by: the name of the report that met it (初报, 续报二...), or None.
    """

    unit: str
    title: str
    severity: str  # "I".."IV", as the case last stood
    obligation: Obligation
    met_by: str | None = None

    @property
    def number(self) -> str:
        return self.obligation.case_number

    def state(self, now: datetime) -> ObligationState:
        return self.obligation.state_at(now)

    def missing(self, now: datetime) -> bool:
        """An initial (written) report owed and past its deadline: 漏报."""
        return (
            self.obligation.kind is ObligationKind.INITIAL
            and self.state(now) is ObligationState.OVERDUE
        )

    def to_json(self, now: datetime) -> dict[str, Any]:
        data = self.obligation.to_json(now)
        data.pop("id", None)
        data["met_by"] = self.met_by
        return {
            "unit": self.unit,
            "title": self.title,
            "severity": self.severity,
            **data,
            "missing": self.missing(now),
        }


@dataclass(frozen=True)
class UnitTimeliness:
    """One unit's reporting in a period: its obligations falling due and how they were met.

    Attributes:
        obligations: falling due in the period (cancelled ones not counted).
        on_time, late: met before / after their deadline.
        overdue: not met and past their deadline (``missing`` included).
        missing: initial reports among ``overdue`` (漏报).
        due: not met, deadline not reached yet.
        median_delay, worst_delay: minutes past the deadline of the late ones (None: none late).
        reports: reports received from the unit that were sent in the period.
    """

    unit: str
    name: str
    obligations: int
    on_time: int
    late: int
    overdue: int
    missing: int
    due: int
    median_delay: float | None
    worst_delay: float | None
    reports: int

    @property
    def on_time_pct(self) -> float | None:
        met = self.on_time + self.late + self.overdue
        return round(100.0 * self.on_time / met, 1) if met else None

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "name": self.name,
            "obligations": self.obligations,
            "on_time": self.on_time,
            "late": self.late,
            "overdue": self.overdue,
            "missing": self.missing,
            "due": self.due,
            "median_delay_minutes": _round(self.median_delay),
            "worst_delay_minutes": _round(self.worst_delay),
            "on_time_pct": self.on_time_pct,
            "reports": self.reports,
        }


@dataclass(frozen=True)
class Timeliness:
    """Every unit's figures for ``[start, end)`` as of ``now``, with the obligations behind."""

    start: datetime
    end: datetime
    now: datetime
    units: list[UnitTimeliness]
    obligations: list[HubObligation]  # falling due in the period, not cancelled

    def to_json(self) -> dict[str, Any]:
        return {
            "from": to_iso(self.start),
            "to": to_iso(self.end),
            "now": to_iso(self.now),
            "units": [u.to_json() for u in self.units],
            "obligations": [o.to_json(self.now) for o in self.obligations],
        }


def _round(minutes: float | None) -> float | None:
    return round(minutes, 1) if minutes is not None else None


# --- a case's history from the events received ---------------------------------------------------


_LEVELS = {name: int(level) for name, level in Severity.__members__.items()}


def _severity(roman: Any) -> int | None:
    """1-4 of a level's Roman name (as events carry it); None when it is none."""
    return _LEVELS.get(str(roman))


class EventRow(NamedTuple):
    """What the calculator needs of one case event the hub applied (its ``payload.case`` and
    ``payload.change``, read with ``json_extract``)."""

    at: str
    kind: str
    severity: Any
    category: Any
    type: Any
    stage: Any
    reported_at: Any
    received_at: Any  # payload.case.reporting.received_at (None: not sent)
    marked: Any
    sensitive: Any
    change: Any  # payload.change: an object, or its JSON text (None for a resync)


_TRACKED = ("severity", "category", "type", "marked", "sensitive")


def _pair(change: dict[str, Any], name: str) -> list[Any] | None:
    """``[old, new]`` when the change carries ``name`` so."""
    pair = change.get(name)
    return pair if isinstance(pair, list) and len(pair) == 2 else None


def _change_of(row: EventRow) -> dict[str, Any]:
    change = row.change
    if isinstance(change, str):
        try:
            change = json.loads(change)
        except ValueError:
            return {}
    return change if isinstance(change, dict) else {}


def moments(rows: Sequence[EventRow]) -> list[CaseMoment]:
    """A case's moments from its applied case events, in seq order.

    Each event carries the case as it stood when the unit projected it, normally within a
    second of the change, but hours later after the unit's engine was off (then every event
    of the catch-up carries the latest case). So what the event's ``change`` says wins: the
    stage it moved to, the classification and marks before and after (``[old, new]``), a
    figures entry; the snapshot fills in what no change says (a unit that does not send
    these, a resync). The received time is the latest one sent (a correction counts from the
    start, as at the unit). A case without ``reporting`` was received when reported and never
    marked; an event with an unusable case is skipped.
    """
    return _moments(rows, [_change_of(row) for row in rows])


def _snapshot(row: EventRow) -> dict[str, Any]:
    return {
        "severity": row.severity,
        "category": row.category,
        "type": row.type,
        "stage": row.stage,
        "marked": bool(row.marked),
        "sensitive": bool(row.sensitive),
    }


def _moments(rows: Sequence[EventRow], changes: Sequence[dict[str, Any]]) -> list[CaseMoment]:
    """:func:`moments`, the changes of the rows already read."""
    received = next((r.received_at for r in reversed(rows) if r.received_at), None) or next(
        (r.reported_at for r in reversed(rows) if r.reported_at), None
    )
    if received is None:
        return []
    try:
        received_at = from_iso(str(received))
    except ValueError:
        return []
    # Before the first change of a value, it was that change's old value (not the snapshot's,
    # which may be later than the event).
    first: dict[str, Any] = {}
    for change in changes:
        if not change:
            continue
        for name in _TRACKED:
            if name in change and name not in first and (pair := _pair(change, name)):
                first[name] = pair[0]
    state: dict[str, Any] = {}
    out: list[CaseMoment] = []
    last: tuple[Any, ...] | None = None
    for row, change in zip(rows, changes, strict=True):
        if not change or not state:  # a resync, or the first event: the snapshot
            state = _snapshot(row)
            if change:
                state.update(first)
        kind = change.get("kind")
        if kind in ("edit", "sitrep_marked"):
            listed = change.get("fields")
            fields: list[Any] = listed if isinstance(listed, list) else []
            snapshot: dict[str, Any] | None = None
            for name in _TRACKED:
                if name in change and (pair := _pair(change, name)):
                    state[name] = pair[1]
                elif (kind == "edit" and name in fields) or (
                    kind == "sitrep_marked" and name in ("marked", "sensitive")
                ):
                    if snapshot is None:
                        snapshot = _snapshot(row)
                    state[name] = snapshot[name]  # a unit that sends no [old, new]
        stage_to = change.get("stage_to")
        if isinstance(stage_to, str):
            state["stage"] = stage_to
        level = _severity(state["severity"])
        figures = kind == "sitrep_figures"
        now = (
            str(state["category"] or ""),
            str(state["type"] or ""),
            level,
            str(state["stage"] or ""),
            bool(state["marked"]) or bool(state["sensitive"]),
        )
        if level is None or not now[3] or (now == last and not figures):
            continue  # unusable, or nothing that bears on reporting changed (a title edit...)
        try:
            moment_at = from_iso(str(row.at))
        except ValueError:
            continue
        last = now
        out.append(
            CaseMoment(
                at=moment_at,
                category=now[0],
                type=now[1],
                severity=level,
                stage=now[3],
                received_at=received_at,
                marked=now[4],
                figures_changed=figures,
            )
        )
    return out


_PRODUCT_MAX = 64  # classifications to try before reading the history instead


def _never_reportable(
    rows: Sequence[EventRow],
    changes: Sequence[dict[str, Any]],
    owes: Callable[[str, str, int, bool], bool],
) -> bool:
    """Whether none of the case's moments can be reportable, without building them: every
    value a moment's classification, level and marks can take comes from an event's snapshot
    or a change's ``[old, new]``, so when no combination of those values is reportable, no
    moment is. False when unsure (too many combinations)."""
    names: set[str] = set()  # the level as _moments reads it: str() of the value
    categories: set[str] = set()
    types: set[str] = set()
    marked = False
    for row, change in zip(rows, changes, strict=True):
        names.add(str(row.severity))
        categories.add(str(row.category or ""))
        types.add(str(row.type or ""))
        marked = marked or bool(row.marked) or bool(row.sensitive)
        if not change:
            continue
        for name in _TRACKED:
            if name in change and (pair := _pair(change, name)):
                if name == "severity":
                    names.update((str(pair[0]), str(pair[1])))
                elif name == "category":
                    categories.update((str(pair[0] or ""), str(pair[1] or "")))
                elif name == "type":
                    types.update((str(pair[0] or ""), str(pair[1] or "")))
                else:
                    marked = marked or bool(pair[0]) or bool(pair[1])
    levels = {level for name in names if (level := _LEVELS.get(name)) is not None}
    marks = (False, True) if marked else (False,)
    if len(levels) * len(categories) * len(types) * len(marks) > _PRODUCT_MAX:
        return False
    return not any(
        owes(category, type_, level, marked)
        for level in levels
        for category in categories
        for type_ in types
        for marked in marks
    )


class _Report(NamedTuple):
    """What the figures need of a report received (:class:`uplink.hub.HubReport`'s fields)."""

    kind: ReportKind
    channel: Channel
    at: datetime
    name: str


def _filed(found: Sequence[_Report]) -> list[Filed]:
    return [Filed(i, r.kind, r.channel, r.at) for i, r in enumerate(found)]


def _case_reports(db: Database, unit: str, numbers: Sequence[str]) -> dict[str, list[_Report]]:
    """The reports received for each of these cases (number -> reports by time), as
    :func:`uplink.hub.case_reports` orders them, without reading (and parsing) what each said:
    that was a sixth of the figures' time."""
    found: dict[str, list[_Report]] = {}
    for start in range(0, len(numbers), _IN_CHUNK):
        chunk = numbers[start : start + _IN_CHUNK]
        rows = db.conn.execute(
            "SELECT number, kind, channel, at, name FROM hub_reports WHERE unit = ?"
            f" AND number IN ({','.join('?' * len(chunk))}) ORDER BY number, at, seq",
            (unit, *chunk),
        )
        for number, kind, channel, at, name in rows:
            report = _Report(ReportKind(kind), Channel(channel), from_iso(at), name)
            found.setdefault(number, []).append(report)
    return found


def slack(rules: SitrepRules) -> timedelta:
    """How long after a case's last change an obligation of it can still fall due."""
    minutes = [rules.followup_minutes, rules.marked_minutes]
    for rule in rules.rules:
        minutes += [m for m in (rule.initial_minutes, rule.phone_minutes) if m is not None]
    return timedelta(hours=max(rules.final_hours, rules.daily_hours), minutes=max(minutes))


def _cases(
    db: Database, unit: str, horizon: datetime | None, numbers: Sequence[str] | None
) -> list[tuple[int, str, str, str]]:
    """(rowid, number, title, severity) of the unit's cases that may owe something: open, or
    changed since ``horizon``; lost ones left out."""
    where = ["unit = ?", "lost = 0"]
    params: list[Any] = [unit]
    if horizon is not None:
        where.append("(active = 1 OR last_change_at >= ?)")
        params.append(to_iso(horizon))
    if numbers is not None:
        if not numbers:
            return []
        where.append(f"number IN ({','.join('?' * len(numbers))})")
        params.extend(numbers)
    rows = db.conn.execute(
        f"SELECT rowid, number, title, severity FROM hub_cases WHERE {' AND '.join(where)}"
        " ORDER BY number",
        params,
    ).fetchall()
    return [(int(r[0]), r[1], r[2], r[3]) for r in rows]


def _case_rows(db: Database, unit: str, numbers: Sequence[str]) -> dict[str, list[EventRow]]:
    """The applied case events of each case (see :class:`EventRow`), in seq order."""
    kinds = ",".join("?" * len(_MOMENT_KINDS))
    found: dict[str, list[EventRow]] = {}
    for start in range(0, len(numbers), _IN_CHUNK):
        subjects = [f"case:{n}" for n in numbers[start : start + _IN_CHUNK]]
        # One json_extract of several paths parses each payload once (an array of the values).
        rows = db.conn.execute(
            "SELECT subject, at, kind, json_extract(payload, '$.case.severity',"
            " '$.case.category', '$.case.type', '$.case.stage', '$.case.reported_at',"
            " '$.case.reporting.received_at', '$.case.reporting.marked',"
            " '$.case.reporting.sensitive', '$.change')"
            " FROM hub_events WHERE unit = ? AND state = 'applied'"
            f" AND subject IN ({','.join('?' * len(subjects))}) AND kind IN ({kinds})"
            " ORDER BY subject, seq",
            (unit, *subjects, *_MOMENT_KINDS),
        )
        for subject, at, kind, values in rows:
            found.setdefault(subject[len("case:") :], []).append(
                EventRow(at, kind, *_decode(values)[0])
            )
    return found


def unit_obligations(
    db: Database,
    rules: SitrepRules,
    unit: str,
    now: datetime,
    *,
    horizon: datetime | None = None,
    numbers: Sequence[str] | None = None,
) -> list[HubObligation]:
    """Every obligation of the unit's cases as of ``now``, computed from what the hub received.

    Args:
        horizon: only cases open, or changed since then (None: every case).
        numbers: only these cases.
    """
    cases = _cases(db, unit, horizon, numbers)
    if not cases:
        return []
    wanted = [number for _rowid, number, _title, _severity in cases]
    rows = _case_rows(db, unit, wanted)
    received = _case_reports(db, unit, wanted)
    out: list[HubObligation] = []
    reportable: dict[tuple[str, str, int, bool], bool] = {}

    def owes(category: str, type_: str, level: int, marked: bool) -> bool:
        key = (category, type_, level, marked)
        if key not in reportable:
            written, _phone = rules.initial_minutes(category, type_, level, marked=marked)
            reportable[key] = written is not None
        return reportable[key]

    for rowid, number, title, severity in cases:
        events = rows.get(number, [])
        changes = [_change_of(row) for row in events]
        found = received.get(number, [])
        if not found and _never_reportable(events, changes, owes):
            continue  # never reportable, never reported: it owes nothing (history not needed)
        history = _moments(events, changes)
        if not history or (
            not found and not any(owes(m.category, m.type, m.severity, m.marked) for m in history)
        ):
            continue  # never reportable, never reported: it owes nothing
        for obligation in compute(
            history, _filed(found), rules, case_id=rowid, case_number=number, now=now
        ):
            met_by = found[obligation.met_by].name if obligation.met_by is not None else None
            out.append(HubObligation(unit, title, severity, obligation, met_by))
    return out


def obligations(
    db: Database,
    rules: SitrepRules,
    now: datetime,
    *,
    unit: str | None = None,
    case: str | None = None,
    since: datetime | None = None,
) -> list[HubObligation]:
    """The obligations of every unit's cases (or one unit's, one case's) as of ``now``,
    by due time; ``since``: only those falling due then or later (and the cases that can owe
    them).

    Raises:
        NotFound: ``unit`` is not registered here.
    """
    codes = [get_unit(db, unit).code] if unit is not None else [u.code for u in list_units(db)]
    horizon = since - slack(rules) if since is not None else None
    out: list[HubObligation] = []
    for code in codes:
        found = unit_obligations(
            db, rules, code, now, horizon=horizon, numbers=[case] if case is not None else None
        )
        out += [o for o in found if since is None or o.obligation.due >= since]
    out.sort(key=lambda o: (o.obligation.due, o.unit, o.number, o.obligation.kind.value))
    return out


def _reports_sent(db: Database, start: datetime, end: datetime) -> dict[str, int]:
    rows = db.conn.execute(
        "SELECT unit, count(*) FROM hub_reports WHERE at >= ? AND at < ? GROUP BY unit",
        (to_iso(start), to_iso(end)),
    )
    return {unit: int(n) for unit, n in rows}


def summarize(
    unit: str, name: str, due: Sequence[HubObligation], now: datetime, reports: int
) -> UnitTimeliness:
    """One unit's figures from its obligations falling due in the period (not cancelled)."""
    states = [o.state(now) for o in due]
    delays = [
        d
        for o, s in zip(due, states, strict=True)
        if s is ObligationState.LATE and (d := o.obligation.delay_at(now)) is not None
    ]
    return UnitTimeliness(
        unit=unit,
        name=name,
        obligations=len(due),
        on_time=states.count(ObligationState.MET),
        late=len(delays),
        overdue=states.count(ObligationState.OVERDUE),
        missing=sum(1 for o in due if o.missing(now)),
        due=states.count(ObligationState.PENDING),
        median_delay=statistics.median(delays) if delays else None,
        worst_delay=max(delays) if delays else None,
        reports=reports,
    )


def timeliness(
    db: Database, rules: SitrepRules, start: datetime, end: datetime, now: datetime
) -> Timeliness:
    """Every unit's reporting figures for the obligations falling due in ``[start, end)``,
    evaluated at ``now`` (see the module docstring).

    Raises:
        InvalidInput: ``end`` is not after ``start`` (field ``to``).
    """
    if end <= start:
        raise InvalidInput(_("must be after --from"), "to")
    horizon = start - slack(rules)
    sent = _reports_sent(db, start, end)
    units: list[UnitTimeliness] = []
    listed: list[HubObligation] = []
    for unit in list_units(db):
        due = [
            o
            for o in unit_obligations(db, rules, unit.code, now, horizon=horizon)
            if start <= o.obligation.due < end and not o.obligation.cancelled
        ]
        units.append(summarize(unit.code, unit.name, due, now, sent.get(unit.code, 0)))
        listed += due
    listed.sort(key=lambda o: (o.unit, o.obligation.due, o.number, o.obligation.kind.value))
    return Timeliness(start, end, now, units, listed)


@dataclass(frozen=True)
class ReportCounts:
    """A unit's reports owed at a glance (the hub's units screen).

    Attributes:
        missing: initial reports past their deadline, not made (漏报).
        overdue: other reports past their deadline, not made.
        due: reports owed whose deadline has not come.
        late: reports made after their deadline (迟报).
    """

    missing: int = 0
    overdue: int = 0
    due: int = 0
    late: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "missing": self.missing,
            "overdue": self.overdue,
            "due": self.due,
            "late": self.late,
        }


def report_counts(
    db: Database, rules: SitrepRules, now: datetime, *, since: datetime
) -> dict[str, ReportCounts]:
    """Per unit, its reports owed falling due since ``since``: missing, overdue, due, late."""
    tally: dict[str, list[int]] = {}
    for item in obligations(db, rules, now, since=since):
        state = item.state(now)
        counts = tally.setdefault(item.unit, [0, 0, 0, 0])
        if item.missing(now):
            counts[0] += 1
        elif state is ObligationState.OVERDUE:
            counts[1] += 1
        elif state is ObligationState.PENDING:
            counts[2] += 1
        elif state is ObligationState.LATE:
            counts[3] += 1
    return {unit: ReportCounts(*counts) for unit, counts in tally.items()}
