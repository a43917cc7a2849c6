"""Drill runs: a call-out run is an exercise mobilization started with it, a scheduled
occurrence starts one run, injects are released on time, the mobilization finishing ends the
run, and a real emergency stops it and tells everyone.

The engine's steps are driven by hand (:func:`tests.unit.mobilization_support.drive`) on the
town's default tree; answers come through the SMS front door, as people give them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from drills.models import DrillKind, NoteKind, Plan, RunState
from drills.plans import add_plan, parse_inject, parse_objective, set_active
from drills.runs import (
    add_note,
    advance,
    end_run,
    get_run,
    injects,
    list_runs,
    notes,
    running,
    start_run,
    stop_run,
)
from mobilization import (
    AttemptKind,
    MobilizationState,
    answer_by_sms,
    attempts_of,
    get_mobilization,
    recipient_rows,
    remove_node,
)
from store.clock import FixedClock, to_iso
from store.errors import InvalidInput, InvalidTransition, NotFound
from tests.support.domain import OPERATOR
from tests.support.town import e164
from tests.unit.mobilization_support import code_of, drive, states


def audit(db: Database, kind: str) -> list[dict[str, Any]]:
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(data) for (data,) in rows]


def notices(db: Database, kind: str) -> dict[str, str]:
    """Who was sent a notice of ``kind`` (by name), and its text."""
    rows = db.conn.execute(
        "SELECT name, text FROM drill_notices WHERE kind = ? ORDER BY name", (kind,)
    )
    return dict(rows.fetchall())


def answer(db: Database, clock: FixedClock, mob_id: int, key: str, yes: bool = True) -> None:
    """``key`` replies to their call-out by SMS with its code, 1 (coming) or 2 (can't)."""
    answer_by_sms(db, clock, e164(key), f"{code_of(db, mob_id, key)} {1 if yes else 2}")


def plan(db: Database, clock: FixedClock, code: str = "CT1", **kw: Any) -> Plan:
    values: dict[str, Any] = {
        "code": code,
        "name": "Grid call tree",
        "kind": DrillKind.NOTIFICATION,
        "scope": ["grid:G01"],
        "organizer": "A",
        "evaluators": ["SEC"],
        "participants": ["L1", "M1"],
        "message": "Flood drill: answer 1 if you can come",
        "objectives": [parse_objective("answer_rate 90% 10m")],
    }
    values.update(kw)
    return add_plan(db, clock, OPERATOR, **values)


def tabletop(db: Database, clock: FixedClock) -> Plan:
    return plan(
        db,
        clock,
        "TT1",
        kind=DrillKind.TABLETOP,
        scope=[],
        message="",
        injects=[parse_inject("0m heavy rain warning"), parse_inject("show 20m road closed")],
        objectives=[parse_objective("milestone name=case logged 3m")],
    )


# ------------------------------------------------------------------------------- starting


def test_a_call_out_run_is_an_exercise_mobilization_of_the_scope(
    town_tree: Database, clock: FixedClock
) -> None:
    plan(town_tree, clock)
    run = start_run(town_tree, clock, OPERATOR, "CT1")
    assert run.state is RunState.RUNNING and run.is_running and run.started_at == clock.now()
    assert run.mobilization_id is not None
    mob = get_mobilization(town_tree, run.mobilization_id)
    assert mob.exercise and mob.targets == ("grid:G01",) and mob.state is MobilizationState.ACTIVE
    assert mob.message == "Flood drill: answer 1 if you can come"
    sent = drive(town_tree, clock)
    assert [m.name for m in sent] == ["L1"] and sent[0].exercise
    (event,) = audit(town_tree, "drill_started")
    assert event["run"] == run.id and event["mobilization"] == mob.id and event["plan"] == "CT1"
    assert running(town_tree) == [run] and list_runs(town_tree, plan="CT1") == [run]


def test_a_run_builds_the_default_tree_when_there_is_none(
    town: Database, clock: FixedClock
) -> None:
    plan(town, clock)
    run = start_run(town, clock, OPERATOR, "CT1")
    assert run.mobilization_id is not None
    assert audit(town, "tree_built") != []


def test_a_scheduled_occurrence_starts_one_run_however_often_it_is_asked(
    town_tree: Database, clock: FixedClock
) -> None:
    p = plan(town_tree, clock)
    schedule_id = town_tree.conn.execute(
        "INSERT INTO drill_schedules (plan_id, start, zone, created_at, created_by)"
        " VALUES (?, '2026-11-26T10:00', 'Asia/Shanghai', ?, ?)",
        (p.id, to_iso(clock.now()), OPERATOR),
    ).lastrowid
    assert schedule_id is not None
    occurrence = clock.now()
    clock.advance(minutes=2)
    first = start_run(
        town_tree, clock, "engine", p, schedule_id=schedule_id, occurrence=occurrence, late_s=120
    )
    again = start_run(
        town_tree, clock, "engine", p, schedule_id=schedule_id, occurrence=occurrence, late_s=120
    )
    assert again == first and first.late_s == 120 and first.occurrence == occurrence
    assert len(list_runs(town_tree)) == 1 and len(audit(town_tree, "drill_started")) == 1
    with pytest.raises(InvalidInput, match="names its schedule and its occurrence"):
        start_run(town_tree, clock, OPERATOR, p, schedule_id=schedule_id)


def test_an_inactive_plan_is_not_run_nor_one_already_running_started_by_hand(
    town_tree: Database, clock: FixedClock
) -> None:
    plan(town_tree, clock)
    run = start_run(town_tree, clock, OPERATOR, "CT1")
    with pytest.raises(InvalidTransition, match=f"already running \\(run {run.id}\\)"):
        start_run(town_tree, clock, OPERATOR, "CT1")
    set_active(town_tree, clock, OPERATOR, "CT1", False)
    end_run(town_tree, clock, OPERATOR, run.id)
    with pytest.raises(InvalidTransition, match="inactive"):
        start_run(town_tree, clock, OPERATOR, "CT1")
    with pytest.raises(NotFound):
        start_run(town_tree, clock, OPERATOR, "NOPE")
    assert len(list_runs(town_tree)) == 1


def test_a_call_out_that_cannot_start_leaves_no_run(town_tree: Database, clock: FixedClock) -> None:
    plan(town_tree, clock)
    remove_node(town_tree, clock, OPERATOR, "default", "grid-G01", cascade=True)
    with pytest.raises(InvalidInput, match="grid:G01 has no node"):
        start_run(town_tree, clock, OPERATOR, "CT1")
    assert list_runs(town_tree) == []
    assert town_tree.conn.execute("SELECT count(*) FROM mobilizations").fetchone() == (0,)


# ------------------------------------------------------------------------------- ending


def test_the_run_ends_when_its_mobilization_is_over(town_tree: Database, clock: FixedClock) -> None:
    plan(town_tree, clock, scope=["grid:G02"])
    run = start_run(town_tree, clock, OPERATOR, "CT1")
    assert run.mobilization_id is not None
    drive(town_tree, clock)
    assert advance(town_tree, clock) == 0  # L2 has not answered: the call-out goes on
    clock.advance(minutes=3)
    answer(town_tree, clock, run.mobilization_id, "L2")
    finished = get_mobilization(town_tree, run.mobilization_id)
    assert finished.state is MobilizationState.COMPLETED
    clock.advance(seconds=30)
    assert advance(town_tree, clock) == 1
    ended = get_run(town_tree, run.id)
    assert ended.state is RunState.ENDED and ended.ended_at == finished.finished_at
    (event,) = audit(town_tree, "drill_ended")
    assert event["mobilization_state"] == "completed"
    assert advance(town_tree, clock) == 0 and running(town_tree) == []


def test_a_field_drill_outlasts_its_call_out_until_its_script_is_done(
    town_tree: Database, clock: FixedClock
) -> None:
    plan(
        town_tree,
        clock,
        kind=DrillKind.FULL_SCALE,
        scope=["grid:G02"],
        injects=[parse_inject("30m the dyke leaks")],
    )
    run = start_run(town_tree, clock, OPERATOR, "CT1")
    assert run.mobilization_id is not None
    drive(town_tree, clock)
    answer(town_tree, clock, run.mobilization_id, "L2")
    clock.advance(minutes=5)
    assert advance(town_tree, clock) == 0
    assert get_run(town_tree, run.id).is_running
    clock.advance(minutes=25)
    assert advance(town_tree, clock) == 2  # the inject released, then the run ended
    assert get_run(town_tree, run.id).state is RunState.ENDED
    assert set(notices(town_tree, "inject")) == {"L1", "M1", "SEC"}


def test_the_officer_ends_a_run_and_its_call_out_is_cancelled(
    town_tree: Database, clock: FixedClock
) -> None:
    plan(town_tree, clock)
    run = start_run(town_tree, clock, OPERATOR, "CT1")
    assert run.mobilization_id is not None
    drive(town_tree, clock)
    clock.advance(minutes=4)
    ended = end_run(town_tree, clock, OPERATOR, run.id)
    assert ended.state is RunState.ENDED and ended.ended_at == clock.now()
    mob = get_mobilization(town_tree, run.mobilization_id)
    assert mob.state is MobilizationState.CANCELLED
    (event,) = audit(town_tree, "drill_ended")
    assert event["cancelled"] and event["told"] == 1
    with pytest.raises(InvalidTransition, match="only a running drill can be ended"):
        end_run(town_tree, clock, OPERATOR, run.id)


def test_a_real_emergency_stops_the_drill_and_tells_everyone(
    town_tree: Database, clock: FixedClock
) -> None:
    plan(town_tree, clock, injects=[parse_inject("10m the river rises")])
    run = start_run(town_tree, clock, OPERATOR, "CT1")
    assert run.mobilization_id is not None
    drive(town_tree, clock)
    answer(town_tree, clock, run.mobilization_id, "L1")
    drive(town_tree, clock)  # L1 said yes: M1, M2 and V1 are called
    clock.advance(minutes=1)
    stopped = stop_run(town_tree, clock, OPERATOR, run.id, "real flood at the dyke")
    assert stopped.state is RunState.STOPPED and stopped.stop_reason == "real flood at the dyke"
    assert get_mobilization(town_tree, run.mobilization_id).state is MobilizationState.CANCELLED
    assert states(town_tree, run.mobilization_id) == {
        "L1": "yes",
        "M1": "cancelled",
        "M2": "cancelled",
        "V1": "cancelled",
    }
    told = [
        r["key"]
        for r in recipient_rows(town_tree, run.mobilization_id)
        if any(a["kind"] is AttemptKind.CANCEL for a in attempts_of(town_tree, r["id"]))
    ]
    assert sorted(told) == ["M1", "M2", "V1"]
    sent = notices(town_tree, "stopped")
    assert sorted(sent) == ["A", "L1", "M1", "SEC"]
    assert "DRILL STOPPED" in sent["A"] and "real flood at the dyke" in sent["A"]
    (event,) = audit(town_tree, "drill_stopped")
    assert event["told"] == 3 and event["notices"] == 4
    clock.advance(minutes=20)
    assert advance(town_tree, clock) == 0  # the inject due at 10 min is never released
    assert injects(town_tree, run.id)[0][4] is None
    with pytest.raises(InvalidTransition, match="only a running drill can be stopped"):
        stop_run(town_tree, clock, OPERATOR, run.id, "again")
    with pytest.raises(InvalidInput) as err:
        stop_run(town_tree, clock, OPERATOR, run.id, " ")
    assert err.value.field == "reason"


# ------------------------------------------------------------------------------- injects, notes


def test_a_tabletop_run_releases_its_injects_on_time(town: Database, clock: FixedClock) -> None:
    tabletop(town, clock)
    run = start_run(town, clock, OPERATOR, "TT1")
    assert run.mobilization_id is None
    script = injects(town, run.id)
    assert [(pos, due - run.started_at, send) for pos, due, _t, send, _r in script] == [
        (1, timedelta(0), True),
        (2, timedelta(minutes=20), False),
    ]
    assert advance(town, clock) == 1
    sent = notices(town, "inject")
    assert sorted(sent) == ["L1", "M1", "SEC"]  # participants and evaluators
    assert sent["L1"].endswith("Grid call tree: heavy rain warning") and "DRILL" in sent["L1"]
    clock.advance(minutes=19)
    assert advance(town, clock) == 0
    clock.advance(minutes=1)
    assert advance(town, clock) == 1
    assert [r for *_x, r in injects(town, run.id)] == [run.started_at, clock.now()]
    assert len(notices(town, "inject")) == 3  # the second was shown, not sent
    assert get_run(town, run.id).is_running  # a tabletop run is ended by the officer


def test_notes_and_milestones_are_kept_in_time_order(town: Database, clock: FixedClock) -> None:
    p = tabletop(town, clock)
    run = start_run(town, clock, OPERATOR, "TT1")
    clock.advance(minutes=5)
    late = add_note(town, clock, "eval", run.id, "observation", "the map was\nout of date")
    early = add_note(
        town,
        clock,
        "eval",
        run.id,
        NoteKind.MILESTONE,
        "case logged",
        at=run.started_at + timedelta(minutes=2),
        objective_id=p.objectives[0].id,
    )
    assert notes(town, run.id) == [early, late]
    assert early.kind is NoteKind.MILESTONE and early.by == "eval"
    assert audit(town, "drill_noted")[1]["milestone"] == "case logged"
    for kwargs, field in (
        ({"at": run.started_at - timedelta(minutes=1)}, "at"),
        ({"at": clock.now() + timedelta(hours=1)}, "at"),
        ({"at": clock.now().replace(tzinfo=None)}, "at"),
        ({"objective_id": 999}, "objective"),
    ):
        with pytest.raises(InvalidInput) as err:
            add_note(town, clock, "eval", run.id, "strength", "good", **kwargs)
        assert err.value.field == field
    with pytest.raises(InvalidInput) as err:
        add_note(town, clock, "eval", run.id, "gossip", "x")
    assert err.value.field == "kind"
    with pytest.raises(NotFound):
        add_note(town, clock, "eval", 999, "strength", "good")
