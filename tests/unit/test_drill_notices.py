"""Drill notices: one per person on their first channel, each queued once, claimed and recorded
as the engine does with the senders' outcomes, and the reminder's bilingual text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

from contacts.people import NewPerson, add_person, deactivate_person, set_channels
from drills.models import DrillKind, NoticeKind, NoticeState, Plan
from drills.notices import (
    MAX_TRIES,
    claim,
    first_channel,
    list_notices,
    next_due,
    queue,
    queue_reminder,
    record,
    release_claims,
    reminder_people,
    reminder_text,
)
from drills.plans import add_plan
from mobilization import Delivery
from store.clock import FixedClock
from tests.support.domain import OPERATOR
from tests.support.town import COM, e164

SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_plan(db: Database, clock: FixedClock, *, announced: bool = True) -> Plan:
    return add_plan(
        db,
        clock,
        OPERATOR,
        code="CT",
        name="网格通信联络演练",
        kind="tabletop",
        organizer="A",
        evaluators=["SEC"],
        participants=["L1", "M1"],
        announced=announced,
    )


def states(db: Database) -> dict[str, tuple[str, int]]:
    """Each notice's id and (state, tries)."""
    return {n.id: (n.state.value, n.tries) for n in list_notices(db)}


def test_one_notice_per_person_on_their_first_channel_queued_once(
    town: Database, clock: FixedClock
) -> None:
    # L1 prefers a robot webhook to SMS, but only the SMS is verified: verified goes first.
    set_channels(
        town,
        clock,
        OPERATOR,
        "L1",
        [("webhook", "https://robot.example/hook/abc", False), ("sms", e164("L1"), True)],
    )
    set_channels(town, clock, OPERATOR, "M1", [("email", "m1@example.com", False)])
    args = {"kind": NoticeKind.INJECT, "text": "河道水位超警戒", "key": "inject:1:0"}
    assert queue(town, clock, people=["L1", "M1", "L1"], run_id=1, **args) == 2  # type: ignore[arg-type]
    assert queue(town, clock, people=["L1", "M1"], run_id=1, **args) == 0  # type: ignore[arg-type]
    notices = sorted(list_notices(town), key=lambda n: n.name)
    assert [(n.name, n.channel, n.address) for n in notices] == [
        ("L1", "sms", e164("L1")),
        ("M1", "email", "m1@example.com"),
    ]
    ids = {n.name: n.person_id for n in notices}
    assert {n.id for n in notices} == {f"inject:1:0:{ids['L1']}", f"inject:1:0:{ids['M1']}"}
    assert all(n.state is NoticeState.PENDING and n.run_id == 1 for n in notices)


def test_people_who_cannot_be_told_are_recorded_failed_with_the_reason(
    town: Database, clock: FixedClock
) -> None:
    add_person(town, clock, OPERATOR, NewPerson(name="无电话", unit=COM), key="NOPHONE")
    deactivate_person(town, clock, OPERATOR, "M2", "调离")
    queued = queue(
        town,
        clock,
        kind=NoticeKind.STOPPED,
        people=["NOPHONE", "M2", "GHOST", "SEC"],
        text="演练终止",
        key="stop:1",
    )
    assert queued == 1
    by_name = {n.name: n for n in list_notices(town)}
    assert by_name["SEC"].state is NoticeState.PENDING
    assert (by_name["无电话"].state, by_name["无电话"].error) == (
        NoticeState.FAILED,
        "the person has no channel",
    )
    assert by_name["M2"].error == "the person is inactive"
    assert by_name["GHOST"].error == "no such person" and by_name["GHOST"].person_id is None
    assert [m.address for m in claim(town, clock, limit=10, holder="e1")] == [e164("SEC")]


def test_first_channel_falls_back_to_the_record_when_no_channel_is_listed(
    town: Database, clock: FixedClock
) -> None:
    person = add_person(
        town, clock, OPERATOR, NewPerson(name="赵六", unit=COM, email="z6@example.com"), key="Z6"
    )
    assert first_channel(person) == ("email", "z6@example.com")
    assert first_channel(replace(person, channels=())) == ("email", "z6@example.com")
    assert first_channel(replace(person, channels=(), email=None)) is None


def test_claim_hands_due_notices_over_once_as_exercise_messages(
    town: Database, clock: FixedClock
) -> None:
    queue(town, clock, kind=NoticeKind.INJECT, people=["L1"], text="now", key="k:now")
    later = clock.now() + timedelta(minutes=10)
    queue(town, clock, kind=NoticeKind.INJECT, people=["L1"], text="l", key="k:l", due_at=later)
    assert next_due(town) == clock.now()
    (message,) = claim(town, clock, limit=10, holder="e1")
    assert message.attempt_id.startswith("k:now:") and message.recipient_id == 0
    assert (message.channel, message.address, message.kind) == ("sms", e164("L1"), "notice")
    assert message.exercise is True and message.name == "L1" and message.text == "now"
    assert claim(town, clock, limit=10, holder="e2") == []  # claimed, not handed out twice
    assert next_due(town) == later
    clock.advance(minutes=10)
    assert [m.text for m in claim(town, clock, limit=10, holder="e1")] == ["l"]
    assert next_due(town) is None


def test_a_dead_engines_claims_go_again_with_the_same_id(town: Database, clock: FixedClock) -> None:
    queue(town, clock, kind=NoticeKind.REMINDER, people=["A", "SEC"], text="t", key="r")
    first = claim(town, clock, limit=10, holder="dead")
    assert release_claims(town) == 2
    again = claim(town, clock, limit=10, holder="e2")
    assert [m.attempt_id for m in again] == [m.attempt_id for m in first]


def test_record_sends_retries_and_fails(town: Database, clock: FixedClock) -> None:
    queue(town, clock, kind=NoticeKind.REMINDER, people=["A", "SEC", "L1"], text="t", key="r")
    out = {m.name: m.attempt_id for m in claim(town, clock, limit=10, holder="e1")}
    record(
        town,
        clock,
        [
            Delivery(out["A"], True),
            Delivery(out["SEC"], False, "EMFILE", local=True),
            Delivery(out["L1"], False, "HTTP 400 bad number"),
            Delivery("someone-else's-attempt", True),
        ],
    )
    assert states(town) == {
        out["A"]: ("sent", 1),
        out["SEC"]: ("pending", 0),  # this machine's fault: not a try
        out["L1"]: ("pending", 1),  # refused: tried again after a pause
    }
    sent = next(n for n in list_notices(town) if n.name == "A")
    assert sent.sent_at == clock.now() and sent.error is None
    assert claim(town, clock, limit=10, holder="e1") == []  # both wait
    clock.advance(seconds=5)
    assert [m.name for m in claim(town, clock, limit=10, holder="e1")] == ["SEC"]
    for tries in range(2, MAX_TRIES + 1):
        clock.advance(minutes=tries)
        (again,) = [m for m in claim(town, clock, limit=10, holder="e1") if m.name == "L1"]
        record(town, clock, [Delivery(again.attempt_id, False, "HTTP 400 bad number")])
    failed = next(n for n in list_notices(town) if n.name == "L1")
    assert (failed.state, failed.tries, failed.error) == (
        NoticeState.FAILED,
        MAX_TRIES,
        "HTTP 400 bad number",
    )
    clock.advance(hours=1)
    assert claim(town, clock, limit=10, holder="e1") == []  # L1 failed, SEC is out, A sent


def test_list_notices_filters(town: Database, clock: FixedClock) -> None:
    queue(town, clock, kind=NoticeKind.INJECT, people=["L1"], text="i", key="i", run_id=7)
    queue(town, clock, kind=NoticeKind.REMINDER, people=["A"], text="r", key="r", schedule_id=3)
    assert [n.text for n in list_notices(town, run_id=7)] == ["i"]
    assert [n.text for n in list_notices(town, schedule_id=3)] == ["r"]
    assert [n.text for n in list_notices(town, kind=NoticeKind.REMINDER)] == ["r"]
    assert len(list_notices(town, limit=1)) == 1
    assert list_notices(town, run_id=8) == []


def test_reminders_spare_the_participants_of_an_unannounced_drill(
    town: Database, clock: FixedClock
) -> None:
    announced = make_plan(town, clock)
    assert reminder_people(announced) == ["A", "SEC", "L1", "M1"]
    secret = replace(announced, announced=False)
    assert reminder_people(secret) == ["A", "SEC"]
    at = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    assert queue_reminder(town, clock, secret, 5, at, 60, 0, "Asia/Shanghai") == 2
    assert queue_reminder(town, clock, secret, 5, at, 60, 0, "Asia/Shanghai") == 0
    notices = list_notices(town, schedule_id=5)
    assert {n.id.rsplit(":", 1)[0] for n in notices} == {"remind:5:2026-12-02T01:00:00Z:60"}
    assert all("2026-12-02 09:00" in n.text for n in notices)  # the drill's local time


def test_the_reminder_text_in_both_languages(town: Database, clock: FixedClock) -> None:
    plan = make_plan(town, clock)
    at = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    text = reminder_text(plan, at, 24 * 60, 0)
    assert text.startswith("【演练提醒 DRILL REMINDER】网格通信联络演练（桌面推演）")
    assert "2026-12-02 09:00 开始，还有1天。" in text
    assert "Drill 网格通信联络演练 (tabletop) starts at 2026-12-02 09:00, in 1 day." in text
    assert "late" not in text and "晚" not in text
    late = reminder_text(plan, at, 60, 10 * 60 + 30)
    assert "还有50分钟" in late and "in 50 min" in late
    assert "（提醒晚发10分钟）" in late and "late by 10 min" in late
    assert "in 7 days" in reminder_text(plan, at, 7 * 24 * 60, 59)  # under a minute: on time
    assert "in 1 h 30 min" in reminder_text(plan, at, 90, 0)
    secret = replace(plan, announced=False, kind=DrillKind.FULL_SCALE)
    hidden = reminder_text(secret, at, 60, 0)
    assert "不预先通知参演人员" in hidden and "Unannounced" in hidden and "full-scale" in hidden


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_the_reminder_text_does_not_depend_on_the_programs_language(
    town: Database, clock: FixedClock, language: str
) -> None:
    from store.i18n import set_language

    plan = make_plan(town, clock)
    set_language(language)
    text = reminder_text(plan, datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI), 60, 0)
    assert "(tabletop)" in text and "（桌面推演）" in text


def test_the_engine_moves_a_notice_to_a_channel_it_can_send_on(
    town: Database, clock: FixedClock
) -> None:
    hook = "https://robot.example/hook/abc"
    set_channels(town, clock, OPERATOR, "L1", [("webhook", hook, True), ("sms", e164("L1"), False)])
    set_channels(town, clock, OPERATOR, "M1", [("webhook", hook + "m1", True)])
    add_person(town, clock, OPERATOR, NewPerson(name="仅邮件", unit=COM, email="e@example.com"))
    people = ["L1", "M1", "仅邮件"]
    queue(town, clock, kind=NoticeKind.INJECT, people=people, text="t", key="k")
    assert {n.name: n.channel for n in list_notices(town)} == {
        "L1": "webhook",
        "M1": "webhook",
        "仅邮件": "email",
    }
    out = claim(town, clock, limit=10, holder="e1", configured=frozenset({"log", "sms"}))
    # L1's listed SMS goes instead of the robot; M1's phone on record is enough (as for a
    # call-out); the one with only an e-mail has nothing the engine can send on.
    assert [(m.name, m.channel, m.address) for m in out] == [
        ("L1", "sms", e164("L1")),
        ("M1", "sms", e164("M1")),
    ]
    by_name = {n.name: n for n in list_notices(town)}
    assert (by_name["L1"].channel, by_name["L1"].state) == ("sms", NoticeState.CLAIMED)
    assert by_name["仅邮件"].state is NoticeState.FAILED
    assert by_name["仅邮件"].error == "no configured channel reaches this person"
    release_claims(town)
    again = claim(town, clock, limit=10, holder="e2", configured=frozenset({"sms"}))
    assert [(m.channel, m.address) for m in again] == [(m.channel, m.address) for m in out]


def test_with_only_the_log_configured_every_notice_keeps_its_channel(
    town: Database, clock: FixedClock
) -> None:
    set_channels(town, clock, OPERATOR, "L1", [("webhook", "https://robot.example/h", True)])
    queue(town, clock, kind=NoticeKind.INJECT, people=["L1"], text="t", key="k")
    (message,) = claim(town, clock, limit=10, holder="e1", configured=frozenset({"log"}))
    assert message.channel == "webhook"  # the engine's log takes what it has no sender for
