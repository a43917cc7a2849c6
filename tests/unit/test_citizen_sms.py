"""Citizens' SMS to the office become reported cases (incidents.citizen): grouping, the daily cap,
the queued acknowledgement and its sending (console.engine.send_citizen_replies)."""

from __future__ import annotations

import asyncio
import json

import pytest

from console.engine import send_citizen_replies
from incidents.citizen import (
    Outcome,
    due_replies,
    message_summary,
    receive_sms,
    record_replies,
    title_of,
)
from incidents.limits import Policy
from incidents.models import InboundRules, Source, Stage
from incidents.records import get_incident, timeline
from mobilization import Delivery, Outgoing
from store.clock import FixedClock
from store.db import Database
from store.errors import InvalidInput

PHONE = "+8613800138000"
OTHER = "+8613900139000"
RULES = InboundRules(group_minutes=30, max_cases_per_day=2)


def receive(db: Database, clock: FixedClock, policy: Policy, text: str, phone: str = PHONE):  # type: ignore[no-untyped-def]
    return receive_sms(db, clock, policy, RULES, phone, text)


def events(db: Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_a_message_becomes_a_reported_case_with_the_number_protected(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    receipt = receive(db, clock, policy, "后山有落石，路被堵了。请派人来看看")
    assert receipt.outcome is Outcome.NEW and receipt.messages == 1
    case = get_incident(db, receipt.incident_id)
    assert case.number == receipt.number
    assert case.source is Source.SMS and case.stage is Stage.REPORTED
    assert case.title == "后山有落石"
    assert case.description == "后山有落石，路被堵了。请派人来看看"
    assert case.reporter_phone == PHONE  # in full, in the protected field only
    entries = timeline(db, case.id)
    assert [e.kind for e in entries] == ["reported", "sms_reply"]
    raw = db.conn.execute("SELECT data FROM events WHERE incident_id = ?", (case.id,)).fetchall()
    assert all("13800138000" not in r[0] for r in raw)  # the permanent log keeps it masked
    reply = entries[1].data
    assert reply["to"] == "138****8000"
    assert reply["text"].startswith("已收到，事件编号 " + case.number)


def test_the_title_is_the_first_words_and_long_ones_are_cut() -> None:
    assert title_of("  路灯坏了  好几天了 ") == "路灯坏了 好几天了"
    long = title_of("一" * 40)
    assert len(long) == 24 and long.endswith("…")


def test_messages_within_the_window_join_the_case_without_a_reply(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    first = receive(db, clock, policy, "小区门口污水外溢")
    clock.advance(minutes=20)
    second = receive(db, clock, policy, "现在更严重了")
    clock.advance(minutes=25)  # within 30 minutes of the previous message: the window slides
    third = receive(db, clock, policy, "有人滑倒了")
    assert second.outcome is third.outcome is Outcome.GROUPED
    assert first.incident_id == second.incident_id == third.incident_id
    assert third.messages == 3 and second.reply_entry is None
    kinds = [e.kind for e in timeline(db, first.incident_id)]
    assert kinds.count("sms_message") == 2 and kinds.count("sms_reply") == 1
    assert message_summary(db, first.incident_id) == "3 messages from 138****8000"
    # another number is another case
    assert receive(db, clock, policy, "我家楼下也有", OTHER).incident_id != first.incident_id


def test_after_the_window_a_new_case_and_a_voided_case_is_not_reused(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    first = receive(db, clock, policy, "桥面有裂缝")
    clock.advance(minutes=31)
    second = receive(db, clock, policy, "河边护栏断了")
    assert second.outcome is Outcome.NEW and second.incident_id != first.incident_id
    db.conn.execute("UPDATE incidents SET active = 0 WHERE id = ?", (second.incident_id,))
    clock.advance(minutes=1)
    third = receive(db, clock, policy, "又看到一处", OTHER)
    assert third.outcome is Outcome.NEW


def test_over_the_daily_cap_messages_become_notes_and_nothing_is_sent(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    first = receive(db, clock, policy, "第一件事")
    clock.advance(minutes=40)
    second = receive(db, clock, policy, "第二件事")
    clock.advance(minutes=40)
    third = receive(db, clock, policy, "第三件事")  # the cap is 2 a day
    assert third.outcome is Outcome.THROTTLED and third.incident_id == second.incident_id
    assert third.reply_entry is None
    cases = db.conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
    assert cases == 2
    assert len(due_replies(db)) == 2  # the two new cases' acknowledgements, not the third
    note = [e for e in timeline(db, second.incident_id) if e.kind == "sms_message"][0]
    assert note.data["throttled"] is True and note.data["text"] == "第三件事"
    assert first.incident_id != second.incident_id
    # the next (local) day the number may report again
    clock.advance(hours=24)
    assert receive(db, clock, policy, "第二天的事").outcome is Outcome.NEW


def test_replies_are_due_until_recorded_and_the_cursor_moves_on(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = receive(db, clock, policy, "甲处冒烟")
    b = receive(db, clock, policy, "乙处积水", OTHER)
    due = due_replies(db)
    assert [(r.incident_id, r.to) for r in due] == [(a.incident_id, PHONE), (b.incident_id, OTHER)]
    assert due[0].key == f"sms-reply-{a.reply_entry}"
    assert due_replies(db) == due  # reading changes nothing
    record_replies(db, clock, [(due[0], True, None)])
    assert [r.incident_id for r in due_replies(db)] == [b.incident_id]
    record_replies(db, clock, [(due[1], False, "gateway: 400: bad number")])
    assert due_replies(db) == []
    cursor = db.conn.execute(
        "SELECT value FROM meta WHERE key = 'inbound-sms-reply-cursor'"
    ).fetchone()[0]
    assert int(cursor) == events(db)  # nothing left to re-read
    failed = [e for e in timeline(db, b.incident_id) if e.kind == "sms_reply_failed"]
    assert failed and failed[0].data["error"] == "gateway: 400: bad number"


class FakeSms:
    """A sender that takes the first message and fails the second here (a local fault)."""

    name = "sms"
    concurrency = 1

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, messages, report=None, halt=None):  # type: ignore[no-untyped-def]
        self.sent.extend(messages)
        return [
            Delivery(m.attempt_id, ok=i == 0, error=None if i == 0 else "EMFILE", local=i > 0)
            for i, m in enumerate(messages)
        ]

    async def aclose(self) -> None:
        return None


def test_the_engine_sends_replies_through_the_sms_channel_once(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = receive(db, clock, policy, "甲处冒烟")
    b = receive(db, clock, policy, "乙处积水", OTHER)
    sender = FakeSms()
    assert asyncio.run(send_citizen_replies(db, clock, sender)) == 1
    assert [(m.address, m.attempt_id) for m in sender.sent] == [
        (PHONE, f"sms-reply-{a.reply_entry}"),
        (OTHER, f"sms-reply-{b.reply_entry}"),
    ]
    assert sender.sent[0].text.startswith("已收到，事件编号 " + a.number)
    # the local fault stays due; the sent one does not go again
    assert [r.incident_id for r in due_replies(db)] == [b.incident_id]
    sent = [e for e in timeline(db, a.incident_id) if e.kind == "sms_reply_sent"]
    assert json.dumps(sent[0].data).count("138****8000") == 1


def test_a_bad_text_is_refused_and_changes_nothing(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    before = events(db)
    for text in ("   ", "bad\x00text"):
        with pytest.raises(InvalidInput) as refused:
            receive(db, clock, policy, text)
        assert refused.value.field == "text"
    assert events(db) == before
