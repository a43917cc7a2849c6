"""The drill calendar (drills.ical) parsed back with icalendar: UIDs, times across DST,
alarms, cancellations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from drills.ical import to_ical
from drills.models import DrillKind, Hours, Occurrence, Plan
from store.errors import InvalidInput

STAMP = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"  # DST on 2026-03-29: 09:00 is 08:00 UTC before, 07:00 UTC after


def plan(pid: int = 1, reminders: tuple[int, ...] = (10080, 1440, 60), **more: Any) -> Plan:
    fields: dict[str, Any] = {
        "id": pid,
        "code": f"P{pid}",
        "name": "叫应演练 call tree",
        "kind": DrillKind.NOTIFICATION,
        "scenario": "flood/内涝",
        "scope": ("grid:G01",),
        "announced": True,
        "hours": Hours.ANY,
        "organizer": "ORG",
        "evaluators": ("EV",),
        "participants": (),
        "message": "演练：请回复",
        "tree": "default",
        "reminders_min": reminders,
        "injects": (),
        "objectives": (),
        "active": True,
        "created_at": STAMP,
        "created_by": "t",
        "updated_at": STAMP,
    }
    fields.update(more)
    return Plan(**fields)


def occurrence(at: datetime, **more: Any) -> Occurrence:
    fields: dict[str, Any] = {
        "schedule_id": 7,
        "plan_id": 1,
        "plan_code": "P1",
        "plan_name": "叫应演练 call tree",
        "kind": DrillKind.NOTIFICATION,
        "announced": True,
        "at": at,
    }
    fields.update(more)
    return Occurrence(**fields)


def events(data: bytes) -> list[Any]:
    cal = Calendar.from_ical(data)
    return [c for c in cal.walk("VEVENT")]


def test_times_are_local_wall_times_with_their_zone_across_dst() -> None:
    before = datetime(2026, 3, 25, 8, 0, tzinfo=UTC)  # 09:00 CET
    after = datetime(2026, 4, 1, 7, 0, tzinfo=UTC)  # 09:00 CEST
    data = to_ical([occurrence(before), occurrence(after)], {1: plan()}, BERLIN, stamp=STAMP)
    assert b"DTSTART;TZID=Europe/Berlin:20260325T090000" in data
    assert b"DTSTART;TZID=Europe/Berlin:20260401T090000" in data
    cal = Calendar.from_ical(data)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == [BERLIN]
    starts = [e.decoded("dtstart") for e in events(data)]
    assert [s.astimezone(UTC) for s in starts] == [before, after]
    assert all(s.astimezone(ZoneInfo(BERLIN)).hour == 9 for s in starts)
    assert [e.decoded("duration") for e in events(data)] == [timedelta(hours=1)] * 2


def test_uids_are_the_occurrences_and_stable_across_exports() -> None:
    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    occurrences = [occurrence(at), occurrence(at, schedule_id=8)]
    first = to_ical(occurrences, {1: plan()}, "Asia/Shanghai", stamp=STAMP)
    later = to_ical(occurrences, {1: plan()}, "Asia/Shanghai", stamp=STAMP + timedelta(days=3))
    uids = [str(e["UID"]) for e in events(first)]
    assert uids == [o.uid for o in occurrences] and len(set(uids)) == 2
    assert [str(e["UID"]) for e in events(later)] == uids
    assert [e.decoded("dtstamp") for e in events(later)] == [STAMP + timedelta(days=3)] * 2
    assert str(events(first)[0]["SUMMARY"]) == "演练 Drill: 叫应演练 call tree"


def test_each_reminder_of_the_plan_is_a_display_alarm() -> None:
    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    data = to_ical(
        [occurrence(at)], {1: plan(reminders=(60, 10080, 1440))}, "Asia/Shanghai", stamp=STAMP
    )
    (event,) = events(data)
    alarms = event.walk("VALARM")
    assert [a.decoded("trigger") for a in alarms] == [
        timedelta(days=-7),
        timedelta(days=-1),
        timedelta(hours=-1),
    ]
    assert {str(a["ACTION"]) for a in alarms} == {"DISPLAY"}
    assert all("演练提醒" in str(a["DESCRIPTION"]) for a in alarms)
    assert str(event["STATUS"]) == "CONFIRMED" and int(event["SEQUENCE"]) == 0


def test_a_cancelled_occurrence_is_a_cancelled_event_without_alarms() -> None:
    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    kept, dropped = occurrence(at), occurrence(at + timedelta(days=30), cancelled=True)
    data = to_ical([kept, dropped], {1: plan()}, "Asia/Shanghai", stamp=STAMP)
    first, second = events(data)
    assert str(second["UID"]) == dropped.uid
    assert str(second["STATUS"]) == "CANCELLED"
    assert int(second["SEQUENCE"]) > int(first["SEQUENCE"])
    assert second.walk("VALARM") == [] and len(first.walk("VALARM")) == 3
    assert "CANCELLED" in str(second["SUMMARY"])


def test_a_missing_plan_keeps_the_event_and_the_kind_sets_the_length() -> None:
    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    tabletop = occurrence(
        at, plan_id=2, kind=DrillKind.TABLETOP, plan_name="桌面推演", announced=False
    )
    (event,) = events(to_ical([tabletop], {}, "Asia/Shanghai", stamp=STAMP))
    assert str(event["SUMMARY"]) == "演练 Drill: 桌面推演"
    assert event.decoded("duration") == timedelta(hours=2)
    assert event.walk("VALARM") == []
    assert "unannounced" in str(event["DESCRIPTION"])


def test_an_empty_feed_is_a_valid_calendar_and_a_bad_zone_is_refused() -> None:
    cal = Calendar.from_ical(to_ical([], {}, "Asia/Shanghai", stamp=STAMP, name="乡镇演练"))
    assert str(cal["X-WR-CALNAME"]) == "乡镇演练" and cal.walk("VEVENT") == []
    with pytest.raises(InvalidInput) as refused:
        to_ical([], {}, "Mars/Olympus", stamp=STAMP)
    assert refused.value.field == "zone"
