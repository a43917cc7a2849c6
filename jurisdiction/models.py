"""Provides the jurisdiction's value types: levels, units, grid rules, violations, grid specs.

A jurisdiction is a tree of units, one level below the other: city → county → township
(street/乡镇/街道) → community/village (社区/村) → grid (网格). Every unit carries the period it
is valid for; a grid replaced by a split or a merge keeps its row, with ``valid_to`` set and
the codes of the grids that replaced it in ``successors``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from store.i18n import N_, _


class Level(StrEnum):
    """A level of the jurisdiction, from the top of the tree down."""

    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    COMMUNITY = "community"
    GRID = "grid"

    @property
    def rank(self) -> int:
        return list(Level).index(self)

    @property
    def parent_level(self) -> Level | None:
        """The only level a parent of this level may have (``None`` for the top)."""
        return None if self.rank == 0 else list(Level)[self.rank - 1]

    @property
    def label_zh(self) -> str:
        """The official Chinese name (also accepted as input, whatever the language)."""
        return LEVEL_LABELS[self]

    @property
    def label(self) -> str:
        """The level's name in the current language."""
        return _(LEVEL_NAMES[self])

    @classmethod
    def parse(cls, text: str) -> Level:
        value = text.strip().lower()
        for level in cls:
            if value in (level.value, level.label_zh):
                return level
        aliases = {"street": cls.TOWNSHIP, "village": cls.COMMUNITY}
        if value in aliases:
            return aliases[value]
        raise ValueError(
            _(
                "unknown level {text!r}; use {levels} (street = township, village = community)"
            ).format(text=text, levels=", ".join(lv.value for lv in cls))
        )


# The Chinese labels are data: accepted as input whatever the language (LEVEL_NAMES is shown).
LEVEL_LABELS = {
    Level.CITY: "市",
    Level.COUNTY: "县/区",
    Level.TOWNSHIP: "乡镇/街道",
    Level.COMMUNITY: "社区/村",
    Level.GRID: "网格",
}
# In English the name is the code itself (street = township, village = community).
LEVEL_NAMES = {
    Level.CITY: N_("city"),
    Level.COUNTY: N_("county"),
    Level.TOWNSHIP: N_("township"),
    Level.COMMUNITY: N_("community"),
    Level.GRID: N_("grid"),
}

# Statistical division codes (统计用区划代码) are 12 digits at every administrative level;
# grids are numbered locally by the office that draws them.
DIVISION_CODE_RE = re.compile(r"^\d{12}$")
GRID_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def code_problem(level: Level, code: str) -> str | None:
    """Why ``code`` cannot name a unit of ``level``, or ``None`` when it can."""
    if level is Level.GRID:
        if not GRID_CODE_RE.match(code):
            return _(
                "{code!r} is not a grid code: up to 32 letters, digits, '-', '_' or '.', "
                "starting with a letter or digit"
            ).format(code=code)
        return None
    if not DIVISION_CODE_RE.match(code):
        return _("{code!r} is not a 12-digit statistical division code (e.g. 110105001001)").format(
            code=code
        )
    return None


@dataclass(frozen=True)
class Unit:
    """One unit of the jurisdiction; ``valid_to`` is ``None`` while it is current."""

    id: int
    code: str
    name: str
    level: Level
    parent_code: str | None
    households: int | None
    population: int | None
    boundary: dict[str, Any] | None
    valid_from: datetime
    valid_to: datetime | None
    successors: tuple[str, ...] = ()

    @property
    def current(self) -> bool:
        return self.valid_to is None


@dataclass(frozen=True)
class GridRules:
    """The configured bounds of the four grid rules (``[grid]`` in the configuration)."""

    households_min: int = 300
    households_max: int = 500
    overlap_tolerance_m2: float = 1.0
    gap_tolerance_m2: float = 1.0


RULES = ("scale", "boundary", "coverage", "address")


# Kinds of the events grid adjustment writes into a case's timeline -> what people call them.
EVENT_NAMES = {"grid_moved": N_("moved to another grid")}


@dataclass(frozen=True)
class Violation:
    """One breach of a grid rule.

    Args:
        rule: ``scale``, ``boundary``, ``coverage`` or ``address``.
        units: the codes of the units involved (a community first where one is named).
        message: one line saying what is wrong, with its figure.
        figure: the number behind it (households, m² of a gap or an overlap), when there is one.
    """

    rule: str
    units: tuple[str, ...]
    message: str
    figure: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "units": list(self.units),
            "message": self.message,
            "figure": self.figure,
        }


@dataclass(frozen=True)
class GridSpec:
    """A new grid made by a split or a merge.

    Args:
        code, name: of the new grid.
        boundary: a GeoJSON Polygon/MultiPolygon geometry, if drawn.
        households, population: its figures, if known.
        addresses: the addresses it takes over (and any new ones).
        cases: case numbers or ids of open cases to move into it explicitly.
        people: keys (or E.164 phones) of the old grid's people to move into it explicitly.
    """

    code: str
    name: str
    boundary: dict[str, Any] | None = None
    households: int | None = None
    population: int | None = None
    addresses: tuple[str, ...] = ()
    cases: tuple[str, ...] = field(default=())
    people: tuple[str, ...] = field(default=())
