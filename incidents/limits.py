"""Provides stage time limits by category/type and urgency, and the policy that carries them.

Limits come as rules. A rule may name a category, a type and an urgency (each optional) and
gives hours for some stages and the unit they count in (``natural`` or ``working``). For one
case, every matching rule applies from the least to the most specific (type > category >
urgency), later values overriding earlier ones key by key; the configuration's rules form a
layer above all built-in ones, so a configured rule wins wherever it matches.

The built-in rules follow common practice for grid cases: routine cases in working hours;
urgent and very urgent ones around the clock with tight limits; the four emergency categories
around the clock even at normal urgency (their rules name ``urgency = "normal"``, so an urgent
fire never gets looser limits than an urgent noise complaint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidents.calendar import WorkingCalendar, add_hours
from incidents.models import Stage, Urgency

LIMITED_STAGES = (
    Stage.REPORTED,
    Stage.REGISTERED,
    Stage.DISPATCHED,
    Stage.HANDLING,
    Stage.FEEDBACK,
    Stage.VERIFIED,
)
UNITS = ("natural", "working")
EMERGENCY_CATEGORIES = ("natural_disaster", "accident_disaster", "public_health", "social_security")


@dataclass(frozen=True)
class LimitRule:
    """Hours per stage for the cases this rule matches; ``None`` fields match anything."""

    hours: dict[str, float]
    unit: str | None = None
    category: str | None = None
    type: str | None = None
    urgency: str | None = None

    @property
    def specificity(self) -> int:
        return (
            4 * (self.type is not None)
            + 2 * (self.category is not None)
            + (self.urgency is not None)
        )

    def matches(self, category: str, type_: str, urgency: str) -> bool:
        return (
            (self.category is None or self.category == category)
            and (self.type is None or (self.type == type_ and self.category in (None, category)))
            and (self.urgency is None or self.urgency == urgency)
        )


BUILTIN_RULES: tuple[LimitRule, ...] = (
    LimitRule(
        unit="working",
        hours={
            "reported": 2,
            "registered": 4,
            "dispatched": 4,
            "handling": 40,
            "feedback": 8,
            "verified": 16,
        },
    ),
    LimitRule(
        urgency="urgent",
        unit="natural",
        hours={
            "reported": 0.5,
            "registered": 1,
            "dispatched": 1,
            "handling": 12,
            "feedback": 4,
            "verified": 8,
        },
    ),
    LimitRule(
        urgency="very_urgent",
        unit="natural",
        hours={
            "reported": 0.25,
            "registered": 0.5,
            "dispatched": 0.5,
            "handling": 4,
            "feedback": 2,
            "verified": 4,
        },
    ),
    *(
        LimitRule(
            category=category,
            urgency="normal",
            unit="natural",
            hours={
                "reported": 0.5,
                "registered": 1,
                "dispatched": 1,
                "handling": 24,
                "feedback": 4,
                "verified": 12,
            },
        )
        for category in EMERGENCY_CATEGORIES
    ),
)


@dataclass(frozen=True)
class Resolved:
    hours: float
    unit: str


@dataclass(frozen=True)
class Policy:
    """Everything the workflow needs from configuration.

    Attributes:
        rules: limit rules (built-in first, then configured).
        calendar: the working calendar and time zone.
        remind_every: interval of the reminder entries (催办) on an overdue case.
        shift_leads: operators allowed to approve extensions; empty means any operator other
            than the requester.
        second_extension_approvals: approvals a second (or later) extension needs.
        office_name: where a case goes when dispatched with no target and no grid.
    """

    rules: tuple[LimitRule, ...] = BUILTIN_RULES
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    remind_every: timedelta = timedelta(hours=2)
    shift_leads: tuple[str, ...] = ()
    second_extension_approvals: int = 2
    office_name: str = "duty-office"

    def limit(self, stage: Stage, category: str, type_: str, urgency: Urgency | str) -> Resolved:
        urgency_value = Urgency(urgency).value
        hours: float | None = None
        unit = "natural"
        # Built-in rules form the lower layer, configured ones the upper: a configured rule
        # overrides every built-in value it covers, whatever the specificities.
        ordered = sorted(
            enumerate(self.rules),
            key=lambda pair: (pair[1] not in BUILTIN_RULES, pair[1].specificity, pair[0]),
        )

        for _, rule in ordered:
            if not rule.matches(category, type_, urgency_value):
                continue
            if stage.value in rule.hours:
                hours = rule.hours[stage.value]
            if rule.unit:
                unit = rule.unit
        if hours is None:
            hours = 24.0
        return Resolved(hours, unit)

    def deadline(
        self, stage: Stage, start: datetime, category: str, type_: str, urgency: Urgency | str
    ) -> datetime | None:
        """Deadline of a case entering ``stage`` at ``start``; ``None`` for stages with none."""
        if stage not in LIMITED_STAGES:
            return None
        resolved = self.limit(stage, category, type_, urgency)
        return add_hours(start, resolved.hours, resolved.unit, self.calendar)
