"""``dutydesk demo --county``: a county hub whose three townships' status has flowed up through
the protocol's own functions, the last one offline (silent at the hub, a backlog at home), and
an orange 暴雨 warning whose 叫应 ran in the other two. Built once for the module (each build
takes seconds); the tests only read it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.config import load_config
from console.demo import COUNTY_TOWNSHIPS, build_county_demo
from incidents.records import ListFilter, list_incidents
from store.db import connect
from uplink import hub
from uplink.models import LinkState
from uplink.status import link_status

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The county demo's directory and summary."""
    folder = tmp_path_factory.mktemp("county")
    return folder, build_county_demo(folder, cases=40, now=NOW)


def test_the_county_sees_two_townships_in_step_and_one_silent(built: tuple[Path, str]) -> None:
    tmp_path, summary = built
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


def test_the_county_sees_one_township_report_late_and_one_case_unreported(
    built: tuple[Path, str],
) -> None:
    from uplink.reporting import ObligationKind
    from uplink.sitrep_rules import SitrepRules
    from uplink.timeliness import obligations, timeliness

    tmp_path, summary = built
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


def test_the_county_sees_the_call_of_its_warning_across_two_townships(
    built: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from console.cli import main
    from console.demo import WARNED
    from uplink import alerts, callanswer

    tmp_path, summary = built
    hub_db = connect(tmp_path / "county.db")
    try:
        [sent] = alerts.list_alerts(hub_db)
        view = hub.alert_view(hub_db, sent.identifier, NOW, timedelta(minutes=15))
        directive = hub_db.conn.execute("SELECT id FROM hub_directives").fetchone()[0]
        directed = hub.directive_view(hub_db, directive, NOW)
    finally:
        hub_db.close()
    assert sent.colour is not None and sent.colour.value == "orange" and sent.event == "暴雨"
    warned = [code for code, _name in COUNTY_TOWNSHIPS[:WARNED]]
    assert sent.area_codes == tuple(warned)
    assert [u.unit for u in view.units] == warned  # the offline township is not in its area
    assert [u.via for u in view.units] == ["push", "poll"]
    for row in view.units:
        assert row.received_at is not None and row.call_state == "started"
        assert row.call_started_at is not None and row.flag is None
        assert row.total > 40 and 0 < row.yes < row.total and row.silent > 0
        assert row.first_answer_at is not None and row.first_answer_at > row.call_started_at
        town = connect(tmp_path / "townships" / f"{row.unit}.db")
        try:
            mine = alerts.get_alert(town, sent.identifier)
            progress = callanswer.call_of(town, mine.id)
        finally:
            town.close()
        assert mine.origin == "received" and mine.call_state == "started"
        assert progress is not None and progress.auto
        assert (progress.counts.yes, progress.counts.total) == (row.yes, row.total)
    assert view.totals["flagged"] == 0 and view.totals["started"] == WARNED
    polling = view.units[1]  # the slower township: its 叫应 still runs, some wait for an answer
    assert polling.waiting_for_s is not None and polling.not_answered > 0
    assert [u.replied_at is not None for u in directed.units] == [True, False]
    assert sent.identifier in summary and "answered yes" in summary

    capsys.readouterr()
    county_args = ["--db", str(tmp_path / "county.db"), "--config", str(tmp_path / "county.toml")]
    main([*county_args, "hub", "alert", sent.identifier, "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert [u["unit"] for u in shown["units"]] == warned
