"""The case card names where a case went: 刘静, 消防志愿队, 网格 G01 (its name), not codes.

The store keeps written targets (``person:#3``, ``team:T-FIRE``) and ``--json`` shows them as
stored; ``incident show`` reads them to people by name, in the facts (the assignee) and in the
timeline (a dispatch's ``to``, a reassignment's ``from → to``).
"""

from __future__ import annotations

from typing import Any

import pytest

from contacts.people import NewPerson, add_person
from contacts.teams import add_team
from jurisdiction.units import NewUnit, add_unit
from store.clock import SystemClock
from store.db import connect

TOWN, COM = "330106001000", "330106001001"


@pytest.fixture
def office(run: Any) -> Any:
    """Grid G01 幸福一网格, the fire team T-FIRE (消防志愿队), 刘静; a registered case in G01."""
    db = connect(run.db)
    clock = SystemClock()
    add_unit(db, clock, "t", NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, "t", NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, "t", NewUnit("G01", "幸福一网格", "grid", parent=COM))
    add_person(db, clock, "t", NewPerson("刘静", "G01", "13900000001", roles=["grid_member"]))
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


def test_the_card_names_the_assignee_and_the_timeline_its_targets(office: Any) -> None:
    assert office("incident", "dispatch", office.case).code == 0  # its own grid
    assert office("incident", "assign", office.case, "--to", "消防志愿队").code == 0
    assert office("incident", "assign", office.case, "--to", "lj").code == 0
    shown = office("--lang", "en", "incident", "show", office.case)
    assert shown.code == 0, shown.err
    text = shown.out
    facts = text.split("timeline")[0]
    assignee = next(line for line in facts.splitlines() if line.startswith("assignee"))
    assert "刘静" in assignee
    assert "grid G01 (幸福一网格)" in text  # the dispatch, to the case's grid
    assert "grid G01 (幸福一网格) → 消防志愿队" in text  # a reassignment: from → to
    assert "消防志愿队 → 刘静" in text
    for code in ("person:", "person #", "team:", "team T-FIRE", "grid:G01"):
        assert code not in text, (code, text)

    data = office("incident", "show", office.case, "--json").json()
    assert data["assignee"].startswith("person:#")  # the codes, as stored
    steps = [e["data"] for e in data["timeline"] if e["kind"] in ("dispatch", "assign")]
    assert steps[0]["to"] == "grid:G01" and steps[1]["to"] == "team:T-FIRE"
    assert steps[2]["from"] == "team:T-FIRE" and steps[2]["to"].startswith("person:#")
