"""Provides the hub's statistics: the office's figures per township, with each township's
information-report timeliness.

At a county hub the cases are the units' copies (``hub_cases``), read through
:func:`uplink.hub.case_figures`; the reports owed and sent come from
:func:`uplink.timeliness.timeliness` (on time, late, missing 漏报). The period is local days in
the hub's zone, as :mod:`reports.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reports.document import Chart, ChartKind, Document, Figures, Heading, Series, Table
from store.db import Database
from store.errors import InvalidInput
from store.i18n import _, language
from uplink.hub import case_figures, list_units
from uplink.sitrep_rules import SitrepRules
from uplink.timeliness import timeliness


@dataclass(frozen=True)
class TownshipStats:
    unit: str
    name: str
    cases: int
    closed: int
    open: int
    overdue: int
    supervised: int
    serious: int
    avg_handling_h: float | None
    reports_due: int
    reports_on_time: int
    reports_late: int
    reports_missing: int
    reports_on_time_pct: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HubStats:
    start: date
    end: date
    zone: str
    units: tuple[TownshipStats, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "zone": self.zone,
            "units": [u.to_json() for u in self.units],
        }


def compute_hub_stats(
    db: Database, start: date, end: date, *, zone: ZoneInfo, rules: SitrepRules, now: datetime
) -> HubStats:
    """The figures of every registered township for local days ``start``..``end``.

    Raises:
        InvalidInput: the end before the start (field ``to``).
    """
    if end < start:
        raise InvalidInput(_("the end is before the start"), "to")
    lo = datetime.combine(start, time(0), zone).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
    cases = case_figures(db, lo, hi)
    reports = {u.unit: u for u in timeliness(db, rules, lo, hi, now).units}
    out = []
    for unit in list_units(db):
        c = cases.get(unit.code)
        r = reports.get(unit.code)
        out.append(
            TownshipStats(
                unit=unit.code,
                name=unit.name,
                cases=c.cases if c else 0,
                closed=c.closed if c else 0,
                open=c.open if c else 0,
                overdue=c.overdue if c else 0,
                supervised=c.supervised if c else 0,
                serious=c.serious if c else 0,
                avg_handling_h=c.avg_handling_h if c else None,
                reports_due=r.obligations if r else 0,
                reports_on_time=r.on_time if r else 0,
                reports_late=r.late if r else 0,
                reports_missing=r.missing if r else 0,
                reports_on_time_pct=r.on_time_pct if r else None,
            )
        )
    return HubStats(start, end, str(zone), tuple(out))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def build_hub_stats_report(stats: HubStats, *, now: datetime, target: float = 90.0) -> Document:
    """The hub's statistics as a document: totals, one row per township, a chart of the
    information reports on time per township."""
    units = stats.units
    due = sum(u.reports_due for u in units)
    on_time = sum(u.reports_on_time for u in units)
    judged = sum(u.reports_on_time + u.reports_late for u in units) + sum(
        u.reports_missing for u in units
    )
    blocks: list[Any] = [
        Figures(
            (
                (_("townships"), str(len(units)), ""),
                (_("cases"), str(sum(u.cases for u in units)), ""),
                (_("overdue"), str(sum(u.overdue for u in units)), ""),
                (_("reports due"), str(due), ""),
                (_("reports on time"), _pct(100.0 * on_time / judged if judged else None), ""),
                (_("missing reports"), str(sum(u.reports_missing for u in units)), ""),
            )
        ),
        Heading(1, _("Per township")),
        Table(
            (
                _("township"),
                _("cases"),
                _("closed"),
                _("overdue"),
                _("supervised"),
                _("severity I-II"),
                _("reports due"),
                _("on time"),
                _("late"),
                _("missing"),
            ),
            tuple(
                (
                    u.name,
                    str(u.cases),
                    str(u.closed),
                    str(u.overdue),
                    str(u.supervised),
                    str(u.serious),
                    str(u.reports_due),
                    _pct(u.reports_on_time_pct),
                    str(u.reports_late),
                    str(u.reports_missing),
                )
                for u in units
            ),
            align="lrrrrrrrrr",
            marked=frozenset(
                i
                for i, u in enumerate(units)
                if u.reports_missing
                or (u.reports_on_time_pct is not None and u.reports_on_time_pct < target)
            ),
        ),
    ]
    rated = [(u.name, u.reports_on_time_pct) for u in units if u.reports_on_time_pct is not None]
    if rated:
        blocks.append(
            Chart(
                ChartKind.BARH,
                _("Information reports on time per township"),
                series=(Series(_("on time"), tuple((n, float(p)) for n, p in rated)),),
                x_label=_("township"),
                y_label=_("on-time rate"),
                percent=True,
                reference=target,
            )
        )
    period = f"{stats.start.isoformat()} – {stats.end.isoformat()}"
    zone = ZoneInfo(stats.zone)
    return Document(
        kind="hub_stats",
        title=_("Statistics per township {period}").format(period=period),
        blocks=tuple(blocks),
        generated_at=now,
        lang=language(),
        facts=(
            (_("period"), period),
            (_("time zone"), stats.zone),
            (_("generated at"), now.astimezone(zone).strftime("%Y-%m-%d %H:%M")),
        ),
    )
