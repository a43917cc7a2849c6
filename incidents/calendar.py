"""Provides the working calendar and the time-limit arithmetic in natural or working hours.

A working calendar says which local days are work days and which local hours of those days are
worked (e.g. 08:30-12:00 and 13:30-17:30). The days come from three layers, the upper winning:
the office's week (``workdays``, Monday to Friday), the official holidays and make-up workdays
(法定节假日与调休) of the State Council's yearly notice, read from the maintained
``chinesecalendar`` package rather than typed by hand, and the configuration's own
``holidays``/``extra_workdays`` (local additions and overrides).

The package covers the years it has been told about (its releases follow each notice). For a
year it does not cover yet the calendar does not guess: it counts the office's week plus the
configured dates, and :meth:`WorkingCalendar.uncovered_years` names the year, so that the doctor
and the dashboard warn before the deadlines of that year are relied on. A year whose notice the
office has typed into the configuration is named in ``declared_years`` and is not warned about.

Adding working hours walks the worked intervals in the office's time zone; in a zone with
daylight saving the real length of an interval is what counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from store.i18n import CHINESE, N_, _, language

MAX_DAYS_SCANNED = 3 * 366
LOOKAHEAD = timedelta(days=60)
"""How far ahead the doctor and the dashboard look for a year the official calendar lacks: long
enough to upgrade the package (or type in the notice) before the first deadline of that year."""


class DayKind(StrEnum):
    """What a day is to the office."""

    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    MAKEUP = "makeup_workday"  # a weekend day worked (调休上班)

    @property
    def label(self) -> str:
        return _(DAY_KIND_LABELS[self])

    @property
    def worked(self) -> bool:
        return self in (DayKind.WORKDAY, DayKind.MAKEUP)


DAY_KIND_LABELS = {
    DayKind.WORKDAY: N_("workday"),
    DayKind.WEEKEND: N_("weekend"),
    DayKind.HOLIDAY: N_("holiday"),
    DayKind.MAKEUP: N_("make-up workday"),
}


class DaySource(StrEnum):
    """Which layer of the calendar decided a day."""

    WEEK = "week"  # the office's week ([calendar] workdays)
    OFFICIAL = "official"  # the State Council's notice, from the chinesecalendar package
    LOCAL = "local"  # [calendar] holidays / extra_workdays


@dataclass(frozen=True)
class OfficialCalendar:
    """The official holidays and make-up workdays known to the installed package.

    Attributes:
        holidays: day -> the holiday's code (``national_day``) for every official day off.
        workdays: day -> the code of the holiday it makes up for, for every make-up workday.
        first_year, last_year: the years the package covers.
        source: the package and its version, e.g. ``chinesecalendar 1.11.0``.
    """

    holidays: dict[date, str]
    workdays: dict[date, str]
    first_year: int
    last_year: int
    source: str

    def covers(self, year: int) -> bool:
        return self.first_year <= year <= self.last_year


@cache
def official_calendar() -> OfficialCalendar:
    """The official calendar of the installed ``chinesecalendar`` (read once; imported only
    when first needed, so that opening the console does not pay for it)."""
    import chinese_calendar

    def codes(days: dict[date, str]) -> dict[date, str]:
        return {day: chinese_calendar.Holiday(value).name for day, value in days.items()}

    holidays = codes(chinese_calendar.holidays)
    workdays = codes(chinese_calendar.workdays)
    years = [day.year for day in holidays]
    return OfficialCalendar(
        holidays=holidays,
        workdays=workdays,
        first_year=min(years),
        last_year=max(years),
        source=f"chinesecalendar {chinese_calendar.__version__}",
    )


def undeclared(year: int) -> str:
    """Why a declared year is refused: none of its holidays is listed."""
    return _(
        "declared year {year}: list its official holidays in holidays (and its make-up"
        " workdays in extra_workdays)"
    ).format(year=year)


def holiday_name(code: str) -> str:
    """The official holiday's name in the process's language (the package carries both)."""
    import chinese_calendar

    try:
        holiday = chinese_calendar.Holiday[code]
    except KeyError:
        return code
    return str(holiday.chinese) if language() == CHINESE else str(holiday.value)


@dataclass(frozen=True)
class CalendarDay:
    """One local day as the working calendar sees it.

    Attributes:
        day: the date.
        kind: workday, weekend, holiday or make-up workday.
        source: the layer that decided it (the office's week, the official calendar, local).
        holiday: the official holiday's code (``national_day``) of a holiday or make-up day.
        overridden: the configuration changed what the official calendar (or the week) says.
        official: the official calendar is consulted and knows the day's year (the package
            covers it, or the configuration declares it).
    """

    day: date
    kind: DayKind
    source: DaySource
    holiday: str | None = None
    overridden: bool = False
    official: bool = True

    @property
    def name(self) -> str | None:
        """The holiday's name in people's words, or ``None``."""
        return holiday_name(self.holiday) if self.holiday else None

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "weekday": self.day.isoweekday(),
            "kind": self.kind.value,
            "worked": self.kind.worked,
            "source": self.source.value,
            "holiday": self.holiday,
            "overridden": self.overridden,
            "official": self.official,
        }


@dataclass(frozen=True)
class WorkingCalendar:
    """Work days and hours of one office, in its time zone."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    hours: tuple[tuple[time, time], ...] = (
        (time(8, 30), time(12, 0)),
        (time(13, 30), time(17, 30)),
    )
    holidays: frozenset[date] = frozenset()  # local days off, over the official calendar
    extra_workdays: frozenset[date] = frozenset()  # local workdays, over the official calendar
    official: bool = True  # consult the official holidays and make-up workdays
    # Years the package does not cover whose official days are listed above in full.
    declared_years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for start, end in self.hours:
            if not start < end:
                raise ValueError(
                    _("work hours {start:%H:%M}-{end:%H:%M}: start must be before end").format(
                        start=start, end=end
                    )
                )
        ordered = sorted(self.hours)
        for (_start, end), (start, _end) in zip(ordered, ordered[1:], strict=False):
            if start < end:
                raise ValueError(_("work hours overlap"))
        if not self.hours or not (self.workdays or self.extra_workdays):
            raise ValueError(_("the working calendar has no working time at all"))
        for year in sorted(self.declared_years):
            if not any(day.year == year for day in self.holidays):
                raise ValueError(undeclared(year))

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is worked (the same answer as :meth:`day`, without building it)."""
        if day in self.extra_workdays:
            return True
        if day in self.holidays:
            return False
        if self.official:
            official = official_calendar()
            if day in official.holidays:
                return False
            if day in official.workdays:
                return True
        return day.weekday() in self.workdays

    def day(self, day: date) -> CalendarDay:
        """What ``day`` is: the configuration over the official calendar over the week."""
        weekly = DayKind.WORKDAY if day.weekday() in self.workdays else DayKind.WEEKEND
        kind, source, code = weekly, DaySource.WEEK, None
        covered = False
        if self.official:
            official = official_calendar()
            covered = official.covers(day.year) or day.year in self.declared_years
            if day in official.holidays:
                kind, source, code = DayKind.HOLIDAY, DaySource.OFFICIAL, official.holidays[day]
            elif day in official.workdays:
                kind, source, code = DayKind.MAKEUP, DaySource.OFFICIAL, official.workdays[day]
        decided = kind
        if day in self.extra_workdays:
            kind = DayKind.WORKDAY if weekly is DayKind.WORKDAY else DayKind.MAKEUP
        elif day in self.holidays:
            kind = DayKind.HOLIDAY
        else:
            return CalendarDay(day, kind, source, code, official=covered)
        return CalendarDay(
            day, kind, DaySource.LOCAL, code, overridden=kind is not decided, official=covered
        )

    def month(self, year: int, month: int) -> list[CalendarDay]:
        """Every day of a month."""
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return [self.day(first + timedelta(days=n)) for n in range((following - first).days)]

    def uncovered_years(self, start: date, end: date) -> list[int]:
        """The years from ``start`` to ``end`` (inclusive) whose official holidays the calendar
        does not know: neither the package covers them nor the configuration declares them.

        Working hours in such a year count the office's week and the configured dates only.
        """
        if not self.official:
            return []
        official = official_calendar()
        return [
            year
            for year in range(start.year, end.year + 1)
            if not official.covers(year) and year not in self.declared_years
        ]

    def is_working(self, at: datetime) -> bool:
        """Whether the moment ``at`` (aware) falls in worked hours: a plan for working or for
        after hours is checked against this."""
        day = at.astimezone(self.zone).date()
        return any(begin <= at < end for begin, end in self.intervals(day))

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The worked intervals of a local day, as aware UTC datetimes."""
        if not self.is_workday(day):
            return []
        return [
            (
                datetime.combine(day, start, tzinfo=self.zone).astimezone(UTC),
                datetime.combine(day, end, tzinfo=self.zone).astimezone(UTC),
            )
            for start, end in sorted(self.hours)
        ]

    def add_working(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` has been worked.

        A case logged at night or on a holiday starts counting at the next work interval.
        """
        # Arithmetic on an aware local datetime is wall-clock arithmetic; UTC is real time.
        start = start.astimezone(UTC)
        remaining = duration
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        for _day in range(MAX_DAYS_SCANNED):
            for begin, end in self.intervals(day):
                if end <= start:
                    continue
                begin = max(begin, start)
                available = end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += timedelta(days=1)
        raise ValueError(_("no working time found in three years; check the working calendar"))

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed between two moments (zero if ``end`` is not after ``start``)."""
        total = timedelta()
        if end <= start:
            return total
        start, end = start.astimezone(UTC), end.astimezone(UTC)  # real time, not wall clock
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last:
            for begin, stop in self.intervals(day):
                lo, hi = max(begin, start), min(stop, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total


def add_hours(start: datetime, hours: float, unit: str, calendar: WorkingCalendar) -> datetime:
    """Deadline ``hours`` after ``start``, counted in ``natural`` or ``working`` hours."""
    duration = timedelta(hours=hours)
    if unit == "natural":
        # Real elapsed time: adding to a local datetime would add wall-clock time across DST.
        return start.astimezone(UTC) + duration
    if unit == "working":
        return calendar.add_working(start, duration)
    raise ValueError(
        _("unknown time-limit unit {unit!r}; use natural or working").format(unit=unit)
    )
