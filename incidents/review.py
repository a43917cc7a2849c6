"""Provides the review of a case: the lessons learned and the follow-up actions the officer adds.

A post-incident report ends with what the office learned and what it will do about it. Both
are entries of the case's timeline (kinds ``lesson`` and ``follow_up_action``), so they are
audited, chained and exported like every other entry, and a case may gain them at any stage,
closed ones included (the review usually comes after closing). :func:`review_of` reads them back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from incidents.records import resolve_id
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput
from store.i18n import _
from store.text import clean_text

LESSON = "lesson"
FOLLOW_UP_ACTION = "follow_up_action"
REVIEW_KINDS = (LESSON, FOLLOW_UP_ACTION)


@dataclass(frozen=True)
class Lesson:
    entry_id: int
    at: datetime
    operator: str
    text: str


@dataclass(frozen=True)
class Action:
    """A follow-up action: what, who owns it (free text: a person, a unit) and when it is due."""

    entry_id: int
    at: datetime
    operator: str
    text: str
    owner: str | None
    due: datetime | None


@dataclass(frozen=True)
class Review:
    lessons: tuple[Lesson, ...]
    actions: tuple[Action, ...]


def _text(text: str | None) -> str:
    value = clean_text(text or "", "text", kind="note", multiline=True)
    if not value:
        raise InvalidInput(_("required"), "text")
    return value


def _append(
    db: Database, clock: Clock, operator: str, ref: int | str, kind: str, data: dict[str, object]
) -> int:
    with write(db):
        incident_id = resolve_id(db, ref)
        return append_event(
            db,
            at=to_iso(clock.now()),
            operator=operator,
            kind=kind,
            incident_id=incident_id,
            data=data,
        )


def add_lesson(db: Database, clock: Clock, operator: str, ref: int | str, text: str) -> int:
    """Add a lesson learned to the case's timeline; returns the entry id.

    Raises:
        InvalidInput: ``text`` empty, too long or holding control characters.
        NotFound: no such case.
    """
    return _append(db, clock, operator, ref, LESSON, {"text": _text(text)})


def add_action(
    db: Database,
    clock: Clock,
    operator: str,
    ref: int | str,
    text: str,
    *,
    owner: str | None = None,
    due: datetime | None = None,
) -> int:
    """Add a follow-up action (what to do, its owner, its due time) to the case's timeline.

    Raises:
        InvalidInput: ``text`` empty or malformed (field ``text``), ``owner`` malformed
            (field ``owner``), ``due`` without a time zone (field ``due``).
        NotFound: no such case.
    """
    data: dict[str, object] = {"text": _text(text)}
    who = clean_text(owner or "", "owner", kind="short")
    if who:
        data["owner"] = who
    if due is not None:
        if due.tzinfo is None:
            raise InvalidInput(_("a time with its time zone is required"), "due")
        data["due"] = to_iso(due)
    return _append(db, clock, operator, ref, FOLLOW_UP_ACTION, data)


def review_of(db: Database, ref: int | str) -> Review:
    """The case's lessons and follow-up actions, oldest first.

    Raises:
        NotFound: no such case.
    """
    incident_id = resolve_id(db, ref)
    rows = db.conn.execute(
        "SELECT id, at, operator, kind, data FROM events"
        " WHERE incident_id = ? AND kind IN (?, ?) ORDER BY id",
        (incident_id, *REVIEW_KINDS),
    ).fetchall()
    lessons: list[Lesson] = []
    actions: list[Action] = []
    for entry_id, at, operator, kind, raw in rows:
        data = json.loads(raw) if raw else {}
        text = str(data.get("text", ""))
        if kind == LESSON:
            lessons.append(Lesson(int(entry_id), from_iso(at), operator, text))
        else:
            due = data.get("due")
            actions.append(
                Action(
                    int(entry_id),
                    from_iso(at),
                    operator,
                    text,
                    data.get("owner"),
                    from_iso(due) if due else None,
                )
            )
    return Review(tuple(lessons), tuple(actions))
