"""Every command's ``--json`` has one of three shapes (README, "JSON output").

* a listing: ``{"items": [...], "next_after": key | null}`` (a few add keys of their own);
* a check: ``{"ok": bool, "problems": [{"code", "message", "where"}...]}``, exit 1 when not ok;
* anything else: one object, the record as it is now.

:data:`SHAPES` names the shape of every command with ``--json`` and how to run it on a copy of
the demo street; :func:`test_every_command_with_json_has_a_shape_test` walks the click tree
(lazy commands included), so a new command with ``--json`` and no entry here fails.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest

from console.cli import main
from console.cli.main import cli
from console.demo import build_demo
from store.clock import to_iso
from store.db import connect
from tests.support.domain import case_json
from uplink import hub
from uplink.models import Batch, Kind, UplinkEvent

LISTING, CHECK, RECORD = "listing", "check", "record"
MOBILIZE = ("mobilize", "--grid", "G01", "--message", "请到岗")
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Desk:
    """The demo street copied for one test, and ``run(*args)`` on it."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.folder = folder
        self.db = folder / "demo.db"
        self.config = folder / "config.toml"
        self.config.write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
        self._capsys = capsys

    def run(self, *args: str) -> Result:
        self._capsys.readouterr()
        code = 0
        try:
            main(["--db", str(self.db), "--config", str(self.config), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str) -> Any:
        """``run(*args, "--json")`` that must succeed; its JSON."""
        result = self.run(*args, "--json")
        assert result.code == 0, (args, result.err)
        return result.json()

    def items(self, *args: str) -> list[Any]:
        return list(self.ok(*args)["items"])

    # ---- things to act on ---------------------------------------------------------------

    def case(self, *steps: tuple[str, ...]) -> str:
        """A new case in G01, taken through ``steps``; its number."""
        number = str(
            self.ok("incident", "new", "--title", "井盖缺失", "--category", "facilities",
                    "--grid", "G01")["number"]
        )  # fmt: skip
        for step in steps:
            self.ok("incident", step[0], number, *step[1:])
        return number

    def handling(self) -> str:
        return self.case(("register",), ("dispatch",), ("handle",))

    def person(self, skip: int = 0) -> str:
        """The name of someone nobody else is called (the ``skip``-th such)."""
        people = self.items("person", "list", "--limit", "500")
        names = [str(p["name"]) for p in people]
        return [n for n in names if names.count(n) == 1][skip]

    def member(self) -> str:
        """A member of the fire team whose name is unique."""
        members = [str(m["name"]) for m in self.ok("team", "show", "T-FIRE")["members"]]
        everyone = [str(p["name"]) for p in self.items("person", "list", "--limit", "500")]
        return next(n for n in members if everyone.count(n) == 1)

    def write(self, name: str, text: str) -> str:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def mobilization(self) -> int:
        number = self.case(("register",))
        return int(self.ok(*MOBILIZE, "--incident", number)["id"])

    def drill_run(self) -> int:
        return int(self.ok("drill", "run", "CALLTREE-M", "--yes")["id"])

    def ended_run(self) -> int:
        run_id = self.drill_run()
        self.ok("drill", "end", str(run_id))
        return run_id

    def hub_unit(self) -> str:
        self.ok("hub", "unit", "add", "T1", "--name", "城关镇")
        return "T1"

    def uplink(self) -> None:
        self.config.write_text(
            'timezone = "Asia/Shanghai"\n[uplink]\nurl = "http://127.0.0.1:9"\n'
            f'unit = "330106001"\ntoken = "{"t" * 24}"\n',
            encoding="utf-8",
        )


Args = Callable[[Desk], list[str]]


def fixed(*args: str) -> Args:
    return lambda _desk: list(args)


def _ack(desk: Desk) -> list[str]:
    mob = desk.mobilization()
    rows = desk.items("mobilization", "people", str(mob))
    return ["ack", str(rows[0]["code"])]


def _contacts(desk: Desk) -> list[str]:
    csv = desk.write("people.csv", "姓名,电话,所属单位\n赵小明,13800138123,G01\n")
    return ["contacts", "import", csv, "--dry-run"]


def _split(desk: Desk) -> list[str]:
    addresses = desk.ok("unit", "show", "G40")["addresses"]
    spec = [
        {"code": "G40A", "name": "四十网格西", "households": 200, "addresses": addresses},
        {"code": "G40B", "name": "四十网格东", "households": 200},
    ]
    path = desk.write("split.json", json.dumps(spec, ensure_ascii=False))
    return ["grid", "split", "G40", "--into", path, "--effective", "2026-12-07"]


def _merge(desk: Desk) -> list[str]:
    spec = {"code": "G3940", "name": "三九四十网格", "households": 400}
    path = desk.write("merge.json", json.dumps(spec, ensure_ascii=False))
    return ["grid", "merge", "G39", "G40", "--into", path, "--effective", "2026-12-07"]


def _improvement(desk: Desk) -> int:
    """A new open improvement item, from the evaluation of a drill just ended."""
    item = "应答慢 | 重新培训 | training | #1 | +30d"
    evaluated = desk.ok("drill", "evaluate", str(desk.ended_run()), "--improve", item)
    return int(evaluated["improvements"][0]["id"])


def _hub_timeline(desk: Desk) -> list[str]:
    unit = desk.hub_unit()
    db = connect(desk.db)
    try:
        case = case_json("A-1", stage="handling")
        change = {"kind": "handle", "stage_from": "dispatched", "stage_to": "handling"}
        event = UplinkEvent(
            uuid.uuid4().hex, unit, "case:A-1", 1, Kind.CASE_STAGE, to_iso(NOW),
            {"case": case, "change": change},
        )  # fmt: skip
        hub.ingest(
            db, unit, Batch(unit, (event,)), NOW, key=uuid.uuid4().hex, body_hash=uuid.uuid4().hex
        )
    finally:
        db.close()
    return ["hub", "timeline", unit, "A-1"]


ALERT = ("alert", "issue", "--event", "暴雨", "--severity", "orange", "--area", "330106001000",
         "--expires", "+6h")  # fmt: skip


def _alert(desk: Desk) -> str:
    """A new orange warning over the street (its 叫应 starts): its identifier."""
    return str(desk.ok(*ALERT)["identifier"])


def _alert_file(desk: Desk) -> list[str]:
    """A warning written as CAP XML by another database (a copy), to import here."""
    identifier = _alert(desk)
    xml = desk.run("alert", "show", identifier, "--xml").out
    path = desk.write("alert.xml", xml.replace(identifier, "330106000000_20261207090000_9"))
    return ["alert", "import", path]


def _directive(desk: Desk) -> str:
    """A directive received from the county, as the engine takes it: its id."""
    from store.clock import SystemClock
    from uplink import directives

    db = connect(desk.db)
    try:
        payload = {"id": "D-1", "sender": "330106000000", "title": "通知", "text": "请排查",
                   "reply_by": to_iso(datetime.now(UTC) + timedelta(hours=2))}  # fmt: skip
        directives.receive(db, SystemClock(), payload, via="poll")
    finally:
        db.close()
    return "D-1"


def _hub_alert(desk: Desk) -> str:
    """This database as a county hub that sent a warning down to one unit: its identifier."""
    desk.config.write_text('timezone = "Asia/Shanghai"\n[hub]\nenabled = true\n', encoding="utf-8")
    desk.ok("hub", "unit", "add", "330106001000", "--name", "青山街道")
    return _alert(desk)


def _hub_directive(desk: Desk) -> str:
    unit = desk.hub_unit()
    sent = desk.ok(
        "hub", "directive", "send", "--unit", unit, "--title", "通知", "--text", "请排查"
    )
    return str(sent["id"])


def _sitrep(desk: Desk) -> str:
    """A new case's initial report, drafted: its id."""
    return str(desk.ok("sitrep", "draft", desk.case(), "--kind", "initial")["id"])


def _signed_sitrep(desk: Desk) -> str:
    sitrep = _sitrep(desk)
    desk.ok("sitrep", "sign", sitrep, "--by", "陈队长")  # a shift lead of the demo street
    return sitrep


SHAPES: dict[str, tuple[str, Args]] = {
    # ---- cases
    "incident list": (LISTING, fixed("incident", "list", "--all")),
    "incident search": (LISTING, fixed("incident", "search", "火灾")),
    "incident task list": (LISTING, fixed("incident", "task", "list")),
    "incident show": (RECORD, lambda d: ["incident", "show", d.case()]),
    "incident new": (
        RECORD,
        fixed("incident", "new", "--title", "路灯不亮", "--category", "facilities"),
    ),
    "incident register": (RECORD, lambda d: ["incident", "register", d.case()]),
    "incident dispatch": (RECORD, lambda d: ["incident", "dispatch", d.case(("register",))]),
    "incident handle": (
        RECORD,
        lambda d: ["incident", "handle", d.case(("register",), ("dispatch",))],
    ),
    "incident feedback": (
        RECORD,
        lambda d: ["incident", "feedback", d.handling(), "--result", "已修复"],
    ),
    "incident verify": (
        RECORD,
        lambda d: [
            "incident",
            "verify",
            d.case(("register",), ("dispatch",), ("handle",), ("feedback", "--result", "已修复")),
        ],
    ),  # fmt: skip
    "incident close": (
        RECORD,
        lambda d: [
            "incident",
            "close",
            d.case(
                ("register",),
                ("dispatch",),
                ("handle",),
                ("feedback", "--result", "已修复"),
                ("verify",),
            ),
        ],
    ),  # fmt: skip
    "incident void": (RECORD, lambda d: ["incident", "void", d.case(), "--reason", "误报"]),
    "incident return": (
        RECORD,
        lambda d: ["incident", "return", d.handling(), "--reason", "派错网格"],
    ),
    "incident reopen": (
        RECORD,
        lambda d: [
            "incident",
            "reopen",
            d.case(
                ("register",),
                ("dispatch",),
                ("handle",),
                ("feedback", "--result", "好"),
                ("verify",),
                ("close",),
            ),
            "--reason",
            "又坏了",
        ],
    ),  # fmt: skip
    "incident park": (
        RECORD,
        lambda d: ["incident", "park", d.case(("register",)), "--reason", "长期"],
    ),
    "incident unpark": (
        RECORD,
        lambda d: ["incident", "unpark", d.case(("register",), ("park", "--reason", "长期"))],
    ),
    "incident merge": (RECORD, lambda d: ["incident", "merge", d.case(), "--into", d.case()]),
    "incident note": (RECORD, lambda d: ["incident", "note", d.case(), "来电补充"]),
    "incident assign": (RECORD, lambda d: ["incident", "assign", d.case(), "--to", d.person()]),
    "incident edit": (RECORD, lambda d: ["incident", "edit", d.case(), "--title", "井盖丢失"]),
    "incident extend": (
        RECORD,
        lambda d: ["incident", "extend", d.handling(), "--reason", "等配件", "--until", "+20d"],
    ),
    "incident approve-extension": (
        RECORD,
        lambda d: [
            "--as",
            "陈队长",
            "incident",
            "approve-extension",
            d.case(
                ("register",),
                ("dispatch",),
                ("handle",),
                ("extend", "--reason", "等配件", "--until", "+20d"),
            ),
        ],
    ),  # fmt: skip
    "incident undo": (RECORD, lambda d: ["incident", "undo", d.case(("register",))]),
    "incident task add": (
        RECORD,
        lambda d: ["incident", "task", "add", d.case(), "--title", "拍照", "--due", "+2h"],
    ),
    "incident task done": (
        RECORD,
        lambda d: [
            "incident",
            "task",
            "done",
            str(d.ok("incident", "task", "add", d.case(), "--title", "拍照")["id"]),
        ],
    ),  # fmt: skip
    # ---- jurisdiction
    "unit list": (LISTING, fixed("unit", "list")),
    "unit show": (RECORD, fixed("unit", "show", "G01")),
    "unit add": (
        RECORD,
        fixed(
            "unit",
            "add",
            "--code",
            "G41",
            "--name",
            "四十一网格",
            "--level",
            "grid",
            "--parent",
            "330106001001",
            "--households",
            "300",
        ),
    ),  # fmt: skip
    "grid check": (CHECK, fixed("grid", "check")),
    "grid split": (RECORD, _split),
    "grid merge": (RECORD, _merge),
    # ---- people, teams, roster, trees
    "person list": (LISTING, fixed("person", "list")),
    "person show": (RECORD, lambda d: ["person", "show", d.person()]),
    "person add": (
        RECORD,
        fixed("person", "add", "--name", "赵小明", "--phone", "13800138123", "--unit", "G01"),
    ),
    "person edit": (RECORD, lambda d: ["person", "edit", d.person(), "--email", "a@b.cn"]),
    "person channels": (
        RECORD,
        lambda d: ["person", "channels", d.person(), "--channel", "sms=13800138000"],
    ),
    "person deactivate": (
        RECORD,
        lambda d: ["person", "deactivate", d.person(), "--reason", "搬走"],
    ),
    "team list": (LISTING, fixed("team", "list")),
    "team show": (RECORD, fixed("team", "show", "T-FIRE")),
    "team add": (
        RECORD,
        fixed("team", "add", "--code", "T-NEW", "--name", "新队", "--kind", "rescue"),
    ),
    "team member-add": (RECORD, lambda d: ["team", "member-add", "T-FIRE", d.person()]),
    "team member-remove": (RECORD, lambda d: ["team", "member-remove", "T-FIRE", d.member()]),
    "team leader": (RECORD, lambda d: ["team", "leader", "T-FIRE", d.member()]),
    "duty list": (LISTING, fixed("duty", "list")),
    "duty now": (LISTING, fixed("duty", "now")),
    "duty at": (LISTING, fixed("duty", "at", "2026-12-07 09:00")),
    "duty check": (CHECK, fixed("duty", "check")),
    "duty post-add": (RECORD, fixed("duty", "post-add", "NIGHT", "夜班")),
    "duty rotation-add": (
        RECORD,
        lambda d: (
            [
                "duty",
                "rotation-add",
                "NIGHT",
                "--people",
                d.person(),
                "--starts-on",
                "2026-12-08",
                "--shift-start",
                "20:00",
                "--hours",
                "12",
            ]
            if d.ok("duty", "post-add", "NIGHT", "夜班")
            else []
        ),
    ),  # fmt: skip
    "duty override": (
        RECORD,
        lambda d: [
            "duty",
            "override",
            str(d.items("duty", "now")[0]["post"]),
            "--person",
            d.person(),
            "--from",
            "2026-12-08 08:00",
            "--to",
            "2026-12-08 12:00",
            "--reason",
            "就医",
        ],
    ),  # fmt: skip
    "tree show": (RECORD, fixed("tree", "show")),
    "tree check": (CHECK, fixed("tree", "check")),
    "tree build": (RECORD, fixed("tree", "build", "--tree", "copy")),
    "tree add": (
        RECORD,
        fixed(
            "tree", "add", "extra", "--parent", "root", "--kind", "role", "--ref", "volunteer@G01"
        ),
    ),
    "contacts import": (RECORD, _contacts),
    # ---- mobilization
    "mobilize": (RECORD, lambda d: [*MOBILIZE, "--incident", d.case(("register",))]),
    "mobilization list": (LISTING, fixed("mobilization", "list")),
    "mobilization people": (LISTING, lambda d: ["mobilization", "people", str(d.mobilization())]),
    "mobilization show": (RECORD, lambda d: ["mobilization", "show", str(d.mobilization())]),
    "ack": (RECORD, _ack),
    # ---- drills
    "drill plan list": (LISTING, fixed("drill", "plan", "list")),
    "drill plan show": (RECORD, fixed("drill", "plan", "show", "CALLTREE-M")),
    "drill plan add": (
        RECORD,
        fixed(
            "drill",
            "plan",
            "add",
            "CT",
            "--name",
            "网格叫应",
            "--kind",
            "通信联络",
            "--scope",
            "grid:G01",
            "--organizer",
            "#1",
            "--message",
            "请回复",
        ),
    ),  # fmt: skip
    "drill plan edit": (RECORD, fixed("drill", "plan", "edit", "CALLTREE-M", "--name", "月度叫应")),
    "drill plan retire": (RECORD, fixed("drill", "plan", "retire", "CALLTREE-M")),
    "drill schedule": (
        RECORD,
        fixed("drill", "schedule", "CALLTREE-M", "--at", "2026-12-21 10:00"),
    ),
    "drill cancel": (
        RECORD,
        lambda d: [
            "drill",
            "cancel",
            str(d.ok("drill", "schedule", "CALLTREE-M", "--at", "2026-12-21 10:00")["id"]),
        ],
    ),  # fmt: skip
    "drill list": (LISTING, fixed("drill", "list")),
    "drill run": (RECORD, fixed("drill", "run", "CALLTREE-M", "--yes")),
    "drill stop": (
        RECORD,
        lambda d: ["drill", "stop", str(d.drill_run()), "--reason", "真实险情"],
    ),
    "drill end": (RECORD, lambda d: ["drill", "end", str(d.drill_run())]),
    "drill note": (LISTING, lambda d: ["drill", "note", str(d.drill_run()), "值班员登记了案件"]),
    "drill show": (RECORD, fixed("drill", "show", "1")),
    "drill evaluate": (
        RECORD,
        lambda d: ["drill", "evaluate", str(d.ended_run()), "--strength", "快"],
    ),
    "drill improvements": (LISTING, fixed("drill", "improvements")),
    "drill improvement done": (
        RECORD,
        lambda d: ["drill", "improvement", "done", str(_improvement(d))],
    ),
    "drill improvement close": (
        RECORD,
        lambda d: [
            "drill",
            "improvement",
            "close",
            str(d.ok("drill", "improvement", "done", str(_improvement(d)))["id"]),
            "--run",
            str(d.ended_run()),
        ],
    ),  # fmt: skip
    "drill trend": (RECORD, fixed("drill", "trend", "CALLTREE-M")),
    # ---- shift
    "shift list": (LISTING, fixed("shift", "list")),
    "shift brief": (RECORD, fixed("shift", "brief")),
    "shift handover": (RECORD, lambda d: ["shift", "handover", "--to", d.person()]),
    "shift confirm": (
        RECORD,
        lambda d: [
            "--as",
            (who := d.person()),
            "shift",
            "confirm",
            str(d.ok("shift", "handover", "--to", who)["id"]),
        ],
    ),  # fmt: skip
    # ---- information reports
    "sitrep list": (LISTING, fixed("sitrep", "list")),
    "sitrep draft": (RECORD, lambda d: ["sitrep", "draft", d.case(), "--kind", "initial"]),
    "sitrep edit": (RECORD, lambda d: ["sitrep", "edit", _sitrep(d), "--field", "trend=好转"]),
    "sitrep show": (RECORD, lambda d: ["sitrep", "show", _sitrep(d)]),
    "sitrep sign": (RECORD, lambda d: ["sitrep", "sign", _sitrep(d), "--by", "陈队长"]),
    "sitrep send": (RECORD, lambda d: ["sitrep", "send", _signed_sitrep(d)]),
    "sitrep discard": (RECORD, lambda d: ["sitrep", "discard", _sitrep(d)]),
    "sitrep phone": (
        RECORD,
        lambda d: ["sitrep", "phone", d.case(), "--to", "区应急管理局值班室", "--at", "+0m"],
    ),
    "sitrep mark": (RECORD, lambda d: ["sitrep", "mark", d.case(), "--report"]),
    "sitrep received": (
        RECORD,
        lambda d: ["sitrep", "received", d.case(), "--at", "+0m", "--reason", "接报登记晚了"],
    ),
    "sitrep figures": (RECORD, lambda d: ["sitrep", "figures", d.case(), "--injured", "1"]),
    # ---- uplink and hub
    "sync status": (RECORD, fixed("sync", "status")),
    "sync dead-letters": (LISTING, lambda d: [d.uplink(), "sync", "dead-letters"][1:]),
    "sync now": (RECORD, lambda d: [d.uplink(), "sync", "now"][1:]),
    "hub unit add": (RECORD, fixed("hub", "unit", "add", "T1", "--name", "城关镇")),
    "hub unit list": (LISTING, lambda d: [d.hub_unit(), "hub", "unit", "list"][1:]),
    "hub unit revoke": (RECORD, lambda d: ["hub", "unit", "revoke", d.hub_unit()]),
    "hub unit rotate": (RECORD, lambda d: ["hub", "unit", "rotate", d.hub_unit()]),
    "hub units": (LISTING, lambda d: [d.hub_unit(), "hub", "units"][1:]),
    "hub cases": (LISTING, lambda d: [d.hub_unit(), "hub", "cases"][1:]),
    "hub timeline": (LISTING, _hub_timeline),
    "hub reports": (LISTING, lambda d: [d.hub_unit(), "hub", "reports", "--late"][1:]),
    "hub timeliness": (
        LISTING,
        lambda d: [d.hub_unit(), "hub", "timeliness", "--from", "2026-11-23", "--to", "+1d"][1:],
    ),
    # ---- warnings and directives
    "alert issue": (RECORD, fixed(*ALERT)),
    "alert update": (RECORD, lambda d: ["alert", "update", _alert(d), "--expires", "+8h"]),
    "alert cancel": (RECORD, lambda d: ["alert", "cancel", _alert(d), "--reason", "降雨减弱"]),
    "alert list": (LISTING, lambda d: [_alert(d), "alert", "list"][1:]),
    "alert show": (RECORD, lambda d: ["alert", "show", _alert(d)]),
    "alert import": (RECORD, _alert_file),
    "alert call": (RECORD, lambda d: ["alert", "call", _alert(d), "--exercise"]),
    "alert call-tree": (RECORD, fixed("alert", "call-tree")),
    "field list": (RECORD, lambda d: ["field", "list", d.case(("register",), ("dispatch",))]),
    # ---- reports (the key figures; with -o also the file written)
    "report case": (RECORD, lambda d: ["report", "case", d.case()]),
    "report lesson": (RECORD, lambda d: ["report", "lesson", d.case(), "巡查应覆盖后山"]),
    "report action": (
        RECORD,
        lambda d: ["report", "action", d.case(), "安装位移监测", "--owner", "东湖村"],
    ),
    "report duty-log": (RECORD, fixed("report", "duty-log", "--date", "2026-12-06")),
    "report stats": (
        RECORD,
        fixed("report", "stats", "--from", "2026-12-01", "--to", "2026-12-06"),
    ),
    "report aar": (RECORD, fixed("report", "aar", "1")),
    "report sitrep": (RECORD, lambda d: ["report", "sitrep", _sitrep(d)]),
    "directive list": (LISTING, lambda d: [_directive(d), "directive", "list"][1:]),
    "directive show": (RECORD, lambda d: ["directive", "show", _directive(d)]),
    "directive reply": (
        RECORD,
        lambda d: ["directive", "reply", _directive(d), "--text", "已落实"],
    ),
    "hub alerts": (LISTING, lambda d: [_hub_alert(d), "hub", "alerts"][1:]),
    "hub alert": (RECORD, lambda d: ["hub", "alert", _hub_alert(d)]),
    "hub directive send": (
        RECORD,
        lambda d: [
            "hub",
            "directive",
            "send",
            "--unit",
            d.hub_unit(),
            "--title",
            "通知",
            "--text",
            "请排查",
            "--reply-by",
            "+2h",
        ],
    ),  # fmt: skip
    "hub directive show": (RECORD, lambda d: ["hub", "directive", "show", _hub_directive(d)]),
    # ---- the installation
    "config show": (RECORD, fixed("config", "show")),
    "calendar show": (RECORD, fixed("calendar", "show", "2026-10")),
    "keys show": (RECORD, fixed("keys", "show")),
    "audit head": (RECORD, fixed("audit", "head")),
    "audit verify": (CHECK, fixed("audit", "verify")),
    "doctor": (CHECK, fixed("doctor")),
    "service status": (RECORD, fixed("service", "status")),
}


def commands_with_json() -> list[str]:
    """Every command (``incident task add``) that takes ``--json``, lazy groups included."""
    found: list[str] = []

    def walk(group: click.Group, ctx: click.Context, prefix: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            path = (*prefix, name)
            if isinstance(command, click.Group):
                walk(command, click.Context(command, parent=ctx, info_name=name), path)
            elif any(isinstance(p, click.Option) and "--json" in p.opts for p in command.params):
                found.append(" ".join(path))

    walk(cli, click.Context(cli, info_name="dutydesk"), ())
    return sorted(found)


def test_every_command_with_json_has_a_shape_test() -> None:
    found = commands_with_json()
    assert len(found) > 80  # the walk reached the lazy groups
    missing = sorted(set(found) - set(SHAPES))
    assert not missing, f"commands with --json but no shape test in SHAPES: {missing}"
    stale = sorted(set(SHAPES) - set(found))
    assert not stale, f"SHAPES names commands that no longer take --json: {stale}"


def build_street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo street (20 cases), built once per module that uses it."""
    folder = tmp_path_factory.mktemp("street")
    build_demo(folder / "demo.db", cases=20, now=NOW)
    return folder


def copy_street(
    street: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> Desk:
    """A copy of the street for one test (its database, keys and audit head)."""
    for item in street.iterdir():
        if item.is_file():
            shutil.copy2(item, tmp_path / item.name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return Desk(tmp_path, capsys)


@pytest.fixture(scope="module")
def demo_street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_street(tmp_path_factory)


@pytest.fixture
def desk(
    demo_street: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> Desk:
    return copy_street(demo_street, tmp_path, capsys, monkeypatch)


def assert_listing(data: Any) -> None:
    assert isinstance(data, dict) and set(data) >= {"items", "next_after"}, data
    assert isinstance(data["items"], list)
    assert data["next_after"] is None or isinstance(data["next_after"], str)


def assert_check(data: Any, code: int) -> None:
    assert isinstance(data, dict) and set(data) >= {"ok", "problems"}, data
    assert isinstance(data["ok"], bool) and isinstance(data["problems"], list)
    assert data["ok"] == (not data["problems"])
    for problem in data["problems"]:
        assert set(problem) >= {"code", "message", "where"}, problem
        assert isinstance(problem["code"], str) and problem["code"]
        assert isinstance(problem["message"], str) and problem["message"]
    assert code == (0 if data["ok"] else 1)


@pytest.mark.parametrize("command", sorted(SHAPES))
def test_json_shape(desk: Desk, command: str) -> None:
    shape, args = SHAPES[command]
    result = desk.run(*args(desk), "--json")
    assert result.out.strip(), (command, result.code, result.err)
    data = result.json()
    if shape == LISTING:
        assert result.code == 0, result.err
        assert_listing(data)
    elif shape == CHECK:
        assert_check(data, result.code)
    else:
        assert result.code == 0 or command == "sync now", result.err
        assert isinstance(data, dict) and "items" not in data, data
