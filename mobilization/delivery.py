"""Provides delivery: which channel reaches whom, claiming messages to send, recording outcomes.

Everything to send is an ``attempts`` row in state ``pending``, created by the cascade; the
engine's runner (``console/engine.py``) claims the ones whose time has come
(:func:`claim_pending`), hands them to the senders of :mod:`mobilization.channels`, and records
what became of them (:func:`record_deliveries`). A claim fixes an attempt's channel, address and
text, so an attempt re-sent after a crash (:func:`release_claims`) is the same message with the
same id, which the gateway sees as its ``Idempotency-Key``.

A person is never sent more than one message per ``interval_s`` across all mobilizations:
``person_sends`` holds when they were last (or will next be) sent something, and an attempt's
``not_before`` is pushed back to respect it (:func:`reserve`). The texts sent are written here
too, in both languages, since the recipient's language is not known.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from mobilization.acks import make_token
from mobilization.channels import NOT_SENT, Delivery, Outgoing
from mobilization.models import Mobilization
from mobilization.progress import get_mobilization
from mobilization.vocabulary import OPEN, AttemptKind, AttemptState, RecipientState
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.keys import KeyRing

FAILED_ROUND_RETRY_S = 60
LOCAL_RETRY_S = 5.0  # a message held back by a local error (EMFILE, ENOSPC) goes again after it
NO_CHANNEL = "no configured channel reaches this person"


LinkFor = Callable[[Database, int, int, datetime], str | None]
"""``(db, mobilization id, recipient id, now) -> link``: the link a call-out carries instead
of the ack link, or ``None`` for the ack link."""


@dataclass(frozen=True)
class Routing:
    """What the engine's process knows about sending: configured channels, the public base URL,
    and the key ring that signs ack links (an ephemeral one only for tests and throwaways).

    ``link_for``, when set, may give a recipient's call-out another link than the ack link (a
    field dispatch's person gets their case link): the composition root binds it, since this
    package knows nothing of what lies above it. It runs inside the claim's transaction, once,
    when an attempt's text is fixed, so the text recorded is the text sent.
    """

    configured: frozenset[str] = frozenset()
    base_url: str = "http://127.0.0.1:8470"
    keys: KeyRing = field(default_factory=KeyRing.ephemeral)
    link_for: LinkFor | None = None


def routes(
    db: Database, person_ids: Sequence[int], configured: frozenset[str]
) -> dict[int, list[tuple[str, str]]]:
    """Each person's usable (channel, address) pairs, best first.

    Verified channels before unverified, then by the person's own order; only channels that
    are configured. With only ``sms`` configured, a phone number is enough. With nothing
    configured, everyone goes to the ``log`` channel (the demo and offline installations).
    """
    ids = json.dumps(sorted(set(person_ids)))
    out: dict[int, list[tuple[str, str]]] = {pid: [] for pid in person_ids}
    real = configured - {"log"}
    if not real:
        for pid, key, phone, email in db.conn.execute(
            "SELECT id, key, phone, email FROM people WHERE id IN (SELECT value FROM json_each(?))",
            (ids,),
        ):
            out[int(pid)] = [("log", phone or email or key)]
        return out
    ranked: dict[int, list[tuple[int, int, str, str]]] = {}
    for pid, kind, address, rank, verified in db.conn.execute(
        "SELECT person_id, kind, address, rank, verified FROM channels"
        " WHERE person_id IN (SELECT value FROM json_each(?))",
        (ids,),
    ):
        if kind in real:
            ranked.setdefault(int(pid), []).append((0 if verified else 1, int(rank), kind, address))
    for pid, phone, email, webhook in db.conn.execute(
        "SELECT id, phone, email, webhook FROM people WHERE id IN (SELECT value FROM json_each(?))",
        (ids,),
    ):
        pairs = [(kind, address) for _v, _r, kind, address in sorted(ranked.get(int(pid), []))]
        for kind, address in (("sms", phone), ("webhook", webhook), ("email", email)):
            if address and kind in real and (kind, address) not in pairs:
                pairs.append((kind, address))
        out[int(pid)] = pairs
    return out


def reserve(db: Database, now: datetime, wants: Sequence[tuple[int, int]]) -> list[str]:
    """Book the next moment each ``(person id, interval s)`` may be sent something.

    Returns the slots in the order asked; a person asked for twice gets two slots an interval
    apart, so two mobilizations falling due together never send them two messages at once.
    """
    ids = json.dumps(sorted({pid for pid, _interval in wants}))
    last = {
        int(pid): from_iso(at)
        for pid, at in db.conn.execute(
            "SELECT person_id, last_at FROM person_sends WHERE person_id IN"
            " (SELECT value FROM json_each(?))",
            (ids,),
        )
    }
    out: list[str] = []
    booked: dict[int, str] = {}
    at_now = to_iso(now)
    for pid, interval_s in wants:
        previous = last.get(pid)
        gap = timedelta(seconds=interval_s)
        if previous is None or previous + gap <= now:
            slot, iso = now, at_now
        else:
            slot = previous + gap
            iso = to_iso(slot)
        last[pid] = slot
        booked[pid] = iso
        out.append(iso)
    db.conn.executemany(
        "INSERT INTO person_sends (person_id, last_at) VALUES (?, ?) ON CONFLICT(person_id)"
        " DO UPDATE SET last_at = excluded.last_at",
        list(booked.items()),
    )
    return out


def enqueue(
    db: Database,
    now: datetime,
    mob: Mobilization,
    recipient_id: int,
    person_id: int,
    kind: AttemptKind,
    text: str,
) -> None:
    """A follow-up message (stand down, cancel, notice) to one person, throttled."""
    not_before = reserve(db, now, [(person_id, mob.interval_s)])[0]
    db.conn.execute(
        "INSERT INTO attempts (id, recipient_id, kind, round, text, state, created_at,"
        " not_before) VALUES (?,?,?,0,?,'pending',?,?)",
        (uuid.uuid4().hex, recipient_id, kind, text, to_iso(now), not_before),
    )


# ------------------------------------------------------------------------------- the texts sent


def notice_text(label: str) -> str:
    """The notice sent to a parent node's people when a node below is unreachable.

    Sent to people, not shown to the operator: both languages in one text, whatever the
    language of the program (the recipient's is not known).
    """
    return (
        f"{label} 无人应答，已直接通知其下级。"
        f" {label} did not answer; the people below were notified directly."
    )


def notify_text(mob: Mobilization, code: str, url: str) -> str:
    """The call-out: the message, how to answer by SMS, and the signed link."""
    drill = "【演练 EXERCISE】" if mob.exercise else ""
    return (
        f"{drill}{mob.message} 回复“{code} 1”到岗，“{code} 2”不能到。"
        f" Reply {code} 1 = coming, {code} 2 = can't. {url}"
    )


def followup_text(mob: Mobilization, kind: AttemptKind) -> str:
    """The cancel or stand-down message to someone already called."""
    drill = "【演练 EXERCISE】" if mob.exercise else ""
    if kind == AttemptKind.CANCEL:
        return f"{drill}动员已取消。Mobilization cancelled. ({mob.message[:40]})"
    return (
        f"{drill}已有足够人员响应，您可以不必前往。Enough people have answered; you can"
        f" stand down. ({mob.message[:40]})"
    )


# ------------------------------------------------------------------------------- claims


class _Claim(NamedTuple):
    """A pending attempt as :func:`claim_pending` reads it."""

    id: str
    recipient_id: int
    kind: str
    channel: str | None
    address: str | None
    text: str | None
    person_id: int
    ack_code: str
    name: str
    mobilization_id: int
    exercise: int
    expires_at: str


def claim_pending(
    db: Database,
    clock: Clock,
    routing: Routing,
    *,
    limit: int = 1000,
    claimer: str = "engine",
) -> tuple[list[Outgoing], list[Delivery]]:
    """Claim pending attempts that may go now, as messages, for ``claimer`` to send.

    Claimed attempts are marked with ``claimer`` in the same transaction, so the next claim
    skips them without reading them; they stay ``pending`` (their outcome unknown) until
    :func:`record_deliveries`. An attempt's channel, address and text are fixed the first time
    it is claimed, so a re-send after a crash (:func:`release_claims`, then a new claim) is the
    same message with the same id. Attempts for people with no configured channel come back as
    failed deliveries (second list) for :func:`record_deliveries`.
    """
    now = clock.now()
    with write(db):
        rows = [
            _Claim._make(row)
            for row in db.conn.execute(
                "SELECT a.id, a.recipient_id, a.kind, a.channel, a.address, a.text, r.person_id,"
                " r.ack_code, r.name, m.id, m.exercise, m.expires_at FROM attempts a"
                " JOIN recipients r ON r.id = a.recipient_id"
                " JOIN mobilizations m ON m.id = r.mobilization_id"
                " WHERE a.state = 'pending' AND a.claimed_by IS NULL AND a.not_before <= ?"
                " ORDER BY a.not_before LIMIT ?",
                (to_iso(now), limit),
            )
        ]
        if not rows:
            return [], []
        out, failed, fixed = _messages(db, rows, routing, now)
        # One write per attempt: the claim, and for a first claim the route and text it keeps.
        db.conn.executemany(
            "UPDATE attempts SET claimed_by = ?, channel = ?, address = ?, text = ? WHERE id = ?",
            [(claimer, *v, k) for k, v in fixed.items()],
        )
        db.conn.executemany(
            "UPDATE attempts SET claimed_by = ? WHERE id = ?",
            [(claimer, r.id) for r in rows if r.id not in fixed],
        )
        return out, failed


def release_claims(db: Database, claimer: str | None = None) -> int:
    """Make claimed, unrecorded attempts claimable again (all, or those of ``claimer``).

    An engine calls it when it starts (a claim left by a dead engine means "outcome unknown":
    send again, same id) and for chunks it gave up waiting for.
    """
    with write(db):
        if claimer is None:
            cur = db.conn.execute(
                "UPDATE attempts SET claimed_by = NULL"
                " WHERE state = 'pending' AND claimed_by IS NOT NULL"
            )
        else:
            cur = db.conn.execute(
                "UPDATE attempts SET claimed_by = NULL WHERE state = 'pending' AND claimed_by = ?",
                (claimer,),
            )
    return cur.rowcount


def release_attempts(db: Database, attempt_ids: Sequence[str]) -> None:
    """Make these claimed attempts claimable again (a sender gave up on them unfinished)."""
    with write(db):
        db.conn.executemany(
            "UPDATE attempts SET claimed_by = NULL WHERE id = ? AND state = 'pending'",
            [(a,) for a in attempt_ids],
        )


def _messages(
    db: Database, rows: Sequence[_Claim], routing: Routing, now: datetime
) -> tuple[list[Outgoing], list[Delivery], dict[str, tuple[str, str, str]]]:
    """The messages of claimed ``rows``, the deliveries that failed for want of a channel, and
    the (channel, address, text) fixed for attempts claimed for the first time.

    A call-out's link is the ack link, or the one ``routing.link_for`` gives; it ends the text
    (:func:`notify_text`), so a call-out claimed again reads it back from the text it keeps.
    """
    fresh = [r for r in rows if r.channel is None]
    fixed: dict[str, tuple[str, str, str]] = {}
    links: dict[str, str] = {}
    failed: list[Delivery] = []
    if fresh:
        reach = routes(db, [int(r.person_id) for r in fresh], routing.configured)
        tried = _tried(db, [r.id for r in fresh])
        mobs: dict[int, Mobilization] = {}
        for r in fresh:
            options = [x for x in reach[int(r.person_id)] if x not in tried.get(r.id, set())]
            if not options:
                failed.append(Delivery(r.id, False, NO_CHANNEL))
                continue
            channel, address = options[0]
            text = r.text or ""
            if r.kind == AttemptKind.NOTIFY:
                mob = mobs.get(int(r.mobilization_id)) or get_mobilization(db, r.mobilization_id)
                mobs[mob.id] = mob
                url = _link(db, routing, mob, int(r.recipient_id), now)
                links[r.id] = url
                text = notify_text(mob, r.ack_code, url)
            fixed[r.id] = (channel, address, text)
    failed_ids = {d.attempt_id for d in failed}
    out: list[Outgoing] = []
    for r in rows:
        if r.id in failed_ids:
            continue
        channel, address, text = fixed.get(r.id) or (r.channel or "", r.address or "", r.text or "")
        notify = r.kind == AttemptKind.NOTIFY
        url = (links.get(r.id) or _link_in(text)) if notify else ""
        out.append(
            Outgoing(
                attempt_id=r.id,
                recipient_id=int(r.recipient_id),
                channel=channel,
                address=address,
                text=text,
                kind=r.kind,
                ack_code=r.ack_code if notify else "",
                ack_url=url,
                exercise=bool(r.exercise),
                name=r.name,
            )
        )
    return out, failed, fixed


def _link(
    db: Database, routing: Routing, mob: Mobilization, recipient_id: int, now: datetime
) -> str:
    """A call-out's link: the hook's, else the recipient's signed ack link."""
    if routing.link_for is not None:
        link = routing.link_for(db, mob.id, recipient_id, now)
        if link:
            return link
    token = make_token(routing.keys.current, recipient_id, mob.expires_at)
    return f"{routing.base_url.rstrip('/')}/ack/{token}"


def _link_in(text: str) -> str:
    """The link a call-out's fixed text ends with (:func:`notify_text`), or ``""``."""
    last = text.rsplit(None, 1)[-1] if text.strip() else ""
    return last if last.startswith(("http://", "https://")) else ""


def _tried(db: Database, attempt_ids: Sequence[str]) -> dict[str, set[tuple[str, str]]]:
    """For each attempt, the routes already tried for the same recipient, kind and round."""
    out: dict[str, set[tuple[str, str]]] = {}
    for attempt_id, channel, address in db.conn.execute(
        "SELECT a.id, b.channel, b.address FROM attempts a JOIN attempts b ON"
        " b.recipient_id = a.recipient_id AND b.kind = a.kind AND b.round = a.round"
        " AND b.id != a.id AND b.state = 'failed' AND b.channel IS NOT NULL"
        " WHERE a.id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(attempt_ids)),),
    ):
        out.setdefault(attempt_id, set()).add((channel, address))
    return out


# ------------------------------------------------------------------------------- outcomes


class _Sent(NamedTuple):
    """An attempt whose outcome is being recorded, with its recipient and mobilization."""

    id: str
    recipient_id: int
    kind: str
    round: int
    state: str
    recipient_state: str
    timeout_s: int
    person_id: int
    mobilization_id: int
    mobilization_state: str
    interval_s: int


def record_deliveries(
    db: Database,
    clock: Clock,
    deliveries: Sequence[Delivery],
    routing: Routing,
    *,
    local_retry_s: float = LOCAL_RETRY_S,
) -> None:
    """Record what became of sent attempts, and move their recipients on.

    A delivered call-out makes its recipient ``sent`` and starts the node's timeout. A failed one
    is retried at once on the person's next configured channel; when every channel failed the
    round counts as made and is tried again after the timeout (at most a minute), so a gateway
    outage delays the call-out but never silently drops it.

    A ``local`` failure (this machine ran out of files, disk or memory) is nobody's answer: the
    attempt stays ``pending``, unclaimed, with the error noted, and goes again, same route and
    id, after ``local_retry_s``; its route is not counted as tried and its recipient is not
    touched. A message the sender never tried (``NOT_SENT``: the engine was stopping) goes
    again at once.
    """
    if not deliveries:
        return
    held = [d for d in deliveries if d.local and not d.ok]
    if held:
        deliveries = [d for d in deliveries if not (d.local and not d.ok)]
    now = clock.now()
    at = to_iso(now)
    with write(db):
        info = _sent_rows(db, deliveries)
        if held:
            later = to_iso(now + timedelta(seconds=local_retry_s))
            db.conn.executemany(
                "UPDATE attempts SET claimed_by = NULL, not_before = ?, error = ?"
                " WHERE id = ? AND state = 'pending'",
                [
                    (at, None, d.attempt_id)
                    if d.error == NOT_SENT
                    else (later, d.error, d.attempt_id)
                    for d in held
                ],
            )
        ok = [d for d in deliveries if d.ok and d.attempt_id in info]
        bad = [d for d in deliveries if not d.ok and d.attempt_id in info]
        db.conn.executemany(
            "UPDATE attempts SET state = 'sent', done_at = ?, error = NULL WHERE id = ?",
            [(at, d.attempt_id) for d in ok],
        )
        db.conn.executemany(
            "UPDATE attempts SET state = 'failed', done_at = ?, error = ? WHERE id = ?"
            " AND state IN ('pending', 'withdrawn')",
            [(at, (d.error or "failed")[:300], d.attempt_id) for d in bad],
        )
        delivered = []
        followups: list[_Sent] = []
        due: dict[int, str] = {}  # timeout -> when it runs out, formatted once
        for d in ok:
            row = info[d.attempt_id]
            if row.kind != AttemptKind.NOTIFY:
                continue
            if row.recipient_state in (RecipientState.STOOD_DOWN, RecipientState.CANCELLED):
                # Closed while the call-out was in flight: tell them, now that they have it.
                followups.append(row)
            timeout = int(row.timeout_s)
            if timeout not in due:
                due[timeout] = to_iso(now + timedelta(seconds=timeout))
            delivered.append((at, at, due[timeout], int(row.recipient_id)))
        db.conn.executemany(
            "UPDATE recipients SET sends = sends + 1,"
            " state = CASE WHEN state = 'queued' THEN 'sent' ELSE state END,"
            " first_sent_at = coalesce(first_sent_at, ?), last_sent_at = ?, error = NULL,"
            " due_at = CASE WHEN state IN ('queued', 'sent') THEN ? ELSE NULL END"
            " WHERE id = ?",
            delivered,
        )
        for d in bad:
            row = info[d.attempt_id]
            if row.kind == AttemptKind.NOTIFY and row.state == AttemptState.PENDING:
                _failed_notify(db, now, row, d.error or "failed", routing)
        for row in followups:
            mob = get_mobilization(db, row.mobilization_id)
            kind = (
                AttemptKind.CANCEL
                if row.recipient_state == RecipientState.CANCELLED
                else AttemptKind.STAND_DOWN
            )
            enqueue(db, now, mob, row.recipient_id, row.person_id, kind, followup_text(mob, kind))


def _sent_rows(db: Database, deliveries: Sequence[Delivery]) -> dict[str, _Sent]:
    """The attempts of ``deliveries`` with their recipient and mobilization, by attempt id."""
    if not deliveries:
        return {}
    return {
        row.id: row
        for row in map(
            _Sent._make,
            db.conn.execute(
                "SELECT a.id, a.recipient_id, a.kind, a.round, a.state, r.state, r.timeout_s,"
                " r.person_id, r.mobilization_id, m.state, m.interval_s FROM attempts a"
                " JOIN recipients r ON r.id = a.recipient_id"
                " JOIN mobilizations m ON m.id = r.mobilization_id"
                " WHERE a.id IN (SELECT value FROM json_each(?))",
                (json.dumps([d.attempt_id for d in deliveries]),),
            ),
        )
    }


def _failed_notify(db: Database, now: datetime, row: _Sent, error: str, routing: Routing) -> None:
    db.conn.execute("UPDATE recipients SET error = ? WHERE id = ?", (error[:300], row.recipient_id))
    if row.recipient_state not in OPEN:
        return
    if _untried_route(db, row.id, int(row.person_id), routing):
        db.conn.execute(
            "INSERT INTO attempts (id, recipient_id, kind, round, state, created_at, not_before)"
            " VALUES (?, ?, 'notify', ?, 'pending', ?, ?)",
            (uuid.uuid4().hex, row.recipient_id, row.round, to_iso(now), to_iso(now)),
        )
        return
    retry = min(int(row.timeout_s), FAILED_ROUND_RETRY_S)
    db.conn.execute(
        "UPDATE recipients SET sends = sends + 1, due_at = ? WHERE id = ?",
        (to_iso(now + timedelta(seconds=retry)), row.recipient_id),
    )


def _untried_route(db: Database, attempt_id: str, person_id: int, routing: Routing) -> bool:
    """Whether a configured channel of the person is left to try in this attempt's round."""
    tried = {
        (c, a)
        for c, a in db.conn.execute(
            "SELECT b.channel, b.address FROM attempts a JOIN attempts b ON"
            " b.recipient_id = a.recipient_id AND b.kind = a.kind AND b.round = a.round"
            " WHERE a.id = ? AND b.channel IS NOT NULL",
            (attempt_id,),
        )
    }
    return any(r not in tried for r in routes(db, [person_id], routing.configured)[person_id])


def next_due(db: Database) -> datetime | None:
    """The earliest moment the engine has something to do, or ``None`` when idle."""
    row: Any = db.conn.execute(
        "SELECT min(x) FROM (SELECT min(due_at) AS x FROM recipients WHERE due_at IS NOT NULL"
        " UNION ALL SELECT min(not_before) FROM attempts WHERE state = 'pending')"
    ).fetchone()
    return from_iso(row[0]) if row and row[0] else None
