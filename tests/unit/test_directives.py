"""Directives from above: received once, a case or task opened when asked, replied to once,
an overdue reply swept once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from incidents.limits import Policy
from incidents.records import get_incident, tasks_of
from store.clock import FixedClock, to_iso
from store.errors import InvalidInput, InvalidTransition, NotFound
from tests.support.domain import OPERATOR
from uplink import directives
from uplink.directives import DirectiveAction, DirectiveState


def payload(clock: FixedClock, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "330100-20261126020000-1",
        "sender": "330100",
        "sender_name": "西湖区应急管理局",
        "title": "关于做好强降雨防范工作的通知",
        "text": "各街道：\n请立即组织排查低洼地带，12 时前反馈。",
        "attachments": [{"name": "排查表.xlsx", "url": "https://county.example/files/1.xlsx"}],
        "sent_at": to_iso(clock.now()),
        "reply_by": to_iso(clock.now() + timedelta(hours=2)),
        "action": "none",
    }
    data.update(changes)
    return data


def entries(db: Database, kind: str) -> list[dict[str, Any]]:
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(data) for (data,) in rows]


def test_a_directive_is_received_once_with_its_receipt(db: Database, clock: FixedClock) -> None:
    got = directives.receive(db, clock, payload(clock), via="push")
    assert got.new
    found = got.directive
    assert found.title == "关于做好强降雨防范工作的通知"
    assert found.attachments == (
        directives.Attachment("排查表.xlsx", "https://county.example/files/1.xlsx"),
    )
    assert found.received_at == clock.now()
    assert found.state(clock.now()) is DirectiveState.OPEN
    assert found.incident_id is None and found.case_number is None
    clock.advance(minutes=1)
    again = directives.receive(db, clock, payload(clock, title="changed"), via="poll")
    assert not again.new
    assert again.directive == found
    [receipt] = entries(db, "directive_received")
    assert receipt["id"] == found.id
    assert receipt["via"] == "push"
    assert receipt["sender_name"] == "西湖区应急管理局"
    assert directives.list_directives(db) == [found]
    assert found.to_json(clock.now())["attachments"][0]["name"] == "排查表.xlsx"


def test_action_case_opens_a_case_and_task_a_task_due_at_the_deadline(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case = directives.receive(
        db, clock, payload(clock, action="case"), via="push", policy=policy
    ).directive
    assert case.action is DirectiveAction.CASE
    assert case.case_number is not None
    incident = get_incident(db, case.case_number)
    assert incident.title == case.title
    assert incident.source.value == "directive"
    assert case.task_id is None
    task = directives.receive(
        db,
        clock,
        payload(clock, id="D-2", action="task", category="no-such", type="x"),
        via="poll",
    ).directive
    assert task.case_number is not None and task.case_number != case.case_number
    [opened] = tasks_of(db, task.case_number)
    assert opened.id == task.task_id
    assert opened.due == task.reply_by
    assert len(entries(db, "reported")) == 2
    assert len(entries(db, "task_added")) == 1
    assert [e["case"] for e in entries(db, "directive_received")] == [
        case.case_number,
        task.case_number,
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "bad id"}, "directive.id"),
        ({"title": ""}, "directive.title"),
        ({"sender": None}, "directive.sender"),
        ({"action": "launch"}, "directive.action"),
        ({"reply_by": "tomorrow"}, "directive.reply_by"),
        (
            {"attachments": [{"name": "x", "url": "file:///etc/passwd"}]},
            "directive.attachments[0].url",
        ),
        (
            {"attachments": [{"name": "x", "url": "javascript:alert(1)"}]},
            "directive.attachments[0].url",
        ),
        ({"text": "a\x1b[2Jb"}, "directive.text"),
        ({"exercise": "yes"}, "directive.exercise"),
    ],
)
def test_a_bad_directive_is_refused_naming_the_field_and_nothing_is_stored(
    db: Database, clock: FixedClock, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        directives.receive(db, clock, payload(clock, **changes), via="push")
    assert caught.value.field == field
    assert directives.list_directives(db) == []
    assert entries(db, "directive_received") == []


def test_a_reply_is_recorded_once_and_goes_on_the_timeline(db: Database, clock: FixedClock) -> None:
    found = directives.receive(db, clock, payload(clock), via="push").directive
    clock.advance(minutes=30)
    replied = directives.reply(db, clock, OPERATOR, found.id, "已排查 12 处，转移 30 人。")
    assert replied.state(clock.now()) is DirectiveState.REPLIED
    assert (replied.replied_by, replied.replied_at) == (OPERATOR, clock.now())
    assert not replied.late
    [entry] = entries(db, "directive_replied")
    assert entry["reply"] == "已排查 12 处，转移 30 人。" and entry["late"] is False
    with pytest.raises(InvalidTransition):
        directives.reply(db, clock, OPERATOR, found.id, "再次反馈")
    with pytest.raises(InvalidInput):
        directives.reply(db, clock, OPERATOR, found.id, "  ")
    with pytest.raises(NotFound):
        directives.reply(db, clock, OPERATOR, "D-404", "反馈")
    assert len(entries(db, "directive_replied")) == 1


def test_an_overdue_directive_is_swept_once_and_a_late_reply_is_marked(
    db: Database, clock: FixedClock
) -> None:
    late = directives.receive(db, clock, payload(clock), via="push").directive
    on_time = directives.receive(db, clock, payload(clock, id="D-2"), via="push").directive
    directives.receive(db, clock, payload(clock, id="D-3", reply_by=None), via="push")
    directives.reply(db, clock, OPERATOR, on_time.id, "已落实")
    assert directives.sweep_overdue(db, clock) == []
    clock.advance(hours=2, minutes=1)
    swept = directives.sweep_overdue(db, clock)
    assert [d.id for d in swept] == [late.id]
    assert swept[0].state(clock.now()) is DirectiveState.OVERDUE
    assert directives.sweep_overdue(db, clock) == []
    clock.advance(hours=1)
    assert directives.sweep_overdue(db, clock) == []
    [entry] = entries(db, "directive_overdue")
    assert entry["id"] == late.id
    overdue = directives.list_directives(db, now=clock.now(), overdue_only=True)
    assert [d.id for d in overdue] == [late.id]
    assert len(directives.list_directives(db, open_only=True)) == 2
    replied = directives.reply(db, clock, OPERATOR, late.id, "迟报：已排查")
    assert replied.late
    assert entries(db, "directive_replied")[-1]["late"] is True
