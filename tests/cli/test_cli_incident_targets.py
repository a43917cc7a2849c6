"""``incident dispatch/assign --to`` take only targets that exist (issue 14, item 2).

What is typed is resolved by the directory: a team's name is the team, pinyin initials find a
person, and a target that does not exist is refused with exit 2, the closest matches, and the
case unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest

from contacts.people import NewPerson, add_person
from contacts.teams import add_team
from jurisdiction.units import NewUnit, add_unit
from store.clock import SystemClock
from store.db import connect
from tests.support.town import COM, TOWN


@pytest.fixture
def office(run: Any) -> Any:
    """Grids G01/G02, the fire team T-FIRE (消防志愿队), 刘静 and 李芳; a registered case."""
    db = connect(run.db)
    clock = SystemClock()
    add_unit(db, clock, "t", NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, "t", NewUnit(COM, "幸福社区", "community", parent=TOWN))
    for grid in ("G01", "G02"):
        add_unit(db, clock, "t", NewUnit(grid, f"{grid}网格", "grid", parent=COM))
    add_person(db, clock, "t", NewPerson("刘静", "G01", "13900000001", roles=["grid_member"]))
    add_person(db, clock, "t", NewPerson("李芳", "G01", "13900000002", roles=["grid_leader"]))
    add_team(db, clock, "t", "T-FIRE", "消防志愿队", "firefighting", TOWN)
    db.close()
    made = run(
        "incident", "new", "--title", "3号楼冒烟", "--category", "accident-disaster", "--type",
        "fire", "--grid", "G01", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    run.case = made.json()["number"]
    assert run("incident", "register", run.case).code == 0
    return run


def case_json(run: Any) -> dict[str, Any]:
    shown = run("incident", "show", run.case, "--json")
    assert shown.code == 0, shown.err
    return shown.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("command", "typed", "closest"),
    [
        ("dispatch", "team:不存在队", "消防志愿队 (team:T-FIRE"),
        ("dispatch", "grid:G99", "(grid:G0"),
        ("assign", "查无此人", None),
        ("assign", "李放", "李芳 (person:#"),  # a typo: suggested, never taken
        ("dispatch", "planet:mars", None),
    ],
)
def test_a_target_that_does_not_exist_is_refused_with_the_closest(
    office: Any, command: str, typed: str, closest: str | None
) -> None:
    before = case_json(office)
    refused = office("incident", command, office.case, "--to", typed)
    assert refused.code == 2
    assert refused.err.startswith("dutydesk: to: ") and refused.err.count("\n") == 1
    if closest:
        assert "closest: " in refused.err and closest in refused.err
    assert "Traceback" not in refused.err
    after = case_json(office)
    assert (after["stage"], after["assignee"]) == (before["stage"], before["assignee"])
    assert len(after["timeline"]) == len(before["timeline"])


def test_a_teams_name_without_the_prefix_dispatches_to_the_team(office: Any) -> None:
    done = office("incident", "dispatch", office.case, "--to", "消防志愿队")
    assert done.code == 0, done.err
    assert "dispatched to 消防志愿队" in done.out
    shown = case_json(office)
    assert shown["assignee"] == "team:T-FIRE"
    assert shown["timeline"][-1]["data"]["to"] == "team:T-FIRE"


def test_pinyin_initials_assign_the_person_by_their_written_code(office: Any) -> None:
    done = office("incident", "assign", office.case, "--to", "lj")
    assert done.code == 0, done.err
    assert "assigned to 刘静" in done.out
    assignee = case_json(office)["assignee"]
    assert assignee.startswith("person:#") and "139" not in assignee  # no phone in the log


def test_dispatch_without_a_target_goes_to_the_cases_grid(office: Any) -> None:
    done = office("incident", "dispatch", office.case, "--json")
    assert done.code == 0, done.err
    assert done.json()["assignee"] == "grid:G01"


def test_the_office_by_its_name(office: Any) -> None:
    done = office("incident", "dispatch", office.case, "--to", "duty-office", "--json")
    assert done.code == 0, done.err
    assert done.json()["assignee"] == "office:duty-office"
