"""Provides the incident vocabulary: stages, classification, and the records the service returns.

Everything here is plain data (enums and frozen dataclasses) shared by the service, the CLI and
the console. Labels carry both the English code used in files and commands and the Chinese
term a duty office uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from store.i18n import N_, _
from store.masking import mask_phone


class Stage(StrEnum):
    """Stages of the closed loop 上报→立案→派遣→处置→反馈→核查→结案, plus the two ends aside."""

    REPORTED = "reported"
    REGISTERED = "registered"
    DISPATCHED = "dispatched"
    HANDLING = "handling"
    FEEDBACK = "feedback"
    VERIFIED = "verified"
    CLOSED = "closed"
    VOIDED = "voided"
    MERGED = "merged"

    @property
    def label_zh(self) -> str:
        """The official Chinese name (also accepted as input, whatever the language)."""
        return STAGE_ZH[self]

    @property
    def label(self) -> str:
        """The stage's name in the current language."""
        return _(STAGE_NAMES[self])

    @property
    def is_open(self) -> bool:
        return self not in TERMINAL


STAGE_ZH = {
    Stage.REPORTED: "上报",
    Stage.REGISTERED: "立案",
    Stage.DISPATCHED: "派遣",
    Stage.HANDLING: "处置",
    Stage.FEEDBACK: "反馈",
    Stage.VERIFIED: "核查",
    Stage.CLOSED: "结案",
    Stage.VOIDED: "作废",
    Stage.MERGED: "合并",
}
STAGE_NAMES = {
    Stage.REPORTED: N_("reported"),
    Stage.REGISTERED: N_("registered"),
    Stage.DISPATCHED: N_("dispatched"),
    Stage.HANDLING: N_("handling"),
    Stage.FEEDBACK: N_("feedback"),
    Stage.VERIFIED: N_("verified"),
    Stage.CLOSED: N_("closed"),
    Stage.VOIDED: N_("voided"),
    Stage.MERGED: N_("merged"),
}
LOOP = (
    Stage.REPORTED,
    Stage.REGISTERED,
    Stage.DISPATCHED,
    Stage.HANDLING,
    Stage.FEEDBACK,
    Stage.VERIFIED,
    Stage.CLOSED,
)
TERMINAL = frozenset({Stage.CLOSED, Stage.VOIDED, Stage.MERGED})
"""The stages a case ends in: it needs no more work (``reopen`` brings a closed one back)."""
OPEN_STAGES: tuple[Stage, ...] = tuple(s for s in LOOP if s not in TERMINAL)
"""The open stages, in the loop's order (reported … verified): a case in one still needs work."""
MAX_ID = 2**63 - 1
"""SQLite's largest INTEGER: a longer case, task or handover id can name no row (and would
overflow the query), so it is "not found" before it reaches the database."""
OPEN_CASE_SQL = "stage NOT IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(TERMINAL)))
"""The SQL condition "the case is open" (``stage NOT IN ('closed', 'merged', 'voided')``)."""


class Severity(IntEnum):
    """Level I-IV, shown in the four warning colors red/orange/yellow/blue."""

    I = 1  # noqa: E741 - the official level names are Roman numerals
    II = 2
    III = 3
    IV = 4

    @property
    def label_zh(self) -> str:
        return ("特别重大", "重大", "较大", "一般")[self - 1]

    @property
    def label(self) -> str:
        """The level's name in the current language."""
        return _(SEVERITY_NAMES[self - 1])

    @property
    def color_name(self) -> str:
        """The warning colour's name in the current language (red, orange, yellow, blue)."""
        return _(COLOR_NAMES[self - 1])

    @property
    def color(self) -> str:
        return ("red", "orange", "yellow", "blue")[self - 1]

    @property
    def roman(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str | int) -> Severity:
        """Accept ``I``..``IV``, ``1``..``4``, or the Chinese label."""
        value = str(text).strip().upper()
        for level in cls:
            if value in (level.name, str(level.value), level.label_zh):
                return level
        raise ValueError(
            _("unknown severity {text!r}; use I, II, III or IV (1-4)").format(text=text)
        )


SEVERITY_NAMES = (
    N_("particularly major"),
    N_("major"),
    N_("relatively major"),
    N_("general"),
)
COLOR_NAMES = (N_("red"), N_("orange"), N_("yellow"), N_("blue"))


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    VERY_URGENT = "very_urgent"

    @property
    def label_zh(self) -> str:
        return {"normal": "一般", "urgent": "紧急", "very_urgent": "特急"}[self.value]

    @property
    def label(self) -> str:
        """The urgency's name in the current language."""
        return _(URGENCY_NAMES[self.value])

    @classmethod
    def parse(cls, text: str) -> Urgency:
        value = text.strip().lower().replace("-", "_").replace(" ", "_")
        for urgency in cls:
            if value in (urgency.value, urgency.label_zh):
                return urgency
        raise ValueError(
            _("unknown urgency {text!r}; use normal, urgent or very-urgent").format(text=text)
        )


URGENCY_NAMES = {"normal": N_("normal"), "urgent": N_("urgent"), "very_urgent": N_("very urgent")}


class Source(StrEnum):
    PHONE = "phone"
    HOTLINE = "hotline"
    GRID_PATROL = "grid_patrol"
    VIDEO = "video"
    DIRECTIVE = "directive"
    SMS = "sms"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        return SOURCE_ZH[self]

    @property
    def label(self) -> str:
        """The source's name in the current language."""
        return _(SOURCE_NAMES[self])

    @classmethod
    def parse(cls, text: str) -> Source:
        value = text.strip().lower().replace("-", "_").replace(" ", "_")
        for source in cls:
            if value in (source.value, source.label_zh):
                return source
        names = ", ".join(s.value.replace("_", "-") for s in cls)
        raise ValueError(
            _("unknown source {text!r}; use one of {names}").format(text=text, names=names)
        )


SOURCE_ZH = {
    Source.PHONE: "电话",
    Source.HOTLINE: "热线",
    Source.GRID_PATROL: "网格巡查",
    Source.VIDEO: "视频监控",
    Source.DIRECTIVE: "上级交办",
    Source.SMS: "短信",
    Source.OTHER: "其他",
}

SOURCE_NAMES = {
    Source.PHONE: N_("phone"),
    Source.HOTLINE: N_("hotline"),
    Source.GRID_PATROL: N_("grid patrol"),
    Source.VIDEO: N_("video surveillance"),
    Source.DIRECTIVE: N_("assigned from above"),
    Source.SMS: N_("SMS"),
    Source.OTHER: N_("other"),
}

# The acknowledgement sent to a citizen whose SMS became a case (incidents.citizen): Chinese
# whatever the console's language, as the office's number writes to the public.
SMS_REPLY_ZH = "已收到，事件编号 {number}。如遇紧急危险，请拨打 110、119、120。"


@dataclass(frozen=True)
class InboundRules:
    """``[inbound]``: citizens' SMS (:mod:`incidents.citizen`): grouping, the daily cap, the class.

    Messages from one number within ``group_minutes`` of its previous one join its case; beyond
    ``max_cases_per_day`` new cases a day from one number, messages become notes, unanswered.
    A new case is filed as ``category``/``type`` until the officer registers it.
    """

    group_minutes: int = 30
    max_cases_per_day: int = 5
    category: str = "safety_hazard"
    type: str = "other"

    def to_json(self) -> dict[str, int]:
        return {"group_minutes": self.group_minutes, "max_cases_per_day": self.max_cases_per_day}


# category -> (Chinese label, {type: Chinese label}); the Chinese labels are accepted as input
# whatever the language; CATEGORY_NAMES and TYPE_NAMES are what is shown.
CATEGORIES: dict[str, tuple[str, dict[str, str]]] = {
    "natural_disaster": (
        "自然灾害",
        {
            "flood": "洪涝",
            "rainstorm": "暴雨",
            "typhoon": "台风",
            "earthquake": "地震",
            "geological": "地质灾害",
            "snow_ice": "雨雪冰冻",
            "drought": "干旱",
            "other": "其他",
        },
    ),
    "accident_disaster": (
        "事故灾难",
        {
            "fire": "火灾",
            "traffic": "交通事故",
            "gas_leak": "燃气泄漏",
            "building_collapse": "房屋倒塌",
            "hazmat": "危化品事故",
            "power_outage": "停电",
            "work_safety": "生产安全事故",
            "other": "其他",
        },
    ),
    "public_health": (
        "公共卫生",
        {
            "epidemic": "传染病疫情",
            "food_poisoning": "食物中毒",
            "animal_epidemic": "动物疫情",
            "other": "其他",
        },
    ),
    "social_security": (
        "社会安全",
        {
            "mass_incident": "群体性事件",
            "public_order": "治安事件",
            "missing_person": "人员走失",
            "other": "其他",
        },
    ),
    "environment": (
        "环境卫生",
        {
            "garbage": "垃圾堆放",
            "pollution": "污染",
            "noise": "噪声扰民",
            "other": "其他",
        },
    ),
    "facilities": (
        "市政设施",
        {
            "road_damage": "道路破损",
            "manhole": "井盖缺失",
            "streetlight": "路灯故障",
            "water_pipe": "供水管道",
            "other": "其他",
        },
    ),
    "dispute": (
        "矛盾纠纷",
        {
            "neighbour": "邻里纠纷",
            "property": "物业纠纷",
            "labour": "劳资纠纷",
            "family": "家庭纠纷",
            "other": "其他",
        },
    ),
    "safety_hazard": (
        "安全隐患",
        {
            "fire_hazard": "消防隐患",
            "electrical": "电气线路",
            "unsafe_building": "危房",
            "falling_objects": "高空坠物",
            "flood_risk": "防汛隐患",
            "other": "其他",
        },
    ),
}


CATEGORY_NAMES = {
    "natural_disaster": N_("natural disaster"),
    "accident_disaster": N_("accident or disaster"),
    "public_health": N_("public health"),
    "social_security": N_("social security"),
    "environment": N_("environment and sanitation"),
    "facilities": N_("municipal facilities"),
    "dispute": N_("dispute"),
    "safety_hazard": N_("safety hazard"),
}
TYPE_NAMES = {
    "flood": N_("flood"),
    "rainstorm": N_("rainstorm"),
    "typhoon": N_("typhoon"),
    "earthquake": N_("earthquake"),
    "geological": N_("geological hazard"),
    "snow_ice": N_("snow and ice"),
    "drought": N_("drought"),
    "fire": N_("fire"),
    "traffic": N_("traffic accident"),
    "gas_leak": N_("gas leak"),
    "building_collapse": N_("building collapse"),
    "hazmat": N_("hazardous chemicals accident"),
    "power_outage": N_("power outage"),
    "work_safety": N_("work safety accident"),
    "epidemic": N_("epidemic"),
    "food_poisoning": N_("food poisoning"),
    "animal_epidemic": N_("animal epidemic"),
    "mass_incident": N_("mass incident"),
    "public_order": N_("public order incident"),
    "missing_person": N_("missing person"),
    "garbage": N_("garbage dumping"),
    "pollution": N_("pollution"),
    "noise": N_("noise nuisance"),
    "road_damage": N_("road damage"),
    "manhole": N_("missing manhole cover"),
    "streetlight": N_("streetlight fault"),
    "water_pipe": N_("water pipe"),
    "neighbour": N_("neighbour dispute"),
    "property": N_("property management dispute"),
    "labour": N_("labour dispute"),
    "family": N_("family dispute"),
    "fire_hazard": N_("fire hazard"),
    "electrical": N_("electrical wiring"),
    "unsafe_building": N_("unsafe building"),
    "falling_objects": N_("falling objects"),
    "flood_risk": N_("flood risk"),
    "other": N_("other"),
}


# The steps of a case (``dutydesk incident STEP``, the actions of :mod:`incidents.workflow`) ->
# what people call them; the command names stay codes where they are typed.
STEP_NAMES = {
    "register": N_("register"),
    "dispatch": N_("dispatch"),
    "handle": N_("start handling"),
    "feedback": N_("give feedback"),
    "verify": N_("verify"),
    "close": N_("close"),
    "void": N_("void"),
    "return": N_("send back"),
    "reopen": N_("reopen"),
    "merge": N_("merge"),
    "extend": N_("request extension"),
    "park": N_("park"),
    "unpark": N_("unpark"),
    "edit": N_("edit"),
}

# The fields an edit may change (``incidents.workflow.EDITABLE``) -> what people call them.
FIELD_NAMES = {
    "title": N_("Title"),
    "description": N_("Description"),
    "location": N_("Location"),
    "severity": N_("Level"),
    "urgency": N_("Urgency"),
    "grid": N_("Grid"),
    "tags": N_("Tags"),
    "reporter_name": N_("Reporter"),
    "reporter_phone": N_("Reporter's phone"),
    "lat": N_("Latitude"),
    "lon": N_("Longitude"),
}

# Kinds of a case's timeline entries (event codes) -> what the timeline calls them. The case's
# own events; a mobilization's and a grid's events are named by their packages.
EVENT_NAMES = {
    "reported": N_("reported"),
    "register": N_("registered"),
    "dispatch": N_("dispatched"),
    "handle": N_("handling"),
    "feedback": N_("feedback"),
    "verify": N_("verified"),
    "close": N_("closed"),
    "void": N_("voided"),
    "return": N_("returned"),
    "reopen": N_("reopened"),
    "merge": N_("merged"),
    "merged_in": N_("merged in"),
    "park": N_("parked"),
    "unpark": N_("unparked"),
    "note": N_("note"),
    "assign": N_("assigned"),
    "edit": N_("edited"),
    "undo": N_("step taken back"),
    "extension_requested": N_("extension requested"),
    "extension_approved": N_("extension approved"),
    "extension_granted": N_("extension granted"),
    "extension_rejected": N_("extension rejected"),
    "supervise": N_("supervised"),
    "remind": N_("reminded"),
    "task_added": N_("task added"),
    "task_done": N_("task done"),
    "personal_data_shown": N_("phone shown"),
    "lesson": N_("lesson learned"),
    "follow_up_action": N_("follow-up action"),
    # a citizen's SMS (incidents.citizen)
    "sms_message": N_("SMS from the reporter"),
    "sms_reply": N_("SMS acknowledgement queued"),
    "sms_reply_sent": N_("SMS acknowledgement sent"),
    "sms_reply_failed": N_("SMS acknowledgement failed"),
}


def step_label(step: str) -> str:
    """A step's name in the current language (the command name itself if unknown)."""
    return _(STEP_NAMES[step]) if step in STEP_NAMES else step


def category_label(code: str) -> str:
    """A category's name in the current language (the code itself if unknown)."""
    return _(CATEGORY_NAMES[code]) if code in CATEGORY_NAMES else code


def type_label(code: str) -> str:
    """A type's name in the current language (the code itself if unknown)."""
    return _(TYPE_NAMES[code]) if code in TYPE_NAMES else code


def _spellings(code: str, label_zh: str, names: dict[str, str]) -> set[str]:
    """How a person may name a category or type: its code (``-`` or ``_``), its Chinese label,
    its English name, or its name in the current language."""
    english = names.get(code, code)
    return {code, label_zh, english.lower(), _(english).lower() if code in names else code}


def _choices(codes: list[str], label: Callable[[str], str]) -> str:
    """``自然灾害 (natural-disaster), ...``: each choice in people's words with its code."""
    shown = []
    for code in codes:
        word, typed = label(code), code.replace("_", "-")
        same = word.lower() in (code, typed, code.replace("_", " "))
        shown.append(typed if same else _("{label} ({code})").format(label=word, code=typed))
    return ", ".join(shown)


def parse_classification(category: str, type_: str | None) -> tuple[str, str]:
    """Validate a category/type pair (codes, Chinese labels or names in the current language);
    ``None`` type means ``other``."""
    cat_value = category.strip().lower().replace("-", "_")
    for code, (label, types) in CATEGORIES.items():
        if cat_value in _spellings(code, label, CATEGORY_NAMES) or (
            category.strip().lower() in _spellings(code, label, CATEGORY_NAMES)
        ):
            if not type_:
                return code, "other"
            type_value = type_.strip().lower().replace("-", "_")
            for type_code, type_zh in types.items():
                spelled = _spellings(type_code, type_zh, TYPE_NAMES)
                if type_value in spelled or type_.strip().lower() in spelled:
                    return code, type_code
            raise ValueError(
                _("unknown type {type!r} in category {code}; use one of {names}").format(
                    type=type_, code=category_label(code), names=_choices(list(types), type_label)
                )
            )
    raise ValueError(
        _("unknown category {category!r}; use one of {names}").format(
            category=category, names=_choices(list(CATEGORIES), category_label)
        )
    )


@dataclass(frozen=True)
class Incident:
    """One case as stored; times are aware UTC datetimes."""

    id: int
    number: str
    title: str
    description: str
    category: str
    type: str
    severity: Severity
    urgency: Urgency
    stage: Stage
    location: str
    lat: float | None
    lon: float | None
    grid: str | None
    reporter_name: str | None
    reporter_phone: str | None
    source: Source
    tags: tuple[str, ...]
    assignee: str | None
    reported_at: datetime
    stage_since: datetime
    deadline: datetime | None
    parked: bool
    supervised: bool
    reminders: int
    extensions: int
    merged_into: int | None
    updated_at: datetime
    closed_at: datetime | None

    def overdue_at(self, now: datetime) -> bool:
        return self.deadline is not None and now > self.deadline and not self.parked

    def masked(self) -> Incident:
        """This case as every output shows it: the reporter's phone masked (``138****8000``).

        The table keeps the full number (the duty office calls back); screens, listings and
        the JSON show this copy unless an unmasked read is asked for, and audited.
        """
        if not self.reporter_phone:
            return self
        return replace(self, reporter_phone=mask_phone(self.reporter_phone))

    def to_json(self, now: datetime, *, unmasked: bool = False) -> dict[str, Any]:
        """The stable JSON form used by ``--json`` listings and the uplink.

        Args:
            unmasked: the reporter's phone in full; the caller audits that it was shown.
        """
        from store.clock import to_iso

        phone = self.reporter_phone if unmasked else (mask_phone(self.reporter_phone) or None)
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "type": self.type,
            "severity": self.severity.roman,
            "urgency": self.urgency.value,
            "stage": self.stage.value,
            "location": self.location,
            "lat": self.lat,
            "lon": self.lon,
            "grid": self.grid,
            "reporter_name": self.reporter_name,
            "reporter_phone": phone,
            "source": self.source.value,
            "tags": list(self.tags),
            "assignee": self.assignee,
            "reported_at": to_iso(self.reported_at),
            "stage_since": to_iso(self.stage_since),
            "deadline": to_iso(self.deadline) if self.deadline else None,
            "overdue": self.overdue_at(now),
            "parked": self.parked,
            "supervised": self.supervised,
            "reminders": self.reminders,
            "extensions": self.extensions,
            "merged_into": self.merged_into,
            "updated_at": to_iso(self.updated_at),
            "closed_at": to_iso(self.closed_at) if self.closed_at else None,
        }


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    at: datetime
    operator: str
    kind: str
    stage_from: Stage | None
    stage_to: Stage | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    id: int
    incident_id: int
    title: str
    owner: str | None
    due: datetime | None
    created_at: datetime
    done_at: datetime | None
    done_by: str | None

    def overdue_at(self, now: datetime) -> bool:
        return self.done_at is None and self.due is not None and now > self.due


@dataclass(frozen=True)
class Extension:
    id: int
    incident_id: int
    seq: int
    requested_by: str
    requested_at: datetime
    reason: str
    new_deadline: datetime
    approvals_needed: int
    approvals: tuple[str, ...]
    status: str
