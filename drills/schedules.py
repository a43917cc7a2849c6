"""Provides drill schedules: when a plan runs, its occurrences across DST, and the claims that make
each occurrence and each reminder happen exactly once.

A schedule is a row: the plan, the first occurrence's local wall time, the time zone and an
optional RFC 5545 RRULE. Occurrences are computed, never stored: the rule is expanded on naive
wall times (``dateutil.rrule``) and each is localized in the zone, so "09:00 on the first
Wednesday" stays 09:00 local across daylight saving; a wall time in the spring-forward gap moves
forward by the gap and an ambiguous one takes its first instance (RFC 5545 3.3.5; what
:mod:`zoneinfo` does with ``fold=0``). A reminder a whole number of days before keeps the wall
clock (a day before a 09:00 drill is 09:00, as RFC 5545 counts ``P1D``); one in hours or minutes
is real time (:func:`reminder_at`).

**Claims.** Each due moment, an occurrence's run (``run``) or one of its reminders
(``remind:<minutes before>``), is claimed by one ``drill_claims`` row, PRIMARY KEY (schedule,
occurrence, what), inserted with ``INSERT OR IGNORE`` *before* anything is done and in the same
transaction as what is done (the run started, the reminder queued). Whoever inserts the row
acts; whoever finds it there does nothing. So two engines on one database, an engine restarted
inside a reminder's window, or a clock that jumps never act on a moment twice, and the row
keeps what became of the moment (:class:`~drills.models.ClaimOutcome`).

**Catch-up policy.** Each schedule keeps ``checked_until``; :func:`fire_due` claims the moments
in (``checked_until``, now], oldest first, and moves ``checked_until`` to now. A moment late by
no more than the grace period fires: ``fired`` when less than a minute late, else ``late`` with
``late_s`` (the reminder's text says "late by N min"). One later than that is ``missed``:
recorded, shown (:func:`missed`), nothing sent; never silently dropped. Never a burst: of several
runs of one schedule due in one pass only the newest within grace fires and the older ones are
``missed``; of several reminders of one occurrence only the newest is sent (the others
``skipped``); a reminder whose occurrence is already past is ``missed``. A cancelled schedule
claims nothing new; a cancelled occurrence gets its claims written ``cancelled`` in advance.
Moments before the schedule was made are not its to claim. An unannounced drill's reminders go
to the organizer and evaluators only (``skipped`` when there is nobody); an inactive plan's
moments are ``skipped``. A run claim whose run could not be started (``start_run`` refused)
is tried again by later passes while within grace, then becomes ``missed``.

**When to look.** Each active schedule stores ``next_at``, its first moment after
``checked_until`` not claimed yet (by the plan's reminders now), and ``next_occurrence``, its
next drill not cancelled. They are set when the schedule is made, after each pass that claims
for it, when one of its occurrences is cancelled and when its plan's reminders or state change
(:func:`refresh_next`); NULL once it is cancelled or ended. They are only an index of when to
look: :func:`fire_due` looks at the schedules whose ``next_at`` has come, :func:`next_moments`
and :func:`next_drill` read them without expanding a rule. The claims stay the truth: a
``next_at`` too early costs a pass that claims nothing; it is computed so that it is never late.

The engine calls :func:`fire_due` when it starts (the catch-up) and at each moment
:func:`next_moments` gives (its APScheduler jobs): the tables, not the jobs, are the truth, so
the jobs can be rebuilt from them at any time.
"""

from __future__ import annotations

import heapq
import json
import warnings
from collections.abc import Callable, Container, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from drills.models import (
    RUN_WHAT,
    ClaimOutcome,
    DrillKind,
    Due,
    Hours,
    Occurrence,
    Plan,
    Schedule,
    ScheduleState,
    remind_what,
)
from drills.notices import queue_reminder, reminder_people
from drills.plans import get_plan
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import DutydeskError, InvalidInput, InvalidTransition, NotFound
from store.i18n import _

OPERATOR = "scheduler"  # who starts scheduled runs
ON_TIME_S = 60  # a moment fired less late than this is "fired", else "late"
BATCH = 50  # schedules claimed per commit
WORKING_CHECKED = 12  # occurrences checked against the plan's hours when a schedule is made
# A zone's offset changes by less than a day: a wall time this much before a moment's own wall
# time is before the moment, whatever changed in between.
SLACK = timedelta(days=1)
FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")  # drills repeat hourly at most
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

SCHEDULE_COLUMNS = (
    "s.id, s.plan_id, p.code, s.start, s.zone, s.rrule, s.state, s.checked_until, s.created_at,"
    " s.created_by, s.cancelled_at, p.name, p.kind, p.announced, p.reminders, p.active,"
    " p.updated_at, s.next_at, s.next_occurrence"
)
SCHEDULE_FROM = "drill_schedules s JOIN drill_plans p ON p.id = s.plan_id"

RuleCache = dict[tuple[str, str, str], Any]


class _Row(NamedTuple):
    """A schedule with what of its plan the schedule needs, as :data:`SCHEDULE_COLUMNS` reads."""

    id: int
    plan_id: int
    plan_code: str
    start: str
    zone: str
    rrule: str | None
    state: str
    checked_until: str | None
    created_at: str
    created_by: str
    cancelled_at: str | None
    plan_name: str
    kind: str
    announced: int
    reminders: str
    plan_active: int
    plan_updated_at: str
    next_at: str | None
    next_occurrence: str | None

    def schedule(self) -> Schedule:
        return Schedule(
            id=self.id,
            plan_id=self.plan_id,
            plan_code=self.plan_code,
            start=datetime.fromisoformat(self.start),
            zone=self.zone,
            rrule=self.rrule,
            state=ScheduleState(self.state),
            created_at=from_iso(self.created_at),
            created_by=self.created_by,
            cancelled_at=from_iso(self.cancelled_at) if self.cancelled_at else None,
        )

    @property
    def minutes(self) -> tuple[int, ...]:
        """The plan's reminders, in minutes before each occurrence."""
        return tuple(int(m) for m in json.loads(self.reminders or "[]"))

    @property
    def since(self) -> datetime:
        """Where the schedule's claims have got to (its creation, before the first pass)."""
        return from_iso(self.checked_until or self.created_at)


def _rows(db: Database, where: str = "1 = 1", params: Sequence[Any] = ()) -> list[_Row]:
    sql = f"SELECT {SCHEDULE_COLUMNS} FROM {SCHEDULE_FROM} WHERE {where} ORDER BY s.id"
    return [_Row._make(r) for r in db.conn.execute(sql, params)]


# ------------------------------------------------------------------------------- rules and time


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(_("unknown time zone {zone}").format(zone=name), "zone") from exc


def _localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time in ``zone`` as aware UTC: ``fold=0`` takes an ambiguous time's first
    instance, and reads a time in a gap with the offset before it (forward by the gap)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def reminder_at(occurrence: datetime, minutes: int, zone: str | ZoneInfo) -> datetime:
    """When the reminder ``minutes`` before ``occurrence`` (UTC) falls due, as UTC.

    Whole days are counted on the wall clock, as RFC 5545 counts a nominal ``P1D``: the
    reminder a day before a 09:00 drill comes at 09:00 the day before, even across a DST
    change; hours and minutes are real time (``PT60M``).
    """
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return _reminder(occurrence, None, minutes, tz)


def _reminder(at: datetime, wall: datetime | None, minutes: int, zone: ZoneInfo) -> datetime:
    """:func:`reminder_at`, given the occurrence's wall time when it is known already."""
    days, rest = divmod(minutes, 1440)
    if rest:
        return at - timedelta(minutes=minutes)
    return _localize((wall or _wall(at, zone)) - timedelta(days=days), zone)


def _parts(text: str) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    for pair in text.split(";"):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInput(_("{part!r} is not NAME=VALUE").format(part=pair.strip()), "rrule")
        parts.append((name.strip().upper(), value.strip().upper()))
    return parts


def _impossible(parts: dict[str, str]) -> str | None:
    """A BYMONTHDAY no month of BYMONTH has (Feb 30): dateutil would search to the year 9999."""
    if "BYMONTHDAY" not in parts:
        return None
    try:
        days = [abs(int(d)) for d in parts["BYMONTHDAY"].split(",")]
        months = [int(m) for m in parts.get("BYMONTH", "1,2,3,4,5,6,7,8,9,10,11,12").split(",")]
        longest = max(MONTH_DAYS[m - 1] for m in months)
    except (ValueError, IndexError):
        return None  # dateutil's parser names the fault
    if min(days) > longest:
        return _("no month of BYMONTH has day {day}").format(day=min(days))
    return None


def clean_rrule(text: str) -> str:
    """An RRULE as stored: upper case, without a leading ``RRULE:``; BYHOUR without BYMINUTE
    gets ``BYMINUTE=0`` and either without BYSECOND gets ``BYSECOND=0`` (the time comes from
    the rule, not from the start). Checks only the form; :func:`_rule` parses it.

    Raises:
        InvalidInput: an empty rule, a DTSTART or a second line in it, a part that is not
            NAME=VALUE, no FREQ or one finer than HOURLY, COUNT with UNTIL, an impossible day.
    """
    rule = " ".join(text.split())
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :].strip()
    if not rule:
        raise InvalidInput(_("the rule is empty"), "rrule")
    if ":" in rule or "DTSTART" in rule.upper():
        raise InvalidInput(
            _("give one RRULE without DTSTART: the start is given separately"), "rrule"
        )
    parts = _parts(rule.rstrip(";"))
    named = dict(parts)
    if len(named) != len(parts):
        raise InvalidInput(_("a part of the rule is given twice"), "rrule")
    freq = named.get("FREQ")
    if freq is None:
        raise InvalidInput(_("the rule needs a FREQ"), "rrule")
    if freq not in FREQS:
        raise InvalidInput(
            _("FREQ={freq}: drills repeat at most hourly ({freqs})").format(
                freq=freq, freqs=", ".join(FREQS)
            ),
            "rrule",
        )
    if "COUNT" in named and "UNTIL" in named:
        raise InvalidInput(_("give COUNT or UNTIL, not both"), "rrule")
    reason = _impossible(named)
    if reason:
        raise InvalidInput(reason, "rrule")
    if "BYHOUR" in named and "BYMINUTE" not in named:
        parts.append(("BYMINUTE", "0"))
    if ("BYHOUR" in named or "BYMINUTE" in named) and "BYSECOND" not in named:
        parts.append(("BYSECOND", "0"))
    return ";".join(f"{name}={value}" for name, value in parts)


def _local_until(rule: str, zone: ZoneInfo) -> str:
    """The rule with a UTC UNTIL (``...Z``, as RFC 5545 asks with a zoned start) turned into
    the zone's wall time, since the rule is expanded on wall times."""
    parts = []
    for part in rule.split(";"):
        name, _sep, value = part.partition("=")
        if name == "UNTIL" and value.endswith("Z"):
            try:
                at = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            except ValueError:
                raise InvalidInput(
                    _("UNTIL={value} is not a time like 20261231T160000Z").format(value=value),
                    "rrule",
                ) from None
            value = _wall(at, zone).strftime("%Y%m%dT%H%M%S")
        parts.append(f"{name}={value}")
    return ";".join(parts)


def _rule(rule: str, start: datetime, zone: ZoneInfo) -> Any:
    """The dateutil rule of a stored RRULE from the wall time ``start``.

    Raises:
        InvalidInput: dateutil refuses it (its words).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return rrulestr(_local_until(rule, zone), dtstart=start)
    except (ValueError, TypeError, Warning) as exc:
        raise InvalidInput(
            _("not a valid RRULE: {error}").format(error=str(exc) or type(exc).__name__), "rrule"
        ) from exc


class _Expander:
    """Occurrences of schedules, each rule text parsed once per call of the public functions
    (schedules share a few rules: each gets the parsed rule with its own start)."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], Any] = {}
        self._rules: RuleCache = {}
        self.plans: dict[tuple[int, str], Plan] = {}  # (id, updated_at): read once per call

    def rule(self, rule: str, start: datetime, zone: ZoneInfo) -> Any:
        key = (rule, start.isoformat(), zone.key)
        if key not in self._rules:
            parsed = self._parsed.get((rule, zone.key))
            if parsed is None:
                parsed = self._parsed[rule, zone.key] = _rule(rule, start, zone)
            self._rules[key] = parsed.replace(dtstart=start)
        return self._rules[key]

    def stream(
        self, rule: str | None, start: datetime, zone_name: str, after: datetime
    ) -> Iterator[datetime]:
        """The occurrences after ``after`` (UTC), soonest first, without duplicates."""
        zone = ZoneInfo(zone_name)
        if rule is None:
            at = _localize(start, zone)
            if at > after:
                yield at
            return
        walls = self.rule(rule, start, zone).xafter(_wall(after, zone) - SLACK, inc=True)
        # Wall order is UTC order except for a wall time in a DST gap, which moves forward by
        # the gap, past later wall times: such a time is held until a time outside any gap
        # (which nothing later can precede) shows it is next.
        held: list[datetime] = []
        last: datetime | None = None
        for wall in walls:
            at = _localize(wall, zone)
            if at <= after:
                continue
            if _wall(at, zone) != wall:
                heapq.heappush(held, at)
                continue
            while held and held[0] <= at:
                first = heapq.heappop(held)
                if first != last:
                    last = first
                    yield first
            if at != last:
                last = at
                yield at
        while held:
            first = heapq.heappop(held)
            if first != last:
                last = first
                yield first

    def between(
        self, rule: str | None, start: datetime, zone: str, after: datetime, before: datetime
    ) -> list[datetime]:
        out: list[datetime] = []
        for at in self.stream(rule, start, zone, after):
            if at > before:
                break
            out.append(at)
        return out


def occurrences(schedule: Schedule, after: datetime, before: datetime) -> list[datetime]:
    """The schedule's occurrences in (``after``, ``before``], as aware UTC, soonest first.

    The RRULE is expanded on naive local wall times and each localized in the schedule's zone:
    a wall time in the spring-forward gap moves forward by the gap (RFC 5545 3.3.5), an
    ambiguous one takes the first instance (``fold=0``). A one-off has one occurrence.
    """
    return _Expander().between(schedule.rrule, schedule.start, schedule.zone, after, before)


# ------------------------------------------------------------------------------- when to look next


class _Next(NamedTuple):
    """A schedule's ``next_at`` and ``next_occurrence``, as stored."""

    at: datetime | None
    occurrence: datetime | None


def _next(
    expander: _Expander,
    rule: str | None,
    start: datetime,
    zone_name: str,
    minutes: Sequence[int],
    after: datetime,
    taken: Container[tuple[str, str]],
) -> _Next:
    """When a pass next has something to do for a schedule whose claims have got to ``after``:
    its first moment after ``after`` not claimed yet (``taken``: the claims due after it, as
    :func:`_claimed` reads them), and its first occurrence whose run is not claimed yet.

    A moment is an occurrence's run or one of its reminders by the plan's ``minutes`` now; a
    cancelled occurrence's claims are written ahead, but a reminder the plan gained since is
    still to be claimed (``cancelled``). When every occurrence left is claimed already, the
    last one: the pass at or after it ends the schedule. Occurrences are followed until none
    later can have a moment before the best found (its longest reminder, and a day for a
    change of offset, before it), as :func:`_moments` looks, so ``next_at`` is never late.
    """
    zone = ZoneInfo(zone_name)
    longest = timedelta(minutes=max(minutes, default=0)) + SLACK
    best: datetime | None = None
    first: datetime | None = None
    last: datetime | None = None
    for at in expander.stream(rule, start, zone_name, after):
        if best is not None and first is not None and at - longest > best:
            break
        last = at
        stamp = to_iso(at)
        wall = _wall(at, zone)
        moments = [(_reminder(at, wall, m, zone), remind_what(m)) for m in minutes]
        if (stamp, RUN_WHAT) not in taken:
            moments.append((at, RUN_WHAT))
            first = first or at
        for due, what in moments:
            if due > after and (best is None or due < best) and (stamp, what) not in taken:
                best = due
    return _Next(best if best is not None else last, first)


def _store_next(db: Database, row: _Row, after: datetime, expander: _Expander) -> None:
    """Keep the schedule's ``next_at`` and ``next_occurrence`` true, its claims at ``after``."""
    found = _next(
        expander,
        row.rrule,
        datetime.fromisoformat(row.start),
        row.zone,
        row.minutes,
        after,
        _claimed(db, row.id, after),
    )
    db.conn.execute(
        "UPDATE drill_schedules SET next_at = ?, next_occurrence = ? WHERE id = ?",
        (_stamp(found.at), _stamp(found.occurrence), row.id),
    )


def _stamp(at: datetime | None) -> str | None:
    return to_iso(at) if at is not None else None


def refresh_next(db: Database, plan_id: int) -> None:
    """Compute again when each active schedule of the plan next has a moment to claim: the
    plan's reminders or its state changed (:func:`drills.plans.edit_plan` and
    :func:`drills.plans.set_active` call it in their transaction)."""
    expander = _Expander()
    with write(db):
        where = "s.plan_id = ? AND s.state = ?"
        for row in _rows(db, where, (plan_id, ScheduleState.ACTIVE.value)):
            _store_next(db, row, row.since, expander)


# ------------------------------------------------------------------------------- making, reading


def _start(start: datetime, zone: ZoneInfo) -> datetime:
    """The wall time of ``start`` in ``zone`` (an aware time is converted), to the second."""
    if start.tzinfo is not None:
        start = _wall(start, zone)
    return start.replace(microsecond=0)


def _check_hours(
    plan: Plan, times: Sequence[datetime], working: Callable[[datetime], bool], field: str
) -> None:
    wanted = plan.hours is Hours.WORKING
    for at in times:
        if working(at) != wanted:
            message = (
                _("{at} is outside working hours, but plan {plan} is for working hours")
                if wanted
                else _("{at} is in working hours, but plan {plan} is for after hours")
            )
            raise InvalidInput(message.format(at=to_iso(at), plan=plan.code), field)


def add_schedule(
    db: Database,
    clock: Clock,
    operator: str,
    plan: str | int,
    *,
    start: datetime,
    zone: str,
    rrule: str | None = None,
    working: Callable[[datetime], bool] | None = None,
) -> Schedule:
    """Schedule a plan: once at ``start``, or from ``start`` by an RFC 5545 RRULE.

    Args:
        start: the first occurrence's local wall time in ``zone`` (naive), or an aware time
            (converted to the zone). With a rule, the first occurrence is the rule's first at or
            after it; BYHOUR/BYMINUTE in the rule set the time of day.
        rrule: an RRULE without DTSTART (``FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9``), ``RRULE:``
            accepted; see :func:`clean_rrule`.
        working: tells whether a moment (aware UTC) is in working hours; when given and the
            plan is for working (or after) hours, the first 12 occurrences must all be.

    Raises:
        NotFound: no such plan. InvalidInput: an inactive plan, an unknown zone, a bad rule (in
        the parser's words), a rule with no occurrence after now, a one-off not in the future,
        an occurrence outside the plan's hours.
    """
    found = get_plan(db, plan)
    if not found.active:
        raise InvalidInput(
            _("plan {plan} is inactive: activate it before scheduling it").format(plan=found.code),
            "plan",
        )
    tz = _zone(zone)
    wall = _start(start, tz)
    rule = clean_rrule(rrule) if rrule is not None and rrule.strip() else None
    now = clock.now()
    expander = _Expander()
    upcoming_times: list[datetime] = []
    for at in expander.stream(rule, wall, tz.key, now):
        upcoming_times.append(at)
        if len(upcoming_times) >= WORKING_CHECKED:
            break
    if not upcoming_times:
        if rule is None:
            raise InvalidInput(
                _("{at} is not in the future").format(at=wall.isoformat(sep=" ")), "start"
            )
        raise InvalidInput(_("the rule has no occurrence after now"), "rrule")
    if working is not None and found.hours is not Hours.ANY:
        _check_hours(found, upcoming_times, working, "rrule" if rule else "start")
    with write(db):
        # From where its claims start (checked_until), by the plan's reminders as they are
        # inside this transaction.
        (reminders,) = db.conn.execute(
            "SELECT reminders FROM drill_plans WHERE id = ?", (found.id,)
        ).fetchone()
        minutes = [int(m) for m in json.loads(reminders or "[]")]
        nxt = _next(expander, rule, wall, tz.key, minutes, from_iso(to_iso(now)), ())
        cur = db.conn.execute(
            "INSERT INTO drill_schedules (plan_id, start, zone, rrule, state, checked_until,"
            " created_at, created_by, next_at, next_occurrence) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                found.id,
                wall.isoformat(),
                tz.key,
                rule,
                ScheduleState.ACTIVE.value,
                to_iso(now),
                to_iso(now),
                operator,
                _stamp(nxt.at),
                _stamp(nxt.occurrence),
            ),
        )
        schedule_id = int(cur.lastrowid or 0)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="drill_scheduled",
            data={
                "schedule": schedule_id,
                "plan": found.code,
                "start": wall.isoformat(),
                "zone": tz.key,
                "rrule": rule,
                "first": to_iso(upcoming_times[0]),
            },
        )
    return get_schedule(db, schedule_id)


def _one(db: Database, schedule_id: int) -> _Row:
    found = _rows(db, "s.id = ?", (int(schedule_id),))
    if not found:
        raise NotFound(_("no drill schedule #{id}").format(id=schedule_id))
    return found[0]


def get_schedule(db: Database, schedule_id: int) -> Schedule:
    """A schedule by id. Raises: NotFound."""
    return _one(db, schedule_id).schedule()


def list_schedules(
    db: Database, *, state: ScheduleState | None = None, plan: str | int | None = None
) -> list[Schedule]:
    """Schedules in the order they were made, of one state and one plan when given."""
    where, params = _filters(db, state=state, plan=plan)
    return [r.schedule() for r in _rows(db, where, params)]


def _filters(
    db: Database, *, state: ScheduleState | Sequence[ScheduleState] | None, plan: str | int | None
) -> tuple[str, list[Any]]:
    where = ["1 = 1"]
    params: list[Any] = []
    if state is not None:
        states = [state] if isinstance(state, ScheduleState) else list(state)
        where.append(f"s.state IN ({','.join('?' * len(states))})")
        params += [ScheduleState(s).value for s in states]
    if plan is not None:
        where.append("s.plan_id = ?")
        params.append(get_plan(db, plan).id)
    return " AND ".join(where), params


def _as_utc(at: datetime, zone: str) -> datetime:
    """An aware time as UTC; a naive one read as a wall time in ``zone``."""
    if at.tzinfo is None:
        return _localize(at.replace(microsecond=0), ZoneInfo(zone))
    return at.astimezone(UTC).replace(microsecond=0)


def cancel_schedule(
    db: Database,
    clock: Clock,
    operator: str,
    schedule_id: int,
    *,
    occurrence: datetime | None = None,
) -> Schedule:
    """Cancel a whole schedule, or only its ``occurrence`` (aware, or a wall time in its zone).

    Cancelling one occurrence writes its run's and its reminders' claims ``cancelled`` before
    they fall due (reminders already sent stay as they were); a one-off's only occurrence
    cancels the schedule.

    Raises:
        NotFound: no such schedule. InvalidTransition: the schedule is not active, or the
        occurrence's time has come. InvalidInput: ``occurrence`` is not one of the schedule's.
    """
    now = clock.now()
    with write(db):
        row = _one(db, schedule_id)
        schedule = row.schedule()
        if schedule.state is not ScheduleState.ACTIVE:
            raise InvalidTransition(
                _("drill schedule #{id} is {state}").format(id=row.id, state=schedule.state.label)
            )
        data: dict[str, Any] = {"schedule": row.id, "plan": row.plan_code}
        whole = occurrence is None or schedule.rrule is None
        if occurrence is not None:
            at = _as_utc(occurrence, row.zone)
            if at not in occurrences(schedule, at - timedelta(seconds=1), at):
                raise InvalidInput(
                    _("drill schedule #{id} has no occurrence at {at}").format(
                        id=row.id, at=to_iso(at)
                    ),
                    "occurrence",
                )
            if at <= now:
                raise InvalidTransition(
                    _("the drill of {at} is due or past: stop its run instead").format(
                        at=to_iso(at)
                    )
                )
            data["occurrence"] = to_iso(at)
            claims = [(RUN_WHAT, at)]
            claims += [(remind_what(m), reminder_at(at, m, row.zone)) for m in row.minutes]
            db.conn.executemany(
                "INSERT OR IGNORE INTO drill_claims (schedule_id, occurrence, what, outcome,"
                " due_at, claimed_at, holder) VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        row.id,
                        to_iso(at),
                        what,
                        ClaimOutcome.CANCELLED.value,
                        to_iso(due),
                        to_iso(now),
                        operator,
                    )
                    for what, due in claims
                ],
            )
        if whole:
            db.conn.execute(
                "UPDATE drill_schedules SET state = ?, cancelled_at = ?, cancelled_by = ?,"
                " next_at = NULL, next_occurrence = NULL WHERE id = ?",
                (ScheduleState.CANCELLED.value, to_iso(now), operator, row.id),
            )
        else:
            _store_next(db, row, row.since, _Expander())
        append_event(
            db, at=to_iso(now), operator=operator, kind="drill_schedule_cancelled", data=data
        )
    return get_schedule(db, schedule_id)


# ------------------------------------------------------------------------------- what comes next


def _cancelled(db: Database, now: datetime) -> set[tuple[int, str, str]]:
    """(schedule, occurrence, what) of the claims written ahead: cancelled, due after ``now``."""
    return {
        (int(s), str(o), str(w))
        for s, o, w in db.conn.execute(
            "SELECT schedule_id, occurrence, what FROM drill_claims"
            " WHERE outcome = 'cancelled' AND due_at > ?",
            (to_iso(now),),
        )
    }


def upcoming(
    db: Database,
    now: datetime,
    *,
    until: datetime | None = None,
    limit: int = 50,
    plan: str | int | None = None,
    include_cancelled: bool = False,
) -> list[Occurrence]:
    """The occurrences after ``now`` (up to ``until``), soonest first, each with its next
    reminder; with ``include_cancelled``, cancelled ones too (marked), whole schedules
    cancelled included (what a calendar feed shows as CANCELLED)."""
    states = [ScheduleState.ACTIVE]
    if include_cancelled:
        states.append(ScheduleState.CANCELLED)
    where, params = _filters(db, state=states, plan=plan)
    rows = _rows(db, where, params)
    ahead = _cancelled(db, now)
    expander = _Expander()

    def stream(row: _Row) -> Iterator[tuple[datetime, int, _Row]]:
        start = datetime.fromisoformat(row.start)
        for at in expander.stream(row.rrule, start, row.zone, now):
            yield at, row.id, row

    out: list[Occurrence] = []
    for at, _id, row in heapq.merge(*(stream(r) for r in rows)):
        if until is not None and at > until:
            break
        stamp = to_iso(at)
        cancelled = row.state == ScheduleState.CANCELLED or (row.id, stamp, RUN_WHAT) in ahead
        if cancelled and not include_cancelled:
            continue
        reminders = [
            due
            for m, due in ((m, reminder_at(at, m, row.zone)) for m in row.minutes)
            if due > now and (row.id, stamp, remind_what(m)) not in ahead
        ]
        out.append(
            Occurrence(
                schedule_id=row.id,
                plan_id=row.plan_id,
                plan_code=row.plan_code,
                plan_name=row.plan_name,
                kind=DrillKind(row.kind),
                announced=bool(row.announced),
                at=at,
                cancelled=cancelled,
                next_reminder=None if cancelled or not reminders else min(reminders),
            )
        )
        if len(out) >= limit:
            break
    return out


def next_moments(db: Database, now: datetime) -> dict[int, datetime]:
    """Each active schedule's next due moment (an occurrence or a reminder), for the engine's
    jobs; schedules with nothing more to do are left out.

    One indexed read of the stored ``next_at``: no rule is expanded. A moment at or before
    ``now`` is due and not claimed yet (a pass of other schedules, or none since): its job
    fires at once. ``now`` is kept for the callers; the moments do not depend on it.
    """
    del now
    return {
        int(i): from_iso(at)
        for i, at in db.conn.execute(
            "SELECT id, next_at FROM drill_schedules WHERE state = ? AND next_at IS NOT NULL",
            (ScheduleState.ACTIVE.value,),
        )
    }


def next_drill(db: Database, now: datetime) -> Occurrence | None:
    """The soonest drill after ``now`` that is not cancelled, with its next reminder: what
    :func:`upcoming` gives first, read from the stored ``next_occurrence`` (for the dashboard).

    A schedule whose stored occurrence is not after ``now`` (no pass since it came) has its
    next one computed; there are none while an engine runs.
    """
    stamp = to_iso(now)
    active = ScheduleState.ACTIVE.value
    rows = _rows(
        db,
        "s.id = (SELECT id FROM drill_schedules WHERE state = ? AND next_occurrence > ?"
        " ORDER BY next_occurrence, id LIMIT 1)",
        (active, stamp),
    )
    found = [(from_iso(r.next_occurrence or stamp), r) for r in rows]
    stale = _rows(
        db,
        "s.id IN (SELECT id FROM drill_schedules WHERE state = ? AND next_occurrence <= ?"
        " UNION ALL SELECT id FROM drill_schedules WHERE state = ? AND next_occurrence IS NULL"
        " AND next_at IS NULL)",
        (active, stamp, active),
    )
    ahead = _cancelled(db, now) if stale else set()
    expander = _Expander()
    for row in stale:
        start = datetime.fromisoformat(row.start)
        for at in expander.stream(row.rrule, start, row.zone, now):
            if (row.id, to_iso(at), RUN_WHAT) not in ahead:
                found.append((at, row))
                break
    if not found:
        return None
    at, row = min(found, key=lambda f: (f[0], f[1].id))
    taken = {
        str(w)
        for (w,) in db.conn.execute(
            "SELECT what FROM drill_claims WHERE schedule_id = ? AND occurrence = ?"
            " AND outcome = ? AND due_at > ?",
            (row.id, to_iso(at), ClaimOutcome.CANCELLED.value, stamp),
        )
    }
    reminders = [
        due
        for m, due in ((m, reminder_at(at, m, row.zone)) for m in row.minutes)
        if due > now and remind_what(m) not in taken
    ]
    return Occurrence(
        schedule_id=row.id,
        plan_id=row.plan_id,
        plan_code=row.plan_code,
        plan_name=row.plan_name,
        kind=DrillKind(row.kind),
        announced=bool(row.announced),
        at=at,
        next_reminder=min(reminders, default=None),
    )


# ------------------------------------------------------------------------------- firing


class _Moment(NamedTuple):
    due: datetime
    occurrence: datetime
    what: str
    minutes: int | None  # a reminder's minutes before; None for the run


def _moments(row: _Row, since: datetime, now: datetime, expander: _Expander) -> list[_Moment]:
    """The schedule's moments in (``since``, ``now``], oldest first (a run after its reminders)."""
    minutes = row.minutes
    longest = timedelta(minutes=max(minutes, default=0)) + SLACK
    zone = ZoneInfo(row.zone)
    start = datetime.fromisoformat(row.start)
    out: list[_Moment] = []
    for at in expander.between(row.rrule, start, row.zone, since, now + longest):
        if at <= now:
            out.append(_Moment(at, at, RUN_WHAT, None))
        for m in minutes:
            due = reminder_at(at, m, zone)
            if since < due <= now:
                out.append(_Moment(due, at, remind_what(m), m))
    out.sort(key=lambda m: (m.due, m.minutes is None, -(m.minutes or 0)))
    return out


def _claimed(db: Database, schedule_id: int, since: datetime) -> dict[tuple[str, str], str]:
    """(occurrence, what) -> outcome of the schedule's claims whose moment is after ``since``."""
    return {
        (str(o), str(w)): str(outcome)
        for o, w, outcome in db.conn.execute(
            "SELECT occurrence, what, outcome FROM drill_claims WHERE schedule_id = ?"
            " AND due_at > ?",
            (schedule_id, to_iso(since)),
        )
    }


def _only(column: str, schedule_ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    """The condition and parameters that keep ``column`` to ``schedule_ids`` (all: none)."""
    if schedule_ids is None:
        return "", []
    return f" AND {column} IN (SELECT value FROM json_each(?))", [
        json.dumps([int(i) for i in schedule_ids])
    ]


def _due_ids(db: Database, now: datetime, schedule_ids: Sequence[int] | None) -> set[int]:
    """Active schedules with a moment due by ``now``, as their ``next_at`` says (one without,
    made before it was kept, is looked at too: its pass sets it)."""
    only, params = _only("id", schedule_ids)
    active = ScheduleState.ACTIVE.value
    return {
        int(r[0])
        for r in db.conn.execute(
            "SELECT id FROM drill_schedules WHERE state = ? AND next_at <= ?"
            + only
            + " UNION ALL SELECT id FROM drill_schedules WHERE state = ? AND next_at IS NULL"
            + only,
            (active, to_iso(now), *params, active, *params),
        )
    }


def _unstarted_ids(db: Database, schedule_ids: Sequence[int] | None = None) -> set[int]:
    """Active schedules with a run claimed to fire whose run was never started."""
    only, params = _only("c.schedule_id", schedule_ids)
    return {
        int(r[0])
        for r in db.conn.execute(
            "SELECT DISTINCT c.schedule_id FROM drill_claims c JOIN drill_schedules s"
            " ON s.id = c.schedule_id WHERE s.state = 'active' AND c.what = 'run'"
            " AND c.outcome IN ('fired', 'late') AND c.run_id IS NULL" + only,
            params,
        )
    }


def _start_run(
    db: Database, clock: Clock, row: _Row, occurrence: datetime, late_s: int
) -> int | None:
    """Start the occurrence's run (idempotent per schedule and occurrence); ``None`` when
    ``start_run`` refused (the claim stays without a run, for a later pass to retry)."""
    from drills.runs import start_run

    try:
        with write(db):
            run = start_run(
                db,
                clock,
                OPERATOR,
                row.plan_id,
                schedule_id=row.id,
                occurrence=occurrence,
                late_s=late_s,
            )
    except DutydeskError:
        return None
    db.conn.execute(
        "UPDATE drill_claims SET run_id = ? WHERE schedule_id = ? AND occurrence = ? AND what = ?",
        (run.id, row.id, to_iso(occurrence), RUN_WHAT),
    )
    return run.id


def _outcome(late_s: int) -> ClaimOutcome:
    return ClaimOutcome.FIRED if late_s < ON_TIME_S else ClaimOutcome.LATE


def _retry(
    db: Database, clock: Clock, row: _Row, now: datetime, grace: timedelta
) -> tuple[list[Due], bool]:
    """Runs claimed to fire but never started: started now while within grace, else missed.
    Returns what it did, and whether a run is still waiting to start."""
    out: list[Due] = []
    waiting = False
    for stamp, outcome in db.conn.execute(
        "SELECT occurrence, outcome FROM drill_claims WHERE schedule_id = ? AND what = ?"
        " AND outcome IN ('fired', 'late') AND run_id IS NULL",
        (row.id, RUN_WHAT),
    ).fetchall():
        at = from_iso(stamp)
        late_s = int((now - at).total_seconds())
        if now - at > grace or not row.plan_active:
            db.conn.execute(
                "UPDATE drill_claims SET outcome = ?, late_s = ? WHERE schedule_id = ?"
                " AND occurrence = ? AND what = ?",
                (ClaimOutcome.MISSED.value, late_s, row.id, stamp, RUN_WHAT),
            )
            out.append(Due(row.id, at, RUN_WHAT, ClaimOutcome.MISSED, late_s))
            continue
        run_id = _start_run(db, clock, row, at, late_s)
        waiting = waiting or run_id is None
        out.append(Due(row.id, at, RUN_WHAT, ClaimOutcome(outcome), late_s, run_id))
    return out, waiting


def _decide(
    row: _Row,
    moments: Sequence[_Moment],
    now: datetime,
    grace: timedelta,
    *,
    nobody: bool,
    cancelled: set[datetime],
) -> list[tuple[_Moment, ClaimOutcome, int]]:
    """What becomes of each moment due in this pass (the catch-up policy of the module).

    ``cancelled``: occurrences cancelled one by one, whose reminders the plan gained after the
    cancellation are cancelled with them.
    """
    fresh = [m for m in moments if now - m.due <= grace]
    newest_run = max((m.occurrence for m in fresh if m.minutes is None), default=None)
    newest_reminder: dict[datetime, datetime] = {}
    for m in fresh:
        if m.minutes is not None and m.occurrence > now:
            newest_reminder[m.occurrence] = max(m.due, newest_reminder.get(m.occurrence, m.due))
    out: list[tuple[_Moment, ClaimOutcome, int]] = []
    for m in moments:
        late_s = int((now - m.due).total_seconds())
        if m.occurrence in cancelled:
            outcome = ClaimOutcome.CANCELLED
        elif not row.plan_active:
            outcome = ClaimOutcome.SKIPPED
        elif now - m.due > grace:
            outcome = ClaimOutcome.MISSED
        elif m.minutes is None:
            outcome = _outcome(late_s) if m.occurrence == newest_run else ClaimOutcome.MISSED
        elif m.occurrence <= now:
            outcome = ClaimOutcome.MISSED
        elif m.due != newest_reminder.get(m.occurrence) or nobody:
            outcome = ClaimOutcome.SKIPPED
        else:
            outcome = _outcome(late_s)
        out.append((m, outcome, late_s))
    return out


def _fire_one(
    db: Database, clock: Clock, schedule_id: int, grace: timedelta, holder: str, expander: _Expander
) -> list[Due]:
    """One schedule's pass, in one transaction (or savepoint): retries, claims, actions,
    ``checked_until``, and ``ended`` when nothing is left."""
    with write(db):
        now = clock.now()
        found = _rows(db, "s.id = ?", (schedule_id,))
        if not found or found[0].state != ScheduleState.ACTIVE:
            return []
        row = found[0]
        out, waiting = _retry(db, clock, row, now, grace)
        since = checked = row.since
        taken: dict[tuple[str, str], str] | None = None
        if since < now:
            taken = _claimed(db, row.id, since)
            moments = [
                m
                for m in _moments(row, since, now, expander)
                if (to_iso(m.occurrence), m.what) not in taken
            ]
            plan: Plan | None = None
            if moments and row.plan_active:
                key = (row.plan_id, row.plan_updated_at)
                plan = expander.plans.get(key) or expander.plans.setdefault(
                    key, get_plan(db, row.plan_id)
                )
            nobody = plan is None or not reminder_people(plan)
            cancelled = {
                from_iso(occ)
                for (occ, what), outcome in taken.items()
                if what == RUN_WHAT and outcome == ClaimOutcome.CANCELLED
            }
            decided = _decide(row, moments, now, grace, nobody=nobody, cancelled=cancelled)
            for m, outcome, late_s in decided:
                cur = db.conn.execute(
                    "INSERT OR IGNORE INTO drill_claims (schedule_id, occurrence, what, outcome,"
                    " due_at, claimed_at, late_s, holder) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        row.id,
                        to_iso(m.occurrence),
                        m.what,
                        outcome.value,
                        to_iso(m.due),
                        to_iso(now),
                        late_s,
                        holder,
                    ),
                )
                if not cur.rowcount:
                    continue  # claimed by someone else: theirs to act on
                run_id: int | None = None
                if outcome in (ClaimOutcome.FIRED, ClaimOutcome.LATE) and plan is not None:
                    if m.minutes is None:
                        run_id = _start_run(db, clock, row, m.occurrence, late_s)
                        waiting = waiting or run_id is None
                    else:
                        queue_reminder(
                            db, clock, plan, row.id, m.occurrence, m.minutes, late_s, row.zone
                        )
                out.append(Due(row.id, m.occurrence, m.what, outcome, late_s, run_id))
            checked = from_iso(to_iso(now))  # checked_until, as stored
        start = datetime.fromisoformat(row.start)
        state, nxt = ScheduleState.ACTIVE, _Next(None, None)
        if not waiting and next(expander.stream(row.rrule, start, row.zone, now), None) is None:
            state = ScheduleState.ENDED
        else:
            # The next moment after what was just claimed, by the plan's reminders as they are
            # now. The claims read before this pass's are all of those due after checked_until
            # (this pass's are due by now; no other writer meanwhile): those that count.
            if taken is None:
                taken = _claimed(db, row.id, checked)
            nxt = _next(expander, row.rrule, start, row.zone, row.minutes, checked, taken)
        db.conn.execute(
            "UPDATE drill_schedules SET checked_until = ?, state = ?, next_at = ?,"
            " next_occurrence = ? WHERE id = ?",
            (
                to_iso(now) if since < now else row.checked_until,
                state.value,
                _stamp(nxt.at),
                _stamp(nxt.occurrence),
                row.id,
            ),
        )
    return out


def fire_due(
    db: Database,
    clock: Clock,
    *,
    grace: timedelta,
    holder: str,
    schedule_ids: Sequence[int] | None = None,
) -> list[Due]:
    """Claim and act on every moment due now by the catch-up policy (see the module's text).

    Only the schedules whose stored ``next_at`` has come are looked at (one indexed read; and
    those with a run claimed but not started); each is claimed in a transaction of its own (a
    savepoint; up to :data:`BATCH` share a commit), in which its row is read again (another
    engine may have been first) and its ``next_at`` set to its next moment after this pass.

    Args:
        grace: how late a moment may still fire.
        holder: who claims (the engine's lease holder), kept on each claim.
        schedule_ids: only these schedules (an engine's job); default every active one.

    Returns:
        What was claimed now (and runs retried), oldest first per schedule.
    """
    now = clock.now()
    due = sorted(_due_ids(db, now, schedule_ids) | _unstarted_ids(db, schedule_ids))
    expander = _Expander()
    out: list[Due] = []
    done = 0
    while done < len(due):
        # Each schedule is its own savepoint; up to BATCH of them share a commit (its fsync is
        # what costs), and a started run is committed at once (its call-out may go out now).
        with write(db):
            for schedule_id in due[done : done + BATCH]:
                done += 1
                fired = _fire_one(db, clock, schedule_id, grace, holder, expander)
                out += fired
                if any(d.run_id is not None for d in fired):
                    break
    return out


def missed(db: Database, *, since: datetime | None = None, limit: int = 100) -> list[Due]:
    """Moments recorded as missed (no engine ran in time), newest first: for the dashboard."""
    rows = db.conn.execute(
        "SELECT schedule_id, occurrence, what, outcome, late_s, run_id FROM drill_claims"
        " WHERE outcome = 'missed' AND due_at >= ? ORDER BY due_at DESC LIMIT ?",
        (to_iso(since) if since is not None else "", limit),
    ).fetchall()
    return [_due(r) for r in rows]


def claims(db: Database, schedule_id: int) -> list[Due]:
    """Every claim of a schedule, oldest moment first: what became of each occurrence and
    reminder (for ``drill show`` and the drills screen)."""
    rows = db.conn.execute(
        "SELECT schedule_id, occurrence, what, outcome, late_s, run_id FROM drill_claims"
        " WHERE schedule_id = ? ORDER BY due_at, what",
        (schedule_id,),
    ).fetchall()
    return [_due(r) for r in rows]


def _due(row: Sequence[Any]) -> Due:
    schedule_id, occurrence, what, outcome, late_s, run_id = row
    return Due(
        schedule_id=int(schedule_id),
        occurrence=from_iso(occurrence),
        what=str(what),
        outcome=ClaimOutcome(outcome),
        late_s=int(late_s),
        run_id=int(run_id) if run_id is not None else None,
    )
