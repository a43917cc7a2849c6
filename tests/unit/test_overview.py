"""The dashboard's reads: active cases by stage and by level, and the live feed of the timeline."""

from __future__ import annotations

from datetime import timedelta

from sqlite_utils import Database

from incidents import workflow
from incidents.limits import Policy
from incidents.models import OPEN_STAGES, Severity, Stage
from incidents.supervision import counts, sweep_overdue
from mobilization import (
    Target,
    build_default_tree,
    cancel_mobilization,
    recipient_rows,
    record_answer,
    start_mobilization,
)
from reports.overview import (
    FeedItem,
    recent_feed,
    severity_counts,
    stage_counts,
)
from store.clock import FixedClock
from tests.conftest import OPERATOR, MakeCase


def direct_stage_counts(db: Database) -> dict[str, int]:
    """The query stage_counts stands for, row by row: what the active queue holds per stage."""
    rows = db.conn.execute(
        "SELECT stage, count(*) FROM incidents WHERE active = 1 GROUP BY stage"
    ).fetchall()
    return {stage: n for stage, n in rows}


def test_stage_counts_are_the_active_queue_per_stage(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    assert stage_counts(db) == dict.fromkeys(OPEN_STAGES, 0)
    make_case(Stage.REPORTED)
    make_case(Stage.REPORTED)
    make_case(Stage.HANDLING)
    handling = make_case(Stage.HANDLING)
    make_case(Stage.VERIFIED)
    make_case(Stage.CLOSED)  # finished: not counted
    voided = make_case(Stage.REPORTED)
    workflow.void(db, clock, policy, OPERATOR, voided.id, "重复上报")
    workflow.park(db, clock, policy, OPERATOR, handling.id, "长期整改")  # out of the queue

    result = stage_counts(db)
    assert list(result) == list(OPEN_STAGES)  # every open stage, in the loop's order
    assert result == {
        Stage.REPORTED: 2,
        Stage.REGISTERED: 0,
        Stage.DISPATCHED: 0,
        Stage.HANDLING: 1,
        Stage.FEEDBACK: 0,
        Stage.VERIFIED: 1,
    }
    assert {s.value: n for s, n in result.items() if n} == direct_stage_counts(db)
    assert sum(result.values()) == counts(db, clock.now()).open - 1  # open = queue + parked

    workflow.unpark(db, clock, policy, OPERATOR, handling.id)
    assert stage_counts(db)[Stage.HANDLING] == 2
    assert {s.value: n for s, n in stage_counts(db).items() if n} == direct_stage_counts(db)


def test_severity_counts_are_of_active_cases_only(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    make_case(severity="I")
    make_case(severity="III")
    make_case(Stage.DISPATCHED, severity="III")
    make_case(Stage.CLOSED, severity="I")
    parked = make_case(Stage.HANDLING, severity="II")
    workflow.park(db, clock, policy, OPERATOR, parked.id, "长期整改")

    assert severity_counts(db) == {Severity.I: 1, Severity.II: 0, Severity.III: 2, Severity.IV: 0}


def test_the_feed_is_newest_first_with_the_case_of_each_report(
    db: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    assert recent_feed(db) == []
    first = make_case(title="井盖缺失", category="facilities", type="manhole", severity="IV")
    clock.advance(minutes=5)
    second = make_case(Stage.REGISTERED, title="厨房起火", severity="I")

    feed = recent_feed(db)
    assert [(i.kind, i.incident_id) for i in feed] == [
        ("report", second.id),
        ("report", first.id),
    ]  # the step to 立案 is not a feed item
    newest = feed[0]
    assert isinstance(newest, FeedItem)
    assert (newest.number, newest.title, newest.severity) == (
        second.number,
        "厨房起火",
        Severity.I,
    )
    assert newest.at == second.reported_at
    assert feed[0].id > feed[1].id


def test_the_feed_reads_after_an_id_up_to_a_limit_within_a_window(
    db: Database, make_case: MakeCase
) -> None:
    cases = [make_case(title=f"第{n}起") for n in range(5)]
    feed = recent_feed(db, limit=3)
    assert [i.incident_id for i in feed] == [c.id for c in reversed(cases)][:3]

    seen = feed[0].id
    assert recent_feed(db, after_id=seen) == []
    newer = make_case(title="又一起")
    assert [i.incident_id for i in recent_feed(db, after_id=seen)] == [newer.id]

    # Only the newest entries are looked at: a report behind the window is not found.
    assert [i.incident_id for i in recent_feed(db, window=1)] == [newer.id]


def test_overdue_cases_enter_the_feed_once_and_reminders_do_not(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.DISPATCHED, severity="II")
    clock.advance(days=30)
    assert sweep_overdue(db, clock, policy).supervised == 1
    clock.advance(days=1)
    assert sweep_overdue(db, clock, policy).reminded == 1

    feed = recent_feed(db)
    assert [i.kind for i in feed] == ["overdue", "report"]
    overdue = feed[0]
    assert (overdue.incident_id, overdue.detail, overdue.severity) == (
        case.id,
        "dispatched",
        Severity.II,
    )


def test_answers_and_mobilizations_name_who_and_the_case(
    town: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    db = town
    build_default_tree(db, clock, OPERATOR, timeout_s=300, repeats=1)
    case = make_case(title="河堤渗水", category="natural_disaster", type="flood", severity="II")
    mob = start_mobilization(
        db,
        clock,
        OPERATOR,
        targets=[Target.parse("grid:G01")],
        message="防汛集结",
        incident_id=case.id,
    )
    code = next(r["code"] for r in recipient_rows(db, mob) if r["key"] == "L1")
    clock.advance(minutes=2)
    record_answer(db, clock, OPERATOR, yes=True, via="console", code=code)
    loose = start_mobilization(
        db, clock, OPERATOR, targets=[Target.parse("grid:G02")], message="消防演练", exercise=True
    )
    cancel_mobilization(db, clock, OPERATOR, loose)

    feed = recent_feed(db)
    assert [(i.kind, i.detail) for i in feed] == [
        ("mobilization", "cancelled"),
        ("mobilization", "started"),
        ("answer", "yes"),
        ("mobilization", "started"),
        ("report", None),
    ]
    cancelled, _, answer, started, _ = feed
    assert (cancelled.mobilization_id, cancelled.incident_id, cancelled.title) == (
        loose,
        None,
        "消防演练",
    )
    assert cancelled.severity is None
    assert (answer.name, answer.mobilization_id, answer.incident_id, answer.number) == (
        "L1",
        mob,
        case.id,
        case.number,
    )
    assert answer.title == "防汛集结" and answer.severity is Severity.II
    assert (started.mobilization_id, started.incident_id) == (mob, case.id)
    assert answer.at - started.at == timedelta(minutes=2)
