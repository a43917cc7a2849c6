"""Provides the demo database: a plausible street's fortnight of cases, built through the real API.

Every case is logged and advanced with the same workflow functions a duty officer uses (so the
audit chain, time limits, search index and supervision are all real), with a clock that walks
through the past two weeks. The file is built next to its destination and moved into place
when complete, so a half-built demo is never left behind.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import Stage
from incidents.records import NewIncident, create_incident, get_incident
from incidents.supervision import counts, sweep_overdue
from store.audit import checkpoint, head_file_for
from store.clock import FixedClock, SystemClock
from store.db import Database, connect, write
from store.i18n import _
from store.keys import key_path_for, load_keys
from store.paths import demo_db_path, private_dir
from uplink.reporting import Obligation, ObligationKind, ReportKind
from uplink.sitrep_rules import SitrepRules

if TYPE_CHECKING:
    from mobilization import Routing
    from uplink.field import FieldDispatch

STREET = "青山街道"
COMMUNITIES = ["幸福社区", "和平社区", "滨江社区", "东湖村", "新河社区", "南苑社区"]
ROADS = ["长江路", "青山大道", "和平路", "滨江路", "东湖路", "新河街", "南苑路", "建设路"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "强",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "桂兰",
    "建华",
    "志强",
    "海燕",
    "丽娟",
    "国庆",
    "红梅",
    "晓东",
    "春生",
]
OPERATORS = ["王伟", "李芳", "张强", "刘静"]
SHIFT_LEADS = ["陈队长", "赵主任"]
DEMO_URL = "http://127.0.0.1:8470"  # the demo's server (`dutydesk serve`): links point at it

# (category, type, severity, urgency, title template, description template, weight). The levels
# I-IV grade emergencies (突发事件); the routine grid cases (environment, facilities, disputes,
# hazards found on patrol) are all IV, so that, as in an office, only the emergencies of the
# four emergency categories are reported up (uplink.reporting's default rules: II and III).
TEMPLATES: list[tuple[str, str, str, str, str, str, int]] = [
    (
        "environment",
        "garbage",
        "IV",
        "normal",
        "{place}垃圾堆放未清运",
        "群众反映{place}生活垃圾堆放两天未清运，气味较大。",
        14,
    ),
    (
        "facilities",
        "manhole",
        "IV",
        "urgent",
        "{road}井盖缺失",
        "{road}{num}号门前井盖缺失，存在行人坠落风险，已设置临时警示。",
        8,
    ),
    (
        "facilities",
        "streetlight",
        "IV",
        "normal",
        "{road}路灯不亮",
        "{road}自{num}号起约200米路灯夜间不亮。",
        9,
    ),
    (
        "facilities",
        "water_pipe",
        "IV",
        "urgent",
        "{place}供水管道破裂",
        "{place}地下供水管道破裂，路面积水，周边住户停水。",
        4,
    ),
    (
        "dispute",
        "neighbour",
        "IV",
        "normal",
        "{place}邻里纠纷",
        "{place}楼上楼下因漏水问题发生争执，需网格员上门调解。",
        9,
    ),
    (
        "dispute",
        "property",
        "IV",
        "normal",
        "{community}物业纠纷",
        "业主反映{community}物业公司停车收费不合理，多户联名投诉。",
        5,
    ),
    (
        "dispute",
        "labour",
        "IV",
        "urgent",
        "{road}工地欠薪",
        "{road}某工地农民工十余人反映被拖欠工资，情绪激动。",
        3,
    ),
    (
        "safety_hazard",
        "fire_hazard",
        "IV",
        "urgent",
        "{place}楼道堆放杂物",
        "{place}楼道堆放大量纸箱和电动车，堵塞消防通道。",
        9,
    ),
    (
        "safety_hazard",
        "electrical",
        "IV",
        "urgent",
        "{place}电动车飞线充电",
        "巡查发现{place}有电动车飞线充电，存在火灾隐患。",
        7,
    ),
    (
        "safety_hazard",
        "falling_objects",
        "IV",
        "urgent",
        "{place}外墙瓷砖脱落",
        "{place}外墙瓷砖松动脱落，楼下为人行通道。",
        4,
    ),
    (
        "safety_hazard",
        "flood_risk",
        "IV",
        "urgent",
        "{road}排水口堵塞",
        "{road}低洼路段排水口被落叶堵塞，暴雨时易积水。",
        4,
    ),
    (
        "accident_disaster",
        "fire",
        "II",
        "very_urgent",
        "{place}发生火灾",
        "{place}住户厨房起火，浓烟较大，已拨打119，需疏散楼内群众。Smoke visible from the road.",
        2,
    ),
    (
        "accident_disaster",
        "gas_leak",
        "II",
        "very_urgent",
        "{place}燃气泄漏",
        "{place}居民闻到燃气味，疑似燃气管道泄漏，已关闭总阀。",
        2,
    ),
    (
        "accident_disaster",
        "traffic",
        "III",
        "urgent",
        "{road}交通事故",
        "{road}与建设路交叉口两车相撞，一人受伤，交通拥堵。",
        3,
    ),
    (
        "natural_disaster",
        "rainstorm",
        "II",
        "very_urgent",
        "{road}暴雨积水",
        "暴雨导致{road}下穿通道积水约40厘米，车辆被困。",
        2,
    ),
    (
        "natural_disaster",
        "geological",
        "II",
        "urgent",
        "{community}山体滑坡隐患",
        "{community}后山出现裂缝，有小规模滑坡，坡下有住户6户。",
        1,
    ),
    (
        "public_health",
        "food_poisoning",
        "II",
        "very_urgent",
        "{place}疑似食物中毒",
        "{place}附近餐馆多名就餐人员出现呕吐腹泻症状。",
        1,
    ),
    (
        "social_security",
        "missing_person",
        "III",
        "urgent",
        "{community}老人走失",
        "{community}一名78岁老人早上外出未归，患有阿尔茨海默病。",
        2,
    ),
    (
        "social_security",
        "mass_incident",
        "II",
        "urgent",
        "{place}群众聚集",
        "约30名业主在{place}聚集，反映房屋质量问题。",
        1,
    ),
]
NOTES = [
    "已电话联系报告人核实情况",
    "网格员已到现场查看",
    "已协调相关部门处置",
    "现场已拉设警戒线",
    "已上门走访相关住户",
    "处置进展顺利，预计今日完成",
]
FEEDBACK = [
    "已清理完毕，现场恢复正常",
    "已修复，经测试正常使用",
    "双方已达成调解协议",
    "隐患已整改，责任人已签字确认",
    "已疏散群众，无人员伤亡",
]


def default_demo_path() -> Path:
    return demo_db_path()


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _phone(rng: random.Random) -> str:
    # 170-0000-xxxx: a virtual-operator block used here only as an obviously fake test range.
    return f"1700000{rng.randrange(10_000):04d}"


def build_demo(
    path: Path,
    *,
    cases: int = 240,
    replace: bool = False,
    seed: int = 20261126,
    now: datetime | None = None,
    township: tuple[str, str] = ("330106001000", "青山街道"),
    late_reports: int = 1,
) -> str:
    """Build the demo database at ``path`` and return a one-paragraph summary.

    ``township`` is its top unit's (code, name): the county demo builds three townships.
    ``late_reports``: how many of the fortnight's initial reports went up late (迟报); every
    other report owed before ``now`` went up in time (:func:`_report_history`).
    """
    if path.exists() and not replace:
        raise FileExistsError(path)
    rng = random.Random(seed)
    end = now or SystemClock().now()
    policy = Policy(shift_leads=tuple(SHIFT_LEADS))
    private_dir(path.parent)  # 0700, like every directory dutydesk makes
    partial = path.with_name(path.name + ".building")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    db = connect(partial, synchronous="NORMAL")
    clock = FixedClock(end)
    weights = [t[-1] for t in TEMPLATES]
    grids = [f"G{n:02d}" for n in range(1, 41)]
    created: list[int] = []
    try:
        with write(db):
            _jurisdiction(db, clock, rng, grids, end, township)
            people = _people(db, clock, rng, grids, end, township[0])
            # Before the cases: the drills' past is older, and the timeline stays in time order.
            _drills(db, clock, rng, end)
            starts = sorted(
                end - timedelta(minutes=rng.randrange(14 * 24 * 60)) for _case in range(cases)
            )
            for started in starts:
                created.append(_one_case(db, clock, policy, rng, started, end, weights, grids))
            _special_cases(db, clock, policy, rng, created, end)
            reported = _report_history(db, clock, rng, end, late=late_reports)
            _field(db, clock, policy, created, end)
            clock.set(end)
            sweep_overdue(db, clock, policy)
        summary = counts(db, end)
    finally:
        db.close()
    # A -wal/-shm left by an earlier file of that name would be replayed onto the new one.
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(partial, path)
    for leftover in (Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    # A new history: the signed head of the database it replaced no longer applies. Sign this
    # one's head, so the demo verifies (and a doctor finds nothing to say) from the start.
    head_file_for(path).unlink(missing_ok=True)
    db = connect(path)
    try:
        checkpoint(db, load_keys(key_path_for(path)), end)
    finally:
        db.close()
    return (
        _(
            "{street}: {cases} cases over 14 days in {communities} communities / {grids} grids,"
            " {people} people, {teams} teams, a duty roster; {open} open, {overdue} overdue,"
            " {supervised} supervised, {parked} parked"
        ).format(
            street=township[1],
            cases=cases,
            communities=len(COMMUNITIES),
            grids=len(grids),
            people=people,
            teams=len(TEAMS),
            open=summary.open,
            overdue=summary.overdue,
            supervised=summary.supervised,
            parked=summary.parked,
        )
        + "; "
        + _("{reports} information reports sent up, {late} late").format(
            reports=reported[0], late=reported[1]
        )
    )


DRILL_GRIDS = ("G01", "G02", "G03", "G04", "G05", "G06")
# Each run's share of the people called who answer yes, and how fast (minutes, most within).
DRILL_RUNS = ((0.72, 6.0), (0.96, 2.0))
DRILL_RULE = "FREQ=MONTHLY;BYDAY=1WE;BYHOUR=9;BYMINUTE=0"


def _drills(db: Database, clock: FixedClock, rng: random.Random, end: datetime) -> None:
    """A monthly unannounced call-tree drill of six grids (the first Wednesday, 09:00): two past
    runs fired by the schedule itself, the second better than the first (an improvement item
    raised by the first and closed by the second's retest), and the next one upcoming.

    The schedule's own machinery drives the past: the clock steps from moment to moment
    (:func:`drills.schedules.next_moments`), :func:`drills.schedules.fire_due` claims each
    reminder and run, and the engine's sending is played by claiming and recording the messages.
    """
    from dateutil.rrule import rrulestr

    from drills.evaluation import evaluation, rate
    from drills.improvements import add_improvement
    from drills.plans import add_plan, parse_inject, parse_objective
    from drills.runs import end_run
    from drills.schedules import add_schedule, fire_due, next_moments

    zone = ZoneInfo("Asia/Shanghai")
    organizer = "17000000000"  # the first duty officer (王伟)
    local_end = end.astimezone(zone).replace(tzinfo=None)
    rule = rrulestr(
        DRILL_RULE, dtstart=(local_end - timedelta(days=100)).replace(second=0, microsecond=0)
    )
    # The schedule starts at the second-last occurrence before now: two past runs, and made
    # eight days before it, so that every reminder of the first run falls due too.
    first = rule.before(rule.before(local_end))
    assert first is not None
    clock.set(first.replace(tzinfo=zone).astimezone(end.tzinfo) - timedelta(days=8))
    plan = add_plan(
        db,
        clock,
        "admin",
        code="CALLTREE-M",
        name="月度通信联络演练",
        kind="notification",
        scenario="flood",
        scope=[f"grid:{g}" for g in DRILL_GRIDS],
        announced=False,
        hours="working",
        organizer=organizer,
        evaluators=["17000000004"],  # 陈队长, the shift lead
        message="月度通信联络演练：收到请回复到岗情况",
        objectives=[
            parse_objective("answer_rate 90% 10m level=0: 网格长10分钟内应答率不低于90%"),
            parse_objective("answer_rate 80% 30m: 80%的人员30分钟内应答到岗"),
            parse_objective("reach 100% 10m: 每个网格10分钟内有人应答"),
            parse_objective("first_answer 3m: 3分钟内收到第一个应答"),
        ],
    )
    add_plan(
        db,
        clock,
        "admin",
        code="FLOOD-TT",
        name="防汛桌面推演",
        kind="tabletop",
        scenario="flood",
        organizer=organizer,
        evaluators=["17000000004"],
        participants=["17000000001", "17000000002", "17000000003"],
        injects=[
            parse_inject("0m 气象台发布暴雨橙色预警，未来3小时降雨量将达80毫米"),
            parse_inject("20m 滨江社区低洼处积水30厘米，有老人被困"),
            parse_inject("45m 河道水位超警戒0.5米，需转移沿河居民"),
        ],
        objectives=[
            parse_objective("milestone name=case_logged 3m: 值班员3分钟内登记事件"),
            parse_objective("free: 转移方案职责清楚、分工明确"),
        ],
    )
    schedule = add_schedule(
        db, clock, "admin", plan.code, start=first, zone="Asia/Shanghai", rrule=DRILL_RULE
    )
    runs = iter(DRILL_RUNS)
    item_id: int | None = None
    while True:
        due = next_moments(db, clock.now()).get(schedule.id)
        if due is None or due > end:
            break
        clock.set(due)
        for fired in fire_due(db, clock, grace=timedelta(minutes=30), holder="demo"):
            _deliver(db, clock)
            if fired.run_id is None:
                continue
            share, speed = next(runs, DRILL_RUNS[-1])
            _play_run(db, clock, rng, fired.run_id, share, speed)
            end_run(db, clock, "admin", fired.run_id)
            _deliver(db, clock)
            ev = evaluation(db, fired.run_id)
            for result in ev.results:
                if result.proposed is not None:
                    rating = result.proposed
                    rate(db, clock, "17000000004", fired.run_id, result.objective.id, rating)
            if item_id is None:
                item_id = add_improvement(
                    db,
                    clock,
                    "17000000004",
                    fired.run_id,
                    issue="网格长应答慢，部分网格员未在30分钟内应答",
                    action="核对网格员手机号码，培训短信回复方式，网格长负责督促",
                    element="training",
                    owner="17000000004",
                    due=clock.now() + timedelta(days=21),
                    objective_id=ev.results[0].objective.id,
                ).id
    clock.set(end)


def _routing(path: Path) -> Routing:
    """What the engine of the demo database at ``path`` sends with: its key file, the demo
    server's address, and a field dispatch's person's own case link in their call-out."""
    from functools import partial

    from mobilization import Routing
    from uplink import field

    keys = load_keys(key_path_for(path))
    link_for = partial(field.recipient_link, keys=keys, base_url=DEMO_URL)
    return Routing(base_url=DEMO_URL, keys=keys, link_for=link_for)


def _deliver(db: Database, clock: FixedClock, routing: Routing | None = None) -> None:
    """What the engine would do now: send every message due (each delivered, to the log).

    ``routing``: the engine's (:func:`_routing`) where field call-outs may be due, else
    throwaway keys (a drill's ack links are never opened)."""
    from drills.notices import claim, record
    from mobilization import Delivery, Routing, claim_pending, process_due, record_deliveries

    routing = routing or Routing()
    for _round in range(100):
        moved = process_due(db, clock)
        out, failed = claim_pending(db, clock, routing, claimer="demo")
        record_deliveries(db, clock, [Delivery(m.attempt_id, True) for m in out] + failed, routing)
        notices = claim(db, clock, limit=1000, holder="demo")
        record(db, clock, [Delivery(m.attempt_id, True) for m in notices])
        if not (moved or out or failed or notices):
            return


class _Answers:
    """How the people of a demo call-out answer, decided (seeded) when each is first called:
    yes with ``share`` after an exponential delay of mean ``speed`` minutes, a few no, the rest
    silent. A drill run and a 叫应 are played the same way."""

    def __init__(self, rng: random.Random, share: float, speed: float) -> None:
        self.rng, self.share, self.speed = rng, share, speed
        self.planned: dict[int, tuple[float, bool] | None] = {}

    def play(self, db: Database, clock: FixedClock, mobilization_id: int, minute: int) -> None:
        """Record the answers due by ``minute`` of the call-out."""
        from mobilization import recipient_rows, record_answer

        for row in recipient_rows(db, mobilization_id):
            rid = int(row["id"])
            if rid not in self.planned:
                roll = self.rng.random()
                answer = roll < self.share or roll > 0.97
                self.planned[rid] = (
                    (minute + self.rng.expovariate(1 / self.speed), roll < self.share)
                    if answer
                    else None
                )
            plan = self.planned[rid]
            if plan is not None and plan[0] <= minute and row["answered_at"] is None:
                record_answer(db, clock, "sms", yes=plan[1], via="sms", recipient_id=rid)


def _play_run(
    db: Database, clock: FixedClock, rng: random.Random, run_id: int, share: float, speed: float
) -> None:
    """A call-tree run's first 40 minutes: each person called answers yes with ``share``
    (after an exponential delay of mean ``speed`` minutes), a few say no, the rest are silent."""
    from drills.runs import get_run

    run = get_run(db, run_id)
    assert run.mobilization_id is not None
    start = clock.now()
    answers = _Answers(rng, share, speed)
    for minute in range(41):
        clock.set(start + timedelta(minutes=minute))
        _deliver(db, clock)
        answers.play(db, clock, run.mobilization_id, minute)


TOWNSHIP_CODE = "330106001000"
# The street's extent (lon/lat), cut into 3 × 2 community blocks, each cut into strips (grids).
WEST, SOUTH, EAST, NORTH = 120.100, 30.250, 120.160, 30.280
UNDERSIZED = "G10"  # a grid with too few households, for `grid check` to find
GAP_AFTER = "G23"  # this grid stops short of its neighbour: a small gap in the coverage


def community_of(grid_index: int, grids: int) -> int:
    """Which community (0-based) grid number ``grid_index`` (0-based) lies in."""
    return grid_index * len(COMMUNITIES) // grids


def _box(west: float, south: float, east: float, north: float) -> dict[str, object]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _jurisdiction(
    db: Database,
    clock: FixedClock,
    rng: random.Random,
    grids: list[str],
    end: datetime,
    township: tuple[str, str] = (TOWNSHIP_CODE, STREET),
) -> None:
    """The street, its 6 communities and 40 grids whose polygons tile each community.

    Everything tiles exactly except one deliberate gap (``GAP_AFTER``) and one undersized grid
    (``UNDERSIZED``), so ``dutydesk grid check`` has something real to show.
    """
    from jurisdiction.units import NewUnit, add_unit

    clock.set(end - timedelta(days=400))
    since = datetime(2024, 1, 1, tzinfo=end.tzinfo)
    code_of_township, street = township
    add_unit(db, clock, "admin", NewUnit(code_of_township, street, "township"), valid_from=since)
    width = (EAST - WEST) / 3
    height = (NORTH - SOUTH) / 2
    members: dict[int, list[int]] = {}
    for index in range(len(grids)):
        members.setdefault(community_of(index, len(grids)), []).append(index)
    for number, name in enumerate(COMMUNITIES):
        west = WEST + (number % 3) * width
        south = SOUTH + (number // 3) * height
        code = f"{code_of_township[:9]}{number + 1:03d}"
        add_unit(
            db,
            clock,
            "admin",
            NewUnit(
                code,
                name,
                "community",
                code_of_township,
                boundary=_box(west, south, west + width, south + height),
            ),
            valid_from=since,
        )
        strip = width / len(members[number])
        for position, index in enumerate(members[number]):
            grid = grids[index]
            left = west + position * strip
            right = left + strip
            shape = _box(left, south, right, south + height)
            if grid == GAP_AFTER:
                # A notch of about 30 m × 30 m in its north-east corner belongs to no grid.
                notch = 0.0003
                top = south + height
                ring = [
                    [left, south],
                    [right, south],
                    [right, top - notch],
                    [right - notch, top - notch],
                    [right - notch, top],
                    [left, top],
                    [left, south],
                ]
                shape = {"type": "Polygon", "coordinates": [ring]}
            households = 180 if grid == UNDERSIZED else rng.randrange(320, 490)
            add_unit(
                db,
                clock,
                "admin",
                NewUnit(
                    grid,
                    f"{name}第{position + 1}网格",
                    "grid",
                    code,
                    households=households,
                    population=int(households * rng.uniform(2.4, 2.9)),
                    boundary=shape,
                    addresses=tuple(
                        f"{name}{building}号楼"
                        for building in range(position * 4 + 1, position * 4 + 5)
                    ),
                ),
                valid_from=since,
            )


TEAMS = (
    ("T-RESCUE", "应急救援队", "rescue"),
    ("T-MEDICAL", "医疗救护队", "medical"),
    ("T-FIRE", "消防志愿队", "firefighting"),
    ("T-FLOOD", "防汛抢险队", "flood_control"),
)
MEMBERS_PER_GRID = 9  # besides the grid leader: members and volunteers


def _people(
    db: Database,
    clock: FixedClock,
    rng: random.Random,
    grids: list[str],
    end: datetime,
    township_code: str = TOWNSHIP_CODE,
) -> int:
    """About 400 people: the office, community secretaries, grid leaders and members, teams,
    and a duty roster (duty officers and shift leads on daily 08:00 hand-overs) that started a
    week ago. Phones are in 170-0000-xxxx, a block used here only as an obvious test range.
    """
    from contacts.people import NewPerson, add_person
    from contacts.roster import add_post, add_rotation
    from contacts.teams import add_member, add_team

    clock.set(end - timedelta(days=300))
    serial = iter(range(10_000))

    def person(name: str, unit: str, *roles: str, skills: tuple[str, ...] = ()) -> str:
        phone = f"1700000{next(serial):04d}"
        add_person(db, clock, "admin", NewPerson(name, unit, phone, roles=roles, skills=skills))
        return phone

    officers = [person(name, township_code, "duty_officer") for name in OPERATORS]
    leads = [person(name, township_code, "shift_lead") for name in SHIFT_LEADS]
    for number in range(len(COMMUNITIES)):
        person(_name(rng), f"{township_code[:9]}{number + 1:03d}", "community_secretary")
    members: list[str] = []
    for grid in grids:
        person(_name(rng), grid, "grid_leader")
        for _member in range(MEMBERS_PER_GRID):
            role = "grid_member" if rng.random() < 0.6 else "volunteer"
            skills = tuple(rng.sample(["急救", "驾驶", "消防", "水上救援", "无人机"], 1))
            members.append(person(_name(rng), grid, role, skills=skills))
    for code, name, kind in TEAMS:
        crew = rng.sample(members, 12)
        add_team(db, clock, "admin", code, name, kind, township_code, crew[0])
        for phone in crew[1:]:
            add_member(db, clock, "admin", code, phone)
    clock.set(end - timedelta(days=7))
    add_post(db, clock, "admin", "DO", "值班员")
    add_post(db, clock, "admin", "SL", "值班长")
    week_ago = (end - timedelta(days=7)).astimezone(ZoneInfo("Asia/Shanghai")).date()
    for post, crew in (("DO", officers), ("SL", leads)):
        add_rotation(
            db,
            clock,
            "admin",
            post,
            people=crew,
            starts_on=week_ago,
            shift_start="08:00",
            shift_hours=24,
            zone="Asia/Shanghai",
        )
    return next(serial)


def _one_case(
    db: object,
    clock: FixedClock,
    policy: Policy,
    rng: random.Random,
    started: datetime,
    end: datetime,
    weights: list[int],
    grids: list[str],
) -> int:

    assert isinstance(db, Database)
    cat, typ, sev, urg, title_t, desc_t, _weight = rng.choices(TEMPLATES, weights)[0]
    grid_index = rng.randrange(len(grids))
    community = COMMUNITIES[community_of(grid_index, len(grids))]
    road = rng.choice(ROADS)
    place = f"{community}{rng.randrange(1, 30)}号楼"
    fields = {"place": place, "road": road, "community": community, "num": rng.randrange(1, 300)}
    clock.set(started)
    operator = rng.choice(OPERATORS)
    incident = create_incident(
        db,
        clock,
        policy,
        operator,
        NewIncident(
            title=title_t.format(**fields),
            category=cat,
            type=typ,
            severity=sev,
            urgency=urg,
            description=desc_t.format(**fields),
            location=f"{road}{fields['num']}号 ({place})",
            grid=grids[grid_index],
            reporter_name=_name(rng),
            reporter_phone=_phone(rng),
            source=rng.choice(["phone", "hotline", "grid_patrol", "grid_patrol", "video"]),
        ),
    )
    # Each step comes after a delay drawn around its stage's time limit (mostly within it, a
    # few late), until "now": old cases are closed, recent ones part-way, some overdue.
    stuck = rng.random() < 0.08
    verify_fails = rng.random() < 0.1
    ref = incident.id
    while True:
        current = get_incident(db, ref)
        step = wf.NEXT_STEP.get(current.stage)
        if step is None:
            break
        hours = policy.limit(current.stage, cat, typ, urg).hours
        clock.advance(hours=hours * rng.uniform(0.05, 1.15) * (6 if stuck else 1))
        if clock.now() >= end:
            break
        if step == "register":
            wf.register(db, clock, policy, operator, ref)
        elif step == "dispatch":
            wf.dispatch(db, clock, policy, operator, ref)
        elif step == "handle":
            wf.handle(db, clock, policy, _name(rng), ref)
            if rng.random() < 0.5:
                wf.add_note(db, clock, operator, ref, rng.choice(NOTES))
        elif step == "feedback":
            wf.feedback(db, clock, policy, operator, ref, rng.choice(FEEDBACK))
        elif step == "verify" and verify_fails:
            verify_fails = False
            wf.verify(db, clock, policy, operator, ref, passed=False, reason="现场复核未整改到位")
        elif step == "verify":
            wf.verify(db, clock, policy, operator, ref)
        else:
            wf.close(db, clock, policy, operator, ref)
    return incident.id


def _special_cases(
    db: object,
    clock: FixedClock,
    policy: Policy,
    rng: random.Random,
    created: list[int],
    end: datetime,
) -> None:
    """A false report, a duplicate, a parked case, a pending extension, tasks."""

    assert isinstance(db, Database)
    clock.set(end - timedelta(hours=3))
    open_cases = [i for i in created if get_incident(db, i).stage.is_open]
    reported = [i for i in open_cases if get_incident(db, i).stage is Stage.REPORTED]
    if reported:
        wf.void(db, clock, policy, "王伟", reported[0], "重复来电，经核实为误报")
    handling = [i for i in open_cases if get_incident(db, i).stage is Stage.HANDLING]
    if len(handling) >= 3:
        wf.park(db, clock, policy, "李芳", handling[0], "涉及产权争议，需区住建部门协调，长期跟踪")
        waiting = get_incident(db, handling[1])
        until = max(waiting.deadline or end, end) + timedelta(days=2)
        wf.request_extension(db, clock, policy, "张强", waiting.id, "需等待配件到货", until)
        wf.add_task(
            db, clock, "张强", handling[2], "联系物业提供监控录像", "刘静", end - timedelta(hours=1)
        )
        wf.add_task(db, clock, "张强", handling[2], "回访报告人", "刘静", end + timedelta(hours=20))
    clock.set(end - timedelta(minutes=40))
    fire = create_incident(
        db,
        clock,
        policy,
        "王伟",
        NewIncident(
            title="幸福社区3号楼发生火灾",
            category="accident_disaster",
            type="fire",
            severity="II",
            urgency="very_urgent",
            description="3号楼5层住户阳台起火，浓烟，已报119。",
            location="长江路88号 (幸福社区3号楼)",
            grid="G01",
            reporter_name="周建华",
            reporter_phone=_phone(rng),
            source="phone",
            tags=("火灾", "疏散"),
        ),
    )
    wf.register(db, clock, policy, "王伟", fire.id)
    clock.advance(minutes=5)
    wf.dispatch(db, clock, policy, "王伟", fire.id, "team:T-FIRE")
    dup = create_incident(
        db,
        clock,
        policy,
        "李芳",
        NewIncident(
            title="3号楼冒烟",
            category="accident_disaster",
            type="fire",
            severity="III",
            urgency="urgent",
            description="群众来电称幸福社区3号楼有烟冒出。",
            grid="G01",
            source="hotline",
        ),
    )
    wf.merge(db, clock, policy, "李芳", dup.id, fire.id)
    _fire_reports(db, clock, fire.id, end)
    _landslide(db, clock, policy, rng, end)


def _field(
    db: Database, clock: FixedClock, policy: Policy, created: list[int], end: datetime
) -> None:
    """The dispatched cases reach the field half an hour before ``end`` (what the engine does
    at once): each open one gets its field dispatch, people and call-out; one grid's case is
    accepted on a phone, with a progress note and the feedback; the dispatches nobody accepted
    in time are marked (the fire's team has 10 minutes). The links are made on demand
    (``dutydesk field list CASE --links``) for ``http://127.0.0.1:8470``, the demo's server."""
    from uplink import field
    from uplink.field_rules import FieldRules

    rules = FieldRules()
    clock.set(end - timedelta(minutes=30))
    field.catch_up(db, clock, rules, policy)
    # A case waiting for its grid to accept it, else one its grid is already handling.
    for stage in (Stage.DISPATCHED, Stage.HANDLING):
        chosen = _field_case(db, created, stage)
        if chosen is not None:
            break
    if chosen is not None:
        d = chosen
        person = next((p for p in d.people if p.role == "member"), d.people[0])
        claim = field.claim_for(db, d.id, person.key, clock.now())
        clock.set(end - timedelta(minutes=24))
        field.accept(db, clock, policy, claim, form_id="demo-accept")
        clock.set(end - timedelta(minutes=15))
        field.add_progress(
            db, clock, policy, claim, text="已到现场，正在处置。", form_id="demo-progress"
        )
        clock.set(end - timedelta(minutes=5))
        field.submit_feedback(
            db, clock, policy, claim, text="已处置完毕，现场恢复正常。", form_id="demo-feedback"
        )
    clock.set(end)
    field.sweep(db, clock)


def _field_case(db: Database, created: list[int], stage: Stage) -> FieldDispatch | None:
    """The open field dispatch of the newest grid case in ``stage`` that has people."""
    from uplink import field

    for case in reversed(created):
        incident = get_incident(db, case)
        if incident.stage is not stage or not (incident.assignee or "").startswith("grid:"):
            continue
        open_ = [d for d in field.dispatches_of(db, case) if d.ended_at is None and d.people]
        if open_:
            return open_[-1]
    return None


# --- information reports (初报、续报、终报) ------------------------------------------------------

SITREP_RULES = SitrepRules()  # the defaults: II within 30 min, III within 60, IV when marked
LEADERS = "街道党工委书记、分管应急副主任已赶赴现场指挥"


class _Desk:
    """Who drafts reports and who signs them off at a moment, by the roster (read once per
    daily shift: the demo files a few hundred reports)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._shifts: dict[object, tuple[str, str]] = {}

    def people(self, at: datetime) -> tuple[str, str]:
        """(duty officer, shift lead) at ``at``; before the roster began, the first of each."""
        from contacts.roster import SHIFT_LEAD_POST, duty_officer, holder

        day = (at.astimezone(ZoneInfo("Asia/Shanghai")) - timedelta(hours=8)).date()
        if day not in self._shifts:
            officer, lead = duty_officer(self.db, at), holder(self.db, SHIFT_LEAD_POST, at)
            self._shifts[day] = (
                officer.person.name if officer is not None else OPERATORS[0],
                lead.person.name if lead is not None else SHIFT_LEADS[0],
            )
        return self._shifts[day]


def _file(
    desk: _Desk,
    clock: FixedClock,
    case: int,
    kind: ReportKind,
    sent: datetime,
    *,
    fields: dict[str, str] | None = None,
    send: bool = True,
) -> int:
    """A report of ``case`` drafted five minutes before ``sent``, edited, signed off by the
    shift lead three minutes later and sent at ``sent`` (``send=False``: left as a draft)."""
    from uplink import sitreps

    db = desk.db
    officer, lead = desk.people(sent)
    clock.set(sent - timedelta(minutes=5))
    report = sitreps.draft(db, clock, SITREP_RULES, officer, case, kind)
    if fields:
        clock.advance(minutes=1)
        sitreps.edit(db, clock, officer, report.id, fields=fields)
    if not send:
        return report.id
    clock.set(sent - timedelta(minutes=2))
    sitreps.sign(db, clock, SITREP_RULES, officer, report.id, signer=lead)
    clock.set(sent)
    sitreps.send(db, clock, officer, report.id)
    return report.id


def _fire_reports(db: Database, clock: FixedClock, fire: int, end: datetime) -> None:
    """The fire of 40 minutes ago: its initial report went up on time; the figures changed
    since, so its first follow-up is due within the hour and being drafted."""
    from uplink.sitreps import record_figures

    desk = _Desk(db)
    clock.set(end - timedelta(minutes=33))
    record_figures(db, clock, "王伟", fire, {"trapped": 1, "evacuated": 30})
    _file(
        desk,
        clock,
        fire,
        ReportKind.INITIAL,
        end - timedelta(minutes=24),
        fields={
            "area": "3号楼及相邻4号楼住户",
            "trend": "明火尚未扑灭，5层1名老人被困，消防正在施救",
            "leaders": LEADERS,
            "next_steps": "配合消防做好疏散和临时安置，核实人员情况后续报",
        },
    )
    clock.set(end - timedelta(minutes=14))
    record_figures(db, clock, "王伟", fire, {"trapped": 0, "injured": 1})
    _file(
        desk,
        clock,
        fire,
        ReportKind.FOLLOWUP,
        end - timedelta(minutes=1),
        fields={"trend": "被困老人已救出，吸入烟雾送医观察；明火已基本控制"},
        send=False,
    )


def _landslide_call_out(db: Database, clock: FixedClock, case: int, *, grid: str) -> None:
    """The duty officer calls out the landslide's grid and the rescue team a minute after the
    dispatch; most answer within two minutes (their own seeded answers, so the rest of the demo
    stays as it was), before the next step of the case."""
    from mobilization import Target, TargetKind, ensure_default_tree, start_mobilization

    start = clock.now()
    ensure_default_tree(db, clock, "王伟")
    mob = start_mobilization(
        db,
        clock,
        "王伟",
        targets=[Target(TargetKind.GRID, grid), Target(TargetKind.TEAM, "T-RESCUE")],
        message="东湖村后山山体滑坡，有人被困，请立即到东湖路后山坡下集合",
        mode="broadcast",
        incident_id=case,
    )
    answers = _Answers(random.Random(243), share=0.85, speed=0.8)
    for minute in range(3):
        clock.set(start + timedelta(minutes=minute))
        _deliver(db, clock)
        answers.play(db, clock, mob, minute)


def _landslide(
    db: Database, clock: FixedClock, policy: Policy, rng: random.Random, end: datetime
) -> None:
    """A major case three days ago, reported as an office should: the initial report within
    30 minutes, a follow-up when the trapped were rescued, another when the slope was judged
    stable (the next morning), and the final report once the case was closed."""
    from uplink.sitreps import record_figures

    desk = _Desk(db)
    start = end - timedelta(days=3, hours=5, minutes=20)
    clock.set(start)
    case = create_incident(
        db,
        clock,
        policy,
        "王伟",
        NewIncident(
            title="东湖村后山山体滑坡",
            category="natural_disaster",
            type="geological",
            severity="II",
            urgency="very_urgent",
            description="连日降雨，东湖村后山发生山体滑坡，约200立方米土石冲向坡下民房，有人被困。",
            location="东湖路后山坡下 (东湖村)",
            grid="G21",
            reporter_name="东湖村村委会",
            reporter_phone=_phone(rng),
            source="phone",
            tags=("滑坡", "转移"),
        ),
    ).id

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    def step(minutes: float, move: Callable[[], object]) -> None:
        clock.set(at(minutes))
        move()

    step(4, lambda: wf.register(db, clock, policy, "王伟", case))
    step(7, lambda: wf.dispatch(db, clock, policy, "王伟", case, "team:T-RESCUE"))
    _landslide_call_out(db, clock, case, grid="G21")
    step(10, lambda: record_figures(db, clock, "王伟", case, {"trapped": 2, "evacuated": 12}))
    step(15, lambda: wf.handle(db, clock, policy, "王伟", case))
    _file(
        desk,
        clock,
        case,
        ReportKind.INITIAL,
        at(22),
        fields={
            "area": "东湖村后山坡下6户居民",
            "damage": "2间民房后墙被冲毁",
            "trend": "降雨仍在持续，存在再次滑坡可能",
            "leaders": LEADERS,
            "next_steps": "全力搜救被困人员，转移坡下及周边居民；请求区应急管理局派地质灾害专家",
        },
    )
    step(70, lambda: record_figures(db, clock, "王伟", case, {"trapped": 0, "injured": 1}))
    step(80, lambda: record_figures(db, clock, "王伟", case, {"evacuated": 26}))
    _file(
        desk,
        clock,
        case,
        ReportKind.FOLLOWUP,
        at(105),
        fields={
            "trend": "被困2人已全部救出，1人轻伤送医；险情得到初步控制",
            "next_steps": "做好转移群众安置，夜间安排专人监测坡体",
        },
    )
    step(20 * 60, lambda: wf.feedback(db, clock, policy, "王伟", case, "滑坡体已清理，坡体稳定"))
    _file(
        desk,
        clock,
        case,
        ReportKind.FOLLOWUP,
        at(20 * 60 + 40),
        fields={
            "trend": "经专家评估坡体已稳定，无再次滑坡风险；18名群众已返家，8人仍在安置点",
            "next_steps": "继续安置8名群众，对受损民房进行安全鉴定",
        },
    )
    step(22 * 60, lambda: wf.verify(db, clock, policy, "王伟", case))
    step(22 * 60 + 15, lambda: wf.close(db, clock, policy, "王伟", case))
    _file(
        desk,
        clock,
        case,
        ReportKind.FINAL,
        at(22 * 60 + 50),
        fields={
            "trend": "险情已排除，事件处置结束",
            "next_steps": "督促村委会做好汛期坡体巡查",
        },
    )


def _report_history(
    db: Database, clock: FixedClock, rng: random.Random, end: datetime, *, late: int
) -> tuple[int, int]:
    """Every report the fortnight owed before ``end`` sent up, in time: each obligation past
    its deadline is met by a report sent a while before it (the first ``late`` initial reports
    a few minutes after it), round after round until none is left; what falls due after
    ``end`` stays owed (the dashboard's "due in ..."). Returns (reports sent, late).
    """
    from uplink import sitreps

    kinds = {ObligationKind.INITIAL: ReportKind.INITIAL, ObligationKind.FINAL: ReportKind.FINAL}
    desk = _Desk(db)
    late_left = late
    for _round in range(50):
        clock.set(end)
        sitreps.catch_up(db, clock, SITREP_RULES)
        owed: dict[int, Obligation] = {}
        for ob in sitreps.open_obligations(db, end, limit=10_000):
            if ob.due < end and ob.case_id not in owed:
                owed[ob.case_id] = ob
        if not owed:
            break
        for ob in owed.values():
            if ob.kind is ObligationKind.PHONE:
                clock.set(ob.since + (ob.due - ob.since) * 0.5)
                sitreps.phone(
                    db, clock, desk.people(clock.now())[0], ob.case_id, to="区应急管理局值班室",
                    at=clock.now(),
                )  # fmt: skip
                continue
            window = ob.due - ob.since
            when = ob.since + window * rng.uniform(0.55, 0.9)
            if ob.kind is ObligationKind.INITIAL and late_left > 0:
                late_left -= 1
                when = ob.due + timedelta(minutes=rng.randrange(5, 25))
            _file(desk, clock, ob.case_id, kinds.get(ob.kind, ReportKind.FOLLOWUP), min(when, end))
    clock.set(end)
    sitreps.catch_up(db, clock, SITREP_RULES)
    written = [r for r in sitreps.list_sitreps(db, limit=10_000) if r.state.final]
    return len(written), late - late_left


def ensure_demo(db_path: Path | None, echo: Callable[[str], None]) -> Path:
    """The demo database at ``db_path`` (or the default place), built first if missing."""
    path = db_path or default_demo_path()
    if not path.exists():
        echo(_("building the demo database at {path} ...").format(path=path))
        echo(build_demo(path))
    return path


# --- the county demo: a hub and three townships whose status flows up -------------------------

COUNTY = ("330106000000", "西湖区")
COUNTY_TOWNSHIPS = (
    ("330106001000", "青山街道"),
    ("330106002000", "和平街道"),
    ("330106003000", "东湖镇"),
)
OFFLINE_HOURS = 3  # the last township lost its link this long ago
COUNTY_PORT = 8480


def default_county_demo_dir() -> Path:
    return demo_db_path().with_name("county-demo")


def build_county_demo(
    directory: Path, *, cases: int = 120, now: datetime | None = None, replace: bool = False
) -> str:
    """Build a county hub and three townships in ``directory``; return what to open.

    Each township is a demo database of its own (built like ``dutydesk demo``) with a
    configuration whose ``[uplink]`` points at the county (``county.toml`` serves the hub on
    127.0.0.1:8480) and a token file (0600) the county issued. The first two have sent
    everything: their events were drained into the hub through the protocol's own functions
    (projection, then ingestion batch by batch, exactly what ``serve`` does over HTTP). The
    third lost its link ``OFFLINE_HOURS`` ago: the hub flags it silent, and its own console
    shows the link down and the backlog of what it logged since.

    Their information reports went up the same way. The first township sent one initial report
    late (迟报); the second has a major case logged ``UNREPORTED_MINUTES`` ago whose initial
    report, due 30 minutes after, never went (漏报): ``dutydesk hub timeliness`` and the hub's
    units screen show both.

    ``WARNING_LEAD`` before ``now`` the county issued an orange 暴雨 warning over the first two
    townships, with a directive (:func:`_county_warning`): their 叫应 started on receipt and
    runs still, some people answered and some are silent, and it all went up, so ``dutydesk
    hub alert ID`` and the hub's console show it. The warned townships' own past stops when the
    warning came, so each timeline stays in time order.
    """
    from jurisdiction.units import NewUnit, add_unit
    from uplink import hub
    from uplink.models import LinkState
    from uplink.status import record_failure

    county_db = directory / "county.db"
    if county_db.exists() and not replace:
        raise FileExistsError(county_db)
    end = now or SystemClock().now()
    private_dir(directory)
    towns = directory / "townships"
    private_dir(towns)
    for old in [county_db, *towns.glob("*.db")]:
        for path in (old, Path(f"{old}-wal"), Path(f"{old}-shm"), head_file_for(old)):
            path.unlink(missing_ok=True)
    url = f"http://127.0.0.1:{COUNTY_PORT}"
    (directory / "county.toml").write_text(
        'operator = "区应急值班员"\n\n[hub]\nenabled = true\nsilent_minutes = 30\n\n'
        f"[serve]\nport = {COUNTY_PORT}\n",
        encoding="utf-8",
    )
    hub_db = connect(county_db)
    lines = []
    tokens: dict[str, str] = {}
    try:
        with write(hub_db):
            add_unit(
                hub_db, FixedClock(end - timedelta(days=400)), "admin", NewUnit(*COUNTY, "county")
            )
        for index, (code, name) in enumerate(COUNTY_TOWNSHIPS):
            offline = index == len(COUNTY_TOWNSHIPS) - 1
            _unit, token = hub.add_unit(hub_db, end - timedelta(days=30), code, name)
            path = towns / f"{code}.db"
            # The warned townships' own past stops when the warning comes; the 叫应 fills the rest.
            cut = end - (timedelta(hours=OFFLINE_HOURS) if offline else WARNING_LEAD)
            tokens[code] = token
            build_demo(
                path,
                cases=cases,
                seed=20261126 + index,
                now=cut,
                township=(code, name),
                late_reports=1 if index == LATE_TOWNSHIP else 0,
            )
            token_file = towns / f"{code}.token"
            token_file.unlink(missing_ok=True)
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(token + "\n")
            (towns / f"{code}.toml").write_text(
                f'operator = "{OPERATORS[0]}"\n\n[uplink]\nurl = "{url}"\nunit = "{code}"\n'
                f'token_file = "{code}.token"\n',
                encoding="utf-8",
            )
            town = connect(path)
            try:
                if index == UNREPORTED_TOWNSHIP:
                    _unreported_case(town, cut)
                _send_up(hub_db, town, code, token, cut)
                if offline:
                    waiting = _cases_since(town, cut, end, code)
                    with write(town):
                        record_failure(
                            town,
                            cut + timedelta(minutes=1),
                            LinkState.BACKING_OFF,
                            _("cannot connect to the hub ({error})").format(
                                error="Connection refused"
                            ),
                            end + timedelta(minutes=5),
                        )
                    lines.append(
                        _("{code} {name}: offline for {hours} h, {n} events waiting").format(
                            code=code, name=name, hours=OFFLINE_HOURS, n=waiting
                        )
                    )
                else:
                    lines.append(
                        _("{code} {name}: in step with the county").format(code=code, name=name)
                    )
            finally:
                town.close()
        lines += _county_warning(hub_db, towns, tokens, end)
        lines += _timeliness_lines(hub_db, end)
    finally:
        hub_db.close()
    return "\n".join(lines)


def _send_up(hub_db: Database, town: Database, code: str, token: str, at: datetime) -> int:
    """What the township's engine sends at ``at``: its events projected, then ingested by the
    hub batch by batch (exactly what ``serve`` does over HTTP). Returns how many went."""
    from uplink import hub
    from uplink.models import Batch
    from uplink.outbox import Projection, mark_sent, project_all, sendable
    from uplink.status import record_ok

    project_all(town, Projection(code), at)
    sent = 0
    while events := sendable(town, code, 200):
        hub.authenticate(hub_db, token, at)
        batch = Batch(code, tuple(e.event for e in events))
        key = f"demo-{code}-{events[0].row}"
        results = hub.ingest(hub_db, code, batch, at, key=key, body_hash=key)
        with write(town):
            mark_sent(
                town, [(e.row, r.result.value) for e, r in zip(events, results, strict=True)], at
            )
            record_ok(town, at, len(events))
        sent += len(events)
    return sent


# The warning: an orange 暴雨 warning over the first two townships, WARNING_LEAD before "now".
WARNING_LEAD = timedelta(minutes=12)
WARNED = 2  # the first two townships lie in its area; the offline one does not
# Per warned township: how it takes the inbox, the share of people who answer yes and how
# fast (mean minutes); the rest are silent, a few say no (see _play_call).
WARNED_CALLS = (("push", 0.82, 3.0), ("poll", 0.6, 7.0))
COUNTY_OPERATOR = "区应急值班员"
WARNING = {
    "event": "暴雨",
    "headline": "西湖区气象台发布暴雨橙色预警信号",
    "description": (
        "受强对流云团影响，预计未来6小时青山街道、和平街道累计降雨量将达80毫米以上，"
        "局地伴有短时强降水和雷暴大风。"
    ),
    "instruction": "请立即到岗带班，排查低洼地带和地质灾害隐患点，做好群众转移准备。",
}
DIRECTIVE = {
    "title": "关于做好强降雨防范应对工作的通知",
    "text": (
        "各街道：区气象台已发布暴雨橙色预警。请立即启动防汛应急响应，落实领导带班和24小时值班，"
        "全面排查低洼易涝点、地下空间和在建工地，于2小时内反馈部署情况。"
    ),
    "reply": "已启动防汛Ⅳ级应急响应，党工委书记带班；排查低洼易涝点12处，预置抢险队员30人。",
}


def _county_warning(
    hub_db: Database, towns: Path, tokens: dict[str, str], end: datetime
) -> list[str]:
    """The county issues an orange 暴雨 warning over the first two townships and a directive
    with it; each township takes them from its inbox (one poked, one polling) through the
    protocol's own puller, its 叫应 starts on receipt and runs until ``end`` (some answer,
    some stay silent), the first replies to the directive, and everything goes up: the hub's
    ``hub alert`` and console show each township's 叫应. Returns the summary's lines."""
    from uplink import alerts, downlink, hub

    start = end - WARNING_LEAD
    clock = FixedClock(start)
    warned = COUNTY_TOWNSHIPS[:WARNED]
    spec = alerts.AlertSpec(
        event=WARNING["event"],
        severity="Severe",
        urgency="Expected",
        certainty="Likely",
        headline=WARNING["headline"],
        description=WARNING["description"],
        instruction=WARNING["instruction"],
        area_desc="、".join(name for _code, name in warned),
        area_codes=tuple(code for code, _name in warned),
        expires=end + timedelta(hours=6),
        sender_name=COUNTY[1],
    )
    with write(hub_db):
        record = alerts.issue(hub_db, clock, COUNTY_OPERATOR, spec, sender_code=COUNTY[0])
        units = downlink.fan_out_alert(hub_db, clock.now(), record)
        clock.advance(minutes=1)
        directive, _sent = downlink.issue_directive(
            hub_db,
            clock.now(),
            COUNTY_OPERATOR,
            sender=COUNTY[0],
            sender_name=COUNTY[1],
            title=DIRECTIVE["title"],
            text=DIRECTIVE["text"],
            reply_by=clock.now() + timedelta(hours=2),
            alert=record.identifier,
            units=units,
        )
    rng = random.Random(record.identifier)
    for index, (code, _name) in enumerate(warned):
        via, share, speed = WARNED_CALLS[index]
        town = connect(towns / f"{code}.db")
        routing = _routing(towns / f"{code}.db")  # its field call-outs are due too
        try:
            at = FixedClock(start + timedelta(minutes=1, seconds=30 + 90 * index))
            _pull(hub_db, town, code, tokens[code], at, via)
            _send_up(hub_db, town, code, tokens[code], at.now())  # the receipt (签收)
            _play_call(town, at, rng, record.identifier, share, speed, end, routing)
            if index == 0:
                from uplink import directives

                at.set(start + timedelta(minutes=9))
                directives.reply(town, at, OPERATORS[0], directive, DIRECTIVE["reply"])
            at.set(end)
            _deliver(town, at, routing)
            _send_up(hub_db, town, code, tokens[code], end)
        finally:
            town.close()
    view = hub.alert_view(hub_db, record.identifier, end, timedelta(minutes=15))
    lines = [
        _("{title} {id} sent down to {units}: dutydesk hub alert {id}").format(
            title=f"{record.colour.label_zh if record.colour else ''}{record.event}",
            id=record.identifier,
            units=", ".join(units),
        )
    ]
    for row in view.units:
        lines.append(
            _("{code} {name}: call-and-answer {yes}/{total} answered yes, {silent} silent").format(
                code=row.unit,
                name=row.name,
                yes=row.yes,
                total=row.total,
                silent=row.not_answered,
            )
        )
    return lines


def _pull(
    hub_db: Database, town: Database, code: str, token: str, clock: FixedClock, via: str
) -> None:
    """The township's engine pulling its inbox from the hub, through the protocol's own
    :class:`uplink.downlink.Puller`; the HTTP exchange is answered in-process by the hub's
    functions (what ``serve --hub`` does for ``GET /v1/units/{code}/inbox``)."""
    import asyncio

    import httpx

    from uplink import downlink, hub
    from uplink.callanswer_rules import WarningRules

    def answer(request: httpx.Request) -> httpx.Response:
        hub.authenticate(
            hub_db, request.headers["Authorization"].removeprefix("Bearer "), clock.now()
        )
        after = downlink.check_cursor(request.url.params.get("after"))
        limit = downlink.check_limit(request.url.params.get("limit"))
        items, following = downlink.inbox(hub_db, code, after, limit)
        return httpx.Response(200, json=downlink.inbox_json(code, items, following, limit))

    async def pull() -> downlink.PullReport:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            puller = downlink.Puller(
                f"http://127.0.0.1:{COUNTY_PORT}",
                token,
                code,
                clock,
                client=client,
                rules=WarningRules(),
                policy=Policy(shift_leads=tuple(SHIFT_LEADS)),
            )
            return await puller.pull(town, via="push" if via == "push" else "poll")

    report = asyncio.run(pull())
    assert report.error is None and not report.refused, report


def _play_call(
    db: Database,
    clock: FixedClock,
    rng: random.Random,
    identifier: str,
    share: float,
    speed: float,
    end: datetime,
    routing: Routing | None = None,
) -> None:
    """A 叫应 from its start until ``end``, minute by minute: the engine sends (and escalates
    silence), each person called answers yes with ``share`` after an exponential delay of mean
    ``speed`` minutes, a few say no, the rest stay silent. ``routing``: the engine's, for the
    field call-outs due meanwhile (:func:`_routing`)."""
    from uplink.callanswer import call_of

    progress = call_of(db, identifier)
    assert progress is not None, identifier
    answers = _Answers(rng, share, speed)
    minute = 0
    while (now := clock.now()) < end:
        _deliver(db, clock, routing)
        answers.play(db, clock, progress.mobilization_id, minute)
        minute += 1
        clock.set(min(now + timedelta(minutes=1), end))


LATE_TOWNSHIP = 0  # its fortnight has one initial report sent late (迟报)
UNREPORTED_TOWNSHIP = 1  # it has a major case with no initial report (漏报)
UNREPORTED_MINUTES = 50  # that case was logged this long before the demo's "now"


def _unreported_case(db: Database, end: datetime) -> None:
    """A gas leak (severity II) logged, registered and dispatched ``UNREPORTED_MINUTES`` before
    ``end``, whose initial report (due 30 minutes after it was received) was never sent."""
    from uplink import sitreps

    policy = Policy(shift_leads=tuple(SHIFT_LEADS))
    clock = FixedClock(end - timedelta(minutes=UNREPORTED_MINUTES))
    with write(db):
        case = create_incident(
            db,
            clock,
            policy,
            OPERATORS[1],
            NewIncident(
                title="南苑路沿街商铺燃气泄漏",
                category="accident_disaster",
                type="gas_leak",
                severity="II",
                urgency="very_urgent",
                description="南苑路56号沿街餐馆燃气管道泄漏，气味浓烈，已关闭总阀，周边商户疏散。",
                location="南苑路56号 (南苑社区)",
                grid="G31",
                reporter_name="赵秀英",
                reporter_phone="13957100056",
                source="phone",
                tags=("燃气", "疏散"),
            ),
        )
        clock.advance(minutes=3)
        wf.register(db, clock, policy, OPERATORS[1], case.id)
        clock.advance(minutes=4)
        wf.dispatch(db, clock, policy, OPERATORS[1], case.id, "team:T-FIRE")
        clock.set(end)
        sitreps.catch_up(db, clock, SITREP_RULES)


def _timeliness_lines(db: Database, end: datetime) -> list[str]:
    """What the county sees of its townships' reporting over the fortnight (hub timeliness)."""
    from uplink.timeliness import timeliness

    found = timeliness(db, SitrepRules(), end - timedelta(days=14), end, end)
    return [
        _(
            "{code} {name}: {owed} reports owed over 14 days, {on_time} on time, {late} late,"
            " {missing} missing"
        ).format(
            code=u.unit,
            name=u.name,
            owed=u.obligations,
            on_time=u.on_time,
            late=u.late,
            missing=u.missing,
        )
        for u in found.units
    ]


def _cases_since(db: Database, start: datetime, end: datetime, code: str) -> int:
    """Log a few cases between ``start`` and ``end`` (after the link went down); project them
    as the engine would. Returns how many uplink events wait."""
    from uplink.outbox import Projection, backlog, project_all

    rng = random.Random(code)
    policy = Policy(shift_leads=tuple(SHIFT_LEADS))
    clock = FixedClock(start)
    grids = [f"G{n:02d}" for n in range(1, 41)]
    weights = [t[-1] for t in TEMPLATES]
    span = int((end - start).total_seconds() // 60)
    for minute in sorted(rng.sample(range(5, span), 6)):
        _one_case(db, clock, policy, rng, start + timedelta(minutes=minute), end, weights, grids)
    clock.set(end)
    project_all(db, Projection(code), end)
    return backlog(db)[0]
