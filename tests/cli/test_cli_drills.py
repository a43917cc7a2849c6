"""``dutydesk drill ...``: plans, schedules, runs, evaluation, improvements, trend, report, export.

The wall clock stands still at Thursday 2026-11-26 10:00 in Shanghai (the ``clock`` fixture) and
is moved by hand; no engine runs: the exercise mobilization's messages are "sent" by driving the
mobilization's steps, and people answer through ``dutydesk ack`` as they would by phone.
"""

from __future__ import annotations

import io
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from mobilization import (
    Delivery,
    Routing,
    build_default_tree,
    claim_pending,
    process_due,
    record_deliveries,
)
from store.clock import FixedClock, SystemClock, from_iso
from store.db import connect
from tests.support.domain import OPERATOR
from tests.support.town import build_town

CALL_TREE = (
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
    "A",
    "--evaluator",
    "SEC",
    "--participant",
    "L1",
    "--message",
    "演练：收到请回复1",
    "--remind",
    "1d",
    "--remind",
    "60",
    "--objective",
    "answer_rate 50% 10m: 半数网格员10分钟内应答",
    "--objective",
    "first_answer 3m",
    "--objective",
    "free: 指挥协调顺畅",
)


@pytest.fixture
def office(run, clock: FixedClock, monkeypatch: pytest.MonkeyPatch):
    """The small town (grids G01 and G02, people A, SEC, L1, M1, M2, V1, L2) and its default
    contact tree, on a wall clock that stands still until a test moves it."""
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())
    db = connect(run.db)
    build_town(db, clock, starts_on=date(2020, 1, 1))
    build_default_tree(db, clock, OPERATOR, timeout_s=600, repeats=1)
    db.close()
    run.clock = clock
    return run


def drill(run, *args: str) -> Any:
    """``dutydesk drill ARGS --json``, which must succeed; its JSON."""
    result = run("drill", *args, "--json")
    assert result.code == 0, (args, result.err)
    return result.json()


def items(run, *args: str) -> list[Any]:
    """The items of a listing ``dutydesk drill ARGS --json`` (``{"items", "next_after"}``)."""
    listing = drill(run, *args)
    assert set(listing) >= {"items", "next_after"}, listing
    return listing["items"]


def counts(run) -> tuple[int, ...]:
    """What a refused command must leave as it was: audit entries and every drill table."""
    tables = ("events", "drill_plans", "drill_objectives", "drill_schedules", "drill_runs")
    tables += ("drill_notes", "drill_ratings", "drill_improvements")
    with sqlite3.connect(run.db) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)


def one_clear_line(result, *words: str) -> None:
    """Exit 2, one line on stderr naming ``words``, no traceback."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err and "unexpected error" not in result.err
    for word in words:
        assert word in result.err, (word, result.err)


def send_all(run) -> None:
    """What the engine would do now: walk the cascade and deliver every message."""
    db = connect(run.db)
    process_due(db, run.clock)
    out, failed = claim_pending(db, run.clock, Routing())
    record_deliveries(
        db, run.clock, [Delivery(m.attempt_id, True) for m in out] + failed, Routing()
    )
    db.close()


def answer(run, mobilization: int, yes: tuple[str, ...]) -> None:
    """The people ``yes`` answer 1 by their ack codes, as on the phone, each once the cascade
    has called them (a grid's members are called when its leader answers)."""
    waiting = list(yes)
    for _round in range(5):
        send_all(run)
        people = run("mobilization", "people", str(mobilization), "--json").json()["items"]
        codes = {p["key"]: p["code"] for p in people}
        for key in [k for k in waiting if k in codes]:
            assert run("ack", codes[key]).code == 0
            waiting.remove(key)
        if not waiting:
            return
    raise AssertionError(f"never called: {waiting}")


def call_tree_run(run, *, yes: tuple[str, ...]) -> dict[str, Any]:
    """A run of CT started now, sent, answered by ``yes`` two minutes later, ended: its JSON."""
    started = drill(run, "run", "CT", "--now")
    send_all(run)
    run.clock.advance(minutes=2)
    answer(run, started["mobilization"], yes=yes)
    send_all(run)  # those released by the answers are called too
    run.clock.advance(minutes=20)
    return drill(run, "end", str(started["id"]))


# ------------------------------------------------------------------------ plans


def test_plan_add_show_list_edit_retire(office) -> None:
    plan = drill(office, *CALL_TREE[:-2], "--unannounced", "--hours", "after")
    assert plan["code"] == "CT" and plan["kind"] == "notification"  # the Chinese name taken
    assert plan["announced"] is False and plan["hours"] == "after"
    assert plan["scope"] == ["grid:G01"] and plan["reminders_min"] == [1440, 60]
    assert plan["organizer"] == "A" and plan["evaluators"] == ["SEC"]
    assert [o["metric"] for o in plan["objectives"]] == ["answer_rate", "first_answer"]
    assert plan["objectives"][0]["target"] == 50 and plan["objectives"][0]["within_min"] == 10
    assert drill(office, "plan", "show", "CT") == plan
    assert [p["code"] for p in items(office, "plan", "list")] == ["CT"]
    shown = office("drill", "plan", "show", "CT")
    assert shown.code == 0 and "网格叫应" in shown.out and "1d, 1h" in shown.out

    edited = drill(office, "plan", "edit", "CT", "--name", "夜间叫应", "--clear", "evaluators")
    assert edited["name"] == "夜间叫应" and edited["evaluators"] == []
    assert edited["objectives"] == plan["objectives"]  # what was not given is kept
    assert drill(office, "plan", "retire", "CT")["active"] is False
    assert items(office, "plan", "list") == []
    assert [p["code"] for p in items(office, "plan", "list", "--all")] == ["CT"]
    assert "[retired]" in office("drill", "plan", "list", "--all").out
    refused = office("drill", "run", "CT", "--now")
    assert refused.code == 2 and "Traceback" not in refused.err
    assert drill(office, "plan", "retire", "CT", "--undo")["active"] is True


def test_reminders_default_to_the_configuration(office) -> None:
    with office.config.open("a", encoding="utf-8") as f:
        f.write("[drills]\nreminders_minutes = [2880, 30]\n")
    plan = drill(office, "plan", "add", "TT", "--name", "桌面推演", "--kind", "tabletop",
                 "--organizer", "A", "--inject", "10m 河道水位超警戒")  # fmt: skip
    assert plan["reminders_min"] == [2880, 30] and plan["kind"] == "tabletop"
    assert plan["injects"] == [{"at_min": 10, "text": "河道水位超警戒", "send": True}]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("plan", "show", "NOPE"), ("NOPE",)),
        (("plan", "edit", "NOPE", "--name", "x"), ("NOPE",)),
        (("plan", "edit", "CT"), ("nothing to change",)),
        (("plan", "add", "X2", "--name", "x", "--organizer", "NOBODY"), ("organizer",)),
        (
            ("plan", "add", "X2", "--name", "x", "--organizer", "A", "--evaluator", "NOBODY"),
            ("evaluator",),
        ),
        (("plan", "add", "X2", "--name", "x", "--organizer", "A", "--kind", "parade"), ("kind",)),
        (("plan", "add", "X2", "--name", "x", "--organizer", "A", "--hours", "noon"), ("hours",)),
        (("plan", "add", "X2", "--name", "x", "--organizer", "A", "--remind", "soon"), ("remind",)),
        (
            ("plan", "add", "X2", "--name", "x", "--organizer", "A", "--objective", "speed 5"),
            ("objective",),
        ),
        (
            ("plan", "add", "X2", "--name", "x", "--organizer", "A", "--inject", "later text"),
            ("inject",),
        ),
        (("plan", "edit", "CT", "--clear", "scope", "--scope", "grid:G02"), ("clear",)),
        (("schedule", "NOPE", "--at", "2026-12-01 09:00"), ("NOPE",)),
        (("schedule", "CT", "--rrule", "FREQ=SOMETIMES;BYHOUR=9"), ("rrule",)),
        (("schedule", "CT", "--rrule", "FREQ=MONTHLY;BYDAY=1WE"), ("rrule", "BYHOUR")),
        (("schedule", "CT"), ("--at",)),
        (("schedule", "CT", "--at", "2026-12-01 09:00", "--rrule", "FREQ=DAILY"), ("--at",)),
        (("schedule", "CT", "--at", "2020-01-01 09:00"), ("at",)),
        (("schedule", "CT", "--at", "tomorrow"), ("at",)),
        (("run", "NOPE", "--now"), ("NOPE",)),
        (("show", "99"), ("99",)),
        (("trend", "NOPE"), ("NOPE",)),
        (("list", "--plan", "NOPE"), ("NOPE",)),
        (("cancel", "99"), ("99",)),
    ],
)
def test_bad_input_is_one_line_naming_the_field_and_changes_nothing(
    office, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    drill(office, *CALL_TREE)
    before = counts(office)
    one_clear_line(office("drill", *args), *words)
    assert counts(office) == before


# ------------------------------------------------------------------------ schedules


def test_schedule_recurring_lists_upcoming_and_cancels_one_occurrence(office) -> None:
    drill(office, *CALL_TREE)
    # The first Wednesday of each month at 09:00 local (from Thursday 2026-11-26).
    made = drill(office, "schedule", "CT", "--rrule", "FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9")
    assert made["zone"] == "Asia/Shanghai" and made["state"] == "active"
    assert made["next"][:2] == ["2026-12-02T01:00:00Z", "2027-01-06T01:00:00Z"]
    listed = drill(office, "list", "--upcoming")
    ats = [o["at"] for o in listed["items"]]
    assert ats[:2] == ["2026-12-02T01:00:00Z", "2027-01-06T01:00:00Z"]
    first = listed["items"][0]
    assert first["next_reminder"] == "2026-12-01T01:00:00Z"  # a day before
    text = office("drill", "list")
    assert "2026-12-02 09:00" in text.out and "2026-12-01 09:00" in text.out

    cancelled = drill(office, "cancel", str(made["id"]), "--at", "2026-12-02 09:00")
    assert cancelled["state"] == "active"  # one occurrence, not the schedule
    after = drill(office, "list", "--upcoming")["items"]
    assert [(o["at"], o["cancelled"]) for o in after[:2]] == [
        ("2026-12-02T01:00:00Z", True),
        ("2027-01-06T01:00:00Z", False),
    ]
    assert "[cancelled]" in office("drill", "list").out
    assert drill(office, "cancel", str(made["id"]))["state"] == "cancelled"
    assert not any(
        not o["cancelled"] for o in drill(office, "list", "--upcoming", "--plan", "CT")["items"]
    )


def test_working_hours_are_checked_against_the_office_calendar(office) -> None:
    drill(office, *CALL_TREE, "--hours", "after")
    one_clear_line(office("drill", "schedule", "CT", "--at", "2026-11-30 10:00"), "2026-11-30")
    night = drill(office, "schedule", "CT", "--at", "2026-11-30 03:00")
    assert night["start"] == "2026-11-30T03:00" and night["rrule"] is None
    drill(office, "plan", "edit", "CT", "--hours", "working")
    one_clear_line(
        office("drill", "schedule", "CT", "--rrule", "FREQ=DAILY;BYHOUR=9"), "rrule"
    )  # Saturdays are not work days
    weekdays = drill(office, "schedule", "CT", "--rrule", "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9")
    assert weekdays["next"][0] == "2026-11-30T01:00:00Z"


# ------------------------------------------------------------------------ runs


def test_run_asks_first_unless_told(office, monkeypatch: pytest.MonkeyPatch) -> None:
    drill(office, *CALL_TREE)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    declined = office("drill", "run", "CT")
    assert declined.code == 1 and "start drill CT" in declined.err
    assert items(office, "list", "--running") == []
    started = office("drill", "run", "CT", "--yes")
    assert started.code == 0, started.err
    assert "run 1 started" in started.out and "exercise mobilization 1" in started.out
    assert "no engine is running" in started.err
    running = items(office, "list", "--running")
    assert [r["id"] for r in running] == [1] and running[0]["answers"]["total"] >= 1
    mob = office("mobilization", "show", "1", "--json").json()
    assert mob["exercise"] is True


def test_stop_is_a_real_emergency(office) -> None:
    drill(office, *CALL_TREE)
    started = drill(office, "run", "CT", "--now")
    send_all(office)
    stopped = drill(office, "stop", str(started["id"]), "--reason", "真实险情：河堤管涌")
    assert stopped["state"] == "stopped" and stopped["stop_reason"] == "真实险情：河堤管涌"
    mob = office("mobilization", "show", str(started["mobilization"]), "--json").json()
    assert mob["state"] == "cancelled"
    assert items(office, "list", "--running") == []
    one_clear_line(office("drill", "stop", str(started["id"]), "--reason", "again"))


def test_notes_strengths_and_milestones(office) -> None:
    drill(office, *CALL_TREE)
    started = drill(office, "run", "CT", "--now")
    run_id = str(started["id"])
    written = items(office, "note", run_id, "值班员登记了案件", "--milestone", "case_logged")
    assert [(n["kind"], n["text"]) for n in written] == [
        ("milestone", "case_logged"),
        ("observation", "值班员登记了案件"),
    ]
    assert items(office, "note", run_id, "响应迅速", "--strength")[0]["kind"] == "strength"
    before = counts(office)
    one_clear_line(office("drill", "note", run_id), "text")
    one_clear_line(office("drill", "note", run_id, "x", "--strength", "--milestone", "m"))
    assert counts(office) == before
    shown = drill(office, "show", run_id)
    assert {n["kind"] for n in shown["notes"]} == {"milestone", "observation", "strength"}


# ------------------------------------------------------------------------ evaluation


def test_rating_other_than_the_proposal_needs_a_reason_and_nothing_is_half_written(
    office,
) -> None:
    drill(office, *CALL_TREE)
    ended = call_tree_run(office, yes=("L1", "M1"))
    run_id = str(ended["id"])
    ev = drill(office, "show", run_id)
    proposed = {r["objective"]["position"]: r["proposed"] for r in ev["results"]}
    assert proposed[1] == "P"  # half of the grid answered within 10 minutes
    before = counts(office)
    # The first rating alone is fine; the second differs from its proposal without a reason.
    refused = office("drill", "evaluate", run_id, "--rate", "1=P", "--rate", "2=U")
    one_clear_line(refused, "reason")
    one_clear_line(office("drill", "evaluate", run_id, "--rate", "7=P"), "rate")
    one_clear_line(office("drill", "evaluate", run_id, "--rate", "1=X"), "rate")
    one_clear_line(office("drill", "evaluate", run_id, "--improve", "only | three | parts"))
    one_clear_line(
        office("drill", "evaluate", run_id, "--improve", "a | b | sleeping | A | 2026-12-31"),
        "improve",
    )
    one_clear_line(
        office("drill", "evaluate", run_id, "--improve", "a | b | training | NOBODY | +30d"),
        "owner",
    )
    assert counts(office) == before
    assert all(r["rating"] is None for r in drill(office, "show", run_id)["results"])


def test_evaluate_without_options_asks_objective_by_objective(
    office, monkeypatch: pytest.MonkeyPatch
) -> None:
    drill(office, *CALL_TREE)
    run_id = str(call_tree_run(office, yes=("L1", "M1"))["id"])
    # 1: Enter takes the proposal; 2: changed to M, with a reason; 3 (free): S, no reason;
    # one strength; one improvement item tied to objective 1; then empty lines to finish.
    typed = [
        "",
        "M",
        "二级网格员回复慢",
        "S",
        "网格长响应迅速",
        "",
        "M2 did not answer",
        "check M2's phone",
        "equipment",
        "SEC",
        "2026-12-31",
        "1",
        "",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(typed) + "\n"))
    result = office("drill", "evaluate", run_id)
    assert result.code == 0, result.err
    assert "rating (P/S/M/U) [P]" in result.err
    ev = drill(office, "show", run_id)
    assert [(r["rating"], r["reason"]) for r in ev["results"]] == [
        ("P", None),
        ("M", "二级网格员回复慢"),
        ("S", None),
    ]
    assert ev["run"]["state"] == "evaluated" and ev["complete"] is True
    assert [n["text"] for n in ev["notes"] if n["kind"] == "strength"] == ["网格长响应迅速"]
    (item,) = ev["improvements"]
    assert item["element"] == "equipment" and item["owner"] == "SEC"
    assert item["objective"] == ev["results"][0]["objective"]["id"]
    assert item["due"] == "2026-12-31T15:59:00Z"  # the end of that day in Shanghai


def test_evaluate_refuses_a_running_drill(office, monkeypatch: pytest.MonkeyPatch) -> None:
    drill(office, *CALL_TREE)
    started = drill(office, "run", "CT", "--now")
    monkeypatch.setattr("sys.stdin", io.StringIO("P\n"))
    one_clear_line(office("drill", "evaluate", str(started["id"])), "running")
    one_clear_line(office("drill", "evaluate", str(started["id"]), "--rate", "1=P"))


# ------------------------------------------------------------------------ the whole cycle


def test_plan_schedule_run_answer_evaluate_report_export(office, tmp_path: Path) -> None:
    from icalendar import Calendar

    drill(office, *CALL_TREE)
    drill(office, "plan", "add", "NIGHT", "--name", "夜间叫应", "--scope", "grid:G02",
          "--organizer", "A", "--message", "演练：收到请回复1", "--unannounced",
          "--objective", "reach 100% 5m")  # fmt: skip
    weekly = drill(office, "schedule", "CT", "--rrule", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9")
    drill(office, "schedule", "NIGHT", "--at", "2026-12-05 03:00")
    drill(office, "cancel", str(weekly["id"]), "--at", "2026-12-07 09:00")

    # The first run: two of the grid answer within two minutes; it ends; the evaluator rates.
    first = call_tree_run(office, yes=("L1", "M1"))
    assert first["state"] == "ended" and first["mobilization"] is not None
    shown = drill(office, "show", str(first["id"]))
    assert shown["metrics"]["yes"] == 2 and shown["metrics"]["called"] >= 3
    assert {s["name"] for s in shown["metrics"]["never_answered"]} >= {"M2"}
    text = office("drill", "show", str(first["id"]))
    assert "answer_rate" not in text.out and "半数网格员10分钟内应答" in text.out
    evaluated = drill(office, "evaluate", str(first["id"]),
                      "--rate", "answer_rate=P", "--rate", "2=S:电话占线",
                      "--rate", "3=S", "--strength", "网格长响应迅速",
                      "--improve", "M2未应答 | 核对M2号码 | equipment | SEC | +30d | 1",
                      "--improve", "预案未更新 | 修订预案 | planning | A | 2026-12-31")  # fmt: skip
    assert evaluated["complete"] and evaluated["run"]["state"] == "evaluated"
    assert [r["rating"] for r in evaluated["results"]] == ["P", "S", "S"]
    assert evaluated["results"][1]["reason"] == "电话占线"
    assert len(evaluated["improvements"]) == 2

    found = items(office, "improvements", "--plan", "CT", "--open")
    assert [i["state"] for i in found] == ["open", "open"]
    planning = next(i for i in found if i["element"] == "planning")
    done = drill(office, "improvement", "done", str(planning["id"]), "--note", "已修订")
    assert done["state"] == "done"
    listed = office("drill", "improvements")
    assert "核对M2号码" in listed.out and "awaiting retest" in listed.out

    # The second run: everyone answers; it retests the plan.
    office.clock.advance(days=7)
    second = call_tree_run(office, yes=("L1", "M1", "M2", "V1"))
    drill(office, "evaluate", str(second["id"]), "--rate", "1=P", "--rate", "3=P")
    closed = drill(office, "improvement", "close", str(planning["id"]), "--run", str(second["id"]))
    assert closed["state"] == "closed" and closed["closed_by_run"] == second["id"]
    history = items(office, "list", "--history")
    assert [h["id"] for h in history] == [second["id"], first["id"]]
    assert history[1]["answer_rate"] < history[0]["answer_rate"]

    trend = drill(office, "trend", "CT")
    assert [p["run"] for p in trend["points"]] == [first["id"], second["id"]]
    trend_text = office("drill", "trend", "CT")
    assert "█" in trend_text.out and "░" in trend_text.out

    report = tmp_path / "aar.md"
    written = office("drill", "report", str(first["id"]), "-o", str(report))
    assert written.code == 0, written.err
    markdown = report.read_text(encoding="utf-8")
    assert "网格叫应" in markdown and "核对M2号码" in markdown
    docx = tmp_path / "aar.docx"
    assert office("drill", "report", str(first["id"]), "-o", str(docx)).code == 0
    assert docx.read_bytes()[:2] == b"PK"  # a zip: the Word document
    one_clear_line(office("drill", "report", str(first["id"]), "--format", "docx"), "output")

    # The calendar: announced drills only, the cancelled Monday as CANCELLED.
    ics = tmp_path / "drills.ics"
    exported = office("drill", "export", str(ics))
    assert exported.code == 0, exported.err
    assert "1 unannounced drill(s) left out" in exported.out
    events = [c for c in Calendar.from_ical(ics.read_bytes()).walk("VEVENT")]
    upcoming = drill(office, "list", "--upcoming", "--plan", "CT", "--limit", "10000")
    horizon = office.clock.now() + timedelta(days=400)
    announced = [o for o in upcoming["items"] if from_iso(o["at"]) <= horizon]
    assert len(announced) == 57  # the Mondays of the 400 days after Thursday 2026-12-03
    assert {str(e["UID"]) for e in events} == {o["uid"] for o in announced}
    statuses = {str(e["UID"]): str(e.get("STATUS", "")) for e in events}
    cancelled = [o["uid"] for o in announced if o["cancelled"]]
    assert len(cancelled) == 1 and statuses[cancelled[0]] == "CANCELLED"
    everything = tmp_path / "all.ics"
    assert office("drill", "export", str(everything), "--all").code == 0
    night = [c for c in Calendar.from_ical(everything.read_bytes()).walk("VEVENT")]
    assert len(night) == len(events) + 1


def test_help_lists_every_command(office) -> None:
    result = office("drill", "--help")
    assert result.code == 0
    for word in ("plan", "schedule", "run", "evaluate", "improvements", "trend", "export"):
        assert word in result.out
    assert office("drill", "plan", "add", "--help").code == 0


def test_the_next_reminder_is_one_still_to_come(office) -> None:
    """Tomorrow's drill: its one-day reminder is past, the next is an hour before, local."""
    drill(office, *CALL_TREE)
    drill(office, "schedule", "CT", "--at", "2026-11-27 09:00")
    (coming,) = drill(office, "list", "--upcoming")["items"]
    assert from_iso(coming["at"]) == office.clock.now() + timedelta(hours=23)
    assert coming["next_reminder"] == "2026-11-27T00:00:00Z"  # 08:00 in Shanghai
    assert "2026-11-27 08:00" in office("drill", "list").out


def test_missed_moments_are_listed_with_the_upcoming(office) -> None:
    """No engine ran for three days: the drill and its reminder were recorded as missed."""
    from drills.schedules import fire_due

    drill(office, *CALL_TREE)
    drill(office, "schedule", "CT", "--at", "2026-11-26 12:00")
    office.clock.advance(days=3)
    db = connect(office.db)
    fire_due(db, office.clock, grace=timedelta(minutes=30), holder="test")
    db.close()
    listed = drill(office, "list")
    assert listed["items"] == []
    assert {(d["what"], d["outcome"]) for d in listed["missed"]} == {
        ("run", "missed"),
        ("remind:60", "missed"),
    }
    text = office("drill", "list").out
    assert "no drills scheduled" in text and "missed in the last 30 days" in text
    assert "reminder 1h before" in text and "2026-11-26 12:00" in text
    assert drill(office, "list", "--plan", "CT")["missed"] == listed["missed"]


def test_trend_names_who_missed_two_drills_in_a_row(office) -> None:
    drill(office, *CALL_TREE)
    call_tree_run(office, yes=("L1",))
    office.clock.advance(days=30)
    call_tree_run(office, yes=("L1",))
    trend = drill(office, "trend", "CT")
    assert len(trend["points"]) == 2
    twice = {s["name"] for s in trend["missed_twice"]}
    assert twice and "L1" not in twice
    shown = office("drill", "trend", "CT").out
    assert "missed the last two drills in a row" in shown
    assert all(name in shown for name in twice)
    assert "138****" in shown  # phones masked
