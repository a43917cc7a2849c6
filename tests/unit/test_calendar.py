"""The working calendar's days: the official holidays and make-up workdays built in from the
``chinesecalendar`` package, the configuration's days over them, the years the package does not
cover yet, and the working-hour time limits that count them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from console.config import load_config
from incidents.calendar import (
    LOOKAHEAD,
    DayKind,
    DaySource,
    WorkingCalendar,
    add_hours,
    official_calendar,
)
from incidents.limits import Policy
from incidents.models import Stage
from store.errors import ConfigError
from store.i18n import set_language

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()


def sh(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_national_day_is_an_official_holiday_with_its_name() -> None:
    day = CAL.day(date(2026, 10, 1))  # a Thursday
    assert (day.kind, day.source, day.holiday) == (
        DayKind.HOLIDAY,
        DaySource.OFFICIAL,
        "national_day",
    )
    assert not CAL.is_workday(date(2026, 10, 1))
    assert day.to_json()["kind"] == "holiday" and day.to_json()["worked"] is False
    set_language("zh_CN")
    try:
        assert day.name == "国庆节"  # the package's Chinese name
    finally:
        set_language("en")
    assert day.name == "National Day"


def test_the_make_up_workdays_of_2026_are_worked() -> None:
    """The package's 2026 notice: Sunday 09-20 and Saturday 10-10 make up for National Day."""
    made_up = {d: c for d, c in official_calendar().workdays.items() if d.year == 2026}
    assert made_up[date(2026, 10, 10)] == "national_day"
    assert made_up[date(2026, 9, 20)] == "national_day"
    for day in (date(2026, 10, 10), date(2026, 9, 20)):
        assert CAL.day(day).kind is DayKind.MAKEUP and CAL.is_workday(day)
    assert CAL.day(date(2026, 10, 11)).kind is DayKind.WEEKEND  # the Sunday after
    assert CAL.day(date(2026, 10, 8)).kind is DayKind.WORKDAY


def test_the_month_of_national_day() -> None:
    days = CAL.month(2026, 10)
    assert len(days) == 31 and days[0].day == date(2026, 10, 1)
    kinds = [d.kind for d in days]
    assert kinds[:7] == [DayKind.HOLIDAY] * 7
    assert sum(d.kind.worked for d in days) == 18  # 22 weekdays - 5 off + 1 make-up
    assert len(CAL.month(2026, 12)) == 31 and len(CAL.month(2026, 2)) == 28


def test_local_days_override_the_official_calendar() -> None:
    cal = WorkingCalendar(
        holidays=frozenset({date(2026, 10, 12)}),  # a local day off on a Monday
        extra_workdays=frozenset({date(2026, 10, 7), date(2026, 10, 11)}),
    )
    local_off = cal.day(date(2026, 10, 12))
    assert (local_off.kind, local_off.source, local_off.overridden) == (
        DayKind.HOLIDAY,
        DaySource.LOCAL,
        True,
    )
    worked_holiday = cal.day(date(2026, 10, 7))  # officially off: the office works
    assert worked_holiday.kind is DayKind.WORKDAY and worked_holiday.overridden
    assert worked_holiday.holiday == "national_day"
    sunday = cal.day(date(2026, 10, 11))
    assert sunday.kind is DayKind.MAKEUP and sunday.source is DaySource.LOCAL
    assert cal.is_workday(date(2026, 10, 7)) and not cal.is_workday(date(2026, 10, 12))


def test_the_official_calendar_can_be_turned_off() -> None:
    cal = WorkingCalendar(official=False)
    assert cal.day(date(2026, 10, 1)).kind is DayKind.WORKDAY
    assert cal.day(date(2026, 10, 10)).kind is DayKind.WEEKEND
    assert cal.day(date(2026, 10, 1)).official is False  # nothing official consulted
    assert cal.uncovered_years(date(2027, 1, 1), date(2030, 1, 1)) == []


def test_a_year_the_package_does_not_cover_is_named_and_counts_the_week() -> None:
    official = official_calendar()
    assert official.last_year == 2026 and official.source.startswith("chinesecalendar ")
    today = date(2026, 12, 7)
    assert CAL.uncovered_years(today, today + LOOKAHEAD) == [2027]
    assert CAL.uncovered_years(date(2026, 5, 20), date(2026, 5, 20) + LOOKAHEAD) == []
    new_year = CAL.day(date(2027, 1, 1))  # a Friday: the week's rule, flagged as not official
    assert new_year.kind is DayKind.WORKDAY and new_year.official is False
    assert new_year.source is DaySource.WEEK


def test_a_declared_year_is_taken_from_the_configuration() -> None:
    cal = WorkingCalendar(holidays=frozenset({date(2027, 1, 1)}), declared_years=frozenset({2027}))
    assert cal.uncovered_years(date(2026, 12, 7), date(2027, 2, 5)) == []
    assert cal.day(date(2027, 1, 1)).kind is DayKind.HOLIDAY
    assert cal.day(date(2027, 1, 4)).official is True
    with pytest.raises(ValueError, match="declared year 2028"):
        WorkingCalendar(declared_years=frozenset({2028}))


# ---- the time limits count it -------------------------------------------------------------


def test_working_hours_skip_the_national_day_week() -> None:
    """Logged Wednesday 09-30 at 17:00 with 2 working hours: half an hour that day, then the
    holiday week (10-01..10-07) is skipped and the rest falls on Thursday 10-08."""
    assert add_hours(sh(9, 30, 17), 2, "working", CAL) == sh(10, 8, 10)
    # Friday 10-09 at 17:00 plus 1 h: the make-up Saturday 10-10 is worked.
    assert add_hours(sh(10, 9, 17), 1, "working", CAL) == sh(10, 10, 9)
    assert CAL.working_between(sh(9, 30, 17), sh(10, 8, 10)) == timedelta(hours=2)


def test_the_policy_deadline_uses_the_official_calendar() -> None:
    policy = Policy()
    start = sh(9, 30, 17)
    deadline = policy.deadline(Stage.REPORTED, start, "environment", "garbage", "normal")
    assert deadline == add_hours(start, 2, "working", CAL) == sh(10, 8, 10)


def test_an_uncovered_year_counts_weekdays_and_the_configured_days() -> None:
    """2027: no official holidays known; 12-31 (Thu) 17:00 + 1 h lands on Friday 01-01 (the
    week's rule), or on Monday 01-04 once the office lists 01-01 as a holiday."""
    assert add_hours(sh(12, 31, 17), 1, "working", CAL) == sh(1, 1, 9, year=2027)
    listed = WorkingCalendar(holidays=frozenset({date(2027, 1, 1)}))
    assert add_hours(sh(12, 31, 17), 1, "working", listed) == sh(1, 4, 9, year=2027)


# ---- the configuration -------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_configuration_reads_official_and_declared_years(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "[calendar]\nofficial = true\nholidays = [2027-01-01]\ndeclared_years = [2027]\n",
        )
    )
    cal = config.policy.calendar
    assert cal.official and cal.declared_years == {2027}
    assert config.effective()["calendar"]["declared_years"] == [2027]
    off = load_config(write(tmp_path, "[calendar]\nofficial = false\n")).policy.calendar
    assert off.official is False and off.is_workday(date(2026, 10, 1))


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ('[calendar]\nofficial = "yes"\n', "calendar.official", "true or false"),
        ('[calendar]\ndeclared_years = ["2027"]\n', "calendar.declared_years", "[2027]"),
        ("[calendar]\ndeclared_years = [2027]\n", "calendar.declared_years", "declared year"),
    ],
)
def test_bad_calendar_settings_are_refused(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert where in message and words in message
