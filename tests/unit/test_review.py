"""The review of a case: lessons and follow-up actions, as timeline entries read back in order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlite_utils import Database

from incidents.models import EVENT_NAMES, Stage
from incidents.records import timeline
from incidents.review import FOLLOW_UP_ACTION, LESSON, add_action, add_lesson, review_of
from store.audit import verify_chain
from store.clock import FixedClock
from store.errors import InvalidInput, NotFound
from tests.conftest import OPERATOR, MakeCase, events_count


def test_lessons_and_actions_are_timeline_entries_read_back_in_order(
    db: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    case = make_case(Stage.CLOSED)
    before = events_count(db)
    first = add_lesson(db, clock, OPERATOR, case.number, "夜间巡查应覆盖后山")
    clock.advance(minutes=5)
    due = clock.now() + timedelta(days=30)
    action = add_action(db, clock, "B", case.id, "安装位移监测", owner="G01网格", due=due)
    clock.advance(minutes=5)
    second = add_lesson(db, clock, OPERATOR, case.id, "second\nline")
    assert events_count(db) == before + 3
    kinds = [(e.id, e.kind) for e in timeline(db, case.id)][-3:]
    assert kinds == [(first, LESSON), (action, FOLLOW_UP_ACTION), (second, LESSON)]
    review = review_of(db, case.number)
    assert [lesson.text for lesson in review.lessons] == ["夜间巡查应覆盖后山", "second\nline"]
    assert [lesson.entry_id for lesson in review.lessons] == [first, second]
    (only,) = review.actions
    assert (only.text, only.owner, only.due, only.operator) == ("安装位移监测", "G01网格", due, "B")
    assert verify_chain(db).ok


def test_an_action_without_owner_or_due_keeps_none(
    db: Database, clock: FixedClock, make_case: MakeCase
) -> None:
    case = make_case()
    add_action(db, clock, OPERATOR, case.id, "  复盘会  ", owner="  ")
    (action,) = review_of(db, case.id).actions
    assert (action.text, action.owner, action.due) == ("复盘会", None, None)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda db, clock, ref: add_lesson(db, clock, OPERATOR, ref, "   "), "text"),
        (lambda db, clock, ref: add_lesson(db, clock, OPERATOR, ref, "bad\x07"), "text"),
        (lambda db, clock, ref: add_action(db, clock, OPERATOR, ref, ""), "text"),
        (lambda db, clock, ref: add_action(db, clock, OPERATOR, ref, "x", owner="a\nb"), "owner"),
        (
            lambda db, clock, ref: add_action(
                db, clock, OPERATOR, ref, "x", due=clock.now().replace(tzinfo=None)
            ),
            "due",
        ),
    ],
)
def test_refusals_name_the_field_and_write_nothing(
    db: Database, clock: FixedClock, make_case: MakeCase, call: object, field: str
) -> None:
    case = make_case()
    before = events_count(db)
    with pytest.raises(InvalidInput) as caught:
        call(db, clock, case.id)  # type: ignore[operator]
    assert caught.value.field == field
    assert events_count(db) == before


def test_an_unknown_case_is_not_found(db: Database, clock: FixedClock) -> None:
    with pytest.raises(NotFound):
        add_lesson(db, clock, OPERATOR, "2026-999999", "x")
    with pytest.raises(NotFound):
        review_of(db, 424242)


def test_the_kinds_have_names() -> None:
    assert EVENT_NAMES[LESSON] == "lesson learned"
    assert EVENT_NAMES[FOLLOW_UP_ACTION] == "follow-up action"
