"""The hub's statistics per township: the units' case copies and their reports' timeliness."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from reports.document import Chart, Table
from reports.hub_stats import build_hub_stats_report, compute_hub_stats
from store.clock import FixedClock
from tests.support.domain import OPERATOR
from tests.unit.test_timeliness import RULES, at, deliver, received
from uplink import hub

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 26)


def test_per_township_cases_and_reports(db: Database, clock: FixedClock) -> None:
    for code, name in (("T1", "城关镇"), ("T2", "和平街道")):
        hub.add_unit(db, clock.now(), code, name, operator=OPERATOR)
    clock.set(at(12))
    a = received("T1", "A", at(2)).report(at(2) + timedelta(minutes=20))  # on time
    b = received("T1", "B", at(3)).report(at(4))  # late
    c = received("T2", "C", at(4), "I")  # never reported: missing
    deliver(db, clock, a, b, c)
    stats = compute_hub_stats(db, DAY, DAY, zone=ZONE, rules=RULES, now=clock.now())
    one, two = stats.units
    assert (one.name, one.cases, one.serious, one.open) == ("城关镇", 2, 2, 2)
    assert (one.reports_on_time, one.reports_late, one.reports_missing) == (1, 1, 0)
    assert (two.cases, two.reports_missing) == (1, 1)
    other_day = compute_hub_stats(
        db, DAY + timedelta(days=1), DAY + timedelta(days=1), zone=ZONE, rules=RULES,
        now=clock.now(),
    )  # fmt: skip
    assert [u.cases for u in other_day.units] == [0, 0]
    doc = build_hub_stats_report(stats, now=clock.now())
    table = next(b for b in doc.blocks if isinstance(b, Table))
    assert [r[0] for r in table.rows] == ["城关镇", "和平街道"]
    assert table.marked == frozenset({0, 1})  # T1 50 % on time, T2 a missing report
    assert any(isinstance(b, Chart) and b.percent for b in doc.blocks)
