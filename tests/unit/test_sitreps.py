"""Information reports at the township: draft from the record, edit, sign off, send, by phone,
the case's reporting facts, the obligations kept up to date and the overdue alerts, each refusal
changing nothing (uplink.sitreps)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from contacts.models import Role
from contacts.people import NewPerson, add_person
from contacts.roster import add_post, add_rotation
from incidents import workflow
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from mobilization import record_answer
from store.audit import verify_chain
from store.clock import FixedClock
from store.db import apply_migrations, connect, write
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from tests.support.domain import OPERATOR, START, events_count
from tests.unit.mobilization_support import code_of, drive, start
from uplink import sitreps
from uplink.outbox import Projection, mark_sent, project, sendable
from uplink.reporting import (
    Channel,
    ObligationKind,
    ObligationState,
    Reason,
    ReportKind,
    ReportState,
)
from uplink.sitrep_render import plain_text
from uplink.sitrep_rules import ReportRule, SitrepRules

SIGNER = "SEC"  # the town's community secretary signs off where the rules name signers
RULES = SitrepRules(signers=(SIGNER,))


def fire(db: Database, clock: FixedClock, severity: str = "II", **kw: Any) -> int:
    new = NewIncident(
        title="幸福社区3号楼火灾",
        category="accident_disaster",
        type="fire",
        severity=severity,
        location="幸福路3号",
        grid=kw.pop("grid", "G01"),
        reporter_name="张三",
        reporter_phone="13800138000",
        **kw,
    )
    return create_incident(db, clock, Policy(), OPERATOR, new).id


def kinds_since(db: Database, after: int) -> list[str]:
    return [
        r[0] for r in db.conn.execute("SELECT kind FROM events WHERE id > ? ORDER BY id", (after,))
    ]


def last_event(db: Database, kind: str) -> tuple[str, dict[str, Any]]:
    row = db.conn.execute(
        "SELECT operator, data FROM events WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
    ).fetchone()
    assert row is not None, kind
    return row[0], json.loads(row[1])


def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was."""
    return (
        events_count(db),
        db.conn.execute("SELECT * FROM sitreps ORDER BY id").fetchall(),
        db.conn.execute("SELECT * FROM sitrep_cases ORDER BY incident_id").fetchall(),
        db.conn.execute("SELECT * FROM sitrep_obligations ORDER BY id").fetchall(),
    )


def sent_initial(db: Database, clock: FixedClock, case: int | str) -> int:
    report = sitreps.draft(db, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    sitreps.sign(db, clock, RULES, OPERATOR, report.id, signer=SIGNER)
    return sitreps.send(db, clock, OPERATOR, report.id).id


def close_case(db: Database, clock: FixedClock, case: int) -> None:
    policy = Policy()
    workflow.register(db, clock, policy, OPERATOR, case)
    workflow.dispatch(db, clock, policy, OPERATOR, case, "grid:G01")
    workflow.handle(db, clock, policy, OPERATOR, case)
    workflow.feedback(db, clock, policy, OPERATOR, case, "明火已扑灭")
    workflow.verify(db, clock, policy, OPERATOR, case)
    workflow.close(db, clock, policy, OPERATOR, case)


# --- schema -------------------------------------------------------------------------------


def test_the_migration_starts_the_cursor_at_the_end_of_an_upgraded_timeline(
    db: Database, clock: FixedClock
) -> None:
    assert db.conn.execute("SELECT event_id FROM sitrep_cursor").fetchone()[0] == 0  # fresh
    old = connect(migrate=False)
    try:
        apply_migrations(old, upto=15)
        fire(old, clock)
        fire(old, clock)
        last = old.conn.execute("SELECT max(id) FROM events").fetchone()[0]
        apply_migrations(old)
        assert old.conn.execute("SELECT event_id FROM sitrep_cursor").fetchone()[0] == last
        # the old history raises no obligation (and no alert) all at once
        assert sitreps.catch_up(old, clock, RULES) == 0
        assert sitreps.open_obligations(old, clock.now()) == []
    finally:
        old.close()


def test_the_office_head_is_a_role() -> None:
    assert Role.parse("办公室主任") is Role.OFFICE_HEAD
    assert Role.OFFICE_HEAD.value == "office_head" and Role.OFFICE_HEAD.label == "office head"


# --- drafting -----------------------------------------------------------------------------


def test_an_initial_draft_is_filled_from_the_record(town_tree: Database, clock: FixedClock) -> None:
    db = town_tree
    case = fire(db, clock)
    clock.advance(minutes=5)
    workflow.register(db, clock, Policy(), OPERATOR, case)
    workflow.dispatch(db, clock, Policy(), OPERATOR, case, "grid:G01")
    clock.advance(minutes=1)
    mob = start(db, clock, "grid:G01", incident_id=case)
    drive(db, clock)
    record_answer(db, clock, OPERATOR, yes=True, via="officer", code=code_of(db, mob, "L1"))
    sitreps.record_figures(db, clock, OPERATOR, case, {"injured": 2, "evacuated": "30"})
    before = events_count(db)

    report = sitreps.draft(db, clock, RULES, OPERATOR, case, ReportKind.INITIAL)

    assert (report.kind, report.seq, report.name, report.state) == (
        ReportKind.INITIAL,
        0,
        "初报",
        ReportState.DRAFT,
    )
    fields = report.fields
    # received at 10:00 in Shanghai (02:00 UTC), by phone, from 张三
    assert fields["received"] == "2026年11月26日10时接电话报告，报告人：张三"
    assert fields["place"] == "幸福路3号（G01网格）"
    assert fields["nature"] == "事故灾难·火灾，重大（II级）"
    assert fields["area"] == "G01网格"
    assert "11月26日10时5分派遣G01网格处置" in fields["measures"]
    called = len(
        db.conn.execute("SELECT id FROM recipients WHERE mobilization_id = ?", (mob,)).fetchall()
    )
    assert f"启动人员动员，通知{called}人，1人确认到岗" in fields["measures"]
    assert fields["unit"] == "城关街道"  # the township's name
    assert fields["contact"] == OPERATOR
    assert fields["damage"] == fields["leaders"] == fields["corrects"] == ""
    assert (report.figures.injured, report.figures.evacuated) == (2, 30)
    assert kinds_since(db, before) == ["sitrep_drafted"]
    operator, data = last_event(db, "sitrep_drafted")
    assert operator == OPERATOR and data["id"] == report.id and data["fields"] == fields


def test_the_unit_comes_from_the_call_then_the_rules_then_the_township(
    town: Database, clock: FixedClock
) -> None:
    one, two = fire(town, clock), fire(town, clock)
    rules = SitrepRules(signers=(SIGNER,), unit_name="青山街道办事处")
    assert sitreps.draft(town, clock, rules, OPERATOR, one, ReportKind.INITIAL).fields["unit"] == (
        "青山街道办事处"
    )
    given = sitreps.draft(town, clock, rules, OPERATOR, two, ReportKind.INITIAL, unit_name="某街道")
    assert given.fields["unit"] == "某街道"


def test_follow_ups_are_numbered_and_start_from_the_previous_report(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    first = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    sitreps.edit(town, clock, OPERATOR, first.id, fields={"trend": "火势蔓延", "leaders": "王镇长"})
    sitreps.sign(town, clock, RULES, OPERATOR, first.id, signer=SIGNER)
    sitreps.send(town, clock, OPERATOR, first.id)
    clock.advance(minutes=20)
    workflow.register(town, clock, Policy(), OPERATOR, case)
    workflow.dispatch(town, clock, Policy(), OPERATOR, case, "team:T-RESCUE")
    sitreps.record_figures(town, clock, OPERATOR, case, {"injured": 3})

    one = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP)
    two = sitreps.draft(town, clock, RULES, OPERATOR, case, "续报")  # as a person types it
    with pytest.raises(InvalidInput) as unknown:
        sitreps.draft(town, clock, RULES, OPERATOR, case, "续报三")
    assert unknown.value.field == "kind"

    assert (one.seq, one.name, two.seq, two.name) == (1, "续报一", 2, "续报二")
    assert one.fields["trend"] == "火势蔓延" and one.fields["leaders"] == "王镇长"
    assert "派遣救援队处置" in one.fields["measures"]  # refreshed from the timeline
    assert one.figures.injured == 3  # the case's current figures
    sitreps.discard(town, clock, OPERATOR, two.id)
    assert sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP).seq == 2


def test_a_draft_is_refused_without_an_initial_report_unless_one_went_by_phone(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    drafted = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    state = snapshot(town)
    with pytest.raises(InvalidTransition, match="no initial report"):
        sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP)
    with pytest.raises(InvalidTransition, match="already has an initial report"):
        sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    assert snapshot(town) == state
    sitreps.phone(town, clock, OPERATOR, case, to="区应急局值班室", at=clock.now())
    followup = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP)
    assert followup.name == "续报一"
    assert drafted.id != followup.id


def test_a_final_report_waits_for_the_case_to_be_closed(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)
    sent_initial(town, clock, case)
    state = snapshot(town)
    with pytest.raises(InvalidTransition, match="still open"):
        sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FINAL)
    assert snapshot(town) == state
    close_case(town, clock, case)
    final = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FINAL)
    assert (final.name, final.seq) == ("终报", 0)
    # reopened after the draft: it cannot be sent
    sitreps.sign(town, clock, RULES, OPERATOR, final.id, signer=SIGNER)
    workflow.reopen(town, clock, Policy(), OPERATOR, case, "复燃")
    state = snapshot(town)
    with pytest.raises(InvalidTransition, match="still open"):
        sitreps.send(town, clock, OPERATOR, final.id)
    assert snapshot(town) == state


# --- editing and signing -------------------------------------------------------------------


def test_an_edit_records_what_changed_and_a_signed_report_goes_back_to_draft(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    report = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    sitreps.sign(town, clock, RULES, OPERATOR, report.id, signer=SIGNER)
    clock.advance(minutes=2)
    before = events_count(town)

    edited = sitreps.edit(
        town,
        clock,
        OPERATOR,
        report.id,
        fields={"trend": "可控"},
        figures={"dead": "0", "injured": 1},
    )

    assert edited.state is ReportState.DRAFT and edited.signed_by is None
    assert edited.fields["trend"] == "可控"
    assert (edited.figures.dead, edited.figures.injured, edited.figures.as_of) == (
        0,
        1,
        clock.now(),
    )
    assert kinds_since(town, before) == ["sitrep_edited", "sitrep_unsigned"]
    _op, data = last_event(town, "sitrep_edited")
    assert data["changes"] == {"trend": ["", "可控"]}
    assert data["figure_changes"] == {"dead": [None, 0], "injured": [None, 1]}
    assert last_event(town, "sitrep_unsigned")[1]["signer"] == SIGNER
    # the same again changes nothing and writes nothing
    again = sitreps.edit(town, clock, OPERATOR, report.id, fields={"trend": "可控"})
    assert again == edited and events_count(town) == before + 2
    # the case's own figures are not the report's
    assert not sitreps.reporting_of(town, case).figures.known


@pytest.mark.parametrize(
    ("figures", "field"),
    [
        ({"dead": -1}, "dead"),
        ({"injured": "三"}, "injured"),
        ({"injured": 1.5}, "injured"),
        ({"wounded": 1}, "wounded"),
        ({"missing": 10_000_001}, "missing"),
    ],
)
def test_bad_figures_are_refused_naming_the_figure(
    town: Database, clock: FixedClock, figures: dict[str, Any], field: str
) -> None:
    case = fire(town, clock)
    report = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    state = snapshot(town)
    with pytest.raises(InvalidInput) as edit_refused:
        sitreps.edit(town, clock, OPERATOR, report.id, figures=figures)
    with pytest.raises(InvalidInput) as record_refused:
        sitreps.record_figures(town, clock, OPERATOR, case, figures)
    assert edit_refused.value.field == record_refused.value.field == field
    assert snapshot(town) == state


def test_bad_text_fields_are_refused_naming_the_field(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)
    report = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    state = snapshot(town)
    with pytest.raises(InvalidInput) as unknown:
        sitreps.edit(town, clock, OPERATOR, report.id, fields={"summary": "x"})
    with pytest.raises(InvalidInput) as control:
        sitreps.edit(town, clock, OPERATOR, report.id, fields={"trend": "\x1b[2J"})
    with pytest.raises(InvalidInput) as future:
        sitreps.edit(
            town,
            clock,
            OPERATOR,
            report.id,
            figures={"dead": 1},
            as_of=clock.now() + timedelta(hours=1),
        )
    assert (unknown.value.field, control.value.field, future.value.field) == (
        "summary",
        "trend",
        "as_of",
    )
    assert snapshot(town) == state


def test_who_may_sign_off(town: Database, clock: FixedClock) -> None:
    # configured names win over everything
    assert sitreps.signers(town, RULES, clock.now()) == [SIGNER]
    assert sitreps.entitled(town, RULES, SIGNER, clock.now())
    assert not sitreps.entitled(town, RULES, "A", clock.now())
    # else the shift lead's post holder at that moment, and the shift-lead and office-head roles
    rules = SitrepRules()
    assert sitreps.signers(town, rules, clock.now()) == []
    add_post(town, clock, OPERATOR, "SL", "值班长")
    add_rotation(
        town,
        clock,
        OPERATOR,
        "SL",
        people=["A", "B"],
        starts_on=date(2026, 11, 26),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    add_person(town, clock, OPERATOR, NewPerson(name="刘主任", roles=["办公室主任"]), key="HEAD")
    add_person(town, clock, OPERATOR, NewPerson(name="陈班长", roles=["shift_lead"]), key="LEAD")
    now = clock.now()
    assert sitreps.signers(town, rules, now) == ["A", "陈班长", "刘主任"]  # posts, then roles
    tomorrow = now + timedelta(days=1)
    assert sitreps.entitled(town, rules, "B", tomorrow) and not sitreps.entitled(
        town, rules, "B", now
    )
    assert sitreps.entitled(town, rules, "HEAD", now)  # by key: the person's name is entitled
    assert not sitreps.entitled(town, rules, "", now)


def test_signing_off_names_operator_and_signer_and_refuses_the_unentitled(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    report = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    state = snapshot(town)
    with pytest.raises(PermissionDenied, match="SEC"):
        sitreps.sign(town, clock, RULES, OPERATOR, report.id)  # the operator is not entitled
    with pytest.raises(PermissionDenied):
        sitreps.sign(town, clock, RULES, OPERATOR, report.id, signer="A")
    with pytest.raises(InvalidTransition, match="not signed off"):
        sitreps.send(town, clock, OPERATOR, report.id)
    assert snapshot(town) == state

    signed = sitreps.sign(town, clock, RULES, OPERATOR, report.id, signer=SIGNER)

    assert (signed.state, signed.signed_by, signed.signed_at) == (
        ReportState.SIGNED,
        SIGNER,
        clock.now(),
    )
    operator, data = last_event(town, "sitrep_signed")
    assert (operator, data["signer"], data["id"], data["name"]) == (
        OPERATOR,
        SIGNER,
        report.id,
        "初报",
    )
    with pytest.raises(InvalidTransition, match="already signed"):
        sitreps.sign(town, clock, RULES, OPERATOR, report.id, signer=SIGNER)


# --- sending ---------------------------------------------------------------------------------


def test_the_exact_text_sent_is_in_the_audit_and_the_report_is_fixed(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    report = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    sitreps.sign(town, clock, RULES, OPERATOR, report.id, signer=SIGNER)
    clock.advance(minutes=3)

    sent = sitreps.send(town, clock, OPERATOR, report.id)

    assert (sent.state, sent.sent_by, sent.sent_at) == (ReportState.SENT, OPERATOR, clock.now())
    assert sent.text == plain_text(sitreps.document(town, sent.id))
    assert "城关街道关于幸福社区3号楼火灾的初报" in sent.text and "签发人：SEC" in sent.text
    operator, data = last_event(town, "sitrep_sent")
    assert operator == OPERATOR
    assert data["text"] == sent.text and data["signed_by"] == SIGNER
    assert (data["id"], data["kind"], data["seq"], data["name"]) == (sent.id, "initial", 0, "初报")
    assert data["fields"] == sent.fields and data["channel"] == "written"
    assert data["title"] == "城关街道关于幸福社区3号楼火灾的初报"
    verify_chain(town)
    state = snapshot(town)
    for refused in (
        lambda: sitreps.edit(town, clock, OPERATOR, sent.id, fields={"trend": "x"}),
        lambda: sitreps.sign(town, clock, RULES, OPERATOR, sent.id, signer=SIGNER),
        lambda: sitreps.send(town, clock, OPERATOR, sent.id),
        lambda: sitreps.discard(town, clock, OPERATOR, sent.id),
    ):
        with pytest.raises(InvalidTransition, match="never changed"):
            refused()
    assert snapshot(town) == state


def test_the_hub_taking_the_report_is_its_receipt(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)
    report_id = sent_initial(town, clock, case)
    options = Projection("330106001")
    project(town, options, clock.now())
    assert sitreps.get_sitrep(town, report_id).state is ReportState.SENT
    events = [e for e in sendable(town, options.unit, 100) if e.event.kind.value == "report"]
    assert len(events) == 1
    clock.advance(seconds=30)
    with write(town):
        mark_sent(town, [(events[0].row, "accepted")], clock.now())
    received = sitreps.get_sitrep(town, report_id)
    assert (received.state, received.received_at) == (ReportState.RECEIVED, clock.now())
    assert sitreps.list_sitreps(town, case=case)[0].state is ReportState.RECEIVED


def test_a_correction_is_a_follow_up_that_says_what_it_corrects(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    first = sent_initial(town, clock, case)
    other = fire(town, clock)
    sitreps.phone(town, clock, OPERATOR, other, to="区值班室", at=clock.now())
    state = snapshot(town)
    with pytest.raises(InvalidInput, match="follow-up") as wrong_kind:
        sitreps.draft(town, clock, RULES, OPERATOR, other, ReportKind.INITIAL, corrects=first)
    assert wrong_kind.value.field == "corrects"
    with pytest.raises(InvalidInput, match="of case 2026-000001") as other_case:
        sitreps.draft(town, clock, RULES, OPERATOR, other, ReportKind.FOLLOWUP, corrects=first)
    assert other_case.value.field == "corrects"
    with pytest.raises(InvalidInput, match="no report"):
        sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP, corrects=999)
    assert snapshot(town) == state

    fix = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP, corrects=first)
    assert fix.corrects == first and fix.fields["corrects"] == ""
    with pytest.raises(InvalidInput) as unsaid:
        sitreps.sign(town, clock, RULES, OPERATOR, fix.id, signer=SIGNER)
    assert unsaid.value.field == "corrects"
    sitreps.edit(town, clock, OPERATOR, fix.id, fields={"corrects": "受伤人数应为2人"})
    sitreps.sign(town, clock, RULES, OPERATOR, fix.id, signer=SIGNER)
    sent = sitreps.send(town, clock, OPERATOR, fix.id)
    assert sitreps.document(town, sent.id).corrects_name == "初报"
    assert "本报告更正初报，受伤人数应为2人" in (sent.text or "")
    assert last_event(town, "sitrep_sent")[1]["corrects"] == first
    # a draft cannot be corrected: it is edited
    draft = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP)
    with pytest.raises(InvalidInput, match="not sent"):
        sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP, corrects=draft.id)


def test_a_report_by_phone_is_recorded_as_given(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)
    clock.advance(minutes=15)
    given = clock.now() - timedelta(minutes=5)
    before = events_count(town)

    report = sitreps.phone(
        town, clock, OPERATOR, case, to="区应急局值班室", at=given, note="口头报告火情"
    )

    assert (report.channel, report.state, report.sent_at, report.phoned_to) == (
        Channel.PHONE,
        ReportState.SENT,
        given,
        "区应急局值班室",
    )
    assert report.name == "电话报告" and "口头报告火情" in (report.text or "")
    assert kinds_since(town, before) == ["sitrep_phoned"]
    _op, data = last_event(town, "sitrep_phoned")
    assert (data["id"], data["to"], data["at"], data["kind"]) == (
        report.id,
        "区应急局值班室",
        "2026-11-26T02:10:00Z",
        "initial",
    )
    state = snapshot(town)
    with pytest.raises(InvalidInput) as nobody:
        sitreps.phone(town, clock, OPERATOR, case, to=" ", at=given)
    with pytest.raises(InvalidInput) as future:
        sitreps.phone(
            town, clock, OPERATOR, case, to="区值班室", at=clock.now() + timedelta(hours=1)
        )
    with pytest.raises(InvalidInput) as early:
        sitreps.phone(town, clock, OPERATOR, case, to="区值班室", at=START - timedelta(hours=1))
    with pytest.raises(InvalidTransition):
        sitreps.phone(town, clock, OPERATOR, case, to="区值班室", at=given, kind=ReportKind.FINAL)
    assert (nobody.value.field, future.value.field, early.value.field) == ("to", "at", "at")
    assert snapshot(town) == state


def test_discarding_is_audited_and_only_for_reports_not_sent(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    report = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL)
    sitreps.sign(town, clock, RULES, OPERATOR, report.id, signer=SIGNER)
    sitreps.discard(town, clock, OPERATOR, report.id)
    with pytest.raises(NotFound):
        sitreps.get_sitrep(town, report.id)
    _op, data = last_event(town, "sitrep_discarded")
    assert (data["id"], data["state"], data["name"]) == (report.id, "signed", "初报")
    # the initial report can be drafted again
    assert sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.INITIAL).name == "初报"


# --- the case's reporting facts -----------------------------------------------------------


def test_marks_received_time_and_figures_are_audited_changes(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock, severity="IV")
    facts = sitreps.reporting_of(town, case)
    assert (facts.received_at, facts.marked, facts.sensitive, facts.figures.known) == (
        START,
        False,
        False,
        False,
    )
    before = events_count(town)
    assert sitreps.mark(town, clock, OPERATOR, case, sensitive=True).sensitive
    sitreps.mark(town, clock, OPERATOR, case, sensitive=True)  # no change: nothing written
    assert last_event(town, "sitrep_marked")[1] == {"sensitive": [False, True]}
    earlier = START - timedelta(minutes=7)
    facts = sitreps.correct_received(town, clock, OPERATOR, case, earlier, "群众先打值班电话")
    assert facts.received_at == earlier and facts.received_corrected
    _op, data = last_event(town, "sitrep_received")
    assert data == {
        "received_at": ["2026-11-26T02:00:00Z", "2026-11-26T01:53:00Z"],
        "reason": "群众先打值班电话",
    }
    clock.advance(minutes=10)
    facts = sitreps.record_figures(town, clock, OPERATOR, case, {"trapped": 4, "evacuated": 20})
    facts = sitreps.record_figures(town, clock, OPERATOR, case, {"trapped": 0})
    assert (facts.figures.trapped, facts.figures.evacuated, facts.figures.as_of) == (
        0,
        20,
        clock.now(),
    )
    assert last_event(town, "sitrep_figures")[1]["changes"] == {"trapped": [4, 0]}
    sitreps.record_figures(town, clock, OPERATOR, case, {"trapped": 0})  # no change
    assert kinds_since(town, before) == [
        "sitrep_marked",
        "sitrep_received",
        "sitrep_figures",
        "sitrep_figures",
    ]
    state = snapshot(town)
    with pytest.raises(InvalidInput) as no_reason:
        sitreps.correct_received(town, clock, OPERATOR, case, earlier, "  ")
    with pytest.raises(InvalidInput) as future:
        sitreps.correct_received(town, clock, OPERATOR, case, clock.now() + timedelta(days=1), "x")
    assert (no_reason.value.field, future.value.field) == ("reason", "at")
    assert snapshot(town) == state


# --- obligations ---------------------------------------------------------------------------


def owed(db: Database, clock: FixedClock, case: int) -> list[tuple[str, int, str, str]]:
    now = clock.now()
    return [
        (o.kind.value, o.seq, o.state_at(now).value, o.due.strftime("%H:%M"))
        for o in sitreps.obligations_of(db, now, case)
    ]


def test_catch_up_keeps_obligation_rows_up_to_date(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)  # II: initial within 30 minutes of 02:00
    assert sitreps.catch_up(town, clock, RULES) == 1
    assert owed(town, clock, case) == [("initial", 1, "pending", "02:30")]
    assert sitreps.catch_up(town, clock, RULES) == 0  # nothing new
    clock.advance(minutes=10)
    sitreps.correct_received(town, clock, OPERATOR, case, START - timedelta(minutes=20), "早接报")
    sitreps.catch_up(town, clock, RULES)
    assert owed(town, clock, case) == [("initial", 1, "pending", "02:10")]
    clock.advance(minutes=5)
    report = sent_initial(town, clock, case)
    sitreps.catch_up(town, clock, RULES)
    rows = sitreps.obligations_of(town, clock.now(), case)
    assert [(o.kind, o.state_at(clock.now()), o.met_by) for o in rows] == [
        (ObligationKind.INITIAL, ObligationState.LATE, report),
        (ObligationKind.DAILY, ObligationState.PENDING, None),
    ]
    assert rows[0].delay_at(clock.now()) == 5
    assert all(o.id is not None and o.case_number == "2026-000001" for o in rows)


def test_a_case_raised_from_iv_to_ii_owes_its_initial_report_from_then(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock, severity="IV")
    sitreps.catch_up(town, clock, RULES)
    assert owed(town, clock, case) == []
    clock.advance(hours=2)
    workflow.edit(town, clock, Policy(), OPERATOR, case, severity="II")
    sitreps.catch_up(town, clock, RULES)
    [initial] = sitreps.obligations_of(town, clock.now(), case)
    assert (initial.kind, initial.reason, initial.since, initial.due) == (
        ObligationKind.INITIAL,
        Reason.ESCALATED,
        clock.now(),
        clock.now() + timedelta(minutes=30),
    )


def test_a_marked_case_is_reportable_whatever_its_level(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock, severity="IV")
    clock.advance(minutes=5)
    sitreps.mark(town, clock, OPERATOR, case, marked=True)
    sitreps.catch_up(town, clock, RULES)
    assert owed(town, clock, case) == [("initial", 1, "pending", "03:05")]  # marked_minutes 60
    sitreps.mark(town, clock, OPERATOR, case, sensitive=True)
    sitreps.mark(town, clock, OPERATOR, case, marked=False)  # still sensitive: still owed
    sitreps.catch_up(town, clock, RULES)
    assert owed(town, clock, case) == [("initial", 1, "pending", "03:05")]
    clock.advance(minutes=5)
    sitreps.mark(town, clock, OPERATOR, case, sensitive=False)  # neither: no longer owed
    sitreps.catch_up(town, clock, RULES)
    assert owed(town, clock, case) == [("initial", 1, "cancelled", "03:05")]


def test_a_phone_report_meets_the_phone_deadline_not_the_written_one(
    town: Database, clock: FixedClock
) -> None:
    rules = SitrepRules(
        rules=(ReportRule(severity=2, initial_minutes=40, phone_minutes=20),), signers=(SIGNER,)
    )
    case = fire(town, clock)
    clock.advance(minutes=15)
    phoned = sitreps.phone(town, clock, OPERATOR, case, to="区值班室", at=clock.now())
    sitreps.catch_up(town, clock, rules)
    rows = {o.kind: o for o in sitreps.obligations_of(town, clock.now(), case)}
    assert rows[ObligationKind.PHONE].met_by == phoned.id
    assert rows[ObligationKind.INITIAL].met_at is None
    assert rows[ObligationKind.INITIAL].due == START + timedelta(minutes=40)


def test_voiding_cancels_what_is_owed(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)
    sitreps.catch_up(town, clock, RULES)
    workflow.void(town, clock, Policy(), OPERATOR, case, "误报")
    sitreps.catch_up(town, clock, RULES)
    assert owed(town, clock, case) == [("initial", 1, "cancelled", "02:30")]
    assert sitreps.open_obligations(town, clock.now()) == []


def test_the_sweep_alerts_each_overdue_obligation_once(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)
    other = fire(town, clock, severity="III")
    assert sitreps.sweep(town, clock, RULES) == []
    clock.advance(minutes=31)
    before = events_count(town)

    alerted = sitreps.sweep(town, clock, RULES)

    assert [(o.case_id, o.kind) for o in alerted] == [(case, ObligationKind.INITIAL)]
    assert kinds_since(town, before) == ["sitrep_overdue"]
    operator, data = last_event(town, "sitrep_overdue")
    assert operator == "system"
    assert (data["kind"], data["seq"], data["due"], data["case"]) == (
        "initial",
        1,
        "2026-11-26T02:30:00Z",
        "2026-000001",
    )
    assert sitreps.sweep(town, clock, RULES) == []  # once
    assert events_count(town) == before + 1
    clock.advance(minutes=30)
    assert [o.case_id for o in sitreps.sweep(town, clock, RULES)] == [other]
    # a deadline moved into the future may alert again when it passes again
    sitreps.correct_received(
        town, clock, OPERATOR, case, clock.now() - timedelta(minutes=10), "更正"
    )
    assert sitreps.sweep(town, clock, RULES) == []
    clock.advance(minutes=21)
    assert [o.case_id for o in sitreps.sweep(town, clock, RULES)] == [case]


def test_the_listings_of_obligations(town: Database, clock: FixedClock) -> None:
    late_case = fire(town, clock)
    due_case = fire(town, clock, severity="III")
    clock.advance(minutes=40)
    sent_initial(town, clock, late_case)  # 10 minutes late
    sitreps.catch_up(town, clock, RULES)
    now = clock.now()
    assert [(o.case_id, o.kind) for o in sitreps.open_obligations(town, now)] == [
        (due_case, ObligationKind.INITIAL),
        (late_case, ObligationKind.DAILY),
    ]
    late = sitreps.late_obligations(town, now)
    assert [(o.case_id, o.state_at(now)) for o in late] == [(late_case, ObligationState.LATE)]
    clock.advance(minutes=30)
    later = clock.now()
    assert [(o.case_id, o.state_at(later)) for o in sitreps.late_obligations(town, later)] == [
        (late_case, ObligationState.LATE),
        (due_case, ObligationState.OVERDUE),
    ]
    assert sitreps.late_obligations(town, later, since=START + timedelta(minutes=45)) == [
        o for o in sitreps.late_obligations(town, later) if o.case_id == due_case
    ]
    assert len(sitreps.open_obligations(town, later, limit=1)) == 1


# --- reading ---------------------------------------------------------------------------------


def test_listing_reports_and_the_document(town: Database, clock: FixedClock) -> None:
    case = fire(town, clock)
    sitreps.record_figures(town, clock, OPERATOR, case, {"injured": 2})
    first = sent_initial(town, clock, case)
    clock.advance(minutes=30)
    sitreps.record_figures(town, clock, OPERATOR, case, {"injured": 5})
    followup = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FOLLOWUP)
    other = fire(town, clock)
    sitreps.draft(town, clock, RULES, OPERATOR, other, ReportKind.INITIAL)

    assert [r.id for r in sitreps.list_sitreps(town, case=case)] == [first, followup.id]
    assert [r.case_id for r in sitreps.list_sitreps(town)] == [case, case, other]
    assert [r.case_id for r in sitreps.list_sitreps(town, limit=1)] == [other]
    doc = sitreps.document(town, followup.id, unit_name="青山街道")
    assert doc.case_title == "幸福社区3号楼火灾" and doc.unit_name == "青山街道"
    assert doc.previous is not None and doc.previous.injured == 2
    assert doc.sitrep.figures.injured == 5 and doc.extra["case_number"] == "2026-000001"
    assert sitreps.document(town, first).previous is None
    with pytest.raises(NotFound):
        sitreps.get_sitrep(town, 12345)
    with pytest.raises(InvalidInput):
        sitreps.list_sitreps(town, limit=0)


def test_a_final_report_meets_the_final_obligation_of_a_closed_case(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    sent_initial(town, clock, case)
    clock.advance(hours=1)
    close_case(town, clock, case)
    closed_at = clock.now()
    sitreps.catch_up(town, clock, RULES)
    owed_now = sitreps.open_obligations(town, clock.now())
    [final] = [o for o in owed_now if o.kind is ObligationKind.FINAL]
    assert (final.case_id, final.reason, final.due) == (
        case,
        Reason.CLOSED,
        closed_at + timedelta(hours=24),
    )
    clock.advance(hours=2)
    report = sitreps.draft(town, clock, RULES, OPERATOR, case, ReportKind.FINAL)
    sitreps.sign(town, clock, RULES, OPERATOR, report.id, signer=SIGNER)
    sitreps.send(town, clock, OPERATOR, report.id)
    sitreps.catch_up(town, clock, RULES)
    assert sitreps.open_obligations(town, clock.now()) == []  # the follow-ups it said too
    met = [
        o for o in sitreps.obligations_of(town, clock.now(), case) if o.kind is ObligationKind.FINAL
    ]
    assert [(o.met_by, o.state_at(clock.now())) for o in met] == [(report.id, ObligationState.MET)]


def test_catch_up_moves_in_batches_and_can_stop_after_some(
    town: Database, clock: FixedClock
) -> None:
    sitreps.catch_up(town, clock, RULES)  # the town's own entries
    cases = [fire(town, clock) for _ in range(3)]
    start_at = town.conn.execute("SELECT event_id FROM sitrep_cursor").fetchone()[0]
    assert sitreps.catch_up(town, clock, RULES, batch=1, max_batches=2) == 2
    assert town.conn.execute("SELECT event_id FROM sitrep_cursor").fetchone()[0] > start_at
    assert [o.case_id for o in sitreps.open_obligations(town, clock.now())] == cases[:2]
    assert sitreps.catch_up(town, clock, RULES, batch=1) == 1
    assert [o.case_id for o in sitreps.open_obligations(town, clock.now())] == cases


def test_a_case_is_named_by_its_number_and_a_follow_up_may_go_by_phone(
    town: Database, clock: FixedClock
) -> None:
    case = fire(town, clock)
    number = "2026-000001"
    first = sent_initial(town, clock, number)
    clock.advance(minutes=30)
    phoned = sitreps.phone(
        town, clock, OPERATOR, number, to="区值班室", at=clock.now(), kind=ReportKind.FOLLOWUP
    )
    assert (phoned.case_id, phoned.kind, phoned.name) == (case, ReportKind.FOLLOWUP, "电话报告")
    assert [r.id for r in sitreps.list_sitreps(town, case=number)] == [first, phoned.id]
    assert sitreps.reporting_of(town, number).case_id == case
    doc = sitreps.document(town, phoned.id)
    assert doc.previous is not None  # the written initial report's figures
    with pytest.raises(NotFound):
        sitreps.reporting_of(town, "2026-999999")


def test_the_contact_line_gives_the_officers_phone_from_the_directory(
    town_tree: Database, clock: FixedClock
) -> None:
    """The level above calls back: the drafting officer's number, as dialled in China."""
    db = town_tree
    add_person(db, clock, OPERATOR, NewPerson(name="周值班", phone="13800138000"), key="ZHOU")
    case = fire(db, clock)
    drafted = sitreps.draft(db, clock, RULES, "周值班", case, ReportKind.INITIAL)
    assert drafted.fields["contact"] == "周值班 13800138000"
    other = sitreps.draft(db, clock, RULES, "不在名录", fire(db, clock), ReportKind.INITIAL)
    assert other.fields["contact"] == "不在名录"  # not in the directory: the name alone


def test_the_sweeps_reminders_and_the_fields_entries_do_not_recompute_a_case(
    town: Database, clock: FixedClock
) -> None:
    """At a million cases reminders come due by the thousand each sweep: they, supervision
    and what the field sends cannot change what a case owes, so the cursor passes them by;
    an entry that moves the stage is recomputed."""
    from incidents.supervision import sweep_overdue

    case = fire(town, clock)
    assert sitreps.catch_up(town, clock, RULES) == 1
    clock.advance(days=3)  # past every stage limit: supervised, then reminded
    swept = sweep_overdue(town, clock, Policy())
    clock.advance(hours=3)
    swept2 = sweep_overdue(town, clock, Policy())
    assert (swept.supervised, swept2.reminded) == (1, 1)
    assert sitreps.catch_up(town, clock, RULES) == 0  # supervise, remind: nothing to recompute
    workflow.register(town, clock, Policy(), OPERATOR, case)  # the stage moves: recomputed
    assert sitreps.catch_up(town, clock, RULES) == 1
