"""Provides :func:`bulk_load`: many cases and timeline entries written in one transaction.

Demo databases, migrations from an older case system and the benchmark need hundreds of
thousands of cases at once. Logging them one by one through ``create_incident`` costs a
transaction, a head lookup and a Python object per row; this module instead streams plain
tuples into ``executemany`` inside one :func:`store.db.write` transaction, so a load either
lands completely or not at all:

* each case is checked cheaply (known columns, required values present, stage, severity,
  urgency, source and category/type from the vocabulary of ``incidents.models``, number
  ``YYYY-NNNNNN``); the first bad row raises :class:`store.errors.ImportRejected` (an
  ``InvalidInput``) naming the row and the field, and nothing is written;
* timeline entries get their ids and hashes from :func:`store.audit.chain_rows`, continuing the
  current head, and ``audit_head`` is moved in the same transaction, so
  :func:`store.audit.verify_chain` passes afterwards;
* the per-year case number counters (``incident-YYYY``) are raised to the highest number loaded,
  so cases logged afterwards do not collide;
* the full-text index follows through the schema's triggers, as for any other write.

Inputs are consumed as streams, ``chunk`` rows at a time, so memory stays flat however many
rows are loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any

from incidents.models import CATEGORIES, TERMINAL, Severity, Source, Stage, Urgency
from store.audit import chain_rows, head
from store.db import Database, SQLError, write
from store.errors import ImportRejected
from store.i18n import _

# Columns of ``incidents`` in table order; ``id`` is assigned by the load.
INCIDENT_COLUMNS: tuple[str, ...] = (
    "id",
    "number",
    "title",
    "description",
    "category",
    "type",
    "severity",
    "urgency",
    "stage",
    "location",
    "lat",
    "lon",
    "grid",
    "reporter_name",
    "reporter_phone",
    "source",
    "tags",
    "assignee",
    "reported_at",
    "stage_since",
    "deadline",
    "active",
    "parked",
    "supervised",
    "overdue_since",
    "remind_at",
    "reminders",
    "extensions",
    "merged_into",
    "updated_at",
    "closed_at",
)
EVENT_COLUMNS: tuple[str, ...] = (
    "id",
    "at",
    "operator",
    "incident_id",
    "kind",
    "stage_from",
    "stage_to",
    "data",
    "prev_hash",
    "hash",
)
INSERT_INCIDENT = (
    f"INSERT INTO incidents ({', '.join(INCIDENT_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(INCIDENT_COLUMNS))})"
)
INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)
UPDATE_HEAD = (
    "INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash"
)
RAISE_COUNTER = (
    "INSERT INTO counters (name, value) VALUES (?, ?) "
    "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)"
)

REQUIRED: tuple[str, ...] = (
    "number",
    "title",
    "category",
    "type",
    "severity",
    "urgency",
    "stage",
    "source",
    "reported_at",
    "stage_since",
    "updated_at",
)
# Optional columns and the value they take when a case leaves them out. ``active`` left out
# (or None) is derived from the stage and ``parked``, as the workflow sets it.
DEFAULTS: dict[str, Any] = {
    "description": "",
    "location": "",
    "lat": None,
    "lon": None,
    "grid": None,
    "reporter_name": None,
    "reporter_phone": None,
    "tags": "[]",
    "assignee": None,
    "deadline": None,
    "active": None,
    "parked": 0,
    "supervised": 0,
    "overdue_since": None,
    "remind_at": None,
    "reminders": 0,
    "extensions": 0,
    "merged_into": None,
    "closed_at": None,
}
ACCEPTED = frozenset(REQUIRED) | frozenset(DEFAULTS)

_NUMBER = re.compile(r"\d{4}-\d{6}")
_STAGES = frozenset(s.value for s in Stage)
_CLOSED_STAGES = frozenset(s.value for s in TERMINAL)
_SEVERITIES = frozenset(int(s) for s in Severity)
_URGENCIES = frozenset(u.value for u in Urgency)
_SOURCES = frozenset(s.value for s in Source)
_CLASSIFICATIONS = frozenset(
    (category, type_) for category, (_label, types) in CATEGORIES.items() for type_ in types
)
_required = itemgetter(*REQUIRED)
_row = itemgetter(*INCIDENT_COLUMNS)
_CONSTRAINT_FIELD = re.compile(r"constraint failed: (?:\w+\.)?(\w+)")

BulkEvent = tuple[str, str, int | None, str, str | None, str | None, dict[str, Any] | None]
"""``(at, operator, case, kind, stage_from, stage_to, data)``.

``case`` is the 0-based position, in the same load's ``cases``, of the case the entry belongs
to, or ``None`` for an entry about no case (a shift handover).
"""

DEFAULT_CHUNK = 10_000


@dataclass(frozen=True)
class BulkResult:
    """What a load wrote.

    Attributes:
        case_ids: the ids given to the cases, in input order (``case_ids[i]`` is ``cases[i]``).
        event_ids: the ids given to the timeline entries, in input order.
        head: the audit head ``(last_id, last_hash)`` after the load.
        counters: the case number counters raised, ``{"incident-2024": 1234, ...}``.
    """

    case_ids: range
    event_ids: range
    head: tuple[int, str]
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def cases(self) -> int:
        return len(self.case_ids)

    @property
    def events(self) -> int:
        return len(self.event_ids)


def _reject(what: str, index: int, column: str | None, problem: str) -> ImportRejected:
    name = f"{what}[{index}]" + (f".{column}" if column else "")
    return ImportRejected(problem, name)


class _Cases:
    """Checks case dicts and turns them into ``incidents`` rows, keeping the counters' maxima."""

    def __init__(self, first_id: int) -> None:
        self.first_id = first_id
        self.count = 0
        self.top: dict[str, int] = {}

    def rows(self, cases: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Any, ...]]:
        first_id = self.first_id
        top = self.top
        for index, case in enumerate(cases):
            if not case.keys() <= ACCEPTED:
                unknown = ", ".join(sorted(str(k) for k in case.keys() - ACCEPTED))
                raise _reject(
                    "cases", index, None, _("unknown column(s) {columns}").format(columns=unknown)
                )
            row = {**DEFAULTS, **case}
            try:
                required = _required(row)
            except KeyError as missing:
                raise _reject(
                    "cases", index, str(missing.args[0]), _("a value is required")
                ) from None
            if None in required or "" in required:
                column = next(c for c, v in zip(REQUIRED, required, strict=True) if v in (None, ""))
                raise _reject("cases", index, column, _("a value is required"))
            self._check_vocabulary(index, row)
            number = row["number"]
            if not isinstance(number, str) or not _NUMBER.fullmatch(number):
                raise _reject(
                    "cases",
                    index,
                    "number",
                    _("{number!r} is not like 2024-000123").format(number=number),
                )
            year, seq = number[:4], int(number[5:])
            if seq > top.get(year, 0):
                top[year] = seq
            if row["active"] is None:
                row["active"] = int(row["stage"] not in _CLOSED_STAGES and not row["parked"])
            if row["active"] and not row["deadline"]:
                # The queue is paged by (deadline, id): an active case without one would break it.
                raise _reject("cases", index, "deadline", _("an active case needs a deadline"))
            tags = row["tags"]
            if not isinstance(tags, str):
                row["tags"] = json.dumps(list(tags), ensure_ascii=False)
            merged_into = row["merged_into"]
            if merged_into is not None:
                if not isinstance(merged_into, int) or not 0 <= merged_into < index:
                    raise _reject(
                        "cases",
                        index,
                        "merged_into",
                        _(
                            "{position!r} is not the position of an earlier case in this load"
                        ).format(position=merged_into),
                    )
                row["merged_into"] = first_id + merged_into
            row["id"] = first_id + index
            self.count = index + 1
            yield _row(row)

    @staticmethod
    def _check_vocabulary(index: int, row: dict[str, Any]) -> None:
        if row["stage"] not in _STAGES:
            raise _reject(
                "cases", index, "stage", _("unknown stage {stage!r}").format(stage=row["stage"])
            )
        if row["severity"] not in _SEVERITIES:
            raise _reject(
                "cases",
                index,
                "severity",
                _("{severity!r} is not 1-4").format(severity=row["severity"]),
            )
        if row["urgency"] not in _URGENCIES:
            raise _reject(
                "cases",
                index,
                "urgency",
                _("unknown urgency {urgency!r}").format(urgency=row["urgency"]),
            )
        if row["source"] not in _SOURCES:
            raise _reject(
                "cases",
                index,
                "source",
                _("unknown source {source!r}").format(source=row["source"]),
            )
        if (row["category"], row["type"]) not in _CLASSIFICATIONS:
            pair = f"{row['category']!r}/{row['type']!r}"
            raise _reject(
                "cases", index, "type", _("unknown category/type {pair}").format(pair=pair)
            )


class _Events:
    """Checks timeline entries and maps their case positions to ids; remembers the position."""

    def __init__(self, first_case_id: int, cases: int) -> None:
        self.first_case_id = first_case_id
        self.cases = cases
        self.index = -1

    def rows(
        self, events: Iterable[BulkEvent]
    ) -> Iterator[tuple[str, str, int | None, str, str | None, str | None, dict[str, Any]]]:
        first_case_id, cases = self.first_case_id, self.cases
        for index, event in enumerate(events):
            self.index = index
            try:
                at, operator, case, kind, stage_from, stage_to, data = event
            except (TypeError, ValueError):
                raise _reject(
                    "events",
                    index,
                    None,
                    _("expected (at, operator, case, kind, stage_from, stage_to, data)"),
                ) from None
            if not at or not operator or not kind:
                column = "at" if not at else "operator" if not operator else "kind"
                raise _reject("events", index, column, _("a value is required"))
            if case is not None:
                if not isinstance(case, int) or not 0 <= case < cases:
                    raise _reject(
                        "events",
                        index,
                        "case",
                        _("{case!r} is not a case position in this load").format(case=case),
                    )
                case += first_case_id
            if stage_from is not None and stage_from not in _STAGES:
                raise _reject(
                    "events",
                    index,
                    "stage_from",
                    _("unknown stage {stage!r}").format(stage=stage_from),
                )
            if stage_to is not None and stage_to not in _STAGES:
                raise _reject(
                    "events", index, "stage_to", _("unknown stage {stage!r}").format(stage=stage_to)
                )
            yield at, operator, case, kind, stage_from, stage_to, data if data is not None else {}


def _insert(
    db: Database,
    sql: str,
    rows: Iterator[tuple[Any, ...]],
    chunk: int,
    what: str,
    table: str,
    first_id: int,
) -> tuple[Any, ...] | None:
    """``executemany`` ``rows`` ``chunk`` at a time; return the last row inserted.

    A row SQLite refuses (a repeated case number, a value of the wrong type) becomes an
    ``ImportRejected`` naming it: ids are consecutive, so the rows before it are the ones
    already in the table.
    """
    last: tuple[Any, ...] | None = None
    while batch := list(islice(rows, chunk)):
        try:
            db.conn.executemany(sql, batch)
        except SQLError as exc:
            done = db.conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
            found = _CONSTRAINT_FIELD.search(str(exc))
            raise _reject(
                what, max(done + 1 - first_id, 0), found.group(1) if found else None, str(exc)
            ) from exc
        last = batch[-1]
    return last


def bulk_load(
    db: Database,
    cases: Iterable[Mapping[str, Any]],
    events: Iterable[BulkEvent] = (),
    *,
    chunk: int = DEFAULT_CHUNK,
) -> BulkResult:
    """Insert many cases, then many timeline entries, in one write transaction.

    Args:
        db: the database (its connection must not be inside a foreign transaction that cannot
            take a savepoint).
        cases: dicts of ``incidents`` columns (see ``REQUIRED`` and ``DEFAULTS``); ``id`` is not
            given but assigned in input order after the highest id present. ``merged_into``,
            when given, is the position of an earlier case of the same load. ``tags`` may be
            JSON text or a list of strings.
        events: :data:`BulkEvent` tuples in chain order; ``case`` is the position of the case
            in ``cases``. ``cases`` is consumed completely before ``events`` is started, so
            ``events`` may be a generator that is not ready until then.
        chunk: rows per ``executemany`` call (memory held at once).

    Returns:
        The ids given, the new audit head and the counters raised.

    Raises:
        ImportRejected: a row is incomplete or has a value SQLite refuses; the message names
            it as ``cases[i].field`` or ``events[i].field`` (0-based) and nothing is written.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    conn = db.conn
    with write(db):
        first_case_id = int(
            conn.execute("SELECT coalesce(max(id), 0) + 1 FROM incidents").fetchone()[0]
        )
        feed = _Cases(first_case_id)
        _insert(db, INSERT_INCIDENT, feed.rows(cases), chunk, "cases", "incidents", first_case_id)
        for year, top in sorted(feed.top.items()):
            conn.execute(RAISE_COUNTER, (f"incident-{year}", top))

        start = head(db)
        entries = _Events(first_case_id, feed.count)
        try:
            last = _insert(
                db,
                INSERT_EVENT,
                chain_rows(entries.rows(events), start),
                chunk,
                "events",
                "events",
                start[0] + 1,
            )
        except (TypeError, ValueError) as exc:
            # ``canonical`` could not turn the entry's data into JSON.
            raise _reject("events", entries.index, "data", str(exc)) from exc
        new_head = start if last is None else (int(last[0]), str(last[-1]))
        if last is not None:
            conn.execute(UPDATE_HEAD, new_head)
    return BulkResult(
        case_ids=range(first_case_id, first_case_id + feed.count),
        event_ids=range(start[0] + 1, new_head[0] + 1),
        head=new_head,
        counters={f"incident-{year}": top for year, top in sorted(feed.top.items())},
    )
