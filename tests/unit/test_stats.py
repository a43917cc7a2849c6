"""The office's statistics: counts, the closed-loop evaluation rules, the trend, the document."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

from incidents import workflow
from incidents.limits import Policy
from incidents.models import Stage
from incidents.records import NewIncident, create_incident
from reports.document import Chart, ChartKind, Figures, Table
from reports.render import render
from reports.stats import build_stats_report, compute_stats, previous_period
from store.clock import FixedClock
from store.db import connect
from store.errors import InvalidInput
from store.i18n import set_language
from tests.conftest import OPERATOR, walk_to

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 26)  # the fixed clock's local day


def test_counts_and_on_time_rates(db, clock, policy, make_case):
    make_case(Stage.CLOSED)  # every move at once: on time
    late = make_case(Stage.REPORTED, category="dispute", source="hotline")
    walk_to(db, clock, policy, late.id, Stage.DISPATCHED)
    clock.advance(days=30)  # far past the dispatched stage's limit
    workflow.handle(db, clock, policy, OPERATOR, late.id)
    workflow.return_case(db, clock, policy, OPERATOR, late.id, "wrong grid")
    stats = compute_stats(db, DAY, DAY, zone=ZONE)
    assert stats.cases == 2
    assert dict(stats.per_category) == {"accident_disaster": 1, "dispute": 1}
    assert dict(stats.per_source)["hotline"] == 1
    handling = next(s for s in stats.stages if s.key == "handling")
    assert handling.moves > handling.on_time  # the late move out of dispatched
    assert stats.overdue == 1
    assert stats.returned == 1 and stats.return_rate == 50.0
    assert stats.closed == 1 and stats.avg_handling_h == 0.0
    assert stats.to_json()["per_day"] == {DAY.isoformat(): 2}


def test_period_is_local_days(db, clock, make_case):
    make_case()
    assert compute_stats(db, DAY, DAY, zone=ZONE).cases == 1
    assert compute_stats(db, DAY + timedelta(days=1), DAY + timedelta(days=2), zone=ZONE).cases == 0


def test_split_by_category(db, make_case):
    make_case(Stage.CLOSED)
    make_case(Stage.REGISTERED, category="dispute")
    stats = compute_stats(db, DAY, DAY, by="category", zone=ZONE)
    assert [g.key for g in stats.groups] == ["accident_disaster", "dispute"]
    assert sum(g.cases for g in stats.groups) == 2


def test_refusals(db):
    with pytest.raises(InvalidInput) as err:
        compute_stats(db, DAY, DAY - timedelta(days=1), zone=ZONE)
    assert err.value.field == "to"
    with pytest.raises(InvalidInput) as err:
        compute_stats(db, DAY, DAY, by="street", zone=ZONE)
    assert err.value.field == "by"


def test_previous_period_same_length():
    assert previous_period(date(2026, 11, 1), date(2026, 11, 30)) == (
        date(2026, 10, 2),
        date(2026, 10, 31),
    )


def test_document_has_figures_trend_and_charts(db, clock, make_case):
    make_case(Stage.CLOSED)
    stats = compute_stats(db, DAY, DAY, zone=ZONE)
    before = compute_stats(db, *previous_period(DAY, DAY), zone=ZONE)
    doc = build_stats_report(stats, before, now=clock.now())
    assert doc.kind == "stats"
    figures = doc.blocks[0]
    assert isinstance(figures, Figures)
    assert figures.items[0][:2] == ("cases", "1")
    assert figures.items[0][2] == "↑ +1"
    kinds = [b.kind for b in doc.blocks if isinstance(b, Chart)]
    assert kinds == [ChartKind.BAR, ChartKind.BARH]
    assert any(isinstance(b, Table) and b.header[0] == "stage" for b in doc.blocks)


GOLDENS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"


def office_month(db: Database, clock: FixedClock) -> None:
    """Three cases over two days in two categories: one closed on time, one returned and
    late, one still registered; and one case the day before (the previous period)."""
    policy = Policy()

    def case(title: str, category: str, type_: str, **kw: object) -> int:
        return create_incident(
            db, clock, policy, OPERATOR,
            NewIncident(title=title, category=category, type=type_, **kw),  # type: ignore[arg-type]
        ).id  # fmt: skip

    clock.advance(days=-1)
    case("旧案", "dispute", "other")
    clock.advance(days=1)
    fire = case("3号楼火灾", "accident_disaster", "fire")
    walk_to(db, clock, policy, fire, Stage.CLOSED)
    dispute = case("幸福社区物业纠纷", "dispute", "other", source="hotline")
    walk_to(db, clock, policy, dispute, Stage.DISPATCHED)
    clock.advance(days=3)
    workflow.handle(db, clock, policy, OPERATOR, dispute)
    workflow.return_case(db, clock, policy, OPERATOR, dispute, "派错网格")
    clock.set(datetime.combine(DAY + timedelta(days=1), time(9), ZONE))
    case("南苑社区山体滑坡隐患", "natural_disaster", "other", severity=2, source="grid_patrol")


def test_golden_markdown(db, clock) -> None:
    """The statistics of :func:`office_month` for two days against the two before, --by category.

    Regenerate (after checking the difference is wanted) from the repository root::

        .venv/bin/python -c "from tests.unit.test_stats import regenerate; regenerate()"
    """
    assert golden_doc(db, clock) == (GOLDENS / "stats.md").read_text(encoding="utf-8")


def golden_doc(db: Database, clock: FixedClock) -> str:
    office_month(db, clock)
    end = DAY + timedelta(days=1)
    stats = compute_stats(db, DAY, end, by="category", zone=ZONE, policy=Policy())
    before = compute_stats(db, *previous_period(DAY, end), zone=ZONE, policy=Policy())
    return render(build_stats_report(stats, before, now=clock.now()), "md").decode("utf-8")


def regenerate() -> None:
    """Rewrite the statistics golden (see :func:`test_golden_markdown`)."""
    from tests.support.domain import START

    set_language("en")
    text = golden_doc(connect(), FixedClock(START))
    (GOLDENS / "stats.md").write_text(text, encoding="utf-8")


def test_registration_judged_with_the_policy(db, clock, policy, make_case):
    late = make_case()
    clock.advance(days=30)
    workflow.register(db, clock, policy, OPERATOR, late.id)
    without = compute_stats(db, DAY, DAY, zone=ZONE)
    judged = compute_stats(db, DAY, DAY, zone=ZONE, policy=policy)
    assert without.stages[0].moves == 0
    assert (judged.stages[0].moves, judged.stages[0].on_time) == (1, 0)
    assert judged.overdue == 1
