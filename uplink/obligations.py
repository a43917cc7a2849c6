"""Provides the obligation calculator: which reports a case owes, by when, and what met them.

One pure function, :func:`compute`, turns a case's history (its :class:`CaseMoment` s: how it
stood after each change) and the reports filed on it (:class:`Filed`) into its obligations.
The township calls it from its timeline, the county hub from the case events it received, so
both count late (迟报) and missing (漏报) reports the same way. No database, no clock: the
caller says what ``now`` is, and history after ``now`` is ignored.

The history is walked in time order (at equal times changes before reports), so an obligation
never depends on what happened after it arose. The rules:

* **Initial** (written) and **phone**: a case reportable from its first moment (its rule has
  minutes, or it is marked) owes them from its received time (接报时间; the latest one counts, a
  correction moves the deadline); a case that becomes reportable later (IV raised to II, marked)
  owes them from that moment. A stricter rule while the initial is unmet tightens the deadline:
  the new minutes counted from that change (or the received time, if later), never later than
  before. A written initial report
  meets the initial and the phone obligation; a phone report only the phone one. A written
  initial filed before the case became reportable means no initial is owed. A case that stops
  being reportable before anything was filed drops the obligations not yet overdue (those
  already overdue stay owed: they were missed).
* **Follow-up**: once the case is tracked (reportable, or a report was filed), a change of
  severity, figures or stage while it is open owes a follow-up ``followup_minutes`` after the
  change; further changes before it is met fold into it (its deadline stays the earliest). A
  follow-up or final report meets it, and so does the written initial (which tells of the
  changes before it).
* **Daily**: while the case is open, every written report starts a daily obligation due
  ``daily_hours`` later, met by the next follow-up or final report (late when the gap was
  longer: one late obligation, however many days). Closing cancels the one not yet due;
  reopening a case already reported on starts one from that moment.
* **Final**: closing owes a final report ``final_hours`` later, met by a final report;
  reopening cancels it if unmet (reopening is also a stage change: a follow-up).
* Voiding or merging cancels every unmet obligation.

A report meets only obligations that existed when it was filed (except the initial report
before an escalation, above), and at most one of each kind. One given before the case was
entered (the phone call made at once, the case typed in later) counts from its first moment.
Obligations of each kind are numbered from 1 in the order they arose: with the case, the key
of the stored row. As history grows an obligation keeps its number, reason and start (the
start moves only with a corrected received time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidents.models import Stage
from uplink.reporting import (
    CaseMoment,
    Channel,
    Filed,
    Obligation,
    ObligationKind,
    Reason,
    ReportKind,
)
from uplink.sitrep_rules import SitrepRules

_ENDED = frozenset({Stage.VOIDED.value, Stage.MERGED.value})
_KIND_ORDER = {kind: i for i, kind in enumerate(ObligationKind)}


@dataclass
class _Draft:
    """An obligation while the walk builds it."""

    kind: ObligationKind
    seq: int
    reason: Reason
    since: datetime
    due: datetime
    met_at: datetime | None = None
    met_by: int | None = None
    cancelled: bool = False

    @property
    def unmet(self) -> bool:
        return self.met_at is None and not self.cancelled

    def meet(self, report: Filed) -> None:
        self.met_at = report.at
        self.met_by = report.ref


class _Walk:
    """The state of one case as its history is replayed."""

    def __init__(self, rules: SitrepRules, received_at: datetime) -> None:
        self.rules = rules
        self.received_at = received_at  # the latest received time: a correction moves it
        self.drafts: list[_Draft] = []
        self.counts: dict[ObligationKind, int] = {}  # obligations of each kind so far: seq
        self.tracked = False  # reportable, or reported: follow-ups, daily and final are owed
        self.filed_any = False
        self.written_initial = False
        self.written_any = False  # the daily clock runs from the first written report
        self.ended = False  # voided or merged
        self.closed = False
        self.initial_minutes: int | None = None  # the minutes in force for the unmet initial
        self.phone_minutes: int | None = None

    # --- bookkeeping -------------------------------------------------------------------------

    def unmet(self, kind: ObligationKind) -> _Draft | None:
        for draft in reversed(self.drafts):  # the latest one (a plain loop: called per change)
            if draft.kind is kind and draft.met_at is None and not draft.cancelled:
                return draft
        return None

    def add(self, kind: ObligationKind, reason: Reason, since: datetime, due: datetime) -> _Draft:
        self.counts[kind] = seq = self.counts.get(kind, 0) + 1
        draft = _Draft(kind, seq, reason, since, due)
        self.drafts.append(draft)
        return draft

    def cancel(self, kind: ObligationKind, *, unless_overdue_at: datetime | None = None) -> None:
        for draft in self.drafts:
            late = unless_overdue_at is not None and draft.due < unless_overdue_at
            if draft.kind is kind and draft.unmet and not late:
                draft.cancelled = True

    # --- moments -----------------------------------------------------------------------------

    def moment(self, m: CaseMoment, prev: CaseMoment | None) -> None:
        if m.stage in _ENDED:
            if not self.ended:
                for draft in self.drafts:
                    if draft.unmet:
                        draft.cancelled = True
                self.ended = True
            return
        self.ended = False
        written, phone = self.rules.initial_minutes(m.category, m.type, m.severity, marked=m.marked)
        started_here = False
        if written is not None:
            started_here = not self.tracked
            self.tracked = True
            self.initial_due(m, prev, written, phone)
        elif self.tracked and not self.filed_any:
            self.tracked = False  # no longer reportable, nothing said yet: drop what is not late
            for kind in ObligationKind:
                self.cancel(kind, unless_overdue_at=m.at)
            self.initial_minutes = self.phone_minutes = None
        was_closed = self.closed
        self.closed = m.stage == Stage.CLOSED.value
        if not self.tracked:
            return
        if prev is None or started_here:  # what made it reportable is no follow-up
            if self.closed:
                self.owe_final(m.at)
            return
        if self.closed and not was_closed:
            self.owe_final(m.at)
            self.cancel(ObligationKind.DAILY, unless_overdue_at=m.at)
        elif was_closed and not self.closed:
            self.cancel(ObligationKind.FINAL)
            self.owe_followup(m.at, Reason.STAGE)
            if self.written_any and self.unmet(ObligationKind.DAILY) is None:
                self.add(ObligationKind.DAILY, Reason.DAILY, m.at, m.at + self.daily)
        elif not self.closed:
            reason: Reason | None = None
            if m.severity != prev.severity:
                reason = Reason.SEVERITY
            elif m.figures_changed:
                reason = Reason.FIGURES
            elif m.stage != prev.stage:
                reason = Reason.STAGE
            if reason is not None:
                self.owe_followup(m.at, reason)

    def initial_due(
        self, m: CaseMoment, prev: CaseMoment | None, written: int, phone: int | None
    ) -> None:
        """Owe (or tighten) the initial and phone reports of a reportable case."""
        if self.written_initial:
            return
        initial = self.unmet(ObligationKind.INITIAL)
        if initial is None:
            reason = Reason.RECEIVED if prev is None else Reason.ESCALATED
            since = self.received_at if prev is None else m.at
            self.add(ObligationKind.INITIAL, reason, since, since + timedelta(minutes=written))
            self.initial_minutes = written
            if phone is not None:
                existing = self.unmet(ObligationKind.PHONE)
                if existing is None:
                    self.add(ObligationKind.PHONE, reason, since, since + timedelta(minutes=phone))
                else:
                    existing.due = min(
                        existing.due, max(m.at, existing.since) + timedelta(minutes=phone)
                    )
                self.phone_minutes = phone
            return
        if self.initial_minutes is None or written < self.initial_minutes:
            initial.due = min(initial.due, max(m.at, initial.since) + timedelta(minutes=written))
            self.initial_minutes = written
        if phone is None or (self.phone_minutes is not None and phone >= self.phone_minutes):
            return
        existing = self.unmet(ObligationKind.PHONE)
        if existing is not None:
            existing.due = min(existing.due, max(m.at, existing.since) + timedelta(minutes=phone))
        elif not any(d.kind is ObligationKind.PHONE and d.met_at for d in self.drafts):
            self.add(ObligationKind.PHONE, Reason.ESCALATED, m.at, m.at + timedelta(minutes=phone))
        self.phone_minutes = phone

    def owe_followup(self, at: datetime, reason: Reason) -> None:
        if self.unmet(ObligationKind.FOLLOWUP) is None:
            minutes = timedelta(minutes=self.rules.followup_minutes)
            self.add(ObligationKind.FOLLOWUP, reason, at, at + minutes)

    def owe_final(self, at: datetime) -> None:
        if self.unmet(ObligationKind.FINAL) is None:
            hours = timedelta(hours=self.rules.final_hours)
            self.add(ObligationKind.FINAL, Reason.CLOSED, at, at + hours)

    @property
    def daily(self) -> timedelta:
        return timedelta(hours=self.rules.daily_hours)

    # --- reports -----------------------------------------------------------------------------

    def report(self, f: Filed) -> None:
        if self.ended:
            return
        if not self.tracked:
            self.tracked = True  # a report of an unreportable case: it is followed up
            if self.closed:
                self.owe_final(f.at)
        self.filed_any = True
        if f.channel is Channel.PHONE:
            self.meet(ObligationKind.PHONE, f)
            return
        if f.kind is ReportKind.INITIAL and not self.written_initial:
            self.written_initial = True
            self.meet(ObligationKind.INITIAL, f)
            self.meet(ObligationKind.PHONE, f)
            self.meet(ObligationKind.FOLLOWUP, f)
        else:
            if f.kind is ReportKind.FINAL:
                self.meet(ObligationKind.FINAL, f)
            self.meet(ObligationKind.FOLLOWUP, f)
            self.meet(ObligationKind.DAILY, f)
        self.written_any = True
        if not self.closed and self.unmet(ObligationKind.DAILY) is None:
            self.add(ObligationKind.DAILY, Reason.DAILY, f.at, f.at + self.daily)

    def meet(self, kind: ObligationKind, f: Filed) -> None:
        draft = self.unmet(kind)
        if draft is not None:
            draft.meet(f)


def compute(
    moments: Sequence[CaseMoment],
    filed: Sequence[Filed],
    rules: SitrepRules,
    *,
    case_id: int,
    case_number: str,
    now: datetime,
) -> list[Obligation]:
    """The obligations of one case as its history stands at ``now`` (rules: module docstring).

    Args:
        moments: the case after each change, from its creation (any order; sorted here).
        filed: the reports sent (written) or given (phone), with the time they went.
        rules: the ``[sitrep]`` configuration.
        case_id, case_number: copied into each obligation.
        now: moments and reports after it are ignored.

    Returns:
        Every obligation, met, late, owed or cancelled, ordered by when it arose (then kind
        and number); ``id`` is None (not stored).
    """
    known = sorted((m for m in moments if m.at <= now), key=lambda m: m.at)
    if not known:
        return []
    walk = _Walk(rules, known[-1].received_at)
    reports = sorted((f for f in filed if f.at <= now), key=lambda f: f.at)
    walk.moment(known[0], None)  # the case exists first: an earlier report counts after it
    prev = known[0]
    i, j = 1, 0
    while i < len(known) or j < len(reports):
        if j >= len(reports) or (i < len(known) and known[i].at <= reports[j].at):
            walk.moment(known[i], prev)
            prev = known[i]
            i += 1
        else:
            walk.report(reports[j])
            j += 1
    out = [
        Obligation(
            case_id=case_id,
            case_number=case_number,
            kind=d.kind,
            seq=d.seq,
            reason=d.reason,
            since=d.since,
            due=d.due,
            met_at=d.met_at,
            met_by=d.met_by,
            cancelled=d.cancelled,
        )
        for d in walk.drafts
    ]
    out.sort(key=lambda o: (o.since, _KIND_ORDER[o.kind], o.seq))
    return out
