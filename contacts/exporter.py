"""Provides the contacts export: units, people or teams written back in the import's format.

The file has the header set of :mod:`contacts.importer` (English header names, or Chinese with
``chinese_headers``), as CSV (UTF-8 with a BOM, so Excel opens it right) or as XLSX by the
file's extension. Phones are personal data: they are masked (``138****8000``) unless
``unmasked`` is asked for, and an unmasked export is recorded in the audit log
(``personal_data_exported``). An unmasked export imports back without changing anything; a
masked one is refused as phones by the import, with a message saying why.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab, CR or LF) as
a formula: a name like ``=HYPERLINK("http://evil","x")`` or ``=cmd|' /C calc'!A0`` in the
database would run on the machine of whoever opens the export. So no exported cell is ever a
formula (OWASP's "CSV injection" advice):

- in CSV such a cell is written with a leading ``'`` (:func:`contacts.sheets.neutralize`), which
  spreadsheets take as "this is text"; an unmasked phone reads ``'+8613800138000``. The import
  removes exactly that quote again, so an export imports back to the same values;
- in XLSX every cell is written as a string cell (never a formula), with no quote: a phone stays
  ``+8613800138000`` and is shown as text.

Control characters (and line breaks) are refused at input, but older records may hold them; a
control character made openpyxl raise and the XLSX export crash. Both formats now write each
one as a visible symbol (``␛`` for ESC, the Unicode "control pictures"; ``�`` for C1 and bidi
controls) and count the cells, so the export succeeds and the officer is told which data to
correct (:class:`ExportReport`). A new export file is created 0600: it holds personal data.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from contacts.importer import COLUMNS, KINDS
from contacts.phones import DEFAULT_REGION, mask_phone
from contacts.sheets import FORMULA_START, UNSAFE_CHARS, neutralize
from jurisdiction.models import Level
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import InvalidInput
from store.i18n import _


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_contacts` wrote.

    Attributes:
        rows: the data rows written (the header row not counted).
        neutralized: cells starting like a formula (``= + - @``), written as text: with a
            leading ``'`` in CSV, as string cells in XLSX.
        replaced: cells that held control characters or line breaks, written as visible
            symbols; the records they come from need correcting.
    """

    rows: int
    neutralized: int
    replaced: int


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def _units(db: Database) -> Iterator[list[str]]:
    rows = db.conn.execute(
        "SELECT u.code, u.name, u.level, p.code, u.households, u.population"
        " FROM units u LEFT JOIN units p ON p.id = u.parent_id WHERE u.valid_to IS NULL"
    ).fetchall()
    # Parents before children, so that the file imports in one pass.
    rows.sort(key=lambda r: (Level(r[2]).rank, r[0]))
    for code, name, level, parent, households, population in rows:
        yield [
            code,
            name,
            level,
            parent or "",
            "" if households is None else str(households),
            "" if population is None else str(population),
        ]


def _people(db: Database, unmasked: bool, region: str) -> Iterator[list[str]]:
    roles: dict[int, list[str]] = {}
    for pid, role in db.conn.execute("SELECT person_id, role FROM person_roles ORDER BY role"):
        roles.setdefault(pid, []).append(role)
    for pid, key, name, unit, phone, email, webhook, skills in db.conn.execute(
        "SELECT p.id, p.key, p.name, u.code, p.phone, p.email, p.webhook, p.skills"
        " FROM people p LEFT JOIN units u ON u.id = p.unit_id ORDER BY p.id"
    ):
        if not unmasked and key == phone:
            key = mask_phone(key, region)
        yield [
            key,
            name,
            unit or "",
            (phone or "") if unmasked else mask_phone(phone, region),
            email or "",
            webhook or "",
            ",".join(roles.get(pid, [])),
            ",".join(json.loads(skills)),
        ]


def _teams(db: Database, unmasked: bool, region: str) -> Iterator[list[str]]:
    members: dict[int, list[str]] = {}
    keys: dict[int, str] = {}
    for pid, key, phone in db.conn.execute("SELECT id, key, phone FROM people"):
        keys[pid] = key if unmasked or key != phone else mask_phone(key, region)
    for tid, pid in db.conn.execute(
        "SELECT team_id, person_id FROM team_members ORDER BY team_id, person_id"
    ):
        members.setdefault(tid, []).append(keys[pid])
    for tid, code, name, kind, unit, leader in db.conn.execute(
        "SELECT t.id, t.code, t.name, t.kind, u.code, t.leader_id"
        " FROM teams t LEFT JOIN units u ON u.id = t.unit_id ORDER BY t.code"
    ):
        yield [
            code,
            name,
            kind,
            unit or "",
            keys[leader] if leader is not None else "",
            ",".join(members.get(tid, [])),
        ]


def export_contacts(
    db: Database,
    clock: Clock,
    operator: str,
    kind: str,
    path: str | Path,
    *,
    unmasked: bool = False,
    chinese_headers: bool = False,
    region: str = DEFAULT_REGION,
) -> ExportReport:
    """Write the current ``kind`` rows to ``path`` (``.csv`` or ``.xlsx``).

    Returns:
        The rows written, and the cells neutralized or with control characters replaced.

    Raises:
        InvalidInput: an unknown kind or file extension, or the file cannot be written.
    """
    path = Path(path)
    if kind not in KINDS:
        raise InvalidInput(
            _("unknown kind {kind!r}; use units, people or teams").format(kind=kind), "kind"
        )
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InvalidInput(_("{path}: export writes .csv or .xlsx files").format(path=path), "file")
    headers = [c[2] if chinese_headers else c[1] for c in COLUMNS[kind]]
    if kind == "units":
        source = list(_units(db))
    elif kind == "people":
        source = list(_people(db, unmasked, region))
    else:
        source = list(_teams(db, unmasked, region))
    neutralized = replaced = 0
    rows: list[list[str]] = []
    for record in source:
        row = []
        for value in record:
            safe, count = UNSAFE_CHARS.subn(_visible, value)
            if count:
                replaced += 1
            if safe[:1] and safe[0] in FORMULA_START:
                neutralized += 1
            row.append(safe)
        rows.append(row)
    try:
        # Names and (unmasked) phones are personal data: a new file is readable by its owner
        # only, like the database and its backups.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        if suffix == ".csv":
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(headers)
                writer.writerows([neutralize(v) for v in row] for row in rows)
        else:
            from openpyxl import Workbook
            from openpyxl.cell import WriteOnlyCell

            book = Workbook(write_only=True)
            sheet = book.create_sheet(kind)
            sheet.append(headers)
            for row in rows:
                cells = []
                for value in row:
                    cell = WriteOnlyCell(sheet, value=value)
                    # openpyxl takes a string starting with '=' for a formula: force text.
                    cell.data_type = "s"
                    cells.append(cell)
                sheet.append(cells)
            with os.fdopen(fd, "wb") as handle:
                book.save(handle)
    except OSError as exc:
        raise InvalidInput(
            _("cannot write {path}: {reason}").format(path=path, reason=exc), "file"
        ) from exc
    if unmasked and kind in ("people", "teams"):
        with write(db):
            append_event(
                db,
                at=to_iso(clock.now()),
                operator=operator,
                kind="personal_data_exported",
                data={"kind": kind, "rows": len(rows), "path": str(path)},
            )
    return ExportReport(len(rows), neutralized, replaced)
