"""Provides logging new cases and reading them back: get, list (keyset pages), search, timeline.

Every function takes the database and, where time matters, the current time or a clock; none
keeps state between calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents.limits import Policy
from incidents.models import (
    CATEGORIES,
    CATEGORY_NAMES,
    MAX_ID,
    OPEN_CASE_SQL,
    TYPE_NAMES,
    Incident,
    Severity,
    Source,
    Stage,
    Task,
    TimelineEntry,
    Urgency,
    parse_classification,
)
from store.audit import append_event, record_personal_data_shown
from store.clock import Clock, from_iso, to_iso
from store.db import Database, SQLError, write
from store.errors import InvalidInput, NotFound
from store.i18n import _
from store.masking import mask_phone
from store.text import clean_text
from store.textsearch import fts_query, quote

NUMBER_RE = re.compile(r"^\d{4}-\d{6}$")
COLUMNS = (
    "id, number, title, description, category, type, severity, urgency, stage, location, lat,"
    " lon, grid, reporter_name, reporter_phone, source, tags, assignee, reported_at, stage_since,"
    " deadline, parked, supervised, reminders, extensions, merged_into, updated_at, closed_at"
)
MAX_TAGS = 20


def _opt_time(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


def row_to_incident(row: Sequence[Any]) -> Incident:
    return Incident(
        id=row[0],
        number=row[1],
        title=row[2],
        description=row[3],
        category=row[4],
        type=row[5],
        severity=Severity(row[6]),
        urgency=Urgency(row[7]),
        stage=Stage(row[8]),
        location=row[9],
        lat=row[10],
        lon=row[11],
        grid=row[12],
        reporter_name=row[13],
        reporter_phone=row[14],
        source=Source(row[15]),
        tags=tuple(json.loads(row[16])),
        assignee=row[17],
        reported_at=from_iso(row[18]),
        stage_since=from_iso(row[19]),
        deadline=_opt_time(row[20]),
        parked=bool(row[21]),
        supervised=bool(row[22]),
        reminders=row[23],
        extensions=row[24],
        merged_into=row[25],
        updated_at=from_iso(row[26]),
        closed_at=_opt_time(row[27]),
    )


@dataclass(frozen=True)
class NewIncident:
    """What a person gives when logging a case; validated by :func:`validate_new`."""

    title: str
    category: str
    type: str | None = None
    severity: str | int = "IV"
    urgency: str = "normal"
    description: str = ""
    location: str = ""
    lat: float | None = None
    lon: float | None = None
    grid: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    source: str = "phone"
    tags: tuple[str, ...] = ()


PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{2,19}$")


def validate_new(new: NewIncident) -> dict[str, Any]:
    """Check every field of a new case; the first bad one raises naming its field.

    Returns:
        The normalised column values (category and type codes, severity number, ...).
    """
    title = clean_text(new.title, "title", kind="title")
    if not title:
        raise InvalidInput(_("a title is required"), "title")
    description = clean_text(new.description, "description", kind="note", multiline=True)
    location = clean_text(new.location, "location", kind="address")
    grid = clean_text(new.grid or "", "grid", kind="code") or None
    reporter_name = clean_text(new.reporter_name or "", "reporter_name", kind="name") or None
    phone = clean_text(new.reporter_phone or "", "reporter_phone", kind="phone") or None
    if len(new.tags) > MAX_TAGS:
        raise InvalidInput(_("at most {limit} tags").format(limit=MAX_TAGS), "tags")
    tags = tuple(dict.fromkeys(t for t in (clean_text(t, "tags") for t in new.tags) if t))
    try:
        category, type_ = parse_classification(new.category, new.type)
    except ValueError as exc:
        # Which of the two was wrong, without reading the (possibly translated) message: the
        # category alone parses when only the type is unknown.
        try:
            parse_classification(new.category, None)
        except ValueError:
            field = "category"
        else:
            field = "type"
        raise InvalidInput(str(exc), field) from exc
    try:
        severity = Severity.parse(new.severity)
    except ValueError as exc:
        raise InvalidInput(str(exc), "severity") from exc
    try:
        urgency = Urgency.parse(new.urgency)
    except ValueError as exc:
        raise InvalidInput(str(exc), "urgency") from exc
    try:
        source = Source.parse(new.source)
    except ValueError as exc:
        raise InvalidInput(str(exc), "source") from exc
    if (new.lat is None) != (new.lon is None):
        raise InvalidInput(_("give both latitude and longitude, or neither"), "lat/lon")
    if new.lat is not None and not -90 <= new.lat <= 90:
        raise InvalidInput(
            _("latitude must be between -90 and 90 (got {value})").format(value=new.lat), "lat"
        )
    if new.lon is not None and not -180 <= new.lon <= 180:
        raise InvalidInput(
            _("longitude must be between -180 and 180 (got {value})").format(value=new.lon), "lon"
        )
    if phone and not PHONE_RE.match(phone):
        raise InvalidInput(
            _("{phone!r} is not a phone number").format(phone=phone), "reporter_phone"
        )
    return {
        "title": title,
        "description": description,
        "category": category,
        "type": type_,
        "severity": int(severity),
        "urgency": urgency.value,
        "location": location,
        "lat": new.lat,
        "lon": new.lon,
        "grid": grid,
        "reporter_name": reporter_name,
        "reporter_phone": phone,
        "source": source.value,
        "tags": json.dumps(list(tags), ensure_ascii=False),
    }


def next_number(db: Database, year: int) -> str:
    """Allocate the next human-readable case number of ``year`` (inside a write transaction)."""
    name = f"incident-{year}"
    db.conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1) "
        "ON CONFLICT(name) DO UPDATE SET value = value + 1",
        (name,),
    )
    value = db.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]
    return f"{year}-{value:06d}"


def grid_unit_id(db: Database, code: str | None) -> int | None:
    """The id of the current grid unit with ``code``, for ``incidents.grid_id``.

    A database without any grid unit (no jurisdiction entered yet) takes any code, as before
    grids were units; once grids exist, an unknown or retired code is refused.

    Raises:
        InvalidInput: naming the field ``grid``.
    """
    if code is None:
        return None
    row = db.conn.execute(
        "SELECT id FROM units WHERE code = ? AND level = 'grid' AND valid_to IS NULL", (code,)
    ).fetchone()
    if row is not None:
        return int(row[0])
    if db.conn.execute("SELECT 1 FROM units WHERE level = 'grid' LIMIT 1").fetchone():
        raise InvalidInput(_("no grid {code}").format(code=code), "grid")
    return None


def create_incident(
    db: Database, clock: Clock, policy: Policy, operator: str, new: NewIncident
) -> Incident:
    """Log a reported case (stage ``reported``) with its first timeline entry."""
    values = validate_new(new)
    now = clock.now()
    at = to_iso(now)
    deadline = policy.deadline(
        Stage.REPORTED, now, values["category"], values["type"], values["urgency"]
    )
    with write(db):
        grid_id = grid_unit_id(db, values["grid"])
        number = next_number(db, now.astimezone(policy.calendar.zone).year)
        cursor = db.conn.execute(
            "INSERT INTO incidents (number, title, description, category, type, severity,"
            " urgency, stage, location, lat, lon, grid, grid_id, reporter_name, reporter_phone,"
            " source, tags, reported_at, stage_since, deadline, active, updated_at) VALUES"
            " (:number, :title, :description, :category, :type, :severity, :urgency, 'reported',"
            " :location, :lat, :lon, :grid, :grid_id, :reporter_name, :reporter_phone, :source,"
            " :tags, :at, :at, :deadline, 1, :at)",
            {
                **values,
                "grid_id": grid_id,
                "number": number,
                "at": at,
                "deadline": to_iso(deadline) if deadline else None,
            },
        )
        incident_id = int(cursor.lastrowid or 0)
        # The audit log is permanent: it keeps the reporter's number masked, as listings show it.
        data = {
            **values,
            "reporter_phone": mask_phone(values["reporter_phone"]) or None,
            "tags": json.loads(values["tags"]),
            "number": number,
        }
        append_event(
            db,
            at=at,
            operator=operator,
            kind="reported",
            incident_id=incident_id,
            stage_to=Stage.REPORTED.value,
            data=data,
        )
    return get_incident(db, incident_id)


def resolve_id(db: Database, ref: int | str) -> int:
    """Find a case by id (``42``) or number (``2026-000042``); raise NotFound naming the ref."""
    text = str(ref).strip()
    if NUMBER_RE.match(text):
        row = db.conn.execute("SELECT id FROM incidents WHERE number = ?", (text,)).fetchone()
    elif text.isascii() and text.isdigit():
        if int(text) > MAX_ID:
            raise NotFound(_("no case {ref}").format(ref=text))
        row = db.conn.execute("SELECT id FROM incidents WHERE id = ?", (int(text),)).fetchone()
    else:
        raise InvalidInput(
            _("{text!r} is neither a case id nor a number like 2026-000123").format(text=text),
            "case",
        )
    if row is None:
        raise NotFound(_("no case {ref}").format(ref=text))
    return int(row[0])


def case_number(db: Database, incident_id: int) -> str | None:
    """A case's number by its id (None: no such case); the number alone, for callers that
    label many rows and need nothing else of the case."""
    row = db.conn.execute("SELECT number FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return str(row[0]) if row is not None else None


TAIL_RE = re.compile(r"^\d{1,6}$")


def resolve_number(db: Database, text: str) -> int:
    """Find a case by its number (``2026-000244``) or the number's tail (``244``, ``000244``).

    A tail names the newest year's case with that sequence number, else the year before's, and
    so on: the case a duty officer read out this year.

    Raises:
        InvalidInput: ``text`` is neither a number nor a tail of one.
        NotFound: no case has that number.
    """
    text = text.strip()
    if NUMBER_RE.match(text):
        return resolve_id(db, text)
    if not (text.isascii() and TAIL_RE.match(text)) or int(text) == 0:
        raise InvalidInput(
            _("{text!r} is not a case number like 2026-000123 or 123").format(text=text), "case"
        )
    newest, oldest = db.conn.execute("SELECT max(number), min(number) FROM incidents").fetchone()
    if newest is not None:
        # Each year is one indexed lookup: a handful of years, never a scan of the numbers.
        for year in range(int(newest[:4]), int(oldest[:4]) - 1, -1):
            row = db.conn.execute(
                "SELECT id FROM incidents WHERE number = ?", (f"{year:04d}-{int(text):06d}",)
            ).fetchone()
            if row is not None:
                return int(row[0])
    raise NotFound(_("no case numbered {tail}").format(tail=text))


def find_case(db: Database, text: str) -> int:
    """Find a case by number, the tail of a number (see :func:`resolve_number`), else by id."""
    try:
        return resolve_number(db, text)
    except (InvalidInput, NotFound):
        return resolve_id(db, text)


def get_incident(db: Database, ref: int | str) -> Incident:
    incident_id = resolve_id(db, ref)
    row = db.conn.execute(
        f"SELECT {COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
    ).fetchone()
    return row_to_incident(row)


@dataclass(frozen=True)
class ListFilter:
    """Filters of the case list; ``None`` means "any"."""

    stages: tuple[Stage, ...] | None = None
    severities: tuple[Severity, ...] | None = None
    urgencies: tuple[Urgency, ...] | None = None
    grid: str | None = None
    overdue: bool | None = None
    supervised: bool | None = None
    parked: bool | None = False
    text: str | None = None
    include_closed: bool = False

    @property
    def active_queue(self) -> bool:
        """True when only the active queue is asked for: the fast, indexed path."""
        return (
            not self.include_closed
            and self.parked is False
            and (self.stages is None or all(s.is_open for s in self.stages))
        )


@dataclass(frozen=True)
class Page:
    items: list[Incident]
    next_after: tuple[str, int] | None


def _list_where(flt: ListFilter, now: datetime) -> tuple[list[str], list[Any], str]:
    """The WHERE terms and parameters of ``flt``, and the sort key of its listing."""
    where: list[str] = []
    params: list[Any] = []
    if flt.active_queue:
        key = "deadline"
        where.append("active = 1")
    else:
        key = "coalesce(deadline, '~')"
        if not flt.include_closed and not (flt.stages and any(not s.is_open for s in flt.stages)):
            where.append(OPEN_CASE_SQL)
        if flt.parked is not None:
            where.append("parked = ?")
            params.append(int(flt.parked))
    if flt.stages:
        where.append(f"stage IN ({','.join('?' * len(flt.stages))})")
        params.extend(s.value for s in flt.stages)
    if flt.severities:
        where.append(f"severity IN ({','.join('?' * len(flt.severities))})")
        params.extend(int(s) for s in flt.severities)
    if flt.urgencies:
        where.append(f"urgency IN ({','.join('?' * len(flt.urgencies))})")
        params.extend(u.value for u in flt.urgencies)
    if flt.grid:
        where.append("grid = ?")
        params.append(flt.grid)
    if flt.overdue is not None:
        where.append(
            "(deadline IS NOT NULL AND parked = 0 AND deadline < ?)"
            if flt.overdue
            else "(deadline IS NULL OR parked = 1 OR deadline >= ?)"
        )
        params.append(to_iso(now))
    if flt.supervised is not None:
        where.append("supervised = ?")
        params.append(int(flt.supervised))
    if flt.text:
        match = search_match(flt.text)
        where.append("id IN (SELECT rowid FROM incident_fts WHERE incident_fts MATCH ?)")
        params.append(match)
    return where, params, key


def list_incidents(
    db: Database,
    now: datetime,
    flt: ListFilter | None = None,
    *,
    after: tuple[str, int] | None = None,
    limit: int = 50,
) -> Page:
    """One page of cases sorted by deadline (then id), with keyset pagination.

    Args:
        after: the ``next_after`` of the previous page; ``None`` for the first page.
        limit: page size.

    Returns:
        The page and the key to pass as ``after`` for the next one (``None`` at the end).
    """
    flt = flt or ListFilter()
    where, params, key = _list_where(flt, now)
    if after is not None:
        where.append(f"({key}, id) > (?, ?)")
        params.extend(after)
    sql = (
        f"SELECT {COLUMNS}, {key} FROM incidents"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY {key}, id LIMIT ?"
    )
    params.append(limit + 1)
    rows = db.conn.execute(sql, params).fetchall()
    items = [row_to_incident(r) for r in rows[:limit]]
    next_after = (rows[limit - 1][-1], rows[limit - 1][0]) if len(rows) > limit else None
    return Page(items, next_after)


def count_incidents(db: Database, now: datetime, flt: ListFilter, *, cap: int = 10_000) -> int:
    """How many cases ``flt`` lists, counted up to ``cap`` (a search's "37 found").

    Counting stops at ``cap``: a common word in a large database is "10000+", not a scan.
    """
    where, params, _key = _list_where(flt, now)
    sql = (
        "SELECT count(*) FROM (SELECT 1 FROM incidents"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " LIMIT ?)"
    )
    return int(db.conn.execute(sql, [*params, cap]).fetchone()[0])


# Words that join the words of an English name ("accident or disaster"): not a kind's name.
_JOINING_WORDS = frozenset({"a", "an", "and", "or", "of", "the", "from"})


def _kind_names() -> list[tuple[str, tuple[str, ...]]]:
    """(code, its names) for every category and type: the Chinese label, the English name and
    the name in the current language (which the catalog may word differently)."""
    names: list[tuple[str, tuple[str, ...]]] = []
    for category, (label, types) in CATEGORIES.items():
        names.append((category, (label, CATEGORY_NAMES[category], _(CATEGORY_NAMES[category]))))
        for type_, type_label in types.items():
            english = TYPE_NAMES.get(type_, type_)
            names.append((type_, (type_label, english, _(english))))
    return names


def _names_word(term: str, name: str) -> bool:
    """Whether a term typed matches a category's or type's name: Chinese anywhere in it (two
    characters at least: 灾 alone would be half the kinds), other words as one of its words
    (the start of one, from three letters)."""
    if not term.isascii():
        return len(term) >= 2 and term in name
    term = term.lower()
    if term in _JOINING_WORDS:
        return False
    words = re.split(r"[\s_/-]+", name.lower())
    return any(w == term or (len(term) >= 3 and w.startswith(term)) for w in words)


def kind_codes(term: str) -> list[str]:
    """The category and type codes whose names (in Chinese or English) match ``term``."""
    found: list[str] = []
    for code, names in _kind_names():
        if code not in found and (term.lower() == code or any(_names_word(term, n) for n in names)):
            found.append(code)
    return found


def search_match(text: str) -> str:
    """The FTS5 expression for what a person typed: each word found in the text of a case or
    in the name of its category or type (火灾 finds a fire reported as 冒烟).

    Raises:
        InvalidInput: nothing in ``text`` can be searched for.
    """

    def kinds(term: str) -> str | None:
        codes = kind_codes(term)
        return f"kind : ({' OR '.join(quote(c) for c in codes)})" if codes else None

    match = fts_query(text, also=kinds)
    if match is None:
        raise InvalidInput(_("the search text has no searchable word"), "text")
    return match


@dataclass(frozen=True)
class SearchHit:
    incident: Incident
    rank: float


SEARCH_WINDOW = 5000


def search_incidents(
    db: Database, text: str, *, limit: int = 50, window: int = SEARCH_WINDOW
) -> list[SearchHit]:
    """Full-text search over title, description, location, notes and kind, best match first.

    Chinese words of any length are found inside unsegmented text (see ``store.textsearch``);
    title matches weigh most, then description, location, the kind (a category's or type's
    name, see :func:`search_match`), notes.

    Ranking costs time in proportion to the matches ranked, so only the ``window`` most recent
    matching cases are ranked: a word found in 5 % of a million cases still answers in a few
    milliseconds, and a duty officer gets the best matches among recent cases. Older cases
    stay reachable with more words, or with ``list_incidents(text=...)``.
    """
    match = search_match(text)
    try:
        rows = db.conn.execute(
            f"SELECT {', '.join('i.' + c.strip() for c in COLUMNS.split(','))}, f.rank"
            " FROM incident_fts f JOIN incidents i ON i.id = f.rowid"
            " WHERE incident_fts MATCH :match AND rank MATCH 'bm25(10.0, 4.0, 3.0, 1.0, 2.0)'"
            " AND f.rowid >= coalesce((SELECT rowid FROM incident_fts WHERE incident_fts"
            " MATCH :match ORDER BY rowid DESC LIMIT 1 OFFSET :skip), 0)"
            " ORDER BY f.rank LIMIT :limit",
            {"match": match, "skip": max(window, 1) - 1, "limit": limit},
        ).fetchall()
    except SQLError as exc:
        raise InvalidInput(
            _("cannot search for {text!r}: {error}").format(text=text, error=exc), "text"
        ) from exc
    return [SearchHit(row_to_incident(r[:-1]), float(r[-1])) for r in rows]


def timeline(db: Database, ref: int | str) -> list[TimelineEntry]:
    incident_id = resolve_id(db, ref)
    rows = db.conn.execute(
        "SELECT id, at, operator, kind, stage_from, stage_to, data FROM events"
        " WHERE incident_id = ? ORDER BY id",
        (incident_id,),
    ).fetchall()
    return [
        TimelineEntry(
            id=r[0],
            at=from_iso(r[1]),
            operator=r[2],
            kind=r[3],
            stage_from=Stage(r[4]) if r[4] else None,
            stage_to=Stage(r[5]) if r[5] else None,
            data=_masked_data(json.loads(r[6])),
        )
        for r in rows
    ]


def _masked_data(data: dict[str, Any]) -> dict[str, Any]:
    """An entry's data as shown: a reporter's number masked, in entries written before the log
    kept it masked (``reported`` data and ``edit`` changes)."""
    if data.get("reporter_phone"):
        data["reporter_phone"] = mask_phone(data["reporter_phone"])
    changes = data.get("changes")
    if isinstance(changes, dict) and isinstance(changes.get("reporter_phone"), list):
        changes["reporter_phone"] = [mask_phone(v) or None for v in changes["reporter_phone"]]
    return data


def record_reporter_phone_shown(
    db: Database, clock: Clock, operator: str, command: str, incidents: Sequence[Incident]
) -> int:
    """Audit that reporters' numbers were shown unmasked (``personal_data_shown``).

    One entry per read, naming the operator (the entry's) and the cases whose number was
    shown (the first :data:`store.audit.MAX_NAMED` of them, and how many in all, so a long listing
    cannot bloat the permanent log); a single case is also the entry's case, so the read
    appears in that case's timeline.

    Returns:
        The entry's id.
    """
    shown = [i for i in incidents if i.reporter_phone]
    return record_personal_data_shown(
        db,
        at=to_iso(clock.now()),
        operator=operator,
        command=command,
        what="reporter_phone",
        count=len(shown),
        cases=[i.number for i in shown],
        incident_id=shown[0].id if len(shown) == 1 else None,
    )


def replay_stage(entries: Sequence[TimelineEntry]) -> Stage | None:
    """The stage a case is in according to its timeline alone (the last stage change)."""
    stage: Stage | None = None
    for entry in entries:
        if entry.stage_to is not None:
            stage = entry.stage_to
    return stage


def row_to_task(row: Sequence[Any]) -> Task:
    return Task(
        id=row[0],
        incident_id=row[1],
        title=row[2],
        owner=row[3],
        due=_opt_time(row[4]),
        created_at=from_iso(row[5]),
        done_at=_opt_time(row[6]),
        done_by=row[7],
    )


TASK_COLUMNS = "id, incident_id, title, owner, due, created_at, done_at, done_by"


def tasks_of(db: Database, ref: int | str) -> list[Task]:
    incident_id = resolve_id(db, ref)
    rows = db.conn.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE incident_id = ? ORDER BY id", (incident_id,)
    ).fetchall()
    return [row_to_task(r) for r in rows]


def list_tasks(db: Database, now: datetime, *, overdue_only: bool = False) -> list[Task]:
    """Open tasks (or only the overdue ones), earliest due first."""
    sql = f"SELECT {TASK_COLUMNS} FROM tasks WHERE done_at IS NULL"
    params: list[Any] = []
    if overdue_only:
        sql += " AND due IS NOT NULL AND due < ?"
        params.append(to_iso(now))
    sql += " ORDER BY due IS NULL, due, id"
    return [row_to_task(r) for r in db.conn.execute(sql, params).fetchall()]
