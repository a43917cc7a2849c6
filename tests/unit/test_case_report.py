"""The post-incident report of one case: its sections, figures, masking, and the golden files.

The goldens are the Markdown and the normalized HTML of the deterministic case of
:mod:`tests.support.case_report`. After a deliberate change, regenerate them and review the diff::

    PYTHONPATH=. .venv/bin/python -c \\
        "from tests.unit.test_case_report import write_goldens as w; w()"
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

from incidents.limits import Policy
from incidents.models import Incident
from incidents.records import timeline
from reports import case as case_report
from reports.case import build_case_report, stage_spans
from reports.document import Callout, Chart, ChartKind, Document, Figures, Heading, Table
from store.clock import FixedClock
from store.db import connect
from tests.support.case_report import build_report_case
from tests.support.domain import START

ZONE = ZoneInfo("Asia/Shanghai")
GOLDENS = Path(__file__).parent.parent / "fixtures" / "reports"


@pytest.fixture
def reported(db: Database, clock: FixedClock, policy: Policy) -> Incident:
    return build_report_case(db, clock, policy)


def _doc(db: Database, clock: FixedClock, policy: Policy, **kw: bool) -> Document:
    return build_case_report(db, 1, now=clock.now(), zone=ZONE, policy=policy, **kw)


def _tables(doc: Document) -> dict[str, Table]:
    """Each table under the heading (or with the caption) that names it."""
    found: dict[str, Table] = {}
    heading = ""
    for block in doc.blocks:
        if isinstance(block, Heading):
            heading = block.text
        elif isinstance(block, Table):
            found[block.caption or heading] = block
    return found


def _text(doc: Document) -> str:
    from reports.render import render

    return render(doc, "md").decode("utf-8")


def test_key_figures_come_first(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    doc = _doc(db, clock, policy)
    assert isinstance(doc.blocks[0], Figures)
    figures = {label: (value, note) for label, value, note in doc.key_figures()}
    assert figures == {
        "Stages on time": ("6/8", ""),
        "Total duration": ("2 d 6 h", ""),
        "Mobilization reached": ("100%", "4 of 4"),
        "Reports on time": ("0/2", ""),
    }
    assert (
        doc.kind == "case"
        and doc.title == f"Post-incident report: {reported.number} 东湖村后山山体滑坡"
    )


def test_stages_against_limits_mark_the_late_ones(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    doc = _doc(db, clock, policy)
    stages = _tables(doc)["Stages against their limits"]
    assert [row[0] for row in stages.rows] == [
        "reported",
        "registered",
        "dispatched",
        "handling",
        "dispatched",
        "handling",
        "feedback",
        "verified",
    ]
    assert stages.marked == frozenset({5, 7})
    # the extension moved the second handling stage's limit from 12 h to 24 h; 6 h late still
    assert stages.rows[5][4:] == ("1 d", "6 h")
    gantt = next(b for b in doc.blocks if isinstance(b, Chart) and b.kind is ChartKind.GANTT)
    assert [s.late for s in gantt.spans] == [i in (5, 7) for i in range(8)]
    assert all(s.start.utcoffset() == ZONE.utcoffset(s.start) for s in gantt.spans)
    text = _text(doc)
    assert "reason: 需地质专家现场核实" in text and "new limit 2026-11-27 13:16" in text


def test_stage_spans_follow_the_timeline(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    spans = stage_spans(reported, timeline(db, reported.id))
    assert spans[0].limit is None  # the first stage's limit needs the policy
    assert spans[-1].end == reported.closed_at
    with_policy = stage_spans(reported, timeline(db, reported.id), policy)
    assert with_policy[0].limit is not None and with_policy[0].limit > with_policy[0].start


def test_mobilization_figures_chart_and_silent_people(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    doc = _doc(db, clock, policy)
    levels = _tables(doc)["Answers per level"]
    assert levels.rows == (
        ("0", "1", "100%", "1", "0", "0", "0"),
        ("1", "3", "100%", "0", "1", "2", "0"),
    )
    line = next(b for b in doc.blocks if isinstance(b, Chart) and b.kind is ChartKind.LINE)
    assert [s.name for s in line.series] == ["yes", "no", "silent"]
    assert [p[1] for p in line.series[2].points] == [4.0, 3.0, 2.0, 2.0]  # held to the end
    assert [p[1] for p in line.series[0].points][-1] == 1.0
    silent = _tables(doc)["Silent"]
    assert [row[0] for row in silent.rows] == ["M1", "V1"]
    figures = [b for b in doc.blocks if isinstance(b, Figures)][1]
    assert ("Time to answer p50 / p90", "3 min / 4 min", "") in figures.items


def test_the_silent_list_is_capped_with_the_rest_counted(
    db: Database,
    clock: FixedClock,
    policy: Policy,
    reported: Incident,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(case_report, "PEOPLE_LIMIT", 1)
    doc = _doc(db, clock, policy)
    (silent,) = [t for name, t in _tables(doc).items() if name.startswith("Silent")]
    assert silent.caption == "Silent (first 1, and 1 more)"
    assert len(silent.rows) == 1


def test_phones_are_masked_unless_asked(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    masked = _text(_doc(db, clock, policy))
    assert "13900139000" not in masked and "139\\*\\*\\*\\*9000" in masked
    assert "13700137000" not in masked and "137\\*\\*\\*\\*7000" in masked
    assert "13800138000" not in masked
    doc = _doc(db, clock, policy, masked=False)
    shown = _text(doc)
    assert "王五 13900139000" in shown and "13700137000" in shown
    assert ("Personal data", "unmasked") in doc.facts and not doc.masked
    assert any(isinstance(b, Callout) for b in doc.blocks)


def test_reports_sent_and_their_timeliness(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    doc = _doc(db, clock, policy)
    sent = _tables(doc)["Reports sent up"]
    assert sent.rows == (("电话报告", "by phone", "2026-11-26 10:32", "A"),)
    timeliness = _tables(doc)["Timeliness"]
    states = [row[3] for row in timeliness.rows]
    assert states[:2] == ["overdue", "overdue"]
    assert timeliness.marked == frozenset({0, 1})


def test_lessons_can_be_left_out(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    with_review = _text(_doc(db, clock, policy))
    assert "夜间巡查应覆盖后山裂缝点" in with_review and "在后山安装位移监测" in with_review
    without = _doc(db, clock, policy, lessons=False)
    assert "Lessons and follow-up actions" not in [
        b.text for b in without.blocks if isinstance(b, Heading)
    ]
    log = _tables(without)["Activity log"]
    assert log.rows[-1][2] == "follow-up action; 在后山安装位移监测"  # still in the log


def test_the_activity_log_has_every_entry(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    doc = _doc(db, clock, policy)
    log = _tables(doc)["Activity log"]
    entries = timeline(db, reported.id)
    assert len(log.rows) == len(entries)
    assert log.rows[2] == ("2026-11-26 10:12", "A", "edited; Level: III → II")
    assert log.rows[3][2] == "dispatched (registered → dispatched); to team:T-RESCUE"


# ---- goldens --------------------------------------------------------------------------------


def _normalized_html(html: str) -> str:
    """The page without what a chart library may vary (the SVG drawing, embedded images) and
    without the stylesheet (the renderers' look, tested by their own tests)."""
    html = re.sub(r"<style>.*?</style>", "<style/>", html, flags=re.S)
    html = re.sub(r"<svg\b.*?</svg>", "<svg/>", html, flags=re.S)
    return re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "data:image", html)


def _golden_outputs() -> dict[str, str]:
    from reports.render import render

    db = connect()
    clock = FixedClock(START)
    policy = Policy()
    build_report_case(db, clock, policy)
    doc = _doc(db, clock, policy)
    db.close()
    return {
        "case.md": render(doc, "md").decode("utf-8"),
        "case.html": _normalized_html(render(doc, "html").decode("utf-8")),
    }


def write_goldens() -> None:
    for name, text in _golden_outputs().items():
        (GOLDENS / name).write_text(text, encoding="utf-8")


def test_the_goldens_match() -> None:
    for name, text in _golden_outputs().items():
        assert text == (GOLDENS / name).read_text(encoding="utf-8"), name


def test_the_sql_reads_agree_with_the_mobilization_summary(
    db: Database, clock: FixedClock, policy: Policy, reported: Incident
) -> None:
    from mobilization import progress

    summary = progress.summary(db, 1, clock.now())
    by_level, p50, p90 = progress.level_counts(db, 1)
    assert {k: v.to_json() for k, v in by_level.items()} == {
        k: v.to_json() for k, v in summary.by_level.items()
    }
    assert (p50, p90) == (pytest.approx(summary.p50_s), pytest.approx(summary.p90_s))
    points = progress.answers_over_time(db, 1)
    assert sum(p.called for p in points) == summary.total.notified
    assert (sum(p.yes for p in points), sum(p.no for p in points)) == (1, 1)
    people, count = progress.people_in(db, 1, ["sent", "no_answer", "escalated"], limit=1)
    assert count == summary.total.silent == 2
    assert [p.name for p in people] == [summary.silent[0].name]
