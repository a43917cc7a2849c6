"""XLSX (and CSV) bombs: tiny files that declare or hold a huge sheet are refused, and fast.

Before: openpyxl trusts a sheet's declared dimension and pads every row to it, so a 1.6 KB
workbook declaring ``A1:XFD1048576`` ran ~23 minutes, and a 300 KB one took 1.5 GB. Each test
builds such a file with :mod:`zipfile` and asserts a one-line refusal naming the limit, within
a generous deadline, and that nothing was written.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlite_utils import Database

from contacts.importer import import_contacts
from contacts.sheets import SheetLimits, check_archive
from store.clock import FixedClock
from store.errors import InvalidInput
from tests.conftest import OPERATOR
from tests.support.workbooks import PEOPLE_HEADER, row, sheet, workbook

DEADLINE_S = 5.0  # the refusals take milliseconds; this only guards against a regression


def people_count(db: Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM people").fetchone()[0])


def refused(db: Database, clock: FixedClock, path: Path, limits: SheetLimits | None = None) -> str:
    """The one-line refusal of importing ``path``, checked to come fast and write nothing."""
    started = time.monotonic()
    with pytest.raises(InvalidInput) as info:
        if limits is None:
            import_contacts(db, clock, OPERATOR, path)
        else:
            import_contacts(db, clock, OPERATOR, path, limits=limits)
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S, f"refusal took {elapsed:.1f} s"
    assert people_count(db) == 0
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


def write(tmp_path: Path, data: bytes, name: str = "bomb.xlsx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_1_6_kb_workbook_declaring_the_largest_sheet_is_refused_fast(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    rows = PEOPLE_HEADER + row(2, [("A2", "甲"), ("B2", "13800138000")])
    data = workbook(sheet(rows, dimension="A1:XFD1048576"))
    assert len(data) < 2000
    # The threat is real: openpyxl takes the declaration at its word.
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert (book.worksheets[0].max_row, book.worksheets[0].max_column) == (1048576, 16384)
    book.close()
    message = refused(db, clock, write(tmp_path, data))
    assert "declares 1048576 rows x 16384 columns" in message
    assert "at most 100000 rows, 256 columns and 3000000 cells" in message


def test_a_row_far_below_the_others_is_refused_at_the_row_limit(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # No dimension, but a cell on the last row: openpyxl fills the gap with empty rows.
    rows = PEOPLE_HEADER + row(1048576, [("A1048576", "甲"), ("B1048576", "13800138000")])
    message = refused(db, clock, write(tmp_path, workbook(sheet(rows))))
    assert "more than 100000 rows" in message


def test_a_cell_in_the_last_column_is_refused_at_the_column_limit(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # Every row is padded up to its last cell: one cell in column XFD makes 16,384 cells.
    rows = PEOPLE_HEADER + row(2, [("A2", "甲"), ("XFD2", "x")])
    message = refused(db, clock, write(tmp_path, workbook(sheet(rows))))
    assert "row 2 has 16384 columns; the limit is 256" in message


def test_a_compressed_part_unpacking_past_the_limit_is_refused_before_reading(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # 80 MB of sheet XML in a file of a few tens of KB: checked from the zip's directory.
    padding = b"<!--" + b" " * (1024 * 1024 - 7) + b"-->"
    data = workbook(sheet(PEOPLE_HEADER), big={"xl/worksheets/sheet2.xml": (padding, 80)})
    assert len(data) < 200_000
    message = refused(db, clock, write(tmp_path, data))
    assert "part xl/worksheets/sheet2.xml unpacks to 83886080 bytes; the limit is 67108864" in (
        message
    )


def test_a_part_compressed_a_thousandfold_is_refused_as_a_zip_bomb(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # 4 MB of shared strings (under the size limit) squeezed to a few KB.
    data = workbook(sheet(PEOPLE_HEADER), big={"xl/sharedStrings.xml": (b" " * 65536, 64)})
    message = refused(db, clock, write(tmp_path, data))
    assert "part xl/sharedStrings.xml is compressed" in message
    assert "the limit of the compression ratio is 100:1" in message


def test_billion_laughs_in_a_part_is_refused(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    entities = '<!ENTITY a0 "ha">' + "".join(
        f'<!ENTITY a{n} "&a{n - 1};&a{n - 1};&a{n - 1};&a{n - 1};&a{n - 1};">' for n in range(1, 12)
    )
    laughs = (
        f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&a11;</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    message = refused(db, clock, write(tmp_path, workbook(laughs)))
    assert "cannot read" in message


def test_total_size_parts_and_time_limits(db: Database, clock: FixedClock, tmp_path: Path) -> None:
    body = PEOPLE_HEADER + "".join(
        row(n, [(f"A{n}", f"人{n}"), (f"B{n}", f"1380013{n:04d}")]) for n in range(2, 1002)
    )
    data = workbook(sheet(body))
    path = write(tmp_path, data)
    message = refused(db, clock, path, SheetLimits(max_unpacked_bytes=10_000))
    assert "the workbook unpacks to" in message and "the limit is 10000" in message
    message = refused(db, clock, path, SheetLimits(max_parts=4))
    assert "the workbook has 5 parts; the limit is 4" in message
    message = refused(db, clock, path, SheetLimits(max_seconds=1e-9))
    assert "took longer than 1e-09 s (the time limit)" in message
    message = refused(db, clock, path, SheetLimits(max_cells=1000))
    assert "more than 1000 cells" in message
    message = refused(db, clock, path, SheetLimits(max_file_bytes=len(data) - 1))
    assert f"the file is {len(data)} bytes; the import reads at most {len(data) - 1}" in message
    # Within the limits the same file imports.
    report = import_contacts(db, clock, OPERATOR, path)
    assert report.total("added") == 1000


def test_rows_beyond_a_too_small_declared_dimension_are_read(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # openpyxl stops at the declared last row; a wrong declaration must not drop people.
    body = PEOPLE_HEADER + "".join(
        row(n, [(f"A{n}", f"人{n}"), (f"B{n}", f"1380013{n:04d}")]) for n in range(2, 6)
    )
    path = write(tmp_path, workbook(sheet(body, dimension="B2:B2")))
    report = import_contacts(db, clock, OPERATOR, path)
    assert report.total("added") == 4 and people_count(db) == 4


def test_not_a_zip_is_refused(db: Database, clock: FixedClock, tmp_path: Path) -> None:
    message = refused(db, clock, write(tmp_path, b"PK\x03\x04 not really a zip"))
    assert "cannot read" in message and "as an XLSX workbook" in message
    with pytest.raises(InvalidInput, match="as an XLSX workbook"):
        check_archive(b"", "x.xlsx")


def test_a_csv_over_the_row_or_size_limit_is_refused(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    path.write_text(
        "name,phone\n" + "".join(f"人{n},1380013{n:04d}\n" for n in range(50)), encoding="utf-8"
    )
    message = refused(db, clock, path, SheetLimits(max_rows=20))
    assert "more than 20 rows" in message
    message = refused(db, clock, path, SheetLimits(max_file_bytes=100))
    assert "the import reads at most 100" in message
    wide = tmp_path / "wide.csv"
    wide.write_text("name,phone\n甲,13800138000" + "," * 300 + "\n", encoding="utf-8")
    assert "has 302 columns; the limit is 256" in refused(db, clock, wide)
