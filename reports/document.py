"""Provides the document every report is built as: a title, facts about it, and a list of blocks.

A report kind (the post-incident report, the duty log, the statistics, the drill AAR/IP) reads
the domains and builds a :class:`Document`; the renderers (:mod:`reports.render`) turn the same
document into Markdown, a self-contained HTML page, PDF and Word, so every format holds the same
sections in the same order. Blocks are plain frozen data: no rendering, no database, no
language switching — the words are chosen when the document is built.

Charts are data too (:class:`Chart`): the renderers draw them with matplotlib (SVG in HTML and
PDF, PNG in Word) and Markdown shows the chart's table of values, so nothing is hand-drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Heading:
    level: int  # 1: a section, 2: a part of one (the title is the document's)
    text: str


@dataclass(frozen=True)
class Para:
    text: str
    lead: str = ""  # shown bold before the text


@dataclass(frozen=True)
class Callout:
    """A line the reader must not miss (a draft, an overdue stage, masked data)."""

    text: str


@dataclass(frozen=True)
class Items:
    """A list; each item a bold lead (may be empty) and its text."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] = ()  # relative; empty: equal
    align: str = ""  # one letter a column, "l" or "r"; missing ones are "l"
    tall: bool = False  # rows high enough to sign in
    caption: str = ""
    marked: frozenset[int] = frozenset()  # indexes of rows to show as warnings (overdue, late)


@dataclass(frozen=True)
class Figures:
    """Key figures shown side by side (and by the console): label, value, an optional note."""

    items: tuple[tuple[str, str, str], ...]


class ChartKind(StrEnum):
    LINE = "line"  # cumulative or per-interval values over time (answers over time)
    BAR = "bar"  # values per label (cases per day), one or more series side by side
    BARH = "barh"  # values per label, horizontal (per category, on-time rate per grid)
    GANTT = "gantt"  # one bar per span on a time axis (a case's stages against their limits)


@dataclass(frozen=True)
class Series:
    """One line or one set of bars: ``points`` are (x, y); x is a datetime (LINE) or a label."""

    name: str
    points: tuple[tuple[datetime | str, float], ...]


@dataclass(frozen=True)
class Span:
    """One bar of a Gantt chart: a stage from ``start`` to ``end`` (None: still running, drawn to
    the chart's ``now``), with its limit when it had one; ``late`` marks it overdue."""

    label: str
    start: datetime
    end: datetime | None
    limit: datetime | None = None
    late: bool = False


@dataclass(frozen=True)
class Chart:
    kind: ChartKind
    title: str
    series: tuple[Series, ...] = ()
    spans: tuple[Span, ...] = ()
    x_label: str = ""
    y_label: str = ""
    reference: float | None = None  # a target drawn as a dashed line (an on-time rate goal)
    percent: bool = False  # the values are rates in 0..100
    now: datetime | None = None  # where running spans end
    note: str = ""  # shown under the chart; also its alt text


@dataclass(frozen=True)
class Signatures:
    """Lines to sign on paper: one per role (值班员, 值班长), with the name when known."""

    lines: tuple[tuple[str, str], ...]  # (role, name or "")


@dataclass(frozen=True)
class PageBreak:
    """Printed formats start a new page here (the duty log's days); ignored on screen."""


Block = Heading | Para | Callout | Items | Table | Figures | Chart | Signatures | PageBreak


@dataclass(frozen=True)
class Document:
    """One report, ready to render.

    ``kind`` names the template family (``case``, ``duty_log``, ``stats``, ``aar``, ``sitrep``);
    ``facts`` are the lines under the title (unit, period, generated at, masked or not);
    ``lang`` is ``en`` or ``zh_CN`` (the language the words were chosen in, for the HTML
    ``lang`` attribute and the fonts).
    """

    kind: str
    title: str
    blocks: tuple[Block, ...]
    generated_at: datetime
    lang: str = "zh_CN"
    subtitle: str = ""
    facts: tuple[tuple[str, str], ...] = ()
    masked: bool = True
    footer: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def key_figures(self) -> tuple[tuple[str, str, str], ...]:
        """The first :class:`Figures` block's items: what the console shows of a report."""
        for block in self.blocks:
            if isinstance(block, Figures):
                return block.items
        return ()
