"""Provides the messages drills send to named people: reminders, injects, stop and overdue notices.

Drills tell a few named people (organizer, evaluators, participants, an item's owner) rather
than calling down a tree, so their messages are not mobilization attempts: each is a
``drill_notices`` row for one person on one channel, sent by the engine through the same
senders (:func:`claim` hands them over as :class:`mobilization.Outgoing` of kind ``notice``,
marked as an exercise; :func:`record` takes back what became of them).

A notice's id is ``f"{key}:{person_id}"`` and it is inserted with ``INSERT OR IGNORE``, so
queueing the same thing twice (two engines, a restart, a retried sweep) sends it once, and a
message re-sent after a crash (:func:`release_claims`) carries the same id to the gateway.

The channel is chosen when the notice is queued: the person's first channel, verified ones
before unverified ones, then in the person's own order (as :func:`mobilization.delivery.routes`
orders them). The engine, which knows its senders, may move it to the person's first channel
it can send on when it claims the notice (:func:`claim`'s ``configured``). Somebody unknown,
inactive or without any channel gets a row ``failed`` with the reason, so the omission shows.

Retries: a send the channel refused is tried again after a pause (one minute, then two) up to
:data:`MAX_TRIES` tries, then stays ``failed`` with the channel's reason; a failure of this
machine (:attr:`mobilization.Delivery.local`) is not a try and goes again after a few seconds.

The texts go to people, not to the operator: both languages in one text whatever the
program's language, as for the mobilization's call-outs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from contacts.people import Channel, Person, get_person
from drills.models import DRILL_KIND_NAMES, Notice, NoticeKind, NoticeState, Plan
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from mobilization.channels import Delivery, Outgoing

MAX_TRIES = 3  # sends a channel refused before the notice stays failed
RETRY_PAUSE_S = 60  # after the n-th refused try, the next waits n x this
LOCAL_RETRY_S = 5  # a send that failed on this machine (EMFILE, a full disk) goes again after it
NO_PERSON = "no such person"
INACTIVE = "the person is inactive"
NO_CHANNEL = "the person has no channel"
NO_CONFIGURED = "no configured channel reaches this person"
NOTICE_COLUMNS = (
    "id, kind, person_id, name, channel, address, text, due_at, state, run_id, schedule_id,"
    " tries, sent_at, error"
)


class _Row(NamedTuple):
    """A ``drill_notices`` row as :data:`NOTICE_COLUMNS` reads it."""

    id: str
    kind: str
    person_id: int | None
    name: str
    channel: str
    address: str
    text: str
    due_at: str
    state: str
    run_id: int | None
    schedule_id: int | None
    tries: int
    sent_at: str | None
    error: str | None

    def notice(self) -> Notice:
        return Notice(
            id=self.id,
            kind=NoticeKind(self.kind),
            person_id=self.person_id,
            name=self.name,
            channel=self.channel,
            address=self.address,
            text=self.text,
            due_at=from_iso(self.due_at),
            state=NoticeState(self.state),
            run_id=self.run_id,
            schedule_id=self.schedule_id,
            tries=int(self.tries),
            sent_at=from_iso(self.sent_at) if self.sent_at else None,
            error=self.error,
        )


class _Addressed(NamedTuple):
    """Who one notice goes to and how; ``error`` says why it cannot go."""

    suffix: str  # the person's id (or the reference that found nobody)
    person_id: int | None
    name: str
    channel: str
    address: str
    error: str | None


def first_channel(
    person: Person, configured: frozenset[str] | None = None
) -> tuple[str, str] | None:
    """The person's first usable (channel, address): verified before unverified, then their
    own order; the phone, webhook or e-mail on their record when no channel is listed. With
    ``configured`` (the channels the engine has senders for), only those count."""
    ordered: list[Channel] = sorted(person.channels, key=lambda c: (not c.verified, c.rank))
    routes = [(c.kind.value, c.address) for c in ordered]
    if not routes or configured is not None:
        record = (("sms", person.phone), ("webhook", person.webhook), ("email", person.email))
        routes += [(kind, address) for kind, address in record if address]
    for kind, address in routes:
        if configured is None or kind in configured:
            return kind, address
    return None


def _address(db: Database, ref: str | int) -> _Addressed:
    try:
        person = get_person(db, ref, field="people")
    except (NotFound, InvalidInput) as exc:
        error = NO_PERSON if isinstance(exc, NotFound) else str(exc)
        return _Addressed(str(ref), None, str(ref), "", "", error)
    if not person.active:
        return _Addressed(str(person.id), person.id, person.name, "", "", INACTIVE)
    route = first_channel(person)
    if route is None:
        return _Addressed(str(person.id), person.id, person.name, "", "", NO_CHANNEL)
    return _Addressed(str(person.id), person.id, person.name, route[0], route[1], None)


def _unique(people: Iterable[str | int]) -> list[str | int]:
    seen: set[str] = set()
    out: list[str | int] = []
    for ref in people:
        text = str(ref).strip()
        if text and text not in seen:
            seen.add(text)
            out.append(ref)
    return out


def queue(
    db: Database,
    clock: Clock,
    *,
    kind: NoticeKind,
    people: Sequence[str | int],
    text: str,
    key: str,
    due_at: datetime | None = None,
    run_id: int | None = None,
    schedule_id: int | None = None,
) -> int:
    """Queue ``text`` to each of ``people`` (keys, ids, phones or names) on their first channel.

    Args:
        key: what is told, unique per message (``remind:3:2026-12-02T01:00:00Z:60``); each
            notice's id is ``f"{key}:{person_id}"``, so queueing it again adds nothing.
        due_at: when it may go (default now).

    Returns:
        How many notices were newly queued to be sent (rows already there, and people who
        cannot be reached, whose rows are recorded ``failed``, are not counted).
    """
    now = clock.now()
    due = to_iso(due_at or now)
    addressed = [_address(db, ref) for ref in _unique(people)]
    queued = 0
    with write(db):
        for a in addressed:
            state = NoticeState.FAILED if a.error else NoticeState.PENDING
            cur = db.conn.execute(
                "INSERT OR IGNORE INTO drill_notices (id, kind, person_id, name, channel,"
                " address, text, due_at, state, run_id, schedule_id, error)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f"{key}:{a.suffix}",
                    kind.value,
                    a.person_id,
                    a.name,
                    a.channel,
                    a.address,
                    text,
                    due,
                    state.value,
                    run_id,
                    schedule_id,
                    a.error,
                ),
            )
            if cur.rowcount and state is NoticeState.PENDING:
                queued += 1
    return queued


def reminder_people(plan: Plan) -> list[str]:
    """Who a plan's reminders go to: the organizer and the evaluators always, the participants
    only when the drill is announced (those being tested by an unannounced drill get none)."""
    people = [plan.organizer, *plan.evaluators]
    if plan.announced:
        people += plan.participants
    return [str(p) for p in _unique(people)]


def reminder_key(schedule_id: int, occurrence: datetime, minutes: int) -> str:
    return f"remind:{schedule_id}:{to_iso(occurrence)}:{minutes}"


def queue_reminder(
    db: Database,
    clock: Clock,
    plan: Plan,
    schedule_id: int,
    occurrence: datetime,
    minutes: int,
    late_s: int,
    zone: str,
) -> int:
    """Queue the reminder ``minutes`` before ``occurrence`` (UTC) to :func:`reminder_people`.

    Its text gives the drill's local time in ``zone`` and, when ``late_s`` is a minute or
    more, says the reminder is late. Returns the notices newly queued.
    """
    at_local = occurrence.astimezone(ZoneInfo(zone))
    return queue(
        db,
        clock,
        kind=NoticeKind.REMINDER,
        people=reminder_people(plan),
        text=reminder_text(plan, at_local, minutes, late_s),
        key=reminder_key(schedule_id, occurrence, minutes),
        schedule_id=schedule_id,
    )


def claim(
    db: Database,
    clock: Clock,
    *,
    limit: int,
    holder: str,
    configured: frozenset[str] | None = None,
) -> list[Outgoing]:
    """Claim up to ``limit`` notices due now for ``holder`` to send (state ``claimed``).

    Each comes back as an :class:`~mobilization.Outgoing` whose ``attempt_id`` is the notice's
    id, of kind ``notice``, marked as an exercise, with ``recipient_id`` 0 (no mobilization).

    Args:
        configured: the channels the engine has senders for (``log`` aside). When given and
            not empty, a notice queued on another channel moves to the person's first
            configured one (kept for its re-sends), or fails when none reaches them.
    """
    from mobilization.channels import Outgoing

    real = (configured or frozenset()) - {"log"}
    with write(db):
        rows = db.conn.execute(
            "SELECT id, person_id, channel, address, text, name FROM drill_notices"
            " WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
            (to_iso(clock.now()), limit),
        ).fetchall()
        out: list[Outgoing] = []
        for notice_id, person_id, channel, address, text, name in rows:
            if real and channel not in real:
                route = _reroute(db, person_id, real)
                if route is None:
                    db.conn.execute(
                        "UPDATE drill_notices SET state = 'failed', error = ? WHERE id = ?",
                        (NO_CONFIGURED, notice_id),
                    )
                    continue
                channel, address = route
                db.conn.execute(
                    "UPDATE drill_notices SET channel = ?, address = ? WHERE id = ?",
                    (channel, address, notice_id),
                )
            db.conn.execute(
                "UPDATE drill_notices SET state = 'claimed', claimed_by = ? WHERE id = ?",
                (holder, notice_id),
            )
            out.append(
                Outgoing(
                    attempt_id=notice_id,
                    recipient_id=0,
                    channel=channel,
                    address=address,
                    text=text,
                    kind="notice",
                    exercise=True,
                    name=name,
                )
            )
    return out


def _reroute(db: Database, person_id: int | None, real: frozenset[str]) -> tuple[str, str] | None:
    if person_id is None:
        return None
    try:
        person = get_person(db, int(person_id))
    except NotFound:
        return None
    return first_channel(person, real)


def record(db: Database, clock: Clock, deliveries: Sequence[Delivery]) -> None:
    """Record what became of claimed notices: sent, tried again later, or failed for good.

    Deliveries whose id is not a drill notice (a mobilization's attempt) are ignored.
    """
    if not deliveries:
        return
    now = clock.now()
    with write(db):
        tries = {
            str(notice_id): int(count)
            for notice_id, count in db.conn.execute(
                "SELECT id, tries FROM drill_notices WHERE state IN ('claimed', 'pending')"
                " AND id IN (SELECT value FROM json_each(?))",
                (json.dumps([d.attempt_id for d in deliveries]),),
            )
        }
        for d in deliveries:
            if d.attempt_id not in tries:
                continue
            done = tries[d.attempt_id]
            if d.ok:
                db.conn.execute(
                    "UPDATE drill_notices SET state = 'sent', sent_at = ?, tries = ?,"
                    " claimed_by = NULL, error = NULL WHERE id = ?",
                    (to_iso(now), done + 1, d.attempt_id),
                )
            elif d.local:
                again = now + timedelta(seconds=LOCAL_RETRY_S)
                db.conn.execute(
                    "UPDATE drill_notices SET state = 'pending', due_at = ?, claimed_by = NULL,"
                    " error = ? WHERE id = ?",
                    (to_iso(again), d.error, d.attempt_id),
                )
            elif done + 1 < MAX_TRIES:
                again = now + timedelta(seconds=RETRY_PAUSE_S * (done + 1))
                db.conn.execute(
                    "UPDATE drill_notices SET state = 'pending', due_at = ?, tries = ?,"
                    " claimed_by = NULL, error = ? WHERE id = ?",
                    (to_iso(again), done + 1, d.error, d.attempt_id),
                )
            else:
                db.conn.execute(
                    "UPDATE drill_notices SET state = 'failed', tries = ?, claimed_by = NULL,"
                    " error = ? WHERE id = ?",
                    (done + 1, d.error, d.attempt_id),
                )


def release_claims(db: Database) -> int:
    """Make every claimed, unrecorded notice pending again (an engine taking over: the one
    that claimed them is gone, so their outcome is unknown and they go again, same id)."""
    with write(db):
        cur = db.conn.execute(
            "UPDATE drill_notices SET state = 'pending', claimed_by = NULL WHERE state = 'claimed'"
        )
    return cur.rowcount


def next_due(db: Database) -> datetime | None:
    """When the next pending notice may go (``None``: nothing pending); for the engine's timer."""
    row = db.conn.execute(
        "SELECT min(due_at) FROM drill_notices WHERE state = 'pending'"
    ).fetchone()
    return from_iso(row[0]) if row and row[0] else None


def list_notices(
    db: Database,
    *,
    run_id: int | None = None,
    schedule_id: int | None = None,
    kind: NoticeKind | None = None,
    limit: int = 200,
) -> list[Notice]:
    """Notices, newest due first, filtered by run, schedule and kind."""
    where: list[str] = []
    params: list[object] = []
    for column, value in (("run_id", run_id), ("schedule_id", schedule_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if kind is not None:
        where.append("kind = ?")
        params.append(NoticeKind(kind).value)
    sql = f"SELECT {NOTICE_COLUMNS} FROM drill_notices"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY due_at DESC, id LIMIT ?"
    return [_Row._make(r).notice() for r in db.conn.execute(sql, [*params, limit])]


# ------------------------------------------------------------------------------- the texts


def reminder_text(plan: Plan, at_local: datetime, minutes: int, late_s: int) -> str:
    """The reminder of a drill at ``at_local`` (its wall time), ``minutes`` before it.

    ``【演练提醒 DRILL REMINDER】月度通信联络演练（通信联络）2026-12-02 09:00 开始，还有1小时。
    Drill 月度通信联络演练 (call-tree) starts at 2026-12-02 09:00, in 1 hour.`` A reminder sent
    a minute or more late says so, and counts the time left from when it is sent.
    """

    def span(seconds: float) -> tuple[str, str]:
        """A duration in both languages: ``("7天", "7 days")``, ``("1小时", "1 hour")``."""
        minutes = max(0, round(seconds / 60))
        if minutes >= 1440 and minutes % 1440 == 0:
            days = minutes // 1440
            return f"{days}天", f"{days} day{'s' if days != 1 else ''}"
        if minutes >= 60 and minutes % 60 == 0:
            hours = minutes // 60
            return f"{hours}小时", f"{hours} hour{'s' if hours != 1 else ''}"
        if minutes >= 60:
            return f"{minutes // 60}小时{minutes % 60}分钟", f"{minutes // 60} h {minutes % 60} min"
        return f"{minutes}分钟", f"{minutes} min"

    when = at_local.strftime("%Y-%m-%d %H:%M")
    late_min = late_s // 60
    left_zh, left_en = span(minutes * 60 - (late_s if late_min else 0))
    kind_en = DRILL_KIND_NAMES[plan.kind]
    text = f"【演练提醒 DRILL REMINDER】{plan.name}（{plan.kind.label_zh}）"
    text += f"{when} 开始，还有{left_zh}。"
    if not plan.announced:
        text += "不预先通知参演人员。"
    if late_min:
        text += f"（提醒晚发{late_min}分钟）"
    text += f" Drill {plan.name} ({kind_en}) starts at {when}, in {left_en}."
    if not plan.announced:
        text += " Unannounced: participants are not told."
    if late_min:
        text += f" (This reminder is late by {late_min} min.)"
    return text
