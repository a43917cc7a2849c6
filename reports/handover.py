"""Provides the shift handover brief (交接班简报): the cases to see, the mobilizations, the reports.

The cases' part is incidents' (:func:`incidents.supervision.case_brief`, with what changed
since the previous confirmed handover); a handover must also say how many mobilizations are
still running and which started or finished since that handover, which incidents, below
mobilization, may not read, and which information reports up the chain (初报, 续报, 终报) are
owed or overdue, and which went late since (:mod:`uplink.sitreps`, above incidents). This read
joins them; the shell shows it and hands it to :func:`incidents.supervision.shift_handover`,
which keeps its summary with the handover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from incidents.supervision import (
    BRIEF_LIMIT,
    CHANGES_WITHOUT_HANDOVER,
    Capped,
    CaseBrief,
    case_brief,
)
from store.clock import from_iso, to_iso
from store.db import Database

if TYPE_CHECKING:
    from uplink.reporting import Obligation

REPORTS_COUNTED = 10_000
"""Reports owed (or gone late) counted at most: a desk owes a handful."""


@dataclass(frozen=True)
class MobilizationChange:
    """A mobilization started or finished since the previous handover.

    ``state`` is its state now (``active``, ``completed``, ``cancelled``); ``at`` when it
    started or finished; ``number`` its case's number (``None``: not for a case).
    """

    id: int
    number: str | None
    message: str
    state: str
    exercise: bool
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident": self.number,
            "message": self.message,
            "state": self.state,
            "exercise": self.exercise,
            "at": to_iso(self.at),
        }


def _empty() -> Capped[MobilizationChange]:
    return Capped((), 0)


def _no_reports() -> Capped[Obligation]:
    return Capped((), 0)


@dataclass(frozen=True)
class HandoverBrief(CaseBrief):
    """What the outgoing officer must see before handing the shift over."""

    active_mobilizations: int = 0
    mobilizations_started: Capped[MobilizationChange] = field(default_factory=_empty)
    mobilizations_finished: Capped[MobilizationChange] = field(default_factory=_empty)
    reports_due: Capped[Obligation] = field(default_factory=_no_reports)
    """Reports owed now (pending or overdue), the earliest deadline first."""
    reports_late: Capped[Obligation] = field(default_factory=_no_reports)
    """Reports that went past their deadline since the previous handover (still owed, or
    sent late), the most late first."""

    @property
    def reports_overdue(self) -> int:
        """How many of the reports owed are past their deadline (of those listed)."""
        return sum(1 for o in self.reports_due.items if o.due < self.at)

    def reports_json(self) -> dict[str, Any]:
        """The reports' part of the brief, as ``shift brief --json`` prints it."""
        return {
            name: {"items": [o.to_json(self.at) for o in part.items], "total": part.total}
            for name, part in (("due", self.reports_due), ("late", self.reports_late))
        }

    def others(self) -> dict[str, int]:
        return {"active_mobilizations": self.active_mobilizations}

    def summary(self) -> dict[str, Any]:
        """The cases' summary, and the mobilizations started and finished since (their ids)."""
        data = super().summary()
        if self.changes is not None:
            data["mobilizations"] = {
                "started": [m.id for m in self.mobilizations_started.items],
                "finished": [m.id for m in self.mobilizations_finished.items],
            }
        return data

    def changes_json(self) -> dict[str, Any]:
        """What changed since the previous confirmed handover: cases and mobilizations."""
        if self.changes is None:
            return {}
        return {
            **self.changes.to_json(),
            **{
                name: {"items": [m.to_json() for m in part.items], "total": part.total}
                for name, part in (
                    ("mobilizations_started", self.mobilizations_started),
                    ("mobilizations_finished", self.mobilizations_finished),
                )
            },
        }


def _mobilizations(
    db: Database, kinds: tuple[str, ...], after: int, limit: int
) -> Capped[MobilizationChange]:
    """The mobilizations with a timeline entry of ``kinds`` after entry ``after`` (started:
    ``mobilization_started``; finished: completed or cancelled), newest first."""
    marks = ",".join("?" * len(kinds))
    rows = db.conn.execute(
        "SELECT m.id, i.number, m.message, m.state, m.exercise, max(e.at)"
        " FROM events e JOIN mobilizations m ON m.id = json_extract(e.data, '$.mobilization')"
        " LEFT JOIN incidents i ON i.id = m.incident_id"
        f" WHERE e.id > ? AND e.kind IN ({marks})"
        " GROUP BY m.id ORDER BY max(e.at) DESC, m.id DESC",
        (after, *kinds),
    ).fetchall()
    return Capped(
        tuple(
            MobilizationChange(
                int(r[0]),
                str(r[1]) if r[1] is not None else None,
                str(r[2]),
                str(r[3]),
                bool(r[4]),
                from_iso(r[5]),
            )
            for r in rows[:limit]
        ),
        len(rows),
    )


def _reports(
    db: Database, now: datetime, since: datetime, limit: int
) -> tuple[Capped[Obligation], Capped[Obligation]]:
    """The reports owed now, and those gone late since ``since`` (each capped at ``limit``;
    the totals count up to :data:`REPORTS_COUNTED`)."""
    from uplink.sitreps import late_obligations, open_obligations

    due = open_obligations(db, now, limit=REPORTS_COUNTED)
    late = late_obligations(db, now, since=since, limit=REPORTS_COUNTED)
    late.sort(key=lambda o: -(o.delay_at(now) or 0.0))
    return Capped(tuple(due[:limit]), len(due)), Capped(tuple(late[:limit]), len(late))


def handover_brief(db: Database, now: datetime, *, limit: int = BRIEF_LIMIT) -> HandoverBrief:
    """The brief at ``now``: the cases' part (see :func:`incidents.supervision.case_brief`, each
    list capped at ``limit``), how many mobilizations are active, which started or finished
    since the previous confirmed handover, and the information reports owed and gone late."""
    cases = case_brief(db, now, limit=limit)
    (active,) = db.conn.execute(
        "SELECT count(*) FROM mobilizations WHERE state = 'active'"
    ).fetchone()
    started = finished = _empty()
    if cases.changes is not None:
        after = cases.changes.after_event
        started = _mobilizations(db, ("mobilization_started",), after, limit)
        finished = _mobilizations(
            db, ("mobilization_completed", "mobilization_cancelled"), after, limit
        )
    since = cases.changes.since if cases.changes is not None else now - CHANGES_WITHOUT_HANDOVER
    reports_due, reports_late = _reports(db, now, since, limit)
    return HandoverBrief(
        at=cases.at,
        counts=cases.counts,
        overdue=cases.overdue,
        supervised=cases.supervised,
        parked=cases.parked,
        extensions=cases.extensions,
        changes=cases.changes,
        active_mobilizations=int(active),
        mobilizations_started=started,
        mobilizations_finished=finished,
        reports_due=reports_due,
        reports_late=reports_late,
    )
