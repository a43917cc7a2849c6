"""The hub's timeliness figures: each unit's reports owed, on time, late, missing, from its events.

A crafted history is sent to the hub (the ``db`` fixture) as a township's outbox would send it:
case events carrying the case with its ``reporting`` facts, and ``report`` events. The hub's
rules are the defaults (severity I/II: initial report within 30 min, III: 60 min, IV: only when
marked; a follow-up 60 min after a change; daily; final 24 h after closing).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from store.clock import FixedClock, to_iso
from store.errors import InvalidInput
from tests.support.domain import OPERATOR, case_json
from uplink import hub
from uplink.models import Batch, Kind, Result, UplinkEvent
from uplink.reporting import ObligationKind, ObligationState, Reason
from uplink.sitrep_rules import SitrepRules
from uplink.timeliness import EventRow, moments, obligations, slack, timeliness

DAY = datetime(2026, 11, 26, tzinfo=UTC)
RULES = SitrepRules()


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


@dataclass
class Case:
    """One case of a unit, sent event by event (each with the case as it then stood)."""

    unit: str
    number: str
    fields: dict[str, Any]
    events: list[UplinkEvent] = field(default_factory=list)

    def _add(self, kind: Kind, when: datetime, payload: dict[str, Any]) -> None:
        self.events.append(
            UplinkEvent(
                uuid.uuid4().hex,
                self.unit,
                f"case:{self.number}",
                len(self.events) + 1,
                kind,
                to_iso(when),
                payload,
            )
        )

    def case(self) -> dict[str, Any]:
        return case_json(self.number, **self.fields)

    def change(self, when: datetime, kind: Kind, change: dict[str, Any], **fields: Any) -> Case:
        self.fields.update(fields)
        self._add(kind, when, {"change": {"operator": OPERATOR, **change}, "case": self.case()})
        return self

    def stage(self, when: datetime, step: str, to: str) -> Case:
        before = self.fields.get("stage", "reported")
        change = {"kind": step, "stage_from": before, "stage_to": to}
        return self.change(when, Kind.CASE_STAGE, change, stage=to)

    def severity(self, when: datetime, level: str) -> Case:
        change = {
            "kind": "edit",
            "fields": ["severity"],
            "severity": [self.fields["severity"], level],
        }
        return self.change(when, Kind.CASE_UPDATED, change, severity=level)

    def figures(self, when: datetime, figures: dict[str, Any]) -> Case:
        facts = reporting(self, figures=figures)
        return self.change(when, Kind.CASE_UPDATED, {"kind": "sitrep_figures"}, reporting=facts)

    def mark(self, when: datetime) -> Case:
        change = {"kind": "sitrep_marked", "marked": [False, True], "sensitive": [False, False]}
        facts = reporting(self, marked=True)
        return self.change(when, Kind.CASE_UPDATED, change, reporting=facts)

    def report(
        self, when: datetime, kind: str = "initial", seq: int = 0, channel: str = "written"
    ) -> Case:
        report = {"id": len(self.events), "kind": kind, "seq": seq, "channel": channel}
        report["at"] = to_iso(when)
        self._add(Kind.REPORT, when, {"report": report, "case": self.case()})
        return self


def received(
    unit: str,
    number: str,
    when: datetime,
    severity: str = "II",
    *,
    marked: bool = False,
    received_at: datetime | None = None,
) -> Case:
    fields = {
        "severity": severity,
        "stage": "reported",
        "reported_at": to_iso(when),
        "reporting": {
            "received_at": to_iso(received_at or when),
            "marked": marked,
            "sensitive": False,
            "figures": None,
        },
    }
    change = {"kind": "reported", "stage_from": None, "stage_to": "reported"}
    return Case(unit, number, fields).change(when, Kind.CASE_REPORTED, change)


def reporting(case: Case, **facts: Any) -> dict[str, Any]:
    return {**case.fields["reporting"], **facts}


def deliver(db: Database, clock: FixedClock, *cases: Case) -> None:
    for case in cases:
        batch = Batch(case.unit, tuple(case.events))
        body = json.dumps(batch.to_json(), sort_keys=True).encode()
        results = hub.ingest(
            db,
            case.unit,
            batch,
            clock.now(),
            key=uuid.uuid4().hex,
            body_hash=hashlib.sha256(body).hexdigest(),
        )
        assert {r.result for r in results} == {Result.ACCEPTED}, results


@pytest.fixture
def county(db: Database, clock: FixedClock) -> Database:
    """Two townships; T1 with a crafted day, T2 with one case it never reported."""
    for code, name in (("T1", "城关镇"), ("T2", "和平街道")):
        hub.add_unit(db, clock.now(), code, name, operator=OPERATOR)
    clock.set(at(12))
    figures = {"dead": 0, "injured": 3, "missing": None, "trapped": None, "evacuated": 40}
    a = received("T1", "A", at(2)).report(at(2) + timedelta(minutes=20))  # on time
    b = received("T1", "B", at(3)).report(at(4))  # 30 min late
    c = received("T1", "C", at(5))  # never reported: missing
    d = received("T1", "D", at(6), "IV").severity(at(7), "II")  # escalated at 07:00
    d.report(at(8.5))  # due 07:30: 60 min late
    e = received("T1", "E", at(9), "III").report(at(9) + timedelta(minutes=40))  # on time
    e.stage(at(10), "register", "registered")  # follow-up due 11:00, never sent
    f = received("T1", "F", at(11) + timedelta(minutes=50))  # due 12:20: still due at 12:00
    g = received("T1", "G", at(0) + timedelta(minutes=10)).report(at(0.5))  # on time
    g.figures(at(1), figures)  # figures changed: a follow-up by 2:00
    g.report(at(1) + timedelta(minutes=50), "followup", 1)  # on time
    h = received("T2", "H", at(4), "I")  # T2 never reported its severity I case
    deliver(db, clock, a, b, c, d, e, f, g, h)
    return db


def test_each_unit_has_its_owed_on_time_late_missing_and_delays(
    county: Database, clock: FixedClock
) -> None:
    found = timeliness(county, RULES, DAY, at(13), clock.now())
    one, two = found.units
    assert one.to_json() == {
        "unit": "T1",
        "name": "城关镇",
        "obligations": 9,
        "on_time": 4,  # A, E, G's initial, G's follow-up
        "late": 2,  # B (30 min), D (60 min)
        "overdue": 2,  # C's initial, E's follow-up
        "missing": 1,  # C: a reportable case with no initial report after its deadline
        "due": 1,  # F
        "median_delay_minutes": 45.0,
        "worst_delay_minutes": 60.0,
        "on_time_pct": 50.0,
        "reports": 6,
    }
    assert (two.obligations, two.missing, two.overdue, two.late) == (1, 1, 1, 0)
    assert two.median_delay is None and two.worst_delay is None
    listed = {(o.unit, o.number, o.obligation.kind): o for o in found.obligations}
    late_d = listed[("T1", "D", ObligationKind.INITIAL)]
    assert late_d.obligation.reason is Reason.ESCALATED
    assert late_d.obligation.since == at(7)
    assert late_d.state(clock.now()) is ObligationState.LATE
    assert late_d.obligation.delay_at(clock.now()) == 60
    assert late_d.met_by == "初报"
    assert listed[("T1", "G", ObligationKind.FOLLOWUP)].met_by == "续报一"
    assert listed[("T1", "G", ObligationKind.FOLLOWUP)].obligation.reason is Reason.FIGURES
    assert listed[("T1", "C", ObligationKind.INITIAL)].missing(clock.now())
    assert not listed[("T1", "E", ObligationKind.FOLLOWUP)].missing(clock.now())
    shown = found.to_json()
    assert shown["from"] == "2026-11-26T00:00:00Z" and shown["to"] == "2026-11-26T13:00:00Z"
    assert {o["case"] for o in shown["obligations"] if o["missing"]} == {"C", "H"}


def test_the_period_counts_what_falls_due_in_it_as_of_now(
    county: Database, clock: FixedClock
) -> None:
    morning = timeliness(county, RULES, DAY, at(6), clock.now())
    one = morning.units[0]
    # A, B, C's initials and G's two fall due before 06:00; B late, C missing
    assert (one.obligations, one.on_time, one.late, one.missing) == (5, 3, 1, 1)
    assert one.reports == 4  # G's two, A's, B's
    # asked at 03:40, C was not received yet and B's initial was still owed (overdue)
    early = timeliness(county, RULES, DAY, at(6), at(3) + timedelta(minutes=40))
    one = early.units[0]
    assert (one.obligations, one.overdue, one.missing, one.late) == (4, 1, 1, 0)


def test_a_corrected_received_time_and_a_marked_case_set_the_clock(
    db: Database, clock: FixedClock
) -> None:
    hub.add_unit(db, clock.now(), "T1", "城关镇", operator=OPERATOR)
    # reported at 08:00, but the officer corrected: the call came at 07:40 -> due 08:10
    early = received("T1", "R", at(8), received_at=at(7) + timedelta(minutes=40))
    early.report(at(8) + timedelta(minutes=25))
    # a level-IV case marked "to be reported" at 09:00: due 60 min later ([sitrep] marked)
    marked = received("T1", "M", at(8), "IV").mark(at(9))
    clock.set(at(12))
    deliver(db, clock, early, marked)
    owed = {
        o.number: o
        for o in obligations(db, RULES, clock.now(), unit="T1")
        if o.obligation.kind is ObligationKind.INITIAL
    }
    assert owed["R"].obligation.due == at(8) + timedelta(minutes=10)
    assert owed["R"].obligation.delay_at(clock.now()) == 15
    assert owed["M"].obligation.due == at(10)
    assert owed["M"].obligation.reason is Reason.ESCALATED
    assert owed["M"].missing(clock.now())
    assert [o.number for o in obligations(db, RULES, clock.now(), unit="T1", case="M")] == ["M"]


def test_a_case_closed_long_before_the_period_is_not_read(
    county: Database, clock: FixedClock
) -> None:
    later = at(24 * 10)
    assert later - slack(RULES) > at(13)
    found = timeliness(county, RULES, later, later + timedelta(days=1), later)
    # the open cases still owe their daily follow-ups; nothing else is read or owed
    assert all(o.obligation.kind is ObligationKind.DAILY for o in found.obligations)


def test_an_empty_period_is_refused(county: Database, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput) as caught:
        timeliness(county, RULES, at(5), at(5), clock.now())
    assert caught.value.field == "to"


def row(at_: str, kind: str, change: dict[str, Any] | None, **case: Any) -> EventRow:
    snapshot = {
        "severity": "II",
        "category": "accident_disaster",
        "type": "fire",
        "stage": "closed",  # projected hours late: every event carries the case as closed
        "reported_at": "2026-11-26T00:00:00Z",
        "received_at": None,
        "marked": 0,
        "sensitive": 0,
        **case,
    }
    text = json.dumps(change) if change is not None else None
    return EventRow(at_, kind, *snapshot.values(), text)


def test_moments_replay_what_each_change_says_over_a_late_snapshot() -> None:
    rows = [
        row("2026-11-26T00:00:00Z", "case_reported", {"kind": "reported", "stage_to": "reported"}),
        row("2026-11-26T00:10:00Z", "case_updated", {"kind": "edit", "fields": ["title"]}),
        row(
            "2026-11-26T00:20:00Z",
            "case_updated",
            {"kind": "edit", "fields": ["severity"], "severity": ["IV", "II"]},
        ),
        row("2026-11-26T00:30:00Z", "case_updated", {"kind": "sitrep_figures"}),
        row(
            "2026-11-26T00:40:00Z",
            "case_updated",
            {"kind": "sitrep_marked", "marked": [False, False], "sensitive": [False, True]},
        ),
        row("2026-11-26T01:00:00Z", "case_stage", {"kind": "register", "stage_to": "registered"}),
        row("2026-11-26T05:00:00Z", "case_stage", {"kind": "close", "stage_to": "closed"}),
        row(
            "2026-11-26T05:10:00Z",
            "resync",
            None,
            stage="verified",
            received_at="2026-11-25T23:50:00Z",
        ),
        row(
            "2026-11-26T05:20:00Z",
            "case_stage",
            {"kind": "void", "stage_to": "voided"},
            severity="V",  # the snapshot's level is not used: no change said it changed
        ),
    ]
    found = moments(rows)
    assert [m.stage for m in found] == [
        "reported",  # the title edit bears on nothing: no moment
        "reported",
        "reported",
        "reported",
        "registered",
        "closed",
        "verified",  # a resync: the unit's state then
        "voided",
    ]
    assert [m.at.hour * 60 + m.at.minute for m in found[:4]] == [0, 20, 30, 40]
    assert [m.severity for m in found] == [4, 2, 2, 2, 2, 2, 2, 2]
    assert [m.figures_changed for m in found] == [False, False, True] + [False] * 5
    assert [m.marked for m in found] == [False] * 3 + [True] * 3 + [False] * 2
    # the received time is the latest sent (a correction counts from the start)
    assert {m.received_at for m in found} == {DAY - timedelta(minutes=10)}


def test_moments_of_a_unit_that_sends_no_changes_take_the_snapshots() -> None:
    rows = [
        row(
            "2026-11-26T00:00:00Z",
            "case_reported",
            {"kind": "reported"},
            stage="reported",
            severity="IV",
        ),
        row(
            "2026-11-26T00:20:00Z",
            "case_updated",
            {"kind": "edit", "fields": ["severity"]},
            stage="reported",
        ),
        row(
            "2026-11-26T00:40:00Z",
            "case_updated",
            {"kind": "sitrep_marked"},
            marked=1,
            stage="reported",
        ),
    ]
    found = moments(rows)
    assert [(m.severity, m.marked, m.stage) for m in found] == [
        (4, False, "reported"),
        (2, False, "reported"),
        (2, True, "reported"),
    ]
    assert found[0].received_at == DAY
