"""Provides the reads of mobilizations: one or a list, counts, per-node states, people, attempts.

What the CLI, the console and the reports show of a mobilization, read without writing:
:func:`totals` for listings (one grouped read), :func:`summary` for one mobilization's counts
per level and group, times to answer and who is silent, :func:`node_states` for the tree being
walked, and :func:`recipient_rows` / :func:`attempts_of` for the people and their messages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from mobilization.models import Counts, Mobilization, NodeState, SilentPerson, Summary
from mobilization.vocabulary import (
    SILENT,
    AttemptKind,
    AttemptState,
    MobilizationState,
    Mode,
    NodeStatus,
    RecipientState,
)
from store.clock import from_iso
from store.db import Database
from store.errors import NotFound
from store.i18n import _


class _MobRow(NamedTuple):
    id: int
    incident_id: int | None
    incident_number: str | None
    tree: str
    targets: str
    message: str
    mode: str
    need: int | None
    exercise: int
    state: str
    interval_s: int
    expires_at: str
    created_at: str
    created_by: str
    finished_at: str | None


_MOB_COLUMNS = (
    "m.id, m.incident_id, i.number, m.tree, m.targets, m.message, m.mode, m.need, m.exercise,"
    " m.state, m.interval_s, m.expires_at, m.created_at, m.created_by, m.finished_at"
)
# The case's number is shown beside its mobilizations: the one read of the incidents table.
_MOB_FROM = "mobilizations m LEFT JOIN incidents i ON i.id = m.incident_id"


def _mobilization(row: Sequence[Any]) -> Mobilization:
    r = _MobRow._make(row)
    return Mobilization(
        id=int(r.id),
        incident_id=r.incident_id,
        incident_number=r.incident_number,
        tree=r.tree,
        targets=tuple(json.loads(r.targets)),
        message=r.message,
        mode=Mode(r.mode),
        need=r.need,
        exercise=bool(r.exercise),
        state=MobilizationState(r.state),
        interval_s=int(r.interval_s),
        expires_at=from_iso(r.expires_at),
        created_at=from_iso(r.created_at),
        created_by=r.created_by,
        finished_at=from_iso(r.finished_at) if r.finished_at else None,
    )


def get_mobilization(db: Database, mobilization_id: int) -> Mobilization:
    """Raises :class:`NotFound` for an unknown id."""
    row = db.conn.execute(
        f"SELECT {_MOB_COLUMNS} FROM {_MOB_FROM} WHERE m.id = ?", (mobilization_id,)
    ).fetchone()
    if row is None:
        raise NotFound(_("mobilization {id} not found").format(id=mobilization_id))
    return _mobilization(row)


def list_mobilizations(
    db: Database,
    *,
    state: str | None = None,
    exercise: bool | None = None,
    incident_id: int | None = None,
    limit: int = 50,
) -> list[Mobilization]:
    """Newest first; ``exercise`` keeps drills apart from real mobilizations when given."""
    where: list[str] = ["1=1"]
    params: list[Any] = []
    if state is not None:
        where.append("m.state = ?")
        params.append(state)
    if exercise is not None:
        where.append("m.exercise = ?")
        params.append(int(exercise))
    if incident_id is not None:
        where.append("m.incident_id = ?")
        params.append(incident_id)
    rows = db.conn.execute(
        f"SELECT {_MOB_COLUMNS} FROM {_MOB_FROM} WHERE {' AND '.join(where)}"
        " ORDER BY m.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [_mobilization(r) for r in rows]


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(
    db: Database, mobilization_id: int, now: datetime, *, silent_limit: int = 50
) -> Summary:
    """Counts per level and per group, time-to-answer p50/p90, who is still silent.

    Each person counts once, at the highest level (and that node's group) that names them.
    ``silent`` is everyone called who has not answered (sent, no answer, escalated), longest
    silent first. ``answers_by_minute`` counts yes/no answers per minute since the start.
    """
    mob = get_mobilization(db, mobilization_id)
    out = Summary(mobilization=mob, total=Counts())
    rows = db.conn.execute(
        "SELECT r.id, r.name, r.state, r.sends, r.ack_code, r.first_sent_at, r.answered_at,"
        " n.level, n.grp, n.label FROM recipients r JOIN mob_links l ON l.recipient_id = r.id"
        " JOIN mob_nodes n ON n.id = l.node_id WHERE r.mobilization_id = ?"
        " ORDER BY r.id, n.level, n.position",
        (mob.id,),
    ).fetchall()
    seen: set[int] = set()
    waits: list[float] = []
    minutes: dict[int, int] = {}
    for rid, name, state, sends, code, first_sent, answered, level, grp, label in rows:
        if rid in seen:
            continue
        seen.add(rid)
        reached = int(first_sent is not None)
        out.total.add(state, 1, reached)
        out.by_level.setdefault(int(level), Counts()).add(state, 1, reached)
        if grp:
            out.by_group.setdefault(grp, Counts()).add(state, 1, reached)
        if answered and first_sent:
            waits.append(max(0.0, (from_iso(answered) - from_iso(first_sent)).total_seconds()))
        if answered:
            minute = int((from_iso(answered) - mob.created_at).total_seconds() // 60)
            minutes[minute] = minutes.get(minute, 0) + 1
        if state in SILENT and first_sent:
            out.silent.append(SilentPerson(rid, name, label, code, from_iso(first_sent), sends))
    out.silent.sort(key=lambda p: p.since)
    del out.silent[silent_limit:]
    out.p50_s = _percentile(waits, 0.5)
    out.p90_s = _percentile(waits, 0.9)
    if minutes:
        span = max(max(minutes), int((now - mob.created_at).total_seconds() // 60))
        out.answers_by_minute = [minutes.get(m, 0) for m in range(span + 1)]
    return out


def totals(db: Database, mobilization_id: int) -> Counts:
    """The whole mobilization's counts in one grouped read of its recipients.

    What listings and the dashboard show for every mobilization; :func:`summary` adds the
    per-level and per-group split, which costs a join over every node link.
    """
    out = Counts()
    for state, count, reached in db.conn.execute(
        "SELECT state, count(*), count(first_sent_at) FROM recipients"
        " WHERE mobilization_id = ? GROUP BY state",
        (mobilization_id,),
    ):
        out.add(state, count, reached)
    return out


class _NodeRow(NamedTuple):
    id: int
    code: str
    parent_id: int | None
    level: int
    label: str
    state: str
    tier: int
    released_at: str | None
    settled_at: str | None


def node_states(db: Database, mobilization_id: int) -> list[NodeState]:
    """Every node of the mobilization with its state and its people's counts, in tree order."""
    counts: dict[int, Counts] = {}
    for node_id, state, first_sent in db.conn.execute(
        "SELECT l.node_id, r.state, r.first_sent_at FROM mob_links l JOIN recipients r"
        " ON r.id = l.recipient_id JOIN mob_nodes n ON n.id = l.node_id"
        " WHERE n.mobilization_id = ?",
        (mobilization_id,),
    ):
        counts.setdefault(int(node_id), Counts()).add(state, 1, int(first_sent is not None))
    rows = map(
        _NodeRow._make,
        db.conn.execute(
            "SELECT id, code, parent_id, level, label, state, tier, released_at, settled_at"
            " FROM mob_nodes WHERE mobilization_id = ? ORDER BY position",
            (mobilization_id,),
        ),
    )
    return [
        NodeState(
            id=int(r.id),
            code=r.code,
            parent_id=r.parent_id,
            level=int(r.level),
            label=r.label,
            state=NodeStatus(r.state),
            tier=int(r.tier),
            counts=counts.get(int(r.id), Counts()),
            released_at=from_iso(r.released_at) if r.released_at else None,
            settled_at=from_iso(r.settled_at) if r.settled_at else None,
        )
        for r in rows
    ]


_RECIPIENT_KEYS = "id name key phone code state sends first_sent_at answered_at via eta_min error"


def recipient_rows(db: Database, mobilization_id: int) -> list[dict[str, Any]]:
    """Every recipient with their state, sends and answer, for listings and JSON."""
    rows = db.conn.execute(
        "SELECT r.id, r.name, p.key, p.phone, r.ack_code, r.state, r.sends, r.first_sent_at,"
        " r.answered_at, r.answer_via, r.eta_min, r.error FROM recipients r"
        " JOIN people p ON p.id = r.person_id WHERE r.mobilization_id = ? ORDER BY r.id",
        (mobilization_id,),
    ).fetchall()
    out = [dict(zip(_RECIPIENT_KEYS.split(), r, strict=True)) for r in rows]
    for row in out:
        row["state"] = RecipientState(row["state"])
    return out


_ATTEMPT_KEYS = "id kind round channel state created_at done_at error"


def attempts_of(db: Database, recipient_id: int) -> list[dict[str, Any]]:
    """Every attempt made for one recipient: channel, time, result, error."""
    rows = db.conn.execute(
        "SELECT id, kind, round, channel, state, created_at, done_at, error FROM attempts"
        " WHERE recipient_id = ? ORDER BY created_at, rowid",
        (recipient_id,),
    ).fetchall()
    out = [dict(zip(_ATTEMPT_KEYS.split(), r, strict=True)) for r in rows]
    for row in out:
        row["kind"] = AttemptKind(row["kind"])
        row["state"] = AttemptState(row["state"])
    return out


class AnswersAt(NamedTuple):
    """How many people were first called, and answered yes or no, in one minute."""

    minute: datetime  # the minute's start, UTC
    called: int
    yes: int
    no: int


def answers_over_time(db: Database, mobilization_id: int) -> list[AnswersAt]:
    """Per minute with activity, oldest first: people first called, answers yes and no.

    Two grouped reads of the mobilization's recipients (no row per person reaches Python), for
    the reports' "answers over time" chart; a person counts under their current answer.
    """
    minutes: dict[str, list[int]] = {}
    for minute, count in db.conn.execute(
        "SELECT substr(first_sent_at, 1, 16), count(*) FROM recipients"
        " WHERE mobilization_id = ? AND first_sent_at IS NOT NULL GROUP BY 1",
        (mobilization_id,),
    ):
        minutes.setdefault(minute, [0, 0, 0])[0] += int(count)
    for minute, state, count in db.conn.execute(
        "SELECT substr(answered_at, 1, 16), state, count(*) FROM recipients"
        " WHERE mobilization_id = ? AND answered_at IS NOT NULL AND state IN ('yes', 'no')"
        " GROUP BY 1, 2",
        (mobilization_id,),
    ):
        minutes.setdefault(minute, [0, 0, 0])[1 if state == "yes" else 2] += int(count)
    return [
        AnswersAt(from_iso(minute + ":00Z"), *counts) for minute, counts in sorted(minutes.items())
    ]


def people_in(
    db: Database, mobilization_id: int, states: Sequence[str], *, limit: int = 200
) -> tuple[list[SilentPerson], int]:
    """The first ``limit`` people in ``states`` (earliest first called first), and how many in all.

    What a report lists of the silent or the unreachable: capped, with the count of the rest.
    """
    marks = ", ".join("?" for _state in states)
    total = int(
        db.conn.execute(
            f"SELECT count(*) FROM recipients WHERE mobilization_id = ? AND state IN ({marks})",
            (mobilization_id, *states),
        ).fetchone()[0]
    )
    rows = db.conn.execute(
        "SELECT r.id, r.name, coalesce((SELECT n.label FROM mob_links l JOIN mob_nodes n"
        " ON n.id = l.node_id WHERE l.recipient_id = r.id ORDER BY n.level, n.position LIMIT 1),"
        " ''), r.ack_code, coalesce(r.first_sent_at, r.created_at), r.sends FROM recipients r"
        f" WHERE r.mobilization_id = ? AND r.state IN ({marks})"
        " ORDER BY r.first_sent_at IS NULL, r.first_sent_at, r.id LIMIT ?",
        (mobilization_id, *states, limit),
    ).fetchall()
    people = [
        SilentPerson(int(rid), name, label, code, from_iso(since), int(sends))
        for rid, name, label, code, since, sends in rows
    ]
    return people, total


def level_counts(
    db: Database, mobilization_id: int
) -> tuple[dict[int, Counts], float | None, float | None]:
    """Counts per level and the time-to-answer p50/p90 (seconds), aggregated in SQL.

    The same figures as :func:`summary`'s ``by_level``, ``p50_s`` and ``p90_s`` (each person at
    the highest level that names them) without a Python loop over every person: what a report
    of a 30,000-person mobilization reads.
    """
    by_level: dict[int, Counts] = {}
    for level, state, count, reached in db.conn.execute(
        "SELECT lvl, state, count(*), count(first_sent_at) FROM (SELECT r.state,"
        " r.first_sent_at, (SELECT min(n.level) FROM mob_links l JOIN mob_nodes n"
        " ON n.id = l.node_id WHERE l.recipient_id = r.id) AS lvl FROM recipients r"
        " WHERE r.mobilization_id = ?) WHERE lvl IS NOT NULL GROUP BY lvl, state",
        (mobilization_id,),
    ):
        by_level.setdefault(int(level), Counts()).add(state, int(count), int(reached))
    waits = [
        max(0.0, float(w))
        for (w,) in db.conn.execute(
            "SELECT (julianday(answered_at) - julianday(first_sent_at)) * 86400.0"
            " FROM recipients WHERE mobilization_id = ? AND answered_at IS NOT NULL"
            " AND first_sent_at IS NOT NULL",
            (mobilization_id,),
        )
    ]
    return by_level, _percentile(waits, 0.5), _percentile(waits, 0.9)
