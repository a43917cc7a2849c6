"""Provides the contacts import: units, people and teams from the office's CSV and XLSX sheets.

Offices keep their contact lists in spreadsheets; ``dutydesk contacts import FILE`` takes them
as they are, with English or Chinese header names. A file (or a sheet) holds one kind of row,
told apart by its headers (or named with ``kind``). An XLSX workbook is read sheet by sheet when
its sheets are named ``units``/``people``/``teams`` (or ``单位``/``人员``/``队伍``), in that
order, else its first sheet only. CSV files are UTF-8 (with or without a BOM) or GB18030/GBK,
as Excel saves them on a Chinese Windows: :mod:`contacts.sheets` reads the file, chooses the
encoding on evidence (never silently: a damaged UTF-8 file is refused naming the line and byte;
``encoding`` overrides) and refuses files over its size, row, cell and time limits.

Header set (``*`` required; header names match without regard to case)::

    units   code*/编码*  name*/名称*  level*/层级*  parent/上级编码  households/户数
            population/人口
    people  id/编号 (the stable key, optional)  name*/姓名*  unit/所属单位 (a unit code)
            phone*/电话*  email/邮箱  webhook/机器人地址  roles/角色  skills/技能
    teams   code*/队伍编码*  name*/队伍名称*  kind*/类型*  unit/所属单位  leader/队长
            members/队员

Lists (roles, skills, members) are separated by ``,`` ``，`` ``;`` ``；`` or ``、``. A leader or
a member is named by a person's key (the ``id`` column) or phone.

Every cell first goes through :func:`store.text.clean_text` with its field's kind
(:data:`TEXT_KINDS`): control characters, line breaks and over-long values are refused there.
A cell written as ``'`` before ``= + - @`` (how exports keep spreadsheets from running it as a
formula) is read without that quote. Every row is validated before anything is kept, and
every problem is collected as an :class:`ImportProblem` (file, row, column, value, message):
the CSV line or spreadsheet row, the header counting as 1. By default the import is atomic:
one problem and :class:`ImportRejectedRows` is raised with all of them, nothing written.
``skip_invalid`` keeps the good rows and reports the others; ``dry_run`` validates only.

Rows are upserted by a stable key: units by code, people by the ``id`` column when it is given
else by the E.164 phone, teams by code. A row equal to what is stored is not rewritten, so
importing the same file twice changes nothing (and appends no audit event); otherwise one
``contacts_imported`` event per kind records the counts, a CSV file's encoding and, for every
updated row, each changed field's old and new value (phones, e-mail and webhook addresses
masked as :mod:`contacts.people` masks them), so that what an import overwrote can be read back.
A dry run reports the same changes (:attr:`ImportReport.changes`). A person's roles are replaced
by the file's; a new person gets unverified sms/webhook/email channels from the columns.

People are validated and written in batches (existing units, keys and phones preloaded into
dicts, then ``executemany``) so that 30,000 rows import in seconds. New units go through
:func:`jurisdiction.units.add_unit` (its rules and its ``unit_added`` audit), inside the import's
transaction.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from contacts.models import Role
from contacts.people import clean_email, clean_webhook, mask_email, mask_webhook
from contacts.phones import DEFAULT_REGION, mask_phone, normalize_phone, shown_key
from contacts.sheets import (
    DEFAULT_LIMITS,
    UNSAFE_CHARS,
    Decoded,
    Sheet,
    SheetLimits,
    read_csv,
    read_xlsx,
    unneutralize,
)
from contacts.teams import TeamKind
from jurisdiction.models import GRID_CODE_RE, Level, code_problem
from jurisdiction.units import MAX_NAME, NewUnit, add_unit, update_figures
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import ImportRejected, InvalidInput
from store.i18n import _
from store.text import LIMITS, clean_text

KINDS = ("units", "people", "teams")
# The Chinese sheet names, headers and level words below are data: what offices write in their
# files, accepted whatever the language of the program.
SHEET_NAMES = {"units": "units", "单位": "units", "people": "people", "人员": "people"}
SHEET_NAMES |= {"teams": "teams", "队伍": "teams"}

# (field, English header, Chinese header, required), in the order exports write them.
Column = tuple[str, str, str, bool]
COLUMNS: dict[str, tuple[Column, ...]] = {
    "units": (
        ("code", "code", "编码", True),
        ("name", "name", "名称", True),
        ("level", "level", "层级", True),
        ("parent", "parent", "上级编码", False),
        ("households", "households", "户数", False),
        ("population", "population", "人口", False),
    ),
    "people": (
        ("id", "id", "编号", False),
        ("name", "name", "姓名", True),
        ("unit", "unit", "所属单位", False),
        ("phone", "phone", "电话", True),
        ("email", "email", "邮箱", False),
        ("webhook", "webhook", "机器人地址", False),
        ("roles", "roles", "角色", False),
        ("skills", "skills", "技能", False),
    ),
    "teams": (
        ("code", "code", "队伍编码", True),
        ("name", "name", "队伍名称", True),
        ("kind", "kind", "类型", True),
        ("unit", "unit", "所属单位", False),
        ("leader", "leader", "队长", False),
        ("members", "members", "队员", False),
    ),
}

LIST_SEPARATORS = re.compile(r"[,，;；、]")
PROGRESS_EVERY = 500
# What offices write in a level column besides the codes and labels Level.parse knows.
LEVEL_WORDS = {
    "市": Level.CITY,
    "县": Level.COUNTY,
    "区": Level.COUNTY,
    "乡": Level.TOWNSHIP,
    "镇": Level.TOWNSHIP,
    "乡镇": Level.TOWNSHIP,
    "街道": Level.TOWNSHIP,
    "社区": Level.COMMUNITY,
    "村": Level.COMMUNITY,
}


@dataclass(frozen=True)
class ImportProblem:
    """One bad value: where it is (file, row, column as written in the header) and why."""

    file: str
    row: int
    column: str
    value: str
    message: str

    def line(self) -> str:
        return _("{file}:{row}: column {column!r} = {value!r}: {message}").format(
            file=self.file,
            row=self.row,
            column=self.column,
            value=self.value,
            message=self.message,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class KindCounts:
    """What an import did with the rows of one kind."""

    kind: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class ImportReport:
    """The outcome of :func:`import_contacts`; nothing was written when ``dry_run``.

    ``changes`` lists, for every stored unit, person or team the file updates (or would
    update, in a dry run), the fields that change, old and new, masked as in the audit log.
    ``encoding`` and ``encoding_evidence`` say how a CSV file was read ("" for a workbook).
    """

    file: str
    counts: tuple[KindCounts, ...]
    problems: tuple[ImportProblem, ...]
    dry_run: bool
    changes: tuple[RowChange, ...] = ()
    encoding: str = ""
    encoding_evidence: str = ""

    def total(self, what: str) -> int:
        return sum(int(getattr(c, what)) for c in self.counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "dry_run": self.dry_run,
            "encoding": self.encoding or None,
            "encoding_evidence": self.encoding_evidence or None,
            "kinds": [
                {
                    "kind": c.kind,
                    "added": c.added,
                    "updated": c.updated,
                    "unchanged": c.unchanged,
                    "skipped": c.skipped,
                }
                for c in self.counts
            ],
            "changes": [c.to_json() for c in self.changes],
            "problems": [p.to_json() for p in self.problems],
        }


class ImportRejectedRows(ImportRejected):
    """The file had bad rows and nothing was written; ``problems`` lists every one."""

    def __init__(self, file: str, problems: Sequence[ImportProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            _("{file}: {count} problem(s); nothing was written (first: {first})").format(
                file=file, count=len(self.problems), first=self.problems[0].line()
            )
        )


Progress = Callable[[int, int], None]


# --- reading ------------------------------------------------------------------------------------


def _select_sheets(titles: Sequence[str]) -> list[tuple[int, str | None]]:
    """The sheets named for a kind, in the order units, people, teams; else the first one."""
    named = [
        (index, SHEET_NAMES[title.strip().lower()])
        for index, title in enumerate(titles)
        if title.strip().lower() in SHEET_NAMES
    ]
    if not named:
        return [(0, None)] if titles else []
    return [(index, kind) for index, kind in sorted(named, key=lambda pair: KINDS.index(pair[1]))]


def read_sheets(
    path: Path, *, encoding: str | None = None, limits: SheetLimits = DEFAULT_LIMITS
) -> tuple[list[Sheet], Decoded | None]:
    """The sheets of ``path`` (CSV or XLSX, by extension), and a CSV file's encoding.

    Raises:
        InvalidInput: an unknown extension, ``encoding`` given for a workbook, or see
            :func:`contacts.sheets.read_csv` and :func:`contacts.sheets.read_xlsx`.
    """
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        if encoding:
            raise InvalidInput(
                _("a workbook carries its own encoding; --encoding is for CSV files"),
                "--encoding",
            )
        return read_xlsx(path, _select_sheets, limits=limits), None
    if suffix in (".csv", ".txt"):
        sheet, decoded = read_csv(path, encoding=encoding, limits=limits)
        return [sheet], decoded
    raise InvalidInput(
        _("{path}: import reads .csv and .xlsx files (got {suffix})").format(
            path=path, suffix=suffix or _("none")
        ),
        "file",
    )


# --- headers ------------------------------------------------------------------------------------


def _header_key(text: str) -> str:
    return text.strip().lstrip("\ufeff").rstrip("*").strip().lower()


def _field_names(kind: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for name, english, chinese, _required in COLUMNS[kind]:
        names[english] = name
        names[chinese] = name
    return names


def detect_kind(headers: Sequence[str]) -> str | None:
    """The one kind whose header set covers ``headers`` (with its required ones), else None."""
    keys = {_header_key(h) for h in headers if h.strip()}
    fits = []
    for kind in KINDS:
        names = _field_names(kind)
        required = {c[0] for c in COLUMNS[kind] if c[3]}
        if keys <= set(names) and required <= {names[k] for k in keys}:
            fits.append(kind)
    return fits[0] if len(fits) == 1 else None


def _map_headers(sheet: Sheet, kind: str, problems: list[ImportProblem]) -> dict[str, int] | None:
    """Field name → column index, or None (with problems) when the header row is unusable."""
    names = _field_names(kind)
    found: dict[str, int] = {}
    bad = False
    for index, header in enumerate(sheet.headers):
        if not header.strip():
            continue
        name = names.get(_header_key(header))
        if name is None:
            expected = ", ".join(f"{c[1]}/{c[2]}" for c in COLUMNS[kind])
            problems.append(
                ImportProblem(
                    sheet.label,
                    1,
                    header,
                    header,
                    _("unknown column for {kind}; use {expected}").format(
                        kind=kind, expected=expected
                    ),
                )
            )
            bad = True
        elif name in found:
            problems.append(
                ImportProblem(
                    sheet.label,
                    1,
                    header,
                    header,
                    _("column {name!r} appears twice").format(name=name),
                )
            )
            bad = True
        else:
            found[name] = index
    for name, english, chinese, required in COLUMNS[kind]:
        if required and name not in found:
            problems.append(
                ImportProblem(
                    sheet.label,
                    1,
                    english,
                    "",
                    _("required column {english}/{chinese} is missing").format(
                        english=english, chinese=chinese
                    ),
                )
            )
            bad = True
    return None if bad else found


class _Row:
    """One data row with its header mapping; ``get`` returns the cell text, '' when absent."""

    __slots__ = ("cells", "columns", "headers", "label", "number")

    def __init__(
        self, label: str, number: int, cells: list[str], columns: dict[str, int], headers: list[str]
    ) -> None:
        self.label = label
        self.number = number
        self.cells = cells
        self.columns = columns
        self.headers = headers

    def get(self, name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(self.cells):
            return ""
        return self.cells[index]

    def problem(self, name: str, message: str, value: str | None = None) -> ImportProblem:
        index = self.columns.get(name)
        column = self.headers[index] if index is not None else name
        return ImportProblem(
            self.label, self.number, column, self.get(name) if value is None else value, message
        )


# Field -> the store.text kind whose limit applies (LIMITS in store/text.py). A list cell may
# hold several values: roles and skills as a short line, a team's members as a long one.
TEXT_KINDS: dict[str, dict[str, str]] = {
    "units": {
        "code": "code",
        "name": "name",
        "level": "short",
        "parent": "code",
        "households": "short",
        "population": "short",
    },
    "people": {
        "id": "name",
        "name": "name",
        "unit": "code",
        "phone": "phone",
        "email": "email",
        "webhook": "address",
        "roles": "short",
        "skills": "short",
    },
    "teams": {
        "code": "code",
        "name": "name",
        "kind": "short",
        "unit": "code",
        "leader": "name",
        "members": "note",
    },
}
SHOWN_VALUE = 60  # characters of a refused value repeated in a problem line


def _clean_cells(row: _Row, kind: str, problems: list[ImportProblem]) -> bool:
    """Put the row's cells through :func:`store.text.clean_text`; False (with problems) if bad.

    Control characters (terminal escapes, NUL, bidi overrides), line breaks and values over
    the field's length limit are refused here, naming the file, line and column, before any
    other check sees the row.
    """
    kinds = TEXT_KINDS[kind]
    cells = row.cells
    # The common case, checked at once: what clean_text would return unchanged.
    joined = "".join(cells)
    if (
        UNSAFE_CHARS.search(joined) is None
        and unicodedata.is_normalized("NFC", joined)
        and all(
            index >= len(cells) or len(cells[index]) <= LIMITS[kinds[name]]
            for name, index in row.columns.items()
        )
    ):
        return True
    clean = True
    for name, index in row.columns.items():
        if index >= len(row.cells):
            continue
        value = row.cells[index]
        try:
            row.cells[index] = clean_text(value, row.headers[index], kind=kinds[name])
        except InvalidInput as exc:
            shown = value if len(value) <= SHOWN_VALUE else value[:SHOWN_VALUE] + "…"
            problems.append(row.problem(name, exc.reason, shown))
            clean = False
    return clean


@dataclass(frozen=True)
class FieldChange:
    """One field an update changes, as the audit log records it (phones masked)."""

    field: str
    old: str
    new: str


@dataclass(frozen=True)
class RowChange:
    """What an update does to one stored unit, person or team (``key``: code or shown key)."""

    kind: str
    key: str
    row: int
    fields: tuple[FieldChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "row": self.row,
            "changes": {f.field: {"old": f.old, "new": f.new} for f in self.fields},
        }


def _diff(
    kind: str,
    key: str,
    row: int,
    old: dict[str, Any],
    new: dict[str, Any],
    shown: Callable[[str, Any], str],
) -> RowChange:
    """The fields whose values differ, each shown as the audit log shows it."""
    fields = tuple(
        FieldChange(f, shown(f, old[f]), shown(f, new[f])) for f in new if old[f] != new[f]
    )
    return RowChange(kind, key, row, fields)


def _plain(_field: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def split_list(text: str) -> list[str]:
    """The items of a list cell, in order, blanks and repeats dropped."""
    out: list[str] = []
    for item in LIST_SEPARATORS.split(text):
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out


def _name_problem(name: str) -> str | None:
    if not name:
        return _("a name is required")
    if len(name) > MAX_NAME:
        return _("a name has at most {max} characters").format(max=MAX_NAME)
    return None


# --- people -------------------------------------------------------------------------------------


@dataclass
class _PersonRow:
    key: str
    name: str
    unit_id: int | None
    phone: str
    email: str | None
    webhook: str | None
    skills: str
    roles: frozenset[str]


_PERSON_COLUMNS = "id, key, name, unit_id, phone, email, webhook, skills"


def _import_people(
    db: Database,
    rows: list[_Row],
    region: str,
    problems: list[ImportProblem],
    tick: Callable[[], None],
    changes: list[RowChange],
) -> tuple[KindCounts, list[_PersonRow], list[tuple[int, _PersonRow]]]:
    """Validate people rows; returns the counts and the rows to insert and to update.

    Each update's changed fields are appended to ``changes`` (phones, e-mail and webhook
    addresses masked as in the audit log).
    """
    conn = db.conn
    units = {
        code: (uid, retired)
        for uid, code, retired in conn.execute("SELECT id, code, valid_to FROM units")
    }
    unit_code = {uid: code for code, (uid, _retired) in units.items()}

    def shown(field: str, value: Any) -> str:
        if field == "phone":
            return mask_phone(value, region)
        if field == "email":
            return mask_email(value) or ""
        if field == "webhook":
            return mask_webhook(value) or ""
        return _plain(field, value)

    existing: dict[str, tuple[Any, ...]] = {}
    phone_owner: dict[str, str] = {}
    for rec in conn.execute(f"SELECT {_PERSON_COLUMNS} FROM people"):
        existing[rec[1]] = rec
        if rec[4]:
            phone_owner[rec[4]] = rec[1]
    roles_of: dict[int, set[str]] = {}
    for pid, role in conn.execute("SELECT person_id, role FROM person_roles"):
        roles_of.setdefault(pid, set()).add(role)

    has_id = "id" in (rows[0].columns if rows else {})
    seen_phone: dict[str, int] = {}
    seen_key: dict[str, int] = {}
    role_cache: dict[str, Role | str] = {}
    inserts: list[_PersonRow] = []
    updates: list[tuple[int, _PersonRow]] = []
    unchanged = skipped = 0
    for row in rows:
        tick()
        before = len(problems)
        name = row.get("name")
        if (msg := _name_problem(name)) is not None:
            problems.append(row.problem("name", msg))
        raw_phone = row.get("phone")
        phone = ""
        if "*" in raw_phone:
            problems.append(
                row.problem(
                    "phone",
                    _(
                        "a masked phone number: this looks like a masked export; export with"
                        " --unmasked to get a file that can be imported"
                    ),
                )
            )
        else:
            try:
                phone = normalize_phone(raw_phone, region)
            except InvalidInput as exc:
                problems.append(row.problem("phone", str(exc).removeprefix("phone: ")))
        key = row.get("id") if has_id and row.get("id") else phone
        if has_id and row.get("id"):
            if key in seen_key:
                problems.append(
                    row.problem(
                        "id", _("the same id is already on row {row}").format(row=seen_key[key])
                    )
                )
            else:
                seen_key[key] = row.number
        if phone:
            if phone in seen_phone:
                problems.append(
                    row.problem(
                        "phone",
                        _("duplicate phone {phone}: already on row {row}").format(
                            phone=phone, row=seen_phone[phone]
                        ),
                    )
                )
            else:
                seen_phone[phone] = row.number
                owner = phone_owner.get(phone)
                if owner is not None and owner != key:
                    problems.append(
                        row.problem(
                            "phone",
                            _(
                                "duplicate phone {phone}: already belongs to {name} (key {key})"
                                " in the database"
                            ).format(phone=phone, name=existing[owner][2], key=owner),
                        )
                    )
        unit_id: int | None = None
        unit = row.get("unit")
        if unit:
            found = units.get(unit)
            if found is None:
                problems.append(row.problem("unit", _("unknown unit {code!r}").format(code=unit)))
            elif found[1] is not None:
                problems.append(
                    row.problem(
                        "unit",
                        _("unit {code} was retired on {date}").format(code=unit, date=found[1]),
                    )
                )
            else:
                unit_id = int(found[0])
        # The same checks as `dutydesk person add`, so a file and a person typed in agree.
        email = webhook = None
        try:
            email = clean_email(row.get("email"))
        except InvalidInput as exc:
            problems.append(row.problem("email", exc.reason))
        try:
            webhook = clean_webhook(row.get("webhook"))
        except InvalidInput as exc:
            problems.append(row.problem("webhook", exc.reason))
        roles: set[str] = set()
        for text in split_list(row.get("roles")):
            parsed = role_cache.get(text)
            if parsed is None:
                try:
                    parsed = Role.parse(text)
                except ValueError as exc:
                    parsed = str(exc)
                role_cache[text] = parsed
            if isinstance(parsed, Role):
                roles.add(parsed.value)
            else:
                problems.append(row.problem("roles", parsed))
        if len(problems) > before:
            skipped += 1
            continue
        skills = json.dumps(split_list(row.get("skills")), ensure_ascii=False)
        person = _PersonRow(key, name, unit_id, phone, email, webhook, skills, frozenset(roles))
        old = existing.get(key)
        if old is None:
            inserts.append(person)
            continue
        stored = (old[2], old[3], old[4], old[5], old[6], old[7])
        new = (name, unit_id, phone, email, webhook, skills)
        old_roles = roles_of.get(old[0], set())
        if stored == new and old_roles == roles:
            unchanged += 1
            continue
        updates.append((int(old[0]), person))
        changes.append(
            _diff(
                "people",
                shown_key(key, region),
                row.number,
                {
                    "name": old[2],
                    "unit": unit_code.get(old[3]),
                    "phone": old[4],
                    "email": old[5],
                    "webhook": old[6],
                    "roles": sorted(old_roles),
                    "skills": json.loads(old[7]),
                },
                {
                    "name": name,
                    "unit": unit or None,
                    "phone": phone,
                    "email": email,
                    "webhook": webhook,
                    "roles": sorted(roles),
                    "skills": json.loads(skills),
                },
                shown,
            )
        )
    counts = KindCounts("people", len(inserts), len(updates), unchanged, skipped)
    return counts, inserts, updates


def _channels(person_id: int, p: _PersonRow) -> Iterator[tuple[int, str, str, int]]:
    rank = 0
    for kind, address in (("sms", p.phone), ("webhook", p.webhook), ("email", p.email)):
        if address:
            rank += 1
            yield (person_id, kind, address, rank)


def _write_people(
    db: Database, at: str, inserts: list[_PersonRow], updates: list[tuple[int, _PersonRow]]
) -> None:
    conn = db.conn
    conn.executemany(
        "INSERT INTO people (key, name, unit_id, phone, email, webhook, skills, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (p.key, p.name, p.unit_id, p.phone, p.email, p.webhook, p.skills, at, at)
            for p in inserts
        ],
    )
    ids: dict[str, int] = {}
    if inserts:
        ids = {key: pid for pid, key in conn.execute("SELECT id, key FROM people")}
    conn.executemany(
        "UPDATE people SET name = ?, unit_id = ?, phone = ?, email = ?, webhook = ?, skills = ?,"
        " updated_at = ? WHERE id = ?",
        [(p.name, p.unit_id, p.phone, p.email, p.webhook, p.skills, at, pid) for pid, p in updates],
    )
    conn.executemany(
        "DELETE FROM person_roles WHERE person_id = ?", [(pid,) for pid, _person in updates]
    )
    pairs = [(ids[p.key], p) for p in inserts] + updates
    conn.executemany(
        "INSERT INTO person_roles (person_id, role) VALUES (?, ?)",
        [(pid, role) for pid, p in pairs for role in sorted(p.roles)],
    )
    # New people get channels from their columns; an updated person's new addresses are added
    # after the channels it has (contacts.people owns reordering and verification).
    conn.executemany(
        "INSERT INTO channels (person_id, kind, address, rank) VALUES (?,?,?,?)",
        [c for p in inserts for c in _channels(ids[p.key], p)],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO channels (person_id, kind, address, rank) VALUES (?, ?, ?,"
        " (SELECT coalesce(max(rank), 0) + 1 FROM channels WHERE person_id = ?))",
        [
            (pid, kind, addr, pid)
            for pid, p in updates
            for pid, kind, addr, _rank in _channels(pid, p)
        ],
    )


# --- units --------------------------------------------------------------------------------------


def _figure(row: _Row, name: str, problems: list[ImportProblem]) -> int | None:
    text = row.get(name).replace(",", "")
    if not text:
        return None
    if text.isdigit():
        return int(text)
    problems.append(row.problem(name, _("must be a whole number >= 0")))
    return None


def _import_units(
    db: Database,
    clock: Clock,
    operator: str,
    at: str,
    rows: list[_Row],
    problems: list[ImportProblem],
    tick: Callable[[], None],
    changes: list[RowChange],
) -> KindCounts:
    conn = db.conn
    known: dict[str, tuple[int | None, Level, str | None, str | None]] = {}
    stored: dict[str, tuple[int, str, int | None, int | None]] = {}
    for uid, code, name, stored_level, parent, households, population, retired in conn.execute(
        "SELECT u.id, u.code, u.name, u.level, p.code, u.households, u.population, u.valid_to"
        " FROM units u LEFT JOIN units p ON p.id = u.parent_id"
    ):
        known[code] = (uid, Level(stored_level), parent, retired)
        stored[code] = (uid, name, households, population)
    seen: dict[str, int] = {}
    new: list[NewUnit] = []
    updates: list[tuple[str, int | None, int | None, str, int]] = []
    unchanged = skipped = 0
    for row in rows:
        tick()
        before = len(problems)
        code, name = row.get("code"), row.get("name")
        level: Level | None = LEVEL_WORDS.get(row.get("level"))
        if level is None:
            try:
                level = Level.parse(row.get("level"))
            except ValueError as exc:
                problems.append(row.problem("level", str(exc)))
        if not code:
            problems.append(row.problem("code", _("a code is required")))
        elif code in seen:
            problems.append(
                row.problem(
                    "code", _("the same code is already on row {row}").format(row=seen[code])
                )
            )
        elif level is not None and (msg := code_problem(level, code)):
            problems.append(row.problem("code", msg))
        if (msg := _name_problem(name)) is not None:
            problems.append(row.problem("name", msg))
        households = _figure(row, "households", problems)
        population = _figure(row, "population", problems)
        if level is not None and level is not Level.GRID and (households or population):
            problems.append(
                row.problem("households", _("households and population are recorded on grids only"))
            )
        parent = row.get("parent") or None
        if level is not None and parent is not None:
            ref = known.get(parent)
            if ref is None:
                problems.append(
                    row.problem("parent", _("unknown unit {code!r}").format(code=parent))
                )
            elif ref[3] is not None:
                problems.append(
                    row.problem(
                        "parent",
                        _("unit {code} was retired on {date}").format(code=parent, date=ref[3]),
                    )
                )
            elif ref[1] is not level.parent_level:
                expected = level.parent_level.label if level.parent_level else _("nothing")
                problems.append(
                    row.problem(
                        "parent",
                        _("a {level} goes under a {expected}, and {code} is a {actual}").format(
                            level=level.label, expected=expected, code=parent, actual=ref[1].label
                        ),
                    )
                )
        old = known.get(code)
        if old is not None and level is not None and len(problems) == before:
            if old[3] is not None:
                problems.append(
                    row.problem(
                        "code",
                        _("unit {code} was retired on {date}; codes are never reused").format(
                            code=code, date=old[3]
                        ),
                    )
                )
            elif old[1] is not level:
                problems.append(
                    row.problem(
                        "level",
                        _("unit {code} is a {level} in the database").format(
                            code=code, level=old[1].label
                        ),
                    )
                )
            elif old[2] != parent:
                problems.append(
                    row.problem(
                        "parent",
                        _(
                            "unit {code} is under {parent} in the database; units move with grid"
                            " split/merge, not by import"
                        ).format(code=code, parent=old[2] or _("nothing")),
                    )
                )
        if code:
            seen.setdefault(code, row.number)
        if len(problems) > before or level is None:
            skipped += 1
            continue
        if old is None:
            # Later rows of the same file may hang under this one.
            known[code] = (None, level, parent, None)
            new.append(NewUnit(code, name, level, parent, households, population))
            continue
        uid, old_name, old_households, old_population = stored[code]
        if (old_name, old_households, old_population) == (name, households, population):
            unchanged += 1
            continue
        updates.append((name, households, population, at, uid))
        changes.append(
            _diff(
                "units",
                code,
                row.number,
                {"name": old_name, "households": old_households, "population": old_population},
                {"name": name, "households": households, "population": population},
                _plain,
            )
        )
    for unit in new:
        add_unit(db, clock, operator, unit)
    update_figures(db, updates)
    return KindCounts("units", len(new), len(updates), unchanged, skipped)


# --- teams --------------------------------------------------------------------------------------


def _import_teams(
    db: Database,
    at: str,
    rows: list[_Row],
    region: str,
    problems: list[ImportProblem],
    tick: Callable[[], None],
    changes: list[RowChange],
) -> KindCounts:
    conn = db.conn
    units = {
        code: (uid, retired)
        for uid, code, retired in conn.execute("SELECT id, code, valid_to FROM units")
    }
    unit_code = {uid: code for code, (uid, _retired) in units.items()}
    by_key: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    key_of: dict[int, str] = {}
    for pid, key, phone in conn.execute("SELECT id, key, phone FROM people"):
        by_key[key] = pid
        key_of[pid] = key
        if phone:
            by_phone[phone] = pid

    def shown(field: str, value: Any) -> str:
        if field == "leader":
            return "" if value is None else shown_key(key_of[value], region)
        if field == "members":
            return ",".join(sorted(shown_key(key_of[pid], region) for pid in value))
        if field == "unit":
            return _plain(field, unit_code.get(value))
        return _plain(field, value)

    teams = {
        code: (tid, name, kind, unit_id, leader_id)
        for tid, code, name, kind, unit_id, leader_id in conn.execute(
            "SELECT id, code, name, kind, unit_id, leader_id FROM teams"
        )
    }
    members_of: dict[int, set[int]] = {}
    for tid, pid in conn.execute("SELECT team_id, person_id FROM team_members"):
        members_of.setdefault(tid, set()).add(pid)

    def person(text: str) -> int | None:
        if text in by_key:
            return by_key[text]
        if "*" in text:
            return None
        try:
            return by_phone.get(normalize_phone(text, region))
        except InvalidInput:
            return None

    seen: dict[str, int] = {}
    writes: list[tuple[int | None, str, str, str, int | None, int | None, set[int]]] = []
    added = updated = unchanged = skipped = 0
    for row in rows:
        tick()
        before = len(problems)
        code, name = row.get("code"), row.get("name")
        if not code:
            problems.append(row.problem("code", _("a code is required")))
        elif not GRID_CODE_RE.match(code):
            problems.append(
                row.problem("code", _("up to 32 letters, digits, '-', '_' or '.' (e.g. JY-01)"))
            )
        elif code in seen:
            problems.append(
                row.problem(
                    "code", _("the same code is already on row {row}").format(row=seen[code])
                )
            )
        else:
            seen[code] = row.number
        if (msg := _name_problem(name)) is not None:
            problems.append(row.problem("name", msg))
        kind = ""
        try:
            kind = TeamKind.parse(row.get("kind")).value
        except ValueError as exc:
            problems.append(row.problem("kind", str(exc)))
        unit_id: int | None = None
        if unit := row.get("unit"):
            found = units.get(unit)
            if found is None:
                problems.append(row.problem("unit", _("unknown unit {code!r}").format(code=unit)))
            elif found[1] is not None:
                problems.append(
                    row.problem(
                        "unit",
                        _("unit {code} was retired on {date}").format(code=unit, date=found[1]),
                    )
                )
            else:
                unit_id = int(found[0])
        leader_id: int | None = None
        if leader := row.get("leader"):
            leader_id = person(leader)
            if leader_id is None:
                problems.append(
                    row.problem(
                        "leader", _("no person with key or phone {ref!r}").format(ref=leader)
                    )
                )
        members: set[int] = set()
        for text in split_list(row.get("members")):
            pid = person(text)
            if pid is None:
                problems.append(
                    row.problem(
                        "members", _("no person with key or phone {ref!r}").format(ref=text)
                    )
                )
            else:
                members.add(pid)
        if len(problems) > before:
            skipped += 1
            continue
        old = teams.get(code)
        if old is None:
            added += 1
            writes.append((None, code, name, kind, unit_id, leader_id, members))
        elif (
            old[1:] == (name, kind, unit_id, leader_id) and members_of.get(old[0], set()) == members
        ):
            unchanged += 1
        else:
            updated += 1
            writes.append((int(old[0]), code, name, kind, unit_id, leader_id, members))
            changes.append(
                _diff(
                    "teams",
                    code,
                    row.number,
                    {
                        "name": old[1],
                        "kind": old[2],
                        "unit": old[3],
                        "leader": old[4],
                        "members": members_of.get(old[0], set()),
                    },
                    {
                        "name": name,
                        "kind": kind,
                        "unit": unit_id,
                        "leader": leader_id,
                        "members": members,
                    },
                    shown,
                )
            )
    for tid, code, name, kind, unit_id, leader_id, members in writes:
        if tid is None:
            cursor = conn.execute(
                "INSERT INTO teams (code, name, kind, unit_id, leader_id, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?)",
                (code, name, kind, unit_id, leader_id, at, at),
            )
            tid = int(cursor.lastrowid or 0)
        else:
            conn.execute(
                "UPDATE teams SET name = ?, kind = ?, unit_id = ?, leader_id = ?,"
                " updated_at = ? WHERE id = ?",
                (name, kind, unit_id, leader_id, at, tid),
            )
            conn.execute("DELETE FROM team_members WHERE team_id = ?", (tid,))
        conn.executemany(
            "INSERT INTO team_members (team_id, person_id) VALUES (?, ?)",
            [(tid, pid) for pid in sorted(members)],
        )
    return KindCounts("teams", added, updated, unchanged, skipped)


# --- the import ---------------------------------------------------------------------------------


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""


@dataclass
class _Ticker:
    total: int
    progress: Progress | None
    done: int = 0
    _last: int = field(default=0)

    def __call__(self) -> None:
        self.done += 1
        if self.progress is not None and self.done - self._last >= PROGRESS_EVERY:
            self._last = self.done
            self.progress(self.done, self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


def import_contacts(
    db: Database,
    clock: Clock,
    operator: str,
    path: str | Path,
    *,
    kind: str | None = None,
    region: str = DEFAULT_REGION,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    encoding: str | None = None,
    limits: SheetLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Import the units, people or teams of a CSV or XLSX file (see the module docstring).

    Args:
        kind: ``units``, ``people`` or ``teams``; detected from the headers when omitted.
        region: the region of phone numbers written without a country code.
        dry_run: validate only; nothing is written. The report still lists the changes.
        skip_invalid: write the good rows and report the bad ones.
        progress: called with (rows done, rows in all) while validating.
        encoding: the encoding of a CSV file, when the person names it; else it is detected
            on evidence (:func:`contacts.sheets.decode_text`).
        limits: the size and time limits of the file (:class:`contacts.sheets.SheetLimits`).

    Returns:
        The counts per kind, the changes of updated rows and, with ``dry_run`` or
        ``skip_invalid``, the problems found.

    Raises:
        ImportRejectedRows: a row or a header is bad, and neither ``dry_run`` nor
            ``skip_invalid`` was given; nothing was written.
        InvalidInput: the file cannot be read, is over a limit, is not clean text in one
            encoding, or ``kind`` is unknown.
    """
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise InvalidInput(
            _("unknown kind {kind!r}; use units, people or teams").format(kind=kind), "kind"
        )
    sheets, decoded = read_sheets(path, encoding=encoding, limits=limits)
    if kind is not None:
        sheets = [s for s in sheets if s.kind_hint in (None, kind)] or sheets[:1]
    label = str(path)
    at = to_iso(clock.now())
    problems: list[ImportProblem] = []
    counts: list[KindCounts] = []
    changes: list[RowChange] = []
    ticker = _Ticker(sum(len(s.rows) for s in sheets), progress)
    try:
        with write(db):
            for sheet in sheets:
                sheet_kind = kind or sheet.kind_hint or detect_kind(sheet.headers)
                if sheet_kind is None:
                    problems.append(
                        ImportProblem(
                            sheet.label,
                            1,
                            "",
                            ",".join(sheet.headers),
                            _(
                                "cannot tell whether this holds units, people or teams from its"
                                " headers; check the header names or give --kind"
                            ),
                        )
                    )
                    continue
                columns = _map_headers(sheet, sheet_kind, problems)
                if columns is None:
                    counts.append(KindCounts(sheet_kind, skipped=len(sheet.rows)))
                    continue
                rows: list[_Row] = []
                refused = 0
                for number, cells in sheet.rows:
                    row = _Row(
                        sheet.label,
                        number,
                        [unneutralize(c) for c in cells],
                        columns,
                        sheet.headers,
                    )
                    if _clean_cells(row, sheet_kind, problems):
                        rows.append(row)
                    else:
                        ticker()
                        refused += 1
                # Each kind is written as soon as it is validated, inside the one transaction,
                # so that the next sheet sees it (people under units added by the same
                # workbook); a dry run or a rejected import rolls all of it back.
                kind_changes: list[RowChange] = []
                if sheet_kind == "people":
                    result, inserts, updates = _import_people(
                        db, rows, region, problems, ticker, kind_changes
                    )
                    _write_people(db, at, inserts, updates)
                elif sheet_kind == "units":
                    result = _import_units(
                        db, clock, operator, at, rows, problems, ticker, kind_changes
                    )
                else:
                    result = _import_teams(db, at, rows, region, problems, ticker, kind_changes)
                result = replace(result, skipped=result.skipped + refused)
                counts.append(result)
                changes.extend(kind_changes)
                if result.added or result.updated:
                    data: dict[str, Any] = {
                        "file": label,
                        "kind": sheet_kind,
                        "added": result.added,
                        "updated": result.updated,
                        "unchanged": result.unchanged,
                        "skipped": result.skipped,
                    }
                    if decoded is not None:
                        data["encoding"] = decoded.encoding
                    if kind_changes:
                        # Old -> new of every updated field (masked where personal), so that
                        # what an import overwrote can be read back and put right.
                        data["changes"] = [
                            {"key": c.key, "row": c.row, "changes": c.to_json()["changes"]}
                            for c in kind_changes
                        ]
                    append_event(db, at=at, operator=operator, kind="contacts_imported", data=data)
            if problems and not (dry_run or skip_invalid):
                raise ImportRejectedRows(label, problems)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass  # the rollback of a dry run: the database is as it was, the report is complete
    ticker.finish()
    return ImportReport(
        label,
        tuple(counts),
        tuple(problems),
        dry_run,
        tuple(changes),
        decoded.encoding if decoded else "",
        decoded.evidence if decoded else "",
    )
