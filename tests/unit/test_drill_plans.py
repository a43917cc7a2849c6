"""Drill plans: the one-line objective and inject syntax, people stored by key, the scope checked
against the contact tree, edits that keep unchanged objectives, and the audit entries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlite_utils import Database

from drills.models import DrillKind, Hours, Inject, Metric
from drills.plans import (
    ObjectiveSpec,
    add_plan,
    edit_plan,
    get_plan,
    list_plans,
    parse_inject,
    parse_objective,
    set_active,
)
from store.clock import FixedClock
from store.errors import InvalidInput, NotFound
from tests.support.domain import OPERATOR
from tests.support.town import e164


def audit(db: Database, kind: str) -> list[dict[str, Any]]:
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(data) for (data,) in rows]


def call_tree(db: Database, clock: FixedClock, **kw: Any) -> Any:
    values: dict[str, Any] = {
        "code": "CT1",
        "name": "Monthly call tree",
        "kind": DrillKind.NOTIFICATION,
        "scope": ["grid:G01", "grid:G02"],
        "organizer": "A",
        "evaluators": ["SEC"],
        "participants": ["L1", "L2"],
        "message": "Drill: answer 1 if you can come",
        "objectives": [parse_objective("answer_rate 90% 10m"), parse_objective("reach 100% 5m")],
    }
    values.update(kw)
    return add_plan(db, clock, OPERATOR, **values)


# ------------------------------------------------------------------------------- the syntax


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "answer_rate 90% 10m level=1: grid leaders answer",
            ObjectiveSpec(Metric.ANSWER_RATE, "grid leaders answer", 90.0, 10.0, 1),
        ),
        (
            "reach 100% 5m",
            ObjectiveSpec(Metric.REACH, "≥ 100 % of grids answer within 5 min", 100, 5),
        ),
        (
            "first-answer 90s",
            ObjectiveSpec(Metric.FIRST_ANSWER, "first answer within 1.5 min", None, 1.5),
        ),
        (
            "milestone name=case logged 3m: the officer logs it",
            ObjectiveSpec(Metric.MILESTONE, "the officer logs it", None, 3.0, None, "case logged"),
        ),
        (
            "ANSWER_RATE 80% 1h",
            ObjectiveSpec(Metric.ANSWER_RATE, "≥ 80 % answer yes within 60 min", 80, 60),
        ),
        (
            "free: the command post coordinates",
            ObjectiveSpec(Metric.FREE, "the command post coordinates"),
        ),
    ],
)
def test_an_objective_is_read_from_its_one_line_form(text: str, expected: ObjectiveSpec) -> None:
    assert parse_objective(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "write METRIC"),
        ("speed 90% 10m", "unknown measure 'speed'"),
        ("answer_rate 10m", "needs a target such as 90%"),
        ("answer_rate 90%", "needs a time such as 10m"),
        ("answer_rate 120% 10m", "at most 100"),
        ("answer_rate 90% 0m", "a time must be above 0"),
        ("answer_rate 90% 10m 20m", "'20m' is given twice"),
        ("answer_rate 90% 10m level=x", "level is a tree level"),
        ("reach 90% 10m level=1", "level= applies to answer_rate only"),
        ("first_answer 50% 3m", "takes a time, not a percentage"),
        ("milestone 3m", "milestone needs name="),
        ("first_answer 3m name=x", "name= applies to milestone only"),
        ("free", "free needs its text"),
        ("free 10m: chat", "free takes no target"),
        ("answer_rate 90% soon", "'soon' is not understood"),
    ],
)
def test_a_bad_objective_is_refused_naming_the_field_and_the_fault(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_objective(text, "objective 2")
    assert err.value.field == "objective 2"
    assert words in str(err.value)


def test_an_inject_is_a_time_and_a_text_and_show_keeps_it_on_the_console() -> None:
    assert parse_inject("10m the river passes the warning level") == Inject(
        10.0, "the river passes the warning level", True
    )
    assert parse_inject("show 1h road closed") == Inject(60.0, "road closed", False)
    for bad in ("", "10m", "soon flood", "show", "8d too late"):
        with pytest.raises(InvalidInput) as err:
            parse_inject(bad)
        assert err.value.field == "inject"


# ------------------------------------------------------------------------------- adding


def test_a_plan_stores_people_by_key_and_audits_the_addition(
    town_tree: Database, clock: FixedClock
) -> None:
    plan = call_tree(town_tree, clock, organizer=e164("A"), evaluators=["SEC", "#3", "SEC"])
    assert plan.organizer == "A" and plan.evaluators == ("SEC",)
    assert plan.participants == ("L1", "L2")
    assert plan.scope == ("grid:G01", "grid:G02")
    assert [o.position for o in plan.objectives] == [1, 2]
    assert plan.objectives[0].metric is Metric.ANSWER_RATE
    assert plan.reminders_min == (10080, 1440, 60)
    assert plan.hours is Hours.ANY and plan.announced and plan.active
    (event,) = audit(town_tree, "drill_plan_added")
    assert event["plan"] == "CT1" and event["organizer"] == "A"
    assert event["objectives"] == [o.text for o in plan.objectives]
    assert get_plan(town_tree, "CT1") == plan == get_plan(town_tree, plan.id)
    assert get_plan(town_tree, str(plan.id)) == plan


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"organizer": "Nobody"}, "organizer", "no person Nobody"),
        ({"participants": ["L1", "ZZ"]}, "participants", "no person ZZ"),
        ({"scope": ["G01"]}, "scope", "is not grid:CODE"),
        ({"scope": ["grid:G09"]}, "scope", "grid:G09 has no node in contact tree default"),
        ({"scope": ["team:NOPE"]}, "scope", "team:NOPE has no node"),
        ({"scope": []}, "scope", "calls people out"),
        ({"message": "  "}, "message", "give the message"),
        ({"kind": "parade"}, "kind", "unknown drill kind"),
        ({"hours": "noon"}, "hours", "is not one of any, working, after"),
        ({"code": "bad code"}, "code", "use letters, digits"),
        ({"tree": "other"}, "tree", "contact tree 'other' has no nodes"),
        ({"reminders_min": [0]}, "reminders", "between 1 minute and 60 days"),
        ({"name": ""}, "name", "must not be empty"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(
    town_tree: Database, clock: FixedClock, changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        call_tree(town_tree, clock, **changes)
    assert err.value.field == field
    assert words in str(err.value)
    assert list_plans(town_tree, active=None) == []


def test_a_code_is_taken_once(town_tree: Database, clock: FixedClock) -> None:
    call_tree(town_tree, clock)
    with pytest.raises(InvalidInput, match="already exists"):
        call_tree(town_tree, clock, name="again")


def test_before_the_default_tree_exists_grids_and_teams_are_checked_in_their_tables(
    town: Database, clock: FixedClock
) -> None:
    plan = call_tree(town, clock, scope=["grid:G01", "team:T-RESCUE"])
    assert plan.scope == ("grid:G01", "team:T-RESCUE")
    for scope, words in ((["grid:G09"], "no unit G09"), (["grid:COMX"], "no unit")):
        with pytest.raises(InvalidInput, match=words) as err:
            call_tree(town, clock, code="CT2", scope=scope)
        assert err.value.field == "scope"
    with pytest.raises(InvalidInput, match="is not a grid"):
        call_tree(town, clock, code="CT3", scope=["grid:330106001001"])


def test_a_tabletop_plan_needs_no_scope_or_message(town: Database, clock: FixedClock) -> None:
    plan = call_tree(
        town,
        clock,
        code="TT1",
        kind="tabletop",
        scope=[],
        message="",
        injects=[parse_inject("20m road closed"), parse_inject("5m river rising")],
        objectives=[parse_objective("free: the command post coordinates")],
    )
    assert plan.kind is DrillKind.TABLETOP and plan.scope == ()
    assert [i.at_min for i in plan.injects] == [5.0, 20.0]  # in the order they come


def test_a_kind_may_be_given_by_its_label_or_chinese_name(
    town_tree: Database, clock: FixedClock
) -> None:
    assert call_tree(town_tree, clock, code="A1", kind="call-tree").kind is DrillKind.NOTIFICATION
    assert call_tree(town_tree, clock, code="A2", kind="full-scale").kind is DrillKind.FULL_SCALE
    assert call_tree(town_tree, clock, code="A3", kind="桌面推演").kind is DrillKind.TABLETOP


# ------------------------------------------------------------------------------- editing


def test_editing_objectives_keeps_those_given_again_and_retires_the_rest(
    town_tree: Database, clock: FixedClock
) -> None:
    plan = call_tree(town_tree, clock)
    kept, dropped = plan.objectives
    clock.advance(minutes=5)
    edited = edit_plan(
        town_tree,
        clock,
        OPERATOR,
        "CT1",
        name="Call tree (monthly)",
        objectives=[parse_objective("first_answer 3m"), parse_objective("answer_rate 90% 10m")],
        scenario=None,
    )
    assert edited.name == "Call tree (monthly)" and edited.updated_at == clock.now()
    first, again = edited.objectives
    assert again.id == kept.id and again.position == 2
    assert first.metric is Metric.FIRST_ANSWER and first.position == 1
    retired = town_tree.conn.execute(
        "SELECT active FROM drill_objectives WHERE id = ?", (dropped.id,)
    ).fetchone()
    assert retired == (0,)
    (event,) = audit(town_tree, "drill_plan_edited")
    assert event["changed"] == ["name", "objectives"]


def test_an_edit_is_checked_as_an_addition_and_may_not_change_the_code(
    town_tree: Database, clock: FixedClock
) -> None:
    call_tree(town_tree, clock)
    with pytest.raises(InvalidInput) as err:
        edit_plan(town_tree, clock, OPERATOR, "CT1", code="CT9")
    assert err.value.field == "code"
    with pytest.raises(InvalidInput) as err:
        edit_plan(town_tree, clock, OPERATOR, "CT1", colour="red")
    assert err.value.field == "colour"
    with pytest.raises(InvalidInput, match="grid:G07 has no node"):
        edit_plan(town_tree, clock, OPERATOR, "CT1", scope=["grid:G07"])
    with pytest.raises(InvalidInput, match="give the message"):
        edit_plan(town_tree, clock, OPERATOR, "CT1", message="")
    with pytest.raises(NotFound):
        edit_plan(town_tree, clock, OPERATOR, "NOPE", name="x")
    assert get_plan(town_tree, "CT1").scope == ("grid:G01", "grid:G02")


def test_an_edit_that_changes_nothing_writes_nothing(
    town_tree: Database, clock: FixedClock
) -> None:
    plan = call_tree(town_tree, clock)
    assert edit_plan(town_tree, clock, OPERATOR, "CT1", organizer="A", name=plan.name) == plan
    assert audit(town_tree, "drill_plan_edited") == []


def test_a_plan_is_retired_and_brought_back(town_tree: Database, clock: FixedClock) -> None:
    call_tree(town_tree, clock)
    call_tree(town_tree, clock, code="CT2")
    assert not set_active(town_tree, clock, OPERATOR, "CT1", False).active
    assert [p.code for p in list_plans(town_tree)] == ["CT2"]
    assert [p.code for p in list_plans(town_tree, active=False)] == ["CT1"]
    assert [p.code for p in list_plans(town_tree, active=None)] == ["CT1", "CT2"]
    set_active(town_tree, clock, OPERATOR, "CT1", False)  # already retired: nothing written
    assert set_active(town_tree, clock, OPERATOR, "CT1", True).active
    events = audit(town_tree, "drill_plan_edited")
    assert [e["active"] for e in events] == [False, True]
    with pytest.raises(NotFound, match="no drill plan NOPE"):
        get_plan(town_tree, "NOPE")
