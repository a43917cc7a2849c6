"""Draws a :class:`~reports.document.Chart` with matplotlib: SVG (text as outlines) for HTML and
PDF, PNG at 150 dpi for Word.

How each kind is drawn: LINE, one stepped line per series over time (datetimes as given: the
builder passes them in the office's zone) with a legend; BAR, the labels along x with the series
side by side and their values on the bars; BARH, the labels from top to bottom, the series side
by side; GANTT, one bar per span from top to bottom, late spans red, running ones to ``now``,
each limit a dashed black mark. ``percent`` makes the value axis 0-100 %, ``reference`` a
dashed target line. Chinese text uses a CJK font found by matplotlib's font manager (Noto Sans
CJK SC, else any font whose name has CJK, Hei or Song).

matplotlib is imported inside the functions only, with the Agg backend.
"""

from __future__ import annotations

import importlib
import io
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from reports.document import Chart, ChartKind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PNG_DPI = 150
WIDTH_IN = 6.6
COLORS = ("#1f5fa8", "#c0392b", "#7f8c8d", "#27ae60", "#8e44ad", "#d68910")
LATE = "#c0392b"
ON_TIME = "#1f5fa8"


@cache
def cjk_font() -> str | None:
    """The name of a CJK font matplotlib can use, None when there is none."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for wanted in ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Serif CJK SC"):
        if wanted in names:
            return wanted
    for name in names:
        if any(word in name for word in ("CJK", "Hei", "Song")):
            return name
    return None


def _figure(chart: Chart) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = len(chart.spans) if chart.kind is ChartKind.GANTT else 0
    if chart.kind is ChartKind.BARH:
        rows = max((len(s.points) for s in chart.series), default=0)
    height = max(2.6, min(9.0, 1.2 + 0.32 * rows)) if rows else 3.2
    font = cjk_font()
    rc: Any = {"font.size": 9, "axes.unicode_minus": False}
    if font:
        rc["font.family"] = [font, "DejaVu Sans"]
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
        ax = fig.add_subplot()
        draw = {
            ChartKind.LINE: _line,
            ChartKind.BAR: _bar,
            ChartKind.BARH: _barh,
            ChartKind.GANTT: _gantt,
        }[chart.kind]
        draw(ax, chart)
        ax.set_title(chart.title)
        if chart.x_label:
            ax.set_xlabel(chart.x_label)
        if chart.y_label:
            ax.set_ylabel(chart.y_label)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x" if chart.kind in (ChartKind.BARH, ChartKind.GANTT) else "y", alpha=0.3)
        # Fonts are resolved when drawn: render inside the context.
        fig.canvas.draw()
    fig._dutydesk_rc = rc  # type: ignore[attr-defined]  # saved with the same fonts
    return fig


def _wall(at: datetime) -> datetime:
    """The wall time of ``at`` in its own zone (matplotlib would show an aware one in UTC)."""
    return at.replace(tzinfo=None)


def _labels(chart: Chart) -> list[str]:
    seen: dict[str, None] = {}
    for series in chart.series:
        for x, _y in series.points:
            seen.setdefault(str(x), None)
    return list(seen)


def _value_axis(ax: Any, chart: Chart, *, horizontal: bool) -> None:
    from matplotlib.ticker import PercentFormatter

    if chart.percent:
        (ax.set_xlim if horizontal else ax.set_ylim)(0, 100)
        (ax.xaxis if horizontal else ax.yaxis).set_major_formatter(PercentFormatter(100))
    if chart.reference is not None:
        line = ax.axvline if horizontal else ax.axhline
        line(chart.reference, color="black", linestyle="--", linewidth=1)


def _line(ax: Any, chart: Chart) -> None:
    mdates: Any = importlib.import_module("matplotlib.dates")  # untyped

    for i, series in enumerate(chart.series):
        xs = [_wall(x) if isinstance(x, datetime) else x for x, _y in series.points]
        ys = [y for _x, y in series.points]
        ax.step(xs, ys, where="post", label=series.name, color=COLORS[i % len(COLORS)])
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    _value_axis(ax, chart, horizontal=False)
    if chart.series:
        ax.legend(loc="best", frameon=False)


def _bar(ax: Any, chart: Chart) -> None:
    labels = _labels(chart)
    count = max(len(chart.series), 1)
    width = 0.8 / count
    for i, series in enumerate(chart.series):
        values = dict((str(x), y) for x, y in series.points)
        xs = [n + (i - (count - 1) / 2) * width for n in range(len(labels))]
        bars = ax.bar(
            xs,
            [values.get(label, 0.0) for label in labels],
            width,
            label=series.name,
            color=COLORS[i % len(COLORS)],
        )
        if len(labels) <= 16:
            ax.bar_label(bars, fmt="%g", fontsize=7)
    ax.set_xticks(
        range(len(labels)),
        labels,
        rotation=45 if len(labels) > 8 else 0,
        ha="right" if len(labels) > 8 else "center",
    )
    _value_axis(ax, chart, horizontal=False)
    if len(chart.series) > 1:
        ax.legend(frameon=False)


def _barh(ax: Any, chart: Chart) -> None:
    labels = _labels(chart)
    count = max(len(chart.series), 1)
    height = 0.8 / count
    for i, series in enumerate(chart.series):
        values = dict((str(x), y) for x, y in series.points)
        ys = [n + (i - (count - 1) / 2) * height for n in range(len(labels))]
        bars = ax.barh(
            ys,
            [values.get(label, 0.0) for label in labels],
            height,
            label=series.name,
            color=COLORS[i % len(COLORS)],
        )
        ax.bar_label(bars, fmt="%.1f%%" if chart.percent else "%g", fontsize=7, padding=2)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    _value_axis(ax, chart, horizontal=True)
    if len(chart.series) > 1:
        ax.legend(frameon=False)


def _gantt(ax: Any, chart: Chart) -> None:
    mdates: Any = importlib.import_module("matplotlib.dates")  # untyped

    now = _wall(chart.now or max((s.end or s.start for s in chart.spans), default=datetime.now()))
    for n, span in enumerate(chart.spans):
        end = _wall(span.end) if span.end else now
        start_num = mdates.date2num(_wall(span.start))
        length = max(mdates.date2num(end) - start_num, 0.0)
        ax.barh(
            n,
            length,
            left=start_num,
            height=0.6,
            color=LATE if span.late else ON_TIME,
            alpha=0.6 if span.end is None else 1.0,
        )
        if span.limit is not None:
            at = mdates.date2num(_wall(span.limit))
            ax.plot([at, at], [n - 0.4, n + 0.4], color="black", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(chart.spans)), [s.label for s in chart.spans])
    ax.invert_yaxis()
    moments = [
        _wall(m) for s in chart.spans for m in (s.start, s.end or now, s.limit) if m is not None
    ]
    if moments:
        low, high = mdates.date2num(min(moments)), mdates.date2num(max(moments))
        pad = max((high - low) * 0.03, 1 / 1440)
        ax.set_xlim(low - pad, high + pad)
    ax.xaxis_date()
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _save(fig: Figure, fmt: str, **options: Any) -> bytes:
    import matplotlib

    out = io.BytesIO()
    rc: Any = dict(fig._dutydesk_rc)  # type: ignore[attr-defined]
    rc["svg.fonttype"] = "path"  # outlines: WeasyPrint needs no font for them
    rc["svg.hashsalt"] = "dutydesk"  # stable ids: the same chart, the same SVG
    with matplotlib.rc_context(rc):
        fig.savefig(out, format=fmt, metadata=_METADATA[fmt], **options)
    return out.getvalue()


_METADATA: dict[str, dict[str, Any]] = {
    "svg": {"Date": None, "Creator": None},
    "png": {"Software": None},
}


def chart_svg(chart: Chart) -> str:
    """The chart as an SVG document's text (glyphs as paths, stable from run to run)."""
    text = _save(_figure(chart), "svg").decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def chart_png(chart: Chart, dpi: int = PNG_DPI) -> bytes:
    """The chart as a PNG image (for Word)."""
    return _save(_figure(chart), "png", dpi=dpi)
