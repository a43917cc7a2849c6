"""The obligation calculator on crafted histories: deadlines, met/late/missing, cancellations.

Times are written in the office's zone (Asia/Shanghai) and handed in as UTC, as the store does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from uplink.obligations import compute
from uplink.reporting import (
    CaseMoment,
    Channel,
    Filed,
    Obligation,
    ObligationKind,
    ObligationState,
    Reason,
    ReportKind,
)
from uplink.sitrep_rules import ReportRule, SitrepRules

ZONE = ZoneInfo("Asia/Shanghai")
RULES = SitrepRules()
CATEGORY, TYPE = "accident_disaster", "fire"

INITIAL, PHONE, FOLLOWUP, DAILY, FINAL = (
    ObligationKind.INITIAL,
    ObligationKind.PHONE,
    ObligationKind.FOLLOWUP,
    ObligationKind.DAILY,
    ObligationKind.FINAL,
)


def t(text: str) -> datetime:
    """A local time in Shanghai ("2026-12-07 09:00") as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(UTC)


def day(clock: str) -> datetime:
    return t(f"2026-12-07 {clock}")


UNSET = datetime(1970, 1, 1, tzinfo=UTC)  # received: when the case's first moment was


def moment(
    at: datetime,
    *,
    severity: int = 2,
    stage: str = "reported",
    received: datetime | None = None,
    marked: bool = False,
    figures: bool = False,
) -> CaseMoment:
    return CaseMoment(
        at=at,
        category=CATEGORY,
        type=TYPE,
        severity=severity,
        stage=stage,
        received_at=received if received is not None else UNSET,
        marked=marked,
        figures_changed=figures,
    )


def report(
    ref: int, at: datetime, kind: ReportKind = ReportKind.FOLLOWUP, *, phone: bool = False
) -> Filed:
    return Filed(ref=ref, kind=kind, channel=Channel.PHONE if phone else Channel.WRITTEN, at=at)


def run(
    moments: Sequence[CaseMoment],
    filed: Sequence[Filed] = (),
    *,
    now: datetime,
    rules: SitrepRules = RULES,
) -> list[Obligation]:
    if moments:
        first = min(m.at for m in moments)
        moments = [replace(m, received_at=first) if m.received_at == UNSET else m for m in moments]
    return compute(moments, filed, rules, case_id=7, case_number="C-7", now=now)


def only(obligations: list[Obligation], kind: ObligationKind, seq: int = 1) -> Obligation:
    found = [o for o in obligations if o.kind is kind and o.seq == seq]
    assert len(found) == 1, obligations
    return found[0]


def kinds(obligations: list[Obligation]) -> list[tuple[str, int]]:
    return [(o.kind.value, o.seq) for o in obligations]


# --- initial ---------------------------------------------------------------------------------


def test_severity_two_owes_an_initial_report_thirty_minutes_after_it_was_received() -> None:
    received = day("09:00")
    got = run([moment(day("09:02"), received=received)], now=day("09:10"))
    assert kinds(got) == [("initial", 1)]  # no phone deadline unless a rule sets one
    initial = got[0]
    assert (initial.reason, initial.since, initial.due) == (
        Reason.RECEIVED,
        received,
        day("09:30"),
    )
    assert (initial.case_id, initial.case_number) == (7, "C-7")
    assert initial.state_at(day("09:10")) is ObligationState.PENDING
    assert initial.state_at(day("09:31")) is ObligationState.OVERDUE
    assert initial.delay_at(day("09:45")) == 15


def test_default_minutes_by_severity() -> None:
    now = day("12:00")
    dues = {
        level: [o.due for o in run([moment(day("09:00"), severity=level)], now=now)]
        for level in (1, 2, 3, 4)
    }
    assert dues == {1: [day("09:30")], 2: [day("09:30")], 3: [day("10:00")], 4: []}


def test_a_corrected_received_time_moves_the_deadline() -> None:
    """The officer corrects 接报时间 from 09:00 to 08:50: the initial is due at 09:20."""
    first = moment(day("09:00"), received=day("09:00"))
    corrected = replace(first, at=day("09:05"), received_at=day("08:50"))
    before = only(run([first], now=day("09:04")), INITIAL)
    after = only(run([first, corrected], now=day("09:06")), INITIAL)
    assert before.due == day("09:30")
    assert (after.since, after.due) == (day("08:50"), day("09:20"))
    late = only(
        run([first, corrected], [report(1, day("09:25"), ReportKind.INITIAL)], now=day("10:00")),
        INITIAL,
    )
    assert late.state_at(day("10:00")) is ObligationState.LATE
    assert late.delay_at(day("10:00")) == 5
    assert late.met_by == 1


def test_escalation_from_four_to_two_owes_the_initial_from_that_moment() -> None:
    moments = [
        moment(day("08:00"), severity=4),
        moment(day("09:00"), severity=4, stage="registered"),
        moment(day("10:00"), severity=2, stage="registered"),
    ]
    assert run(moments[:2], now=day("09:59")) == []
    got = run(moments, now=day("10:05"))
    assert kinds(got) == [("initial", 1)]  # the escalation is what starts it, not a follow-up
    assert (got[0].reason, got[0].since, got[0].due) == (
        Reason.ESCALATED,
        day("10:00"),
        day("10:30"),
    )


def test_a_marked_level_four_case_is_owed_at_the_marked_minutes() -> None:
    moments = [moment(day("08:00"), severity=4), moment(day("08:40"), severity=4, marked=True)]
    initial = only(run(moments, now=day("09:00")), INITIAL)
    assert (initial.reason, initial.since, initial.due) == (
        Reason.ESCALATED,
        day("08:40"),
        day("09:40"),
    )
    marked_from_start = only(
        run([moment(day("08:00"), severity=4, marked=True)], now=day("08:01")), INITIAL
    )
    assert (marked_from_start.reason, marked_from_start.due) == (Reason.RECEIVED, day("09:00"))


def test_a_stricter_rule_tightens_an_unmet_initial_but_never_loosens_it() -> None:
    moments = [
        moment(day("09:00"), severity=3),  # due 10:00
        moment(day("09:10"), severity=2),  # 30 min from now: 09:40
        moment(day("09:20"), severity=3),  # laxer again: stays 09:40
    ]
    assert only(run(moments, now=day("09:30")), INITIAL).due == day("09:40")
    late_raise = [moment(day("09:00"), severity=3), moment(day("09:50"), severity=1)]
    assert only(run(late_raise, now=day("09:55")), INITIAL).due == day("10:00")  # never later


def test_a_written_initial_before_an_escalation_means_none_is_owed() -> None:
    moments = [moment(day("08:00"), severity=4), moment(day("10:00"), severity=2)]
    filed = [report(1, day("08:30"), ReportKind.INITIAL)]
    got = run(moments, filed, now=day("12:00"))
    assert [o.kind for o in got if o.kind in (INITIAL, PHONE)] == []
    # the voluntary report is followed up: the escalation is a change, the daily clock runs
    assert only(got, FOLLOWUP).reason is Reason.SEVERITY
    assert only(got, DAILY).since == day("08:30")


def test_a_report_before_an_obligation_started_does_not_meet_it() -> None:
    rules = SitrepRules(rules=(ReportRule(severity=2, initial_minutes=30, phone_minutes=15),))
    moments = [moment(day("08:00"), severity=4), moment(day("10:00"), severity=2)]
    filed = [report(1, day("08:30"), ReportKind.INITIAL, phone=True)]
    got = run(moments, filed, now=day("10:20"), rules=rules)
    phone = only(got, PHONE)
    assert (phone.since, phone.due, phone.met_at) == (day("10:00"), day("10:15"), None)
    assert phone.state_at(day("10:20")) is ObligationState.OVERDUE


# --- phone and written -----------------------------------------------------------------------

PHONE_RULES = SitrepRules(rules=(ReportRule(severity=2, initial_minutes=40, phone_minutes=20),))


def test_a_phone_report_meets_the_phone_deadline_only() -> None:
    moments = [moment(day("09:00"))]
    filed = [report(1, day("09:15"), ReportKind.INITIAL, phone=True)]
    got = run(moments, filed, now=day("09:50"), rules=PHONE_RULES)
    phone, initial = only(got, PHONE), only(got, INITIAL)
    assert (phone.due, phone.met_by, phone.state_at(day("09:50"))) == (
        day("09:20"),
        1,
        ObligationState.MET,
    )
    assert (initial.due, initial.met_at) == (day("09:40"), None)
    assert initial.state_at(day("09:50")) is ObligationState.OVERDUE
    written = [*filed, report(2, day("09:50"), ReportKind.INITIAL)]
    initial = only(run(moments, written, now=day("10:00"), rules=PHONE_RULES), INITIAL)
    assert (initial.met_by, initial.state_at(day("10:00")), initial.delay_at(day("10:00"))) == (
        2,
        ObligationState.LATE,
        10,
    )


def test_a_written_initial_meets_the_phone_deadline_too() -> None:
    filed = [report(3, day("09:10"), ReportKind.INITIAL)]
    got = run([moment(day("09:00"))], filed, now=day("09:30"), rules=PHONE_RULES)
    assert {(o.kind, o.met_by) for o in got if o.kind in (PHONE, INITIAL)} == {
        (PHONE, 3),
        (INITIAL, 3),
    }
    assert all(o.state_at(day("09:30")) is ObligationState.MET for o in got if o.kind is not DAILY)


def test_a_phone_deadline_appears_when_an_escalation_brings_one() -> None:
    rules = SitrepRules(
        rules=(
            ReportRule(severity=3, initial_minutes=60),
            ReportRule(severity=1, initial_minutes=30, phone_minutes=10),
        )
    )
    moments = [moment(day("09:00"), severity=3), moment(day("09:20"), severity=1)]
    got = run(moments, now=day("09:25"), rules=rules)
    assert (only(got, PHONE).since, only(got, PHONE).due) == (day("09:20"), day("09:30"))
    assert only(got, INITIAL).due == day("09:50")


def test_a_phone_call_made_before_the_case_was_entered_counts() -> None:
    """Phoned up at 09:10, the case typed in at 09:20 with its received time 09:00."""
    moments = [moment(day("09:20"), received=day("09:00"))]
    filed = [report(1, day("09:10"), ReportKind.INITIAL, phone=True)]
    phone = only(run(moments, filed, now=day("09:30"), rules=PHONE_RULES), PHONE)
    assert (phone.since, phone.met_at, phone.met_by) == (day("09:00"), day("09:10"), 1)
    assert phone.state_at(day("09:30")) is ObligationState.MET


# --- follow-ups ------------------------------------------------------------------------------


def test_changes_before_a_follow_up_fold_into_one_obligation() -> None:
    moments = [
        moment(day("09:00")),
        moment(day("10:00"), figures=True),
        moment(day("10:20"), severity=1),
        moment(day("10:40"), stage="registered"),
    ]
    filed = [report(1, day("09:20"), ReportKind.INITIAL), report(2, day("10:50"))]
    got = run(moments, filed, now=day("11:30"))
    follow = only(got, FOLLOWUP)
    assert (follow.reason, follow.since, follow.due, follow.met_by) == (
        Reason.FIGURES,
        day("10:00"),
        day("11:00"),
        2,
    )
    later = [*moments, moment(day("12:00"), stage="dispatched")]
    second = only(run(later, filed, now=day("12:01")), FOLLOWUP, 2)
    assert (second.reason, second.since, second.due) == (Reason.STAGE, day("12:00"), day("13:00"))


def test_the_written_initial_tells_of_the_changes_before_it() -> None:
    moments = [moment(day("09:00")), moment(day("09:05"), stage="registered")]
    filed = [report(1, day("09:25"), ReportKind.INITIAL)]
    follow = only(run(moments, filed, now=day("09:30")), FOLLOWUP)
    assert (follow.met_by, follow.state_at(day("09:30"))) == (1, ObligationState.MET)


def test_a_report_at_the_moment_of_a_change_tells_of_it() -> None:
    moments = [moment(day("09:00")), moment(day("10:00"), figures=True)]
    filed = [report(1, day("09:10"), ReportKind.INITIAL), report(2, day("10:00"))]
    follow = only(run(moments, filed, now=day("10:01")), FOLLOWUP)
    assert (follow.met_by, follow.state_at(day("10:01"))) == (2, ObligationState.MET)


def test_moments_that_change_nothing_owe_nothing() -> None:
    """The hub sees an event for every update; only severity, figures and stage count."""
    moments = [moment(day("09:00")), moment(day("09:30")), moment(day("09:40"), marked=True)]
    filed = [report(1, day("09:10"), ReportKind.INITIAL)]
    assert kinds(run(moments, filed, now=day("10:00"))) == [("initial", 1), ("daily", 1)]


def test_a_case_never_reportable_owes_nothing() -> None:
    moments = [
        moment(day("09:00"), severity=4),
        moment(day("10:00"), severity=4, stage="registered", figures=True),
        moment(day("11:00"), severity=4, stage="closed"),
    ]
    assert run(moments, now=t("2026-12-09 00:00")) == []


# --- daily -----------------------------------------------------------------------------------


def test_daily_follow_ups_across_midnight() -> None:
    """Received 20:00, initial 20:20; follow-ups next day 19:00 and the day after at 21:30."""
    moments = [moment(t("2026-12-07 20:00"))]
    filed = [
        report(1, t("2026-12-07 20:20"), ReportKind.INITIAL),
        report(2, t("2026-12-08 19:00")),
        report(3, t("2026-12-09 21:30")),
    ]
    now = t("2026-12-10 09:00")
    daily = [o for o in run(moments, filed, now=now) if o.kind is DAILY]
    assert [(o.seq, o.since, o.due, o.met_by) for o in daily] == [
        (1, t("2026-12-07 20:20"), t("2026-12-08 20:20"), 2),
        (2, t("2026-12-08 19:00"), t("2026-12-09 19:00"), 3),
        (3, t("2026-12-09 21:30"), t("2026-12-10 21:30"), None),
    ]
    assert [o.state_at(now) for o in daily] == [
        ObligationState.MET,
        ObligationState.LATE,
        ObligationState.PENDING,
    ]
    assert daily[1].delay_at(now) == 150
    # a day with no report at all: the current daily is overdue, by the hours it has been
    later = t("2026-12-11 00:30")
    assert daily[2].state_at(later) is ObligationState.OVERDUE
    assert daily[2].delay_at(later) == 180


def test_a_long_silence_is_one_late_daily_not_several() -> None:
    moments = [moment(day("09:00"))]
    filed = [report(1, day("09:10"), ReportKind.INITIAL), report(2, t("2026-12-10 09:10"))]
    daily = [o for o in run(moments, filed, now=t("2026-12-10 10:00")) if o.kind is DAILY]
    assert [(o.seq, o.met_by) for o in daily] == [(1, 2), (2, None)]
    assert daily[0].delay_at(t("2026-12-10 10:00")) == 48 * 60


# --- final, reopen, void ---------------------------------------------------------------------


def closed_case() -> tuple[list[CaseMoment], list[Filed]]:
    moments = [
        moment(day("09:00")),
        moment(day("10:00"), stage="handling"),
        moment(day("15:00"), stage="closed"),
    ]
    filed = [report(1, day("09:20"), ReportKind.INITIAL), report(2, day("10:30"))]
    return moments, filed


def test_closing_owes_the_final_report_and_ends_the_daily() -> None:
    moments, filed = closed_case()
    got = run(moments, filed, now=day("16:00"))
    final = only(got, FINAL)
    assert (final.reason, final.since, final.due) == (
        Reason.CLOSED,
        day("15:00"),
        t("2026-12-08 15:00"),
    )
    assert only(got, DAILY, 2).state_at(day("16:00")) is ObligationState.CANCELLED
    done = run(moments, [*filed, report(3, day("16:00"), ReportKind.FINAL)], now=day("17:00"))
    assert (only(done, FINAL).met_by, only(done, FINAL).state_at(day("17:00"))) == (
        3,
        ObligationState.MET,
    )
    assert len([o for o in done if o.kind is DAILY]) == 2  # no daily after the close


def test_a_follow_up_does_not_meet_the_final() -> None:
    moments, filed = closed_case()
    got = run(moments, [*filed, report(3, day("16:00"))], now=t("2026-12-08 16:00"))
    assert only(got, FINAL).state_at(t("2026-12-08 16:00")) is ObligationState.OVERDUE


def test_reopening_cancels_an_unmet_final_and_owes_a_follow_up() -> None:
    moments, filed = closed_case()
    reopened = [*moments, moment(day("18:00"), stage="handling")]
    got = run(reopened, filed, now=day("18:30"))
    assert only(got, FINAL).state_at(day("18:30")) is ObligationState.CANCELLED
    follow = only(got, FOLLOWUP, 2)
    assert (follow.reason, follow.since) == (Reason.STAGE, day("18:00"))
    assert only(got, DAILY, 3).since == day("18:00")  # open again: the daily clock restarts
    closed_again = [*reopened, moment(day("20:00"), stage="closed")]
    final = only(run(closed_again, filed, now=day("20:01")), FINAL, 2)
    assert final.due == t("2026-12-08 20:00")


def test_reopening_a_case_never_reported_on_starts_no_daily() -> None:
    moments = [
        moment(day("09:00")),
        moment(day("09:10"), stage="closed"),
        moment(day("09:20"), stage="handling"),
    ]
    got = run(moments, now=day("09:30"))
    assert kinds(got) == [("initial", 1), ("final", 1), ("followup", 1)]
    assert only(got, FINAL).cancelled


def test_reopening_keeps_a_met_final() -> None:
    moments, filed = closed_case()
    filed = [*filed, report(3, day("16:00"), ReportKind.FINAL)]
    got = run([*moments, moment(day("18:00"), stage="handling")], filed, now=day("18:30"))
    assert only(got, FINAL).state_at(day("18:30")) is ObligationState.MET


def test_voiding_cancels_every_unmet_obligation() -> None:
    moments = [
        moment(day("09:00")),
        moment(day("10:00"), figures=True),
        moment(day("11:00"), stage="voided"),
    ]
    filed = [report(1, day("09:40"), ReportKind.INITIAL)]
    got = run(moments, filed, now=day("12:00"))
    states = {(o.kind, o.seq): o.state_at(day("12:00")) for o in got}
    assert states == {
        (INITIAL, 1): ObligationState.LATE,
        (FOLLOWUP, 1): ObligationState.CANCELLED,
        (DAILY, 1): ObligationState.CANCELLED,
    }
    assert run(moments, [*filed, report(2, day("11:30"))], now=day("12:00")) == got


def test_merging_cancels_a_missing_initial() -> None:
    moments = [moment(day("09:00")), moment(day("11:00"), stage="merged")]
    assert [o.state_at(day("12:00")) for o in run(moments, now=day("12:00"))] == [
        ObligationState.CANCELLED
    ]


def test_de_escalation_drops_what_is_not_yet_due() -> None:
    moments = [moment(day("09:00"), severity=2), moment(day("09:10"), severity=4)]
    assert [o.state_at(day("10:00")) for o in run(moments, now=day("10:00"))] == [
        ObligationState.CANCELLED
    ]
    missed = [moment(day("09:00"), severity=2), moment(day("09:40"), severity=4)]
    assert [o.state_at(day("10:00")) for o in run(missed, now=day("10:00"))] == [
        ObligationState.OVERDUE
    ]
    again = [*moments, moment(day("11:00"), severity=1)]
    second = only(run(again, now=day("11:01")), INITIAL, 2)
    assert (second.reason, second.since, second.due) == (
        Reason.ESCALATED,
        day("11:00"),
        day("11:30"),
    )


# --- the history as of now -------------------------------------------------------------------


def test_history_after_now_is_ignored_and_input_order_does_not_matter() -> None:
    moments, filed = closed_case()
    at_noon = run(moments, filed, now=day("12:00"))
    assert FINAL not in {o.kind for o in at_noon}
    assert run(list(reversed(moments)), list(reversed(filed)), now=day("12:00")) == at_noon
    assert run([], filed, now=day("12:00")) == []


def test_obligations_serialise_with_their_state_and_delay() -> None:
    got = run([moment(day("09:00"))], now=day("09:45"))
    assert got[0].to_json(day("09:45")) == {
        "id": None,
        "case": "C-7",
        "kind": "initial",
        "seq": 1,
        "reason": "received",
        "since": "2026-12-07T01:00:00Z",
        "due": "2026-12-07T01:30:00Z",
        "met_at": None,
        "met_by": None,
        "state": "overdue",
        "delay_minutes": 15.0,
    }


# --- properties ------------------------------------------------------------------------------

STAGES = ("reported", "registered", "handling", "closed", "voided")
BASE = day("08:00")


@st.composite
def histories(
    draw: st.DrawFn, *, corrections: bool = False
) -> tuple[list[CaseMoment], list[Filed]]:
    """A case's moments and reports over three days; ``corrections``: received times vary."""
    count = draw(st.integers(1, 8))
    offsets = sorted(draw(st.lists(st.integers(0, 72 * 60), min_size=count, max_size=count)))
    moments = [
        moment(
            BASE + timedelta(minutes=offset),
            severity=draw(st.integers(1, 4)),
            stage="reported" if i == 0 else draw(st.sampled_from(STAGES)),
            received=BASE + timedelta(minutes=draw(st.integers(-60, 120)) if corrections else 0),
            marked=draw(st.booleans()),
            figures=draw(st.booleans()),
        )
        for i, offset in enumerate(offsets)
    ]
    reports = draw(
        st.lists(
            st.tuples(st.integers(0, 80 * 60), st.sampled_from(ReportKind), st.booleans()),
            max_size=8,
        )
    )
    filed = [
        report(ref, BASE + timedelta(minutes=offset), kind, phone=phone)
        for ref, (offset, kind, phone) in enumerate(reports, start=1)
    ]
    return moments, filed


@given(histories(corrections=True), st.integers(0, 90 * 60))
def test_invariants_of_any_history(
    history: tuple[list[CaseMoment], list[Filed]], minutes: int
) -> None:
    moments, filed = history
    now = BASE + timedelta(minutes=minutes)
    got = run(moments, filed, now=now)
    by_ref = {f.ref: f for f in filed}
    for o in got:
        assert o.due >= o.since
        assert not (o.cancelled and o.met_at is not None)
        if o.met_by is not None:
            report_ = by_ref[o.met_by]
            assert (o.met_at, report_.at <= now) == (report_.at, True)
            # a phone report meets the phone obligation only, a written one any
            assert (report_.channel is Channel.PHONE) <= (o.kind is PHONE)
    for kind in ObligationKind:  # at most one owed at a time: changes fold into it
        assert sum(o.kind is kind and o.state_at(now).open for o in got) <= 1
    met = [(o.met_by, o.kind) for o in got if o.met_by is not None]
    assert len(met) == len(set(met))  # a report meets at most one obligation of each kind
    keys = [(o.kind, o.seq) for o in got]
    assert len(keys) == len(set(keys))
    for kind in ObligationKind:
        seqs = sorted(seq for k, seq in keys if k is kind)
        assert seqs == list(range(1, len(seqs) + 1))


@given(histories(), st.integers(0, 90 * 60), st.integers(0, 90 * 60))
def test_an_obligation_once_known_stays_with_its_key(
    history: tuple[list[CaseMoment], list[Filed]], earlier: int, later: int
) -> None:
    """What the store keeps by (case, kind, seq) means the same thing as history grows."""
    moments, filed = history
    first, second = sorted((earlier, later))
    before = run(moments, filed, now=BASE + timedelta(minutes=first))
    after = {(o.kind, o.seq): o for o in run(moments, filed, now=BASE + timedelta(minutes=second))}
    for o in before:
        now = after[(o.kind, o.seq)]
        assert (now.reason, now.since) == (o.reason, o.since)
        if o.met_at is not None:
            assert (now.met_at, now.met_by) == (o.met_at, o.met_by)
        if o.cancelled:
            assert now.cancelled
