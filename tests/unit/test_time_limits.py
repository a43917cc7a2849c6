"""Stage time limits: natural and working hours, rule resolution, and the overdue sweep."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

from incidents import workflow as wf
from incidents.calendar import WorkingCalendar, add_hours
from incidents.limits import BUILTIN_RULES, LimitRule, Policy, Resolved
from incidents.models import Stage, Urgency
from incidents.records import get_incident, timeline
from incidents.supervision import counts, sweep_overdue
from store.clock import FixedClock, to_iso
from tests.conftest import OPERATOR, MakeCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
CAL = WorkingCalendar()  # Mon-Fri 08:30-12:00, 13:30-17:30 in Asia/Shanghai


def sh(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A local time in Shanghai in November 2026 (26th is a Thursday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def working(start: datetime, hours: float, cal: WorkingCalendar = CAL) -> datetime:
    return add_hours(start, hours, "working", cal)


# ---- working hours in Asia/Shanghai ----------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (sh(26, 10), 2, sh(26, 12)),  # exactly to the lunch break
        (sh(26, 10), 3, sh(26, 14, 30)),  # over lunch
        (sh(26, 12, 30), 1, sh(26, 14, 30)),  # logged during lunch
        (sh(26, 22), 1, sh(27, 9, 30)),  # logged at night
        (sh(26, 6), 1, sh(26, 9, 30)),  # logged before the office opens
        (sh(26, 17, 30), 0.5, sh(27, 9)),  # logged at closing time
        (sh(27, 17), 2, sh(30, 10)),  # Friday afternoon, over the weekend
        (sh(28, 11), 1, sh(30, 9, 30)),  # logged on a Saturday
        (sh(26, 10), 7.5, sh(27, 10)),  # one full working day
        (sh(26, 10), 40, datetime(2026, 12, 3, 14, 0, tzinfo=SHANGHAI)),  # a week and a bit
        (sh(26, 10), 0, sh(26, 10)),
        (sh(26, 23), 0, sh(27, 8, 30)),  # nothing to count, but counting starts at work
    ],
)
def test_working_hours(start: datetime, hours: float, expected: datetime) -> None:
    result = working(start, hours)
    assert result == expected
    assert result.tzinfo is not None


def test_holidays_are_skipped() -> None:
    cal = WorkingCalendar(holidays=frozenset({date(2026, 11, 27)}))
    assert cal.is_workday(date(2026, 11, 26))
    assert not cal.is_workday(date(2026, 11, 27))
    # Thursday 17:00 + 1 h: half an hour on Thursday, Friday is a holiday, then Monday.
    assert working(sh(26, 17), 1, cal) == sh(30, 9)


def test_make_up_workdays_are_worked() -> None:
    """调休: a Saturday declared a work day counts like any other work day."""
    cal = WorkingCalendar(extra_workdays=frozenset({date(2026, 11, 28)}))
    assert cal.is_workday(date(2026, 11, 28))
    assert not cal.is_workday(date(2026, 11, 29))
    assert working(sh(27, 17), 1, cal) == sh(28, 9)
    assert working(sh(28, 7), 1, cal) == sh(28, 9, 30)


def test_a_long_holiday_week_with_make_up_days() -> None:
    """A National-Day-like week: Thu-Wed off, a Sunday before and a Saturday after worked."""
    holidays = frozenset(date(2026, 10, d) for d in range(1, 8))
    extra = frozenset({date(2026, 9, 27), date(2026, 10, 10)})
    cal = WorkingCalendar(holidays=holidays, extra_workdays=extra)
    before = datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)
    assert working(before, 1, cal) == datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI)
    # 2 days and a bit: Thu 8th, Fri 9th and the make-up Saturday 10th.
    assert working(before, 0.5 + 7.5 * 2 + 1, cal) == datetime(2026, 10, 10, 9, 30, tzinfo=SHANGHAI)


@pytest.mark.parametrize("hours", [0.25, 1, 3.5, 4, 7.5, 12, 40, 100])
@pytest.mark.parametrize("start", [sh(26, 10), sh(26, 12, 15), sh(27, 19), sh(29, 3)])
def test_working_between_inverts_add_working(start: datetime, hours: float) -> None:
    end = working(start, hours)
    assert CAL.working_between(start, end) == timedelta(hours=hours)
    assert CAL.working_between(end, start) == timedelta()


def test_natural_hours_ignore_the_calendar() -> None:
    start = sh(27, 22)
    assert add_hours(start, 5, "natural", CAL) == sh(28, 3)


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time-limit unit"):
        add_hours(sh(26, 10), 1, "lunar", CAL)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hours": ((time(12), time(8)),)},
        {"hours": ((time(8), time(12)), (time(11), time(14)))},
        {"hours": ()},
        {"workdays": frozenset()},
    ],
)
def test_impossible_calendars_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(**kwargs)


# ---- daylight saving time --------------------------------------------------------------


def test_working_hours_over_the_us_spring_change() -> None:
    cal = WorkingCalendar(zone=NEW_YORK, hours=((time(9), time(17)),))
    friday = datetime(2026, 3, 6, 16, 30, tzinfo=NEW_YORK)  # EST, UTC-5
    result = working(friday, 1, cal)
    local = result.astimezone(NEW_YORK)
    assert (local.date(), local.time()) == (date(2026, 3, 9), time(9, 30))
    assert local.utcoffset() == timedelta(hours=-4)  # EDT after the weekend
    assert cal.working_between(friday, result) == timedelta(hours=1)


def test_one_working_hour_across_the_spring_gap_is_one_real_hour() -> None:
    """Night-shift hours 01:00-05:00 in Berlin contain the 02:00 -> 03:00 jump of 2026-03-29."""
    cal = WorkingCalendar(zone=BERLIN, workdays=frozenset(range(7)), hours=((time(1), time(5)),))
    start = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)  # CET
    result = working(start, 1, cal)
    assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=1)
    assert result.astimezone(BERLIN).time() == time(3, 30)  # CEST
    # That night has only three real hours of work; the fourth hour falls on the next night.
    night = datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN)
    assert cal.working_between(night, datetime(2026, 3, 29, 6, tzinfo=BERLIN)) == timedelta(hours=3)
    after = working(night, 4, cal).astimezone(BERLIN)
    assert (after.date(), after.time()) == (date(2026, 3, 30), time(2, 0))


def test_one_working_hour_across_the_autumn_repeat_is_one_real_hour() -> None:
    """On 2026-10-25 Berlin lives 02:00-03:00 twice; the night of work has five real hours."""
    cal = WorkingCalendar(zone=BERLIN, workdays=frozenset(range(7)), hours=((time(1), time(5)),))
    start = datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)  # CEST
    result = working(start, 1, cal)
    assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=1)
    local = result.astimezone(BERLIN)
    assert (local.time(), local.utcoffset()) == (time(2, 30), timedelta(hours=2))
    night = datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN)
    assert cal.working_between(night, datetime(2026, 10, 25, 6, tzinfo=BERLIN)) == timedelta(
        hours=5
    )
    end = working(night, 4, cal).astimezone(BERLIN)
    assert (end.date(), end.time(), end.utcoffset()) == (
        date(2026, 10, 25),
        time(4, 0),
        timedelta(hours=1),
    )


@pytest.mark.parametrize(
    ("start", "wall_hour"),
    [
        (datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), 13),  # spring forward: wall clock +25 h
        (datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), 11),  # fall back: wall clock +23 h
    ],
)
def test_natural_hours_are_real_elapsed_time(start: datetime, wall_hour: int) -> None:
    result = add_hours(start, 24, "natural", WorkingCalendar(zone=NEW_YORK))
    assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    assert result.astimezone(NEW_YORK).hour == wall_hour


def test_working_time_between_local_times_is_real_time() -> None:
    cal = WorkingCalendar(zone=BERLIN, workdays=frozenset(range(7)), hours=((time(1), time(5)),))
    start = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)  # CET
    end = datetime(2026, 3, 29, 4, 30, tzinfo=BERLIN)  # CEST: two real hours later
    assert cal.working_between(start, end) == timedelta(hours=2)
    autumn = datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)  # CEST
    # 01:30 CEST to 04:30 CET: the hour 02:00-03:00 is lived twice, four real hours.
    assert cal.working_between(autumn, autumn.replace(hour=4)) == timedelta(hours=4)


def test_working_hours_from_a_local_start_are_real_hours() -> None:
    cal = WorkingCalendar(zone=BERLIN, workdays=frozenset(range(7)), hours=((time(0), time(23)),))
    start = datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN)
    result = working(start, 3, cal)
    assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=3)


# ---- rule resolution -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "category", "type_", "urgency", "expected"),
    [
        # the base rule: routine cases in working hours
        (Stage.REGISTERED, "environment", "garbage", "normal", Resolved(4, "working")),
        (Stage.HANDLING, "facilities", "manhole", "normal", Resolved(40, "working")),
        # urgency rules: around the clock
        (Stage.REGISTERED, "environment", "garbage", "urgent", Resolved(1, "natural")),
        (Stage.HANDLING, "environment", "noise", "very_urgent", Resolved(4, "natural")),
        # emergency categories: around the clock even at normal urgency; an urgent emergency
        # case gets the urgency's tighter limits, never looser ones than a routine urgent case
        (Stage.HANDLING, "accident_disaster", "fire", "normal", Resolved(24, "natural")),
        (Stage.REGISTERED, "natural_disaster", "flood", "very_urgent", Resolved(0.5, "natural")),
        (Stage.HANDLING, "accident_disaster", "fire", "very_urgent", Resolved(4, "natural")),
        (Stage.HANDLING, "accident_disaster", "fire", "urgent", Resolved(12, "natural")),
    ],
)
def test_builtin_limits(
    stage: Stage, category: str, type_: str, urgency: str, expected: Resolved
) -> None:
    assert Policy().limit(stage, category, type_, urgency) == expected


def test_type_beats_category_beats_urgency() -> None:
    rules = (
        LimitRule(hours={"handling": 10}, urgency="urgent", unit="natural"),
        LimitRule(hours={"handling": 20}, category="accident_disaster", unit="natural"),
        LimitRule(hours={"handling": 30}, category="accident_disaster", type="fire"),
    )
    # Listed in reverse order of specificity, to show that order is not what decides.
    policy = Policy(rules=(*BUILTIN_RULES, *reversed(rules)))
    for urgency in Urgency:
        assert policy.limit(Stage.HANDLING, "accident_disaster", "fire", urgency).hours == 30
        assert policy.limit(Stage.HANDLING, "accident_disaster", "traffic", urgency).hours == 20
    assert policy.limit(Stage.HANDLING, "environment", "noise", "urgent").hours == 10
    assert policy.limit(Stage.HANDLING, "environment", "noise", "normal").hours == 40


def test_configured_rules_come_after_builtins_of_equal_specificity() -> None:
    configured = LimitRule(hours={"registered": 2}, urgency="urgent")
    policy = Policy(rules=(*BUILTIN_RULES, configured))
    assert policy.limit(Stage.REGISTERED, "environment", "garbage", "urgent") == Resolved(
        2, "natural"
    )
    # Key by key: the urgent built-in still gives the other stages.
    assert policy.limit(Stage.HANDLING, "environment", "garbage", "urgent").hours == 12


def test_a_rule_may_change_only_the_unit() -> None:
    policy = Policy(rules=(*BUILTIN_RULES, LimitRule(hours={}, category="dispute", unit="natural")))
    assert policy.limit(Stage.HANDLING, "dispute", "labour", "normal") == Resolved(40, "natural")
    assert policy.limit(Stage.HANDLING, "environment", "noise", "normal") == Resolved(40, "working")


def test_a_type_rule_does_not_leak_into_another_category() -> None:
    policy = Policy(
        rules=(*BUILTIN_RULES, LimitRule(hours={"handling": 3}, category="dispute", type="other"))
    )
    assert policy.limit(Stage.HANDLING, "dispute", "other", "normal").hours == 3
    assert policy.limit(Stage.HANDLING, "environment", "other", "normal").hours == 40


def test_no_matching_rule_falls_back_to_a_day() -> None:
    assert Policy(rules=()).limit(Stage.HANDLING, "dispute", "other", "normal") == Resolved(
        24.0, "natural"
    )


@pytest.mark.parametrize("stage", [Stage.CLOSED, Stage.VOIDED, Stage.MERGED])
def test_finished_stages_have_no_deadline(stage: Stage) -> None:
    assert Policy().deadline(stage, sh(26, 10), "environment", "garbage", "normal") is None


def test_policy_deadline_uses_the_calendar() -> None:
    start = sh(26, 17)
    assert Policy().deadline(Stage.REPORTED, start, "environment", "garbage", "normal") == working(
        start, 2
    )
    assert Policy().deadline(
        Stage.REPORTED, start, "accident_disaster", "fire", "normal"
    ) == start + timedelta(minutes=30)


# ---- the overdue sweep ---------------------------------------------------------------


def sweep(db: Database, clock: FixedClock, policy: Policy, **kwargs: int) -> tuple[int, int]:
    """Run the sweep and return (cases newly supervised, reminders written)."""
    result = sweep_overdue(db, clock, policy, **kwargs)
    return result.supervised, result.reminded


def kinds(db: Database, case_id: int, kind: str) -> list[dict]:
    return [e.data for e in timeline(db, case_id) if e.kind == kind]


@pytest.fixture
def routine(make_case: MakeCase):
    """A routine environment case logged Thursday 10:00, due 12:00 (2 working hours)."""
    case = make_case(category="environment", type="garbage")
    assert case.deadline == sh(26, 12)
    return case


def test_nothing_happens_before_the_deadline(
    db: Database, clock: FixedClock, policy: Policy, routine
) -> None:
    clock.set(routine.deadline)
    assert sweep(db, clock, policy) == (0, 0)
    assert not get_incident(db, routine.id).supervised
    assert kinds(db, routine.id, "supervise") == []


def test_supervised_once_per_deadline(
    db: Database, clock: FixedClock, policy: Policy, routine
) -> None:
    clock.set(routine.deadline + timedelta(minutes=1))
    assert sweep(db, clock, policy) == (1, 0)
    after = get_incident(db, routine.id)
    assert after.supervised
    assert after.overdue_at(clock.now())
    for _ in range(3):
        clock.advance(minutes=10)
        assert sweep(db, clock, policy) == (0, 0)
    assert kinds(db, routine.id, "supervise") == [
        {"stage": "reported", "deadline": to_iso(routine.deadline)}
    ]
    assert counts(db, clock.now()).supervised == 1


def test_reminders_every_interval(db: Database, clock: FixedClock, policy: Policy, routine) -> None:
    clock.set(routine.deadline + timedelta(minutes=1))
    sweep(db, clock, policy)
    clock.set(routine.deadline + policy.remind_every - timedelta(minutes=1))
    assert sweep(db, clock, policy)[1] == 0
    clock.set(routine.deadline + policy.remind_every + timedelta(minutes=1))
    assert sweep(db, clock, policy)[1] == 1
    assert sweep(db, clock, policy)[1] == 0
    clock.set(routine.deadline + 2 * policy.remind_every + timedelta(minutes=1))
    assert sweep(db, clock, policy)[1] == 1
    assert [r["n"] for r in kinds(db, routine.id, "remind")] == [1, 2]
    assert get_incident(db, routine.id).reminders == 2


def test_no_burst_of_reminders_after_downtime(
    db: Database, clock: FixedClock, policy: Policy, routine
) -> None:
    clock.set(routine.deadline + timedelta(minutes=1))
    sweep(db, clock, policy)
    clock.set(routine.deadline + 10 * policy.remind_every + timedelta(minutes=1))
    assert sweep(db, clock, policy)[1] == 1
    assert [r["n"] for r in kinds(db, routine.id, "remind")] == [10]


def test_first_sweep_after_long_downtime_only_supervises(
    db: Database, clock: FixedClock, policy: Policy, routine
) -> None:
    clock.set(routine.deadline + timedelta(days=3))
    assert sweep(db, clock, policy) == (1, 0)
    assert sweep(db, clock, policy) == (0, 1)
    assert len(timeline(db, routine.id)) == 3


def test_a_new_deadline_is_supervised_again(
    db: Database, clock: FixedClock, policy: Policy, routine
) -> None:
    clock.set(routine.deadline + timedelta(minutes=1))
    sweep(db, clock, policy)
    registered = wf.register(db, clock, policy, OPERATOR, routine.id)
    assert registered.supervised  # 督办 stays with the case until it is finished
    assert not registered.overdue_at(clock.now())
    assert sweep(db, clock, policy) == (0, 0)
    clock.set(registered.deadline + timedelta(seconds=1))
    assert sweep(db, clock, policy) == (1, 0)
    assert [s["stage"] for s in kinds(db, routine.id, "supervise")] == ["reported", "registered"]


def test_supervision_cleared_on_close(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    case = make_case(Stage.VERIFIED)
    clock.set(case.deadline + timedelta(hours=1))
    sweep(db, clock, policy)
    assert get_incident(db, case.id).supervised
    closed = wf.close(db, clock, policy, OPERATOR, case.id)
    assert not closed.supervised
    assert closed.deadline is None
    assert counts(db, clock.now()).supervised == 0
    clock.advance(days=5)
    assert sweep(db, clock, policy) == (0, 0)


def test_finished_and_parked_cases_are_never_swept(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    closed = make_case(Stage.CLOSED)
    parked = make_case(Stage.HANDLING)
    wf.park(db, clock, policy, OPERATOR, parked.id, "整改")
    voided = make_case()
    wf.void(db, clock, policy, OPERATOR, voided.id, "误报")
    clock.advance(days=60)
    assert sweep(db, clock, policy) == (0, 0)
    for case in (closed, parked, voided):
        assert kinds(db, case.id, "supervise") == []


def test_sweep_covers_every_overdue_case(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    cases = [make_case(title=f"案件{i}") for i in range(7)]
    clock.advance(days=1)
    assert sweep(db, clock, policy, batch=2)[0] == len(cases)
    c = counts(db, clock.now())
    assert (c.open, c.overdue, c.supervised, c.parked) == (7, 7, 7, 0)


def test_a_backlog_larger_than_a_batch_is_swept_whole(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    """Every overdue case is supervised and reminded, however many there are (no starvation)."""
    cases = [make_case() for _ in range(23)]
    clock.set(max(c.deadline for c in cases) + timedelta(minutes=1))
    assert sweep(db, clock, policy, batch=5) == (23, 0)
    clock.advance(policy.remind_every * 2)
    assert sweep(db, clock, policy, batch=5) == (0, 23)
    assert sweep(db, clock, policy, batch=5) == (0, 0)
    assert all(len(kinds(db, c.id, "remind")) == 1 for c in cases)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM incidents WHERE active = 1",
        "SELECT count(*) FROM incidents WHERE supervised = 1",
        "SELECT count(*) FROM incidents WHERE parked = 1",
        "SELECT id FROM incidents WHERE active = 1 AND overdue_since IS NULL AND deadline < 'x'",
        "SELECT id FROM incidents WHERE remind_at IS NOT NULL AND remind_at <= 'x'",
    ],
)
def test_sweep_and_count_queries_read_an_index(db: Database, sql: str) -> None:
    plan = " ".join(str(row[-1]) for row in db.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "USING" in plan and "INDEX" in plan, plan


def test_a_once_sweep_does_one_batch_and_says_more_is_left(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    cases = [make_case() for _ in range(12)]
    clock.set(max(c.deadline for c in cases) + timedelta(minutes=1))
    first = sweep_overdue(db, clock, policy, batch=5, once=True)
    assert (first.supervised, first.more) == (5, True)
    total = first.supervised
    while True:
        step = sweep_overdue(db, clock, policy, batch=5, once=True)
        total += step.supervised
        if not step.more:
            break
    assert total == 12
    assert sweep_overdue(db, clock, policy, batch=5, once=True).more is False


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sh(26, 8, 29), False),  # a Thursday, a minute before work
        (sh(26, 8, 30), True),
        (sh(26, 12, 0), False),  # lunch: the morning's end is not worked
        (sh(26, 13, 30), True),
        (sh(26, 17, 30), False),
        (sh(28, 10, 0), False),  # a Saturday
    ],
)
def test_is_working_tells_a_moment_in_worked_hours(at: datetime, expected: bool) -> None:
    assert CAL.is_working(at) is expected
    assert WorkingCalendar(holidays=frozenset({date(2026, 11, 26)})).is_working(at) is False
