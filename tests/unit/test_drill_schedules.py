"""Drill schedules: occurrences across DST and month ends, the claims that fire each moment once,
and the catch-up policy after downtime, driven by hand with a fixed clock (the engine's part)."""

from __future__ import annotations

import json
import threading
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
    play(town, clock, datetime(2026, 11, 29, tzinfo=UTC))  # no job wakes for the 28th
    assert get_schedule(town, s.id).state is ScheduleState.ACTIVE
    (late_claim,) = fire(town, clock)  # the engine's full pass finds the new reminder's moment
    assert (late_claim.what, late_claim.outcome) == (remind_what(30), ClaimOutcome.CANCELLED)
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
