"""Provides how the console draws the uplink (the link to the level above) in one line.

The dashboard gives it a line of its own (:func:`uplink_line`); the queue's status line a short
form (``compact``). Both come from the same :class:`~uplink.models.LinkStatus` that ``dutydesk
sync status`` prints, and both say what matters in words and glyphs, not colour alone: the
state (connected, backing off until 10:42, down since 09:58, token refused), the backlog and
the age of its oldest event, and the dead letters that wait for an operator.

:func:`backlog_alarm` says when the oldest unsent event is older than ``[uplink] alarm_minutes``
(the app raises a toast once, when it starts to be true).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.text import Text

from console.timefmt import span, when
from store.i18n import _
from uplink.models import LinkState, LinkStatus

ALERT = "⚠"
SEPARATOR = " · "
# state -> (glyph, style of the glyph and the words)
STATE_LOOKS = {
    LinkState.OFF: ("", "dim"),
    LinkState.IDLE: ("○", "dim"),
    LinkState.CONNECTED: ("●", "green"),
    LinkState.BACKING_OFF: ("◌", "bold yellow"),
    LinkState.UNAUTHORIZED: (ALERT, "bold red"),
}


def clock_time(at: datetime, now: datetime, zone: ZoneInfo) -> str:
    """``10:42`` today, ``05-19 10:42`` another day (in the office's zone)."""
    return when(at, now, zone)


def backlog_alarm(status: LinkStatus | None, now: datetime, alarm: timedelta) -> bool:
    """Whether the oldest unsent event has waited longer than ``alarm``."""
    if status is None or status.state is LinkState.OFF or not status.backlog:
        return False
    age = status.oldest_age_s(now)
    return age is not None and age > alarm.total_seconds()


def shown(status: LinkStatus | None) -> bool:
    """Whether there is anything to show: a configured link, or events left in the outbox."""
    if status is None:
        return False
    return status.state is not LinkState.OFF or bool(status.backlog or status.dead_letters)


def _state_words(status: LinkStatus, now: datetime, zone: ZoneInfo, compact: bool) -> list[str]:
    """The state in words: one phrase, or two when backing off (until, and down since)."""
    state = status.state
    if state is LinkState.BACKING_OFF:
        words: list[str] = []
        if status.next_try_at is not None:
            until = clock_time(status.next_try_at, now, zone)
            words.append(_("backing off until {time}").format(time=until))
        if status.down_since is not None and (not compact or not words):
            since = clock_time(status.down_since, now, zone)
            words.append(_("down since {time}").format(time=since))
        return words or [state.label]
    return [state.label]


def uplink_line(
    status: LinkStatus | None,
    now: datetime,
    zone: ZoneInfo,
    alarm: timedelta,
    *,
    compact: bool = False,
) -> Text:
    """``uplink ● connected · backlog 0``; empty when there is no uplink and nothing to send.

    Args:
        status: the link as last read (``None``: not read yet, drawn as nothing).
        now: the time the ages are measured at.
        zone: the office's zone, for the times shown.
        alarm: a backlog whose oldest event is older than this is marked ``⚠``.
        compact: the status line's short form: no age, one phrase for the state.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    if status is None or not shown(status):
        return text
    glyph, style = STATE_LOOKS[status.state]
    text.append(_("uplink") + " ")
    if glyph:
        text.append(glyph + " ", style=style)
    text.append(SEPARATOR.join(_state_words(status, now, zone, compact)), style=style)
    if status.state is not LinkState.OFF or status.backlog:
        text.append(SEPARATOR)
        text.append(_("backlog {count}").format(count=f"{status.backlog:,}"))
    age = status.oldest_age_s(now) if status.backlog else None
    if age is not None and not compact:
        old = _("oldest {age}").format(age=span(timedelta(seconds=age)))
        text.append(SEPARATOR)
        if backlog_alarm(status, now, alarm):
            text.append(f"{ALERT} {old}", style="bold red")
        else:
            text.append(old)
    if status.dead_letters:
        dead = _("dead letters {count}").format(count=f"{status.dead_letters:,}")
        text.append(SEPARATOR)
        text.append(f"{ALERT} {dead}", style="bold red")
    return text
