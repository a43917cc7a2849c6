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
:func:`shift_handover` (incidents sits below mobilization and does not read its tables).
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
            rows = db.conn.execute(
                "SELECT id, stage, deadline FROM incidents"
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

    def others(self) -> dict[str, int]:
        """Counts of open work outside the cases (none here), by name."""
        return {}

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
