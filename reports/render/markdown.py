"""Renders a document as Markdown (GitHub tables) through ``report.md.j2``.

Every text is made inert (markup characters escaped, one line, nothing that opens a block at a
line's start); a chart is shown as its title and a table of its values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reports.document import Chart, ChartKind, Document, Table

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
_MD_LEADING = re.compile(r"^(#{1,6}(?=\s|$)|[+-](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|[=-]+$)")
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(text: str) -> str:
    """One line: runs of white space as one space, control characters dropped."""
    return _SPACE.sub(" ", _CONTROL.sub("", str(text))).strip()


def md(text: str) -> str:
    """Text made inert in Markdown (also inside a table cell)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", plain(text))
    return _MD_LEADING.sub(
        lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit() else "\\" + m.group(1), escaped
    )


def md_table(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(md(c) or " " for c in cells) + " |"

    rule = [
        "---:" if (table.align[i : i + 1] or "l") == "r" else "---"
        for i in range(len(table.header))
    ]
    rows = [
        line(("⚠ " + row[0], *row[1:]) if n in table.marked and row else row)
        for n, row in enumerate(table.rows)
    ]
    return "\n".join([line(table.header), "| " + " | ".join(rule) + " |", *rows])


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if hasattr(value, "strftime") else str(value)


def chart_table(chart: Chart) -> Table:
    """A chart's values as a table (what Markdown shows instead of the picture)."""
    if chart.kind is ChartKind.GANTT:
        return Table(
            ("", "start", "end", "limit", "late"),
            tuple(
                (
                    s.label,
                    _when(s.start),
                    _when(s.end) if s.end else "…",
                    _when(s.limit) if s.limit else "—",
                    "⚠" if s.late else "",
                )
                for s in chart.spans
            ),
        )
    xs: dict[str, None] = {}
    for series in chart.series:
        for x, _y in series.points:
            xs.setdefault(_when(x), None)
    values = [{_when(x): y for x, y in s.points} for s in chart.series]
    unit = " %" if chart.percent else ""
    return Table(
        (chart.x_label, *(s.name for s in chart.series)),
        tuple((x, *(f"{v[x]:g}{unit}" if x in v else "" for v in values)) for x in xs),
        align="l" + "r" * len(chart.series),
    )


def block_type(block: Any) -> str:
    return type(block).__name__.lower()


FILTERS: dict[str, Callable[..., Any]] = {
    "md": md,
    "md_table": md_table,
    "chart_table": chart_table,
    "type": block_type,
}


def render_markdown(doc: Document, *, templates: Path | None = None) -> str:
    from reports.render.templating import render_template

    text = render_template(
        doc.kind,
        "md",
        {"doc": doc, "blocks": doc.blocks},
        templates=templates,
        autoescape=False,
        filters=FILTERS,
    )
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return text + "\n"
