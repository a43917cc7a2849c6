"""Information reports end to end: a township's signed report goes up to a real county hub.

Two real ``dutydesk serve`` processes, each on its own database: a county hub (``[hub]
enabled``) and a township whose ``[uplink]`` points at it. The duty office works on the
township's database beside its running serve (WAL), through the reports service: a major
case, a report given by phone, then the written initial report drafted, signed off and sent.
The township's engine drains it through the protocol; the test sees the receipt (签收) at the
township (the report ``received``), the reports at the hub (``dutydesk hub reports``, the text
sent byte for byte) and the unit's timeliness (``dutydesk hub timeliness``: on time).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from store.clock import SystemClock, to_iso
from store.db import Database, connect, connect_readonly
from tests.support.domain import OPERATOR
from tests.support.uplink import Node, hub_table, register_unit, uplink_table, write_token
from tests.support.wait import wait_for
from uplink import hub, sitreps
from uplink.reporting import Channel, ReportKind, ReportState
from uplink.sitrep_rules import SitrepRules

UNIT = "330106009000"
SIGNER = "陈队长"


@dataclass
class Chain:
    county: Node
    town: Node
    office: Database  # the township's database, beside its serve


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chain]:
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "home" / name.lower()))
    county = Node(tmp_path, "county")
    county.configure(hub=hub_table())
    county.start()
    token = register_unit(county, UNIT, "城关镇")
    town = Node(tmp_path, "town")
    write_token(town.token_file, token)
    town.configure(
        uplink=uplink_table(county.url, town.token_file, UNIT),
        sitrep={"signers": [SIGNER], "unit_name": "城关镇"},
    )
    town.start()
    office = connect(town.db, busy_timeout=30.0, synchronous="NORMAL", migrate=False)
    try:
        yield Chain(county, town, office)
    finally:
        office.close()
        town.stop()
        county.stop()


def test_a_signed_report_reaches_the_hub_and_its_receipt_comes_back(chain: Chain) -> None:
    db, clock = chain.office, SystemClock()
    rules = SitrepRules(signers=(SIGNER,), unit_name="城关镇")
    fire = create_incident(
        db,
        clock,
        Policy(),
        OPERATOR,
        NewIncident(
            title="幸福社区3号楼火灾",
            category="accident_disaster",
            type="fire",
            severity="II",
            location="长江路88号",
        ),
    )
    by_phone = sitreps.phone(
        db, clock, OPERATOR, fire.number, to="区应急局值班室", at=clock.now(), note="已口头报告"
    )
    report = sitreps.draft(
        db, clock, rules, OPERATOR, fire.number, ReportKind.INITIAL, unit_name="城关镇"
    )
    sitreps.edit(db, clock, OPERATOR, report.id, fields={"measures": "已疏散群众，消防救援到场"})
    sitreps.sign(db, clock, rules, OPERATOR, report.id, signer=SIGNER)
    sent = sitreps.send(db, clock, OPERATOR, report.id, unit_name="城关镇")
    assert sent.state is ReportState.SENT and sent.text

    received = wait_for(
        lambda: (r := sitreps.get_sitrep(db, report.id)).state is ReportState.RECEIVED and r,
        30,
        "the hub's receipt of the initial report at the township",
        0.1,
    )
    assert received.received_at is not None and received.sent_at is not None
    assert received.received_at >= received.sent_at
    assert sitreps.get_sitrep(db, by_phone.id).state is ReportState.RECEIVED

    central = connect_readonly(chain.county.db)
    try:
        found = hub.reports(central, unit=UNIT, case=fire.number)
        [case] = hub.cases(central, clock.now(), unit=UNIT)
    finally:
        central.close()
    assert [(r.name, r.channel) for r in found] == [
        ("电话报告", Channel.PHONE),
        ("初报", Channel.WRITTEN),
    ]
    assert found[1].text == sent.text  # the exact text signed off and sent
    assert found[1].data["signed_by"] == SIGNER
    assert case.data["reporting"]["received_at"] == to_iso(fire.reported_at)

    listed = json.loads(chain.county.cli("hub", "reports", "--unit", UNIT, "--json").stdout)
    assert [item["name"] for item in listed["items"]] == ["电话报告", "初报"]
    assert listed["next_after"] is None
    # Whole instants, not dates: the daily follow-up (due a day after the report) stays out
    # whatever the hour the test runs at.
    start = to_iso(clock.now() - timedelta(days=1))
    end = to_iso(clock.now() + timedelta(hours=12))
    done = chain.county.cli("hub", "timeliness", "--from", start, "--to", end, "--json")
    [unit] = json.loads(done.stdout)["items"]
    assert (unit["unit"], unit["obligations"], unit["on_time"]) == (UNIT, 1, 1)
    assert (unit["late"], unit["missing"], unit["reports"]) == (0, 0, 2)
    missing = json.loads(chain.county.cli("hub", "reports", "--missing", "--json").stdout)
    assert missing["items"] == []
    refused = chain.county.cli("hub", "timeliness", "--from", "soon", "--to", end, check=False)
    assert refused.returncode == 2
    assert "--from" in refused.stderr
