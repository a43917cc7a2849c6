"""The outbox: each timeline entry the county must see becomes its uplink events, once, in order."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlite_utils import Database

from incidents import workflow
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from incidents.supervision import shift_handover
from mobilization import record_answer
from store.audit import append_event, checkpoint
from store.clock import FixedClock, to_iso
from store.db import write
from store.keys import KeyRing
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import drive, start
from uplink.models import Kind, OutboxState
from uplink.outbox import (
    Projection,
    backlog,
    dead_letters,
    mark_dead,
    mark_sent,
    project,
    rebase,
    receipts,
    reconcile,
    requeue,
    sendable,
)

UNIT = "330106001"
OPTIONS = Projection(UNIT)


def case(db: Database, clock: FixedClock, policy: Policy, title: str = "路面塌陷") -> int:
    new = NewIncident(
        title=title,
        category="safety-hazard",
        reporter_name="张三",
        reporter_phone="13800138000",
        location="文一路 12 号",
    )
    return create_incident(db, clock, policy, OPERATOR, new).id


def queued(db: Database) -> list[tuple[str, int, Kind]]:
    return [(e.event.subject, e.event.seq, e.event.kind) for e in sendable(db, UNIT, 10_000)]


def test_a_case_becomes_numbered_events_with_its_stage_changes(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    ref = case(db, clock, policy)
    workflow.register(db, clock, policy, OPERATOR, ref)
    workflow.add_note(db, clock, OPERATOR, ref, "现场已拉警戒线")  # stays local
    workflow.edit(db, clock, policy, OPERATOR, ref, title="路面塌陷（已封路）")
    workflow.dispatch(db, clock, policy, OPERATOR, ref)
    assert project(db, OPTIONS, clock.now()) == 5
    subject = "case:2026-000001"
    assert queued(db) == [
        (subject, 1, Kind.CASE_REPORTED),
        (subject, 2, Kind.CASE_STAGE),
        (subject, 3, Kind.CASE_UPDATED),
        (subject, 4, Kind.CASE_STAGE),
    ]
    events = sendable(db, UNIT, 10)
    assert events[1].event.payload["change"] == {
        "kind": "register",
        "operator": OPERATOR,
        "stage_from": "reported",
        "stage_to": "registered",
    }
    assert events[2].event.payload["change"]["fields"] == ["title"]
    last = events[3].event.payload["case"]
    assert last["stage"] == "dispatched"
    assert last["title"] == "路面塌陷（已封路）"
    assert last["active"] is True
    assert events[0].event.unit == UNIT


def test_each_entry_is_projected_once_across_calls(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    assert project(db, OPTIONS, clock.now()) == 1
    assert project(db, OPTIONS, clock.now()) == 0
    case(db, clock, policy, "井盖缺失")
    project(db, OPTIONS, clock.now())
    assert [s for s, _q, _k in queued(db)] == ["case:2026-000001", "case:2026-000002"]
    ids = {e.event.id for e in sendable(db, UNIT, 10)}
    assert len(ids) == 2


def test_a_small_batch_projects_everything_in_several_steps(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    for i in range(7):
        case(db, clock, policy, f"案件{i}")
    steps = []
    while (n := project(db, OPTIONS, clock.now(), batch=3)) > 0:
        steps.append(n)
    assert steps == [3, 3, 1]
    assert len(queued(db)) == 7


def test_no_full_phone_number_and_no_reporter_unless_configured(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    project(db, OPTIONS, clock.now())
    text = json.dumps([e.event.to_json() for e in sendable(db, UNIT, 10)], ensure_ascii=False)
    assert "13800138000" not in text
    assert "张三" not in text
    assert "reporter" not in sendable(db, UNIT, 10)[0].event.payload["case"]


def test_the_reporter_masked_when_configured(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    project(db, Projection(UNIT, include_reporter=True), clock.now())
    reporter = sendable(db, UNIT, 10)[0].event.payload["case"]["reporter"]
    assert reporter["name"] == "张三"
    assert reporter["phone"] != "13800138000"
    assert reporter["phone"].endswith("8000")


def test_closed_voided_and_merged_are_stage_and_merge_events(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    b = case(db, clock, policy, "B")
    c = case(db, clock, policy, "C")
    workflow.void(db, clock, policy, OPERATOR, a, "误报")
    workflow.merge(db, clock, policy, OPERATOR, b, c)
    project(db, OPTIONS, clock.now())
    by_subject: dict[str, list[Kind]] = {}
    for e in sendable(db, UNIT, 100):
        by_subject.setdefault(e.event.subject, []).append(e.event.kind)
        if e.event.kind is Kind.CASE_MERGED:
            assert e.event.payload["case"]["merged_into"] == "2026-000003"
            assert e.event.payload["case"]["active"] is False
    assert by_subject["case:2026-000001"] == [Kind.CASE_REPORTED, Kind.CASE_STAGE]
    assert by_subject["case:2026-000002"] == [Kind.CASE_REPORTED, Kind.CASE_MERGED]
    assert by_subject["case:2026-000003"] == [Kind.CASE_REPORTED, Kind.CASE_UPDATED]


def test_mobilization_answers_are_summarised_at_most_every_30_s_and_finally(
    town_tree: Database, clock: FixedClock
) -> None:
    db = town_tree
    mob = start(db, clock, "grid:G01")
    drive(db, clock)
    project(db, OPTIONS, clock.now())
    subject = f"mobilization:{mob}"
    assert [k for s, _q, k in queued(db) if s == subject] == [Kind.MOBILIZATION_STARTED]
    rows = db.conn.execute(
        "SELECT ack_code FROM recipients WHERE mobilization_id = ? AND ack_code IS NOT NULL",
        (mob,),
    ).fetchall()
    record_answer(db, clock, OPERATOR, yes=True, via="officer", code=rows[0][0])
    project(db, OPTIONS, clock.now())  # answered at once: throttled (started just now)
    assert [k for s, _q, k in queued(db) if s == subject] == [Kind.MOBILIZATION_STARTED]
    clock.advance(timedelta(seconds=31))
    project(db, OPTIONS, clock.now())
    kinds = [k for s, _q, k in queued(db) if s == subject]
    assert kinds == [Kind.MOBILIZATION_STARTED, Kind.MOBILIZATION_SUMMARY]
    summary = sendable(db, UNIT, 100)[-1].event.payload
    assert summary["counts"]["yes"] == 1
    assert summary["final"] is False
    project(db, OPTIONS, clock.now())  # nothing new: no summary
    assert len([k for s, _q, k in queued(db) if s == subject]) == 2


def test_a_checkpoint_and_a_handover_go_up_on_the_unit_subject(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    point = checkpoint(db, KeyRing.ephemeral(), clock.now())
    assert point is not None
    shift_handover(db, clock, OPERATOR, "李四", "雨夜注意积水")
    project(db, OPTIONS, clock.now())
    unit_events = [e.event for e in sendable(db, UNIT, 10) if e.event.subject == "unit"]
    kinds = [e.kind for e in unit_events]
    assert set(kinds) == {Kind.AUDIT_HEAD, Kind.HANDOVER}
    head = next(e for e in unit_events if e.kind is Kind.AUDIT_HEAD)
    assert head.payload == point.to_json()
    handover = next(e for e in unit_events if e.kind is Kind.HANDOVER)
    assert handover.payload["to"] == "李四"
    assert "note" not in handover.payload
    assert sorted(e.seq for e in unit_events) == [1, 2]


def test_dead_letters_block_their_subject_only_and_can_be_requeued(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    case(db, clock, policy, "B")
    workflow.register(db, clock, policy, OPERATOR, a)
    project(db, OPTIONS, clock.now())
    first = sendable(db, UNIT, 10)[0]
    with write(db):
        mark_dead(db, first.row, "unknown grid")
    assert [s for s, _q, _k in queued(db)] == ["case:2026-000002"]
    assert backlog(db)[0] == 2 and backlog(db)[2] == 1
    assert dead_letters(db, UNIT)[0].error == "unknown grid"
    assert requeue(db) == 1
    assert [(s, q) for s, q, _k in queued(db)] == [
        ("case:2026-000001", 1),
        ("case:2026-000002", 1),
        ("case:2026-000001", 2),
    ]


def test_reconcile_resends_what_the_hub_lost(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    workflow.register(db, clock, policy, OPERATOR, a)
    project(db, OPTIONS, clock.now())
    events = sendable(db, UNIT, 10)
    with write(db):
        mark_sent(db, [(e.row, "accepted") for e in events], clock.now())
    assert queued(db) == []
    with write(db):
        found = reconcile(db, {"case:2026-000001": (1, events[0].event.id)})
    assert found.requeued == 1 and found.diverged == []
    assert queued(db) == [("case:2026-000001", 2, Kind.CASE_STAGE)]


def test_rebase_after_a_restore_puts_a_resync_first_and_renumbers(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    a = case(db, clock, policy, "A")
    project(db, OPTIONS, clock.now())
    first = sendable(db, UNIT, 10)[0]
    with write(db):
        mark_sent(db, [(first.row, "accepted")], clock.now())
    # Restored from a backup: the hub holds seqs 2 and 3 this unit no longer has, and the
    # unit has since made a change of its own (its seq 2, which the hub lacks).
    workflow.register(db, clock, policy, OPERATOR, a)
    project(db, OPTIONS, clock.now())
    with write(db):
        found = reconcile(db, {"case:2026-000001": (3, "lost-event-3")})
        assert found.diverged == [("case:2026-000001", 3)]
        moved = rebase(
            db, "case:2026-000001", 3, {first.event.id, "lost-2", "lost-3"}, clock.now(), OPTIONS
        )
    assert moved == 1
    events = sendable(db, UNIT, 10)
    assert [(e.event.seq, e.event.kind) for e in events] == [
        (4, Kind.RESYNC),
        (5, Kind.CASE_STAGE),
    ]
    assert events[0].event.payload["known"] == 1
    assert events[0].event.payload["case"]["stage"] == "registered"
    assert all(e.state is OutboxState.PENDING for e in events)


def test_rebase_of_a_subject_the_unit_no_longer_has(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    with write(db):
        found = reconcile(db, {"case:2026-000009": (2, "x" * 32)})
        assert found.diverged == [("case:2026-000009", 2)]
        rebase(db, "case:2026-000009", 2, {"a" * 32, "x" * 32}, clock.now(), OPTIONS)
    (event,) = [e.event for e in sendable(db, UNIT, 10)]
    assert (event.seq, event.kind, event.payload) == (3, Kind.RESYNC, {"known": 0, "case": None})


# --- information reports --------------------------------------------------------------------


def sitrep_entry(
    db: Database, clock: FixedClock, ref: int, entry: str, data: dict[str, Any]
) -> None:
    """A timeline entry of the reports service (uplink.sitreps writes them so)."""
    with write(db):
        append_event(
            db, at=to_iso(clock.now()), operator=OPERATOR, kind=entry, incident_id=ref, data=data
        )


def sent_report(db: Database, clock: FixedClock, ref: int) -> int:
    """A written report row, sent: its id (the entry names it)."""
    at = to_iso(clock.now())
    with write(db):
        cur = db.conn.execute(
            "INSERT INTO sitreps (incident_id, kind, seq, channel, state, fields, figures,"
            " drafted_by, drafted_at, updated_at, sent_at, text) VALUES (?, 'followup', 2,"
            " 'written', 'sent', '{}', '{}', ?, ?, ?, ?, '续报二全文')",
            (ref, OPERATOR, at, at, at),
        )
    return int(cur.lastrowid or 0)


def test_a_report_sent_or_phoned_becomes_a_report_event_with_the_whole_report(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    ref = case(db, clock, policy)
    with write(db):
        db.conn.execute(
            "INSERT INTO sitrep_cases (incident_id, received_at, marked, sensitive, figures)"
            " VALUES (?, '2026-11-26T01:50:00Z', 1, 0, ?)",
            (ref, json.dumps({"dead": 0, "injured": 2, "as_of": "2026-11-26T02:05:00Z"})),
        )
    clock.advance(minutes=10)
    phoned_at = to_iso(clock.now() - timedelta(minutes=4))
    phoned = {"id": 1, "kind": "initial", "to": "区应急局", "at": phoned_at}
    sitrep_entry(db, clock, ref, "sitrep_phoned", phoned)
    clock.advance(minutes=30)
    report_id = sent_report(db, clock, ref)
    data = {
        "id": report_id,
        "kind": "followup",
        "seq": 2,
        "name": "续报二",
        "channel": "written",
        "fields": {"place": "文一路 12 号"},
        "figures": {"dead": 0, "injured": 2},
        "corrects": None,
        "signed_by": "陈队长",
        "signed_at": to_iso(clock.now()),
        "text": "续报二全文",
    }
    sitrep_entry(db, clock, ref, "sitrep_sent", data)
    project(db, OPTIONS, clock.now())
    events = [e.event for e in sendable(db, UNIT, 10)]
    assert [(e.subject, e.seq, e.kind) for e in events] == [
        ("case:2026-000001", 1, Kind.CASE_REPORTED),
        ("case:2026-000001", 2, Kind.REPORT),
        ("case:2026-000001", 3, Kind.REPORT),
    ]
    by_phone, written = events[1].payload, events[2].payload
    assert by_phone["report"] == {
        "id": 1,
        "kind": "initial",
        "to": "区应急局",
        "at": phoned_at,  # when it was given, not when it was recorded
        "channel": "phone",
        "seq": 0,
        "name": "电话报告",
    }
    assert written["report"] == {**data, "at": events[2].at}  # the text sent, as sent
    assert written["case"]["number"] == "2026-000001"
    assert written["case"]["reporting"] == {
        "received_at": "2026-11-26T01:50:00Z",
        "marked": True,
        "sensitive": False,
        "figures": {"dead": 0, "injured": 2, "as_of": "2026-11-26T02:05:00Z"},
    }
    stored = db.conn.execute("SELECT event_id FROM sitreps WHERE id = ?", (report_id,)).fetchone()
    assert stored[0] == events[2].id  # its receipt will be this event acknowledged


def test_reporting_facts_go_up_as_case_updates_and_default_to_the_reported_time(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    ref = case(db, clock, policy)
    reported_at = to_iso(clock.now())
    for kind in ("sitrep_marked", "sitrep_received", "sitrep_figures", "sitrep_drafted"):
        clock.advance(minutes=1)
        sitrep_entry(db, clock, ref, kind, {"id": 1})
    project(db, OPTIONS, clock.now())
    events = [e.event for e in sendable(db, UNIT, 10)]
    assert [e.kind for e in events] == [Kind.CASE_REPORTED, *[Kind.CASE_UPDATED] * 3]
    assert [e.payload["change"]["kind"] for e in events[1:]] == [
        "sitrep_marked",
        "sitrep_received",
        "sitrep_figures",
    ]  # a draft stays local
    assert events[0].payload["case"]["reporting"] == {
        "received_at": reported_at,
        "marked": False,
        "sensitive": False,
        "figures": None,
    }


def test_receipts_are_the_report_events_the_hub_took(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case(db, clock, policy)
    case(db, clock, policy, "井盖缺失")
    project(db, OPTIONS, clock.now())
    first, second = sendable(db, UNIT, 10)
    clock.advance(seconds=3)
    with write(db):
        mark_sent(db, [(first.row, "accepted")], clock.now())
        mark_dead(db, second.row, "rejected")
    assert receipts(db, [first.id, second.id, first.id]) == {first.id: clock.now()}


def test_a_change_says_the_classification_and_marks_before_and_after(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    ref = case(db, clock, policy)
    workflow.edit(db, clock, policy, OPERATOR, ref, severity="II", title="路面塌陷，有人受伤")
    marks = {"marked": [False, True], "sensitive": [False, False]}
    sitrep_entry(db, clock, ref, "sitrep_marked", marks)
    project(db, OPTIONS, clock.now())
    edit, marked = [e.event.payload["change"] for e in sendable(db, UNIT, 10)][1:]
    assert edit["fields"] == ["severity", "title"]
    assert edit["severity"] == ["IV", "II"]  # the hub replays the case's duties from these
    assert "title" not in edit  # only the classification's values go up
    assert (marked["marked"], marked["sensitive"]) == ([False, True], [False, False])
