"""The domain refuses control characters, over-long text and unbounded extensions (issue 11, 12).

Before: a title ``"\\x1b[2J\\x1b]0;pwned\\x07"`` cleared the duty officer's screen and retitled
the terminal wherever it was shown; 100 KB notes, names and reasons went into the permanent log;
an extension to year 9999 took a fire case out of supervision for good. The checks live in the
domain functions, so the CLI, the console and any future HTTP path all get them: every test
here calls the domain directly and asserts nothing was written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from contacts.people import NewPerson, add_person, deactivate_person
from contacts.roster import add_override, add_post, add_rotation
from contacts.teams import add_team
from incidents import workflow
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident, get_incident, timeline
from incidents.supervision import confirm_handover, shift_handover
from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock
from store.errors import InvalidInput, NotFound
from store.text import LIMITS
from tests.conftest import MakeCase
from tests.support.domain import OPERATOR, events_count

ESCAPE = "fire\x1b[2J\x1b]0;pwned\x07"
HUGE = "x" * 100_000


def new_case(**fields: Any) -> NewIncident:
    return NewIncident(**{"title": "3号楼发生火灾", "category": "accident_disaster", **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ESCAPE}, "title"),
        ({"title": "a\nb"}, "title"),
        ({"title": HUGE}, "title"),
        ({"description": "smoke\x1b[2J"}, "description"),
        ({"description": HUGE}, "description"),
        ({"location": "3号楼\x00"}, "location"),
        ({"reporter_name": "张\u202e三"}, "reporter_name"),  # a bidi override
        ({"reporter_phone": "1" * 100}, "reporter_phone"),
        ({"grid": "G\x1b1"}, "grid"),
        ({"tags": ("ok", "\x07")}, "tags"),
        ({"tags": tuple(str(i) for i in range(100))}, "tags"),
    ],
)
def test_a_new_case_with_control_characters_or_huge_text_is_refused(
    db: Database, clock: FixedClock, policy: Policy, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        create_incident(db, clock, policy, OPERATOR, new_case(**fields))
    assert refused.value.field == field
    assert events_count(db) == 0


def test_a_description_and_a_note_may_run_over_several_lines(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case = create_incident(db, clock, policy, OPERATOR, new_case(description="一楼\n二楼"))
    workflow.add_note(db, clock, OPERATOR, case.id, "第一行\n第二行")
    assert timeline(db, case.id)[-1].data["text"] == "第一行\n第二行"
    assert get_incident(db, case.id).description == "一楼\n二楼"


STEPS: dict[str, Callable[..., Any]] = {
    "note": lambda db, clock, policy, ref, text: workflow.add_note(db, clock, OPERATOR, ref, text),
    "register": lambda db, clock, policy, ref, text: workflow.register(
        db, clock, policy, OPERATOR, ref, note=text
    ),
    "void": lambda db, clock, policy, ref, text: workflow.void(
        db, clock, policy, OPERATOR, ref, text
    ),
    "assign": lambda db, clock, policy, ref, text: workflow.assign(db, clock, OPERATOR, ref, text),
    "dispatch": lambda db, clock, policy, ref, text: workflow.dispatch(
        db, clock, policy, OPERATOR, ref, text
    ),
    "task": lambda db, clock, policy, ref, text: workflow.add_task(db, clock, OPERATOR, ref, text),
    "extend": lambda db, clock, policy, ref, text: workflow.request_extension(
        db, clock, policy, OPERATOR, ref, text, clock.now() + timedelta(days=2)
    ),
}


@pytest.mark.parametrize("step", sorted(STEPS))
@pytest.mark.parametrize("text", [ESCAPE, "x" * (LIMITS["note"] + 1)])
def test_every_step_refuses_escapes_and_huge_text(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase, step: str, text: str
) -> None:
    case = make_case()
    before = events_count(db)
    with pytest.raises(InvalidInput):
        STEPS[step](db, clock, policy, case.id, text)
    assert events_count(db) == before


def test_an_extension_is_bounded_by_the_configured_maximum(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case()
    before = events_count(db)
    assert case.deadline is not None
    with pytest.raises(InvalidInput) as refused:
        workflow.request_extension(
            db, clock, policy, OPERATOR, case.id, "more time", datetime(9999, 12, 31, tzinfo=UTC)
        )
    assert refused.value.field == "until" and "at most 30 days" in str(refused.value)
    with pytest.raises(InvalidInput):
        workflow.request_extension(
            db,
            clock,
            policy,
            OPERATOR,
            case.id,
            "more time",
            case.deadline + timedelta(days=3),
            max_extension=timedelta(days=2),
        )
    assert events_count(db) == before
    ext = workflow.request_extension(
        db, clock, policy, OPERATOR, case.id, "more time", case.deadline + timedelta(days=30)
    )
    assert ext.new_deadline == case.deadline + timedelta(days=30)


def test_huge_ids_are_not_found_not_an_overflow(db: Database, clock: FixedClock) -> None:
    with pytest.raises(NotFound):
        get_incident(db, "99999999999999999999")
    with pytest.raises(NotFound):
        workflow.complete_task(db, clock, OPERATOR, 99999999999999999999)
    with pytest.raises(NotFound):
        confirm_handover(db, clock, OPERATOR, 99999999999999999999)
    with pytest.raises(InvalidInput):
        get_incident(db, "²")  # a digit to str.isdigit, not to int()


def test_people_teams_units_posts_and_handovers_refuse_control_characters(
    db: Database, clock: FixedClock
) -> None:
    refused: list[str | None] = []
    attempts: list[Callable[[], Any]] = [
        lambda: add_person(db, clock, OPERATOR, NewPerson(name=ESCAPE)),
        lambda: add_person(db, clock, OPERATOR, NewPerson(name="张三", skills=["急救\x1b"])),
        lambda: add_person(db, clock, OPERATOR, NewPerson(name="张三"), key="k\x00"),
        lambda: add_team(db, clock, OPERATOR, "T1", ESCAPE, "rescue"),
        lambda: add_unit(db, clock, OPERATOR, NewUnit(code="G01", name=ESCAPE, level="grid")),
        lambda: add_unit(
            db, clock, OPERATOR, NewUnit(code="G01", name="g", level="grid", addresses=("1\x1b",))
        ),
        lambda: add_unit(
            db, clock, OPERATOR, NewUnit(code="G01", name="g", level="grid", households=10**20)
        ),
        lambda: add_post(db, clock, OPERATOR, "DO", ESCAPE),
        lambda: shift_handover(db, clock, OPERATOR, "李\x1b四"),
        lambda: shift_handover(db, clock, OPERATOR, "李四", HUGE),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput) as exc:
            attempt()
        refused.append(exc.value.field)
    assert refused == [
        "name",
        "skills",
        "key",
        "name",
        "name",
        "addresses",
        "households",
        "name",
        "to",
        "note",
    ]
    assert events_count(db) == 0


def test_a_person_deactivated_with_an_escape_in_the_reason_stays_active(
    db: Database, clock: FixedClock
) -> None:
    person = add_person(db, clock, OPERATOR, NewPerson(name="张三"))
    with pytest.raises(InvalidInput):
        deactivate_person(db, clock, OPERATOR, person.id, ESCAPE)
    assert events_count(db) == 1


def test_the_roster_refuses_years_it_cannot_compute_and_endless_overrides(
    db: Database, clock: FixedClock
) -> None:
    """Before, a rotation from year 1 or an override to year 9999 was stored, and every later
    "who is on duty" read overflowed."""
    person = add_person(db, clock, OPERATOR, NewPerson(name="张三"))
    add_post(db, clock, OPERATOR, "DO", "值班员")
    before = events_count(db)
    with pytest.raises(InvalidInput) as exc:
        add_rotation(
            db,
            clock,
            OPERATOR,
            "DO",
            people=[person.id],
            starts_on=date(1, 1, 1),
            shift_start="08:00",
            shift_hours=24,
            zone="Asia/Shanghai",
        )
    assert exc.value.field == "starts-on"
    with pytest.raises(InvalidInput) as exc:
        add_rotation(
            db,
            clock,
            OPERATOR,
            "DO",
            people=[person.id],
            starts_on=date(2026, 1, 1),
            shift_start="08:00",
            shift_hours=24,
            every_days=10**9,
            zone="Asia/Shanghai",
        )
    assert exc.value.field == "every-days"
    start = clock.now()
    with pytest.raises(InvalidInput) as exc:
        add_override(
            db, clock, OPERATOR, "DO", person.id, start, datetime(9999, 12, 31, tzinfo=UTC), "x"
        )
    assert exc.value.field in ("to",)
    with pytest.raises(InvalidInput) as exc:
        add_override(
            db, clock, OPERATOR, "DO", person.id, start, start + timedelta(hours=1), ESCAPE
        )
    assert exc.value.field == "reason"
    assert events_count(db) == before
