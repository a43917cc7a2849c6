"""Provides the contacts export: units, people or teams written back in the import's format.

The file has the header set of :mod:`contacts.importer` (English header names, or Chinese with
``chinese_headers``), as CSV (UTF-8 with a BOM, so Excel opens it right) or as XLSX by the
file's extension. Phones are personal data: they are masked (``138****8000``) unless
``unmasked`` is asked for, and an unmasked export is recorded in the audit log
(``personal_data_exported``). An unmasked export imports back without changing anything; a
masked one is refused as phones by the import, with a message saying why.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from contacts.importer import COLUMNS, KINDS
from contacts.phones import DEFAULT_REGION, mask_phone
from jurisdiction.models import Level
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import InvalidInput
from store.i18n import _


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
) -> int:
    """Write the current ``kind`` rows to ``path`` (``.csv`` or ``.xlsx``); returns the count.

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
        rows = list(_units(db))
    elif kind == "people":
        rows = list(_people(db, unmasked, region))
    else:
        rows = list(_teams(db, unmasked, region))
    try:
        if suffix == ".csv":
            with path.open("w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(headers)
                writer.writerows(rows)
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet(kind)
            sheet.append(headers)
            for row in rows:
                sheet.append(row)
            book.save(path)
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
    return len(rows)
