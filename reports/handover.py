"""Provides the shift handover brief (交接班简报): the cases to see, and the mobilizations running.

The cases' part is incidents' (:func:`incidents.supervision.case_brief`); a handover must also
say how many mobilizations are still running, which incidents, below mobilization, may not read.
This read joins the two; the shell shows it and hands it to
:func:`incidents.supervision.shift_handover`, which keeps its summary with the handover.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from incidents.supervision import BRIEF_LIMIT, CaseBrief, case_brief
from store.db import Database


@dataclass(frozen=True)
class HandoverBrief(CaseBrief):
    """What the outgoing officer must see before handing the shift over."""

    active_mobilizations: int = 0

    def others(self) -> dict[str, int]:
        return {"active_mobilizations": self.active_mobilizations}


def handover_brief(db: Database, now: datetime, *, limit: int = BRIEF_LIMIT) -> HandoverBrief:
    """The brief at ``now``: the cases' part (see :func:`incidents.supervision.case_brief`, each
    list capped at ``limit``) and how many mobilizations are active."""
    cases = case_brief(db, now, limit=limit)
    (active,) = db.conn.execute(
        "SELECT count(*) FROM mobilizations WHERE state = 'active'"
    ).fetchone()
    return HandoverBrief(
        at=cases.at,
        counts=cases.counts,
        overdue=cases.overdue,
        supervised=cases.supervised,
        parked=cases.parked,
        extensions=cases.extensions,
        active_mobilizations=int(active),
    )
