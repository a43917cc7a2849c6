"""Provides the drill calendar as iCalendar: what ``GET /calendar/drills.ics`` and
``dutydesk drill export`` serve, so organizers and participants see drills in the calendar
they already use.

One VEVENT per occurrence, its UID stable across feeds and restarts (:attr:`Occurrence.uid`),
so a calendar that subscribes updates the event instead of adding another. Times are written
in the office's zone with its VTIMEZONE (a 09:00 drill stays at 09:00 across DST). Each of the
plan's reminders is a VALARM; a cancelled occurrence (or schedule) stays in the feed as a
``STATUS:CANCELLED`` event with a higher ``SEQUENCE``, which is how a subscribed calendar learns
to strike it out. The texts are bilingual and fixed: a feed has many readers, in no one locale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drills.models import DrillKind, Occurrence, Plan
from store.errors import InvalidInput
from store.i18n import _

PRODID = "-//dutydesk//drills//EN"
# How long a drill takes in the calendar: a call-tree drill is over within the hour; the
# others keep people longer.
DURATIONS = {
    DrillKind.NOTIFICATION: timedelta(hours=1),
    DrillKind.TABLETOP: timedelta(hours=2),
    DrillKind.FUNCTIONAL: timedelta(hours=2),
    DrillKind.FULL_SCALE: timedelta(hours=4),
}
SEQUENCE_CANCELLED = 1  # above the 0 of the event as first published


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(_("unknown time zone {name!r}").format(name=name), "zone") from exc


def summary(occurrence: Occurrence, plan: Plan | None) -> str:
    """The event's title: "演练 Drill: NAME", marked when cancelled."""
    name = plan.name if plan is not None else occurrence.plan_name
    text = f"演练 Drill: {name}"
    return f"已取消 CANCELLED — {text}" if occurrence.cancelled else text


def description(occurrence: Occurrence, plan: Plan | None) -> str:
    """What the event says of the drill: kind, scenario, who organizes, whether announced."""
    kind = occurrence.kind
    lines = [f"{kind.label_zh} / {kind.value}", f"plan {occurrence.plan_code}"]
    if plan is not None and plan.scenario:
        lines.append(f"情景 scenario: {plan.scenario}")
    if plan is not None and plan.scope:
        lines.append(f"范围 scope: {', '.join(plan.scope)}")
    if plan is not None:
        lines.append(f"组织 organizer: {plan.organizer}")
    if not occurrence.announced:
        lines.append("不预先通知 unannounced: participants are not told in advance")
    if occurrence.cancelled:
        lines.append("已取消 cancelled")
    return "\n".join(lines)


def to_ical(
    occurrences: Sequence[Occurrence],
    plans: Mapping[int, Plan],
    zone: str,
    *,
    stamp: datetime,
    name: str = "dutydesk drills",
) -> bytes:
    """An iCalendar of ``occurrences``, soonest first as given.

    Args:
        plans: the plans by id (their names, reminders and scenarios); an occurrence whose
            plan is missing gets its own name and no alarms.
        zone: IANA zone DTSTART is written in (TZID, with its VTIMEZONE).
        stamp: the DTSTAMP of every event (when the feed was made).
        name: the calendar's name (``X-WR-CALNAME``).

    Raises:
        InvalidInput: ``zone`` is not a known time zone.
    """
    tz = _zone(zone)
    from icalendar import Alarm, Calendar, Event  # only here: ~25 ms of every start otherwise

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", zone)
    stamped = stamp.astimezone(UTC)
    for occurrence in occurrences:
        plan = plans.get(occurrence.plan_id)
        event = Event()
        event.add("uid", occurrence.uid)
        event.add("dtstamp", stamped)
        event.add("dtstart", occurrence.at.astimezone(tz))
        event.add("duration", DURATIONS[occurrence.kind])
        event.add("summary", summary(occurrence, plan))
        event.add("description", description(occurrence, plan))
        event.add("categories", ["drill", "演练"])
        if occurrence.cancelled:
            event.add("status", "CANCELLED")
            event.add("sequence", SEQUENCE_CANCELLED)
        else:
            event.add("status", "CONFIRMED")
            event.add("sequence", 0)
            for minutes in sorted(plan.reminders_min if plan is not None else (), reverse=True):
                alarm = Alarm()
                alarm.add("action", "DISPLAY")
                alarm.add("trigger", timedelta(minutes=-minutes))
                alarm.add("description", f"演练提醒 Drill reminder: {summary(occurrence, plan)}")
                event.add_component(alarm)
        cal.add_component(event)
    if occurrences:
        cal.add_missing_timezones()
    data: bytes = cal.to_ical()
    return data


__all__ = ["DURATIONS", "description", "summary", "to_ical"]
