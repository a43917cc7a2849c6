"""``dutydesk hub directive send|show`` at a county hub and ``dutydesk directive list|show|reply``
at a township: a directive (通知/指令) goes down with its deadline, the unit reads and answers it
(反馈), and the answer is what goes up. Bad input exits 2 naming the option, nothing changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from store.clock import SystemClock, to_iso
from store.db import connect
from tests.cli.test_alert_cli import COUNTY, TOWNSHIP, count, query
from tests.cli.test_json_shapes import Desk, build_street, copy_street
from uplink import directives, downlink


@pytest.fixture
def hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Desk:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    desk = Desk(tmp_path, capsys)
    desk.config.write_text(
        'timezone = "Asia/Shanghai"\noperator = "区值班员"\n[hub]\nenabled = true\n',
        encoding="utf-8",
    )
    assert (
        desk.run("unit", "add", "--code", COUNTY, "--name", "西湖区", "--level", "county").code == 0
    )
    desk.ok("hub", "unit", "add", TOWNSHIP, "--name", "青山街道")
    desk.ok("hub", "unit", "add", "330106002000", "--name", "和平街道")
    return desk


SEND = (
    "hub", "directive", "send", "--unit", TOWNSHIP, "--unit", "330106002000",
    "--title", "关于做好强降雨防范工作的通知", "--text", "请各街道立即排查低洼地带，落实转移预案。",
)  # fmt: skip


def test_a_hub_sends_a_directive_and_sees_who_received_and_replied(hub: Desk) -> None:
    data = hub.ok(
        *SEND, "--reply-by", "+2h", "--open-task",
        "--attach", "防汛预案=https://example.org/plan.pdf",
    )  # fmt: skip
    assert data["units"] == [TOWNSHIP, "330106002000"]
    assert data["id"].startswith(f"{COUNTY}-")
    [(title, action, attachments)] = query(
        hub, "SELECT title, action, attachments FROM hub_directives WHERE id = ?", data["id"]
    )
    assert (title, action) == ("关于做好强降雨防范工作的通知", "task")
    assert json.loads(attachments) == [{"name": "防汛预案", "url": "https://example.org/plan.pdf"}]
    assert count(hub, "hub_down") == 2
    db = connect(hub.db)
    try:
        items, _next = downlink.inbox(db, TOWNSHIP, 0, 10)
    finally:
        db.close()
    assert [i.kind for i in items] == ["directive"]
    view = hub.ok("hub", "directive", "show", data["id"])
    assert view["totals"] == {"units": 2, "received": 0, "replied": 0, "overdue": 0}
    table = hub.run("hub", "directive", "show", data["id"])
    assert table.code == 0 and "和平街道" in table.out and "not yet" in table.out


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (("--reply-by", "-1h"), "--reply-by"),
        (("--reply-by", "soon"), "--reply-by"),
        (("--open-task",), "--reply-by"),  # a task needs a deadline
        (("--attach", "no-url"), "--attach"),
        (("--attach", "预案=ftp://x/y"), "--attach"),
        (("--unit", "999999999999"), "--unit"),  # not registered here
    ],
)
def test_bad_input_exits_2_naming_the_option_and_sends_nothing(
    hub: Desk, extra: tuple[str, ...], option: str
) -> None:
    result = hub.run(*SEND, *extra)
    assert result.code == 2, result.err
    assert option in result.err and "Traceback" not in result.err
    assert count(hub, "hub_directives") == 0 and count(hub, "hub_down") == 0


def test_an_unknown_directive_at_the_hub_exits_2(hub: Desk) -> None:
    result = hub.run("hub", "directive", "show", "NOPE")
    assert result.code == 2 and "NOPE" in result.err


# --- at the township ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_street(tmp_path_factory)


@pytest.fixture
def desk(
    street: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Desk:
    return copy_street(street, tmp_path, capsys, monkeypatch)


def _receive(desk: Desk, directive_id: str, reply_by: timedelta | None, **extra: Any) -> None:
    """The directive as the engine takes it from the hub's inbox."""
    now = datetime.now(UTC).replace(microsecond=0)
    payload = {
        "id": directive_id,
        "sender": COUNTY,
        "sender_name": "西湖区",
        "title": "关于做好强降雨防范工作的通知",
        "text": "请各街道立即排查低洼地带，落实转移预案。",
        "attachments": [{"name": "防汛预案", "url": "https://example.org/plan.pdf"}],
        "sent_at": to_iso(now - timedelta(minutes=5)),
        "reply_by": to_iso(now + reply_by) if reply_by is not None else None,
        **extra,
    }
    db = connect(desk.db)
    try:
        received = directives.receive(db, SystemClock(), payload, via="poll")
    finally:
        db.close()
    assert received.new


def test_a_township_reads_and_replies_to_a_directive(desk: Desk) -> None:
    _receive(desk, "D-1", timedelta(hours=2), action="task")
    _receive(desk, "D-2", None)
    listed = desk.items("directive", "list", "--open")
    assert sorted(d["id"] for d in listed) == ["D-1", "D-2"]
    shown = desk.run("directive", "show", "D-1")
    assert shown.code == 0
    assert "https://example.org/plan.pdf" in shown.out and "西湖区" in shown.out
    assert "落实转移预案" in shown.out
    data = desk.ok("directive", "show", "D-1")
    assert data["case"] is not None and data["task"] is not None  # the task it opened
    table = desk.run("directive", "list")
    assert table.code == 0 and "关于做好强降雨防范工作的通知" in table.out

    before = count(desk, "events")
    replied = desk.ok("directive", "reply", "D-1", "--text", "已排查低洼地带12处，转移群众35人")
    assert replied["state"] == "replied" and not replied["late"]
    [(reply, by)] = query(desk, "SELECT reply, replied_by FROM directives WHERE id = 'D-1'")
    assert reply == "已排查低洼地带12处，转移群众35人" and by
    assert query(desk, "SELECT kind FROM events WHERE id > ?", before) == [("directive_replied",)]
    assert [d["id"] for d in desk.items("directive", "list", "--open")] == ["D-2"]

    twice = desk.run("directive", "reply", "D-1", "--text", "再次反馈")
    assert twice.code == 2 and "already" in twice.err


def test_an_overdue_directive_is_listed_and_still_answerable(desk: Desk) -> None:
    _receive(desk, "D-9", timedelta(seconds=-60))
    [overdue] = desk.items("directive", "list", "--overdue")
    assert overdue["id"] == "D-9" and overdue["state"] == "overdue"
    table = desk.run("directive", "list", "--open")
    assert "reply overdue" in table.out
    replied = desk.ok("directive", "reply", "D-9", "--text", "已落实")
    assert replied["late"]


def test_bad_replies_exit_2_and_change_nothing(desk: Desk) -> None:
    _receive(desk, "D-3", timedelta(hours=1))
    before = count(desk, "events")
    for args, words in (
        (("D-3", "--text", "  "), "--text"),
        (("D-3", "--text", "好\x00"), "--text"),
        (("NOPE", "--text", "好"), "NOPE"),
    ):
        result = desk.run("directive", "reply", *args)
        assert result.code == 2 and words in result.err, (args, result.err)
    assert count(desk, "events") == before
    assert query(desk, "SELECT reply FROM directives") == [(None,)]
    assert desk.run("directive", "show", "NOPE").code == 2
