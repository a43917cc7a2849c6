"""Provides the working calendar and the time-limit arithmetic in natural or working hours.

A working calendar says which local days are work days (weekdays, minus holidays, plus the
make-up work days 调休 that fall on weekends) and which local hours of those days are worked
(e.g. 08:30-12:00 and 13:30-17:30). Adding working hours walks those intervals in the office's
time zone; in a zone with daylight saving the real length of an interval is what counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from store.i18n import _

MAX_DAYS_SCANNED = 3 * 366


@dataclass(frozen=True)
class WorkingCalendar:
    """Work days and hours of one office, in its time zone."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    hours: tuple[tuple[time, time], ...] = (
        (time(8, 30), time(12, 0)),
        (time(13, 30), time(17, 30)),
    )
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

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

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.weekday() in self.workdays and day not in self.holidays

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
