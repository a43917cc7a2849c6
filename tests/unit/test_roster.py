"""The duty roster: rotations, overrides, resolution, gaps, DST and the iCalendar export."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlite_utils import Database

from contacts.roster import (
    add_override,
    add_post,
    add_rotation,
    gaps,
    holder,
    on_duty,
    shift_uid,
    shifts,
    to_ical,
)
from store.clock import FixedClock
from store.errors import InvalidInput, NotFound

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
OP = "tester"


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


@pytest.fixture
def people(db: Database) -> dict[str, int]:
    ids = {}
    for key, name, phone in (
        ("P1", "王伟", "+8613800138001"),
        ("P2", "李娜", "+8613800138002"),
        ("P3", "张强", None),
        ("P4", "张强", None),
        ("P5", "刘洋", None),
    ):
        cur = db.conn.execute(
            "INSERT INTO people (key, name, phone, created_at, updated_at) VALUES (?,?,?,?,?)",
            (key, name, phone, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        )
        ids[key] = int(cur.lastrowid or 0)
    return ids


def daily(db: Database, clock: FixedClock, post: str = "DO", **kw: object) -> None:
    values: dict[str, object] = {
        "people": ["P1", "P2"],
        "starts_on": date(2026, 11, 1),
        "shift_start": "08:00",
        "shift_hours": 24,
        "zone": "Asia/Shanghai",
    }
    values.update(kw)
    add_rotation(db, clock, OP, post, **values)  # type: ignore[arg-type]


def test_daily_rotation_alternates_and_crosses_midnight(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    daily(db, clock)
    # 2026-11-01 is shift 0 (P1), 11-02 shift 1 (P2) ... 11-26 is shift 25 (P2).
    at_night = holder(db, "DO", sh(2026, 11, 27, 3))  # 03:00 belongs to the 26th's shift
    assert at_night is not None
    assert at_night.person.key == "P2"
    assert at_night.starts_at == sh(2026, 11, 26, 8)
    assert at_night.ends_at == sh(2026, 11, 27, 8)
    after = holder(db, "DO", sh(2026, 11, 27, 8))
    assert after is not None and after.person.key == "P1"
    assert holder(db, "DO", sh(2026, 11, 1, 7, 59)) is None  # before the first shift


def test_weekly_rotation_hands_over_every_seven_days(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "LEAD", "值班长")
    daily(db, clock, "LEAD", people=["P1", "P2", "P5"], every_days=7, shift_hours=168)
    listed = shifts(db, sh(2026, 11, 1), sh(2026, 11, 29), "LEAD")
    assert [(s.person.key, s.starts_at.astimezone(SH).day) for s in listed] == [
        ("P1", 1),
        ("P2", 8),
        ("P5", 15),
        ("P1", 22),
    ]
    assert all(s.ends_at - s.starts_at == timedelta(days=7) for s in listed)


def test_day_night_rotations_on_one_post(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    daily(db, clock, people=["P1"], shift_start="08:00", shift_hours=12)
    daily(db, clock, people=["P2"], shift_start="20:00", shift_hours=12)
    day = shifts(db, sh(2026, 11, 26), sh(2026, 11, 27))
    assert [(s.person.key, s.starts_at.astimezone(SH).hour) for s in day] == [
        ("P2", 20),  # the night shift of the 25th, running at midnight
        ("P1", 8),
        ("P2", 20),
    ]
    assert day[0].ends_at == sh(2026, 11, 26, 8)
    assert gaps(db, sh(2026, 11, 1, 8), sh(2026, 12, 1)) == []


def test_partial_override_splits_the_shift(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    daily(db, clock)
    add_override(db, clock, OP, "DO", "P5", sh(2026, 11, 26, 12), sh(2026, 11, 26, 18), "医院")
    listed = shifts(db, sh(2026, 11, 26, 9), sh(2026, 11, 27, 7))
    assert [
        (s.person.key, s.source, s.starts_at.astimezone(SH).hour, s.ends_at.astimezone(SH).hour)
        for s in listed
    ] == [("P2", "rotation", 8, 12), ("P5", "override", 12, 18), ("P2", "rotation", 18, 8)]
    assert listed[2].ends_at == sh(2026, 11, 27, 8)  # the real end, beyond the window
    current = holder(db, "DO", sh(2026, 11, 26, 13))
    assert current is not None and current.person.key == "P5"


def test_override_outside_the_window_still_bounds_the_part_shown(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    daily(db, clock)
    add_override(db, clock, OP, "DO", "P5", sh(2026, 11, 27, 4), sh(2026, 11, 27, 8), "换班")
    shown = holder(db, "DO", sh(2026, 11, 26, 10))
    assert shown is not None
    assert shown.ends_at == sh(2026, 11, 27, 4)


def test_latest_override_wins(db: Database, clock: FixedClock, people: dict[str, int]) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    daily(db, clock)
    add_override(db, clock, OP, "DO", "P5", sh(2026, 11, 20), sh(2026, 11, 30), "出差替班")
    add_override(db, clock, OP, "DO", "P1", sh(2026, 11, 25), sh(2026, 11, 26), "调换一天")
    assert holder(db, "DO", sh(2026, 11, 25, 12)).person.key == "P1"  # type: ignore[union-attr]
    assert holder(db, "DO", sh(2026, 11, 26, 12)).person.key == "P5"  # type: ignore[union-attr]
    assert holder(db, "DO", sh(2026, 11, 24, 12)).person.key == "P5"  # type: ignore[union-attr]
    assert holder(db, "DO", sh(2026, 11, 30, 12)).person.key == "P2"  # type: ignore[union-attr]
    # An earlier override created after a later one loses nothing: creation order decides.
    add_override(db, clock, OP, "DO", "P2", sh(2026, 11, 19), sh(2026, 11, 21), "再调")
    assert holder(db, "DO", sh(2026, 11, 20, 12)).person.key == "P2"  # type: ignore[union-attr]
    assert holder(db, "DO", sh(2026, 11, 21, 12)).person.key == "P5"  # type: ignore[union-attr]


def test_gaps_are_found_and_precise(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    add_post(db, clock, OP, "LEAD", "值班长")
    daily(db, clock, people=["P1"], shift_start="08:00", shift_hours=12)  # days only
    add_override(db, clock, OP, "DO", "P2", sh(2026, 11, 26, 20), sh(2026, 11, 27, 2), "夜班")
    found = gaps(db, sh(2026, 11, 26, 8), sh(2026, 11, 27, 8))
    assert [(g.post.code, g.starts_at, g.ends_at) for g in found] == [
        ("DO", sh(2026, 11, 27, 2).astimezone(UTC), sh(2026, 11, 27, 8).astimezone(UTC)),
        ("LEAD", sh(2026, 11, 26, 8).astimezone(UTC), sh(2026, 11, 27, 8).astimezone(UTC)),
    ]
    assert gaps(db, sh(2026, 11, 26, 8), sh(2026, 11, 26, 20), "DO") == []


def test_dst_keeps_wall_clock_hand_over(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "Dienst")
    daily(db, clock, starts_on=date(2026, 3, 27), zone="Europe/Berlin")
    # Germany springs forward on 2026-03-29 and falls back on 2026-10-25.
    spring = shifts(
        db, datetime(2026, 3, 28, 12, tzinfo=BERLIN), datetime(2026, 3, 30, 12, tzinfo=BERLIN)
    )
    assert [s.starts_at.astimezone(BERLIN).hour for s in spring] == [8, 8, 8]
    assert [s.ends_at - s.starts_at for s in spring] == [
        timedelta(hours=23),
        timedelta(hours=24),
        timedelta(hours=24),
    ]
    assert spring[0].starts_at == datetime(2026, 3, 28, 7, tzinfo=UTC)  # 08:00 CET
    assert spring[1].starts_at == datetime(2026, 3, 29, 6, tzinfo=UTC)  # 08:00 CEST
    autumn = holder(db, "DO", datetime(2026, 10, 25, 12, tzinfo=BERLIN))
    assert autumn is not None
    assert autumn.ends_at - autumn.starts_at == timedelta(hours=24)
    before = holder(db, "DO", datetime(2026, 10, 24, 12, tzinfo=BERLIN))
    assert before is not None and before.ends_at - before.starts_at == timedelta(hours=25)
    assert before.ends_at == autumn.starts_at == datetime(2026, 10, 25, 7, tzinfo=UTC)
    assert gaps(db, datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)) == []


def test_on_duty_lists_every_filled_post(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    add_post(db, clock, OP, "LEAD", "值班长")
    add_post(db, clock, OP, "ZZ", "空岗")
    daily(db, clock)
    daily(db, clock, "LEAD", people=["P5"], every_days=7, shift_hours=168)
    now = on_duty(db, clock.now())  # 2026-11-26 10:00 Shanghai
    assert [(s.post.code, s.person.key) for s in now] == [("DO", "P2"), ("LEAD", "P5")]


def test_people_resolve_by_key_id_phone_and_unique_name(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    rot = add_rotation(
        db,
        clock,
        OP,
        "do",
        people=["P1", str(people["P2"]), "138 0013 8001", "刘洋"],
        starts_on=date(2026, 11, 1),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    assert [p.key for p in rot.people] == ["P1", "P2", "P1", "P5"]
    with pytest.raises(InvalidInput, match="2 people are called 张强"):
        daily(db, clock, people=["张强"])
    with pytest.raises(NotFound):
        daily(db, clock, people=["nobody"])


def test_bad_input_is_refused(db: Database, clock: FixedClock, people: dict[str, int]) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    with pytest.raises(InvalidInput, match="already exists"):
        add_post(db, clock, OP, "do", "again")
    with pytest.raises(InvalidInput, match="at most 24"):
        daily(db, clock, shift_hours=36)
    with pytest.raises(InvalidInput, match="HH:MM"):
        daily(db, clock, shift_start="25:00")
    with pytest.raises(InvalidInput, match="time zone"):
        daily(db, clock, zone="Mars/Base")
    with pytest.raises(InvalidInput, match="after the start"):
        add_override(db, clock, OP, "DO", "P1", sh(2026, 11, 2), sh(2026, 11, 1), "x")
    with pytest.raises(NotFound):
        holder(db, "NOPE", clock.now())


def test_changes_are_audited(db: Database, clock: FixedClock, people: dict[str, int]) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    daily(db, clock)
    add_override(db, clock, OP, "DO", "P5", sh(2026, 11, 26, 12), sh(2026, 11, 26, 18), "医院")
    rows = db.conn.execute("SELECT kind, operator, data FROM events ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["post_added", "rotation_added", "override_added"]
    assert {r[1] for r in rows} == {OP}
    assert json.loads(rows[2][2])["person"] == "P5"


def test_ical_round_trips_with_utc_times_and_stable_uids(
    db: Database, clock: FixedClock, people: dict[str, int]
) -> None:
    add_post(db, clock, OP, "DO", "值班员 duty officer")
    daily(db, clock, starts_on=date(2026, 3, 27), zone="Europe/Berlin")
    listed = shifts(
        db, datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 30, 12, tzinfo=UTC)
    )
    first = to_ical(listed, "Europe/Berlin", stamp=clock.now())
    again = to_ical(listed, "Europe/Berlin", stamp=clock.now() + timedelta(days=1))
    cal = Calendar.from_ical(first)
    events = cal.walk("VEVENT")
    assert len(events) == len(listed) == 3
    assert [str(e["SUMMARY"]) for e in events][0] == "值班员 duty officer: 李娜"
    for event, shift in zip(events, listed, strict=True):
        assert event.decoded("DTSTART").astimezone(UTC) == shift.starts_at
        assert event.decoded("DTEND").astimezone(UTC) == shift.ends_at
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert str(event["UID"]) == shift_uid(shift)
    assert b"BEGIN:VTIMEZONE" in first
    uids = [str(e["UID"]) for e in Calendar.from_ical(again).walk("VEVENT")]
    assert uids == [str(e["UID"]) for e in events]
    assert len(set(uids)) == 3


def test_ical_per_person(db: Database, clock: FixedClock, people: dict[str, int]) -> None:
    add_post(db, clock, OP, "DO", "值班员")
    daily(db, clock)
    mine = shifts(db, sh(2026, 11, 1), sh(2026, 11, 11), person="P1")
    assert [s.starts_at.astimezone(SH).day for s in mine] == [1, 3, 5, 7, 9]
    events = Calendar.from_ical(to_ical(mine, "Asia/Shanghai", stamp=clock.now())).walk("VEVENT")
    assert {str(e["SUMMARY"]) for e in events} == {"值班员: 王伟"}
