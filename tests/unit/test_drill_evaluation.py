"""Evaluating drills: the figures of a run's call-out, the proposed ratings at their boundaries,
the evaluator's confirmation, improvement items closed only by a later run that meets the
objective, and a plan's trend with the people silent twice in a row.

Two runs of one call-tree plan over grids G01 and G02, a month apart, answered by SMS at set
minutes (the engine's steps driven by hand): the first poor (only L1 answers, after 2 minutes),
the second better (everyone but the volunteer V1 within 4 minutes).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from drills.evaluation import RunMetrics, evaluation, measure, propose, rate
from drills.improvements import (
    add_improvement,
    close_by_retest,
    get_improvement,
    list_improvements,
    mark_done,
    overdue,
    remind_overdue,
)
from drills.models import (
    Element,
    GroupFigure,
    ImprovementState,
    Metric,
    Metrics,
    NoteKind,
    Objective,
    Rating,
    Run,
    RunState,
)
from drills.plans import add_plan, parse_objective
from drills.runs import add_note, end_run, get_run, start_run, stop_run
from drills.trends import trend
from mobilization import answer_by_sms
from store.clock import FixedClock
from store.errors import InvalidInput, InvalidTransition
from tests.support.domain import OPERATOR
from tests.support.town import e164
from tests.unit.mobilization_support import code_of, drive

OBJECTIVES = (
    "answer_rate 90% 10m",
    "reach 100% 5m",
    "first_answer 3m",
    "answer_rate 100% 5m level=0: grid leaders within 5 minutes",
    "free: the duty officer kept the log",
)


def audit(db: Database, kind: str) -> list[dict[str, Any]]:
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(data) for (data,) in rows]


def drill(db: Database, clock: FixedClock, answers: dict[str, int]) -> Run:
    """One run of plan CT1: each key in ``answers`` says yes that many minutes after the start
    (in minute order, the engine stepping each minute); ended at 8 minutes."""
    run = start_run(db, clock, OPERATOR, "CT1")
    assert run.mobilization_id is not None
    start = clock.now()
    drive(db, clock)
    for minute in range(1, 9):
        clock.set(start + timedelta(minutes=minute))
        for key, at in answers.items():
            if at == minute:
                code = code_of(db, run.mobilization_id, key)
                answer_by_sms(db, clock, e164(key), f"{code} 1")
        if minute < 5:  # nobody's time-out (5 min) falls due: no re-sends to count
            drive(db, clock)
    return end_run(db, clock, OPERATOR, run.id)


@pytest.fixture
def two_runs(town_tree: Database, clock: FixedClock) -> tuple[Database, Run, Run]:
    """Plan CT1 and its two runs, the second better than the first."""
    add_plan(
        town_tree,
        clock,
        OPERATOR,
        code="CT1",
        name="Monthly call tree",
        kind="notification",
        scope=["grid:G01", "grid:G02"],
        organizer="A",
        evaluators=["SEC"],
        message="Drill: answer 1",
        objectives=[parse_objective(o) for o in OBJECTIVES],
    )
    first = drill(town_tree, clock, {"L1": 2})
    clock.advance(days=30)
    second = drill(town_tree, clock, {"L1": 1, "L2": 2, "M1": 3, "M2": 4})
    return town_tree, first, second


def objective_ids(db: Database) -> list[int]:
    return [int(r[0]) for r in db.conn.execute("SELECT id FROM drill_objectives ORDER BY id")]


# ------------------------------------------------------------------------------- measuring


def test_a_run_is_measured_per_grid_and_level_with_the_silent_masked(
    two_runs: tuple[Database, Run, Run],
) -> None:
    db, first, second = two_runs
    m = measure(db, second.id)
    assert (m.called, m.yes, m.no, m.silent) == (5, 4, 0, 1)
    assert m.answer_rate == 80.0 and m.first_answer_s == 60.0
    # once called: L1 1 min, L2 2 min, M1 2 min, M2 3 min (the members were called at 1 min)
    assert m.p50_s == 120.0 and m.p90_s == 162.0
    g01, g02 = m.by_group
    assert (g01.key, g01.called, g01.yes, g01.silent, g01.first_s) == ("G01", 4, 3, 1, 60.0)
    assert (g02.key, g02.called, g02.yes, g02.first_s) == ("G02", 1, 1, 120.0)
    assert [(g.key, g.called, g.yes) for g in m.by_level] == [("level 0", 2, 2), ("level 1", 3, 2)]
    (silent,) = m.never_answered
    assert silent.name == "V1" and silent.phone_masked == "138****8007"
    assert silent.person_id is not None and "G01" in silent.node
    poor = measure(db, first.id)
    assert (poor.called, poor.yes, poor.silent) == (5, 1, 4)
    assert [s.name for s in poor.never_answered] == ["L2", "M1", "M2", "V1"]
    assert poor.to_json()["answer_rate"] == 20.0 and "yes_at_s" not in poor.to_json()


def test_the_evaluation_proposes_ratings_from_the_figures(
    two_runs: tuple[Database, Run, Run],
) -> None:
    db, first, second = two_runs
    poor = [(r.value, r.proposed) for r in evaluation(db, first.id).results]
    assert poor == [
        (20.0, Rating.U),
        (50.0, Rating.U),
        (2.0, Rating.P),
        (50.0, Rating.U),
        (None, None),
    ]
    better = evaluation(db, second.id)
    assert [(r.value, r.proposed) for r in better.results] == [
        (80.0, Rating.S),  # 10 points below the target: some challenges
        (100.0, Rating.P),
        (1.0, Rating.P),
        (100.0, Rating.P),
        (None, None),
    ]
    assert not better.complete and better.run == second and better.plan.code == "CT1"


def test_milestones_are_minutes_from_the_start(town: Database, clock: FixedClock) -> None:
    add_plan(
        town,
        clock,
        OPERATOR,
        code="TT1",
        name="Flood tabletop",
        kind="tabletop",
        organizer="A",
        objectives=[parse_objective("milestone name=case_logged 3m")],
    )
    run = start_run(town, clock, OPERATOR, "TT1")
    clock.advance(minutes=5)
    add_note(
        town,
        clock,
        "eval",
        run.id,
        NoteKind.MILESTONE,
        "Case logged",
        at=run.started_at + timedelta(minutes=2, seconds=30),
    )
    add_note(town, clock, "eval", run.id, NoteKind.MILESTONE, "case logged")  # again, later
    m = measure(town, run.id)
    assert m.milestones == {"case logged": 2.5} and m.called == 0
    (result,) = evaluation(town, run.id).results
    assert (result.value, result.proposed) == (2.5, Rating.P)


# ------------------------------------------------------------------------------- proposing


def objective(metric: Metric, **kw: Any) -> Objective:
    return Objective(id=1, position=1, text="", metric=metric, **kw)


@pytest.mark.parametrize(
    ("yes", "rating"),
    [
        (100, Rating.P),
        (90, Rating.P),
        (89, Rating.S),
        (80, Rating.S),
        (79, Rating.M),
        (65, Rating.M),
        (64, Rating.U),
        (0, Rating.U),
    ],
)
def test_a_rate_is_rated_by_points_below_its_target(yes: int, rating: Rating) -> None:
    metrics = RunMetrics(
        run_id=1,
        called=100,
        yes=yes,
        by_level=(GroupFigure("level 0", 100, yes, 0, 100 - yes, None, None),),
        yes_at_s={0: (60.0,) * yes},
    )
    goal = objective(Metric.ANSWER_RATE, target=90.0, within_min=10.0)
    assert propose(goal, metrics) == (float(yes), rating)
    assert (
        propose(objective(Metric.ANSWER_RATE, target=90.0, within_min=10.0, level=0), metrics)[1]
        is rating
    )


def test_a_yes_after_the_time_limit_does_not_count() -> None:
    metrics = RunMetrics(run_id=1, called=4, yes=4, yes_at_s={0: (60.0, 120.0, 600.0, 601.0)})
    assert propose(objective(Metric.ANSWER_RATE, target=75.0, within_min=10.0), metrics) == (
        75.0,
        Rating.P,
    )
    assert propose(objective(Metric.ANSWER_RATE, target=75.0, within_min=1.0), metrics) == (
        25.0,
        Rating.U,
    )
    assert propose(
        objective(Metric.ANSWER_RATE, target=75.0, within_min=10.0, level=2), metrics
    ) == (None, None)


@pytest.mark.parametrize(
    ("seconds", "rating"),
    [
        (30, Rating.P),
        (240, Rating.P),
        (300, Rating.S),
        (301, Rating.M),
        (360, Rating.M),
        (361, Rating.U),
    ],
)
def test_a_time_is_rated_by_how_far_past_its_limit(seconds: int, rating: Rating) -> None:
    metrics = Metrics(run_id=1, called=3, yes=1, first_answer_s=float(seconds))
    value, proposed = propose(objective(Metric.FIRST_ANSWER, within_min=4.0), metrics)
    assert proposed is rating and value == round(seconds / 60, 2)


def test_what_a_run_cannot_measure_is_left_to_the_evaluator() -> None:
    empty = Metrics(run_id=1)
    assert propose(objective(Metric.FREE), empty) == (None, None)
    assert propose(objective(Metric.FIRST_ANSWER, within_min=3.0), empty) == (None, None)
    assert propose(objective(Metric.REACH, target=100.0, within_min=5.0), empty) == (None, None)
    assert propose(objective(Metric.MILESTONE, name="case logged", within_min=3.0), empty) == (
        None,
        None,
    )
    silent = Metrics(run_id=1, called=5, silent=5)
    assert propose(objective(Metric.FIRST_ANSWER, within_min=3.0), silent) == (None, Rating.U)
    # a plain Metrics carries no answer times: an answer rate cannot be measured from it
    assert propose(objective(Metric.ANSWER_RATE, target=90.0, within_min=10.0), silent) == (
        None,
        None,
    )


# ------------------------------------------------------------------------------- rating


def test_ratings_are_confirmed_with_reasons_and_complete_the_evaluation(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, _first, second = two_runs
    rate_, reach, first_answer, leaders, free = objective_ids(db)
    with pytest.raises(InvalidInput, match="differs from the proposed S") as err:
        rate(db, clock, "eval", second.id, rate_, "P")
    assert err.value.field == "reason"
    result = rate(db, clock, "eval", second.id, rate_, "p", "the volunteer was on leave")
    assert result.rating is Rating.P and result.proposed is Rating.S and result.value == 80.0
    rate(db, clock, "eval", second.id, reach, Rating.P)
    rate(db, clock, "eval", second.id, first_answer, "P")
    rate(db, clock, "eval", second.id, leaders, "P")
    with pytest.raises(InvalidInput, match="M needs a reason"):
        rate(db, clock, "eval", second.id, free, "M")
    assert get_run(db, second.id).state is RunState.ENDED
    rate(db, clock, "eval", second.id, free, "S")  # met: no reason needed for a free objective
    assert get_run(db, second.id).state is RunState.EVALUATED
    ev = evaluation(db, second.id)
    assert ev.complete and [r.rating for r in ev.results] == [
        Rating.P,
        Rating.P,
        Rating.P,
        Rating.P,
        Rating.S,
    ]
    assert ev.results[0].reason == "the volunteer was on leave" and ev.results[0].rated_by == "eval"
    events = audit(db, "drill_rated")
    assert len(events) == 5 and events[-1]["evaluated"] and events[0]["proposed"] == "S"
    with pytest.raises(InvalidInput) as err:
        rate(db, clock, "eval", second.id, free, "X")
    assert err.value.field == "rating"
    with pytest.raises(InvalidInput) as err:
        rate(db, clock, "eval", second.id, 999, "P")
    assert err.value.field == "objective"


def test_a_running_drill_is_not_rated(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, _first, _second = two_runs
    run = start_run(db, clock, OPERATOR, "CT1")
    with pytest.raises(InvalidTransition, match="still running"):
        rate(db, clock, "eval", run.id, objective_ids(db)[0], "U")


# ------------------------------------------------------------------------------- improvements


def test_an_improvement_is_closed_only_by_a_later_run_that_meets_its_objective(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, first, second = two_runs
    answer_rate = objective_ids(db)[0]
    item = add_improvement(
        db,
        clock,
        OPERATOR,
        first.id,
        issue="grid members did not answer",
        action="train the members to answer by SMS",
        element="training",
        owner="SEC",
        due=clock.now() + timedelta(days=20),
        objective_id=answer_rate,
    )
    assert (
        item.state is ImprovementState.OPEN
        and item.owner_name == "SEC"
        and item.element is Element.TRAINING
    )
    rate(db, clock, "eval", first.id, answer_rate, "U")  # the run that found it proves nothing
    assert get_improvement(db, item.id).state is ImprovementState.OPEN
    with pytest.raises(InvalidTransition, match="not rated met in run"):
        close_by_retest(db, clock, OPERATOR, item.id, second.id)
    mark_done(db, clock, "SEC", item.id, "two sessions held")
    assert get_improvement(db, item.id).state is ImprovementState.DONE
    rate(db, clock, "eval", second.id, answer_rate, "S")
    closed = get_improvement(db, item.id)
    assert closed.state is ImprovementState.CLOSED and closed.closed_by_run == second.id
    assert audit(db, "drill_improvement_closed")[0]["by"] == "rating"
    rate(db, clock, "eval", second.id, answer_rate, "M", "on a second look, too many silent")
    assert get_improvement(db, item.id).state is ImprovementState.DONE  # reopened, still done
    assert audit(db, "drill_rated")[-1]["reopened"] == [item.id]
    rate(db, clock, "eval", second.id, answer_rate, "S")
    assert get_improvement(db, item.id).state is ImprovementState.CLOSED
    with pytest.raises(InvalidTransition, match="was closed by run"):
        close_by_retest(db, clock, OPERATOR, item.id, second.id)


def test_an_item_without_an_objective_is_closed_by_a_later_ended_run(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, first, second = two_runs
    item = add_improvement(
        db,
        clock,
        OPERATOR,
        first.id,
        issue="the duty phone was on silent",
        action="a ring check at each handover",
        element=Element.EQUIPMENT,
        owner="A",
        due=clock.now() + timedelta(days=7),
    )
    with pytest.raises(InvalidInput, match="not later than run") as err:
        close_by_retest(db, clock, OPERATOR, item.id, first.id)
    assert err.value.field == "run"
    closed = close_by_retest(db, clock, OPERATOR, item.id, second.id)
    assert closed.state is ImprovementState.CLOSED and closed.closed_by_run == second.id
    assert list_improvements(db, plan="CT1", open_only=True) == []
    assert [i.id for i in list_improvements(db, state=ImprovementState.CLOSED)] == [item.id]
    assert [i.id for i in evaluation(db, first.id).improvements] == [item.id]


def test_an_item_is_checked_when_it_is_added(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, first, _second = two_runs
    good: dict[str, Any] = {
        "issue": "x",
        "action": "y",
        "element": "planning",
        "owner": "SEC",
        "due": clock.now() + timedelta(days=1),
    }
    for change, field in (
        ({"owner": "Nobody"}, "owner"),
        ({"element": "luck"}, "element"),
        ({"due": clock.now().replace(tzinfo=None)}, "due"),
        ({"due": clock.now() - timedelta(days=1)}, "due"),
        ({"issue": " "}, "issue"),
        ({"objective_id": 999}, "objective"),
    ):
        with pytest.raises(InvalidInput) as err:
            add_improvement(db, clock, OPERATOR, first.id, **{**good, **change})
        assert err.value.field == field
    assert list_improvements(db) == []


def test_an_overdue_item_reminds_its_owner_once(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, first, _second = two_runs
    late = add_improvement(
        db,
        clock,
        OPERATOR,
        first.id,
        issue="a",
        action="fix the roster",
        element="planning",
        owner="SEC",
        due=clock.now() + timedelta(days=1),
    )
    done = add_improvement(
        db,
        clock,
        OPERATOR,
        first.id,
        issue="b",
        action="buy radios",
        element="equipment",
        owner="A",
        due=clock.now() + timedelta(days=1),
    )
    mark_done(db, clock, "A", done.id)
    assert remind_overdue(db, clock) == 0 and overdue(db, clock.now()) == []
    clock.advance(days=2)
    assert [i.id for i in overdue(db, clock.now())] == [late.id]
    assert remind_overdue(db, clock) == 1
    assert remind_overdue(db, clock) == 0
    rows = db.conn.execute("SELECT name, kind, text FROM drill_notices").fetchall()
    assert [(name, kind) for name, kind, _text in rows] == [("SEC", "improvement")]
    assert "fix the roster" in rows[0][2] and "OVERDUE" in rows[0][2]
    with pytest.raises(InvalidTransition, match="only an open one"):
        mark_done(db, clock, "A", done.id)


# ------------------------------------------------------------------------------- trends


def test_the_trend_sets_runs_side_by_side_and_names_who_missed_both(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, first, second = two_runs
    rate(db, clock, "eval", first.id, objective_ids(db)[0], "U")
    t = trend(db, "CT1")
    assert [p.run_id for p in t.points] == [first.id, second.id]
    assert [p.answer_rate for p in t.points] == [20.0, 80.0]
    assert [(p.silent, p.silent_again) for p in t.points] == [(4, 0), (1, 1)]
    assert [p.p50_s for p in t.points] == [120.0, 120.0]
    assert t.points[0].ratings[objective_ids(db)[0]] == "U"
    assert t.points[1].ratings[objective_ids(db)[0]] == "S"  # proposed, not yet confirmed
    assert [s.name for s in t.missed_twice] == ["V1"]
    assert t.missed_twice[0].phone_masked == "138****8007"
    (latest,) = trend(db, "CT1", limit=1).points
    assert latest.run_id == second.id and latest.silent_again == 1


def test_a_running_or_stopped_run_is_left_out_of_the_trend(
    two_runs: tuple[Database, Run, Run], clock: FixedClock
) -> None:
    db, first, second = two_runs
    clock.advance(days=30)
    stopped = start_run(db, clock, OPERATOR, "CT1")
    stop_run(db, clock, OPERATOR, stopped.id, "a real fire")
    for objective_id in objective_ids(db):
        rate(db, clock, "eval", stopped.id, objective_id, "U", "stopped by a real fire")
    assert get_run(db, stopped.id).state is RunState.EVALUATED
    start_run(db, clock, OPERATOR, "CT1")
    t = trend(db, "CT1")
    assert [p.run_id for p in t.points] == [first.id, second.id]
    assert [s.name for s in t.missed_twice] == ["V1"]
