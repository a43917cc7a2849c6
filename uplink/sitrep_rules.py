"""Provides the rules of information reports up: ``[sitrep]`` of the configuration.

Read by :mod:`console.config` into a :class:`SitrepRules`: which cases are reported, how fast
their initial report is due (:class:`ReportRule`, over the built-in :data:`DEFAULT_RULES`), when
follow-ups and the final report are due and who signs off. :mod:`uplink.obligations` turns them
into deadlines. Kept apart from :mod:`uplink.reporting` (the reports' vocabulary and records),
and importing nothing, because the configuration is read by every command and by the console's
first frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class ReportRule:
    """Which cases a rule covers (None: any) and how fast their initial report is due.

    Attributes:
        initial_minutes: the written initial report is due this long after the case was
            received (or became reportable); None: such cases need no report.
        phone_minutes: a report by phone is due this long after; None: no phone deadline.
    """

    category: str | None = None
    type: str | None = None
    severity: int | None = None  # 1..4 (I..IV)
    initial_minutes: int | None = None
    phone_minutes: int | None = None

    def matches(self, category: str, type_: str, severity: int) -> bool:
        return (
            (self.category is None or self.category == category)
            and (self.type is None or self.type == type_)
            and (self.severity is None or self.severity == severity)
        )

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.category, self.type, self.severity))

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "type": self.type,
            "severity": self.severity,
            "initial_minutes": self.initial_minutes,
            "phone_minutes": self.phone_minutes,
        }


DEFAULT_RULES: tuple[ReportRule, ...] = (
    ReportRule(severity=1, initial_minutes=30),
    ReportRule(severity=2, initial_minutes=30),
    ReportRule(severity=3, initial_minutes=60),
    ReportRule(severity=4, initial_minutes=None),
)
"""Severity I and II: initial report within 30 minutes; III within 60; IV only when marked."""
SHIFT_LEAD_POST = "SL"  # the roster post whose holder signs reports off (contacts.roster's code)


@dataclass(frozen=True)
class SitrepRules:
    """The ``[sitrep]`` configuration: which cases are reported up, how fast, who signs off.

    A configured ``[[sitrep.rule]]`` overrides the defaults where it matches; the most specific
    matching rule wins (category, type and severity each count), later rules winning ties.
    """

    rules: tuple[ReportRule, ...] = DEFAULT_RULES
    marked_minutes: int = 60  # a case marked "to be reported" or "sensitive" whatever its level
    followup_minutes: int = 60  # a follow-up is due this long after a change
    daily_hours: int = 24  # at least one follow-up this often while the case is open
    final_hours: int = 24  # the final report this long after the case was closed
    signers: tuple[str, ...] = ()  # names entitled to sign off; () : the posts and roles below
    signer_posts: tuple[str, ...] = (SHIFT_LEAD_POST,)  # holders of these posts sign off
    signer_roles: tuple[str, ...] = ("shift_lead", "office_head")  # so do people with these roles
    unit_name: str = ""  # 报告单位 in the documents; default: the township's name
    template: str | None = None  # a .docx template replacing the built-in one (path)

    def rule_for(self, category: str, type_: str, severity: int) -> ReportRule:
        """The rule that decides for a case of this classification and level."""
        key = (category, type_, severity)
        found = self._rules_for.get(key)
        if found is None:
            found = self._match(category, type_, severity)
            if len(self._rules_for) < _DECIDED_MAX:
                self._rules_for[key] = found
        return found

    def _match(self, category: str, type_: str, severity: int) -> ReportRule:
        best: ReportRule | None = None
        for rule in (*DEFAULT_RULES, *self.rules):
            if rule.matches(category, type_, severity) and (
                best is None or rule.specificity >= best.specificity
            ):
                best = rule
        return best if best is not None else ReportRule()

    @cached_property
    def _rules_for(self) -> dict[tuple[str, str, int], ReportRule]:
        """The rule decided for each (category, type, severity) so far: the calculator asks
        for every moment of every case (the hub's figures: hundreds of thousands), and the
        answer only depends on these rules (frozen). Not a field: not compared, not copied by
        ``replace``."""
        return {}

    def initial_minutes(
        self, category: str, type_: str, severity: int, *, marked: bool
    ) -> tuple[int | None, int | None]:
        """(written, phone) minutes for the initial report; (None, None): not reportable.

        A marked (or sensitive) case is reportable whatever its level: at its rule's minutes
        when the rule has them, else at :attr:`marked_minutes`.
        """
        rule = self.rule_for(category, type_, severity)
        if rule.initial_minutes is not None:
            return rule.initial_minutes, rule.phone_minutes
        if marked:
            return self.marked_minutes, rule.phone_minutes
        return None, None


_DECIDED_MAX = 10_000  # classifications remembered per rules (a hub's units may send any words)
