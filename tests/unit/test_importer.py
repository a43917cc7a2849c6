"""The contacts import and export: every validation path, atomicity, idempotent re-import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlite_utils import Database

from contacts.exporter import export_contacts
from contacts.importer import (
    ImportProblem,
    ImportRejectedRows,
    detect_kind,
    import_contacts,
    split_list,
)
from jurisdiction.units import NewUnit, add_unit, get_unit
from store.audit import verify_chain
from store.clock import FixedClock
from store.errors import InvalidInput
from tests.conftest import OPERATOR, events_count

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contacts"
TOWN = "330106001000"
COMM = "330106001001"


@pytest.fixture
def tree(db: Database, clock: FixedClock) -> Database:
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "北山街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COMM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "一网格", "grid", parent=COMM))
    add_unit(db, clock, OPERATOR, NewUnit("G02", "二网格", "grid", parent=COMM))
    return db


def fixture(name: str) -> Path:
    return FIXTURES / name


def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order: the database's content."""
    tables = [
        r[0]
        for r in db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    return {t: sorted(db.conn.execute(f"SELECT * FROM [{t}]").fetchall(), key=repr) for t in tables}


def people(db: Database) -> dict[str, tuple[object, ...]]:
    return {
        r[0]: r[1:]
        for r in db.conn.execute(
            "SELECT p.key, p.name, u.code, p.phone, p.email, p.webhook, p.skills"
            " FROM people p LEFT JOIN units u ON u.id = p.unit_id"
        )
    }


def roles(db: Database, key: str) -> set[str]:
    return {
        r[0]
        for r in db.conn.execute(
            "SELECT role FROM person_roles JOIN people p ON p.id = person_id WHERE p.key = ?",
            (key,),
        )
    }


def imported_events(db: Database) -> list[dict[str, object]]:
    return [
        json.loads(r[0])
        for r in db.conn.execute(
            "SELECT data FROM events WHERE kind = 'contacts_imported' ORDER BY id"
        )
    ]


def rejected(db: Database, clock: FixedClock, path: Path, **kw: object) -> list[ImportProblem]:
    with pytest.raises(ImportRejectedRows) as info:
        import_contacts(db, clock, OPERATOR, path, **kw)  # type: ignore[arg-type]
    return list(info.value.problems)


# --- people ---------------------------------------------------------------------------------


def test_people_with_english_headers_are_imported_normalised(
    tree: Database, clock: FixedClock
) -> None:
    report = import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    assert report.total("added") == 3 and not report.problems
    got = people(tree)
    assert got["P001"] == (
        "张伟",
        "G01",
        "+8613800138000",
        "zhang@example.org",
        "https://hook.example.org/zw",
        '["急救", "驾驶"]',
    )
    assert got["P002"] == ("李娜", "G02", "+8613900139000", None, None, "[]")
    assert got["P003"][1] is None
    assert roles(tree, "P001") == {"grid_leader", "volunteer"}
    channels = tree.conn.execute(
        "SELECT kind, address, rank, verified FROM channels JOIN people p ON p.id = person_id"
        " WHERE p.key = 'P001' ORDER BY rank"
    ).fetchall()
    assert channels == [
        ("sms", "+8613800138000", 1, 0),
        ("webhook", "https://hook.example.org/zw", 2, 0),
        ("email", "zhang@example.org", 3, 0),
    ]
    assert imported_events(tree) == [
        {
            "file": str(fixture("people_en.csv")),
            "kind": "people",
            "encoding": "utf-8",
            "added": 3,
            "updated": 0,
            "unchanged": 0,
            "skipped": 0,
        }
    ]
    assert verify_chain(tree).ok


def test_chinese_headers_and_chinese_role_labels(tree: Database, clock: FixedClock) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_zh.csv"))
    assert people(tree)["Z001"][:3] == ("赵磊", "G01", "+8613600136000")
    assert roles(tree, "Z001") == {"grid_member", "volunteer"}
    assert roles(tree, "Z002") == {"duty_officer"}


def test_a_gbk_csv_from_excel_is_read(tree: Database, clock: FixedClock) -> None:
    assert fixture("people_gbk.csv").read_bytes().decode("gbk").startswith("编号")
    import_contacts(tree, clock, OPERATOR, fixture("people_gbk.csv"))
    assert people(tree)["G001"][:2] == ("欧阳娜娜", "G01")
    assert roles(tree, "G002") == {"team_member"}


def test_a_utf8_bom_is_not_part_of_the_first_header(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("姓名,电话\n张三,13800138000\n", encoding="utf-8-sig")
    import_contacts(tree, clock, OPERATOR, path)
    # Without an id column the key is the E.164 phone.
    assert people(tree)["+8613800138000"][0] == "张三"


def test_every_bad_row_is_listed_with_file_row_column_and_value(
    tree: Database, clock: FixedClock
) -> None:
    path = fixture("people_bad.csv")
    problems = rejected(tree, clock, path)
    where = [(p.file, p.row, p.column, p.value) for p in problems]
    assert where == [
        (str(path), 2, "name", ""),
        (str(path), 3, "phone", "12345"),
        (str(path), 4, "unit", "G99"),
        (str(path), 5, "phone", "13300133000"),
        (str(path), 6, "roles", "chef"),
    ]
    messages = [p.message for p in problems]
    assert messages[0] == "a name is required"
    assert "not a valid phone number" in messages[1] or "not a phone number" in messages[1]
    assert messages[2] == "unknown unit 'G99'"
    assert messages[3] == "duplicate phone +8613300133000: already on row 2"
    assert messages[4].startswith("unknown role 'chef'")
    assert problems[2].line() == f"{path}:4: column 'unit' = 'G99': unknown unit 'G99'"
    assert people(tree) == {}


def test_a_phone_already_held_by_another_person_in_the_database(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    path = tmp_path / "other.csv"
    path.write_text("id,name,phone\nQ1,冒名,13800138000\n", encoding="utf-8")
    [problem] = rejected(tree, clock, path)
    assert (problem.row, problem.column, problem.value) == (2, "phone", "13800138000")
    assert problem.message == (
        "duplicate phone +8613800138000: already belongs to 张伟 (key P001) in the database"
    )


def test_a_repeated_id_in_the_file_is_refused(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("id,name,phone\nA1,甲,13800138000\nA1,乙,13900139000\n", encoding="utf-8")
    [problem] = rejected(tree, clock, path)
    assert (problem.row, problem.column, problem.message) == (
        3,
        "id",
        "the same id is already on row 2",
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        # the very messages of `dutydesk person add`: one rule for typed and imported people
        ("email", "not-an-email", "'not-an-email' is not an e-mail address (name@example.com)"),
        ("webhook", "ftp://x", "'ftp://x' is not an http(s) URL"),
    ],
)
def test_bad_email_and_webhook(
    tree: Database, clock: FixedClock, tmp_path: Path, column: str, value: str, message: str
) -> None:
    path = tmp_path / "p.csv"
    path.write_text(f"name,phone,{column}\n甲,13800138000,{value}\n", encoding="utf-8")
    [problem] = rejected(tree, clock, path)
    assert (problem.row, problem.column, problem.value, problem.message) == (
        2,
        column,
        value,
        message,
    )


def test_a_retired_unit_is_refused(tree: Database, clock: FixedClock, tmp_path: Path) -> None:
    tree.conn.execute("UPDATE units SET valid_to = '2026-01-01T00:00:00Z' WHERE code = 'G02'")
    path = tmp_path / "p.csv"
    path.write_text("name,unit,phone\n甲,G02,13800138000\n", encoding="utf-8")
    [problem] = rejected(tree, clock, path)
    assert problem.message == "unit G02 was retired on 2026-01-01T00:00:00Z"


def test_unknown_and_missing_headers_are_named(tree: Database, clock: FixedClock) -> None:
    path = fixture("people_bad_header.csv")
    problems = rejected(tree, clock, path, kind="people")
    assert [(p.row, p.column, p.value) for p in problems] == [
        (1, "mobile", "mobile"),
        (1, "phone", ""),
    ]
    assert problems[0].message.startswith("unknown column for people; use id/编号, name/姓名")
    assert problems[1].message == "required column phone/电话 is missing"


def test_headers_that_fit_no_kind_ask_for_kind(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "what.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    [problem] = rejected(tree, clock, path)
    assert problem.row == 1 and "give --kind" in problem.message


def test_kind_detection() -> None:
    assert detect_kind(["姓名", "电话"]) == "people"
    assert detect_kind(["Code", "Name", "Level"]) == "units"
    assert detect_kind(["队伍编码", "队伍名称", "类型", "队员"]) == "teams"
    assert detect_kind(["code", "name"]) is None
    assert split_list("a, b，c;d；e、a") == ["a", "b", "c", "d", "e"]


def test_a_failed_import_leaves_the_content_unchanged(tree: Database, clock: FixedClock) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_zh.csv"))
    before = dump(tree)
    rejected(tree, clock, fixture("people_bad.csv"))
    # A file with good rows too: not even those are written.
    rejected(tree, clock, fixture("people_bad_header.csv"), kind="people")
    assert dump(tree) == before


def test_re_importing_the_same_file_changes_nothing(tree: Database, clock: FixedClock) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    before, events = dump(tree), events_count(tree)
    clock.advance(hours=1)
    report = import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    counts = report.counts[0]
    assert (counts.added, counts.updated, counts.unchanged) == (0, 0, 3)
    assert events_count(tree) == events
    assert dump(tree) == before


def test_a_changed_row_updates_the_person_and_replaces_roles(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    path = tmp_path / "changed.csv"
    path.write_text(
        "id,name,unit,phone,roles\nP001,张伟,G02,13800138000,duty-officer\n", encoding="utf-8"
    )
    report = import_contacts(tree, clock, OPERATOR, path)
    assert (report.total("added"), report.total("updated")) == (0, 1)
    assert people(tree)["P001"][1] == "G02"
    assert roles(tree, "P001") == {"duty_officer"}
    # The person's own phone on its own row is not a duplicate.
    assert not report.problems
    assert imported_events(tree)[-1]["updated"] == 1


def test_a_phone_change_keeps_the_key_and_adds_a_channel(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    path = tmp_path / "phone.csv"
    path.write_text("id,name,phone\nP003,王芳,13700137001\n", encoding="utf-8")
    import_contacts(tree, clock, OPERATOR, path)
    assert people(tree)["P003"][2] == "+8613700137001"
    sms = tree.conn.execute(
        "SELECT address, rank FROM channels JOIN people p ON p.id = person_id"
        " WHERE p.key = 'P003' ORDER BY rank"
    ).fetchall()
    assert sms == [("+8613700137000", 1), ("+8613700137001", 2)]


def test_skip_invalid_writes_the_good_rows(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "id,name,unit,phone\nM1,好人,G01,13800138000\nM2,坏人,G99,13900139000\n", encoding="utf-8"
    )
    report = import_contacts(tree, clock, OPERATOR, path, skip_invalid=True)
    assert list(people(tree)) == ["M1"]
    assert [(p.row, p.column) for p in report.problems] == [(3, "unit")]
    assert (report.counts[0].added, report.counts[0].skipped) == (1, 1)
    assert imported_events(tree)[-1]["skipped"] == 1


def test_dry_run_writes_nothing_and_reports_problems(tree: Database, clock: FixedClock) -> None:
    before = dump(tree)
    good = import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"), dry_run=True)
    assert good.dry_run and good.total("added") == 3 and not good.problems
    bad = import_contacts(tree, clock, OPERATOR, fixture("people_bad.csv"), dry_run=True)
    assert len(bad.problems) == 5
    assert dump(tree) == before


def test_progress_is_reported_up_to_the_total(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    lines = ["name,phone"] + [f"人{n},139{n:08d}" for n in range(1200)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    calls: list[tuple[int, int]] = []
    import_contacts(tree, clock, OPERATOR, path, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(500, 1200), (1000, 1200), (1200, 1200)]


def test_an_unreadable_file_type_is_refused(tree: Database, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="reads .csv and .xlsx"):
        import_contacts(tree, clock, OPERATOR, fixture("people_en.csv").with_suffix(".json"))


# --- xlsx -----------------------------------------------------------------------------------


def test_an_xlsx_workbook_with_a_sheet_per_kind(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "人员"
    sheet.append(["编号", "姓名", "所属单位", "电话", "角色"])
    sheet.append(["X1", "张伟", "G10", 13800138000, "网格长"])
    sheet.append([None, None, None, None, None])
    sheet.append(["X2", "李娜", "G10", "139 0013 9000", "坏角色"])
    units = book.create_sheet("单位")
    units.append(["编码", "名称", "层级", "上级编码", "户数"])
    units.append(["G10", "十网格", "网格", COMM, 350])
    path = tmp_path / "contacts.xlsx"
    book.save(path)
    [problem] = rejected(tree, clock, path)
    # The spreadsheet's own row number (a blank row in between counts), the header as written.
    assert (problem.file, problem.row, problem.column, problem.value) == (
        f"{path}[人员]",
        4,
        "角色",
        "坏角色",
    )
    assert dump(tree)["people"] == []
    report = import_contacts(tree, clock, OPERATOR, path, skip_invalid=True)
    # Units first, then the people who belong to them, in the one import.
    assert [c.kind for c in report.counts] == ["units", "people"]
    assert get_unit(tree, "G10").households == 350
    assert people(tree)["X1"][:3] == ("张伟", "G10", "+8613800138000")


# --- units ----------------------------------------------------------------------------------


def test_units_with_chinese_headers_one_level_under_the_other(
    tree: Database, clock: FixedClock
) -> None:
    report = import_contacts(tree, clock, OPERATOR, fixture("units_zh.csv"))
    assert report.counts[0].added == 3
    assert get_unit(tree, "G10").parent_code == "330106001002"
    assert get_unit(tree, "G11").households == 410
    again = import_contacts(tree, clock, OPERATOR, fixture("units_zh.csv"))
    assert (again.counts[0].added, again.counts[0].unchanged) == (0, 3)


def test_bad_units_are_listed(tree: Database, clock: FixedClock, tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "code,name,level,parent,households\n"
        "12345,坏社区,community,330106001000,\n"
        "G20,二十,grid,G01,\n"
        "G21,,grid,330106001001,x\n"
        "G22,二二,hamlet,330106001001,\n"
        "G23,二三,grid,330106009999,\n"
        "G01,一网格,community,330106001000,\n",
        encoding="utf-8",
    )
    problems = rejected(tree, clock, path)
    assert [(p.row, p.column) for p in problems] == [
        (2, "code"),
        (3, "parent"),
        (4, "name"),
        (4, "households"),
        (5, "level"),
        (6, "parent"),
        (7, "code"),
    ]
    assert "12-digit" in problems[0].message
    assert problems[1].message == "a grid goes under a community, and G01 is a grid"
    assert problems[5].message == "unknown unit '330106009999'"
    assert "not a grid code" not in problems[6].message


def test_a_unit_update_changes_figures_only(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "units.csv"
    path.write_text("code,name,level,parent,households\nG01,一网格,grid,330106001001,480\n")
    report = import_contacts(tree, clock, OPERATOR, path)
    assert report.counts[0].updated == 1
    assert get_unit(tree, "G01").households == 480
    moved = tmp_path / "moved.csv"
    moved.write_text("code,name,level,parent\n330106001001,幸福社区,community,\n")
    [problem] = rejected(tree, clock, moved)
    assert problem.column == "parent" and "split/merge" in problem.message


# --- teams ----------------------------------------------------------------------------------


def test_teams_reference_people_by_key_or_phone(tree: Database, clock: FixedClock) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    report = import_contacts(tree, clock, OPERATOR, fixture("teams_en.csv"))
    assert report.counts[0].added == 2
    rows = tree.conn.execute(
        "SELECT t.code, t.kind, l.key FROM teams t LEFT JOIN people l ON l.id = t.leader_id"
        " ORDER BY t.code"
    ).fetchall()
    assert rows == [("JY-01", "rescue", "P001"), ("YL-01", "medical", "P003")]
    members = tree.conn.execute(
        "SELECT p.key FROM team_members JOIN people p ON p.id = person_id"
        " JOIN teams t ON t.id = team_id WHERE t.code = 'JY-01' ORDER BY p.key"
    ).fetchall()
    assert members == [("P002",), ("P003",)]
    again = import_contacts(tree, clock, OPERATOR, fixture("teams_en.csv"))
    assert (again.total("added"), again.total("updated"), again.total("unchanged")) == (0, 0, 2)


def test_bad_teams_are_listed(tree: Database, clock: FixedClock, tmp_path: Path) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    path = tmp_path / "teams.csv"
    path.write_text(
        "队伍编码,队伍名称,类型,所属单位,队长,队员\n"
        "T 1,坏码,rescue,,,\n"
        "T2,二队,cooking,,,\n"
        'T3,三队,rescue,G99,P404,"P001,13000000000"\n',
        encoding="utf-8",
    )
    problems = rejected(tree, clock, path)
    assert [(p.row, p.column, p.value) for p in problems] == [
        (2, "队伍编码", "T 1"),
        (3, "类型", "cooking"),
        (4, "所属单位", "G99"),
        (4, "队长", "P404"),
        (4, "队员", "P001,13000000000"),
    ]
    assert problems[-1].message == "no person with key or phone '13000000000'"


# --- export ---------------------------------------------------------------------------------


def test_an_unmasked_export_re_imports_without_change(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    import_contacts(tree, clock, OPERATOR, fixture("teams_en.csv"))
    source = tmp_path / "bom.csv"
    source.write_text("姓名,电话,角色\n无编号,13900139999,志愿者\n", encoding="utf-8")
    import_contacts(tree, clock, OPERATOR, source)
    before = dump(tree)
    for kind, name in (("units", "u.xlsx"), ("people", "p.csv"), ("teams", "t.xlsx")):
        written = export_contacts(tree, clock, OPERATOR, kind, tmp_path / name, unmasked=True)
        assert written.rows == {"units": 4, "people": 4, "teams": 2}[kind]
    exported = tree.conn.execute(
        "SELECT data FROM events WHERE kind = 'personal_data_exported' ORDER BY id"
    ).fetchall()
    assert [json.loads(r[0])["kind"] for r in exported] == ["people", "teams"]
    after_export = dump(tree)
    for name in ("u.xlsx", "p.csv", "t.xlsx"):
        report = import_contacts(tree, clock, OPERATOR, tmp_path / name)
        assert report.total("added") == report.total("updated") == 0, name
    assert dump(tree) == after_export
    assert {k: v for k, v in after_export.items() if k not in ("events", "audit_head")} == {
        k: v for k, v in before.items() if k not in ("events", "audit_head")
    }


def test_a_masked_export_is_refused_as_phones(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_en.csv"))
    path = tmp_path / "masked.csv"
    export_contacts(tree, clock, OPERATOR, "people", path, chinese_headers=True)
    text = path.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "编号,姓名,所属单位,电话,邮箱,机器人地址,角色,技能"
    assert "138****8000" in text and "+8613800138000" not in text
    assert events_count(tree) == 1 + 4  # four units added, one import; no export event
    problems = rejected(tree, clock, path)
    assert [p.column for p in problems] == ["电话"] * 3
    assert "masked export" in problems[0].message and "--unmasked" in problems[0].message


def test_an_xlsx_export_has_the_header_set(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, fixture("people_zh.csv"))
    path = tmp_path / "people.xlsx"
    export_contacts(tree, clock, OPERATOR, "people", path)
    book = load_workbook(path, read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert rows[0] == ("id", "name", "unit", "phone", "email", "webhook", "roles", "skills")
    assert rows[1][:4] == ("Z001", "赵磊", "G01", "136****6000")
