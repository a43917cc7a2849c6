"""Provides how information reports and their deadlines read to people, in the console and CLI.

An obligation reads as the report owed and its time: ``初报 due in 12 min``, ``续报二 overdue
5 min``, ``终报 due 12-08 10:00`` (times in the office's zone, the date left out for today).
The reports keep their Chinese names (初报, 续报二, 终报: what the documents and the county call
them) in every language; the words around them are translated. The vocabulary itself is
:mod:`uplink.reporting`'s; this module only puts it into sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from console.timefmt import short, span, when
from store.i18n import _
from uplink.reporting import (
    Channel,
    Obligation,
    ObligationKind,
    ObligationState,
    ReportKind,
    Sitrep,
    report_name,
)

SOON_MINUTES = 60
"""A deadline closer than this reads as minutes left (``due in 12 min``), else as a time."""


def minutes_words(minutes: float) -> str:
    """``12 min`` under an hour, ``2h15m`` (``2小时15分``) beyond."""
    whole = max(0, int(minutes))
    if whole < 60:
        return _("{minutes} min").format(minutes=whole)
    return span(timedelta(minutes=whole))


def next_followup(sitreps: Sequence[Sitrep]) -> int:
    """The number of the follow-up that will meet what a case owes: the one being drafted
    (续报一 while it is a draft), else the next to draft (the highest sent + 1)."""
    written = [s for s in sitreps if s.kind is ReportKind.FOLLOWUP and s.channel is Channel.WRITTEN]
    drafts = [s.seq for s in written if not s.state.final]
    return min(drafts) if drafts else max((s.seq for s in written), default=0) + 1


def obligation_name(obligation: Obligation, followup_seq: int | None = None) -> str:
    """The report an obligation asks for: 初报, 电话报告, 终报, 每日续报; a follow-up on a change
    as the one the case drafts next (续报二, with ``followup_seq``), else 续报. The daily one
    keeps its own name: beside the change's 续报二 it would read as the same report twice."""
    kind = obligation.kind
    if kind is ObligationKind.FOLLOWUP and followup_seq is not None:
        return report_name(ReportKind.FOLLOWUP, followup_seq)
    return kind.label_zh


def obligation_words(
    obligation: Obligation,
    now: datetime,
    zone: ZoneInfo,
    *,
    name: str | None = None,
    number: bool = False,
) -> str:
    """``初报 due in 12 min``, ``续报二 overdue 5 min``, ``终报 due 12-08 10:00``; met ones as
    ``初报 sent late 8 min`` or ``初报 sent on time``.

    Args:
        name: the report's name (:func:`obligation_name`); by default the obligation kind's.
        number: put the case's number after the name (the dashboard, the brief).
    """
    report = name or obligation_name(obligation)
    if number:
        report = f"{report} {obligation.case_number}"
    state = obligation.state_at(now)
    if state is ObligationState.OVERDUE:
        late = (now - obligation.due).total_seconds() / 60
        return _("{report} overdue {time}").format(report=report, time=minutes_words(late))
    if state is ObligationState.PENDING:
        left = (obligation.due - now).total_seconds() / 60
        if left < SOON_MINUTES:
            return _("{report} due in {time}").format(
                report=report, time=minutes_words(max(left, 0) + 0.999)
            )
        return _("{report} due {time}").format(report=report, time=when(obligation.due, now, zone))
    if state is ObligationState.LATE:
        delay = obligation.delay_at(now) or 0.0
        return _("{report} sent late {time}").format(report=report, time=minutes_words(delay))
    if state is ObligationState.MET:
        return _("{report} sent on time").format(report=report)
    return _("{report} no longer due").format(report=report)


def report_time(sitrep: Sitrep) -> datetime:
    """The time that says where a report stands: received, sent, signed or last edited."""
    return sitrep.received_at or sitrep.sent_at or sitrep.signed_at or sitrep.updated_at


def report_line(sitrep: Sitrep, zone: ZoneInfo) -> tuple[str, str, str, str]:
    """A report as a row: name, state (草稿/已签发/已报送/已签收), signer, time."""
    state = sitrep.state.label_zh
    if sitrep.phoned_to:
        state = _("by phone to {name}").format(name=sitrep.phoned_to)
    return sitrep.name, state, sitrep.signed_by or "", short(report_time(sitrep), zone)
