"""Provides what the console's dashboard reads: active cases by stage and level, and a live feed.

Every read here must stay fast on a database of a million cases, so each one is shaped around
an index of ``store.schema``:

* :func:`stage_counts` counts the open stages on the covering index ``incidents_stage`` and
  takes the parked cases away (the partial index ``incidents_parked``). That is the active
  queue because ``active = 1`` exactly when a case is in an open stage and not parked: the
  workflow's stage moves, park/unpark and the bulk loader's derived default all keep it so
  (``tests/unit/test_overview.py`` checks it against the direct query). Counting
  ``active = 1`` directly would look up every active row in the table, about ten times slower.
* :func:`severity_counts` has no index holding the level: it walks the active queue
  (``incidents_queue``) and reads each row's level, the slowest read here (measured on 10,900
  active cases: 9 ms warm, 45 ms on a fresh connection). A partial index
  ``ON incidents(severity) WHERE active = 1`` is picked by the planner for this very query
  (0.7 ms), with no change here.
* :func:`recent_feed` reads only the last ``window`` entries of the ``events`` table by id
  (its primary key), so its cost does not grow with the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents.models import OPEN_STAGES, Severity, Stage
from store.clock import from_iso
from store.db import Database

FEED_KINDS: dict[str, str] = {
    "reported": "report",
    "supervise": "overdue",
    "mobilization_answer": "answer",
    "mobilization_answer_changed": "answer",
    "mobilization_started": "mobilization",
    "mobilization_completed": "mobilization",
    "mobilization_cancelled": "mobilization",
    "field_accepted": "field",
    "field_declined": "field",
    "field_feedback": "field",
    "field_accept_overdue": "field",
}
"""Timeline entry kind -> feed item kind. Reminders (``remind``) are left out: the sweep writes
one per overdue case per interval, and they would crowd everything else out of the feed."""

FEED_WINDOW = 5000
"""How many of the newest timeline entries :func:`recent_feed` looks through at most."""


@dataclass(frozen=True)
class FeedItem:
    """One line of the dashboard's live feed, from one timeline entry.

    Attributes:
        id: the timeline entry's id (newer entries have larger ids).
        at: when it was recorded (aware UTC).
        kind: ``report`` (a case logged), ``overdue`` (a case passed its deadline and was put
            under supervision, 督办), ``answer`` (someone answered a mobilization) or
            ``mobilization`` (one started, completed or was cancelled), ``field`` (a person in
            the field accepted, declined or fed back a case, or nobody accepted it in time).
        incident_id: the case it concerns, if any (for an answer: the mobilization's case).
        number: that case's number.
        title: the case's title; for an answer or a mobilization without a case, the
            mobilization's message.
        name: who answered (answers; for the field: who accepted, declined or fed back).
        detail: ``yes``/``no`` for an answer; ``started``/``completed``/``cancelled`` for a
            mobilization; the stage the case was overdue in for ``overdue``; ``accepted``/
            ``declined``/``feedback``/``accept_overdue`` for the field.
        severity: the case's level, when there is a case.
        mobilization_id: the mobilization, for answers and mobilization entries.
        note: for the field, the decline's reason or the feedback's text.
    """

    id: int
    at: datetime
    kind: str
    incident_id: int | None = None
    number: str | None = None
    title: str = ""
    name: str | None = None
    detail: str | None = None
    severity: Severity | None = None
    mobilization_id: int | None = None
    note: str = ""


def stage_counts(db: Database) -> dict[Stage, int]:
    """Active cases (the queue: open, not parked) per stage, every open stage in loop order."""
    out = dict.fromkeys(OPEN_STAGES, 0)
    for stage, n in db.conn.execute(
        # The partial index of the active rows (open, not parked): compact, a few pages.
        "SELECT stage, count(*) FROM incidents INDEXED BY incidents_active_stage"
        " WHERE active = 1 GROUP BY stage"
    ):
        if Stage(stage) in out:
            out[Stage(stage)] += int(n)
    return out


def severity_counts(db: Database) -> dict[Severity, int]:
    """Active cases per level, I to IV (every level present, zero when none)."""
    out = dict.fromkeys(Severity, 0)
    for level, n in db.conn.execute(
        # Without planner statistics SQLite prefers incidents_queue and a temporary B-tree
        # (~130 ms on a million cases); the partial index of active rows answers in ~7 ms.
        "SELECT severity, count(*) FROM incidents INDEXED BY incidents_active_severity"
        " WHERE active = 1 GROUP BY severity"
    ):
        out[Severity(int(level))] = int(n)
    return out


def recent_feed(
    db: Database,
    limit: int = 20,
    after_id: int | None = None,
    *,
    window: int = FEED_WINDOW,
) -> list[FeedItem]:
    """The newest reports, overdue cases, answers and mobilizations, newest first.

    Args:
        limit: at most this many items.
        after_id: only entries newer than this timeline id (what a feed already showing up to
            it is missing).
        window: look through at most this many of the newest timeline entries, so a burst of
            other entries (a bulk import, a sweep) costs the same as a quiet day.
    """
    row = db.conn.execute("SELECT max(id) FROM events").fetchone()
    newest = int(row[0] or 0)
    floor = max(after_id or 0, newest - window)
    kinds = list(FEED_KINDS)
    marks = ",".join("?" * len(kinds))
    rows = db.conn.execute(
        "SELECT e.id, e.at, e.kind, i.id, i.number, i.title, i.severity,"
        " coalesce(r.name, CASE WHEN e.kind LIKE 'field%' THEN json_extract(e.data, '$.name')"
        " END), json_extract(e.data, '$.answer'), json_extract(e.data, '$.stage'), m.id,"
        " m.message, CASE WHEN e.kind LIKE 'field%' THEN coalesce(json_extract(e.data,"
        " '$.reason'), json_extract(e.data, '$.text')) END"
        " FROM events e"
        " LEFT JOIN mobilizations m ON e.kind LIKE 'mobilization%'"
        "  AND m.id = json_extract(e.data, '$.mobilization')"
        " LEFT JOIN recipients r ON e.kind LIKE 'mobilization_answer%'"
        "  AND r.id = json_extract(e.data, '$.recipient')"
        " LEFT JOIN incidents i ON i.id = coalesce(e.incident_id, m.incident_id)"
        f" WHERE e.id > ? AND e.kind IN ({marks}) ORDER BY e.id DESC LIMIT ?",
        (floor, *kinds, limit),
    ).fetchall()
    return [_feed_item(r) for r in rows]


def _feed_item(row: Sequence[Any]) -> FeedItem:
    (
        event_id,
        at,
        kind,
        incident_id,
        number,
        title,
        level,
        name,
        answer,
        stage,
        mob_id,
        message,
        note,
    ) = row
    feed_kind = FEED_KINDS[kind]
    detail: str | None = None
    if feed_kind == "answer":
        detail = answer
    elif feed_kind == "mobilization":
        detail = kind.removeprefix("mobilization_")
    elif feed_kind == "overdue":
        detail = stage
    elif feed_kind == "field":
        detail = kind.removeprefix("field_")
    mobilization_text = feed_kind in ("answer", "mobilization") and message
    return FeedItem(
        id=int(event_id),
        at=from_iso(at),
        kind=feed_kind,
        incident_id=incident_id,
        number=number,
        title=(message if mobilization_text else title) or "",
        name=name,
        detail=detail,
        severity=Severity(level) if level is not None else None,
        mobilization_id=mob_id,
        note=str(note or ""),
    )
