"""Import encodings chosen on evidence, dry runs that show changes, and old -> new in the audit.

Before: a UTF-8 file with one damaged byte silently fell back to GB18030 (which decoded it
cleanly), sixty people were renamed into mojibake, and the audit kept only counts, so the old
names were lost. Now the file is refused naming the line and byte, GB18030 is used only on
evidence (and says so), a dry run lists every ``field: old -> new``, and the audit keeps them.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlite_utils import Database

from contacts.importer import FieldChange, RowChange, import_contacts
from contacts.sheets import decode_text
from jurisdiction.units import NewUnit, add_unit
from store.audit import verify_chain
from store.clock import FixedClock
from store.errors import InvalidInput
from tests.conftest import OPERATOR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contacts"
TOWN = "330106001000"
COMM = "330106001001"
# Two-character names: six UTF-8 bytes each, which GB18030 also decodes (three pairs), as the
# names of the file that was renamed into mojibake did.
NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏")


@pytest.fixture
def tree(db: Database, clock: FixedClock) -> Database:
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "北山街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COMM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "一网格", "grid", parent=COMM))
    add_unit(db, clock, OPERATOR, NewUnit("G02", "二网格", "grid", parent=COMM))
    return db


def sixty_people() -> bytes:
    lines = ["id,name,phone"]
    lines += [f"P{n:03d},{NAMES[n % len(NAMES)]},1380013{n:04d}" for n in range(60)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def names(db: Database) -> dict[str, str]:
    return dict(db.conn.execute("SELECT key, name FROM people").fetchall())


def events(db: Database, kind: str = "contacts_imported") -> list[dict[str, object]]:
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(r[0]) for r in rows]


# --- the incident -----------------------------------------------------------------------------


def test_one_bad_byte_in_a_utf8_file_stops_the_import_naming_line_and_byte(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    clean = sixty_people()
    path = tmp_path / "people.csv"
    path.write_bytes(clean)
    import_contacts(tree, clock, OPERATOR, path)
    before = names(tree)
    assert len(before) == 60
    # One byte of line 37 damaged: a continuation byte of P035's name turned into 'A'.
    damaged = bytearray(clean)
    at = clean.index(b"P035,") + len(b"P035,")
    damaged[at + 1] = ord("A")
    path.write_bytes(bytes(damaged))
    # What the old code did: GB18030 reads the damaged file without an error, every name
    # turned into something else.
    mojibake = bytes(damaged).decode("gb18030").splitlines()
    assert all(line.split(",")[1] not in NAMES for line in mojibake[1:])
    with pytest.raises(InvalidInput) as info:
        import_contacts(tree, clock, OPERATOR, path)
    message = str(info.value)
    assert "line 37, byte 6 of the line" in message
    assert f"file offset {at}" in message and "0xE5" in message
    assert "--encoding" in message and "nothing was read" in message
    assert names(tree) == before


def test_a_clean_utf8_file_with_and_without_a_bom(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(sixty_people())
    report = import_contacts(tree, clock, OPERATOR, path, dry_run=True)
    assert report.encoding == "utf-8"
    assert report.encoding_evidence == "UTF-8 (valid throughout; 120 non-ASCII characters)"
    path.write_bytes(codecs.BOM_UTF8 + sixty_people())
    report = import_contacts(tree, clock, OPERATOR, path)
    assert report.encoding == "utf-8" and "byte-order mark" in report.encoding_evidence
    assert names(tree)["P000"] == "张伟"
    assert events(tree)[-1]["encoding"] == "utf-8"


def test_a_bom_then_a_bad_byte_is_refused(tree: Database, tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + "姓名,电话\n张三,13800138000\n".encode() + b"\xff\n"
    with pytest.raises(InvalidInput, match="byte-order mark but is not valid UTF-8 at line 3"):
        decode_text(data, "x.csv")


def test_a_gbk_file_is_read_as_gb18030_and_says_why(tree: Database, clock: FixedClock) -> None:
    report = import_contacts(tree, clock, OPERATOR, FIXTURES / "people_gbk.csv")
    assert report.encoding == "gb18030"
    assert report.encoding_evidence.startswith("GB18030/GBK: not UTF-8 (")
    assert "24 of 24 characters in the common GB2312 set" in report.encoding_evidence
    assert names(tree)["G001"] == "欧阳娜娜"
    assert events(tree)[-1]["encoding"] == "gb18030"


def test_a_latin1_file_is_not_taken_for_gbk(tmp_path: Path) -> None:
    # 'ü' then 'l' is a valid GB18030 pair, a rare character: no evidence of Chinese.
    data = "id,name,phone\nP1,Müller,13800138000\n".encode("latin-1")
    assert data.decode("gb18030")  # the old code took this silently
    with pytest.raises(InvalidInput) as info:
        decode_text(data, "x.csv")
    assert "rare characters (0 of 1 common): give --encoding" in str(info.value)
    assert decode_text(data, "x.csv", "latin-1").text.splitlines()[1] == "P1,Müller,13800138000"


def test_valid_utf8_that_reads_as_chinese_in_gbk_is_ambiguous(tmp_path: Path) -> None:
    data = "id,name,phone\nP1,Müller,13800138000\n".encode()
    assert data.decode("gb18030").splitlines()[1] == "P1,M眉ller,13800138000"
    with pytest.raises(InvalidInput, match="give --encoding utf-8 or --encoding gbk"):
        decode_text(data, "x.csv")
    assert "Müller" in decode_text(data, "x.csv", "utf-8").text
    assert "眉" in decode_text(data, "x.csv", "gbk").text


def test_a_file_that_is_neither_names_both_first_bad_bytes() -> None:
    with pytest.raises(InvalidInput) as info:
        decode_text(b"name,phone\n" + b"\x80\xff,13800138000\n", "x.csv")
    message = str(info.value)
    assert "neither UTF-8 (first bad byte at line 2, byte 1" in message
    assert "nor GB18030/GBK (first bad byte at line 2" in message


def test_utf16_and_nul_bytes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="UTF-16"):
        decode_text("name,phone\n".encode("utf-16"), "x.csv")
    with pytest.raises(InvalidInput, match=r"NUL bytes at line 2, byte 3"):
        decode_text(b"name,phone\nab\x00c,1\n", "x.csv")


def test_encoding_given_must_fit_the_whole_file(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    gbk = FIXTURES / "people_gbk.csv"
    with pytest.raises(InvalidInput) as info:
        import_contacts(tree, clock, OPERATOR, gbk, encoding="utf-8")
    assert "is not valid utf-8 at line 1, byte 1 of the line" in str(info.value)
    report = import_contacts(tree, clock, OPERATOR, gbk, encoding="GBK")
    assert report.encoding == "gbk" and report.encoding_evidence == "--encoding gbk was given"
    with pytest.raises(InvalidInput) as unknown:
        import_contacts(tree, clock, OPERATOR, gbk, encoding="klingon")
    assert unknown.value.field == "--encoding"
    with pytest.raises(InvalidInput) as not_text:
        import_contacts(tree, clock, OPERATOR, gbk, encoding="rot13")
    assert not_text.value.field == "--encoding"
    book = tmp_path / "x.xlsx"
    book.write_bytes(b"")
    with pytest.raises(InvalidInput, match="--encoding is for CSV files"):
        import_contacts(tree, clock, OPERATOR, book, encoding="gbk")


@given(st.lists(st.sampled_from(NAMES), min_size=3, max_size=30))
def test_gbk_text_of_chinese_names_is_never_read_as_utf8_silently(names: list[str]) -> None:
    data = "编号,姓名,电话\n" + "".join(f"P{i},{n},1380013{i:04d}\n" for i, n in enumerate(names))
    decoded = decode_text(data.encode("gbk"), "x.csv")
    assert decoded.encoding == "gb18030" and decoded.text == data


# --- dry run and audit --------------------------------------------------------------------------


def test_a_dry_run_lists_every_change_and_writes_nothing(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, FIXTURES / "people_en.csv")
    stored = names(tree)
    path = tmp_path / "changed.csv"
    path.write_text(
        "id,name,unit,phone,email,roles\n"
        "P001,张卫,G02,13900139999,zhang@example.org,grid_leader\n"
        "P002,李娜,G02,+86 139-0013-9000,,grid_member\n",
        encoding="utf-8",
    )
    report = import_contacts(tree, clock, OPERATOR, path, dry_run=True)
    assert report.total("updated") == 1 and report.total("unchanged") == 1
    assert report.changes == (
        RowChange(
            "people",
            "P001",
            2,
            (
                FieldChange("name", "张伟", "张卫"),
                FieldChange("unit", "G01", "G02"),
                FieldChange("phone", "138****8000", "139****9999"),
                FieldChange("webhook", "https://hook.example.org/…", ""),
                FieldChange("roles", "grid_leader,volunteer", "grid_leader"),
                FieldChange("skills", "急救,驾驶", ""),
            ),
        ),
    )
    assert names(tree) == stored
    assert report.to_json()["changes"][0]["changes"]["name"] == {"old": "张伟", "new": "张卫"}


def test_the_audit_keeps_old_and_new_values_masked(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(sixty_people())
    import_contacts(tree, clock, OPERATOR, path)
    renamed = sixty_people().decode().replace("13800130007", "13700137007")
    path.write_text(renamed.replace("张伟", "张卫"), encoding="utf-8")
    report = import_contacts(tree, clock, OPERATOR, path)
    # Eight people named 张伟 renamed, and P007's phone changed.
    assert report.total("updated") == 9
    event = events(tree)[-1]
    assert event["updated"] == 9
    changes = event["changes"]
    assert isinstance(changes, list) and len(changes) == 9
    assert changes[0] == {
        "key": "P000",
        "row": 2,
        "changes": {"name": {"old": "张伟", "new": "张卫"}},
    }
    phone_change = next(c for c in changes if c["key"] == "P007")
    assert phone_change["changes"] == {"phone": {"old": "138****0007", "new": "137****7007"}}
    raw = tree.conn.execute("SELECT data FROM events WHERE kind = 'contacts_imported'")
    assert not any("13700137007" in r[0] or "13800130007" in r[0] for r in raw)
    assert verify_chain(tree).ok


def test_units_and_teams_changes_are_listed(
    tree: Database, clock: FixedClock, tmp_path: Path
) -> None:
    import_contacts(tree, clock, OPERATOR, FIXTURES / "people_en.csv")
    import_contacts(tree, clock, OPERATOR, FIXTURES / "teams_en.csv")
    units = tmp_path / "units.csv"
    units.write_text(
        f"code,name,level,parent,households\nG01,一网格(东),grid,{COMM},120\n", encoding="utf-8"
    )
    report = import_contacts(tree, clock, OPERATOR, units)
    assert report.changes == (
        RowChange(
            "units",
            "G01",
            2,
            (FieldChange("name", "一网格", "一网格(东)"), FieldChange("households", "", "120")),
        ),
    )
    team_code = tree.conn.execute("SELECT code FROM teams ORDER BY code").fetchone()[0]
    teams = tmp_path / "teams.csv"
    teams.write_text(
        f"code,name,kind,leader,members\n{team_code},新队,rescue,P002,P002\n", encoding="utf-8"
    )
    report = import_contacts(tree, clock, OPERATOR, teams, dry_run=True)
    (change,) = report.changes
    assert change.kind == "teams" and change.key == team_code
    shown = {f.field: (f.old, f.new) for f in change.fields}
    assert shown["name"][1] == "新队" and shown["leader"][1] == "P002"
    assert shown["members"][1] == "P002"
