"""``dutydesk sitrep ...``: a major case reported up from the command line, and every refusal.

The wall clock stands still at Thursday 2026-11-26 10:00 in Shanghai (the ``clock`` fixture)
and is moved by hand. The acting officer is A (the roster's duty officer, not entitled to sign
off); 陈队长 is a shift lead (role), 刘主任 the office head. Each refusal exits 2 with one line
naming the field, and leaves the database as it was (:func:`snapshot`).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from store.clock import FixedClock, SystemClock, from_iso
from store.db import connect
from tests.support.domain import START
from tests.support.town import build_town

LEAD, HEAD = "陈队长", "刘主任"
TABLES = ("events", "sitreps", "sitrep_cases", "uplink_outbox")


@pytest.fixture
def office(run, clock: FixedClock, monkeypatch: pytest.MonkeyPatch):
    """The small town, a shift lead and an office head, on a clock that stands still."""
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())
    db = connect(run.db)
    build_town(db, clock, starts_on=date(2020, 1, 1))
    db.close()
    for name, key, role in ((LEAD, "chen", "shift_lead"), (HEAD, "liu", "office_head")):
        added = run("person", "add", "--name", name, "--key", key, "--role", role)
        assert added.code == 0, added.err
    run.clock = clock
    return run


def ok(run, *args: str) -> Any:
    """``dutydesk ARGS --json``, which must succeed; its JSON."""
    result = run(*args, "--json")
    assert result.code == 0, (args, result.err)
    return result.json()


def new_case(run, severity: str = "II", title: str = "幸福社区3号楼发生火灾") -> str:
    case = ok(
        run, "incident", "new", "--title", title, "--category", "accident-disaster",
        "--type", "fire", "--severity", severity, "--grid", "G01", "--location", "长江路88号",
    )  # fmt: skip
    return str(case["number"])


def snapshot(run) -> tuple[Any, ...]:
    """What a refused command must leave as it was: row counts and every report's state."""
    with sqlite3.connect(run.db) as conn:
        existing = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        counts = tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES if t in existing
        )
        reports = conn.execute(
            "SELECT id, state, fields, figures, signed_by, updated_at FROM sitreps ORDER BY id"
        ).fetchall()
        facts = conn.execute("SELECT * FROM sitrep_cases ORDER BY incident_id").fetchall()
    return counts, reports, facts


def refused(run, *args: str, words: tuple[str, ...] = ()) -> str:
    """``dutydesk ARGS`` exits 2 with one line on stderr naming ``words``, changing nothing."""
    before = snapshot(run)
    result = run(*args)
    assert result.code == 2, (args, result.code, result.out, result.err)
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err and "unexpected error" not in result.err
    for word in words:
        assert word in result.err, (word, result.err)
    assert snapshot(run) == before, args
    return result.err


def events_of(run, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(run.db) as conn:
        rows = conn.execute(
            "SELECT operator, data FROM events WHERE kind = ? ORDER BY id", (kind,)
        ).fetchall()
    return [{"operator": op, **json.loads(data or "{}")} for op, data in rows]


def sign_and_send(run, sitrep_id: int) -> dict[str, Any]:
    signed = ok(run, "sitrep", "sign", str(sitrep_id), "--by", LEAD)
    assert signed["state"] == "signed" and signed["signed_by"] == LEAD
    sent = ok(run, "sitrep", "send", str(sitrep_id))
    assert sent["state"] == "sent" and sent["text"]
    return dict(sent)


def close(run, number: str) -> None:
    for step in (("register",), ("dispatch",), ("handle",), ("feedback", "--result", "明火扑灭")):
        ok(run, "incident", *step[:1], number, *step[1:])
    ok(run, "incident", "verify", number)
    ok(run, "incident", "close", number)


# ------------------------------------------------------------------------ the whole flow


def test_a_major_case_is_reported_initial_two_follow_ups_and_final(office) -> None:
    run = office
    number = new_case(run)
    due = run("sitrep", "list", "--due")
    assert due.code == 0 and number in due.out and "初报 due in 30 min" in due.out, due.out
    owed = ok(run, "sitrep", "list", "--due")["items"]
    assert [(o["case"], o["kind"], o["state"]) for o in owed] == [(number, "initial", "pending")]

    run.clock.advance(minutes=12)
    drafted = ok(run, "sitrep", "draft", number, "--kind", "initial")
    assert (drafted["name"], drafted["state"], drafted["case"]) == ("初报", "draft", number)
    assert "长江路88号" in json.dumps(drafted["fields"], ensure_ascii=False)
    rid = int(drafted["id"])
    edited = ok(
        run, "sitrep", "edit", str(rid), "--field", "measures=消防救援到场，疏散群众30人",
        "--field", "事发地点：幸福社区3号楼5层", "--field", "trend=10:30 火势：得到控制",
        "--dead", "0", "--injured", "1",
        "--evacuated", "30",
    )  # fmt: skip
    assert edited["fields"]["measures"] == "消防救援到场，疏散群众30人"
    assert edited["fields"]["place"] == "幸福社区3号楼5层"
    assert edited["fields"]["trend"] == "10:30 火势：得到控制"
    assert (edited["figures"]["dead"], edited["figures"]["injured"]) == (0, 1)
    assert edited["figures"]["evacuated"] == 30 and edited["figures"]["trapped"] is None

    text = run("sitrep", "show", str(rid))
    assert text.code == 0 and "草稿" in text.out and "幸福社区3号楼5层" in text.out, text.out
    sent = sign_and_send(run, rid)
    assert sent["signed_by"] == LEAD and sent["sent_by"] == "A"
    signed = events_of(run, "sitrep_signed")
    assert signed and signed[-1]["operator"] == "A" and signed[-1]["signer"] == LEAD
    audit = events_of(run, "sitrep_sent")[-1]
    assert audit["text"] == sent["text"] and audit["id"] == rid
    # Met: what is owed now is the daily follow-up, a day after the report.
    assert [o["kind"] for o in ok(run, "sitrep", "list", "--due")["items"]] == ["daily"]

    # The figures change: a follow-up is owed; 续报一 says so and goes up.
    run.clock.advance(minutes=40)
    facts = ok(run, "sitrep", "figures", number, "--injured", "2", "--trapped", "0")
    assert facts["figures"]["injured"] == 2
    owed = [o for o in facts["obligations"] if o["state"] == "pending"]
    assert [o["kind"] for o in owed] == ["followup", "daily"]
    first = ok(run, "sitrep", "draft", number, "--kind", "followup")
    assert first["name"] == "续报一"
    ok(run, "sitrep", "edit", str(first["id"]), "--injured", "2", "--evacuated", "32")
    sign_and_send(run, int(first["id"]))

    run.clock.advance(hours=2)
    second = ok(run, "sitrep", "draft", number, "--kind", "followup")
    assert second["name"] == "续报二"
    ok(run, "sitrep", "edit", str(second["id"]), "--field", "trend=明火已扑灭，无复燃可能")
    sign_and_send(run, int(second["id"]))

    run.clock.advance(hours=1)
    close(run, number)
    final = ok(run, "sitrep", "draft", number, "--kind", "final")
    assert final["name"] == "终报"
    sign_and_send(run, int(final["id"]))

    listed = ok(run, "sitrep", "list", "--case", number)["items"]
    assert [r["name"] for r in listed] == ["初报", "续报一", "续报二", "终报"]
    assert {r["state"] for r in listed} == {"sent"}
    assert ok(run, "sitrep", "list", "--late")["items"] == []
    table = run("sitrep", "list")
    assert table.code == 0 and "续报二" in table.out and LEAD in table.out
    with sqlite3.connect(run.db) as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events WHERE kind LIKE 'sitrep_%'")]
    assert kinds.count("sitrep_sent") == 4


def test_documents_text_markdown_and_word(office, tmp_path: Path) -> None:
    run = office
    number = new_case(run)
    rid = str(ok(run, "sitrep", "draft", number, "--kind", "initial")["id"])
    shown = ok(run, "sitrep", "show", rid)
    assert "城关街道" in shown["title"] and shown["title"].endswith("初报")
    md = run("sitrep", "show", rid, "--format", "md")
    assert md.code == 0 and "初报" in md.out
    refused(run, "sitrep", "show", rid, "--format", "docx", words=("--output", "-o"))
    word = tmp_path / "初报.docx"
    written = run("sitrep", "show", rid, "-o", str(word))
    assert written.code == 0, written.err
    assert word.read_bytes()[:2] == b"PK"  # a zip: the .docx container
    plain = tmp_path / "初报.txt"
    assert run("sitrep", "show", rid, "--format", "text", "-o", str(plain)).code == 0
    assert "幸福社区3号楼" in plain.read_text(encoding="utf-8")


def test_a_phone_report_lets_a_follow_up_come_before_the_written_initial(office) -> None:
    run = office
    number = new_case(run)
    err = refused(run, "sitrep", "draft", number, "--kind", "followup", words=("initial",))
    assert "phone" in err
    run.clock.advance(minutes=10)
    phoned = ok(
        run, "sitrep", "phone", number, "--to", "区应急局值班室", "--at", "2026-11-26 10:08",
        "--note", "口头报告火情",
    )  # fmt: skip
    assert (phoned["channel"], phoned["phoned_to"]) == ("phone", "区应急局值班室")
    assert from_iso(phoned["sent_at"]) == run.clock.now() - timedelta(minutes=2)
    follow = ok(run, "sitrep", "draft", number, "--kind", "followup")
    assert follow["name"] == "续报一"
    # A phone report meets no written deadline: the initial report is still owed.
    assert [o["kind"] for o in ok(run, "sitrep", "list", "--due")["items"]] == ["initial"]
    refused(run, "sitrep", "phone", number, "--to", "x", "--at", "+2h", words=("--at", "future"))


def test_marking_a_minor_case_and_correcting_when_it_was_received(office) -> None:
    run = office
    number = new_case(run, "IV", "长江路井盖缺失")
    assert ok(run, "sitrep", "list", "--due")["items"] == []
    marked = ok(run, "sitrep", "mark", number, "--report")
    assert marked["marked"] is True and marked["sensitive"] is False
    owed = [o for o in marked["obligations"] if o["state"] in ("pending", "overdue")]
    assert [o["kind"] for o in owed] == ["initial"]
    words = run("sitrep", "mark", number, "--sensitive")
    assert words.code == 0 and "sensitive" in words.out and "初报" in words.out
    fixed = ok(
        run, "sitrep", "received", number, "--at", "2026-11-26 09:50", "--reason", "接报登记晚了"
    )
    assert from_iso(fixed["received_at"]) == run.clock.now() - timedelta(minutes=10)
    assert events_of(run, "sitrep_received")[-1]["reason"] == "接报登记晚了"
    refused(run, "sitrep", "mark", number, words=("--report",))
    refused(run, "sitrep", "received", number, "--at", "yesterday", "--reason", "x",
            words=("--at",))  # fmt: skip


# ------------------------------------------------------------------------ item 9's refusals


def test_sending_unsigned_is_refused(office) -> None:
    run = office
    rid = str(ok(run, "sitrep", "draft", new_case(run), "--kind", "initial")["id"])
    refused(run, "sitrep", "send", rid, words=("sign",))


def test_signing_by_someone_not_entitled_is_refused(office) -> None:
    run = office
    rid = str(ok(run, "sitrep", "draft", new_case(run), "--kind", "initial")["id"])
    refused(run, "sitrep", "sign", rid, words=("A",))  # the acting duty officer
    refused(run, "sitrep", "sign", rid, "--by", "L1", words=("L1",))
    refused(run, "sitrep", "sign", rid, "--by", "nobody-like-this", words=("--by",))
    signed = ok(run, "--as", HEAD, "sitrep", "sign", rid)  # the office head signs herself
    assert signed["signed_by"] == HEAD


@pytest.mark.parametrize(
    "args, field",
    [
        (("--dead", "-1"), "dead"),
        (("--injured", "two"), "injured"),
        (("--evacuated", "2.5"), "evacuated"),
        (("--missing", "99999999999"), "missing"),
    ],
)
def test_bad_figures_are_refused(office, args: tuple[str, ...], field: str) -> None:
    run = office
    number = new_case(run)
    rid = str(ok(run, "sitrep", "draft", number, "--kind", "initial")["id"])
    refused(run, "sitrep", "edit", rid, *args, words=(field,))
    refused(run, "sitrep", "figures", number, *args, words=(field,))


def test_a_follow_up_with_no_initial_report_is_refused(office) -> None:
    run = office
    number = new_case(run)
    refused(run, "sitrep", "draft", number, "--kind", "followup", words=("initial",))
    refused(run, "sitrep", "draft", number, "--kind", "final")


def test_a_final_report_on_an_open_case_is_refused(office) -> None:
    run = office
    number = new_case(run)
    sign_and_send(run, int(ok(run, "sitrep", "draft", number, "--kind", "initial")["id"]))
    refused(run, "sitrep", "draft", number, "--kind", "final", words=("open",))


def test_a_sent_report_is_never_edited_and_a_second_initial_is_refused(office) -> None:
    run = office
    number = new_case(run)
    rid = int(ok(run, "sitrep", "draft", number, "--kind", "initial")["id"])
    sign_and_send(run, rid)
    refused(run, "sitrep", "edit", str(rid), "--field", "trend=好转")
    refused(run, "sitrep", "sign", str(rid), "--by", LEAD)
    refused(run, "sitrep", "discard", str(rid))
    refused(run, "sitrep", "draft", number, "--kind", "initial")
    # The correction is a follow-up naming the report it corrects.
    fix = ok(run, "sitrep", "draft", number, "--kind", "followup", "--corrects", str(rid))
    assert fix["corrects"] == rid


def test_editing_a_signed_report_voids_its_sign_off(office) -> None:
    run = office
    rid = str(ok(run, "sitrep", "draft", new_case(run), "--kind", "initial")["id"])
    ok(run, "sitrep", "sign", rid, "--by", LEAD)
    edited = ok(run, "sitrep", "edit", rid, "--field", "trend=火势得到控制")
    assert edited["state"] == "draft" and edited["signed_by"] is None
    assert events_of(run, "sitrep_unsigned")


def test_bad_input_names_the_option(office) -> None:
    run = office
    number = new_case(run)
    rid = str(ok(run, "sitrep", "draft", number, "--kind", "initial")["id"])
    refused(run, "sitrep", "draft", number, "--kind", "weekly", words=("kind",))
    refused(run, "sitrep", "edit", rid, "--field", "colour=red", words=("--field", "colour"))
    refused(run, "sitrep", "edit", rid, "--field", "no equals sign", words=("--field",))
    refused(run, "sitrep", "edit", rid, "--as-of", "soon", "--dead", "1", words=("--as-of",))
    refused(run, "sitrep", "figures", number, words=("--dead",))
    refused(run, "sitrep", "show", "999", words=("999",))
    refused(run, "sitrep", "draft", "2026-999999", "--kind", "initial")
    refused(run, "sitrep", "list", "--due", "--late", words=("--late",))


def test_discarding_a_draft(office) -> None:
    run = office
    number = new_case(run)
    rid = str(ok(run, "sitrep", "draft", number, "--kind", "initial")["id"])
    gone = ok(run, "sitrep", "discard", rid)
    assert gone["discarded"] is True
    assert ok(run, "sitrep", "list", "--case", number)["items"] == []
    assert events_of(run, "sitrep_discarded")
    ok(run, "sitrep", "draft", number, "--kind", "initial")  # a new initial may be drafted


# ------------------------------------------------------------------------ fields from a file


def test_fields_from_a_file_of_name_text_lines(office, tmp_path: Path) -> None:
    run = office
    rid = str(ok(run, "sitrep", "draft", new_case(run), "--kind", "initial")["id"])
    sheet = tmp_path / "report.txt"
    sheet.write_text(
        "# 初报\n"
        "事发地点：幸福社区3号楼5层\n"
        "measures: 消防救援到场，报告人：周建华\n"
        "  网格员疏散群众30人\n"
        "trend: 火势得到控制\n"
        "dead: 0\n"
        "injured: 1\n"
        "as_of: 2026-11-26 09:55\n",
        encoding="utf-8",
    )
    edited = ok(run, "sitrep", "edit", rid, "--from-file", str(sheet))
    assert edited["fields"]["place"] == "幸福社区3号楼5层"
    assert edited["fields"]["measures"] == "消防救援到场，报告人：周建华\n网格员疏散群众30人"
    assert (edited["figures"]["dead"], edited["figures"]["injured"]) == (0, 1)
    assert from_iso(edited["figures"]["as_of"]) == run.clock.now() - timedelta(minutes=5)

    as_json = tmp_path / "report.json"
    as_json.write_text(json.dumps({"trend": "已扑灭", "evacuated": 35}), encoding="utf-8")
    again = ok(run, "sitrep", "edit", rid, "--from-file", str(as_json))
    assert again["fields"]["trend"] == "已扑灭" and again["figures"]["evacuated"] == 35


@pytest.mark.parametrize(
    "text, line",
    [
        ("place: 3号楼\ncolour: red\n", 2),
        ("place: 3号楼\nthis line has no colon\n", 2),
        ("trend: 好转\n\n# x\ninjured: -2\n", 4),
        ("place: a\nplace: b\n", 2),
        ('{"place": "a",\n "dead": }', 2),
    ],
)
def test_a_bad_file_is_refused_naming_file_and_line(
    office, tmp_path: Path, text: str, line: int
) -> None:
    run = office
    rid = str(ok(run, "sitrep", "draft", new_case(run), "--kind", "initial")["id"])
    sheet = tmp_path / "bad.txt"
    sheet.write_text(text, encoding="utf-8")
    refused(run, "sitrep", "edit", rid, "--from-file", str(sheet), words=(f"{sheet}:{line}",))


def test_edit_with_no_option_opens_the_editor(office, monkeypatch: pytest.MonkeyPatch) -> None:
    run = office
    rid = str(ok(run, "sitrep", "draft", new_case(run), "--kind", "initial")["id"])
    shown: list[str] = []

    def editor(text: str, **_kwargs: Any) -> str:
        shown.append(text)
        return text.replace("trend:", "trend: 火势减弱", 1).replace("injured:", "injured: 3", 1)

    monkeypatch.setattr("click.edit", editor)
    result = run("sitrep", "edit", rid, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    assert data["fields"]["trend"].startswith("火势减弱") and data["figures"]["injured"] == 3
    assert "# 发展趋势" in shown[0]
    monkeypatch.setattr("click.edit", lambda text, **_kw: None)  # quit without saving
    before = snapshot(run)
    unchanged = run("sitrep", "edit", rid)
    assert unchanged.code == 0 and "nothing changed" in unchanged.out
    assert snapshot(run) == before


# ------------------------------------------------------------------------ the demo


def test_the_demo_holds_a_major_case_reported_by_the_book(tmp_path: Path) -> None:
    """The landslide: 初报 within 30 minutes, 续报一 and 续报二 (figures changing), 终报 after
    the close, each signed off by the shift lead on duty and sent; the fire of 40 minutes ago
    has its initial report sent and a follow-up due; nothing is overdue when it is built."""
    from console.demo import SHIFT_LEADS, build_demo
    from uplink import sitreps
    from uplink.reporting import ObligationState

    now = START + timedelta(days=11)
    summary = build_demo(tmp_path / "demo.db", cases=20, now=now)
    assert "information reports sent up, 1 late" in summary
    db = connect(tmp_path / "demo.db")
    try:
        every = sitreps.list_sitreps(db, limit=10_000)
        by_case: dict[str, list[Any]] = {}
        for report in every:
            by_case.setdefault(report.case_number, []).append(report)
        landslide = next(
            reports for reports in by_case.values() if len(reports) == 4 and reports[-1].seq == 0
        )
        assert [r.name for r in landslide] == ["初报", "续报一", "续报二", "终报"]
        assert {r.state.value for r in landslide} == {"sent"}
        assert {r.signed_by for r in landslide} <= set(SHIFT_LEADS)
        injured = [r.figures.injured for r in landslide]
        trapped = [r.figures.trapped for r in landslide]
        assert trapped[0] == 2 and trapped[1] == 0 and injured[0] is None and injured[1] == 1
        owed = sitreps.obligations_of(db, now, landslide[0].case_id)
        assert owed and all(o.state_at(now) is ObligationState.MET for o in owed if not o.cancelled)
        assert landslide[0].sent_at is not None
        open_now = sitreps.open_obligations(db, now, limit=1000)
        assert open_now and all(o.state_at(now) is ObligationState.PENDING for o in open_now)
        fire = next(o for o in open_now if o.kind.value == "followup")
        assert timedelta(0) < fire.due - now < timedelta(hours=1)  # "续报一 due in 46 min"
        late = sitreps.late_obligations(db, now, limit=1000)
        assert [o.kind.value for o in late] == ["initial"]
    finally:
        db.close()


def test_the_sweep_command_writes_the_overdue_alert_once(office) -> None:
    """Without an engine, ``dutydesk sweep`` also finds the initial report gone overdue."""
    number = new_case(office)
    office.clock.advance(timedelta(minutes=31))
    first = office("sweep")
    assert first.code == 0, first.err
    assert "reports newly overdue: 1" in first.out
    again = office("sweep")
    assert "reports newly overdue: 0" in again.out
    alerts = events_of(office, "sitrep_overdue")
    assert len(alerts) == 1 and alerts[0]["operator"] == "system"
    assert alerts[0]["kind"] == "initial"
    assert number
