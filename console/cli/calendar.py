"""Provides ``dutydesk calendar show [YYYY-MM]``: the working calendar of a month, as counted.

Working-hour time limits count the days this shows: the office's week, the official holidays
and make-up workdays (法定节假日与调休) built in from the ``chinesecalendar`` package, and the
configuration's own days over them (marked ``!``). A month of a year the package does not
cover yet says so, and says what is counted instead. Reads the configuration only.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click
from rich.cells import cell_len

from console.cli.common import State, emit_json, pass_state
from console.config import load_config
from incidents.calendar import (
    CalendarDay,
    DayKind,
    DaySource,
    WorkingCalendar,
    official_calendar,
)
from store.clock import SystemClock
from store.errors import InvalidInput
from store.i18n import N_, _
from store.paths import default_config_path

WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
# The mark after a day's number in the grid (the weekend's columns need none).
MARKS = {DayKind.HOLIDAY: "*", DayKind.MAKEUP: "+"}
LOCAL_MARK = "!"
NUMBER = 4  # the width of a day's number in the grid: a weekday's name fits above it


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` (1970-2199).

    Raises:
        InvalidInput: naming ``MONTH``.
    """
    try:
        year_text, month_text = text.strip().split("-")
        year, month = int(year_text), int(month_text)
        date(year, month, 1)
    except ValueError as exc:
        raise InvalidInput(
            _("{text!r} is not a month; use YYYY-MM, e.g. 2026-10").format(text=text), "MONTH"
        ) from exc
    if not 1970 <= year < 2200:
        raise InvalidInput(
            _("{text!r}: the calendar reaches from 1970 to 2199").format(text=text), "MONTH"
        )
    return year, month


def coverage_note(calendar: WorkingCalendar, year: int) -> str | None:
    """What is counted in a year the official calendar does not know, or ``None``."""
    if calendar.uncovered_years(date(year, 1, 1), date(year, 1, 1)):
        official = official_calendar()
        return _(
            "{year} is not in the official holiday calendar ({source} covers {first}-{last}):"
            " its working hours count the office's week and the [calendar] days only; upgrade"
            " chinesecalendar, or list {year}'s holidays and make-up workdays in [calendar]"
            " and add {year} to declared_years"
        ).format(
            year=year,
            source=official.source,
            first=official.first_year,
            last=official.last_year,
        )
    return None


def source_text(calendar: WorkingCalendar, year: int) -> str:
    if not calendar.official:
        return _("official holidays off ([calendar] official = false)")
    official = official_calendar()
    if official.covers(year):
        return _("official holidays: {source}").format(source=official.source)
    if year in calendar.declared_years:
        return _("official holidays: [calendar] (declared_years)")
    return _("official holidays: not known")


def grid_lines(days: list[CalendarDay]) -> list[str]:
    """The month as weeks of seven cells, Monday first: the day's number under the right edge
    of its weekday's name, then its marks."""

    def header(name: str) -> str:
        return " " * (NUMBER - cell_len(name)) + name + "  "

    lines = [" ".join(header(_(name)) for name in WEEKDAYS).rstrip()]
    week = [" " * (NUMBER + 2)] * days[0].day.weekday()
    for day in days:
        mark = MARKS.get(day.kind, "") + (LOCAL_MARK if day.source is DaySource.LOCAL else "")
        week.append(f"{day.day.day:>{NUMBER}}{mark:<2}")
        if len(week) == 7:
            lines.append(" ".join(week).rstrip())
            week = []
    if week:
        lines.append(" ".join(week).rstrip())
    return lines


def notable(day: CalendarDay) -> bool:
    """Listed under the grid: holidays, make-up workdays, the configuration's days."""
    return day.kind in MARKS or day.source is DaySource.LOCAL


def day_line(day: CalendarDay) -> str:
    weekday = _(WEEKDAYS[day.day.weekday()])
    text = f"{day.day:%m-%d} {weekday}" + " " * (NUMBER - cell_len(weekday)) + f" {day.kind.label}"
    if day.name:
        text += f"  {day.name}"
    if day.source is DaySource.LOCAL:
        text += "  " + (_("(local override)") if day.overridden else _("(local, as configured)"))
    return text


def month_json(calendar: WorkingCalendar, year: int, month: int) -> dict[str, Any]:
    official = official_calendar() if calendar.official else None
    return {
        "month": f"{year:04d}-{month:02d}",
        "official": {
            "enabled": calendar.official,
            "source": official.source if official else None,
            "first_year": official.first_year if official else None,
            "last_year": official.last_year if official else None,
            "covered": not calendar.uncovered_years(date(year, 1, 1), date(year, 1, 1)),
        },
        "days": [day.to_json() for day in calendar.month(year, month)],
    }


@click.group("calendar")
def calendar_group() -> None:
    """The working calendar: official holidays and make-up workdays, and local days."""


@calendar_group.command("show")
@click.argument("month", required=False, metavar="[YYYY-MM]")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def calendar_show(state: State, month: str | None, as_json: bool) -> None:
    """Show a month's days (default: this month): workdays, weekends, holidays with their
    names, make-up workdays, and the configuration's own days (marked !)."""
    config = load_config(state.config or default_config_path(), must_exist=state.config_required)
    calendar = config.policy.calendar
    if month is None:
        today = SystemClock().now().astimezone(calendar.zone).date()
        year, number = today.year, today.month
    else:
        year, number = parse_month(month)
    if as_json:
        emit_json(month_json(calendar, year, number))
        return
    days = calendar.month(year, number)
    click.echo(f"{year:04d}-{number:02d}  ·  {source_text(calendar, year)}")
    click.echo()
    for line in grid_lines(days):
        click.echo(line)
    click.echo()
    click.echo(
        _("* holiday   + make-up workday   ! set in [calendar]   worked: {count} days").format(
            count=sum(day.kind.worked for day in days)
        )
    )
    listed = [day for day in days if notable(day)]
    if listed:
        click.echo()
        for day in listed:
            click.echo(day_line(day))
    note = coverage_note(calendar, year)
    if note:
        click.echo()
        click.echo(_("warning: {note}").format(note=note))
