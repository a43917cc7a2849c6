"""The outbox for warnings and directives: receipts and replies go up on their own subjects, and
a 叫应's mobilization events name the alert and say how fast its people answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlite_utils import Database

from mobilization import recipient_rows, record_answer
from store.clock import FixedClock, to_iso
from store.db import write
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import drive, start
from uplink import alerts, directives
from uplink.alerts import AlertSpec
from uplink.models import Kind, UplinkEvent, alert_subject, directive_subject
from uplink.outbox import Projection, project, rebase, sendable

UNIT = "330106001"
OPTIONS = Projection(UNIT)


def county_alert(db: Database, clock: FixedClock) -> bytes:
    """The XML of an orange warning issued by the county (not held by this unit)."""
    spec = AlertSpec(
        event="暴雨",
        severity="Severe",
        urgency="Expected",
        certainty="Likely",
        headline="暴雨橙色预警",
        instruction="请立即叫应各村社区责任人。",
        area_codes=("330106001",),
        expires=clock.now() + timedelta(hours=6),
    )
    xml = alerts.issue(db, clock, "county", spec, sender_code="330100").xml
    db.conn.execute("DELETE FROM alerts")
    db.conn.execute("DELETE FROM counters WHERE name LIKE 'alert-%'")
    return xml


def events(db: Database, kind: Kind) -> list[UplinkEvent]:
    return [e.event for e in sendable(db, UNIT, 10_000) if e.kind is kind]


def test_a_received_alert_goes_up_as_its_receipt_with_the_call_decision(
    db: Database, clock: FixedClock
) -> None:
    xml = county_alert(db, clock)
    project(db, OPTIONS, clock.now())
    assert events(db, Kind.ALERT_RECEIVED) == []  # issued (then forgotten) here: stays local
    with write(db):
        got = alerts.receive(db, clock, xml, via="push")
        alerts.set_call(db, got.record.id, "skipped", "nobody", clock.now())
    alerts.receive(db, clock, xml, via="poll")  # a second delivery: no second receipt
    project(db, OPTIONS, clock.now())
    [event] = events(db, Kind.ALERT_RECEIVED)
    identifier = got.record.identifier
    assert event.subject == alert_subject(identifier) == f"alert:{identifier}"
    assert event.seq == 1
    payload = event.payload
    assert payload["alert"] == identifier
    assert payload["received_at"] == to_iso(clock.now())
    assert payload["via"] == "push"
    assert payload["colour"] == "orange"
    assert payload["exercise"] is False
    assert payload["msg_type"] == "Alert"
    assert payload["expires"] == to_iso(clock.now() + timedelta(hours=6))
    assert payload["call"] == {
        "state": "skipped",
        "reason": "nobody",
        "at": to_iso(clock.now()),
        "mobilization": None,
        "started_at": None,
        "auto": None,
    }
    # The event travels: its subject passes the protocol's check.
    assert UplinkEvent.from_json(event.to_json()) == event


def test_a_call_answer_mobilization_names_its_alert_and_how_fast_it_was_answered(
    town_tree: Database, clock: FixedClock
) -> None:
    db = town_tree
    xml = county_alert(db, clock)
    plain = start(db, clock, "grid:G01")
    with write(db):
        got = alerts.receive(db, clock, xml, via="poll").record
        call = start(db, clock, "grid:G01")
        db.conn.execute(
            "INSERT INTO call_answers (mobilization_id, alert_id, started_at, started_by, auto)"
            " VALUES (?, ?, ?, 'engine', 1)",
            (call, got.id, to_iso(clock.now())),
        )
        alerts.set_call(db, got.id, "started", "started", clock.now())
    drive(db, clock)
    clock.advance(seconds=90)
    code = next(r["code"] for r in recipient_rows(db, call) if r["code"])
    record_answer(db, clock, OPERATOR, yes=True, via="officer", code=code)
    project(db, OPTIONS, clock.now())
    started = {e.payload["mobilization"]: e.payload for e in events(db, Kind.MOBILIZATION_STARTED)}
    assert "alert" not in started[plain] and "answers" not in started[plain]
    assert started[call]["alert"] == got.identifier
    [receipt] = events(db, Kind.ALERT_RECEIVED)
    assert receipt.payload["call"]["state"] == "started"
    assert receipt.payload["call"]["mobilization"] == call
    assert receipt.payload["call"]["auto"] is True
    clock.advance(seconds=31)
    project(db, OPTIONS, clock.now())
    [summary] = [
        e.payload
        for e in events(db, Kind.MOBILIZATION_SUMMARY)
        if e.payload["mobilization"] == call
    ]
    assert summary["alert"] == got.identifier
    answers: dict[str, Any] = summary["answers"]
    assert answers["first_at"] == to_iso(clock.now() - timedelta(seconds=31))
    assert answers["median_s"] == 90.0
    silent = recipient_rows(db, call)
    assert len(answers["silent"]) + answers["silent_more"] == sum(
        1 for r in silent if r["state"].value in ("sent", "no_answer", "escalated")
    )
    assert all(set(p) == {"name", "since"} for p in answers["silent"])  # names, no numbers


def test_directive_receipt_and_reply_go_up_and_overdue_stays_local(
    db: Database, clock: FixedClock
) -> None:
    data = {
        "id": "330100-20261126020000-1",
        "sender": "330100",
        "title": "关于做好强降雨防范工作的通知",
        "text": "请 1 小时内反馈排查情况。",
        "reply_by": to_iso(clock.now() + timedelta(hours=1)),
        "action": "none",
    }
    directives.receive(db, clock, data, via="push")
    clock.advance(hours=2)
    directives.sweep_overdue(db, clock)
    directives.reply(db, clock, OPERATOR, data["id"], "已排查完毕。")
    project(db, OPTIONS, clock.now())
    subject = directive_subject(data["id"])
    kinds = [(e.event.seq, e.event.kind) for e in sendable(db, UNIT, 100) if e.subject == subject]
    assert kinds == [(1, Kind.DIRECTIVE_RECEIVED), (2, Kind.DIRECTIVE_REPLIED)]
    [received] = events(db, Kind.DIRECTIVE_RECEIVED)
    assert received.payload["directive"] == data["id"]
    assert received.payload["via"] == "push"
    assert received.payload["received_at"] == to_iso(clock.now() - timedelta(hours=2))
    assert received.payload["case"] is None
    [replied] = events(db, Kind.DIRECTIVE_REPLIED)
    assert replied.payload == {
        "directive": data["id"],
        "reply": "已排查完毕。",
        "replied_by": OPERATOR,
        "replied_at": to_iso(clock.now()),
        "reply_by": data["reply_by"],
        "late": True,
    }
    assert UplinkEvent.from_json(replied.to_json()) == replied


def test_a_resync_of_an_alert_or_directive_carries_its_current_state(
    db: Database, clock: FixedClock
) -> None:
    xml = county_alert(db, clock)
    identifier = alerts.receive(db, clock, xml, via="push").record.identifier
    directives.receive(db, clock, {"id": "D-1", "sender": "330100", "title": "通知"}, via="poll")
    directives.reply(db, clock, OPERATOR, "D-1", "收到")
    project(db, OPTIONS, clock.now())
    with write(db):
        rebase(db, alert_subject(identifier), 3, set(), clock.now(), OPTIONS)
        rebase(db, directive_subject("D-1"), 5, set(), clock.now(), OPTIONS)
    resyncs = {e.subject: e.payload for e in events(db, Kind.RESYNC)}
    assert resyncs[alert_subject(identifier)]["alert"]["alert"] == identifier
    assert resyncs[directive_subject("D-1")]["directive"]["reply"] == "收到"
