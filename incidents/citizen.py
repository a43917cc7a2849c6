"""Provides cases reported by citizens over SMS: a text to the office's number becomes a case.

The gateway forwards every inbound SMS (``console.http.inbound``); one that is not an answer to a
call-out comes here. :func:`receive_sms` files it as a reported case (source ``sms``, the title
from its first words, the text as the description, the sender's full number in the case's
protected ``reporter_phone``, shown masked) and queues the acknowledgement "已收到，事件编号 …"
as a timeline entry (``sms_reply``) in the same transaction. The engine sends queued replies
through the SMS channel (:func:`due_replies`, then :func:`record_replies`), so a reply survives
a crash between the case and the send, and the gateway's idempotency key (``sms-reply-<entry
id>``) keeps a re-send from reaching the citizen twice.

Repeats and spam: messages from one number within ``group_minutes`` of its previous message
join that case as ``sms_message`` notes; beyond ``max_cases_per_day`` new cases from one number
in a (local) day, a message becomes a note on the number's latest case and nothing is sent back,
so nobody can make the office send SMS at will. What is kept per number (its latest case, when
it last wrote, its cases today) lives in ``meta`` under a hash of the number.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from incidents.limits import Policy
from incidents.models import SMS_REPLY_ZH, InboundRules, Source
from incidents.records import NewIncident, create_incident
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.i18n import ngettext
from store.masking import mask_phone
from store.text import clean_text

OPERATOR = "sms"
TITLE_CHARS = 24
STATE_KEY = "inbound-sms:"
REPLY_CURSOR = "inbound-sms-reply-cursor"
REPLY, REPLY_SENT, REPLY_FAILED = "sms_reply", "sms_reply_sent", "sms_reply_failed"
MESSAGE = "sms_message"
_FIRST_WORDS = re.compile(r"[。！？!?；;，,\n]")


class Outcome(StrEnum):
    NEW = "new"  # a new reported case, acknowledged
    GROUPED = "grouped"  # a note on the case the number opened within group_minutes
    THROTTLED = "throttled"  # over the daily cap: a note on the latest case, no reply


@dataclass(frozen=True)
class Receipt:
    """What became of one inbound SMS."""

    outcome: Outcome
    incident_id: int
    number: str
    messages: int  # messages from this number on that case, this one included
    reply_entry: int | None  # the queued acknowledgement's timeline entry (new cases only)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "case": self.number, "messages": self.messages}


@dataclass(frozen=True)
class PendingReply:
    """An acknowledgement to send: ``key`` is the gateway's idempotency key."""

    entry_id: int
    incident_id: int
    to: str  # the full number (from the case's protected field)
    text: str

    @property
    def key(self) -> str:
        return f"sms-reply-{self.entry_id}"


def title_of(text: str) -> str:
    """The first words of ``text``: up to the first sentence mark, at most TITLE_CHARS chars."""
    words = " ".join(text.split())
    first = _FIRST_WORDS.split(words, maxsplit=1)[0].strip() or words
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def _state_key(phone: str) -> str:
    return STATE_KEY + hashlib.sha256(phone.encode()).hexdigest()[:32]


def _read_state(db: Database, phone: str) -> dict[str, Any]:
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (_state_key(phone),)).fetchone()
    return dict(json.loads(row[0])) if row else {}


def _write_state(db: Database, phone: str, state: dict[str, Any]) -> None:
    db.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (_state_key(phone), json.dumps(state, sort_keys=True)),
    )


def _case(db: Database, incident_id: int) -> tuple[str, bool] | None:
    row = db.conn.execute(
        "SELECT number, active FROM incidents WHERE id = ?", (incident_id,)
    ).fetchone()
    return (str(row[0]), bool(row[1])) if row else None


def receive_sms(
    db: Database, clock: Clock, policy: Policy, rules: InboundRules, phone: str, text: str
) -> Receipt:
    """File one inbound SMS from ``phone`` (E.164, already normalised) as a case or a note.

    Raises:
        InvalidInput: the text is empty, too long or holds control characters (field ``text``).
    """
    body = clean_text(text, "text", kind="note", multiline=True, required=True)
    now = clock.now()
    at = to_iso(now)
    day = now.astimezone(policy.calendar.zone).date().isoformat()
    masked = mask_phone(phone)
    with write(db):
        state = _read_state(db, phone)
        latest = _case(db, int(state["case"])) if state.get("case") else None
        last = from_iso(state["last"]) if state.get("last") else None
        today = int(state.get("cases", 0)) if state.get("day") == day else 0
        recent = last is not None and now - last <= timedelta(minutes=rules.group_minutes)
        if latest is not None and ((recent and latest[1]) or today >= rules.max_cases_per_day):
            outcome = Outcome.GROUPED if recent and latest[1] else Outcome.THROTTLED
            incident_id, number = int(state["case"]), latest[0]
            messages = int(state.get("messages", 1)) + 1
            append_event(
                db,
                at=at,
                operator=OPERATOR,
                kind=MESSAGE,
                incident_id=incident_id,
                data={
                    "from": masked,
                    "text": body,
                    "messages": messages,
                    # over the daily cap: kept, not acknowledged
                    **({"throttled": True} if outcome is Outcome.THROTTLED else {}),
                },
            )
            reply_entry = None
        else:
            new = NewIncident(
                title=title_of(body),
                category=rules.category,
                type=rules.type,
                description=body,
                reporter_phone=phone,
                source=Source.SMS.value,
            )
            case = create_incident(db, clock, policy, OPERATOR, new)
            outcome, incident_id, number, messages = Outcome.NEW, case.id, case.number, 1
            today += 1
            reply_entry = append_event(
                db,
                at=at,
                operator=OPERATOR,
                kind=REPLY,
                incident_id=incident_id,
                data={"to": masked, "text": SMS_REPLY_ZH.format(number=number)},
            )
        _write_state(
            db,
            phone,
            {"case": incident_id, "last": at, "day": day, "cases": today, "messages": messages},
        )
    return Receipt(outcome, incident_id, number, messages, reply_entry)


def message_summary(db: Database, incident_id: int) -> str | None:
    """ "N messages from 138****0000" for a case reported by SMS, or ``None`` for other cases."""
    row = db.conn.execute(
        "SELECT reporter_phone, source FROM incidents WHERE id = ?", (incident_id,)
    ).fetchone()
    if row is None or row[1] != Source.SMS.value:
        return None
    (notes,) = db.conn.execute(
        "SELECT count(*) FROM events WHERE incident_id = ? AND kind = ?", (incident_id, MESSAGE)
    ).fetchone()
    count = int(notes) + 1
    return ngettext("{count} message from {phone}", "{count} messages from {phone}", count).format(
        count=count, phone=mask_phone(row[0])
    )


def _cursor(db: Database) -> int:
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (REPLY_CURSOR,)).fetchone()
    return int(row[0]) if row else 0


def due_replies(db: Database, *, limit: int = 100) -> list[PendingReply]:
    """The acknowledgements queued and not yet sent (or failed for good), oldest first.

    Moves the cursor past everything settled, so a sweep reads only the entries written since
    the oldest reply still waiting.
    """
    with write(db):
        cursor = _cursor(db)
        rows = db.conn.execute(
            "SELECT id, incident_id, kind, data FROM events WHERE id > ? AND kind IN (?, ?, ?)"
            " ORDER BY id",
            (cursor, REPLY, REPLY_SENT, REPLY_FAILED),
        ).fetchall()
        settled = {json.loads(r[3]).get("reply") for r in rows if r[2] != REPLY}
        waiting = [r for r in rows if r[2] == REPLY and r[0] not in settled]
        if waiting:
            moved = int(waiting[0][0]) - 1
        else:
            (top,) = db.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
            moved = int(top)
        if moved != cursor:
            db.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (REPLY_CURSOR, str(moved)),
            )
        out: list[PendingReply] = []
        for entry_id, incident_id, _kind, data in waiting[:limit]:
            phone = db.conn.execute(
                "SELECT reporter_phone FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            if phone is None or not phone[0]:
                continue
            text = str(json.loads(data)["text"])
            out.append(PendingReply(int(entry_id), int(incident_id), str(phone[0]), text))
    return out


def record_replies(
    db: Database, clock: Clock, outcomes: list[tuple[PendingReply, bool, str | None]]
) -> int:
    """Record what became of sent acknowledgements: ``(reply, ok, error)`` each.

    A reply the channel took gets ``sms_reply_sent``; one it refused for good gets
    ``sms_reply_failed`` with the reason. Leave out replies that must go again (a local fault,
    a timeout): they stay due. Returns the entries written.
    """
    if not outcomes:
        return 0
    at = to_iso(clock.now())
    with write(db):
        for reply, ok, error in outcomes:
            data: dict[str, Any] = {"reply": reply.entry_id, "to": mask_phone(reply.to)}
            if not ok:
                data["error"] = (error or "")[:200]
            append_event(
                db,
                at=at,
                operator="engine",
                kind=REPLY_SENT if ok else REPLY_FAILED,
                incident_id=reply.incident_id,
                data=data,
            )
    return len(outcomes)
