"""Tests of incidents.bulk: one-transaction loads that keep the chain, the index and counters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from incidents.bulk import BulkEvent, bulk_load
from incidents.limits import Policy
from incidents.models import Stage
from incidents.records import (
    ListFilter,
    NewIncident,
    create_incident,
    get_incident,
    list_incidents,
    search_incidents,
    timeline,
)
from store.audit import head, verify_chain
from store.clock import FixedClock
from store.db import Database, connect
from store.errors import ImportRejected, InvalidInput

NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
PROBLEMS = ("楼道漏水", "路灯不亮", "井盖缺失", "垃圾堆放")


@pytest.fixture
def db() -> Iterator[Database]:
    database = connect()
    yield database
    database.close()


def make_case(i: int, **overrides: Any) -> dict[str, Any]:
    """Case ``i``: every fourth one open (registered, with a deadline), the others closed."""
    open_ = i % 4 == 0
    case: dict[str, Any] = {
        "number": f"2024-{i + 1:06d}",
        "title": f"幸福里{i % 9 + 1}号楼{PROBLEMS[i % len(PROBLEMS)]}",
        "description": "居民反映，监控CCTV已调取" if i % 10 == 0 else "居民反映情况",
        "category": "facilities",
        "type": "water_pipe",
        "severity": 4 - i % 3,
        "urgency": "normal",
        "stage": "registered" if open_ else "closed",
        "location": "幸福里",
        "grid": f"G{i % 5 + 1:03d}",
        "source": "hotline",
        "tags": "[]",
        "reported_at": f"2024-05-01T{i % 24:02d}:00:00Z",
        "stage_since": "2024-05-02T00:00:00Z",
        "deadline": f"2024-06-{i % 28 + 1:02d}T00:00:00Z" if open_ else None,
        "updated_at": "2024-05-02T00:00:00Z",
        "closed_at": None if open_ else "2024-05-03T00:00:00Z",
    }
    case.update(overrides)
    return case


def make_events(n_cases: int) -> Iterator[BulkEvent]:
    """Two entries per case (reported, registered) and a note on every third case."""
    for i in range(n_cases):
        at = f"2024-05-01T{i % 24:02d}:00:00Z"
        yield (at, "loader", i, "reported", None, "reported", {"number": f"2024-{i + 1:06d}"})
        yield (at, "loader", i, "register", "reported", "registered", {"deadline": None})
        if i % 3 == 0:
            yield (at, "loader", i, "note", None, None, {"text": f"已通知物业处理消防通道 {i}"})


def snapshot(db: Database) -> dict[str, Any]:
    """Everything a load writes, to compare before and after a rejected load."""
    conn = db.conn
    return {
        "incidents": conn.execute("SELECT count(*), max(id) FROM incidents").fetchone(),
        "events": conn.execute("SELECT count(*), max(id) FROM events").fetchone(),
        "fts": conn.execute("SELECT count(*) FROM incident_fts").fetchone(),
        "counters": conn.execute("SELECT name, value FROM counters ORDER BY name").fetchall(),
        "head": head(db),
    }


def test_load_writes_cases_and_a_verifying_chain(db: Database) -> None:
    result = bulk_load(db, (make_case(i) for i in range(200)), make_events(200), chunk=7)

    assert result.cases == 200
    assert result.case_ids == range(1, 201)
    assert result.events == 200 * 2 + 67
    report = verify_chain(db)
    assert report.ok, report.problem
    assert report.checked == result.events
    assert head(db) == result.head
    assert result.head[0] == result.event_ids[-1]
    assert db.conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 200
    third = get_incident(db, "2024-000003")
    assert third.title == "幸福里3号楼井盖缺失"
    assert third.stage is Stage.CLOSED
    assert [e.kind for e in timeline(db, third.id)] == ["reported", "register"]


def test_active_flag_is_derived_from_stage_and_parked(db: Database) -> None:
    cases = [
        make_case(0),
        make_case(1),
        make_case(4, number="2024-000100", parked=1, deadline=None),
    ]
    bulk_load(db, cases)

    active = dict(db.conn.execute("SELECT number, active FROM incidents").fetchall())
    assert active == {"2024-000001": 1, "2024-000002": 0, "2024-000100": 0}
    page = list_incidents(db, NOW, ListFilter())
    assert [i.number for i in page.items] == ["2024-000001"]


def test_loaded_active_cases_page_by_deadline(db: Database) -> None:
    bulk_load(db, (make_case(i) for i in range(400)))

    first = list_incidents(db, NOW, limit=50)
    second = list_incidents(db, NOW, after=first.next_after, limit=50)
    keys = [(i.deadline, i.id) for i in first.items + second.items]
    assert len(keys) == 100
    assert keys == sorted(keys)
    assert all(i.stage is Stage.REGISTERED for i in first.items)


def test_search_finds_two_character_chinese_words_in_loaded_titles(db: Database) -> None:
    bulk_load(db, (make_case(i) for i in range(100)), make_events(100))

    hits = search_incidents(db, "漏水", limit=100)
    assert {h.incident.number for h in hits} == {f"2024-{i + 1:06d}" for i in range(0, 100, 4)}
    assert len(search_incidents(db, "路灯", limit=100)) == 25
    assert search_incidents(db, "灯不", limit=100)  # any two adjacent characters are a word
    assert search_incidents(db, "水路", limit=100) == []  # never adjacent in one title


def test_search_finds_loaded_notes_and_english_words(db: Database) -> None:
    bulk_load(db, (make_case(i) for i in range(30)), make_events(30))

    noted = {h.incident.number for h in search_incidents(db, "消防通道", limit=100)}
    assert noted == {f"2024-{i + 1:06d}" for i in range(0, 30, 3)}
    english = {h.incident.number for h in search_incidents(db, "cctv", limit=100)}
    assert english == {"2024-000001", "2024-000011", "2024-000021"}


def test_counters_are_raised_to_the_highest_number_per_year(db: Database) -> None:
    db.conn.execute("INSERT INTO counters (name, value) VALUES ('incident-2023', 900)")
    cases = [
        make_case(0, number="2023-000120"),
        make_case(1, number="2024-000300"),
        make_case(2, number="2024-000007"),
    ]
    result = bulk_load(db, cases)

    counters = dict(db.conn.execute("SELECT name, value FROM counters").fetchall())
    assert counters == {"incident-2023": 900, "incident-2024": 300}
    assert result.counters == {"incident-2023": 120, "incident-2024": 300}
    new = create_incident(
        db, FixedClock(NOW), Policy(), "duty", NewIncident(title="新报事件", category="dispute")
    )
    assert new.number == "2024-000301"


def test_load_continues_existing_ids_and_chain(db: Database) -> None:
    clock = FixedClock(NOW)
    existing = create_incident(
        db, clock, Policy(), "duty", NewIncident(title="已有事件", category="dispute")
    )
    before = head(db)

    result = bulk_load(
        db,
        (make_case(i, number=f"2023-{i + 1:06d}") for i in range(10)),
        make_events(10),
    )

    assert result.case_ids == range(existing.id + 1, existing.id + 11)
    assert result.event_ids[0] == before[0] + 1
    assert verify_chain(db).ok
    assert timeline(db, result.case_ids[4])[0].kind == "reported"
    after = create_incident(
        db, clock, Policy(), "duty", NewIncident(title="之后的事件", category="dispute")
    )
    assert after.id == result.case_ids[-1] + 1
    assert verify_chain(db).ok


def test_merged_into_refers_to_an_earlier_case_of_the_load(db: Database) -> None:
    bulk_load(db, [make_case(0), make_case(1, stage="merged", merged_into=0)])

    merged = get_incident(db, "2024-000002")
    assert merged.merged_into == get_incident(db, "2024-000001").id


def test_tags_may_be_given_as_a_list(db: Database) -> None:
    bulk_load(db, [make_case(0, tags=["防汛", "重点"])])

    assert get_incident(db, 1).tags == ("防汛", "重点")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"title": ""}, "cases[3].title"),
        ({"reported_at": None}, "cases[3].reported_at"),
        ({"urgency": ...}, "cases[3].urgency"),  # the column left out
        ({"stage": "archived"}, "cases[3].stage"),
        ({"severity": 5}, "cases[3].severity"),
        ({"type": "flood"}, "cases[3].type"),
        ({"number": "24-1"}, "cases[3].number"),
        ({"number": "2024-000001"}, "cases[3].number"),  # repeats case 0: SQLite's UNIQUE
        ({"colour": "red"}, "cases[3]"),
        ({"merged_into": 3}, "cases[3].merged_into"),
        ({"stage": "handling", "deadline": None}, "cases[3].deadline"),  # queue pages by it
    ],
)
def test_a_bad_case_rejects_the_whole_load(db: Database, bad: dict[str, Any], field: str) -> None:
    bulk_load(db, [make_case(0, number="2022-000001")], make_events(1))
    before = snapshot(db)
    cases = [make_case(i, **(bad if i == 3 else {})) for i in range(12)]
    cases[3] = {k: v for k, v in cases[3].items() if v is not ...}

    with pytest.raises(InvalidInput) as caught:
        bulk_load(db, cases, make_events(12), chunk=2)

    assert isinstance(caught.value, ImportRejected)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)
    assert snapshot(db) == before
    assert verify_chain(db).ok


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (("2024-05-01T00:00:00Z", "loader", 12, "note", None, None, {}), "events[5].case"),
        (("2024-05-01T00:00:00Z", "", 1, "note", None, None, {}), "events[5].operator"),
        (("2024-05-01T00:00:00Z", "loader", 1, "x", "done", None, {}), "events[5].stage_from"),
        (("2024-05-01T00:00:00Z", "loader", 1, "note", None, None, {"t": {1}}), "events[5].data"),
        (("2024-05-01T00:00:00Z", "loader", 1), "events[5]"),
    ],
)
def test_a_bad_event_rejects_cases_and_events(db: Database, bad: Any, field: str) -> None:
    before = snapshot(db)
    events = list(make_events(12))
    events[5] = bad

    with pytest.raises(ImportRejected) as caught:
        bulk_load(db, (make_case(i) for i in range(12)), events, chunk=4)

    assert caught.value.field == field
    assert snapshot(db) == before
    assert search_incidents(db, "漏水") == []


def test_an_event_without_a_case_is_chained(db: Database) -> None:
    handover: BulkEvent = ("2024-05-01T08:00:00Z", "duty", None, "handover", None, None, None)
    result = bulk_load(db, [], [handover])

    assert result.cases == 0
    assert result.event_ids == range(1, 2)
    row = db.conn.execute("SELECT incident_id, data FROM events").fetchone()
    assert row == (None, "{}")
    assert verify_chain(db).ok


def test_an_empty_load_changes_nothing(db: Database) -> None:
    before = snapshot(db)
    result = bulk_load(db, [], [])

    assert (result.cases, result.events) == (0, 0)
    assert snapshot(db) == before
