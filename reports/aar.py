"""Provides the drill after-action report and improvement plan (AAR/IP) as a report document.

HSEEP's AAR/IP for one run of a drill plan: the overview, the objectives with their measured
values and P/S/M/U ratings, the call-out figures (per grid worst first, per level), who never
answered (phones masked), strengths and observations, the areas for improvement, the improvement
plan matrix, the trend across the plan's runs and the sign-off lines. The office prints it, so
headings and words are fixed bilingual, Chinese first with the English beside it (the English
words are the models' own; only :meth:`~drills.models.Objective.describe` follows the process
language). :func:`aar_document` builds it as a :class:`reports.document.Document`; the common
renderers (:mod:`reports.render`) make every format of it, so they hold the same sections.

Personal data stays masked: people's keys and operators that are phone numbers, the never
answered and the twice silent, and mainland mobile numbers written into notes and reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from contacts.phones import mask_phone, shown_key
from drills.models import (
    DRILL_KIND_NAMES,
    ELEMENT_NAMES,
    HOURS_NAMES,
    IMPROVEMENT_STATE_NAMES,
    RATING_NAMES,
    RUN_STATE_NAMES,
    DrillKind,
    Element,
    Evaluation,
    GroupFigure,
    Hours,
    Improvement,
    ImprovementState,
    Metric,
    Note,
    NoteKind,
    ObjectiveResult,
    Rating,
    RunState,
    SilentOne,
    Trend,
)
from reports.document import Block, Callout, Document, Heading, Items, Para, Table
from reports.render import render
from store.clock import SystemClock

TITLE = "演练评估报告与改进计划 After-Action Report and Improvement Plan (AAR/IP)"
NONE = "—"
TO_RATE = "待评定 to rate"
BAR_CELLS = 10
_PARTIAL = " ▏▎▍▌▋▊▉"
WEEKDAYS = ("周一 Mon", "周二 Tue", "周三 Wed", "周四 Thu", "周五 Fri", "周六 Sat", "周日 Sun")

# The Chinese words beside the models' English ones (one owner of the English: the models).
KIND_ZH = {kind: kind.label_zh for kind in DrillKind}
HOURS_ZH = {Hours.ANY: "不限时段", Hours.WORKING: "工作时间", Hours.AFTER: "非工作时间"}
RATING_ZH = {
    Rating.P: "无挑战完成",
    Rating.S: "有一定挑战完成",
    Rating.M: "有重大挑战完成",
    Rating.U: "未能完成",
}
RUN_STATE_ZH = {
    RunState.RUNNING: "进行中",
    RunState.ENDED: "已结束",
    RunState.STOPPED: "已中止",
    RunState.EVALUATED: "已评估",
}
ELEMENT_ZH = {
    Element.PLANNING: "预案",
    Element.ORGANIZATION: "组织",
    Element.EQUIPMENT: "装备",
    Element.TRAINING: "培训",
    Element.EXERCISE: "演练",
}
IMPROVEMENT_STATE_ZH = {
    ImprovementState.OPEN: "待整改",
    ImprovementState.DONE: "待复测",
    ImprovementState.CLOSED: "已复测关闭",
}


# ------------------------------------------------------------------------------- words


def _both(zh: str, en: str) -> str:
    return f"{zh} {en}"


def kind_words(kind: DrillKind) -> str:
    return _both(KIND_ZH[kind], DRILL_KIND_NAMES[kind])


def rating_words(rating: Rating | None) -> str:
    """``"S 有一定挑战完成"``; the English is in the legend under the table."""
    return TO_RATE if rating is None else f"{rating.value} {RATING_ZH[rating]}"


def element_words(element: Element) -> str:
    return _both(ELEMENT_ZH[element], ELEMENT_NAMES[element])


def improvement_state_words(item: Improvement, now: datetime) -> str:
    words = _both(IMPROVEMENT_STATE_ZH[item.state], IMPROVEMENT_STATE_NAMES[item.state])
    if item.state is ImprovementState.CLOSED and item.closed_by_run is not None:
        words += f" (#{item.closed_by_run})"
    if item.overdue(now):
        words += " ⚠ 逾期 overdue"
    return words


def local(at: datetime, zone: ZoneInfo) -> str:
    """``2026-03-04 周三 Wed 09:00``."""
    there = at.astimezone(zone)
    return f"{there:%Y-%m-%d} {WEEKDAYS[there.weekday()]} {there:%H:%M}"


def local_date(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%Y-%m-%d}"


def seconds(value: float | None) -> str:
    """A time to answer: ``45 s``, ``4.2 min``, ``1 h 05 min``; ``—`` when there is none."""
    if value is None:
        return NONE
    if value < 60:
        return f"{value:.0f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    hours, rest = divmod(round(value / 60), 60)
    return f"{hours} h {rest:02d} min"


def duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return _both(RUN_STATE_ZH[RunState.RUNNING], RUN_STATE_NAMES[RunState.RUNNING])
    return seconds(max((end - start).total_seconds(), 0.0))


def percent(value: float) -> str:
    return f"{value:.1f} %"


def bar(rate: float) -> str:
    """A rate (0-100) as ten unicode cells: ``████████▌░ 85.0 %``."""
    eighths = round(max(0.0, min(rate, 100.0)) / 100 * BAR_CELLS * 8)
    full, part = divmod(eighths, 8)
    cells = "█" * full + (_PARTIAL[part] if part else "")
    return cells + "░" * (BAR_CELLS - len(cells)) + " " + percent(rate)


def measured(result: ObjectiveResult) -> str:
    """The objective's value in its metric's unit, or why there is none."""
    metric = result.objective.metric
    if metric is Metric.FREE:
        return _both("评估人评定", "rated by the evaluator")
    if result.value is None:
        return _both("未测得", "not measured")
    if metric.unit == "%":
        return percent(result.value)
    return f"{result.value:.1f} {metric.unit}"


def person(key: str, names: Mapping[str, str] | None = None) -> str:
    """A person as a report shows them: their name when ``names`` knows the key, else the key
    or operator's name with a phone number masked (``+8613800138000`` and ``13800138000``)."""
    if names and key in names:
        return names[key]
    if _PHONE_ONLY.fullmatch(key.strip()):
        return mask_phone(key.strip())
    return shown_key(key)


def people(keys: Iterable[str], names: Mapping[str, str] | None = None) -> str:
    return "、".join(person(k, names) for k in keys) or NONE


def note_time(note: Note, start: datetime, zone: ZoneInfo) -> str:
    """``09:14 (+14 min)``; the date too when the note is of another day than the start."""
    there, began = note.at.astimezone(zone), start.astimezone(zone)
    shown = f"{there:%H:%M}" if there.date() == began.date() else f"{there:%m-%d %H:%M}"
    offset = (note.at - start).total_seconds()
    if offset >= 0:
        shown += f" (+{offset / 60:.0f} min)"
    return shown


# ------------------------------------------------------------------------------- the report


def build(ev: Evaluation, trend: Trend | None, zone: ZoneInfo, now: datetime) -> list[Block]:
    """The report's blocks after its title, in HSEEP's order (texts not yet masked)."""
    numbers = {r.objective.id: r.objective.position for r in ev.results}
    blocks: list[Block] = []
    unrated = sum(1 for r in ev.results if r.rating is None)
    if ev.run.state is RunState.RUNNING:
        blocks.append(
            Callout("演练进行中，数据尚未最终确定 The drill is still running: figures may change")
        )
    if ev.run.state is RunState.STOPPED:
        blocks.append(
            Callout(
                "演练已中止 The drill was stopped: " + (ev.run.stop_reason or NONE),
            )
        )
    if unrated:
        blocks.append(
            Callout(f"草稿：{unrated} 项目标待评定 DRAFT: {unrated} objective(s) still to be rated")
        )
    blocks += overview(ev, zone, now, unrated)
    blocks += objectives(ev)
    blocks += figures(ev)
    blocks += never_answered(ev)
    blocks += strengths_and_observations(ev, zone, numbers)
    blocks += areas_for_improvement(ev, numbers)
    blocks += improvement_plan(ev, zone, now)
    blocks += trend_section(ev, trend, zone)
    blocks += sign_off(ev)
    return blocks


def overview(ev: Evaluation, zone: ZoneInfo, now: datetime, unrated: int) -> list[Block]:
    run, plan = ev.run, ev.plan
    announced = (
        _both("预先通知", "announced") if plan.announced else _both("不预先通知", "unannounced")
    )
    rows: list[tuple[str, str]] = [
        ("演练名称 Plan", f"{plan.name} ({plan.code})"),
        ("演练类型 Kind", kind_words(plan.kind)),
        ("情景 Scenario", plan.scenario or NONE),
        ("范围 Scope", "、".join(plan.scope) or NONE),
        ("通知方式 Notice", announced),
        ("时段 Hours", _both(HOURS_ZH[plan.hours], HOURS_NAMES[plan.hours])),
        ("开始时间 Started", f"{local(run.started_at, zone)} ({zone.key})"),
    ]
    if run.occurrence is not None:
        rows.append(("计划时间 Scheduled", local(run.occurrence, zone)))
    if run.late_s >= 60:  # under a minute counts as on time (the schedule's FIRED)
        late = round(run.late_s / 60)
        rows.append(("推迟开始 Late start", f"推迟 {late} 分钟 started {late} min late"))
    if run.ended_at is not None:
        rows.append(("结束时间 Ended", local(run.ended_at, zone)))
    rows.append(("时长 Duration", duration(run.started_at, run.ended_at)))
    how = (
        f"计划 schedule #{run.schedule_id}"
        if run.schedule_id is not None
        else _both("手动", "started by hand")
    )
    rows += [
        ("发起 Started by", f"{person(run.started_by, ev.names)} ({how})"),
        ("组织者 Organizer", person(plan.organizer, ev.names)),
        ("评估人 Evaluators", people(plan.evaluators, ev.names)),
        ("状态 State", _both(RUN_STATE_ZH[run.state], RUN_STATE_NAMES[run.state])),
    ]
    if run.state is RunState.STOPPED:
        rows.append(("中止原因 Stopped because", run.stop_reason or NONE))
    if run.mobilization_id is not None:
        rows.append(("动员 Mobilization", f"#{run.mobilization_id} (演练 exercise)"))
    rated_by = sorted({r.rated_by for r in ev.results if r.rated_by})
    if rated_by:
        rows.append(("评定人 Rated by", people(rated_by, ev.names)))
    rows += [
        (
            "评估 Evaluation",
            _both("已全部评定", "complete")
            if not unrated
            else f"{unrated} 项待评定 {unrated} to rate",
        ),
        ("生成时间 Generated", local(now, zone)),
    ]
    return [
        Heading(1, "1 演练概况 Exercise overview"),
        Table(("项目 Item", "内容 Details"), tuple(rows), (1, 3)),
    ]


def objectives(ev: Evaluation) -> list[Block]:
    blocks: list[Block] = [Heading(1, "2 演练目标与评定 Objectives and ratings")]
    if not ev.results:
        return [*blocks, Para(_both("本计划未设目标", "The plan has no objectives."))]
    rows = tuple(
        (
            str(r.objective.position),
            r.objective.text,
            r.objective.describe(),
            measured(r),
            rating_words(r.proposed) if r.proposed else NONE,
            rating_words(r.rating),
            r.reason or "",
        )
        for r in sorted(ev.results, key=lambda r: r.objective.position)
    )
    legend = "；".join(f"{r.value} {RATING_ZH[r]} {RATING_NAMES[r]}" for r in Rating)
    return [
        *blocks,
        Table(
            (
                "#",
                "目标 Objective",
                "衡量标准 Measure",
                "实测 Measured",
                "建议评级 Proposed",
                "评定 Rating",
                "理由 Reason",
            ),
            rows,
            (0.4, 2.2, 2, 1.4, 1.2, 1.2, 1.8),
            align="r",
        ),
        Para(legend, lead="评级 Ratings: "),
    ]


def group_rows(groups: Sequence[GroupFigure]) -> tuple[tuple[str, ...], ...]:
    return tuple(
        (
            _level_words(g.key),
            str(g.called),
            str(g.yes),
            str(g.no),
            str(g.silent),
            percent(g.rate),
            seconds(g.first_s),
            seconds(g.p50_s),
        )
        for g in groups
    )


def _level_words(key: str) -> str:
    """``level 1`` (how evaluation names a tree level) as ``第1级 level 1``; a grid as it is."""
    found = re.fullmatch(r"level (\d+)", key)
    return f"第{found.group(1)}级 {key}" if found else key


GROUP_COLUMNS = (  # after the grid's or the level's own column
    "呼叫 Called",
    "能到 Yes",
    "不能到 No",
    "未应答 Silent",
    "应答率 Rate",
    "首次应答 First",
    "中位 p50",
)


def figures(ev: Evaluation) -> list[Block]:
    m = ev.metrics
    blocks: list[Block] = [Heading(1, "3 叫应数据 Call-out figures")]
    if ev.run.mobilization_id is None and not m.called:
        blocks.append(
            Para(
                _both("本次演练未发起呼叫", "No call-out in this run")
                + f" ({kind_words(ev.plan.kind)})."
            )
        )
    else:
        blocks.append(
            Table(
                ("指标 Figure", "数值 Value"),
                (
                    ("呼叫人数 Called", str(m.called)),
                    ("能到 Yes", str(m.yes)),
                    ("不能到 No", str(m.no)),
                    ("未应答 Silent", str(m.silent)),
                    ("应答率（能到） Answer rate (yes)", percent(m.answer_rate)),
                    ("首次应答 First answer", seconds(m.first_answer_s)),
                    ("应答用时中位数 Time to answer p50", seconds(m.p50_s)),
                    ("应答用时 90% Time to answer p90", seconds(m.p90_s)),
                ),
                (3, 2),
                align="lr",
            )
        )
        if m.by_group:
            worst_first = sorted(m.by_group, key=lambda g: (g.rate, -g.silent, g.key))
            blocks += [
                Heading(2, "按网格（由差到好） By grid, worst first"),
                Table(
                    ("网格 Grid", *GROUP_COLUMNS),
                    group_rows(worst_first),
                    (1.6, 1, 1, 1, 1, 1.2, 1.2, 1.2),
                    align="lrrrrrrr",
                ),
            ]
        if m.by_level:
            blocks += [
                Heading(2, "按层级 By level"),
                Table(
                    ("层级 Level", *GROUP_COLUMNS),
                    group_rows(m.by_level),
                    (1.6, 1, 1, 1, 1, 1.2, 1.2, 1.2),
                    align="lrrrrrrr",
                ),
            ]
    if m.milestones:
        blocks += [
            Heading(2, "节点用时 Milestones"),
            Table(
                ("节点 Milestone", "开始后 After the start"),
                tuple(
                    (name, f"{minutes:.1f} min")
                    for name, minutes in sorted(m.milestones.items(), key=lambda kv: kv[1])
                ),
                (3, 2),
                align="lr",
            ),
        ]
    return blocks


def silent_rows(found: Iterable[SilentOne]) -> tuple[tuple[str, ...], ...]:
    ordered = sorted(found, key=lambda s: (s.node, s.name))
    return tuple((person(s.name), s.node, mask_phone(s.phone_masked)) for s in ordered)


SILENT_HEADER = ("姓名 Name", "节点 Node", "电话 Phone")


def never_answered(ev: Evaluation) -> list[Block]:
    blocks: list[Block] = [Heading(1, "4 未应答人员 Never answered")]
    if not ev.metrics.never_answered:
        return [*blocks, Para(_both("无", "Nobody."))]
    return [
        *blocks,
        Para(
            f"始终未应答 {len(ev.metrics.never_answered)} 人，电话已隐去中间位 "
            f"Never answered: {len(ev.metrics.never_answered)}; phones masked."
        ),
        Table(SILENT_HEADER, silent_rows(ev.metrics.never_answered), (2, 2, 2)),
    ]


def _note_items(
    notes: Iterable[Note], ev: Evaluation, zone: ZoneInfo, numbers: dict[int, int]
) -> Items:
    items = []
    for note in sorted(notes, key=lambda n: n.at):
        text = note.text
        if note.objective_id is not None and note.objective_id in numbers:
            text = f"[目标 Objective {numbers[note.objective_id]}] {text}"
        items.append(
            (note_time(note, ev.run.started_at, zone) + " ", f"{text} ({person(note.by)})")
        )
    return Items(tuple(items))


def strengths_and_observations(
    ev: Evaluation, zone: ZoneInfo, numbers: dict[int, int]
) -> list[Block]:
    blocks: list[Block] = [Heading(1, "5 亮点与观察记录 Strengths and observations")]
    for kind, title in (
        (NoteKind.STRENGTH, "亮点 Strengths"),
        (NoteKind.OBSERVATION, "观察记录 Observations"),
    ):
        chosen = [n for n in ev.notes if n.kind is kind]
        blocks.append(Heading(2, title))
        blocks.append(
            _note_items(chosen, ev, zone, numbers)
            if chosen
            else Para(_both("无记录", "None noted."))
        )
    return blocks


def areas_for_improvement(ev: Evaluation, numbers: dict[int, int]) -> list[Block]:
    """The objectives not met (confirmed, else proposed M/U), each with what was observed of it
    and the improvement items raised on it; then the items raised on no objective."""
    items: list[tuple[str, str]] = []
    for r in sorted(ev.results, key=lambda r: r.objective.position):
        if r.met is not False:
            continue
        chosen = r.rating or r.proposed
        parts = [f"{r.objective.text} — {rating_words(chosen)}"]
        if r.rating is None:
            parts.append(f"({_both('建议评级', 'proposed')}，{TO_RATE})")
        parts.append(f"{_both('实测', 'measured')} {measured(r)}")
        if r.reason:
            parts.append(f"{_both('理由', 'reason')}：{r.reason}")
        seen = [
            n.text
            for n in ev.notes
            if n.objective_id == r.objective.id and n.kind is NoteKind.OBSERVATION
        ]
        if seen:
            parts.append(f"{_both('观察', 'observed')}：" + "；".join(seen))
        issues = [i.issue for i in ev.improvements if i.objective_id == r.objective.id]
        if issues:
            parts.append(f"{_both('问题', 'issues')}：" + "；".join(issues))
        items.append((f"{_both('目标', 'Objective')} {r.objective.position}: ", "；".join(parts)))
    for item in ev.improvements:
        if item.objective_id is None or item.objective_id not in numbers:
            items.append((f"{_both('改进项', 'Item')} {item.id}: ", item.issue))
    blocks: list[Block] = [Heading(1, "6 待改进事项 Areas for improvement")]
    if not items:
        return [*blocks, Para(_both("无", "None identified."))]
    return [*blocks, Items(tuple(items))]


def improvement_plan(ev: Evaluation, zone: ZoneInfo, now: datetime) -> list[Block]:
    blocks: list[Block] = [Heading(1, "7 改进计划 Improvement plan")]
    if not ev.improvements:
        return [*blocks, Para(_both("无改进项", "No improvement items."))]
    rows = []
    for item in sorted(ev.improvements, key=lambda i: (i.due, i.id)):
        issue = item.issue
        if item.run_id != ev.run.id:
            issue += f" (演练 run #{item.run_id})"
        rows.append(
            (
                str(item.id),
                issue,
                item.action,
                element_words(item.element),
                item.owner_name or person(item.owner),
                local_date(item.due, zone),
                improvement_state_words(item, now),
            )
        )
    overdue = sum(1 for i in ev.improvements if i.overdue(now))
    blocks.append(
        Table(
            (
                "#",
                "问题 Issue",
                "整改措施 Corrective action",
                "要素 Element",
                "责任人 Owner",
                "期限 Due",
                "状态 State",
            ),
            tuple(rows),
            (0.4, 2.2, 2.4, 1.2, 1.1, 1.3, 1.4),
            align="r",
        )
    )
    if overdue:
        blocks.append(Callout(f"{overdue} 项已逾期 {overdue} item(s) overdue"))
    blocks.append(
        Para(
            "改进项仅在后续演练复测达标后关闭 "
            "An item is closed only when a later run meets its objective again."
        )
    )
    return blocks


def trend_section(ev: Evaluation, trend: Trend | None, zone: ZoneInfo) -> list[Block]:
    blocks: list[Block] = [Heading(1, "8 历次演练趋势 Trend across runs")]
    if trend is None or not trend.points:
        return [*blocks, Para(_both("暂无其他演练可比", "No other runs to compare yet."))]
    order = sorted(trend.plan.objectives, key=lambda o: o.position)
    rows = []
    for p in trend.points:
        ratings = " ".join(f"{o.position}:{p.ratings.get(o.id, NONE)}" for o in order)
        rows.append(
            (
                ("▶ " if p.run_id == ev.run.id else "") + f"#{p.run_id}",
                local_date(p.started_at, zone),
                str(p.called),
                bar(p.answer_rate),
                seconds(p.p50_s),
                str(p.silent),
                str(p.silent_again),
                ratings or NONE,
            )
        )
    blocks += [
        Table(
            (
                "演练 Run",
                "日期 Date",
                "呼叫 Called",
                "应答率 Answer rate",
                "中位 p50",
                "未应答 Silent",
                "连续未应答 Silent again",
                "评级 Ratings",
            ),
            tuple(rows),
            (0.9, 1.4, 0.9, 2.3, 1, 0.9, 1, 1.9),
            align="llrlrrrl",
        ),
        Para("▶ 本次演练 this run；评级按目标序号 ratings by objective number."),
        Heading(2, "连续两次未应答 Missed two drills in a row"),
    ]
    called = [f"#{p.run_id}" for p in trend.points if p.called][-2:]
    if len(called) == 2:
        runs = "、".join(called)
        blocks.append(
            Para(f"最近两次演练（{runs}）均未应答 Silent in the plan's last two runs ({runs}).")
        )
    if not trend.missed_twice:
        return [*blocks, Para(_both("无", "Nobody."))]
    return [*blocks, Table(SILENT_HEADER, silent_rows(trend.missed_twice), (2, 2, 2))]


def sign_off(ev: Evaluation) -> list[Block]:
    evaluators = [person(k, ev.names) for k in ev.plan.evaluators] or [""]
    rows = tuple(("评估人 Evaluator", name, "", "") for name in evaluators)
    rows += (("办公室负责人 Office head", "", "", ""),)
    return [
        Heading(1, "9 签字 Sign-off"),
        Table(
            ("角色 Role", "姓名 Name", "签名 Signature", "日期 Date"),
            rows,
            (1.6, 1.6, 2.2, 1.4),
            tall=True,
        ),
    ]


# ------------------------------------------------------------------------------- masking

_SPACE = re.compile(r"\s+")
_PHONE_ONLY = re.compile(r"\+?\d{7,15}")
# A mainland mobile number written in free text (a note, a reason): 138 0013 8000, +86-138...
_MOBILE_IN_TEXT = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not allowed in XML 1.0


def _plain(text: str) -> str:
    """One line of text as every format prints it: runs of white space as one space, control
    characters dropped, mobile numbers masked (every text of the report passes here)."""
    line = _SPACE.sub(" ", _CONTROL.sub("", text))
    line = _MOBILE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"[ -]", "", m.group(0))), line)
    return line.strip()


def _masked(block: Block) -> Block:
    """``block`` with every text passed through :func:`_plain`."""
    if isinstance(block, Heading):
        return replace(block, text=_plain(block.text))
    if isinstance(block, Para):
        return replace(block, text=_plain(block.text), lead=_plain(block.lead))
    if isinstance(block, Callout):
        return replace(block, text=_plain(block.text))
    if isinstance(block, Items):
        return replace(block, items=tuple((_plain(a), _plain(b)) for a, b in block.items))
    if isinstance(block, Table):
        return replace(
            block,
            header=tuple(_plain(h) for h in block.header),
            rows=tuple(tuple(_plain(c) for c in row) for row in block.rows),
        )
    return block


# ------------------------------------------------------------------------------- the document


def aar_document(
    ev: Evaluation, trend: Trend | None, zone: ZoneInfo, *, now: datetime | None = None
) -> Document:
    """The AAR/IP of ``ev``'s run as a :class:`reports.document.Document` (kind ``aar``) for
    the common renderers (:func:`reports.render.render`: Markdown, HTML, PDF, Word), every text
    masked.

    Args:
        ev: the run's evaluation (:func:`drills.evaluation.evaluation`).
        trend: the plan's runs side by side (:func:`drills.trends.trend`), or None.
        zone: the office's time zone; every time is shown in it.
        now: when the report is made (overdue items are judged against it); the system clock
            when not given.
    """
    at = now or SystemClock().now()
    started = local(ev.run.started_at, zone)
    return Document(
        kind="aar",
        title=_plain(f"{TITLE} — {ev.plan.name} #{ev.run.id}"),
        subtitle=_plain(f"{ev.plan.name} ({ev.plan.code}) · #{ev.run.id} · {started}"),
        blocks=tuple(_masked(b) for b in build(ev, trend, zone, at)),
        generated_at=at,
        lang="zh_CN",
        facts=(
            ("生成时间 Generated", local(at, zone)),
            ("个人信息 Personal data", "已脱敏 masked"),
        ),
    )


def aar_markdown(
    ev: Evaluation, trend: Trend | None, zone: ZoneInfo, *, now: datetime | None = None
) -> str:
    """The AAR/IP as Markdown (GitHub tables, every text escaped): :func:`aar_document`
    rendered by :func:`reports.render.render`."""
    return render(aar_document(ev, trend, zone, now=now), "md").decode("utf-8")


def aar_docx(
    ev: Evaluation, trend: Trend | None, zone: ZoneInfo, *, now: datetime | None = None
) -> bytes:
    """The AAR/IP as a Word document (.docx bytes): :func:`aar_document` rendered by
    :func:`reports.render.render` (A4 portrait, shaded header rows repeated on each page,
    East Asian text in a Chinese font, page numbers in the footer)."""
    return render(aar_document(ev, trend, zone, now=now), "docx")
