"""Benchmark of the case store at township scale: bulk load, the console's list query, search.

Builds a database with 1,000,000 cases and 5,000,000 timeline entries (``--cases``/``--events``;
``--quick`` for 50,000/250,000) and prints one line per figure, then a verdict:

* ``load.*``: :func:`incidents.bulk.bulk_load` against a raw ``sqlite3.executemany`` of the very
  same rows (same ids, same chain hashes) into an identical fresh schema, triggers and
  full-text index included, in the same run. The time spent *producing* the input (generating
  the data, and for the raw load also building the tuples and hashing the chain) is measured
  apart and left out of both, so the ratio compares what bulk_load adds in Python (checks,
  tuples, hashing, counters) with SQLite's own work. Target: ratio >= 0.5.
* ``list.*``: :func:`incidents.records.list_incidents`, one page of 50 of the active queue
  sorted by deadline, without and with filters, over first and deeper (keyset) pages.
  Target: p95 < 20 ms.
* ``search.*``: :func:`incidents.records.search_incidents` (limit 50) for an English word and a
  two-character Chinese word that each match a realistic share of the cases. Target: p95 < 50 ms.
* ``db.size``: the database file after a checkpoint.

Not part of CI. Run from the repository root::

    python -m bench.incidents --quick
    python -m bench.incidents                     # full size, several minutes
    python -m bench.incidents --out /tmp/b --keep  # keep the database files
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file, this module's directory comes first on sys.path and its own name would
    # shadow the ``incidents`` package: put the repository root there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import heapq  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from functools import partial  # noqa: E402
from itertools import islice  # noqa: E402
from operator import itemgetter  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

from sqlite_utils import Database  # noqa: E402

from bench import report  # noqa: E402
from incidents.bulk import (  # noqa: E402
    DEFAULT_CHUNK,
    INCIDENT_COLUMNS,
    INSERT_EVENT,
    INSERT_INCIDENT,
    RAISE_COUNTER,
    UPDATE_HEAD,
    BulkEvent,
    bulk_load,
)
from incidents.limits import Policy  # noqa: E402
from incidents.models import CATEGORIES, Severity, Stage  # noqa: E402
from incidents.records import ListFilter, list_incidents, search_incidents  # noqa: E402
from store.audit import GENESIS, chain_rows, verify_chain  # noqa: E402
from store.db import connect  # noqa: E402
from store.textsearch import fts_query  # noqa: E402

T = TypeVar("T")

QUICK = (50_000, 250_000)
FULL = (1_000_000, 5_000_000)
TARGET_RATIO = 0.5
TARGET_LIST_MS = 20.0
TARGET_SEARCH_MS = 50.0
SEARCH_EN = "CCTV"
SEARCH_ZH = "燃气"

# ---- realistic data ----------------------------------------------------------------------


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_PREFIXES = words(
    "幸福 阳光 和平 翠湖 金桥 春晖 锦绣 东风 光明 新华 青松 红星 滨江 望江 南苑 北苑 桂花 梧桐"
    " 玉兰 长安 紫荆 银杏 丰收 向阳 富民 康乐 永安 泰和 新城 华庭"
)
_SUFFIXES = words("社区 小区 花园 家园 村 新村 苑 里")
COMMUNITIES = [p + s for p in _PREFIXES for s in _SUFFIXES]
ROADS = words(
    "人民路 解放路 建设路 中山路 滨河路 工业大道 学府路 文化路 胜利街 和平街 新华街 东环路"
    " 西环路 南环路 北环路 长江路 黄河路 青年路 振兴路 兴业路 站前路 公园路 育才路 迎宾大道"
)
PLACES = words(
    "东门 西门 南门 北门 地下车库 菜市场 幼儿园门口 广场 健身区 楼道 电梯间 配电房 水泵房"
    " 围墙外 绿化带 停车场 垃圾站 小游园"
)
PROBLEMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("natural_disaster", "flood"): ("道路积水严重", "河道水位上涨", "低洼处进水"),
    ("natural_disaster", "rainstorm"): ("暴雨导致树木倒伏", "雨水倒灌", "排水口堵塞"),
    ("natural_disaster", "typhoon"): ("广告牌松动", "大风吹倒围挡", "临时棚房被掀翻"),
    ("natural_disaster", "earthquake"): ("墙体出现裂缝", "震感明显居民外出避险"),
    ("natural_disaster", "geological"): ("山体滑坡", "边坡落石", "地面塌陷"),
    ("natural_disaster", "snow_ice"): ("路面结冰", "积雪压塌雨棚", "水管冻裂"),
    ("natural_disaster", "drought"): ("农田灌溉用水紧张", "水塘干涸"),
    ("natural_disaster", "other"): ("强对流天气受损",),
    ("accident_disaster", "fire"): ("厨房起火", "电动车充电起火", "楼道杂物着火"),
    ("accident_disaster", "traffic"): ("两车追尾", "电动车与行人相撞", "货车侧翻"),
    ("accident_disaster", "gas_leak"): ("燃气泄漏有异味", "燃气管道破损"),
    ("accident_disaster", "building_collapse"): ("违建雨棚坍塌", "老旧围墙倒塌"),
    ("accident_disaster", "hazmat"): ("化学品桶泄漏", "油罐车渗漏"),
    ("accident_disaster", "power_outage"): ("片区停电", "配电箱冒烟跳闸"),
    ("accident_disaster", "work_safety"): ("工地脚手架松动", "工人高处坠落"),
    ("accident_disaster", "other"): ("电梯困人",),
    ("public_health", "epidemic"): ("发现发热聚集病例", "学校出现水痘病例"),
    ("public_health", "food_poisoning"): ("聚餐后多人腹泻", "食堂疑似食物中毒"),
    ("public_health", "animal_epidemic"): ("家禽异常死亡", "流浪犬咬伤居民"),
    ("public_health", "other"): ("饮用水浑浊",),
    ("social_security", "mass_incident"): ("业主聚集维权", "工人聚集讨薪"),
    ("social_security", "public_order"): ("深夜打架斗殴", "有人醉酒滋事"),
    ("social_security", "missing_person"): ("老人走失", "儿童走失"),
    ("social_security", "other"): ("可疑人员徘徊",),
    ("environment", "garbage"): ("垃圾堆放未清运", "建筑垃圾乱倒"),
    ("environment", "pollution"): ("河道发黑发臭", "工厂排放异味"),
    ("environment", "noise"): ("夜间施工噪声扰民", "广场舞音响扰民"),
    ("environment", "other"): ("油烟扰民",),
    ("facilities", "road_damage"): ("路面坑洼", "人行道破损"),
    ("facilities", "manhole"): ("井盖缺失", "井盖破损松动"),
    ("facilities", "streetlight"): ("路灯不亮", "路灯杆倾斜"),
    ("facilities", "water_pipe"): ("供水管道破裂漏水", "小区停水"),
    ("facilities", "other"): ("公交站牌损坏",),
    ("dispute", "neighbour"): ("楼上漏水引发纠纷", "占用公共楼道纠纷"),
    ("dispute", "property"): ("物业费纠纷", "车位纠纷"),
    ("dispute", "labour"): ("拖欠工资纠纷",),
    ("dispute", "family"): ("家庭矛盾报警",),
    ("dispute", "other"): ("租赁合同纠纷",),
    ("safety_hazard", "fire_hazard"): ("消防通道被占用", "楼道堆放杂物", "灭火器过期"),
    ("safety_hazard", "electrical"): ("飞线充电", "电线老化裸露"),
    ("safety_hazard", "unsafe_building"): ("房屋墙体开裂", "危房仍有人居住"),
    ("safety_hazard", "falling_objects"): ("外墙瓷砖脱落", "阳台花盆有坠落风险"),
    ("safety_hazard", "flood_risk"): ("排水沟堵塞", "防汛物资不足"),
    ("safety_hazard", "other"): ("井边无防护",),
}
CATEGORY_WEIGHTS = {
    "facilities": 20,
    "safety_hazard": 20,
    "environment": 18,
    "dispute": 15,
    "accident_disaster": 12,
    "natural_disaster": 6,
    "social_security": 6,
    "public_health": 3,
}
KINDS = [(c, t) for c, (_, types) in CATEGORIES.items() for t in types]
KIND_WEIGHTS = [CATEGORY_WEIGHTS[c] / len(CATEGORIES[c][1]) for c, _ in KINDS]
REPORTERS = words("居民 网格员 物业 热线12345转办 巡查人员 商户 路过群众 村委会")
DETAILS = words("现场情况较为紧急 已持续两天 影响居民正常出行 存在安全隐患 多名群众反映 已拍照留存")
REQUESTS = words("请尽快派人处理 请相关部门核实 希望尽快解决 请协调处置")
ENGLISH = (
    "，监控CCTV画面已调取",
    "，现场照片已通过APP上传",
    "，一辆白色SUV停在旁边",
    "，GPS定位已发送",
    "，已用drone航拍现场",
    "，附近WiFi热点附近",
    "，居民在WeChat群里转发",
    "，位于KTV门口",
)
NOTES = (
    "已电话联系报事人",
    "网格员已到场核实",
    "已通知物业处理",
    "现场已设置警示标志",
    "等待相关部门答复",
    "已协调施工单位",
    "处置人员已出发",
    "报事人表示满意",
)
RESULTS = words("已处理完毕 已修复 已清理 已协调解决 已劝离 已加固")
SURNAMES = words("张 王 李 赵 刘 陈 杨 黄 周 吴 徐 孙 马 朱 胡")
TITLES = words("先生 女士 师傅 阿姨")
OPERATORS = ("值班员甲", "值班员乙", "值班员丙", "带班领导", "system")
GRIDS = [f"G{n:03d}" for n in range(1, 401)]
OPEN_STAGES = (
    Stage.REPORTED,
    Stage.REGISTERED,
    Stage.DISPATCHED,
    Stage.HANDLING,
    Stage.FEEDBACK,
    Stage.VERIFIED,
)
OPEN_WEIGHTS = (10, 10, 15, 40, 15, 10)
STEP_OF = {
    Stage.REGISTERED: "register",
    Stage.DISPATCHED: "dispatch",
    Stage.HANDLING: "handle",
    Stage.FEEDBACK: "feedback",
    Stage.VERIFIED: "verify",
    Stage.CLOSED: "close",
    Stage.VOIDED: "void",
}
START = datetime(2022, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class Plan:
    """One generated case: its row and its timeline as ``(ts, kind, from, to, data)``."""

    case: dict[str, Any]
    timeline: list[tuple[float, str, str | None, str | None, dict[str, Any]]]


class DataSet:
    """Deterministic, streaming generator of ``n_cases`` cases and ``n_events`` entries.

    ``cases()`` and ``events()`` each replay the same seeded plans, so the two streams agree and
    any number of runs get identical rows without holding them in memory. Entries come out in
    time order across cases (a heap holds the ones still in the future), as a live system
    would have written them.
    """

    def __init__(self, n_cases: int, n_events: int, seed: int) -> None:
        if n_events < n_cases:
            raise SystemExit("--events must be at least --cases (every case has its report)")
        self.n_cases = n_cases
        self.n_events = n_events
        self.seed = seed
        years = max(3, -(-n_cases // 600_000))  # case numbers have six digits per year
        self.step = years * 365 * 24 * HOUR / n_cases
        self.now = START + n_cases * self.step + 24 * HOUR
        self.now_iso = iso(self.now)
        self.policy = Policy()

    def cases(self) -> Iterator[dict[str, Any]]:
        for plan in self._plans():
            yield plan.case

    def events(self) -> Iterator[BulkEvent]:
        pending: list[tuple[float, int, BulkEvent]] = []
        seq = 0
        rng = random.Random(self.seed + 1)
        for index, plan in enumerate(self._plans()):
            reported = plan.timeline[0][0]
            while pending and pending[0][0] <= reported:
                yield heapq.heappop(pending)[2]
            for ts, kind, stage_from, stage_to, data in plan.timeline:
                operator = OPERATORS[rng.randrange(len(OPERATORS))]
                entry = (iso(ts), operator, index, kind, stage_from, stage_to, data)
                heapq.heappush(pending, (ts, seq, entry))
                seq += 1
        while pending:
            yield heapq.heappop(pending)[2]

    def _plans(self) -> Iterator[Plan]:
        rng = random.Random(self.seed)
        n, total = self.n_cases, self.n_events
        emitted = 0
        numbers: dict[int, int] = {}
        for i in range(n):
            gap = total * (i + 1) // n - emitted
            budget = gap if i == n - 1 else max(1, gap + rng.choice((-2, -1, -1, 0, 0, 0, 1, 1, 2)))
            plan = self._plan(rng, i, budget, numbers)
            emitted += len(plan.timeline)
            yield plan

    def _plan(self, rng: random.Random, i: int, budget: int, numbers: dict[int, int]) -> Plan:
        reported = START + (i + rng.random() * 0.9) * self.step
        year = time.gmtime(reported).tm_year
        numbers[year] = numbers.get(year, 0) + 1
        category, type_ = rng.choices(KINDS, KIND_WEIGHTS)[0]
        problem = rng.choice(PROBLEMS[(category, type_)])
        community = rng.choice(COMMUNITIES)
        building = rng.randint(1, 40)
        where = rng.random()
        if where < 0.4:
            location = f"{community}{building}号楼"
        elif where < 0.65:
            location = f"{rng.choice(ROADS)}{rng.randint(1, 300)}号附近"
        else:
            location = f"{community}{rng.choice(PLACES)}"
        english = rng.choice(ENGLISH) if rng.random() < 0.12 else ""
        description = (
            f"{rng.choice(REPORTERS)}反映：{location}{problem}，{rng.choice(DETAILS)}{english}，"
            f"{rng.choice(REQUESTS)}。"
        )
        severity = rng.choices((1, 2, 3, 4), (2, 8, 20, 70))[0]
        urgency = rng.choices(("normal", "urgent", "very_urgent"), (75, 20, 5))[0]
        source = rng.choices(
            ("phone", "hotline", "grid_patrol", "video", "directive", "other"),
            (25, 30, 30, 8, 4, 3),
        )[0]
        grid = GRIDS[rng.randrange(len(GRIDS))]
        tags = rng.choice(('["防汛"]', '["重点"]', '["回访"]')) if rng.random() < 0.1 else "[]"
        values: dict[str, Any] = {
            "title": f"{location}{problem}",
            "description": description,
            "category": category,
            "type": type_,
            "severity": severity,
            "urgency": urgency,
            "location": location,
            "lat": None,
            "lon": None,
            "grid": grid,
            "reporter_name": rng.choice(SURNAMES) + rng.choice(TITLES),
            "reporter_phone": f"13{rng.randint(100000000, 999999999)}",
            "source": source,
        }
        recent = i >= 0.85 * self.n_cases
        if rng.random() < (0.6 if recent else 0.012):
            final = rng.choices(OPEN_STAGES, OPEN_WEIGHTS)[0]
        else:
            final = Stage.VOIDED if rng.random() < 0.06 else Stage.CLOSED
        if final is Stage.VOIDED:
            path = [Stage.VOIDED] if rng.random() < 0.5 else [Stage.REGISTERED, Stage.VOIDED]
        else:
            path = [*OPEN_STAGES[1:], Stage.CLOSED]
            if final.is_open:
                path = path[: OPEN_STAGES.index(final)]
        if len(path) + 1 > budget:  # an imported history: keep the first steps and the last
            path = path[: max(budget - 2, 0)] + path[-1:] if budget > 1 else []
        stage = Stage.REPORTED
        ts = reported
        timeline: list[tuple[float, str, str | None, str | None, dict[str, Any]]] = [
            (
                reported,
                "reported",
                None,
                "reported",
                {**values, "tags": json.loads(tags), "number": ""},
            )
        ]
        deadline: str | None = None
        assignee = None
        for to in path:
            ts = min(ts + rng.uniform(0.1, 30.0) * HOUR, self.now - HOUR)
            data: dict[str, Any] = {}
            if to is Stage.DISPATCHED:
                assignee = f"grid:{grid}"
                data["to"] = assignee
            elif to is Stage.FEEDBACK:
                data["result"] = rng.choice(RESULTS)
            elif to is Stage.VERIFIED:
                data["passed"] = True
            elif to is Stage.VOIDED:
                data["reason"] = "重复上报"
            data["deadline"] = None
            timeline.append((ts, STEP_OF[to], stage.value, to.value, data))
            stage = to
        stage_since = ts
        parked = int(stage.is_open and stage is not Stage.REPORTED and rng.random() < 0.03)
        if stage.is_open and not parked:
            limit = self.policy.deadline(
                stage, datetime.fromtimestamp(stage_since, UTC), category, type_, urgency
            )
            deadline = iso(limit.timestamp()) if limit else None
        end = stage_since if not stage.is_open else self.now - HOUR
        for _ in range(budget - len(timeline)):
            at = rng.uniform(reported, max(end, reported + 1))
            pick = rng.random()
            extra: tuple[str, dict[str, Any]]
            if pick < 0.6:
                extra = (
                    "note",
                    {"text": rng.choice(NOTES) + (english if rng.random() < 0.1 else "")},
                )
            elif pick < 0.75:
                extra = "remind", {"n": 1, "stage": stage.value, "deadline": deadline}
            elif pick < 0.9:
                extra = "assign", {"from": assignee, "to": f"person:{rng.choice(SURNAMES)}工"}
            else:
                extra = "supervise", {"stage": stage.value, "deadline": deadline}
            timeline.append((at, extra[0], None, None, extra[1]))
        timeline.sort(key=itemgetter(0))
        number = f"{year}-{numbers[year]:06d}"
        timeline[0][4]["number"] = number
        overdue = deadline is not None and deadline < self.now_iso
        case = {
            "number": number,
            **values,
            "stage": stage.value,
            "tags": tags,
            "assignee": assignee,
            "reported_at": iso(reported),
            "stage_since": iso(stage_since),
            "deadline": deadline,
            "active": int(stage.is_open and not parked),
            "parked": parked,
            "supervised": int(overdue),
            "overdue_since": deadline if overdue else None,
            "remind_at": deadline if overdue else None,
            "reminders": 0,
            "extensions": 0,
            "merged_into": None,
            "updated_at": iso(max(t[0] for t in timeline)),
            "closed_at": iso(stage_since) if not stage.is_open else None,
        }
        return Plan(case, timeline)


# ---- timing helpers ---------------------------------------------------------------------


class Timed(Iterable[T]):
    """Iterates ``source`` in prefetched blocks and adds the time spent producing them up.

    Lets a load be timed without the cost of generating its input: only what the consumer does
    with the items counts.
    """

    def __init__(self, source: Iterable[T], block: int = DEFAULT_CHUNK) -> None:
        self.source = source
        self.block = block
        self.seconds = 0.0
        self.started: float | None = None

    def blocks(self) -> Iterator[list[T]]:
        iterator = iter(self.source)
        while True:
            t0 = time.perf_counter()
            if self.started is None:
                self.started = t0
            block = list(islice(iterator, self.block))
            self.seconds += time.perf_counter() - t0
            if not block:
                return
            yield block

    def __iter__(self) -> Iterator[T]:
        for block in self.blocks():
            yield from block


@dataclass
class LoadTiming:
    rows: int
    seconds: float
    cases: int
    case_seconds: float
    events: int
    event_seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def raw_case_rows(
    cases: Iterable[dict[str, Any]], top: dict[str, int]
) -> Iterator[tuple[Any, ...]]:
    """The rows bulk_load writes into a fresh database, built here without its checks.

    Also collects the highest number per year into ``top`` for the counters.
    """
    values = itemgetter(*INCIDENT_COLUMNS[1:])
    for case_id, case in enumerate(cases, start=1):
        number = case["number"]
        year, seq = number[:4], int(number[5:])
        if seq > top.get(year, 0):
            top[year] = seq
        yield (case_id, *values(case))


def raw_event_rows(events: Iterable[BulkEvent]) -> Iterator[tuple[Any, ...]]:
    shifted = (
        (at, op, None if case is None else case + 1, kind, sf, st, data or {})
        for at, op, case, kind, sf, st, data in events
    )
    return chain_rows(shifted, (0, GENESIS))


def load_raw(path: Path, data: DataSet) -> LoadTiming:
    """The baseline: the same rows through plain ``executemany`` in one transaction."""
    db = connect(path, synchronous="NORMAL")
    conn = db.conn
    top: dict[str, int] = {}
    cases = Timed(raw_case_rows(data.cases(), top))
    events = Timed(raw_event_rows(data.events()))
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    n_cases = n_events = 0
    for block in cases.blocks():
        conn.executemany(INSERT_INCIDENT, block)
        n_cases += len(block)
    for year, seq in top.items():
        conn.execute(RAISE_COUNTER, (f"incident-{year}", seq))
    t_cases = time.perf_counter()
    last: tuple[Any, ...] | None = None
    for block in events.blocks():
        conn.executemany(INSERT_EVENT, block)
        n_events += len(block)
        last = block[-1]
    if last is not None:
        conn.execute(UPDATE_HEAD, (last[0], last[-1]))
    conn.execute("COMMIT")
    t1 = time.perf_counter()
    db.close()
    return LoadTiming(
        rows=n_cases + n_events,
        seconds=t1 - t0 - cases.seconds - events.seconds,
        cases=n_cases,
        case_seconds=t_cases - t0 - cases.seconds,
        events=n_events,
        event_seconds=t1 - t_cases - events.seconds,
    )


def load_bulk(path: Path, data: DataSet) -> LoadTiming:
    db = connect(path, synchronous="NORMAL")
    cases = Timed(data.cases())
    events = Timed(data.events())
    t0 = time.perf_counter()
    result = bulk_load(db, cases, events)
    t1 = time.perf_counter()
    db.close()
    split = events.started or t1
    return LoadTiming(
        rows=result.cases + result.events,
        seconds=t1 - t0 - cases.seconds - events.seconds,
        cases=result.cases,
        case_seconds=split - t0 - cases.seconds,
        events=result.events,
        event_seconds=t1 - split - events.seconds,
    )


def timings(run: Callable[[int], object], reps: int, warmup: int = 5) -> tuple[float, float]:
    """p50 and p95 in milliseconds of ``run(i)`` over ``reps`` calls."""
    for i in range(warmup):
        run(i)
    samples = []
    for i in range(reps):
        t0 = time.perf_counter()
        run(i)
        samples.append((time.perf_counter() - t0) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]


# ---- report -----------------------------------------------------------------------------


class Report(report.Report):
    """The shared report, and a latency figure checked against its target."""

    def latency(self, name: str, p50: float, p95: float, target: float, extra: str = "") -> None:
        figures = f"p50={p50:.1f}ms p95={p95:.1f}ms target<{target:g}ms"
        self.check(name, figures + (f" {extra}" if extra else ""), p95 < target)


def progress(text: str) -> None:
    print(f"# {text}", file=sys.stderr, flush=True)


def describe(name: str, t: LoadTiming) -> str:
    return (
        f"{name} rows={t.rows:,} time={t.seconds:.1f}s rate={t.rate:,.0f} rows/s"
        f" (cases {t.cases / t.case_seconds:,.0f}/s, events {t.events / t.event_seconds:,.0f}/s)"
    )


def same_rows(raw: Path, bulk: Path, n_cases: int) -> bool:
    """The two loads wrote identical rows: same chain head, same sampled cases."""
    a, b = sqlite3.connect(raw), sqlite3.connect(bulk)
    try:
        probes = [
            "SELECT last_id, last_hash FROM audit_head",
            "SELECT name, value FROM counters ORDER BY name",
            "SELECT count(*), max(id) FROM incidents",
        ]
        ids = sorted({1, n_cases // 3, n_cases // 2, n_cases})
        probes += [f"SELECT * FROM incidents WHERE id = {i}" for i in ids]
        return all(a.execute(q).fetchall() == b.execute(q).fetchall() for q in probes)
    finally:
        a.close()
        b.close()


def bench_queries(path: Path, data: DataSet, reps: int, report: Report) -> None:
    db = connect(path)
    conn = db.conn
    now = datetime.fromtimestamp(data.now, UTC)
    rng = random.Random(data.seed + 2)

    def keys(where: str, params: tuple[Any, ...] = ()) -> list[tuple[str, int] | None]:
        rows = conn.execute(
            f"SELECT deadline, id FROM incidents WHERE active = 1 AND {where}"
            " AND deadline IS NOT NULL ORDER BY random() LIMIT ?",
            (*params, reps),
        ).fetchall()
        found: list[tuple[str, int] | None] = [(str(d), int(i)) for d, i in rows]
        # a quarter first pages, the rest deeper pages at random points of the queue
        return [None if j % 4 == 0 or not found else found[j % len(found)] for j in range(reps)]

    def list_case(name: str, flt: ListFilter, where: str, params: tuple[Any, ...] = ()) -> None:
        after = keys(where, params)
        p50, p95 = timings(lambda i: list_incidents(db, now, flt, after=after[i], limit=50), reps)
        report.latency(f"list.page50.{name}", p50, p95, TARGET_LIST_MS)

    active = conn.execute("SELECT count(*) FROM incidents WHERE active = 1").fetchone()[0]
    report.line(f"data.active_cases {active:,} of {data.n_cases:,}")
    list_case("nofilter", ListFilter(), "1")
    list_case("severity_II", ListFilter(severities=(Severity.II,)), "severity = 2")
    list_case("stage_handling", ListFilter(stages=(Stage.HANDLING,)), "stage = 'handling'")
    grids = [rng.choice(GRIDS) for _ in range(reps)]
    p50, p95 = timings(lambda i: list_incidents(db, now, ListFilter(grid=grids[i]), limit=50), reps)
    report.latency("list.page50.grid", p50, p95, TARGET_LIST_MS)
    p50, p95 = timings(
        lambda i: list_incidents(
            db, now, ListFilter(grid=grids[i], severities=(Severity.III, Severity.IV)), limit=50
        ),
        reps,
    )
    report.latency("list.page50.grid_severity", p50, p95, TARGET_LIST_MS)

    for name, word in (("en", SEARCH_EN), ("zh2", SEARCH_ZH)):
        matched = conn.execute(
            "SELECT count(*) FROM incident_fts WHERE incident_fts MATCH ?", (fts_query(word),)
        ).fetchone()[0]
        hits = len(search_incidents(db, word, limit=50))
        p50, p95 = timings(partial(search_words, db, word), reps)
        share = f"matches={matched:,} ({matched / data.n_cases:.2%}) returned={hits}"
        report.latency(f"search.{name}[{word}]", p50, p95, TARGET_SEARCH_MS, share)
    db.close()


def search_words(db: Database, word: str, _rep: int) -> object:
    return search_incidents(db, word, limit=50)


def db_size_mb(path: Path) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=FULL[0])
    parser.add_argument("--events", type=int, default=FULL[1])
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK[0]:,}/{QUICK[1]:,}"
    )
    parser.add_argument("--out", type=Path, help="directory for the database files")
    parser.add_argument("--keep", action="store_true", help="keep the database files")
    parser.add_argument("--reps", type=int, default=200, help="repetitions per query figure")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    n_cases, n_events = QUICK if args.quick else (args.cases, args.events)
    data = DataSet(n_cases, n_events, args.seed)

    out = args.out or Path(tempfile.mkdtemp(prefix="dutydesk-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    raw_path, bulk_path = out / "bench-raw.db", out / "bench-bulk.db"
    for path in (raw_path, bulk_path):
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)

    report = Report()
    load_start = os.getloadavg()[0]
    report.line(
        f"bench.incidents cases={n_cases:,} events={n_events:,} sqlite={sqlite3.sqlite_version}"
        f" out={out}"
    )
    try:
        progress("raw executemany load ...")
        raw = load_raw(raw_path, data)
        report.line(describe("load.raw_executemany", raw))
        progress("bulk_load ...")
        bulk = load_bulk(bulk_path, data)
        report.line(describe("load.bulk_load", bulk))
        ratio = bulk.rate / raw.rate
        report.check("load.ratio", f"bulk/raw={ratio:.2f} target>={TARGET_RATIO}", ratio >= 0.5)
        report.check(
            "load.same_rows",
            "raw and bulk wrote identical rows",
            same_rows(raw_path, bulk_path, n_cases),
        )
        if not args.keep:
            raw_path.unlink()

        progress("verifying the chain ...")
        db = connect(bulk_path)
        t0 = time.perf_counter()
        chain = verify_chain(db)
        db.close()
        report.check(
            "chain.verify",
            f"entries={chain.checked:,} time={time.perf_counter() - t0:.1f}s",
            chain.ok and chain.checked == n_events,
        )
        progress("queries ...")
        bench_queries(bulk_path, data, args.reps, report)
        report.line(f"db.size {db_size_mb(bulk_path):,.0f}MB")
        report.line(
            f"host.load1 start={load_start:.1f} end={os.getloadavg()[0]:.1f} cpus={os.cpu_count()}"
            " (1-minute load average: above 1 other work shared the CPUs)"
        )
    finally:
        if not args.keep:
            if args.out is None:
                shutil.rmtree(out, ignore_errors=True)
            else:
                for path in (raw_path, bulk_path):
                    for f in (path, path.with_name(path.name + "-wal")):
                        f.unlink(missing_ok=True)
    report.verdict()
    return 0 if not report.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
