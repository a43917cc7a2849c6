"""Provides the daily duty log (值班日志): one printable page a day, signed on paper.

It gathers, for one local day in the office's zone: who held the duty posts (the roster's
shifts), every handover with its note, the cases received (per source), the mobilizations
started and finished, the warnings and directives received and how they were answered, and the
cases still open at the end of the day, handed on to the next day. It ends with lines for the
duty officer (值班员) and the shift lead (值班长) to sign, named from the roster.

Everything is read through the owning packages; personal data (people keys that are phone
numbers) is masked unless ``masked=False``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contacts.roster import DUTY_OFFICER_POST, SHIFT_LEAD_POST, Shift, shifts
from incidents.evaluation import open_at, period_cases
from incidents.models import Severity, Source, Stage
from incidents.supervision import list_handovers
from mobilization.progress import list_mobilizations, totals
from reports.document import Callout, Document, Figures, Heading, Items, Para, Signatures, Table
from store.clock import from_iso
from store.db import Database
from store.i18n import _, language, ngettext
from uplink.alerts import list_alerts
from uplink.directives import list_directives

OPEN_LIMIT = 12  # open cases listed by name; the rest counted
SCAN_LIMIT = 1000  # handovers, warnings, directives, mobilizations read back (newest first)


def _day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    lo = datetime.combine(day, time(0), zone).astimezone(UTC)
    hi = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return lo, hi


def _hm(at: datetime | None, zone: ZoneInfo, day: date) -> str:
    if at is None:
        return "-"
    local = at.astimezone(zone)
    return local.strftime("%H:%M") if local.date() == day else local.strftime("%m-%d %H:%M")


def _source_label(code: str) -> str:
    try:
        return Source(code).label
    except ValueError:
        return code


def _stage_label(code: str) -> str:
    try:
        return Stage(code).label
    except ValueError:
        return code


def _who(shift: Shift, masked: bool) -> str:
    key = shift.person.shown_key if masked else shift.person.key
    return f"{shift.person.name} ({key})" if key and key != shift.person.name else shift.person.name


def build_duty_log(
    db: Database, day: date, *, zone: ZoneInfo, now: datetime, masked: bool = True
) -> Document:
    """The duty log of local ``day`` in ``zone`` (a day not over yet is shown up to ``now``)."""
    lo, hi = _day_bounds(day, zone)
    end = min(hi, max(lo, now))
    roster = shifts(db, lo, hi)
    officers = [s for s in roster if s.post.code == DUTY_OFFICER_POST]
    leads = [s for s in roster if s.post.code == SHIFT_LEAD_POST]
    handovers = sorted(
        (h for h in list_handovers(db, limit=SCAN_LIMIT) if lo <= h.at < hi), key=lambda h: h.at
    )
    cases = list(period_cases(db, lo, hi))
    per_source: dict[str, int] = {}
    for case in cases:
        per_source[case.source] = per_source.get(case.source, 0) + 1
    mobs = [
        m
        for m in list_mobilizations(db, limit=SCAN_LIMIT)
        if lo <= m.created_at < hi or (m.finished_at is not None and lo <= m.finished_at < hi)
    ]
    mobs.sort(key=lambda m: m.created_at)
    alerts = sorted(
        (a for a in list_alerts(db, limit=SCAN_LIMIT) if lo <= a.received_at < hi),
        key=lambda a: a.received_at,
    )
    directives = sorted(
        (
            d
            for d in list_directives(db, limit=SCAN_LIMIT)
            if lo <= d.received_at < hi or (d.replied_at is not None and lo <= d.replied_at < hi)
        ),
        key=lambda d: d.received_at,
    )
    open_total, open_rows = open_at(db, end, limit=OPEN_LIMIT)

    blocks: list[Any] = [
        Figures(
            (
                (_("cases received"), str(len(cases)), ""),
                (_("handovers"), str(len(handovers)), ""),
                (_("mobilizations"), str(len(mobs)), ""),
                (_("warnings"), str(len(alerts)), ""),
                (_("directives"), str(len(directives)), ""),
                (_("open, handed on"), str(open_total), ""),
            )
        ),
        Heading(1, _("On duty")),
    ]
    if roster:
        blocks.append(
            Table(
                (_("post"), _("person"), _("from"), _("to")),
                tuple(
                    (
                        s.post.name,
                        _who(s, masked),
                        _hm(s.starts_at, zone, day),
                        _hm(s.ends_at, zone, day),
                    )
                    for s in roster
                ),
                widths=(2, 3, 1.2, 1.2),
            )
        )
    else:
        blocks.append(Para(_("No duty posts are rostered for this day.")))

    blocks.append(Heading(1, _("Handovers")))
    if handovers:
        blocks.append(
            Table(
                (_("time"), _("from"), _("to"), _("open / overdue / supervised"), _("note")),
                tuple(
                    (
                        _hm(h.at, zone, day),
                        h.from_operator,
                        h.to_operator,
                        f"{h.counts.open} / {h.counts.overdue} / {h.counts.supervised}",
                        h.note or "-",
                    )
                    for h in handovers
                ),
                widths=(1, 1.5, 1.5, 2, 4),
            )
        )
    else:
        blocks.append(Para(_("No handover this day.")))

    blocks.append(Heading(1, _("Calls and cases received")))
    if per_source:
        blocks.append(
            Items(
                tuple(
                    (_source_label(s), str(n))
                    for s, n in sorted(per_source.items(), key=lambda kv: (-kv[1], kv[0]))
                )
            )
        )
        serious = [c for c in cases if c.severity <= Severity.II]
        if serious:
            blocks.append(
                Callout(
                    ngettext(
                        "{count} case of severity II or higher received.",
                        "{count} cases of severity II or higher received.",
                        len(serious),
                    ).format(count=len(serious))
                )
            )
    else:
        blocks.append(Para(_("No case received this day.")))

    blocks.append(Heading(1, _("Mobilizations")))
    if mobs:
        rows = []
        for m in mobs:
            counts = totals(db, m.id)
            rows.append(
                (
                    _hm(m.created_at, zone, day),
                    m.incident_number or "-",
                    m.state.label,
                    f"{counts.yes}/{counts.total}",
                    _hm(m.finished_at, zone, day),
                )
            )
        blocks.append(
            Table(
                (_("started"), _("case"), _("state"), _("yes / called"), _("finished")),
                tuple(rows),
                align="lllrl",
            )
        )
    else:
        blocks.append(Para(_("No mobilization this day.")))

    blocks.append(Heading(1, _("Warnings and directives")))
    if alerts:
        blocks.append(
            Table(
                (_("received"), _("warning"), _("call answered")),
                tuple(
                    (
                        _hm(a.received_at, zone, day),
                        a.title,
                        _hm(a.call_at, zone, day) if a.call_state else "-",
                    )
                    for a in alerts
                ),
                widths=(1, 4, 1.5),
            )
        )
    if directives:
        marked = frozenset(
            i for i, d in enumerate(directives) if d.late or d.state(end).value == "overdue"
        )
        blocks.append(
            Table(
                (_("received"), _("directive"), _("reply by"), _("replied")),
                tuple(
                    (
                        _hm(d.received_at, zone, day),
                        d.title,
                        _hm(d.reply_by, zone, day),
                        _hm(d.replied_at, zone, day),
                    )
                    for d in directives
                ),
                widths=(1, 4, 1.3, 1.3),
                marked=marked,
            )
        )
    if not alerts and not directives:
        blocks.append(Para(_("No warning or directive received this day.")))

    blocks.append(Heading(1, _("Open items handed on")))
    if open_rows:
        blocks.append(
            Table(
                (_("case"), _("title"), _("severity"), _("stage"), _("deadline")),
                tuple(
                    (
                        r.number,
                        r.title,
                        Severity(r.severity).label,
                        _stage_label(r.stage),
                        _hm(from_iso(r.deadline), zone, day) if r.deadline else "-",
                    )
                    for r in open_rows
                ),
                widths=(1.5, 4, 1, 1, 1.8),
                marked=frozenset(
                    i for i, r in enumerate(open_rows) if r.deadline and from_iso(r.deadline) < end
                ),
            )
        )
        if open_total > len(open_rows):
            blocks.append(
                Para(_("and {count} more open cases").format(count=open_total - len(open_rows)))
            )
    else:
        blocks.append(Para(_("No case open at the end of the day.")))

    def _names(found: list[Shift]) -> str:
        return ", ".join(dict.fromkeys(s.person.name for s in found))

    blocks.append(
        Signatures(((_("duty officer"), _names(officers)), (_("shift lead"), _names(leads))))
    )
    return Document(
        kind="duty_log",
        title=_("Duty log {day}").format(day=day.isoformat()),
        blocks=tuple(blocks),
        generated_at=now,
        lang=language(),
        facts=(
            (_("day"), day.isoformat()),
            (_("time zone"), str(zone)),
            (_("personal data"), _("masked") if masked else _("unmasked")),
        ),
        masked=masked,
    )
