"""Provides the office's statistics for a period: what was reported, and the closed-loop
evaluation figures an office is assessed on, with the trend against the previous period.

:func:`compute_stats` reads the cases reported in the period (local days in the office's zone)
and their stage moves through :mod:`incidents.evaluation`, and the mobilizations started in it
through :mod:`mobilization.progress`; it returns a frozen :class:`Stats` (also the ``--json``
output). :func:`build_stats_report` turns one, and optionally the previous period's, into a
:class:`~reports.document.Document`.

Evaluation rules (one place, so the figures can be explained):

* a stage is *on time* when the case left it at or before the deadline in force then (the one
  set on entering it, or a granted extension or an unpark since); stages without a limit are not
  counted; registration is leaving 上报, dispatch leaving 立案, handling leaving 派遣 or 处置,
  closing leaving 反馈 or 核查;
* *overdue*: a case with a late stage move, a reminder, a supervision or overdue now;
  *supervised*: a case put under supervision (督办); *returned* (rework): a 回退 or a failed
  核查; *reopened*: a closed case reopened;
* handling time: reported → closed, for the cases closed (not voided).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from incidents.calendar import add_hours
from incidents.evaluation import CaseRow, MoveRow, moves_of, period_cases
from incidents.limits import LIMITED_STAGES, Policy, Resolved
from incidents.models import Severity, Source, Stage, category_label
from jurisdiction.units import list_units
from mobilization.progress import list_mobilizations, totals
from reports.document import (
    Chart,
    ChartKind,
    Document,
    Figures,
    Heading,
    Para,
    Series,
    Table,
)
from store.clock import from_iso
from store.db import Database
from store.errors import InvalidInput
from store.i18n import N_, _, language

BY_CHOICES = ("grid", "community", "category")
STAGE_GROUPS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("registration", N_("registration"), frozenset({"reported"})),
    ("dispatch", N_("dispatch"), frozenset({"registered"})),
    ("handling", N_("handling"), frozenset({"dispatched", "handling"})),
    ("closing", N_("closing"), frozenset({"feedback", "verified"})),
)
_GROUP_OF = {stage: key for key, _label, stages in STAGE_GROUPS for stage in stages}
MAX_PERIOD_DAYS = 3660
MAX_MOBILIZATIONS = 10_000


@dataclass(frozen=True)
class StageRate:
    key: str  # registration, dispatch, handling, closing
    moves: int  # stage moves with a deadline
    on_time: int

    @property
    def rate(self) -> float | None:
        return 100.0 * self.on_time / self.moves if self.moves else None


@dataclass(frozen=True)
class GroupStats:
    """The evaluation figures of one grid, community or category."""

    key: str
    label: str
    cases: int
    moves: int
    on_time: int
    overdue: int
    supervised: int
    returned: int
    closed: int
    avg_handling_h: float | None

    @property
    def on_time_rate(self) -> float | None:
        return 100.0 * self.on_time / self.moves if self.moves else None


@dataclass(frozen=True)
class Stats:
    """The figures of one period ``start``..``end`` (local days, both included)."""

    start: date
    end: date
    zone: str
    by: str | None
    cases: int
    per_day: tuple[tuple[str, int], ...]
    per_category: tuple[tuple[str, int], ...]  # (code, count), most first
    per_source: tuple[tuple[str, int], ...]
    per_severity: tuple[tuple[int, int], ...]
    stages: tuple[StageRate, ...]
    overdue: int
    supervised: int
    returned: int
    reopened: int
    closed: int
    voided: int
    avg_handling_h: float | None
    p90_handling_h: float | None
    mobilizations: int
    mob_people: int
    mob_yes: int
    mob_answered: int
    groups: tuple[GroupStats, ...] = field(default=())

    @property
    def moves(self) -> int:
        return sum(s.moves for s in self.stages)

    @property
    def on_time_rate(self) -> float | None:
        moves = self.moves
        return 100.0 * sum(s.on_time for s in self.stages) / moves if moves else None

    @property
    def return_rate(self) -> float | None:
        return 100.0 * self.returned / self.cases if self.cases else None

    @property
    def answer_rate(self) -> float | None:
        return 100.0 * self.mob_answered / self.mob_people if self.mob_people else None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "zone": self.zone,
            "by": self.by,
            "cases": self.cases,
            "per_day": dict(self.per_day),
            "per_category": dict(self.per_category),
            "per_source": dict(self.per_source),
            "per_severity": {Severity(k).roman: v for k, v in self.per_severity},
            "stages": {
                s.key: {"moves": s.moves, "on_time": s.on_time, "rate": _round(s.rate)}
                for s in self.stages
            },
            "on_time_rate": _round(self.on_time_rate),
            "overdue": self.overdue,
            "supervised": self.supervised,
            "returned": self.returned,
            "return_rate": _round(self.return_rate),
            "reopened": self.reopened,
            "closed": self.closed,
            "voided": self.voided,
            "avg_handling_h": _round(self.avg_handling_h),
            "p90_handling_h": _round(self.p90_handling_h),
            "mobilizations": self.mobilizations,
            "mobilized_people": self.mob_people,
            "mobilized_yes": self.mob_yes,
            "answer_rate": _round(self.answer_rate),
            "groups": [
                {
                    "key": g.key,
                    "label": g.label,
                    "cases": g.cases,
                    "on_time_rate": _round(g.on_time_rate),
                    "overdue": g.overdue,
                    "supervised": g.supervised,
                    "returned": g.returned,
                    "closed": g.closed,
                    "avg_handling_h": _round(g.avg_handling_h),
                }
                for g in self.groups
            ],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before ``start``..``end``."""
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def _bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    if end < start:
        raise InvalidInput(_("the end is before the start"), "to")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidInput(
            _("a period may span at most {days} days").format(days=MAX_PERIOD_DAYS), "to"
        )
    lo = datetime.combine(start, time(0), zone).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
    return lo, hi


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class _Acc:
    """Running evaluation figures of one group of cases."""

    __slots__ = ("cases", "moves", "on_time", "overdue", "supervised", "returned", "hours")

    def __init__(self) -> None:
        self.cases = self.moves = self.on_time = 0
        self.overdue = self.supervised = self.returned = 0
        self.hours: list[float] = []


@dataclass
class _Case:
    late: bool = False
    marked: bool = False
    supervised: bool = False
    returned: bool = False
    reopened: bool = False
    registered_at: str | None = None  # left 上报 with no deadline recorded (see compute_stats)
    moves: dict[str, list[int]] = field(default_factory=dict)  # group -> [moves, on time]


def _walk(moves: Iterable[MoveRow]) -> dict[int, _Case]:
    """Each case's stage moves judged against the deadline in force when they happened."""
    out: dict[int, _Case] = {}
    current = -1
    deadline: str | None = None
    case = _Case()
    for row in moves:
        if row.incident_id != current:
            current = row.incident_id
            deadline = None
            case = out.setdefault(current, _Case())
        if row.kind in ("supervise", "remind"):
            case.marked = True
            case.supervised = case.supervised or row.kind == "supervise"
            continue
        if row.stage_to is None:  # an extension granted or an unpark: a new limit
            deadline = row.deadline
            continue
        group = _GROUP_OF.get(row.stage_from or "")
        if row.stage_from == "reported" and deadline is None and case.registered_at is None:
            case.registered_at = row.at
        elif group is not None and deadline is not None:
            on_time = _utc(row.at) <= _utc(deadline)
            counts = case.moves.setdefault(group, [0, 0])
            counts[0] += 1
            counts[1] += int(on_time)
            case.late = case.late or not on_time
        if row.kind == "return" or (row.kind == "verify" and row.stage_to == "handling"):
            case.returned = True
        if row.kind == "reopen":
            case.reopened = True
        deadline = row.deadline
    return out


def _utc(text: str) -> datetime:
    return from_iso(text)


def _registered_on_time(
    policy: Policy,
    limits: dict[tuple[str, str, str], Resolved | None],
    row: CaseRow,
    registered_at: str,
) -> bool | None:
    """Whether the case left 上报 by its limit (``None``: the stage has none).

    The limit is resolved once per category, type and urgency; working hours are only counted
    on the calendar when the natural time taken exceeds them (a working-hour deadline is never
    earlier than the same number of natural hours).
    """
    key = (row.category, row.type, row.urgency)
    if key not in limits:
        limits[key] = (
            policy.limit(Stage.REPORTED, *key) if Stage.REPORTED in LIMITED_STAGES else None
        )
    limit = limits[key]
    if limit is None:
        return None
    reported, left = _utc(row.reported_at), _utc(registered_at)
    if left - reported <= timedelta(hours=limit.hours):
        return True
    return left <= add_hours(reported, limit.hours, limit.unit, policy.calendar)


def _group_keys(db: Database, by: str | None) -> dict[str, tuple[str, str]]:
    """grid code -> (key, label) of the group it falls in for ``by`` grid/community."""
    if by not in ("grid", "community"):
        return {}
    units = {u.code: u for u in list_units(db, include_history=True)}
    out: dict[str, tuple[str, str]] = {}
    for code, unit in units.items():
        if by == "grid":
            out[code] = (code, unit.name)
        else:
            parent = units.get(unit.parent_code or "")
            out[code] = (parent.code, parent.name) if parent else (code, unit.name)
    return out


def compute_stats(
    db: Database,
    start: date,
    end: date,
    *,
    by: str | None = None,
    zone: ZoneInfo,
    policy: Policy | None = None,
) -> Stats:
    """The statistics of the cases reported from ``start`` to ``end`` (local days, inclusive).

    The timeline does not record the limit of the first stage (上报 → 立案): with ``policy``
    it is computed from the case's report time, category, type and urgency, and registration
    is judged; without, registration counts no moves.

    Raises:
        InvalidInput: the end before the start, a period over ten years, an unknown ``by``.
    """
    if by is not None and by not in BY_CHOICES:
        raise InvalidInput(
            _("unknown split {by!r}; use grid, community or category").format(by=by), "by"
        )
    lo, hi = _bounds(start, end, zone)
    rows = list(period_cases(db, lo, hi))
    judged = _walk(moves_of(db, [row.id for row in rows]))
    names = _group_keys(db, by)
    per_day: dict[str, int] = {}
    per_category: dict[str, int] = {}
    per_source: dict[str, int] = {}
    per_severity: dict[int, int] = {}
    total = _Acc()
    groups: dict[str, tuple[str, _Acc]] = {}
    reopened = closed = voided = 0
    stage_counts = {key: [0, 0] for key, _label, _stages in STAGE_GROUPS}
    blank = _Case()
    limits: dict[tuple[str, str, str], Resolved | None] = {}
    day_cache: dict[str, str] = {}
    for row in rows:
        hour = row.reported_at[:13]
        day = day_cache.get(hour)
        if day is None:
            day = day_cache[hour] = _utc(row.reported_at).astimezone(zone).date().isoformat()
        per_day[day] = per_day.get(day, 0) + 1
        per_category[row.category] = per_category.get(row.category, 0) + 1
        per_source[row.source] = per_source.get(row.source, 0) + 1
        per_severity[row.severity] = per_severity.get(row.severity, 0) + 1
        case = judged.get(row.id, blank)
        accs = [total]
        if by is not None:
            if by == "category":
                key, label = row.category, category_label(row.category)
            else:
                grid = row.grid or ""
                key, label = names.get(grid, (grid or "-", grid or _("no grid")))
            accs.append(groups.setdefault(key, (label, _Acc()))[1])
        hours = None
        if row.stage == "closed" and row.closed_at:
            closed += 1
            hours = (_utc(row.closed_at) - _utc(row.reported_at)).total_seconds() / 3600
        voided += row.stage == "voided"
        reopened += case.reopened
        registration = None
        if policy is not None and case.registered_at is not None:
            registration = _registered_on_time(policy, limits, row, case.registered_at)
            if registration is not None:
                stage_counts["registration"][0] += 1
                stage_counts["registration"][1] += registration
        for group_key, (moves, on_time) in case.moves.items():
            stage_counts[group_key][0] += moves
            stage_counts[group_key][1] += on_time
        late = case.late or registration is False
        overdue = late or case.marked or row.overdue_since is not None
        supervised = case.supervised or bool(row.supervised)
        for acc in accs:
            acc.cases += 1
            for moves, on_time in case.moves.values():
                acc.moves += moves
                acc.on_time += on_time
            if registration is not None:
                acc.moves += 1
                acc.on_time += registration
            acc.overdue += overdue
            acc.supervised += supervised
            acc.returned += case.returned
            if hours is not None:
                acc.hours.append(hours)
    mobs = [
        m
        for m in list_mobilizations(db, exercise=False, limit=MAX_MOBILIZATIONS)
        if lo <= m.created_at < hi
    ]
    people = yes = answered = 0
    for mob in mobs:
        counts = totals(db, mob.id)
        people += counts.total
        yes += counts.yes
        answered += counts.yes + counts.no
    return Stats(
        start=start,
        end=end,
        zone=str(zone),
        by=by,
        cases=total.cases,
        per_day=tuple(sorted(per_day.items())),
        per_category=tuple(sorted(per_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        per_source=tuple(sorted(per_source.items(), key=lambda kv: (-kv[1], kv[0]))),
        per_severity=tuple(sorted(per_severity.items())),
        stages=tuple(
            StageRate(key, stage_counts[key][0], stage_counts[key][1])
            for key, _label, _stages in STAGE_GROUPS
        ),
        overdue=total.overdue,
        supervised=total.supervised,
        returned=total.returned,
        reopened=reopened,
        closed=closed,
        voided=voided,
        avg_handling_h=sum(total.hours) / len(total.hours) if total.hours else None,
        p90_handling_h=_percentile(total.hours, 0.9),
        mobilizations=len(mobs),
        mob_people=people,
        mob_yes=yes,
        mob_answered=answered,
        groups=tuple(
            GroupStats(
                key=key,
                label=label,
                cases=acc.cases,
                moves=acc.moves,
                on_time=acc.on_time,
                overdue=acc.overdue,
                supervised=acc.supervised,
                returned=acc.returned,
                closed=len(acc.hours),
                avg_handling_h=sum(acc.hours) / len(acc.hours) if acc.hours else None,
            )
            for key, (label, acc) in sorted(groups.items())
        ),
    )


# ----------------------------------------------------------------------------- the document


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _hours(value: float | None) -> str:
    return "-" if value is None else _("{hours:.1f} h").format(hours=value)


def _trend(now: float | None, before: float | None, *, pct: bool = False) -> str:
    """Δ against the previous period with an arrow (↑ up, ↓ down, → same)."""
    if now is None or before is None:
        return "-"
    delta = now - before
    arrow = "↑" if delta > 0 else "↓" if delta < 0 else "→"
    unit = " pt" if pct else ""
    if delta == 0:
        return f"{arrow} 0"
    text = f"{delta:+.1f}" if pct or not float(delta).is_integer() else f"{int(delta):+d}"
    return f"{arrow} {text}{unit}"


def _stage_label(key: str) -> str:
    return next(_(label) for k, label, _s in STAGE_GROUPS if k == key)


def _source_label(code: str) -> str:
    try:
        return Source(code).label
    except ValueError:
        return code


def build_stats_report(
    stats: Stats, previous: Stats | None, *, now: datetime, target: float = 90.0
) -> Document:
    """The statistics as a document: key figures, cases per day/category/source/severity, the
    evaluation per stage, the split when asked, and the trend against ``previous``."""
    zone = ZoneInfo(stats.zone)
    prev = previous
    figures = Figures(
        (
            (_("cases"), str(stats.cases), _trend(stats.cases, prev.cases if prev else None)),
            (
                _("on time"),
                _pct(stats.on_time_rate),
                _trend(stats.on_time_rate, prev.on_time_rate if prev else None, pct=True),
            ),
            (
                _("overdue"),
                str(stats.overdue),
                _trend(stats.overdue, prev.overdue if prev else None),
            ),
            (
                _("returned"),
                _pct(stats.return_rate),
                _trend(stats.return_rate, prev.return_rate if prev else None, pct=True),
            ),
            (
                _("handling time p90"),
                _hours(stats.p90_handling_h),
                _trend(stats.p90_handling_h, prev.p90_handling_h if prev else None),
            ),
            (
                _("answer rate"),
                _pct(stats.answer_rate),
                _trend(stats.answer_rate, prev.answer_rate if prev else None, pct=True),
            ),
        )
    )
    blocks: list[Any] = [figures]
    blocks.append(Heading(1, _("Cases received")))
    blocks.append(
        Chart(
            ChartKind.BAR,
            _("Cases per day"),
            series=(Series(_("cases"), tuple((d[5:], float(n)) for d, n in stats.per_day)),),
            x_label=_("day"),
            y_label=_("cases"),
        )
    )
    blocks.append(
        Chart(
            ChartKind.BARH,
            _("Cases per category"),
            series=(
                Series(
                    _("cases"),
                    tuple((category_label(c), float(n)) for c, n in stats.per_category),
                ),
            ),
            x_label=_("category"),
            y_label=_("cases"),
        )
    )
    blocks.append(
        Table(
            (_("source"), _("cases")),
            tuple((_source_label(s), str(n)) for s, n in stats.per_source),
            align="lr",
            caption=_("Cases by source"),
        )
    )
    blocks.append(
        Table(
            (_("severity"), _("cases")),
            tuple((Severity(s).label, str(n)) for s, n in stats.per_severity),
            align="lr",
            caption=_("Cases by severity"),
        )
    )
    blocks.append(Heading(1, _("Closed-loop evaluation")))
    before = {s.key: s for s in prev.stages} if prev else {}
    rows = []
    marked = set()
    for i, s in enumerate(stats.stages):
        old = before.get(s.key)
        rows.append(
            (
                _stage_label(s.key),
                str(s.moves),
                str(s.on_time),
                _pct(s.rate),
                _trend(s.rate, old.rate if old else None, pct=True),
            )
        )
        if s.rate is not None and s.rate < target:
            marked.add(i)
    blocks.append(
        Table(
            (_("stage"), _("moves"), _("on time"), _("rate"), _("trend")),
            tuple(rows),
            align="lrrrr",
            caption=_("On-time rate per stage (target {target:.0f}%)").format(target=target),
            marked=frozenset(marked),
        )
    )
    facts_rows = (
        (
            _("overdue cases"),
            str(stats.overdue),
            _trend(stats.overdue, prev.overdue if prev else None),
        ),
        (
            _("supervised cases"),
            str(stats.supervised),
            _trend(stats.supervised, prev.supervised if prev else None),
        ),
        (
            _("returned (rework)"),
            f"{stats.returned} ({_pct(stats.return_rate)})",
            _trend(stats.return_rate, prev.return_rate if prev else None, pct=True),
        ),
        (
            _("reopened"),
            str(stats.reopened),
            _trend(stats.reopened, prev.reopened if prev else None),
        ),
        (_("closed"), str(stats.closed), _trend(stats.closed, prev.closed if prev else None)),
        (_("voided"), str(stats.voided), _trend(stats.voided, prev.voided if prev else None)),
        (
            _("average handling time"),
            _hours(stats.avg_handling_h),
            _trend(stats.avg_handling_h, prev.avg_handling_h if prev else None),
        ),
        (
            _("p90 handling time"),
            _hours(stats.p90_handling_h),
            _trend(stats.p90_handling_h, prev.p90_handling_h if prev else None),
        ),
    )
    blocks.append(Table((_("figure"), _("value"), _("trend")), facts_rows, align="lrr", caption=""))
    if stats.groups:
        by_name = {"grid": _("grid"), "community": _("community"), "category": _("category")}
        head = by_name.get(stats.by or "", stats.by or "")
        blocks.append(Heading(2, _("Per {split}").format(split=head)))
        blocks.append(
            Table(
                (
                    head,
                    _("cases"),
                    _("on time"),
                    _("overdue"),
                    _("supervised"),
                    _("returned"),
                    _("average handling time"),
                ),
                tuple(
                    (
                        g.label,
                        str(g.cases),
                        _pct(g.on_time_rate),
                        str(g.overdue),
                        str(g.supervised),
                        str(g.returned),
                        _hours(g.avg_handling_h),
                    )
                    for g in stats.groups
                ),
                align="lrrrrrr",
                marked=frozenset(
                    i
                    for i, g in enumerate(stats.groups)
                    if g.on_time_rate is not None and g.on_time_rate < target
                ),
            )
        )
        if stats.by == "grid":
            blocks.append(
                Chart(
                    ChartKind.BARH,
                    _("On-time rate per grid"),
                    series=(
                        Series(
                            _("on time"),
                            tuple(
                                (g.label, g.on_time_rate)
                                for g in stats.groups
                                if g.on_time_rate is not None
                            ),
                        ),
                    ),
                    percent=True,
                    reference=target,
                    x_label=_("grid"),
                    y_label=_("on-time rate"),
                    note=_("dashed line: the target, {target:.0f}%").format(target=target),
                )
            )
    blocks.append(Heading(1, _("Mobilizations")))
    blocks.append(
        Para(
            _(
                "{count} mobilizations called {people} people; {yes} said yes; answer rate {rate}."
            ).format(
                count=stats.mobilizations,
                people=stats.mob_people,
                yes=stats.mob_yes,
                rate=_pct(stats.answer_rate),
            )
        )
    )
    if prev is not None:
        blocks.append(
            Para(
                _("Trends compare with {start} – {end}.").format(
                    start=prev.start.isoformat(), end=prev.end.isoformat()
                )
            )
        )
    period = f"{stats.start.isoformat()} – {stats.end.isoformat()}"
    return Document(
        kind="stats",
        title=_("Statistics {period}").format(period=period),
        blocks=tuple(blocks),
        generated_at=now,
        lang=language(),
        facts=(
            (_("period"), period),
            (_("time zone"), stats.zone),
            (_("generated at"), now.astimezone(zone).strftime("%Y-%m-%d %H:%M")),
        ),
        masked=True,
    )
