"""The hub's view of an alert sent down (:func:`uplink.hub.alert_view`): receipts (签收), the
叫应's start and figures from the units' mobilization events, flags after ``call_start``; and
directives' receipts and replies (:func:`uplink.hub.directive_view`). Events are crafted in
the protocol's shapes and ingested as a unit would send them; the clock is fixed."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from store.clock import FixedClock, to_iso
from store.errors import NotFound
from tests.support.domain import OPERATOR
from uplink import alerts, downlink, hub
from uplink.hub import AlertFlag
from uplink.models import Batch, Kind, Result, UplinkEvent

T1, T2, T3 = "330102001", "330102002", "330102003"
CALL_START = timedelta(minutes=15)


def send(db: Database, now: datetime, unit: str, *events: UplinkEvent) -> list[Result]:
    batch = Batch(unit, tuple(events))
    body = json.dumps(batch.to_json(), sort_keys=True).encode()
    results = hub.ingest(
        db, unit, batch, now, key=uuid.uuid4().hex, body_hash=hashlib.sha256(body).hexdigest()
    )
    return [r.result for r in results]


def received(
    unit: str, identifier: str, at: datetime, call: dict[str, Any] | None, seq: int = 1
) -> UplinkEvent:
    payload = {"alert": identifier, "received_at": to_iso(at), "via": "poll", "call": call}
    return UplinkEvent(
        uuid.uuid4().hex, unit, f"alert:{identifier}", seq, Kind.ALERT_RECEIVED, to_iso(at), payload
    )


def call_event(
    unit: str,
    identifier: str,
    ref: int,
    seq: int,
    started: datetime,
    at: datetime,
    *,
    state: str = "active",
    answers: dict[str, Any] | None = None,
    **counts: int,
) -> UplinkEvent:
    payload = {
        "mobilization": ref,
        "case": None,
        "state": state,
        "exercise": False,
        "created_at": to_iso(started),
        "counts": {"total": 0, "yes": 0, "no": 0, "silent": 0, "unreachable": 0, **counts},
        "alert": identifier,
        **({"answers": answers} if answers is not None else {}),
    }
    kind = Kind.MOBILIZATION_STARTED if seq == 1 else Kind.MOBILIZATION_SUMMARY
    return UplinkEvent(
        uuid.uuid4().hex, unit, f"mobilization:{ref}", seq, kind, to_iso(at), payload
    )


@pytest.fixture
def red(db: Database, clock: FixedClock) -> alerts.AlertRecord:
    """Three townships registered; a red 暴雨 warning over county 330102 issued and sent down."""
    for code, name in ((T1, "城关镇"), (T2, "东河乡"), (T3, "西山镇")):
        hub.add_unit(db, clock.now(), code, name, operator=OPERATOR)
    spec = alerts.AlertSpec(
        event="暴雨",
        severity="Extreme",
        urgency="Immediate",
        certainty="Likely",
        headline="城关县气象台发布暴雨红色预警",
        instruction="请立即组织人员转移",
        area_desc="城关县",
        area_codes=("330102",),
        expires=clock.now() + timedelta(hours=6),
    )
    record = alerts.issue(db, clock, OPERATOR, spec, sender_code="330102")
    assert downlink.fan_out_alert(db, clock.now(), record) == [T1, T2, T3]
    return record


def test_the_view_shows_each_units_receipt_call_and_answers(
    db: Database, clock: FixedClock, red: alerts.AlertRecord
) -> None:
    ident, t0 = red.identifier, clock.now()
    got = t0 + timedelta(seconds=40)
    started = got + timedelta(seconds=2)
    call = {"started": True, "reason": "started", "mobilization": 7}
    assert send(db, got, T1, received(T1, ident, got, call)) == [Result.ACCEPTED]
    first = started + timedelta(seconds=50)
    silent_since = started + timedelta(seconds=10)
    answers = {
        "first_at": to_iso(first),
        "median_s": 95.0,
        "silent": [{"name": "李四", "since": to_iso(silent_since)}],
        "silent_more": 1,
    }
    results = send(
        db,
        started + timedelta(minutes=3),
        T1,
        call_event(T1, ident, 7, 1, started, started, total=12),
        call_event(
            T1,
            ident,
            7,
            2,
            started,
            started + timedelta(minutes=3),
            answers=answers,
            total=12,
            yes=8,
            no=1,
            silent=2,
        ),
    )
    assert results == [Result.ACCEPTED, Result.ACCEPTED]
    # T2 answers with the summary before its receipt arrives: the order does not matter
    t2_start = t0 + timedelta(minutes=1)
    send(
        db, t0 + timedelta(minutes=2), T2, call_event(T2, ident, 3, 1, t2_start, t2_start, total=5)
    )
    send(
        db,
        t0 + timedelta(minutes=2),
        T2,
        received(T2, ident, t0 + timedelta(seconds=55), {"state": "started", "mobilization": 3}),
    )
    now = t0 + timedelta(minutes=10)
    view = hub.alert_view(db, ident, now, CALL_START)
    assert (view.event, view.colour, view.severity) == ("暴雨", "red", "Extreme")
    by = {u.unit: u for u in view.units}
    assert list(by) == [T1, T2, T3]
    one = by[T1]
    assert (one.received_at, one.via, one.call_state) == (got, "poll", "started")
    assert one.call_started_at == started and one.call_mobilization == "7"
    assert (one.total, one.yes, one.no, one.silent, one.answered, one.not_answered) == (
        12,
        8,
        1,
        2,
        9,
        3,
    )
    assert one.first_answer_s == 50.0 and one.median_answer_s == 95.0
    assert one.silent_people == (("李四", silent_since),) and one.silent_more == 1
    assert one.waiting_for_s == (now - silent_since).total_seconds()
    assert one.flag is None and one.sent_at == t0
    two = by[T2]
    assert two.call_state == "started" and two.call_started_at == t2_start
    assert two.received_at == t0 + timedelta(seconds=55) and two.total == 5
    assert by[T3].received_at is None and by[T3].flag is None  # within call_start: waiting
    assert view.totals == {
        "units": 3,
        "received": 2,
        "started": 2,
        "flagged": 0,
        "people": 17,
        "yes": 8,
        "no": 1,
        "answered": 9,
        "silent": 2,
        "not_answered": 8,
    }
    shown = view.to_json()
    assert shown["units"][0]["people"]["answered"] == 9
    assert shown["units"][0]["call"]["started_at"] == to_iso(started)
    assert shown["call_start_minutes"] == 15
    # past call_start, the township that never received it is flagged
    later = hub.alert_view(db, ident, t0 + timedelta(minutes=16), CALL_START)
    assert {u.unit: u.flag for u in later.units} == {T1: None, T2: None, T3: "not_received"}
    assert AlertFlag.label("not_received")


def test_a_unit_that_received_but_did_not_start_is_flagged_with_its_reason(
    db: Database, clock: FixedClock, red: alerts.AlertRecord
) -> None:
    ident, t0 = red.identifier, clock.now()
    send(db, t0, T1, received(T1, ident, t0, {"started": False, "reason": "nobody"}))
    late_start = t0 + timedelta(minutes=20)
    send(db, late_start, T2, received(T2, ident, t0, None))
    send(db, late_start, T2, call_event(T2, ident, 9, 1, late_start, late_start, total=3))
    view = hub.alert_view(db, ident, t0 + timedelta(minutes=30), CALL_START)
    by = {u.unit: u for u in view.units}
    assert (by[T1].call_state, by[T1].call_reason, by[T1].flag) == (
        "skipped",
        "nobody",
        AlertFlag.NOT_STARTED,
    )
    assert by[T2].flag == AlertFlag.LATE
    assert view.totals["flagged"] == 3  # and T3: not received


def test_no_flag_for_a_level_that_needs_no_call_nor_after_a_timely_cancel(
    db: Database, clock: FixedClock, red: alerts.AlertRecord
) -> None:
    ident, t0 = red.identifier, clock.now()
    send(db, t0, T1, received(T1, ident, t0, {"started": False, "reason": "below_level"}))
    view = hub.alert_view(db, ident, t0 + timedelta(hours=1), CALL_START, call_levels=("Extreme",))
    assert {u.unit: u.flag for u in view.units}[T1] == AlertFlag.NOT_STARTED
    yellow = hub.alert_view(db, ident, t0 + timedelta(hours=1), CALL_START, call_levels=())
    assert {u.unit: u.flag for u in yellow.units}[T1] is None
    clock.advance(timedelta(minutes=5))
    cancel = alerts.cancel(db, clock, OPERATOR, ident, sender_code="330102")
    # the cancel goes to every unit that had the alert
    assert downlink.fan_out_alert(db, clock.now(), cancel) == [T1, T2, T3]
    after = hub.alert_view(db, ident, t0 + timedelta(hours=1), CALL_START)
    assert after.cancelled_at is not None
    assert [u.flag for u in after.units] == [None, None, None]


def test_units_of_the_area_never_sent_to_are_listed(
    db: Database, clock: FixedClock, red: alerts.AlertRecord
) -> None:
    hub.add_unit(db, clock.now(), "330102004", "新设镇", operator=OPERATOR)
    view = hub.alert_view(db, red.identifier, clock.now(), CALL_START)
    late = {u.unit: u for u in view.units}["330102004"]
    assert late.sent_at is None and late.flag == AlertFlag.NOT_RECEIVED
    assert [v.identifier for v in hub.alert_list(db, clock.now(), CALL_START)] == [red.identifier]
    with pytest.raises(NotFound):
        hub.alert_view(db, "nothing", clock.now(), CALL_START)


def test_malformed_receipts_are_rejected(
    db: Database, clock: FixedClock, red: alerts.AlertRecord
) -> None:
    ident, now = red.identifier, clock.now()
    wrong_subject = UplinkEvent(
        uuid.uuid4().hex, T1, "case:X1", 1, Kind.ALERT_RECEIVED, to_iso(now), {"via": "poll"}
    )
    bad_via = UplinkEvent(
        uuid.uuid4().hex,
        T1,
        f"alert:{ident}",
        1,
        Kind.ALERT_RECEIVED,
        to_iso(now),
        {"via": "pigeon"},
    )
    other_alert = UplinkEvent(
        uuid.uuid4().hex,
        T1,
        f"alert:{ident}",
        1,
        Kind.ALERT_RECEIVED,
        to_iso(now),
        {"alert": "another"},
    )
    bad_call = received(T1, ident, now, {"started": "yes"})
    no_reply = UplinkEvent(
        uuid.uuid4().hex,
        T1,
        "directive:D1",
        1,
        Kind.DIRECTIVE_REPLIED,
        to_iso(now),
        {"reply": " "},
    )
    results = send(db, now, T1, wrong_subject, bad_via, other_alert, bad_call, no_reply)
    assert results == [Result.REJECTED] * 5
    assert hub.alert_view(db, ident, now, CALL_START).totals["received"] == 0


def test_directive_receipts_and_replies(db: Database, clock: FixedClock) -> None:
    hub.add_unit(db, clock.now(), T1, "城关镇", operator=OPERATOR)
    hub.add_unit(db, clock.now(), T2, "东河乡", operator=OPERATOR)
    now = clock.now()
    ident, _units = downlink.issue_directive(
        db,
        now,
        OPERATOR,
        sender="330102",
        title="排查通知",
        text="请排查",
        reply_by=now + timedelta(hours=1),
        units=[T1, T2],
    )
    subject = f"directive:{ident}"
    got = now + timedelta(minutes=1)
    replied = now + timedelta(minutes=30)
    events = [
        UplinkEvent(
            uuid.uuid4().hex,
            T1,
            subject,
            1,
            Kind.DIRECTIVE_RECEIVED,
            to_iso(got),
            {"directive": ident, "received_at": to_iso(got), "via": "push"},
        ),
        UplinkEvent(
            uuid.uuid4().hex,
            T1,
            subject,
            2,
            Kind.DIRECTIVE_REPLIED,
            to_iso(replied),
            {
                "directive": ident,
                "reply": "已排查，无隐患",
                "replied_by": "王强",
                "replied_at": to_iso(replied),
            },
        ),
    ]
    assert send(db, replied, T1, *events) == [Result.ACCEPTED, Result.ACCEPTED]
    view = hub.directive_view(db, ident, now + timedelta(hours=2))
    by = {u.unit: u for u in view.units}
    assert (by[T1].received_at, by[T1].replied_at, by[T1].reply) == (got, replied, "已排查，无隐患")
    assert by[T1].replied_by == "王强" and not by[T1].overdue
    assert by[T2].received_at is None and by[T2].overdue
    assert view.to_json()["totals"] == {"units": 2, "received": 1, "replied": 1, "overdue": 1}
    with pytest.raises(NotFound):
        hub.directive_view(db, "nope", now)


def test_the_sweep_flags_each_late_unit_once(
    db: Database, clock: FixedClock, red: alerts.AlertRecord
) -> None:
    ident, t0 = red.identifier, clock.now()
    send(
        db, t0, T1, received(T1, ident, t0, {"started": True, "mobilization": 1, "at": to_iso(t0)})
    )
    send(db, t0, T2, received(T2, ident, t0, {"started": False, "reason": "nobody"}))
    assert hub.flag_overdue(db, t0 + timedelta(minutes=14), CALL_START) == []
    later = t0 + timedelta(minutes=16)
    assert hub.flag_overdue(db, later, CALL_START) == [
        (ident, T2, AlertFlag.NOT_STARTED),
        (ident, T3, AlertFlag.NOT_RECEIVED),
    ]
    assert hub.flag_overdue(db, later + timedelta(minutes=5), CALL_START) == []  # once
    entries = db.conn.execute(
        "SELECT data FROM events WHERE kind = ?", (hub.FLAGGED_KIND,)
    ).fetchall()
    assert sorted(json.loads(e[0])["unit"] for e in entries) == [T2, T3]
