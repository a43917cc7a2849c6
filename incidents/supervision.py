"""Provides the overdue sweep (督办 and 催办) and the shift handover (交接班).

The sweep is idempotent and driven by stored state only: a case whose current deadline has
passed is put under supervision once (one ``supervise`` entry per deadline), then gets one
``remind`` entry per ``policy.remind_every`` while it stays overdue. After downtime the sweep
writes the reminder the case is due now (numbered by elapsed intervals), not a burst of
back-dated ones.

The handover has two halves. The outgoing officer reads the brief and records the handover
with a note; the brief's summary is kept with it. The incoming officer, and only the one named,
then confirms it. Both steps are audit events (``handover``, ``handover_confirmed``). The cases'
part of the brief is read here (:func:`case_brief`: what is open, overdue, supervised, parked,
which extension requests wait for approval); the whole brief, with what other packages have
running (mobilizations), is :func:`reports.handover.handover_brief`, which the shell hands to
:func:`shift_handover` (incidents sits below mobilization and does not read its tables). The
brief also says what changed since the previous confirmed handover (:func:`case_changes`: cases
new, closed and moved on), read from the timeline entries after that handover's own entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from incidents.limits import Policy
from incidents.models import MAX_ID, Stage
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from store.i18n import _
from store.text import clean_text

BRIEF_LIMIT = 50  # items per list of the brief; the totals say how many there are in all
# Before the first confirmed handover, "what changed" covers this much of the past.
CHANGES_WITHOUT_HANDOVER = timedelta(hours=24)


@dataclass(frozen=True)
class SweepResult:
    """Cases newly supervised, reminders written, and whether a ``once`` sweep left work."""

    supervised: int
    reminded: int
    more: bool = False


def sweep_overdue(
    db: Database,
    clock: Clock,
    policy: Policy,
    *,
    operator: str = "system",
    batch: int = 500,
    once: bool = False,
) -> SweepResult:
    """Put newly overdue cases under supervision and remind the ones still overdue.

    Only rows with work to do are read (two partial indexes: overdue cases not yet noted, and
    cases whose next reminder is due), in transactions of ``batch`` cases, so a sweep over a
    large backlog neither starves later cases nor holds the write lock for long.

    Args:
        once: do at most one batch of each kind and return; a caller sharing the connection
            (the console) calls again while ``more`` says work is left, letting others in
            between.
    """
    now = clock.now()
    at = to_iso(now)
    interval = policy.remind_every
    supervised = reminded = 0
    more = False
    # Reminders first: a case supervised by this sweep gets its first reminder from the next
    # one, so after downtime the office sees 督办 before 催办.
    while True:
        with write(db):
            rows = db.conn.execute(
                "SELECT id, stage, deadline, reminders FROM incidents"
                " WHERE remind_at IS NOT NULL AND remind_at <= ? ORDER BY remind_at LIMIT ?",
                (at, batch),
            ).fetchall()
            for incident_id, stage, deadline, reminders in rows:
                # Numbered by elapsed intervals: after downtime, one reminder, not a burst.
                due = max(reminders + 1, int((now - from_iso(deadline)) / interval))
                db.conn.execute(
                    "UPDATE incidents SET reminders = ?, remind_at = ? WHERE id = ?",
                    (due, to_iso(from_iso(deadline) + (due + 1) * interval), incident_id),
                )
                append_event(
                    db,
                    at=at,
                    operator=operator,
                    kind="remind",
                    incident_id=incident_id,
                    data={"n": due, "stage": stage, "deadline": deadline},
                )
            reminded += len(rows)
        if len(rows) < batch or once:
            more = more or len(rows) == batch
            break
    while True:
        with write(db):
            # Named: left to itself SQLite takes incidents_queue (active, deadline) and reads
            # every active case past its deadline (109,067 of 1,000,000 in bench.console:
            # 130 ms a sweep, every few seconds) where the partial index holds only the unnoted.
            rows = db.conn.execute(
                "SELECT id, stage, deadline FROM incidents INDEXED BY incidents_unnoted"
                " WHERE active = 1 AND overdue_since IS NULL AND deadline < ?"
                " ORDER BY deadline LIMIT ?",
                (at, batch),
            ).fetchall()
            for incident_id, stage, deadline in rows:
                db.conn.execute(
                    "UPDATE incidents SET supervised = 1, overdue_since = ?, reminders = 0,"
                    " remind_at = ? WHERE id = ?",
                    (deadline, to_iso(from_iso(deadline) + interval), incident_id),
                )
                append_event(
                    db,
                    at=at,
                    operator=operator,
                    kind="supervise",
                    incident_id=incident_id,
                    data={"stage": stage, "deadline": deadline},
                )
            supervised += len(rows)
        if len(rows) < batch or once:
            more = more or len(rows) == batch
            break
    return SweepResult(supervised, reminded, more)


@dataclass(frozen=True)
class Counts:
    open: int
    overdue: int
    supervised: int
    parked: int


def counts(db: Database, now: datetime) -> Counts:
    """Open, overdue, supervised and parked cases; each count reads an index only.

    A case is open when it is in the active queue or parked (finishing a case clears both);
    supervision is cleared when a case finishes.
    """
    active, overdue, supervised, parked = db.conn.execute(
        "SELECT"
        " (SELECT count(*) FROM incidents INDEXED BY incidents_active_severity"
        "  WHERE active = 1),"
        " (SELECT count(*) FROM incidents INDEXED BY incidents_active_deadline"
        "  WHERE active = 1 AND deadline < ?),"
        " (SELECT count(*) FROM incidents WHERE supervised = 1),"
        " (SELECT count(*) FROM incidents WHERE parked = 1)",
        (to_iso(now),),
    ).fetchone()
    return Counts(active + parked, overdue, supervised, parked)


@dataclass(frozen=True)
class BriefCase:
    """A case the outgoing officer must see.

    ``late`` is how long past its deadline the case is, ``None`` when it is not (or parked:
    a parked case's clock is stopped).
    """

    id: int
    number: str
    title: str
    stage: Stage
    deadline: datetime | None
    late: timedelta | None
    supervised: bool


@dataclass(frozen=True)
class PendingExtension:
    """An extension (延期) request still waiting for a shift lead's approval."""

    id: int
    incident_id: int
    number: str
    title: str
    requested_by: str
    requested_at: datetime
    reason: str
    new_deadline: datetime
    approvals: int
    approvals_needed: int


T = TypeVar("T")


@dataclass(frozen=True)
class Capped(Generic[T]):
    """The first items of a list (at most :data:`BRIEF_LIMIT`) and how many there are in all."""

    items: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        """How many were left out."""
        return max(0, self.total - len(self.items))


@dataclass(frozen=True)
class CaseChange:
    """A case opened, closed or moved to another stage since the previous handover.

    ``was`` is its stage at the previous handover (``None`` for a case opened since), ``at``
    when it was logged, closed or last changed stage.
    """

    id: int
    number: str
    title: str
    stage: Stage
    was: Stage | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "stage": self.stage.value,
            "was": self.was.value if self.was is not None else None,
            "at": to_iso(self.at),
        }


@dataclass(frozen=True)
class CaseChanges:
    """What happened to cases between the previous confirmed handover and now.

    ``since`` is that handover's time (``handover_id`` its id); without one, the last
    :data:`CHANGES_WITHOUT_HANDOVER` (``handover_id`` is ``None``). A case opened and closed in
    between is in both ``opened`` and ``closed``; ``changed`` holds the others whose stage moved.
    """

    since: datetime
    handover_id: int | None
    opened: Capped[CaseChange]
    closed: Capped[CaseChange]
    changed: Capped[CaseChange]
    after_event: int = 0
    """The changes are the timeline entries after this one (the handover's own entry)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "since": to_iso(self.since),
            "since_handover": self.handover_id,
            **{
                name: {"items": [c.to_json() for c in part.items], "total": part.total}
                for name, part in (
                    ("opened", self.opened),
                    ("closed", self.closed),
                    ("changed", self.changed),
                )
            },
        }


@dataclass(frozen=True)
class CaseBrief:
    """The cases' part of what the outgoing officer must see before handing the shift over.

    :class:`reports.handover.HandoverBrief` extends it with what other packages have running;
    :meth:`others` is how that reaches the stored summary and the audit entry.
    """

    at: datetime
    counts: Counts
    overdue: Capped[BriefCase]
    supervised: Capped[BriefCase]
    parked: Capped[BriefCase]
    extensions: Capped[PendingExtension]
    changes: CaseChanges | None = None

    def others(self) -> dict[str, int]:
        """Counts of open work outside the cases (none here), by name."""
        return {}

    def changes_summary(self) -> dict[str, Any]:
        """What changed since the previous confirmed handover, as kept with the handover."""
        ch = self.changes
        if ch is None:
            return {}
        return {
            "since": to_iso(ch.since),
            "since_handover": ch.handover_id,
            "opened": [c.number for c in ch.opened.items],
            "closed": [c.number for c in ch.closed.items],
            "changed": [c.number for c in ch.changed.items],
        }

    def summary(self) -> dict[str, Any]:
        """The form kept with the handover (``pending_json``): counts and case numbers."""
        c = self.counts
        return {
            "counts": {
                "open": c.open,
                "overdue": c.overdue,
                "supervised": c.supervised,
                "parked": c.parked,
            },
            "pending_extensions": self.extensions.total,
            **self.others(),
            "overdue": [case.number for case in self.overdue.items],
            "supervised": [case.number for case in self.supervised.items],
            "parked": [case.number for case in self.parked.items],
            "extensions": [ext.number for ext in self.extensions.items],
            **({"changes": self.changes_summary()} if self.changes is not None else {}),
        }


CASE_COLUMNS = "id, number, title, stage, deadline, parked, supervised"


def _brief_cases(rows: Sequence[Sequence[Any]], now: datetime) -> tuple[BriefCase, ...]:
    cases = []
    for incident_id, number, title, stage, deadline, parked, supervised in rows:
        due = from_iso(deadline) if deadline else None
        late = now - due if due is not None and due < now and not parked else None
        cases.append(
            BriefCase(
                int(incident_id), str(number), str(title), Stage(stage), due, late, bool(supervised)
            )
        )
    return tuple(cases)


def last_confirmed(db: Database, before: datetime | None = None) -> Handover | None:
    """The latest confirmed handover (recorded before ``before``, when given)."""
    row = db.conn.execute(
        f"SELECT {HANDOVER_COLUMNS} FROM handovers WHERE confirmed_at IS NOT NULL"
        " AND at <= coalesce(?, at) ORDER BY id DESC LIMIT 1",
        (to_iso(before) if before is not None else None,),
    ).fetchone()
    return _row_to_handover(row) if row is not None else None


def _last_event_before(db: Database, at: str) -> int:
    """The id of the last timeline entry written before ``at`` (0: none).

    Entries are appended in time order, so this is a binary search over the primary key:
    some twenty point reads, whatever the size of the timeline.
    """
    conn = db.conn
    (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
    lo, hi = 0, int(top)  # invariant: entry lo is before ``at`` (or 0); entries after hi are not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        row = conn.execute(
            "SELECT id, at FROM events WHERE id >= ? ORDER BY id LIMIT 1", (mid,)
        ).fetchone()
        if row is not None and str(row[1]) < at:
            lo = max(mid, int(row[0]))
        else:
            hi = mid - 1
    return lo


def _handover_entry(db: Database, handover: Handover) -> int:
    """The id of the timeline entry (``handover``) written with ``handover``.

    Handovers recorded in the same second are told apart by their order; an entry not found
    (a handover written by hand) counts from the last entry before its time.
    """
    at = to_iso(handover.at)
    before = _last_event_before(db, at)
    (rank,) = db.conn.execute(
        "SELECT count(*) FROM handovers WHERE at = ? AND id < ?", (at, handover.id)
    ).fetchone()
    row = db.conn.execute(
        "SELECT id FROM events WHERE id > ? AND at = ? AND kind = 'handover'"
        " ORDER BY id LIMIT 1 OFFSET ?",
        (before, at, int(rank)),
    ).fetchone()
    return int(row[0]) if row is not None else before


def case_changes(db: Database, now: datetime, *, limit: int = BRIEF_LIMIT) -> CaseChanges:
    """Cases opened, closed and moved to another stage since the previous confirmed handover.

    Read from the timeline entries written after that handover's own entry (a range of the
    primary key: this shift's entries only). Newest first; each list capped at ``limit`` next
    to its total.
    """
    previous = last_confirmed(db, now)
    if previous is not None:
        since = previous.at
        after = _handover_entry(db, previous)
    else:
        since = now - CHANGES_WITHOUT_HANDOVER
        after = _last_event_before(db, to_iso(since))
    rows = db.conn.execute(
        "SELECT i.id, i.number, i.title, i.stage, f.stage_from, g.last_at, g.opened"
        " FROM (SELECT incident_id, min(id) AS first, max(at) AS last_at,"
        "  max(stage_from IS NULL) AS opened FROM events"
        "  WHERE id > ? AND incident_id IS NOT NULL AND stage_to IS NOT NULL"
        "  GROUP BY incident_id) g"
        " JOIN events f ON f.id = g.first JOIN incidents i ON i.id = g.incident_id"
        " ORDER BY g.last_at DESC, i.id DESC",
        (after,),
    ).fetchall()
    opened: list[CaseChange] = []
    closed: list[CaseChange] = []
    changed: list[CaseChange] = []
    for incident_id, number, title, stage, was, last_at, is_new in rows:
        now_stage = Stage(stage)
        before = None if is_new else Stage(was) if was else None
        change = CaseChange(
            int(incident_id), str(number), str(title), now_stage, before, from_iso(last_at)
        )
        if is_new:
            opened.append(change)
        if not now_stage.is_open:
            closed.append(change)
        elif not is_new and before != now_stage:
            changed.append(change)

    def capped(items: list[CaseChange]) -> Capped[CaseChange]:
        return Capped(tuple(items[:limit]), len(items))

    return CaseChanges(
        since,
        previous.id if previous is not None else None,
        capped(opened),
        capped(closed),
        capped(changed),
        after_event=after,
    )


def case_brief(db: Database, now: datetime, *, limit: int = BRIEF_LIMIT) -> CaseBrief:
    """交接班简报, the cases' part: the counts, and the cases and requests to see.

    Overdue and supervised cases come most late first, parked cases and extension requests
    oldest first; each list holds at most ``limit`` items next to its total.
    """
    at = to_iso(now)
    c = counts(db, now)
    conn = db.conn
    overdue = conn.execute(
        f"SELECT {CASE_COLUMNS} FROM incidents WHERE active = 1 AND deadline < ?"
        " ORDER BY deadline, id LIMIT ?",
        (at, limit),
    ).fetchall()
    supervised = conn.execute(
        f"SELECT {CASE_COLUMNS} FROM incidents WHERE supervised = 1"
        " ORDER BY coalesce(deadline, '~'), id LIMIT ?",
        (limit,),
    ).fetchall()
    parked = conn.execute(
        f"SELECT {CASE_COLUMNS} FROM incidents WHERE parked = 1 ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    extension_rows = conn.execute(
        "SELECT e.id, e.incident_id, i.number, i.title, e.requested_by, e.requested_at,"
        " e.reason, e.new_deadline, e.approvals, e.approvals_needed"
        " FROM extensions e JOIN incidents i ON i.id = e.incident_id"
        " WHERE e.status = 'pending' ORDER BY e.requested_at, e.id LIMIT ?",
        (limit,),
    ).fetchall()
    (pending,) = conn.execute("SELECT count(*) FROM extensions WHERE status = 'pending'").fetchone()
    extensions = tuple(
        PendingExtension(
            id=int(r[0]),
            incident_id=int(r[1]),
            number=str(r[2]),
            title=str(r[3]),
            requested_by=str(r[4]),
            requested_at=from_iso(r[5]),
            reason=str(r[6]),
            new_deadline=from_iso(r[7]),
            approvals=len(json.loads(r[8])),
            approvals_needed=int(r[9]),
        )
        for r in extension_rows
    )
    return CaseBrief(
        at=now,
        counts=c,
        overdue=Capped(_brief_cases(overdue, now), c.overdue),
        supervised=Capped(_brief_cases(supervised, now), c.supervised),
        parked=Capped(_brief_cases(parked, now), c.parked),
        extensions=Capped(extensions, int(pending)),
        changes=case_changes(db, now, limit=limit),
    )


@dataclass(frozen=True)
class Handover:
    """One shift handover; ``confirmed_*`` are set when the incoming officer confirms it.

    ``pending`` is the brief's summary at handover (:meth:`CaseBrief.summary`, with the counts
    of :meth:`CaseBrief.others`); ``{}`` for handovers recorded before it was kept.
    """

    id: int
    at: datetime
    from_operator: str
    to_operator: str
    note: str
    counts: Counts
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None
    pending: Mapping[str, Any] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def pending_extensions(self) -> int:
        return int(self.pending.get("pending_extensions", 0))

    @property
    def active_mobilizations(self) -> int:
        """Mobilizations running at handover, as the brief given to :func:`shift_handover` said."""
        return int(self.pending.get("active_mobilizations", 0))


HANDOVER_COLUMNS = (
    "id, at, from_operator, to_operator, note, open_cases, overdue_cases, supervised_cases,"
    " confirmed_at, confirmed_by, pending_json"
)


def _row_to_handover(row: Sequence[Any]) -> Handover:
    pending: dict[str, Any] = json.loads(row[10] or "{}")
    parked = int(pending.get("counts", {}).get("parked", 0))
    return Handover(
        id=int(row[0]),
        at=from_iso(row[1]),
        from_operator=str(row[2]),
        to_operator=str(row[3]),
        note=str(row[4]),
        counts=Counts(int(row[5]), int(row[6]), int(row[7]), parked),
        confirmed_at=from_iso(row[8]) if row[8] else None,
        confirmed_by=row[9],
        pending=pending,
    )


def shift_handover(
    db: Database,
    clock: Clock,
    operator: str,
    to: str,
    note: str = "",
    *,
    brief: Callable[[Database, datetime], CaseBrief] = case_brief,
) -> Handover:
    """交接班: record who hands the shift to whom, with the brief's counts and summary.

    Args:
        brief: reads the brief in the handover's transaction; the shell passes
            :func:`reports.handover.handover_brief` so running mobilizations are kept too.

    Raises:
        InvalidInput: no successor, or the successor is the operator; a control character or
            an over-long value in ``to`` or ``note``.
    """
    successor = clean_text(to, "to", kind="operator")
    if not successor:
        raise InvalidInput(_("name the operator taking over"), "to")
    note = clean_text(note, "note", kind="note", multiline=True)
    if successor == operator:
        raise InvalidInput(
            _("{operator} cannot hand the shift over to themselves").format(operator=operator),
            "to",
        )
    now = clock.now()
    at = to_iso(now)
    with write(db):
        read = brief(db, now)
        c = read.counts
        pending = read.summary()
        cursor = db.conn.execute(
            "INSERT INTO handovers (at, from_operator, to_operator, note, open_cases,"
            " overdue_cases, supervised_cases, pending_json) VALUES (?,?,?,?,?,?,?,?)",
            (
                at,
                operator,
                successor,
                note,
                c.open,
                c.overdue,
                c.supervised,
                json.dumps(pending, ensure_ascii=False),
            ),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="handover",
            data={
                "to": successor,
                "note": note,
                "open": c.open,
                "overdue": c.overdue,
                "supervised": c.supervised,
                "parked": c.parked,
                "pending_extensions": read.extensions.total,
                **read.others(),
            },
        )
    return Handover(
        int(cursor.lastrowid or 0), from_iso(at), operator, successor, note, c, pending=pending
    )


def get_handover(db: Database, handover_id: int) -> Handover:
    """The handover with this id.

    Raises:
        NotFound: no such handover.
    """
    row = db.conn.execute(
        f"SELECT {HANDOVER_COLUMNS} FROM handovers WHERE id = ?", (handover_id,)
    ).fetchone()
    if row is None:
        raise NotFound(_("no handover {handover}").format(handover=handover_id))
    return _row_to_handover(row)


def confirm_handover(db: Database, clock: Clock, operator: str, handover_id: int) -> Handover:
    """接班确认: the incoming officer confirms the handover; appends ``handover_confirmed``.

    Raises:
        NotFound: no such handover.
        PermissionDenied: the operator is not the one the shift was handed to.
        InvalidTransition: the handover was already confirmed.
    """
    who = operator.strip()
    if not 0 < handover_id <= MAX_ID:
        raise NotFound(_("no handover {handover}").format(handover=handover_id))
    with write(db):
        handover = get_handover(db, handover_id)
        if who != handover.to_operator:
            raise PermissionDenied(
                _("handover {handover} is to {to}: only {to} can confirm it, not {who}").format(
                    handover=handover.id, to=handover.to_operator, who=who
                )
            )
        if handover.confirmed_at is not None:
            raise InvalidTransition(
                _("handover {handover} was already confirmed by {by} at {at}").format(
                    handover=handover.id,
                    by=handover.confirmed_by,
                    at=to_iso(handover.confirmed_at),
                )
            )
        at = to_iso(clock.now())
        db.conn.execute(
            "UPDATE handovers SET confirmed_at = ?, confirmed_by = ? WHERE id = ?",
            (at, who, handover.id),
        )
        append_event(
            db,
            at=at,
            operator=who,
            kind="handover_confirmed",
            data={
                "handover": handover.id,
                "from": handover.from_operator,
                "handed_over_at": to_iso(handover.at),
            },
        )
    return replace(handover, confirmed_at=from_iso(at), confirmed_by=who)


def pending_handover(db: Database, operator: str) -> Handover | None:
    """The latest handover to ``operator`` not yet confirmed, if there is one.

    One older than what ``operator`` did since (confirmed a later handover, or handed the
    shift on) is stale and no longer waits for them.
    """
    who = operator.strip()
    row = db.conn.execute(
        f"SELECT {HANDOVER_COLUMNS} FROM handovers"
        " WHERE to_operator = ? AND confirmed_at IS NULL AND id > coalesce((SELECT max(id)"
        " FROM handovers WHERE (to_operator = ? AND confirmed_at IS NOT NULL)"
        " OR from_operator = ?), 0)"
        " ORDER BY id DESC LIMIT 1",
        (who, who, who),
    ).fetchone()
    return _row_to_handover(row) if row is not None else None


def list_handovers(db: Database, limit: int = 50) -> list[Handover]:
    """The newest handovers first."""
    rows = db.conn.execute(
        f"SELECT {HANDOVER_COLUMNS} FROM handovers ORDER BY id DESC LIMIT ?", (max(1, limit),)
    ).fetchall()
    return [_row_to_handover(r) for r in rows]
