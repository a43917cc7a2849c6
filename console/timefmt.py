"""Provides how times are read from and shown to people: local zone in, local zone out.

Stored times are UTC; people type and read local wall time of the office (``timezone`` in the
configuration). Relative inputs (``+4h``, ``+2d``, ``+90m``) are accepted wherever a time is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from store.clock import from_iso
from store.errors import InvalidInput
from store.i18n import _

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)\s*([mhd])$")


# The times a person may name: a case, a shift or a unit outside these is a typing mistake,
# and beyond them dates overflow (year 1 in a zone east of UTC, year 9999 plus a few hours).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def out_of_range(text: str, field: str) -> InvalidInput:
    return InvalidInput(
        _("{text!r} is out of range: give a time between {earliest} and {latest}").format(
            text=text, earliest=EARLIEST.year, latest=LATEST.year - 1
        ),
        field,
    )


def parse_when(text: str, now: datetime, zone: ZoneInfo, field: str) -> datetime:
    """Parse ``2026-11-27 18:00``, ``2026-11-27T18:00+08:00``, ``2026-11-27`` or ``+4h``.

    Raises:
        InvalidInput: naming ``field``: not a time, or outside 1970-2199 (what would overflow).
    """
    value = text.strip()
    match = _RELATIVE.match(value)
    try:
        if match:
            amount = float(match.group(1))
            unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
            parsed = now + timedelta(**{unit: amount})
        else:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise InvalidInput(
                    _(
                        "{text!r} is not a time; use YYYY-MM-DD HH:MM (local), ISO-8601 or +4h"
                        " / +2d"
                    ).format(text=text),
                    field,
                ) from exc
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=zone)
        utc = parsed.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # +999999999d, year 1 east of UTC, year 9999
        raise out_of_range(text, field) from exc
    if not EARLIEST <= utc < LATEST:
        raise out_of_range(text, field)
    return parsed


def local(at: datetime | None, zone: ZoneInfo) -> str:
    """``2026-11-26 10:00`` in the office's zone; empty for no time."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else ""


def short(at: datetime | None, zone: ZoneInfo) -> str:
    """``11-26 10:00``: the compact form for tables."""
    return at.astimezone(zone).strftime("%m-%d %H:%M") if at else ""


def clock(at: datetime | str | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """``09:46`` (``09:46:05`` with ``seconds``): the time of day in the office's zone.

    ``at`` may be the stored text of a time (ISO-8601, UTC); empty for no time.
    """
    if not at:
        return ""
    when = from_iso(at) if isinstance(at, str) else at
    return when.astimezone(zone).strftime("%H:%M:%S" if seconds else "%H:%M")


def when(at: datetime, now: datetime, zone: ZoneInfo) -> str:
    """``14:05`` today, ``05-19 14:05`` another day (both in the office's zone)."""
    local_at = at.astimezone(zone)
    same_day = local_at.date() == now.astimezone(zone).date()
    return local_at.strftime("%H:%M" if same_day else "%m-%d %H:%M")


def seconds_text(value: float | None) -> str:
    """How long somebody took to answer: ``45 s``, ``2.5 min``; ``-`` when unknown."""
    if value is None:
        return "-"
    if value >= 90:
        return _("{minutes:.1f} min").format(minutes=value / 60)
    return _("{seconds:.0f} s").format(seconds=value)


def span(delta: timedelta) -> str:
    """A compact duration: ``3d4h``, ``2h15m``, ``45m`` (in Chinese ``3天4小时``...)."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return _("{days}d{hours}h").format(days=days, hours=hours)
    if hours:
        return _("{hours}h{minutes:02d}m").format(hours=hours, minutes=mins)
    return _("{minutes}m").format(minutes=mins)


def time_left(deadline: datetime | None, now: datetime) -> tuple[str, bool]:
    """Text for the time left until ``deadline`` and whether the case is overdue."""
    if deadline is None:
        return "", False
    if now > deadline:
        return f"-{span(now - deadline)}", True
    return span(deadline - now), False
