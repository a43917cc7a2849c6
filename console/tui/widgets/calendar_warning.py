"""Provides the dashboard's warning that the official holidays of a coming year are unknown.

Working-hour time limits count the official holidays and make-up workdays of the installed
``chinesecalendar``; a year it does not cover yet counts only the office's week and the
configured days (:mod:`incidents.calendar`). When the next weeks (``LOOKAHEAD``) reach such a
year, one line says so, with where to look (``dutydesk doctor``); otherwise the line is hidden.
The check runs in a thread (the package is imported on first use, not in the first frame) and
again every few minutes, so the warning appears as the year's end comes near.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.widgets import Static

from store.i18n import _

if TYPE_CHECKING:
    from console.tui.app import DutydeskApp

ALERT = "⚠"
CHECK_SECONDS = 600.0


def warning_text(years: list[int]) -> Text:
    """``⚠ 2027: official holidays unknown: working-hour limits count ...``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(
        f"{ALERT} "
        + _(
            "{years}: official holidays unknown: working-hour limits count the office's week"
            " and [calendar] only (dutydesk doctor)"
        ).format(years=", ".join(str(year) for year in years)),
        style="bold yellow",
    )
    return text


class CalendarWarning(Static):
    """One line, shown only while a year of the next weeks lacks its official holidays."""

    DEFAULT_CSS = """
    CalendarWarning {
        display: none;
        height: 1;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.years: list[int] | None = None  # None: not checked yet

    def on_mount(self) -> None:
        self.check()
        self.set_interval(CHECK_SECONDS, self.check)

    @work(thread=True, exclusive=True, exit_on_error=False, group="calendar-check")
    def check(self) -> None:
        from incidents.calendar import LOOKAHEAD

        ctx = cast("DutydeskApp", self.app).ctx
        calendar = ctx.config.policy.calendar
        today: date = ctx.clock.now().astimezone(calendar.zone).date()
        years = calendar.uncovered_years(today, today + LOOKAHEAD)
        self.app.call_from_thread(self._show, years)

    def _show(self, years: list[int]) -> None:
        self.years = years
        if years:
            self.update(warning_text(years))
        self.display = bool(years)
