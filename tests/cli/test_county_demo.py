"""``dutydesk demo --county``: a county hub whose three townships' status has flowed up through
the protocol's own functions, the last one offline (silent at the hub, a backlog at home)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.config import load_config
from console.demo import COUNTY_TOWNSHIPS, build_county_demo
from incidents.records import ListFilter, list_incidents
from store.db import connect
from uplink import hub
from uplink.models import LinkState
from uplink.status import link_status

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_the_county_sees_two_townships_in_step_and_one_silent(tmp_path: Path) -> None:
    summary = build_county_demo(tmp_path, cases=40, now=NOW)
    assert "offline for 3 h" in summary
    county = connect(tmp_path / "county.db")
    try:
        config = load_config(tmp_path / "county.toml")
        assert config.hub.enabled
        view = {v.unit.code: v for v in hub.overview(county, NOW, config.hub.silent)}
        assert sorted(view) == [code for code, _name in COUNTY_TOWNSHIPS]
        *online, offline = COUNTY_TOWNSHIPS
        assert [view[code].silent for code, _n in online] == [False, False]
        assert view[offline[0]].silent
        for code, _name in COUNTY_TOWNSHIPS:
            town = connect(tmp_path / "townships" / f"{code}.db")
            try:
                page = list_incidents(
                    town, NOW, ListFilter(parked=None, include_closed=True), limit=10_000
                )
                mine = {i.number: i.stage.value for i in page.items}
                theirs = {
                    c.number: c.stage for c in hub.cases(county, NOW, unit=code, open_only=False)
                }
                link = link_status(town, "http://127.0.0.1:8480", code)
            finally:
                town.close()
            assert hub.witness(county, code) is not None
            if code == offline[0]:
                assert link.state is LinkState.BACKING_OFF
                assert link.backlog > 0
                assert link.down_since is not None
                assert NOW - link.down_since > timedelta(hours=2)
                assert set(theirs) < set(mine)  # what it logged offline has not reached the hub
            else:
                assert link.state is LinkState.CONNECTED and link.backlog == 0
                assert theirs == mine
    finally:
        county.close()
    token = tmp_path / "townships" / f"{COUNTY_TOWNSHIPS[0][0]}.token"
    assert token.stat().st_mode & 0o077 == 0


def test_the_county_sees_one_township_report_late_and_one_case_unreported(tmp_path: Path) -> None:
    from uplink.reporting import ObligationKind, SitrepRules
    from uplink.timeliness import obligations, timeliness

    summary = build_county_demo(tmp_path, cases=40, now=NOW)
    county = connect(tmp_path / "county.db")
    try:
        found = timeliness(county, SitrepRules(), NOW - timedelta(days=14), NOW, NOW)
        owed = obligations(county, SitrepRules(), NOW, since=NOW - timedelta(days=14))
    finally:
        county.close()
    late, unreported, offline = found.units
    assert (late.late, late.missing) == (1, 0)
    assert late.worst_delay is not None and late.worst_delay > 0
    assert (unreported.late, unreported.missing) == (0, 1)
    assert (offline.late, offline.missing) == (0, 0)
    assert all(u.reports > 0 and u.on_time > 0 for u in found.units)
    [missing] = [o for o in owed if o.missing(NOW)]
    assert missing.unit == unreported.unit
    assert missing.obligation.kind is ObligationKind.INITIAL
    assert missing.title == "南苑路沿街商铺燃气泄漏"
    assert f"{late.unit} {late.name}:" in summary and "1 late" in summary
    assert "1 missing" in summary
