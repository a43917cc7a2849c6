"""Provides how the console draws incident values in its tables: levels, time left, people's text.

Times, durations and classification labels come from the CLI's own helpers
(:mod:`console.timefmt`, :mod:`console.cli.render`), so the console and ``dutydesk list`` show a
case the same way; what is here is what a Textual screen needs on top.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.text import Text
from textual.color import Color
from textual.widgets import Static

from console.timefmt import span
from incidents.models import Incident, Severity
from store.i18n import _


def show(widget: Static, content: Text | str) -> None:
    """Put ``content`` in ``widget`` unless it already shows exactly that.

    An update lays the whole screen out again (``Static.update`` refreshes the layout); the
    dashboard reads everything again after each write and every 30 s, and repainted eight
    lines each time to show, mostly, the same words.
    """
    shown = widget.content
    if isinstance(content, Text) and isinstance(shown, Text):
        same = (content.plain, content.spans, content.style, content.no_wrap, content.end) == (
            shown.plain,
            shown.spans,
            shown.style,
            shown.no_wrap,
            shown.end,
        )
    else:
        same = type(content) is type(shown) and content == shown
    if not same:
        widget.update(content)


# Dark text on the light warning colors, light text on the dark ones.
_BADGE_TEXT = {
    Severity.I: "white",
    Severity.II: "black",
    Severity.III: "black",
    Severity.IV: "white",
}


def severity_badge(severity: Severity) -> Text:
    """The level (I-IV) on its warning color (red, orange, yellow, blue).

    The colors are given as true colors: Textual re-maps the sixteen ANSI colors to its theme,
    which would turn level IV's blue into violet.
    """
    background = Color.parse(severity.color).hex
    return Text(f" {severity.roman:<3}", style=f"bold {_BADGE_TEXT[severity]} on {background}")


def time_left(incident: Incident, now: datetime) -> Text:
    """What is left of the current stage's time limit, or how long the case is overdue (red)."""
    if incident.parked:
        return Text(_("parked"), style="dim")
    if incident.deadline is None:
        return Text("")
    if incident.overdue_at(now):
        overdue = _("overdue {time}").format(time=span(now - incident.deadline))
        return Text(overdue, style="bold red")
    left = incident.deadline - now
    return Text(span(left), style="yellow" if left < timedelta(hours=1) else "")


def plain(text: str | None) -> Text:
    """Text typed by a person, shown as it is: brackets in it are not console markup."""
    return Text(text or "", no_wrap=True)


def fit(text: str, width: int) -> Text:
    """``text`` on one line, cut to ``width`` cells (a Chinese character takes two), with "…"."""
    rendered = Text(text.replace("\n", " "), no_wrap=True)
    rendered.truncate(width, overflow="ellipsis")
    return rendered
