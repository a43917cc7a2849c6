"""Drill schedules: occurrences across DST and month ends, the claims that fire each moment once,
and the catch-up policy after downtime, driven by hand with a fixed clock (the engine's part)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

import drills.runs
import drills.schedules
from drills.models import (
    RUN_WHAT,
    ClaimOutcome,
    Due,
    NoticeKind,
    Plan,
    Schedule,
    ScheduleState,
    remind_what,
)
from drills.notices import list_notices
from drills.plans import add_plan, edit_plan, set_active
from drills.runs import get_run, list_runs
from drills.schedules import (
    add_schedule,
    cancel_schedule,
    claims,
    clean_rrule,
    fire_due,
    get_schedule,
    list_schedules,
    missed,
    next_moments,
    occurrences,
    reminder_at,
    upcoming,
)
from store.clock import FixedClock, to_iso
from store.db import Database as StoreDatabase
from store.db import connect
from store.errors import InvalidInput, InvalidTransition, NotFound
from tests.support.domain import OPERATOR, START, events_count
from tests.support.town import build_town

GRACE = timedelta(minutes=30)
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY, HOUR = 1440, 60


def make_plan(
    db: Database,
    clock: FixedClock,
    code: str = "TT",
    *,
    announced: bool = True,
    reminders: tuple[int, ...] = (HOUR,),
    hours: str = "any",
) -> Plan:
    """A tabletop plan (no call-out): organizer A, evaluator SEC, participant L1."""
    return add_plan(
        db,
        clock,
        OPERATOR,
        code=code,
        name="防汛桌面推演",
        kind="tabletop",
        organizer="A",
        evaluators=["SEC"],
        participants=["L1"],
        announced=announced,
        hours=hours,
        reminders_min=list(reminders),
    )


def sched(rrule: str | None, start: datetime, zone: ZoneInfo = SHANGHAI) -> Schedule:
    """A schedule record as the database would return it (occurrences need no database)."""
    return Schedule(
        id=1,
        plan_id=1,
        plan_code="TT",
        start=start,
        zone=zone.key,
        rrule=clean_rrule(rrule) if rrule else None,
        state=ScheduleState.ACTIVE,
        created_at=START,
        created_by=OPERATOR,
    )


def local(at: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """An aware time as its local wall time and UTC offset, for readable assertions."""
    here = at.astimezone(zone)
    return here.strftime("%Y-%m-%d %H:%M"), here.strftime("%z")


def fire(db: Database, clock: FixedClock, holder: str = "e1", **kw: object) -> list[Due]:
    return fire_due(db, clock, grace=GRACE, holder=holder, **kw)  # type: ignore[arg-type]


def play(db: Database, clock: FixedClock, until: datetime) -> list[Due]:
    """The engine on time: the clock steps to each next moment, which fires, until ``until``."""
    fired: list[Due] = []
    while True:
        moments = next_moments(db, clock.now())
        if not moments or min(moments.values()) > until:
            clock.set(until)
            return fired
        clock.set(min(moments.values()))
        fired += fire(db, clock)


def outcomes(db: Database, schedule_id: int) -> list[tuple[str, str, str]]:
    """Each claim of a schedule as (occurrence, what, outcome)."""
    return [(to_iso(c.occurrence), c.what, c.outcome.value) for c in claims(db, schedule_id)]


# ------------------------------------------------------------------------------- occurrences


def test_a_monthly_drill_stays_at_nine_local_across_both_dst_changes() -> None:
    s = sched("FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9", datetime(2027, 1, 1), NY)
    got = occurrences(s, datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC))
    assert [local(at, NY) for at in got[1:5]] == [
        ("2027-02-03 09:00", "-0500"),
        ("2027-03-03 09:00", "-0500"),
        ("2027-04-07 09:00", "-0400"),  # after the spring change (14 March)
        ("2027-05-05 09:00", "-0400"),
    ]
    assert local(got[10], NY) == ("2027-11-03 09:00", "-0400")
    assert local(got[11], NY) == ("2027-12-01 09:00", "-0500")  # after the autumn change
    assert [at.hour for at in got] == [14, 14, 14, 13, 13, 13, 13, 13, 13, 13, 13, 14]


def test_shanghai_keeps_one_offset_all_year() -> None:
    s = sched("FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9", datetime(2027, 1, 1))
    got = occurrences(s, datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    assert len(got) == 12
    assert {at.strftime("%H:%M") for at in got} == {"01:00"}


def test_a_time_in_the_spring_gap_moves_forward_and_an_ambiguous_one_takes_the_first() -> None:
    s = sched("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", datetime(2027, 3, 26), BERLIN)
    spring = occurrences(s, datetime(2027, 3, 26, tzinfo=UTC), datetime(2027, 3, 30, tzinfo=UTC))
    assert [local(at, BERLIN) for at in spring] == [
        ("2027-03-26 02:30", "+0100"),
        ("2027-03-27 02:30", "+0100"),
        ("2027-03-28 03:30", "+0200"),  # 02:30 does not exist: forward by the hour's gap
        ("2027-03-29 02:30", "+0200"),
    ]
    autumn = occurrences(s, datetime(2027, 10, 30, tzinfo=UTC), datetime(2027, 11, 1, tzinfo=UTC))
    assert [local(at, BERLIN) for at in autumn] == [
        ("2027-10-30 02:30", "+0200"),
        ("2027-10-31 02:30", "+0200"),  # 02:30 happens twice: the first (summer time)
    ]
    assert autumn[1] == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_hourly_occurrences_through_the_gap_are_in_order_without_doubles() -> None:
    s = sched("FREQ=HOURLY;BYMINUTE=30", datetime(2027, 3, 14, 0, 30), NY)
    got = occurrences(s, datetime(2027, 3, 14, 4, tzinfo=UTC), datetime(2027, 3, 14, 9, tzinfo=UTC))
    assert got == sorted(set(got))
    # 01:30 EST, then 02:30 (in the gap) is 03:30 EDT, the same moment as 03:30 EDT itself.
    assert [local(at, NY)[0][11:] for at in got] == ["00:30", "01:30", "03:30", "04:30"]


def test_month_ends_behave_as_dateutil_does() -> None:
    span = (datetime(2027, 12, 31, tzinfo=UTC), datetime(2028, 6, 1, tzinfo=UTC))
    on_31 = occurrences(sched("FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=9", datetime(2028, 1, 1)), *span)
    assert [at.astimezone(SHANGHAI).strftime("%m-%d") for at in on_31] == [
        "01-31",
        "03-31",
        "05-31",
    ]  # months without a 31st are skipped, not moved
    last = occurrences(sched("FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=9", datetime(2028, 1, 1)), *span)
    assert [at.astimezone(SHANGHAI).strftime("%m-%d") for at in last] == [
        "01-31",
        "02-29",  # 2028 is a leap year
        "03-31",
        "04-30",
        "05-31",
    ]


def test_a_one_off_has_one_occurrence() -> None:
    s = sched(None, datetime(2027, 3, 14, 2, 30), NY)  # in the gap: 03:30 EDT
    assert occurrences(s, START, START + timedelta(days=3650)) == [
        datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    ]
    assert (
        occurrences(s, datetime(2027, 3, 14, 7, 30, tzinfo=UTC), START + timedelta(days=999)) == []
    )


def test_a_utc_until_bounds_a_rule_in_a_zone() -> None:
    s = sched("FREQ=DAILY;BYHOUR=9;UNTIL=20270103T010000Z", datetime(2027, 1, 1))
    got = occurrences(s, START, START + timedelta(days=60))
    assert [at.day for at in got] == [1, 2, 3]  # 09:00 Shanghai on the 3rd is 01:00Z: included


def test_whole_day_reminders_keep_the_wall_clock_and_hours_are_real_time() -> None:
    drill = datetime(2027, 3, 15, 13, 0, tzinfo=UTC)  # 09:00 EDT, the day after the change
    assert local(reminder_at(drill, 7 * DAY, NY), NY) == ("2027-03-08 09:00", "-0500")
    assert local(reminder_at(drill, DAY, NY), NY) == ("2027-03-14 09:00", "-0400")
    assert reminder_at(drill, HOUR, NY) == drill - timedelta(hours=1)
    assert reminder_at(drill, 25 * HOUR, NY) == drill - timedelta(hours=25)


# ------------------------------------------------------------------------------- making


def test_a_schedule_is_stored_with_its_rule_cleaned_and_audited(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock)
    before = events_count(town)
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 12, 1, 14, 37, 22),
        zone="Asia/Shanghai",
        rrule="rrule:FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9",
    )
    assert s.rrule == "FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9;BYMINUTE=0;BYSECOND=0"
    assert s.state is ScheduleState.ACTIVE and s.plan_code == "TT"
    first = occurrences(s, clock.now(), clock.now() + timedelta(days=40))[0]
    assert local(first, SHANGHAI) == ("2026-12-02 09:00", "+0800")  # BYHOUR sets the time
    assert events_count(town) == before + 1
    kind, data = town.conn.execute("SELECT kind, data FROM events ORDER BY id DESC").fetchone()
    assert kind == "drill_scheduled"
    assert json.loads(data)["first"] == "2026-12-02T01:00:00Z"
    assert get_schedule(town, s.id) == s
    assert list_schedules(town, plan="TT") == [s]
    assert list_schedules(town, state=ScheduleState.ENDED) == []


def test_an_aware_start_is_read_in_the_zone(town: Database, clock: FixedClock) -> None:
    make_plan(town, clock)
    at = datetime(2026, 12, 24, 1, 0, tzinfo=UTC)
    s = add_schedule(town, clock, OPERATOR, "TT", start=at, zone="Asia/Shanghai")
    assert s.start == datetime(2026, 12, 24, 9, 0)
    assert occurrences(s, clock.now(), at) == [at]


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule", "FREQ=SOMETIMES"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "BYDAY"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule", "at most hourly"),
        ({"rrule": "BYDAY=MO"}, "rrule", "FREQ"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "day 30"),
        ({"rrule": "FREQ=DAILY;COUNT=3;UNTIL=20271231T000000Z"}, "rrule", "COUNT or UNTIL"),
        ({"rrule": "DTSTART:20270101T090000\nRRULE:FREQ=DAILY"}, "rrule", "DTSTART"),
        ({"rrule": "FREQ=DAILY;UNTIL=20261101T000000Z"}, "rrule", "no occurrence after now"),
        ({"start": datetime(2026, 11, 26, 9, 59)}, "start", "not in the future"),
        ({"zone": "Mars/Olympus"}, "zone", "unknown time zone"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    town: Database, clock: FixedClock, kwargs: dict[str, object], field: str, words: str
) -> None:
    make_plan(town, clock)
    args: dict[str, object] = {"start": datetime(2026, 12, 1, 9), "zone": "Asia/Shanghai"}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as refused:
        add_schedule(town, clock, OPERATOR, "TT", **args)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert words in str(refused.value)
    assert list_schedules(town) == []


def test_unknown_and_inactive_plans_are_refused(town: Database, clock: FixedClock) -> None:
    with pytest.raises(NotFound):
        add_schedule(town, clock, OPERATOR, "NOPE", start=datetime(2026, 12, 1, 9), zone="UTC")
    make_plan(town, clock)
    set_active(town, clock, OPERATOR, "TT", False)
    with pytest.raises(InvalidInput) as refused:
        add_schedule(town, clock, OPERATOR, "TT", start=datetime(2026, 12, 1, 9), zone="UTC")
    assert refused.value.field == "plan"


def test_a_working_hours_plan_refuses_the_first_occurrence_outside_them(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, hours="working")

    def working(at: datetime) -> bool:
        here = at.astimezone(SHANGHAI)
        return here.weekday() < 5 and 8 <= here.hour < 18

    weekly = "FREQ=WEEKLY;BYDAY=WE;BYHOUR=10"
    ok = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=START,
        zone="Asia/Shanghai",
        rrule=weekly,
        working=working,
    )
    assert ok.state is ScheduleState.ACTIVE
    with pytest.raises(InvalidInput) as refused:
        add_schedule(
            town,
            clock,
            OPERATOR,
            "TT",
            start=START,
            zone="Asia/Shanghai",
            rrule="FREQ=DAILY;BYHOUR=10",
            working=working,
        )
    assert refused.value.field == "rrule"
    assert "2026-11-28T02:00:00Z" in str(refused.value)  # the first Saturday
    make_plan(town, clock, "NIGHT", hours="after")
    with pytest.raises(InvalidInput, match="in working hours"):
        add_schedule(
            town,
            clock,
            OPERATOR,
            "NIGHT",
            start=START,
            zone="Asia/Shanghai",
            rrule=weekly,
            working=working,
        )


# ------------------------------------------------------------------------------- firing on time


def test_reminders_and_the_run_fire_at_the_right_wall_clock_times(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(7 * DAY, DAY, HOUR))
    clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    s = add_schedule(town, clock, OPERATOR, "TT", start=datetime(2027, 3, 15, 9), zone=NY.key)
    fired = play(town, clock, datetime(2027, 3, 16, tzinfo=UTC))
    assert [(local(d.occurrence, NY)[0], d.what) for d in fired] == [
        ("2027-03-15 09:00", remind_what(7 * DAY)),
        ("2027-03-15 09:00", remind_what(DAY)),
        ("2027-03-15 09:00", remind_what(HOUR)),
        ("2027-03-15 09:00", RUN_WHAT),
    ]
    assert {d.outcome for d in fired} == {ClaimOutcome.FIRED}
    dues = [
        local(datetime.fromisoformat(r[0].replace("Z", "+00:00")), NY)
        for r in town.conn.execute(
            "SELECT due_at FROM drill_claims WHERE schedule_id = ? ORDER BY due_at", (s.id,)
        )
    ]
    assert dues == [
        ("2027-03-08 09:00", "-0500"),  # a week before, 09:00 on the wall clock (winter time)
        ("2027-03-14 09:00", "-0400"),  # a day before, the morning of the change
        ("2027-03-15 08:00", "-0400"),
        ("2027-03-15 09:00", "-0400"),
    ]
    (run,) = list_runs(town)
    assert fired[-1].run_id == run.id and run.schedule_id == s.id
    assert run.occurrence == datetime(2027, 3, 15, 13, tzinfo=UTC) and run.late_s == 0
    assert get_schedule(town, s.id).state is ScheduleState.ENDED  # a one-off that ran
    assert next_moments(town, clock.now()) == {}


def test_reminders_go_to_organizer_evaluators_and_participants_of_an_announced_drill(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, "OPEN")
    make_plan(town, clock, "SECRET", announced=False)
    for code in ("OPEN", "SECRET"):
        add_schedule(
            town, clock, OPERATOR, code, start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai"
        )
    play(town, clock, datetime(2026, 11, 27, 0, 30, tzinfo=UTC))  # 08:30: the reminders only
    told = {
        sid: sorted(n.name for n in list_notices(town, schedule_id=sid, kind=NoticeKind.REMINDER))
        for sid in (1, 2)
    }
    assert told == {1: ["A", "L1", "SEC"], 2: ["A", "SEC"]}  # L1 is tested unannounced
    (text,) = {n.text for n in list_notices(town, schedule_id=2)}
    assert "2026-11-27 09:00" in text and "DRILL REMINDER" in text and "late" not in text
    assert list_runs(town) == []


def test_a_recurring_schedule_fires_each_occurrence_once_and_ends_with_its_count(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(DAY,))
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 11, 26, 12),
        zone="Asia/Shanghai",
        rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;COUNT=3",
    )
    play(town, clock, datetime(2027, 1, 1, tzinfo=UTC))
    assert outcomes(town, s.id) == [
        (occ, what, "fired")
        for occ in ("2026-11-30T01:00:00Z", "2026-12-07T01:00:00Z", "2026-12-14T01:00:00Z")
        for what in (remind_what(DAY), RUN_WHAT)
    ]
    assert len(list_runs(town)) == 3
    assert get_schedule(town, s.id).state is ScheduleState.ENDED


def test_next_moments_reads_the_schedules_in_a_fixed_number_of_queries(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(7 * DAY, DAY, HOUR))
    for i in range(40):
        add_schedule(
            town,
            clock,
            OPERATOR,
            "TT",
            start=datetime(2026, 12, 1, 9) + timedelta(hours=i),
            zone="Europe/Berlin",
            rrule=None if i % 2 else "FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9",
        )
    statements: list[str] = []
    town.conn.set_trace_callback(statements.append)
    try:
        moments = next_moments(town, clock.now())
    finally:
        town.conn.set_trace_callback(None)
    assert len(moments) == 40
    assert len(statements) <= 3
    # A monthly one: its next moment is the reminder a day before the first Wednesday.
    assert local(moments[1], BERLIN) == ("2026-12-01 09:00", "+0100")
    # A one-off on 1 December 10:00 Berlin: a week before is past, so a day before.
    assert local(moments[2], BERLIN) == ("2026-11-30 10:00", "+0100")


def test_upcoming_lists_the_soonest_first_with_the_next_reminder(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(DAY, HOUR))
    make_plan(town, clock, "OTHER", reminders=(HOUR,))
    weekly = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=START,
        zone="Asia/Shanghai",
        rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=9",
    )
    once = add_schedule(
        town, clock, OPERATOR, "OTHER", start=datetime(2026, 12, 2, 15), zone="Asia/Shanghai"
    )
    got = upcoming(town, clock.now(), limit=4)
    assert [(o.schedule_id, local(o.at, SHANGHAI)[0]) for o in got] == [
        (weekly.id, "2026-11-27 09:00"),
        (once.id, "2026-12-02 15:00"),
        (weekly.id, "2026-12-04 09:00"),
        (weekly.id, "2026-12-11 09:00"),
    ]
    # The day-before reminder of the 27th is past (the 26th, 09:00): the hour before is next.
    first, third = got[0].next_reminder, got[2].next_reminder
    assert first is not None and local(first, SHANGHAI)[0] == "2026-11-27 08:00"
    assert third is not None and local(third, SHANGHAI)[0] == "2026-12-03 09:00"
    assert (
        got[1].plan_code == "OTHER" and got[1].uid == f"drill-{once.id}-20261202T070000Z@dutydesk"
    )
    until = datetime(2026, 12, 3, tzinfo=UTC)
    assert len(upcoming(town, clock.now(), until=until)) == 2
    assert [o.plan_code for o in upcoming(town, clock.now(), plan="OTHER")] == ["OTHER"]


# ------------------------------------------------------------------------------- claims and races


def file_town(tmp_path: Path, clock: FixedClock) -> Path:
    path = tmp_path / "drills.db"
    db = connect(path)
    build_town(db, clock, starts_on=START.date())
    make_plan(db, clock, reminders=(HOUR,))
    add_schedule(db, clock, OPERATOR, "TT", start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai")
    db.close()
    return path


def test_two_engines_racing_for_one_occurrence_fire_it_once(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = file_town(tmp_path, clock)
    engines = [connect(path), connect(path)]
    barrier = threading.Barrier(2)
    results: dict[str, list[Due]] = {}

    def engine(name: str, db: StoreDatabase, at: datetime) -> None:
        own = FixedClock(at)
        barrier.wait()
        results[name] = fire(db, own, holder=name)

    try:
        for at in (
            datetime(2026, 11, 27, 0, 0, 5, tzinfo=UTC),
            datetime(2026, 11, 27, 1, 0, 5, tzinfo=UTC),
        ):
            threads = [
                threading.Thread(target=engine, args=(name, db, at))
                for name, db in zip(("e1", "e2"), engines, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            claimed = results["e1"] + results["e2"]
            assert len(claimed) == 1, claimed  # one engine claimed it, the other found the row
            assert claimed[0].outcome is ClaimOutcome.FIRED
        db = engines[0]
        assert [r.id for r in list_runs(db)] == [1]
        assert len(list_notices(db, kind=NoticeKind.REMINDER)) == 3  # A, SEC, L1: once each
        holders = {r[0] for r in db.conn.execute("SELECT holder FROM drill_claims")}
        assert holders <= {"e1", "e2"} and len(holders) >= 1
    finally:
        for db in engines:
            db.close()


def test_interleaved_engines_the_later_one_finds_the_moment_claimed(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = file_town(tmp_path, clock)
    one, two = connect(path), connect(path)
    try:
        at = FixedClock(datetime(2026, 11, 27, 1, 0, 1, tzinfo=UTC))
        first = fire(one, at, holder="e1")
        at.advance(seconds=1)
        assert fire(two, at, holder="e2") == []
        assert [d.what for d in first] == [remind_what(HOUR), RUN_WHAT]
        # The reminder's moment had passed with its occurrence: the run fires, the reminder not.
        assert [d.outcome for d in first] == [ClaimOutcome.MISSED, ClaimOutcome.FIRED]
        assert len(list_runs(two)) == 1
    finally:
        one.close()
        two.close()


def test_a_restart_inside_the_reminder_window_fires_it_once(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = file_town(tmp_path, clock)
    reminder = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00, an hour before the drill

    # The first engine dies while queueing the reminder: its transaction leaves nothing.
    def crash(*_args: object, **_kw: object) -> int:
        raise KeyboardInterrupt

    db = connect(path)
    monkeypatch.setattr(drills.schedules, "queue_reminder", crash)
    with pytest.raises(KeyboardInterrupt):
        fire(db, FixedClock(reminder + timedelta(seconds=2)))
    db.close()
    monkeypatch.undo()
    db = connect(path)
    assert claims(db, 1) == [] and list_notices(db) == []
    db.close()

    # Restarted five minutes later, inside the grace period: the reminder goes, late.
    db = connect(path)
    (due,) = fire(db, FixedClock(reminder + timedelta(minutes=5)), holder="e2")
    assert due.outcome is ClaimOutcome.LATE and due.late_s == 300
    notices = list_notices(db)
    assert len(notices) == 3 and all("late by 5 min" in n.text for n in notices)
    db.close()

    # Restarted again within the window: nothing more.
    db = connect(path)
    assert fire(db, FixedClock(reminder + timedelta(minutes=9))) == []
    assert len(list_notices(db)) == 3
    db.close()


# ------------------------------------------------------------------------------- catch-up


def test_an_engine_down_for_three_days_records_each_missed_moment_and_fires_only_the_newest(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 11, 27, 9),
        zone="Asia/Shanghai",
        rrule="FREQ=DAILY;BYHOUR=9",
    )
    clock.set(datetime(2026, 11, 29, 1, 10, tzinfo=UTC))  # the third day, 09:10: ten minutes late
    fired = fire(town, clock)
    assert [(to_iso(d.occurrence)[:10], d.what, d.outcome.value) for d in fired] == [
        ("2026-11-27", remind_what(HOUR), "missed"),
        ("2026-11-27", RUN_WHAT, "missed"),
        ("2026-11-28", remind_what(HOUR), "missed"),
        ("2026-11-28", RUN_WHAT, "missed"),
        ("2026-11-29", remind_what(HOUR), "missed"),  # its drill is already under way
        ("2026-11-29", RUN_WHAT, "late"),
    ]
    (run,) = list_runs(town)
    assert fired[-1].run_id == run.id and run.late_s == 600 and fired[-1].late_s == 600
    assert get_run(town, run.id).occurrence == datetime(2026, 11, 29, 1, tzinfo=UTC)
    assert list_notices(town) == []  # nothing sent for what was missed
    assert [(to_iso(d.occurrence)[:10], d.what) for d in missed(town)] == [
        ("2026-11-29", remind_what(HOUR)),
        ("2026-11-28", RUN_WHAT),
        ("2026-11-28", remind_what(HOUR)),
        ("2026-11-27", RUN_WHAT),
        ("2026-11-27", remind_what(HOUR)),
    ]
    assert len(missed(town, since=datetime(2026, 11, 28, 1, tzinfo=UTC))) == 2  # due since
    assert fire(town, clock) == []  # the pass is recorded: nothing twice
    assert get_schedule(town, s.id).state is ScheduleState.ACTIVE


def test_beyond_the_grace_period_the_newest_run_is_missed_too(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    add_schedule(town, clock, OPERATOR, "TT", start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai")
    clock.set(datetime(2026, 11, 27, 1, 45, tzinfo=UTC))  # 45 minutes late
    fired = fire(town, clock)
    assert [(d.what, d.outcome, d.late_s) for d in fired] == [
        (remind_what(HOUR), ClaimOutcome.MISSED, 6300),
        (RUN_WHAT, ClaimOutcome.MISSED, 2700),
    ]
    assert list_runs(town) == []
    assert get_schedule(town, 1).state is ScheduleState.ENDED


def test_never_a_burst_of_several_runs_or_reminders(town: Database, clock: FixedClock) -> None:
    make_plan(town, clock, reminders=(30, 20))
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 11, 26, 11),
        zone="Asia/Shanghai",
        rrule="FREQ=HOURLY;BYMINUTE=0;COUNT=4",
    )
    # Made at 10:00; at 12:45 the runs of 11:00 and 12:00 and all their reminders are due, and
    # 13:00's two reminders too, every one within the two hours' grace.
    clock.set(datetime(2026, 11, 26, 4, 45, tzinfo=UTC))
    fired = fire_due(town, clock, grace=timedelta(hours=2), holder="e1")
    assert [(to_iso(d.occurrence)[11:16], d.what, d.outcome.value) for d in fired] == [
        ("03:00", remind_what(30), "missed"),  # 11:00 local: its drill is past
        ("03:00", remind_what(20), "missed"),
        ("03:00", RUN_WHAT, "missed"),  # an older run: only the newest fires
        ("04:00", remind_what(30), "missed"),
        ("04:00", remind_what(20), "missed"),
        ("04:00", RUN_WHAT, "late"),  # 12:00 local: the newest, fired 45 minutes late
        ("05:00", remind_what(30), "skipped"),  # superseded by the newer reminder
        ("05:00", remind_what(20), "late"),  # 12:40 local: five minutes late
    ]
    assert len(list_runs(town)) == 1
    assert len(list_notices(town)) == 3
    assert len(outcomes(town, s.id)) == 8


def test_an_inactive_plan_skips_its_moments(town: Database, clock: FixedClock) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    add_schedule(town, clock, OPERATOR, "TT", start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai")
    set_active(town, clock, OPERATOR, "TT", False)
    play(town, clock, datetime(2026, 11, 28, tzinfo=UTC))
    assert [o for _occ, _what, o in outcomes(town, 1)] == ["skipped", "skipped"]
    assert list_runs(town) == [] and list_notices(town) == []


def test_a_run_that_could_not_start_is_retried_within_grace(
    town: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    add_schedule(town, clock, OPERATOR, "TT", start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai")
    real = drills.runs.start_run

    def refuse(*_args: object, **_kw: object) -> object:
        raise InvalidInput("the gateway's tree is being edited", "scope")

    monkeypatch.setattr(drills.runs, "start_run", refuse)
    clock.set(datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    (due,) = [d for d in fire(town, clock) if d.what == RUN_WHAT]
    assert due.outcome is ClaimOutcome.FIRED and due.run_id is None
    assert get_schedule(town, 1).state is ScheduleState.ACTIVE  # not ended: the run is owed
    monkeypatch.setattr(drills.runs, "start_run", real)
    clock.advance(minutes=2)
    (retried,) = fire(town, clock)
    assert retried.run_id is not None and retried.late_s == 120
    assert [c.run_id for c in claims(town, 1) if c.what == RUN_WHAT] == [retried.run_id]
    assert get_schedule(town, 1).state is ScheduleState.ENDED
    assert get_run(town, retried.run_id).late_s == 120


def test_a_run_still_refused_after_the_grace_period_is_missed(
    town: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    add_schedule(town, clock, OPERATOR, "TT", start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai")

    def refuse(*_args: object, **_kw: object) -> object:
        raise InvalidInput("no", "scope")

    monkeypatch.setattr(drills.runs, "start_run", refuse)
    clock.set(datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    fire(town, clock)
    clock.advance(minutes=31)
    (gave_up,) = fire(town, clock)
    assert gave_up.outcome is ClaimOutcome.MISSED and gave_up.run_id is None
    # The reminder was missed too: the engine first looked at the drill's own time.
    assert [d.what for d in missed(town)] == [RUN_WHAT, remind_what(HOUR)]
    assert get_schedule(town, 1).state is ScheduleState.ENDED


# ------------------------------------------------------------------------------- cancelling


def test_cancelling_a_schedule_between_the_reminder_and_the_run(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    s = add_schedule(
        town, clock, OPERATOR, "TT", start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai"
    )
    play(town, clock, datetime(2026, 11, 27, 0, 30, tzinfo=UTC))  # the reminder went at 08:00
    assert [w for _o, w, _x in outcomes(town, s.id)] == [remind_what(HOUR)]
    before = events_count(town)
    cancelled = cancel_schedule(town, clock, OPERATOR, s.id)
    assert cancelled.state is ScheduleState.CANCELLED and cancelled.cancelled_at == clock.now()
    assert events_count(town) == before + 1
    clock.set(datetime(2026, 11, 27, 1, 0, 1, tzinfo=UTC))
    assert fire(town, clock) == []
    assert next_moments(town, clock.now()) == {}
    assert list_runs(town) == []
    assert upcoming(town, START) == []
    with pytest.raises(InvalidTransition):
        cancel_schedule(town, clock, OPERATOR, s.id)


def test_cancelling_one_occurrence_skips_it_and_keeps_the_others(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(DAY, HOUR))
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 11, 27, 9),
        zone="Asia/Shanghai",
        rrule="FREQ=WEEKLY;BYHOUR=9;COUNT=3",
    )
    second = datetime(2026, 12, 4, 9)  # a wall time in the schedule's zone
    cancel_schedule(town, clock, OPERATOR, s.id, occurrence=second)
    assert get_schedule(town, s.id).state is ScheduleState.ACTIVE
    shown = upcoming(town, clock.now(), include_cancelled=True)
    assert [o.cancelled for o in shown] == [False, True, False]
    assert shown[1].next_reminder is None
    assert [o.at for o in upcoming(town, clock.now())] == [shown[0].at, shown[2].at]
    play(town, clock, datetime(2026, 12, 31, tzinfo=UTC))
    assert [(occ[:10], o) for occ, _w, o in outcomes(town, s.id)] == [
        ("2026-11-27", "fired"),  # the hour-before reminder (the day before had passed)
        ("2026-11-27", "fired"),
        ("2026-12-04", "cancelled"),
        ("2026-12-04", "cancelled"),
        ("2026-12-04", "cancelled"),
        ("2026-12-11", "fired"),
        ("2026-12-11", "fired"),
        ("2026-12-11", "fired"),
    ]
    assert len(list_runs(town)) == 2
    assert get_schedule(town, s.id).state is ScheduleState.ENDED


def test_cancelling_an_occurrence_that_is_not_one_or_is_past_is_refused(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock)
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 11, 27, 9),
        zone="Asia/Shanghai",
        rrule="FREQ=DAILY;BYHOUR=9",
    )
    with pytest.raises(InvalidInput) as refused:
        cancel_schedule(town, clock, OPERATOR, s.id, occurrence=datetime(2026, 11, 28, 10))
    assert refused.value.field == "occurrence"
    clock.set(datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    with pytest.raises(InvalidTransition):
        cancel_schedule(town, clock, OPERATOR, s.id, occurrence=datetime(2026, 11, 28, 9))
    with pytest.raises(NotFound):
        cancel_schedule(town, clock, OPERATOR, 99)


def test_cancelling_a_one_off_by_its_occurrence_cancels_the_schedule(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock)
    at = datetime(2026, 11, 27, 1, tzinfo=UTC)
    s = add_schedule(town, clock, OPERATOR, "TT", start=at, zone="Asia/Shanghai")
    assert cancel_schedule(town, clock, OPERATOR, s.id, occurrence=at).state is (
        ScheduleState.CANCELLED
    )
    assert [o.cancelled for o in upcoming(town, clock.now(), include_cancelled=True)] == [True]


def test_a_reminder_added_after_an_occurrence_was_cancelled_is_cancelled_too(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 11, 27, 9),
        zone="Asia/Shanghai",
        rrule="FREQ=DAILY;BYHOUR=9;COUNT=2",
    )
    cancel_schedule(town, clock, OPERATOR, s.id, occurrence=datetime(2026, 11, 28, 9))
    edit_plan(town, clock, OPERATOR, "TT", reminders_min=[HOUR, 30])
    assert local(next_moments(town, clock.now())[s.id], SHANGHAI)[0] == "2026-11-27 08:00"
    last = play(town, clock, datetime(2026, 11, 29, tzinfo=UTC))[-1]
    # The 28th's new reminder is still a moment to claim (cancelled, at its own time); then
    # the last occurrence's time ends the schedule.
    assert (to_iso(last.occurrence)[:10], last.what, last.outcome, last.late_s) == (
        "2026-11-28",
        remind_what(30),
        ClaimOutcome.CANCELLED,
        0,
    )
    assert fire(town, clock) == []
    assert [(occ[:10], w, o) for occ, w, o in outcomes(town, s.id)] == [
        ("2026-11-27", remind_what(HOUR), "fired"),
        ("2026-11-27", remind_what(30), "fired"),
        ("2026-11-27", RUN_WHAT, "fired"),
        ("2026-11-28", remind_what(HOUR), "cancelled"),
        ("2026-11-28", remind_what(30), "cancelled"),  # the plan gained it after the cancel
        ("2026-11-28", RUN_WHAT, "cancelled"),
    ]
    notices = list_notices(town)
    assert len(notices) == 6 and all("2026-11-27T01:00:00Z" in n.id for n in notices)
    assert get_schedule(town, s.id).state is ScheduleState.ENDED


# ------------------------------------------------------------------------------- when to look next


def stored(db: Database, schedule_id: int) -> tuple[str | None, str | None]:
    """The schedule's stored ``next_at`` and ``next_occurrence``."""
    next_at, occurrence = db.conn.execute(
        "SELECT next_at, next_occurrence FROM drill_schedules WHERE id = ?", (schedule_id,)
    ).fetchone()
    return next_at, occurrence


def at_next_only(db: Database, clock: FixedClock, until: datetime) -> list[str]:
    """fire_due driven only at the stored next_at times (the engine's jobs, no sweep), until
    ``until``; the times it ran at. Each step must move the clock on."""
    times: list[str] = []
    while True:
        moments = next_moments(db, clock.now())
        if not moments or min(moments.values()) > until:
            clock.set(until)
            return times
        soonest = min(moments.values())
        assert soonest > clock.now() or not times, (soonest, clock.now())  # no spinning
        clock.set(max(soonest, clock.now()))
        times.append(to_iso(clock.now()))
        fire(db, clock)


def no_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any expansion of a rule from now on fails the test."""

    def refuse(*_args: object, **_kw: object) -> object:
        raise AssertionError("a rule was expanded")

    monkeypatch.setattr(drills.schedules._Expander, "stream", refuse)


def test_next_at_is_kept_true_through_passes_cancels_and_plan_edits(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(DAY, HOUR))
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=START,
        zone="Asia/Shanghai",
        rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=9",
    )
    # Made Thursday 10:00: the day-before reminder of Friday 09:00 is past, the hour-before not.
    assert stored(town, s.id) == ("2026-11-27T00:00:00Z", "2026-11-27T01:00:00Z")
    clock.set(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    assert [d.what for d in fire(town, clock)] == [remind_what(HOUR)]
    assert stored(town, s.id) == ("2026-11-27T01:00:00Z", "2026-11-27T01:00:00Z")
    clock.set(datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    assert [d.what for d in fire(town, clock)] == [RUN_WHAT]
    assert stored(town, s.id) == ("2026-12-03T01:00:00Z", "2026-12-04T01:00:00Z")

    # Cancelling the next occurrence moves both on to the one after.
    cancel_schedule(town, clock, OPERATOR, s.id, occurrence=datetime(2026, 12, 4, 9))
    assert stored(town, s.id) == ("2026-12-10T01:00:00Z", "2026-12-11T01:00:00Z")

    # A reminder two days before: the cancelled occurrence gains one, claimed (cancelled) at
    # its own time, so next_at comes back to it.
    edit_plan(town, clock, OPERATOR, "TT", reminders_min=[2 * DAY, DAY, HOUR])
    assert stored(town, s.id) == ("2026-12-02T01:00:00Z", "2026-12-11T01:00:00Z")
    clock.set(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    assert [(to_iso(d.occurrence), d.what, d.outcome) for d in fire(town, clock)] == [
        ("2026-12-04T01:00:00Z", remind_what(2 * DAY), ClaimOutcome.CANCELLED)
    ]
    assert stored(town, s.id) == ("2026-12-09T01:00:00Z", "2026-12-11T01:00:00Z")

    # Fewer reminders: next_at moves later. Retiring the plan moves nothing: its moments are
    # still claimed (skipped) at their times.
    edit_plan(town, clock, OPERATOR, "TT", reminders_min=[HOUR])
    assert stored(town, s.id) == ("2026-12-11T00:00:00Z", "2026-12-11T01:00:00Z")
    set_active(town, clock, OPERATOR, "TT", False)
    assert stored(town, s.id) == ("2026-12-11T00:00:00Z", "2026-12-11T01:00:00Z")
    set_active(town, clock, OPERATOR, "TT", True)

    cancel_schedule(town, clock, OPERATOR, s.id)
    assert stored(town, s.id) == (None, None)
    assert next_moments(town, clock.now()) == {}
    assert drills.schedules.next_drill(town, clock.now()) is None


def test_next_at_follows_the_wall_clock_across_dst_and_is_cleared_at_the_end(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(7 * DAY, DAY, HOUR))
    clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    s = add_schedule(town, clock, OPERATOR, "TT", start=datetime(2027, 3, 15, 9), zone=NY.key)
    seen = []
    while stored(town, s.id)[0] is not None:
        next_at, occurrence = stored(town, s.id)
        assert next_at is not None and occurrence == "2027-03-15T13:00:00Z"
        seen.append(local(datetime.fromisoformat(next_at), NY))
        clock.set(datetime.fromisoformat(next_at))
        fire(town, clock)
    assert seen == [
        ("2027-03-08 09:00", "-0500"),
        ("2027-03-14 09:00", "-0400"),  # the morning of the change: still 09:00
        ("2027-03-15 08:00", "-0400"),
        ("2027-03-15 09:00", "-0400"),
    ]
    assert get_schedule(town, s.id).state is ScheduleState.ENDED
    assert stored(town, s.id) == (None, None)


def test_a_schedule_whose_last_occurrences_are_cancelled_ends_at_the_last(
    town: Database, clock: FixedClock
) -> None:
    make_plan(town, clock, reminders=(HOUR,))
    s = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=datetime(2026, 11, 27, 9),
        zone="Asia/Shanghai",
        rrule="FREQ=DAILY;BYHOUR=9;COUNT=3",
    )
    for day in (28, 29):
        cancel_schedule(town, clock, OPERATOR, s.id, occurrence=datetime(2026, 11, day, 9))
    times = at_next_only(town, clock, datetime(2026, 12, 5, tzinfo=UTC))
    # The reminder and the run of the 27th, then one look at the last occurrence, which ends it.
    assert times == ["2026-11-27T00:00:00Z", "2026-11-27T01:00:00Z", "2026-11-29T01:00:00Z"]
    assert get_schedule(town, s.id).state is ScheduleState.ENDED
    assert len(list_runs(town)) == 1


def test_fire_due_and_next_moments_expand_no_rule_when_nothing_is_due(
    town: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plan(town, clock, reminders=(7 * DAY, DAY, HOUR))
    for i in range(30):
        add_schedule(
            town,
            clock,
            OPERATOR,
            "TT",
            start=datetime(2026, 12, 1, 9) + timedelta(hours=i),
            zone="Europe/Berlin",
            rrule=None if i % 2 else "FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9",
        )
    soonest = min(next_moments(town, clock.now()).values())
    no_expansion(monkeypatch)
    statements: list[str] = []
    town.conn.set_trace_callback(statements.append)
    try:
        clock.set(soonest - timedelta(seconds=1))
        assert fire(town, clock) == []
        assert fire(town, clock, schedule_ids=[1, 2, 3]) == []
        assert len(next_moments(town, clock.now())) == 30
    finally:
        town.conn.set_trace_callback(None)
    assert len(statements) == 5  # two reads per pass, one for the moments
    monkeypatch.undo()
    clock.set(soonest)
    assert len(fire(town, clock)) == 1  # the one whose moment came


def test_a_schedule_without_next_at_is_looked_at_by_the_next_pass(
    town: Database, clock: FixedClock
) -> None:
    """A row written without next_at (by hand, or before it was kept) is not lost."""
    make_plan(town, clock, reminders=(HOUR,))
    s = add_schedule(
        town, clock, OPERATOR, "TT", start=datetime(2026, 11, 27, 9), zone="Asia/Shanghai"
    )
    town.conn.execute("UPDATE drill_schedules SET next_at = NULL, next_occurrence = NULL")
    assert drills.schedules.next_drill(town, clock.now()) == upcoming(town, clock.now())[0]
    assert fire(town, clock) == []
    assert stored(town, s.id) == ("2026-11-27T00:00:00Z", "2026-11-27T01:00:00Z")


def test_next_drill_is_what_upcoming_gives_first(town: Database, clock: FixedClock) -> None:
    make_plan(town, clock, reminders=(DAY, HOUR))
    make_plan(town, clock, "OTHER", reminders=(30,), announced=False)
    weekly = add_schedule(
        town,
        clock,
        OPERATOR,
        "TT",
        start=START,
        zone="Asia/Shanghai",
        rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=9",
    )
    add_schedule(
        town, clock, OPERATOR, "OTHER", start=datetime(2026, 12, 2, 15), zone="Asia/Shanghai"
    )
    add_schedule(
        town, clock, OPERATOR, "OTHER", start=datetime(2026, 11, 30, 7), zone="Europe/Berlin"
    )

    def same(now: datetime) -> None:
        first = upcoming(town, now, limit=1)
        assert drills.schedules.next_drill(town, now) == (first[0] if first else None)

    same(clock.now())
    cancel_schedule(town, clock, OPERATOR, weekly.id, occurrence=datetime(2026, 11, 27, 9))
    same(clock.now())
    # No pass for days (no engine): stored occurrences are past, computed again.
    for days in (1, 3, 5, 9, 20):
        same(START + timedelta(days=days))
    at_next_only(town, clock, datetime(2026, 12, 5, tzinfo=UTC))
    same(clock.now())
    cancel_schedule(town, clock, OPERATOR, weekly.id)
    same(clock.now())


# A few rules over three months across a DST change: DST gaps and folds, month ends, whole-day
# reminders on the wall clock, reminders that coincide with the previous occurrence, a COUNT
# that ends, an occurrence cancelled on the way and a plan gaining a reminder on the way.
PROPERTY_RULES = (
    ("NY", NY, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1,2;BYMINUTE=30", (DAY, HOUR, 30)),
    ("BER", BERLIN, "FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=30", (7 * DAY, DAY, 90)),
    ("HOURLY", NY, "FREQ=HOURLY;BYMONTH=3,11;BYMONTHDAY=7,14;BYMINUTE=30", (DAY, HOUR)),
    ("ENDS", SHANGHAI, "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=9", (7 * DAY,)),
    ("COUNT", BERLIN, "FREQ=DAILY;INTERVAL=10;BYHOUR=23;BYMINUTE=45;COUNT=5", (30,)),
)


def property_town(db: Database, clock: FixedClock, start: datetime) -> dict[str, Schedule]:
    build_town(db, clock, starts_on=start.date())
    clock.set(start)
    made = {}
    for code, zone, rule, reminders in PROPERTY_RULES:
        make_plan(db, clock, code, reminders=reminders)
        made[code] = add_schedule(
            db, clock, OPERATOR, code, start=start.replace(tzinfo=None), zone=zone.key, rrule=rule
        )
    return made


def expected_claims(
    s: Schedule, reminders: tuple[int, ...], after: datetime, until: datetime
) -> set[tuple[str, str, str]]:
    """Every moment of the schedule in (after, until] as (occurrence, what, due), from the
    rule and the reminders alone (not from next_at)."""
    out = set()
    for at in occurrences(s, after, until + timedelta(minutes=max(reminders), days=1)):
        if at <= until:
            out.add((to_iso(at), RUN_WHAT, to_iso(at)))
        for m in reminders:
            due = reminder_at(at, m, s.zone)
            if after < due <= until:
                out.add((to_iso(at), remind_what(m), to_iso(due)))
    return out


def every_quarter_hour(db: Database, clock: FixedClock, until: datetime) -> list[str]:
    """fire_due driven every 15 minutes until ``until``: every moment of PROPERTY_RULES falls
    on a quarter hour, so this claims what driving it every minute would (faster)."""
    while clock.now() < until:
        clock.advance(minutes=15)
        fire(db, clock)
    return []


def property_claims(
    start: datetime, drive: Callable[[Database, FixedClock, datetime], list[str]]
) -> tuple[dict[str, Schedule], list[tuple[object, ...]], StoreDatabase]:
    """The property scenario over three months from ``start``, fire_due driven by ``drive``:
    on the way, the NY rule's first occurrence after the middle is cancelled, and the BER
    plan gains a reminder ten days before (before the next moment its old ones had)."""
    db, clock = connect(), FixedClock(start)
    made = property_town(db, clock, start)
    middle = start + timedelta(days=45)
    (cancelled,) = occurrences(made["NY"], middle, middle + timedelta(days=7))[:1]
    drive(db, clock, middle)
    cancel_schedule(db, clock, OPERATOR, made["NY"].id, occurrence=cancelled)
    edit_plan(db, clock, OPERATOR, "BER", reminders_min=[10 * DAY, 7 * DAY, DAY, 90])
    drive(db, clock, start + timedelta(days=91))
    rows = db.conn.execute(
        "SELECT schedule_id, occurrence, what, due_at, claimed_at, late_s, outcome, run_id"
        " FROM drill_claims ORDER BY schedule_id, due_at, what"
    ).fetchall()
    return made, [tuple(r) for r in rows], db


@pytest.mark.parametrize(
    "start", [datetime(2027, 2, 20, tzinfo=UTC), datetime(2027, 9, 20, tzinfo=UTC)]
)
def test_driven_only_at_next_at_every_moment_is_claimed_at_its_own_time(start: datetime) -> None:
    """fire_due run only when a stored next_at comes (as the engine's jobs do) claims what it
    claims when driven all the time; and that is each moment of each rule and reminder (from
    the rule alone, not from next_at) at its own second, and nothing else: a next_at ever late
    would show as a moment claimed late or missed."""
    made, got, db = property_claims(start, at_next_only)
    _made, periodic, periodic_db = property_claims(start, every_quarter_hour)
    periodic_db.close()
    assert got == periodic
    middle, end = start + timedelta(days=45), start + timedelta(days=91)
    (cancelled,) = occurrences(made["NY"], middle, middle + timedelta(days=7))[:1]
    try:
        for code, _zone, _rule, reminders in PROPERTY_RULES:
            s = made[code]
            want = expected_claims(s, reminders, start, end)
            if code == "BER":
                want = {w for w in want if w[2] <= to_iso(middle)}
                want |= expected_claims(s, (10 * DAY, 7 * DAY, DAY, 90), middle, end)
                assert any(w[1] == remind_what(10 * DAY) for w in want)
            mine = [r[1:] for r in got if r[0] == s.id]
            assert {(o, w, d) for o, w, d, *_rest in mine} == want, code
            assert len(want) > 5
            for occurrence, what, due, claimed_at, late_s, outcome, _run in mine:
                if code == "NY" and occurrence == to_iso(cancelled):
                    assert outcome == "cancelled", (code, occurrence, what)
                else:
                    assert (claimed_at, late_s, outcome) == (due, 0, "fired"), (code, what, due)
        assert get_schedule(db, made["COUNT"].id).state is ScheduleState.ENDED
        assert missed(db) == []
    finally:
        db.close()
