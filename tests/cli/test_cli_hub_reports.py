"""``dutydesk hub reports`` and ``hub timeliness``: the units' information reports at the county.

Events are put into the hub's database with :func:`uplink.hub.ingest`, as ``POST /v1/events``
would: one case reported on time, one late, one never (missing), all at real time (the CLI's
clock is the system's), under the default ``[sitrep]`` rules (severity II: 30 minutes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store.clock import to_iso
from store.db import connect
from tests.support.domain import case_json
from uplink import hub
from uplink.models import Batch, Kind, Result, UplinkEvent

UNIT = "T1"
NOW = datetime.now(UTC).replace(microsecond=0)


def event(number: str, seq: int, kind: Kind, at: datetime, payload: dict[str, Any]) -> UplinkEvent:
    return UplinkEvent(uuid.uuid4().hex, UNIT, f"case:{number}", seq, kind, to_iso(at), payload)


def history(
    number: str, received: datetime, title: str, reported: datetime | None
) -> list[UplinkEvent]:
    case = case_json(number, severity="II", title=title, reported_at=to_iso(received))
    change = {"kind": "reported", "stage_from": None, "stage_to": "reported"}
    out = [event(number, 1, Kind.CASE_REPORTED, received, {"change": change, "case": case})]
    if reported is not None:
        report = {"id": 1, "kind": "initial", "seq": 0, "channel": "written", "name": "初报"}
        report |= {"at": to_iso(reported), "signed_by": "陈队长", "text": f"{title}的初报"}
        out.append(event(number, 2, Kind.REPORT, reported, {"report": report, "case": case}))
    return out


@pytest.fixture
def county(run) -> Any:
    assert run("hub", "unit", "add", UNIT, "--name", "城关镇").code == 0
    events = [
        *history("A", NOW - timedelta(hours=3), "仓库火灾", NOW - timedelta(hours=2, minutes=40)),
        *history("B", NOW - timedelta(hours=2), "燃气泄漏", NOW - timedelta(hours=1, minutes=15)),
        *history("C", NOW - timedelta(hours=1), "山体滑坡", None),
    ]
    db = connect(run.db)
    try:
        results = hub.ingest(
            db, UNIT, Batch(UNIT, tuple(events)), NOW, key=uuid.uuid4().hex, body_hash="x" * 8
        )
    finally:
        db.close()
    assert {r.result for r in results} == {Result.ACCEPTED}
    return run


def test_reports_lists_what_was_received_and_what_is_late_or_missing(county) -> None:
    run = county
    received = run("hub", "reports", "--unit", UNIT, "--json").json()["items"]
    assert [(r["case"], r["name"], r["report"]["text"]) for r in received] == [
        ("A", "初报", "仓库火灾的初报"),
        ("B", "初报", "燃气泄漏的初报"),
    ]
    text = run("hub", "reports")
    assert text.code == 0 and "陈队长" in text.out and "仓库火灾" not in text.out

    late = run("hub", "reports", "--late", "--json").json()["items"]
    assert [(o["case"], o["kind"], o["state"]) for o in late] == [
        ("B", "initial", "late"),
        ("C", "initial", "overdue"),  # and missing: no initial report, 30 minutes past due
    ]
    assert late[0]["delay_minutes"] == 15.0
    # Still growing: the CLI's clock runs on from NOW (taken when this module was collected,
    # which may be minutes before this test runs in a whole suite).
    since = (datetime.now(UTC) - NOW).total_seconds() / 60
    assert 30.0 <= late[1]["delay_minutes"] <= 30.0 + since + 0.1
    assert [o["missing"] for o in late] == [False, True]
    missing = run("hub", "reports", "--missing")
    assert missing.code == 0
    assert "山体滑坡" in missing.out and "MISSING" in missing.out and "燃气泄漏" not in missing.out
    assert run("hub", "reports", "--due", "--json").json()["items"][0]["case"] == "C"
    one = run("hub", "reports", "--unit", UNIT, "--case", "A", "--late").out
    assert "no late reports" in one


def test_timeliness_sums_each_unit_and_refuses_bad_dates(county) -> None:
    run = county
    # Whole instants, not dates (a date is local midnight): the same window whatever the hour.
    start = to_iso(NOW - timedelta(days=1))
    end = to_iso(NOW + timedelta(days=2))
    data = run("hub", "timeliness", "--from", start, "--to", end, "--json").json()
    [unit] = data["items"]
    assert (unit["obligations"], unit["on_time"], unit["late"], unit["missing"]) == (5, 1, 1, 1)
    assert unit["due"] == 2  # the daily follow-ups of A and B, a day after their reports
    assert unit["median_delay_minutes"] == unit["worst_delay_minutes"] == 15.0
    assert data["next_after"] is None
    assert {o["case"] for o in data["obligations"]} == {"A", "B", "C"}
    text = run("hub", "timeliness", "--from", start, "--to", end)
    assert text.code == 0
    assert "城关镇" in text.out and "late and missing:" in text.out and "山体滑坡" in text.out

    for args, where in (
        (("--from", "someday", "--to", end), "--from"),
        (("--from", start, "--to", "2026-13-45"), "--to"),
        (("--from", end, "--to", start), "--to"),
    ):
        refused = run("hub", "timeliness", *args)
        assert refused.code == 2, refused.out
        assert where in refused.err
    assert run("hub", "reports", "--case", "A").code == 2  # a case needs its unit
