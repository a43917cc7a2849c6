"""Renders a document as PDF: the HTML page through WeasyPrint (A4, the print stylesheet)."""

from __future__ import annotations

import logging
from pathlib import Path

from reports.document import Document
from reports.render.html import FONT_FAMILY, render_html


def render_pdf(
    doc: Document, *, templates: Path | None = None, font_family: str = FONT_FAMILY
) -> bytes:
    from weasyprint import HTML

    page = render_html(doc, templates=templates, font_family=font_family)
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    pdf = HTML(string=page).write_pdf()
    assert pdf is not None  # no target given: the bytes
    return bytes(pdf)
