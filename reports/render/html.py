"""Renders a document as one self-contained printable HTML page through ``report.html.j2``.

The stylesheet (``report.css``) is inlined, the charts are inline SVG drawn by matplotlib with
their text as outlines; nothing is fetched from elsewhere. Jinja2 escapes every text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.document import Chart, Document
from reports.render.markdown import block_type
from reports.render.templating import template_file

FONT_FAMILY = (
    '"Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "SimSun", '
    '"Microsoft YaHei", sans-serif'
)


def _svg(chart: Chart) -> Any:
    from markupsafe import Markup

    from reports.render.charts import chart_svg

    return Markup(chart_svg(chart))  # matplotlib's own SVG, none of it user text unescaped


def _css(templates: Path | None, *, font_family: str) -> Any:
    from markupsafe import Markup

    css = template_file("report.css", templates).read_text(encoding="utf-8")
    css = css.replace("/*FONTS*/", font_family)
    return Markup(css.replace("</", "<\\/"))


def html_lang(doc: Document) -> str:
    return "zh-CN" if doc.lang.startswith("zh") else "en"


def render_html(
    doc: Document, *, templates: Path | None = None, font_family: str = FONT_FAMILY
) -> str:
    """The page's text. ``font_family`` replaces the stylesheet's font list (the look test
    renders with a font without CJK glyphs to see the difference)."""
    from reports.render.templating import render_template

    context = {
        "doc": doc,
        "blocks": doc.blocks,
        "lang": html_lang(doc),
        "css": _css(templates, font_family=font_family),
    }
    return render_template(
        doc.kind,
        "html",
        context,
        templates=templates,
        autoescape=True,
        filters={"type": block_type, "svg": _svg},
    )
