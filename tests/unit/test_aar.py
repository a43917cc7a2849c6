"""The drill after-action report and improvement plan (AAR/IP), as Markdown and as Word.

The evaluations are built from :mod:`drills.models` records directly (no database): a complete
call-tree run with a trend, an incomplete one, a stopped one and a tabletop run with no call-out.
The Word document is opened again with python-docx and its tables and fonts read back.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drills.models import (
    DrillKind,
    Element,
    Evaluation,
    GroupFigure,
    Hours,
    Improvement,
    ImprovementState,
    Metric,
    Metrics,
    Note,
    NoteKind,
    Objective,
    ObjectiveResult,
    Plan,
    Rating,
    Run,
    RunState,
    SilentOne,
    Trend,
    TrendPoint,
)
from reports.aar import aar_docx, aar_markdown, bar
from reports.render.markdown import md

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Wednesday
NOW = datetime(2026, 4, 20, 2, 0, tzinfo=UTC)
FULL_PHONE = "+8613800138000"

RATE = Objective(1, 1, "网格长10分钟内应答率不低于90%", Metric.ANSWER_RATE, 90, 10, level=1)
REACH = Objective(2, 2, "5分钟内每个网格都有人应答", Metric.REACH, 100, 5)
LOGGED = Objective(3, 3, "值班员3分钟内登记", Metric.MILESTONE, within_min=3, name="case_logged")
FREE = Objective(4, 4, "指挥协调顺畅 | 无遗漏", Metric.FREE)


def make_plan(kind: DrillKind = DrillKind.NOTIFICATION, **changes: object) -> Plan:
    fields: dict[str, object] = {
        "id": 7,
        "code": "CT-MONTHLY",
        "name": "月度叫应演练",
        "kind": kind,
        "scenario": "flood/内涝",
        "scope": ("grid:G01", "grid:G02", "grid:G03"),
        "announced": False,
        "hours": Hours.AFTER,
        "organizer": "wang",
        "evaluators": ("li", FULL_PHONE),
        "participants": (),
        "message": "演练：请回复",
        "tree": "default",
        "reminders_min": (60,),
        "injects": (),
        "objectives": (RATE, REACH, LOGGED, FREE),
        "active": True,
        "created_at": START - timedelta(days=40),
        "created_by": "admin",
        "updated_at": START - timedelta(days=40),
    }
    fields.update(changes)
    return Plan(**fields)  # type: ignore[arg-type]


def make_run(state: RunState = RunState.EVALUATED, **changes: object) -> Run:
    fields: dict[str, object] = {
        "id": 12,
        "plan_id": 7,
        "plan_code": "CT-MONTHLY",
        "plan_name": "月度叫应演练",
        "kind": DrillKind.NOTIFICATION,
        "state": state,
        "started_at": START + timedelta(minutes=12),
        "started_by": "engine",
        "schedule_id": 3,
        "occurrence": START,
        "late_s": 720,
        "mobilization_id": 41,
        "ended_at": START + timedelta(minutes=47),
    }
    fields.update(changes)
    return Run(**fields)  # type: ignore[arg-type]


def call_tree_metrics() -> Metrics:
    return Metrics(
        run_id=12,
        called=40,
        yes=31,
        no=3,
        silent=6,
        first_answer_s=42.0,
        p50_s=250.0,
        p90_s=700.0,
        by_group=(
            GroupFigure("G01", 15, 14, 1, 0, 200.0, 42.0),
            GroupFigure("G02|东", 12, 6, 1, 5, 400.0, 90.0),
            GroupFigure("G03", 13, 11, 1, 1, 260.0, 60.0),
        ),
        by_level=(
            GroupFigure("level 0", 1, 1, 0, 0, 42.0, 42.0),
            GroupFigure("level 1", 39, 30, 3, 6, 255.0, 60.0),
        ),
        never_answered=(
            SilentOne(101, "张三", "G02", "138****8001"),
            SilentOne(102, "李*四|", "G02", "+8613900139002"),  # unmasked by mistake: masked here
        ),
        milestones={"case_logged": 2.5},
    )


def results(*, rated: bool) -> tuple[ObjectiveResult, ...]:
    at = START + timedelta(hours=2)
    by = "li" if rated else None
    return (
        ObjectiveResult(RATE, 76.9, Rating.M, Rating.M if rated else None, None, by, at),
        ObjectiveResult(
            REACH,
            100.0,
            Rating.P,
            Rating.S if rated else None,
            "G02 只有1人应答" if rated else None,
            by,
            at,
        ),
        ObjectiveResult(LOGGED, 2.5, Rating.P, Rating.P if rated else None, None, by, at),
        ObjectiveResult(FREE, None, None, Rating.S if rated else None, "协调有延迟", by, at),
    )


def notes() -> tuple[Note, ...]:
    return (
        Note(
            1, 12, NoteKind.OBSERVATION, START + timedelta(minutes=20), "li", "G02 网格长手机关机"
        ),
        Note(2, 12, NoteKind.STRENGTH, START + timedelta(minutes=15), "li", "值班员登记迅速 *好*"),
        Note(
            3,
            12,
            NoteKind.OBSERVATION,
            START + timedelta(minutes=30),
            "li",
            "G02 应答率低 <script>",
            objective_id=1,
        ),
    )


def improvements() -> tuple[Improvement, ...]:
    common = {
        "plan_id": 7,
        "plan_code": "CT-MONTHLY",
        "created_at": START + timedelta(hours=3),
        "created_by": "li",
    }
    return (
        Improvement(
            id=5,
            run_id=12,
            objective_id=1,
            issue="G02 网格长未应答",
            action="更新G02通讯录并培训 | 复核",
            element=Element.TRAINING,
            owner="zhao",
            owner_name="赵网格长",
            due=START + timedelta(days=14),
            state=ImprovementState.OPEN,
            **common,  # type: ignore[arg-type]
        ),
        Improvement(
            id=6,
            run_id=12,
            objective_id=None,
            issue="备用手机电量不足",
            action="配备充电宝",
            element=Element.EQUIPMENT,
            owner="qian",
            owner_name="钱主任",
            due=NOW + timedelta(days=10),
            state=ImprovementState.DONE,
            **common,  # type: ignore[arg-type]
        ),
    )


def complete() -> Evaluation:
    return Evaluation(
        make_run(),
        make_plan(),
        call_tree_metrics(),
        results(rated=True),
        notes(),
        improvements(),
    )


def incomplete() -> Evaluation:
    return Evaluation(
        make_run(RunState.ENDED, late_s=0),
        make_plan(),
        call_tree_metrics(),
        results(rated=False),
        (),
        (),
    )


def stopped() -> Evaluation:
    return Evaluation(
        make_run(RunState.STOPPED, stop_reason="真实汛情：河道超警戒", late_s=0),
        make_plan(),
        Metrics(run_id=12, called=40, yes=5, no=0, silent=35),
        results(rated=False),
        (),
        (),
    )


def tabletop() -> Evaluation:
    plan = make_plan(
        DrillKind.TABLETOP,
        code="TT-FLOOD",
        name="防汛桌面推演",
        scope=(),
        announced=True,
        hours=Hours.WORKING,
        objectives=(LOGGED, FREE),
    )
    return Evaluation(
        make_run(
            RunState.EVALUATED,
            kind=DrillKind.TABLETOP,
            mobilization_id=None,
            schedule_id=None,
            occurrence=None,
            late_s=0,
            started_by="operator1",
        ),
        plan,
        Metrics(run_id=12, milestones={"case_logged": 4.0}),
        (
            ObjectiveResult(LOGGED, 4.0, Rating.M, Rating.M, None, "li", NOW),
            ObjectiveResult(FREE, None, None, Rating.P, None, "li", NOW),
        ),
        (Note(9, 12, NoteKind.STRENGTH, START + timedelta(minutes=30), "li", "推演组织有序"),),
        (),
    )


def a_trend() -> Trend:
    return Trend(
        make_plan(),
        (
            TrendPoint(10, START - timedelta(days=56), 40, 60.0, 500.0, 12, 0, {1: "U", 2: "M"}),
            TrendPoint(11, START - timedelta(days=28), 40, 70.0, 320.0, 9, 7, {1: "M", 2: "S"}),
            TrendPoint(12, START, 40, 77.5, 250.0, 6, 4, {1: "M", 2: "S", 3: "P", 4: "S"}),
        ),
        (SilentOne(101, "张三", "G02", "138****8001"), SilentOne(103, "周五", "G03", FULL_PHONE)),
    )


def section(text: str, number: int) -> str:
    """The Markdown of section ``number`` (from its heading to the next one)."""
    match = re.search(rf"^## {number} .*?(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section {number}"
    return match.group(0)


def md_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (split at unescaped pipes)."""
    return [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


# ------------------------------------------------------------------------------- Markdown


def test_complete_report_has_every_section_in_order() -> None:
    text = aar_markdown(complete(), a_trend(), ZONE, now=NOW)
    headings = re.findall(r"^## (\d) ", text, re.M)
    assert headings == [str(n) for n in range(1, 10)]
    assert text.startswith("# 演练评估报告与改进计划 After-Action Report")
    assert "DRAFT" not in text


def test_overview_names_the_kind_time_late_start_and_people() -> None:
    text = section(aar_markdown(complete(), a_trend(), ZONE, now=NOW), 1)
    assert "通信联络 call-tree" in text
    assert "2026-03-04 周三 Wed 09:12 (Asia/Shanghai)" in text  # started, in the zone
    assert "计划时间 Scheduled | 2026-03-04 周三 Wed 09:00" in text
    assert "推迟 12 分钟 started 12 min late" in text
    assert "不预先通知 unannounced" in text
    assert "非工作时间 after hours" in text
    assert "35.0 min" in text  # 09:12 to 09:47
    assert "已评估 evaluated" in text
    assert "schedule #3" in text
    assert FULL_PHONE not in text and "138\\*\\*\\*\\*8000" in text  # an evaluator keyed by phone


def test_objectives_table_shows_measure_value_ratings_and_reason() -> None:
    text = section(aar_markdown(complete(), a_trend(), ZONE, now=NOW), 2)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 4  # header, rule, four objectives
    rate = rows[2]
    assert "≥ 90 % answer yes within 10 min (level 1)" in rate
    assert "76.9 %" in rate and "M 有重大挑战完成" in rate
    reach = rows[3]
    assert "P 无挑战完成" in reach and "S 有一定挑战完成" in reach and "G02 只有1人应答" in reach
    assert "2.5 min" in rows[4]
    assert "指挥协调顺畅 \\| 无遗漏" in rows[5]  # the pipe in user text escaped
    assert "评估人评定 rated by the evaluator" in rows[5]
    assert all(len(cells) == 7 for cells in md_rows(text))  # none broken by a pipe
    assert "performed with major challenges" in text  # the legend


def test_incomplete_report_is_a_draft_with_objectives_to_rate() -> None:
    text = aar_markdown(incomplete(), None, ZONE, now=NOW)
    assert "DRAFT: 4 objective(s) still to be rated" in text
    objectives = section(text, 2)
    assert objectives.count("待评定 to rate") == 4
    assert "4 项待评定 4 to rate" in section(text, 1)
    areas = section(text, 6)  # not met on the proposal alone: the answer rate (M)
    assert "目标 Objective 1" in areas and "proposed" in areas
    assert "目标 Objective 2" not in areas
    assert "No other runs to compare yet." in section(text, 8)
    assert "尚无" not in text


def test_figures_per_grid_are_worst_first_and_levels_follow() -> None:
    text = section(aar_markdown(complete(), None, ZONE, now=NOW), 3)
    assert "| 呼叫人数 Called | 40 |" in text
    assert "| 应答率（能到） Answer rate (yes) | 77.5 % |" in text
    assert "42 s" in text and "4.2 min" in text and "11.7 min" in text
    grids = [row[0] for row in md_rows(text) if row[0].startswith("G0")]
    assert grids == ["G02\\|东", "G03", "G01"]  # 50 %, 84.6 %, 93.3 %
    assert text.index("By level") > text.index("By grid")
    assert "| 第1级 level 1 | 39 | 30 | 3 | 6 | 76.9 % |" in text
    assert "| case\\_logged | 2.5 min |" in text


def test_never_answered_shows_masked_phones_only() -> None:
    text = aar_markdown(complete(), a_trend(), ZONE, now=NOW)
    silent = section(text, 4)
    assert "Never answered: 2; phones masked." in silent
    assert "| 张三 | G02 | 138\\*\\*\\*\\*8001 |" in silent
    assert "139\\*\\*\\*\\*9002" in silent
    assert "李\\*四\\|" in silent  # a name with markup characters stays one cell
    assert not re.search(r"1[3-9]\d{9}", text)  # no full mobile number anywhere
    assert FULL_PHONE not in text


def test_phone_numbers_in_operators_and_free_text_are_masked() -> None:
    ev = complete()
    rated = tuple(
        ObjectiveResult(r.objective, r.value, r.proposed, r.rating, r.reason, "17000000004", NOW)
        for r in ev.results
    )
    said = "G02 网格长 13900139000 关机，备用 +86 139-0013-9001"
    note = Note(1, 12, NoteKind.OBSERVATION, START + timedelta(minutes=20), "13700137000", said)
    ev = Evaluation(ev.run, ev.plan, ev.metrics, rated, (note,), ev.improvements)
    for text in (
        aar_markdown(ev, None, ZONE, now=NOW).replace("\\*", "*"),
        "\n".join(p.text for p in open_docx(aar_docx(ev, None, ZONE, now=NOW)).paragraphs),
    ):
        assert not re.search(r"1[3-9]\d[ -]?\d{4}[ -]?\d{4}", text)
        assert "139****9000 关机，备用 139****9001 (137****7000)" in text
    assert "评定人 Rated by | 170\\*\\*\\*\\*0004" in aar_markdown(ev, None, ZONE, now=NOW)


def test_notes_have_local_times_and_are_escaped() -> None:
    text = section(aar_markdown(complete(), None, ZONE, now=NOW), 5)
    strengths, observations = text.split("Observations")
    assert "**09:15 (+3 min)** 值班员登记迅速 \\*好\\* (li)" in strengths
    assert "09:20 (+8 min)" in observations and "09:30 (+18 min)" in observations
    assert observations.index("09:20") < observations.index("09:30")
    assert "[目标 Objective 1]" in observations.replace("\\[", "[").replace("\\]", "]")
    assert "\\<script\\>" in observations and "<script>" not in observations


def test_areas_for_improvement_and_the_plan_matrix() -> None:
    text = aar_markdown(complete(), None, ZONE, now=NOW)
    areas = section(text, 6)
    assert "目标 Objective 1" in areas and "M 有重大挑战完成" in areas
    assert "G02 网格长未应答" in areas  # the improvement raised on it
    assert "G02 应答率低" in areas  # the observation on that objective
    assert "Objective 2" not in areas  # rated S: met
    assert "改进项 Item 6" in areas and "备用手机电量不足" in areas
    plan = section(text, 7)
    rows = [line for line in plan.splitlines() if line.startswith("| ")]
    assert rows[2].startswith(
        "| 5 | G02 网格长未应答 | 更新G02通讯录并培训 \\| 复核 | 培训 training"
    )
    assert "赵网格长" in rows[2] and "2026-03-18" in rows[2]
    assert "待整改 to fix ⚠ 逾期 overdue" in rows[2]
    assert "待复测 awaiting retest" in rows[3] and "逾期" not in rows[3]
    assert "1 项已逾期 1 item(s) overdue" in plan


def test_trend_has_bars_current_run_and_people_silent_twice() -> None:
    text = section(aar_markdown(complete(), a_trend(), ZONE, now=NOW), 8)
    rows = [line for line in text.splitlines() if line.startswith("| #") or "▶" in line]
    assert [r.split(" | ")[0] for r in rows[:3]] == ["| #10", "| #11", "| ▶ #12"]
    assert "██████░░░░ 60.0 %" in rows[0]
    assert "███████▊░░ 77.5 %" in rows[2]
    assert "1:M 2:S 3:P 4:S" in rows[2] and "1:U 2:M 3:— 4:—" in rows[0]
    twice = text.split("Missed two drills in a row")[1]
    assert "Silent in the plan's last two runs (#11、#12)." in twice
    assert "张三" in twice and "周五" in twice and "138\\*\\*\\*\\*8000" in twice


def test_stopped_run_says_why() -> None:
    text = aar_markdown(stopped(), None, ZONE, now=NOW)
    assert "> **演练已中止 The drill was stopped: 真实汛情：河道超警戒**" in text
    overview = section(text, 1)
    assert "已中止 stopped" in overview
    assert "中止原因 Stopped because | 真实汛情：河道超警戒" in overview
    assert "推迟" not in overview
    assert "| 未应答 Silent | 35 |" in section(text, 3)


def test_running_run_and_a_start_late_by_seconds() -> None:
    ev = incomplete()
    running = Evaluation(
        make_run(RunState.RUNNING, ended_at=None, late_s=45),
        ev.plan,
        ev.metrics,
        ev.results,
        (),
        (),
    )
    text = aar_markdown(running, None, ZONE, now=NOW)
    assert "> **演练进行中，数据尚未最终确定 The drill is still running" in text
    overview = section(text, 1)
    assert "时长 Duration | 进行中 running" in overview
    assert "Late start" not in overview and "Ended" not in overview


def test_tabletop_run_without_call_out() -> None:
    text = aar_markdown(tabletop(), None, ZONE, now=NOW)
    overview = section(text, 1)
    assert "桌面推演 tabletop" in overview and "预先通知 announced" in overview
    assert "范围 Scope | —" in overview and "手动 started by hand" in overview
    assert "Scheduled" not in overview and "Mobilization" not in overview
    figures = section(text, 3)
    assert "本次演练未发起呼叫 No call-out in this run (桌面推演 tabletop)" in figures
    assert "Called" not in figures and "| case\\_logged | 4.0 min |" in figures
    assert "Nobody." in section(text, 4)
    assert "None noted." in section(text, 5)  # no observations
    assert "No improvement items." in section(text, 7)


def test_sign_off_lines_for_each_evaluator_and_the_office_head() -> None:
    text = section(aar_markdown(complete(), None, ZONE, now=NOW), 9)
    assert "| 评估人 Evaluator | li |" in text
    assert "| 评估人 Evaluator | 138\\*\\*\\*\\*8000 |" in text
    assert "| 办公室负责人 Office head |" in text


@pytest.mark.parametrize("make", [complete, incomplete, stopped, tabletop])
def test_markdown_renders_as_meant(make) -> None:  # type: ignore[no-untyped-def]
    """Through a CommonMark parser with tables: user text stays text, every row keeps its
    cells, and the headings are exactly the report's."""
    from markdown_it import MarkdownIt

    text = aar_markdown(make(), a_trend(), ZONE, now=NOW)
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script>" not in html and "<em>" not in html
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        widths = {
            len(re.findall(r"<t[hd][ >]", row)) for row in re.findall(r"<tr>.*?</tr>", table, re.S)
        }
        assert len(widths) == 1, table
    assert len(re.findall(r"<h2>", html)) == 9 and len(re.findall(r"<h1>", html)) == 1
    if make is complete:
        assert "<td>李*四|</td>" in html and "<td>138****8001</td>" in html
        assert "G02 应答率低 &lt;script&gt;" in html


def test_markdown_escape_makes_markup_inert() -> None:
    assert md("a|b") == "a\\|b"
    assert md("**x** _y_ [l](u) <b> # h") == "\\*\\*x\\*\\* \\_y\\_ \\[l\\](u) \\<b\\> # h"
    assert md("# h") == "\\# h" and md("1. a") == "1\\. a" and md("- x") == "\\- x"
    assert md("4.0 min") == "4.0 min" and md("#10") == "#10"
    assert md("two\nlines\r\n  here") == "two lines here"


def test_user_text_with_line_breaks_and_control_characters() -> None:
    ev = complete()
    odd = "第一行\n\n# 第二行\x07 | end\x00"
    ev = Evaluation(
        ev.run,
        ev.plan,
        ev.metrics,
        ev.results,
        (Note(1, 12, NoteKind.STRENGTH, START + timedelta(minutes=20), "li", odd),),
        ev.improvements,
    )
    text = section(aar_markdown(ev, None, ZONE, now=NOW), 5)
    assert "第一行 # 第二行 \\| end (li)" in text
    assert "\x07" not in text and "\x00" not in text
    doc = open_docx(aar_docx(ev, None, ZONE, now=NOW))
    items = [p.text for p in doc.paragraphs if p.style.name == "List Bullet"]
    assert "09:20 (+8 min) 第一行 # 第二行 | end (li)" in items


def test_the_system_clock_dates_the_report_when_no_time_is_given() -> None:
    text = aar_markdown(complete(), None, ZONE)
    generated = re.search(r"生成时间 Generated \| (\d{4}-\d\d-\d\d)", text)
    assert generated and generated.group(1) == datetime.now(ZONE).strftime("%Y-%m-%d")


def test_bar_fills_eighths() -> None:
    assert bar(0) == "░" * 10 + " 0.0 %"
    assert bar(100) == "█" * 10 + " 100.0 %"
    assert bar(45) == "████▌░░░░░ 45.0 %"
    assert bar(130).startswith("█" * 10)


# ------------------------------------------------------------------------------- Word


def open_docx(data: bytes):  # type: ignore[no-untyped-def]
    import docx

    return docx.Document(io.BytesIO(data))


def cell_texts(table) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[cell.text for cell in row.cells] for row in table.rows]


def test_docx_has_the_sections_and_real_tables() -> None:
    doc = open_docx(aar_docx(complete(), a_trend(), ZONE, now=NOW))
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert [h.split()[0] for h in headings] == [str(n) for n in range(1, 10)]
    assert doc.paragraphs[0].style.name == "Title"
    assert doc.paragraphs[0].text.startswith("演练评估报告与改进计划")
    tables = [cell_texts(t) for t in doc.tables]
    by_header = {t[0][0]: t for t in reversed(tables)}  # the first table of each header
    objectives = by_header["#"]
    assert objectives[0][1] == "目标 Objective"
    assert objectives[1][3] == "76.9 %" and objectives[1][5] == "M 有重大挑战完成"
    assert objectives[4][1] == "指挥协调顺畅 | 无遗漏"  # no Markdown escaping in Word
    grid = by_header["网格 Grid"]
    assert [row[0] for row in grid[1:]] == ["G02|东", "G03", "G01"]
    silent = [t for t in tables if t[0] == ["姓名 Name", "节点 Node", "电话 Phone"]][0]
    assert silent[1] == ["张三", "G02", "138****8001"]
    assert silent[2][2] == "139****9002"
    plan = [t for t in tables if t[0][1:2] == ["问题 Issue"]][0]
    assert plan[1][6] == "待整改 to fix ⚠ 逾期 overdue"
    trend = by_header["演练 Run"]
    assert trend[3][0] == "▶ #12" and trend[3][3] == "███████▊░░ 77.5 %"
    sign = by_header["角色 Role"]
    assert [row[0] for row in sign[1:]] == ["评估人 Evaluator"] * 2 + ["办公室负责人 Office head"]
    everything = "\n".join(p.text for p in doc.paragraphs) + str(tables)
    assert not re.search(r"1[3-9]\d{9}", everything)


def test_docx_header_rows_repeat_and_are_shaded() -> None:
    from docx.oxml.ns import qn

    doc = open_docx(aar_docx(complete(), a_trend(), ZONE, now=NOW))
    for table in doc.tables:
        first = table.rows[0]._tr
        assert first.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
        shading = first.tc_lst[0].find(f"{qn('w:tcPr')}/{qn('w:shd')}")
        assert shading is not None and shading.get(qn("w:fill")) == "D9D9D9"


def test_docx_is_a4_portrait_with_east_asian_fonts() -> None:
    from docx.oxml.ns import qn
    from docx.shared import Cm

    doc = open_docx(aar_docx(incomplete(), None, ZONE, now=NOW))
    section = doc.sections[0]
    assert abs(section.page_width - Cm(21.0)) < Cm(0.01)
    assert abs(section.page_height - Cm(29.7)) < Cm(0.01)
    assert section.page_width < section.page_height
    normal = doc.styles["Normal"].element.rPr
    assert normal.rFonts.get(qn("w:eastAsia")) == "SimSun"
    assert normal.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"
    heading = doc.styles["Heading 1"].element.rPr.rFonts
    assert heading.get(qn("w:eastAsia")) == "SimHei"
    assert heading.get(qn("w:eastAsiaTheme")) is None  # a theme font would override ours
    runs = [r for p in doc.paragraphs for r in p.runs if r.text.strip()]
    runs += [r for t in doc.tables for c in t._cells for p in c.paragraphs for r in p.runs]
    assert runs  # none names another East Asian font than the styles' (theirs apply)
    own = {
        fonts.get(qn("w:eastAsia"))
        for r in runs
        if (fonts := r._element.find(f"{qn('w:rPr')}/{qn('w:rFonts')}")) is not None
    }
    assert own <= {None, "SimSun", "SimHei"}
    draft = [p for p in doc.paragraphs if "DRAFT" in p.text]
    assert draft and draft[0].runs[0].bold
    assert doc.core_properties.title.endswith("月度叫应演练 #12")
    assert "PAGE" in section.footer._element.xml


def test_docx_long_lists_keep_every_row_and_its_format() -> None:
    from docx.oxml.ns import qn

    ev = complete()
    many = tuple(SilentOne(i, f"人{i:03d}", "G09", "138****0000") for i in range(300))
    metrics = Metrics(run_id=12, called=300, silent=300, never_answered=many)
    ev = Evaluation(ev.run, ev.plan, metrics, ev.results, ev.notes, ev.improvements)
    doc = open_docx(aar_docx(ev, None, ZONE, now=NOW))
    silent = [t for t in doc.tables if t.rows[0].cells[0].text == "姓名 Name"][0]
    rows = cell_texts(silent)
    assert len(rows) == 301
    assert rows[1] == ["人000", "G09", "138****0000"] and rows[-1][0] == "人299"
    last = silent.rows[-1]._tr
    assert last.find(f"{qn('w:trPr')}/{qn('w:cantSplit')}") is not None
    assert last.find(f".//{qn('w:keepNext')}") is None  # a long table may break across pages
    assert silent.rows[1]._tr.find(f".//{qn('w:keepNext')}") is None
    assert last.find(f".//{qn('w:rFonts')}") is None  # the Normal style's fonts apply (SimSun)
    short = doc.tables[1]  # the objectives: kept on one page, each row with the next
    assert short.rows[0].cells[1].text == "目标 Objective" and len(short.rows) == 5
    assert all(r._tr.find(f".//{qn('w:keepNext')}") is not None for r in short.rows[:-1])
    assert short.rows[-1]._tr.find(f".//{qn('w:keepNext')}") is None


def test_docx_of_a_stopped_and_a_tabletop_run() -> None:
    stopped_doc = open_docx(aar_docx(stopped(), None, ZONE, now=NOW))
    texts = [p.text for p in stopped_doc.paragraphs]
    assert any(t.startswith("演练已中止 The drill was stopped: 真实汛情") for t in texts)
    tabletop_doc = open_docx(aar_docx(tabletop(), None, ZONE, now=NOW))
    texts = [p.text for p in tabletop_doc.paragraphs]
    assert any(t.startswith("本次演练未发起呼叫") for t in texts)
    overview = cell_texts(tabletop_doc.tables[0])
    assert ["演练类型 Kind", "桌面推演 tabletop"] in overview


def test_python_docx_is_not_imported_until_a_document_is_made() -> None:
    probe = "import reports.aar, sys; print('docx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("make", [complete, incomplete, stopped, tabletop])
def test_both_formats_hold_the_same_headings(make) -> None:  # type: ignore[no-untyped-def]
    ev = make()
    text = aar_markdown(ev, a_trend(), ZONE, now=NOW)
    doc = open_docx(aar_docx(ev, a_trend(), ZONE, now=NOW))
    md_headings = [
        line.lstrip("#").strip().replace("\\", "")
        for line in text.splitlines()
        if line.startswith("#")
    ]
    doc_headings = [p.text for p in doc.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    assert md_headings == doc_headings


def test_people_known_by_name_are_shown_by_name_not_by_key() -> None:
    from dataclasses import replace

    ev = complete()
    named = replace(ev, names={ev.plan.organizer: "王伟", ev.plan.evaluators[0]: "陈队长"})
    text = aar_markdown(named, None, ZONE)
    overview = section(text, 1)
    assert "王伟" in overview and "陈队长" in overview
    assert ev.plan.organizer not in overview
    assert "陈队长" in section(text, 9)  # the evaluator's sign-off line
