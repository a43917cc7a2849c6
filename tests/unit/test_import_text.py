"""Control characters and over-long values in import files are refused, naming file, line, field.

Before: a CSV could carry terminal escapes (``ESC [2J`` clears the duty officer's screen), bidi
overrides and 100 KB values into names, and from there into listings and the permanent audit
log. Now every cell goes through :func:`store.text.clean_text` with its field's kind and limit
before any other check, and the refusal names the file, the line and the column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlite_utils import Database

from contacts.importer import ImportRejectedRows, import_contacts
from contacts.sheets import UNSAFE_CHARS
from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock
from store.errors import InvalidInput
from store.text import clean_text
from tests.conftest import OPERATOR, events_count

TOWN = "330106001000"


@pytest.fixture
def town(db: Database, clock: FixedClock) -> Database:
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "北山街道", "township"))
    return db


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def test_control_characters_and_long_values_in_a_csv_are_refused(
    town: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "people.csv",
        [
            ["name", "phone", "email", "skills"],
            ["好人", "13800138000", "", ""],
            ["张\x1b[2J伟", "13900139000", "", ""],  # clears the screen
            ["李娜", "13700137000", "li\x07@example.org", ""],
            ["王" * 101, "13600136000", "", ""],
            ["赵磊", "13500135000", "", "急救\n驾驶"],  # a line break in a one-line field
            ["\u202eevil", "13400134000", "", ""],  # right-to-left override
        ],
    )
    before = events_count(town)
    with pytest.raises(ImportRejectedRows) as info:
        import_contacts(town, clock, OPERATOR, path)
    problems = info.value.problems
    assert [(p.file, p.row, p.column) for p in problems] == [
        (str(path), 3, "name"),
        (str(path), 4, "email"),
        (str(path), 5, "name"),
        (str(path), 6, "skills"),
        (str(path), 8, "name"),
    ]
    assert problems[0].message == "contains a control character (U+001B) at position 2"
    assert problems[2].message == "is 101 characters long; at most 100 are allowed"
    assert problems[2].value == "王" * 60 + "…"
    assert problems[3].message.startswith("must be one line")
    # Shown escaped on a terminal, never raw.
    assert "\x1b" not in problems[0].line() and "\\x1b" in problems[0].line()
    assert town.conn.execute("SELECT count(*) FROM people").fetchone()[0] == 0
    assert events_count(town) == before
    # With --skip-invalid the good row goes in, the five others are skipped.
    report = import_contacts(town, clock, OPERATOR, path, skip_invalid=True)
    assert report.counts[0].added == 1 and report.counts[0].skipped == 5


def test_control_characters_in_an_xlsx_are_refused(
    town: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # XML cannot hold C0 controls, but it holds C1 controls, bidi overrides and line breaks.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "people"
    sheet.append(["name", "phone", "roles"])
    sheet.append(["\u202egnaW", "13800138000", ""])
    sheet.append(["李\x85娜", "13900139000", ""])
    sheet.append(["好人", "13700137000", "网格员\n志愿者"])
    path = tmp_path / "people.xlsx"
    book.save(path)
    with pytest.raises(ImportRejectedRows) as info:
        import_contacts(town, clock, OPERATOR, path)
    assert [(p.file, p.row, p.column) for p in info.value.problems] == [
        (f"{path}[people]", 2, "name"),
        (f"{path}[people]", 3, "name"),
        (f"{path}[people]", 4, "roles"),
    ]
    assert "U+202E" in info.value.problems[0].message
    assert "U+0085" in info.value.problems[1].message


def test_every_field_has_its_limit(town: Database, clock: FixedClock, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "units.csv",
        [
            ["code", "name", "level", "parent"],
            ["C" * 65, "社区", "community", TOWN],
        ],
    )
    with pytest.raises(ImportRejectedRows) as info:
        import_contacts(town, clock, OPERATOR, path)
    (problem,) = info.value.problems
    assert problem.column == "code"
    assert problem.message == "is 65 characters long; at most 64 are allowed"


def test_the_fast_path_refuses_exactly_what_clean_text_refuses() -> None:
    # The import skips clean_text for rows without any of UNSAFE_CHARS: the two sets must agree.
    for code in [*range(0x3000), *range(0xFE00, 0x10000)]:
        char = chr(code)
        try:
            clean_text(f"a{char}b", "name", kind="name")
            refused = False
        except InvalidInput:
            refused = True
        assert refused == (UNSAFE_CHARS.search(char) is not None), f"U+{code:04X}"
