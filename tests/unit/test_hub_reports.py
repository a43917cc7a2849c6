"""The hub keeps the information reports its units send (``report`` events) per unit and case.

The hub is the ``db`` fixture. Report events are hand-built with the payload the township's
outbox makes (``{"report", "case"}``); the last test takes one from a township's timeline
through the outbox, the hub and back to the township's receipt.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from store.audit import append_event
from store.clock import FixedClock, to_iso
from store.db import connect, write
from store.errors import NotFound
from tests.support.domain import OPERATOR, case_json
from uplink import hub
from uplink.models import Batch, Kind, Result, UplinkEvent
from uplink.outbox import Projection, mark_sent, project, receipts, sendable
from uplink.reporting import Channel, ReportKind

UNIT = "T1"


def new_id() -> str:
    return uuid.uuid4().hex


def report_json(**fields: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "id": 7,
        "kind": "initial",
        "seq": 0,
        "name": "初报",
        "channel": "written",
        "at": "2026-11-26T02:20:00Z",
        "fields": {"place": "幸福社区3号楼"},
        "figures": {"dead": 0, "injured": 2, "as_of": "2026-11-26T02:15:00Z"},
        "signed_by": "陈队长",
        "signed_at": "2026-11-26T02:18:00Z",
        "text": "青山街道关于幸福社区3号楼火灾的初报……",
    }
    report.update(fields)
    return report


def report_event(
    number: str,
    seq: int,
    *,
    report: Any = None,
    case: Any = None,
    subject: str | None = None,
    event_id: str | None = None,
) -> UplinkEvent:
    payload = {
        "report": report_json() if report is None else report,
        "case": case_json(number, severity="II") if case is None else case,
    }
    return UplinkEvent(
        event_id or new_id(),
        UNIT,
        subject or f"case:{number}",
        seq,
        Kind.REPORT,
        "2026-11-26T02:20:00Z",
        payload,
    )


def case_event(number: str, seq: int, **fields: Any) -> UplinkEvent:
    payload = {"change": {"kind": "edit"}, "case": case_json(number, **fields)}
    return UplinkEvent(
        new_id(), UNIT, f"case:{number}", seq, Kind.CASE_UPDATED, "2026-11-26T02:00:00Z", payload
    )


def send(db: Database, clock: FixedClock, *events: UplinkEvent) -> list[tuple[Result, str]]:
    batch = Batch(UNIT, tuple(events))
    body = json.dumps(batch.to_json(), sort_keys=True).encode()
    results = hub.ingest(
        db, UNIT, batch, clock.now(), key=new_id(), body_hash=hashlib.sha256(body).hexdigest()
    )
    return [(r.result, r.reason or "") for r in results]


def stored(db: Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM hub_reports").fetchone()[0])


@pytest.fixture(autouse=True)
def unit(db: Database, clock: FixedClock) -> str:
    _unit, token = hub.add_unit(db, clock.now(), UNIT, "城关镇", operator=OPERATOR)
    return token


def test_a_report_is_kept_per_unit_and_case_with_its_text(db: Database, clock: FixedClock) -> None:
    clock.advance(minutes=21)
    first = case_event("2026-000001", 1, severity="II")
    report = report_event("2026-000001", 2)
    assert send(db, clock, first, report) == [(Result.ACCEPTED, ""), (Result.ACCEPTED, "")]
    [found] = hub.reports(db, unit=UNIT, case="2026-000001")
    assert (found.kind, found.seq, found.channel, found.name) == (
        ReportKind.INITIAL,
        0,
        Channel.WRITTEN,
        "初报",
    )
    assert found.event_id == report.id
    assert to_iso(found.at) == "2026-11-26T02:20:00Z"
    assert found.received_at == clock.now()
    assert found.text == "青山街道关于幸福社区3号楼火灾的初报……"
    assert found.to_json()["report"]["signed_by"] == "陈队长"
    # the case it carries is the case as it stands: the read model takes it
    [case] = hub.cases(db, clock.now(), unit=UNIT)
    assert case.severity == "II" and case.seq == 2
    assert hub.reports(db, unit=UNIT, case="2026-000002") == []


def test_a_phone_report_and_follow_ups_are_named_and_ordered(
    db: Database, clock: FixedClock
) -> None:
    number = "2026-000003"
    phone = report_json(
        kind="initial", channel="phone", name=None, at="2026-11-26T02:10:00Z", to="区应急局王科长"
    )
    followup = report_json(kind="followup", seq=2, name=None, at="2026-11-26T04:00:00Z")
    send(
        db,
        clock,
        case_event(number, 1, severity="II"),
        report_event(number, 2, report=phone),
        report_event(number, 3, report=followup),
    )
    found = hub.reports(db, unit=UNIT)
    assert [(r.name, r.channel.value) for r in found] == [
        ("电话报告", "phone"),
        ("续报二", "written"),
    ]
    assert hub.reports(db, since=clock.now() + timedelta(hours=1)) == [found[1]]
    assert hub.reports(db, until=clock.now() + timedelta(hours=1)) == [found[0]]


def test_a_report_held_behind_a_gap_is_kept_once_its_case_arrives(
    db: Database, clock: FixedClock
) -> None:
    number = "2026-000004"
    report = report_event(number, 2)
    assert send(db, clock, report) == [(Result.HELD, "")]
    assert stored(db) == 0
    assert send(db, clock, case_event(number, 1, severity="II")) == [(Result.ACCEPTED, "")]
    assert [r.event_id for r in hub.reports(db, unit=UNIT)] == [report.id]
    # sent again (the unit did not hear the answer): a duplicate, kept once
    assert send(db, clock, report) == [(Result.DUPLICATE, "")]
    assert stored(db) == 1


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (report_event("2026-000009", 1, report=report_json(kind="weekly")), "payload.report.kind"),
        (report_event("2026-000009", 1, report=report_json(channel="fax")), "report.channel"),
        (report_event("2026-000009", 1, report=report_json(at="yesterday")), "payload.report.at"),
        (report_event("2026-000009", 1, report=report_json(seq=-1)), "payload.report.seq"),
        (report_event("2026-000009", 1, report=report_json(text=5)), "payload.report.text"),
        (report_event("2026-000009", 1, report="初报"), "payload.report: must be"),
        (report_event("2026-000009", 1, case=""), "payload.case: must be a JSON object"),
        (report_event("2026-000009", 1, case=case_json("2026-000008")), "payload.case.number"),
        (report_event("2026-000009", 1, subject="unit"), "cannot be about unit"),
        (
            report_event(
                "2026-000009",
                1,
                case=case_json("2026-000009", reporting={"received_at": "noon"}),
            ),
            "payload.case.reporting.received_at",
        ),
        (
            report_event(
                "2026-000009", 1, case=case_json("2026-000009", reporting={"marked": "yes"})
            ),
            "payload.case.reporting.marked",
        ),
    ],
)
def test_a_malformed_report_or_one_without_its_case_is_rejected_and_stored_nowhere(
    db: Database, clock: FixedClock, event: UplinkEvent, reason: str
) -> None:
    [(result, why)] = send(db, clock, event)
    assert result is Result.REJECTED
    assert reason in why
    assert stored(db) == 0
    assert hub.cases(db, clock.now(), unit=UNIT) == []


def test_reports_of_an_unknown_unit_are_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        hub.reports(db, unit="T9")


# --- from a township's timeline to the hub and back ------------------------------------------


@pytest.fixture
def township() -> Iterator[Database]:
    town = connect()
    yield town
    town.close()


def sent_entry(town: Database, clock: FixedClock, policy: Policy) -> tuple[int, int]:
    """A case and its initial report sent, as uplink.sitreps writes them: (case, report id)."""
    new = NewIncident(title="幸福社区3号楼火灾", category="accident_disaster", severity="II")
    incident = create_incident(town, clock, policy, OPERATOR, new)
    clock.advance(minutes=20)
    at = to_iso(clock.now())
    with write(town):
        cur = town.conn.execute(
            "INSERT INTO sitreps (incident_id, kind, seq, channel, state, fields, figures,"
            " drafted_by, drafted_at, updated_at, signed_by, signed_at, sent_by, sent_at, text)"
            " VALUES (?, 'initial', 0, 'written', 'sent', '{}', '{}', ?, ?, ?, '陈队长', ?, ?,"
            " ?, '初报全文')",
            (incident.id, OPERATOR, at, at, at, OPERATOR, at),
        )
        report_id = int(cur.lastrowid or 0)
        append_event(
            town,
            at=at,
            operator=OPERATOR,
            kind="sitrep_sent",
            incident_id=incident.id,
            data=report_json(id=report_id, at=None, name="初报", text="初报全文"),
        )
    return incident.id, report_id


def test_a_report_sent_at_the_township_reaches_the_hub_and_its_receipt_comes_back(
    db: Database, township: Database, clock: FixedClock, policy: Policy
) -> None:
    _case, report_id = sent_entry(township, clock, policy)
    project(township, Projection(UNIT), clock.now())
    out = sendable(township, UNIT, 100)
    assert [o.kind for o in out] == [Kind.CASE_REPORTED, Kind.REPORT]
    event_id = township.conn.execute(
        "SELECT event_id FROM sitreps WHERE id = ?", (report_id,)
    ).fetchone()[0]
    assert event_id == out[1].id
    assert receipts(township, [event_id]) == {}  # on its way: no receipt yet
    clock.advance(seconds=5)
    answers = send(db, clock, *(o.event for o in out))
    assert answers == [(Result.ACCEPTED, ""), (Result.ACCEPTED, "")]
    with write(township):
        mark_sent(township, [(o.row, "accepted") for o in out], clock.now())
    assert receipts(township, [event_id, "unknown-event"]) == {event_id: clock.now()}
    [found] = hub.reports(db, unit=UNIT)
    assert found.event_id == event_id
    assert found.text == "初报全文"
    assert found.data["id"] == report_id
    assert found.at == clock.now() - timedelta(seconds=5)  # sent then (the entry's time)
