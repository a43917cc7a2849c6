"""Renders a document as Word (.docx) on the base template ``report.docx`` (styles, A4 page,
page numbers in the footer), which an office may replace by its own.

East Asian text in a Chinese office font (宋体 body, 黑体 headings; where missing the reader's
CJK font takes over), tables with a shaded header row repeated on each page and rows never
split, charts as PNG pictures (150 dpi). Build the package's base template with
``python -m reports.render.word`` (it writes ``reports/templates/report.docx``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reports.document import (
    Callout,
    Chart,
    Document,
    Figures,
    Heading,
    Items,
    PageBreak,
    Para,
    Signatures,
    Table,
)
from reports.render.templating import PACKAGE_TEMPLATES, template_file
from store.errors import InvalidInput
from store.i18n import _

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument
    from docx.oxml.table import CT_Row
    from docx.oxml.text.font import CT_RPr
    from docx.shared import Length
    from docx.table import Table as DocxTable
    from docx.table import _Cell, _Row
    from docx.text.paragraph import Paragraph

EAST_ASIA_FONT = "SimSun"  # 宋体
EAST_ASIA_HEADING_FONT = "SimHei"  # 黑体
LATIN_FONT = "Times New Roman"
LATIN_HEADING_FONT = "Arial"
A4_WIDTH_CM, A4_HEIGHT_CM = 21.0, 29.7
MARGIN_CM = 2.0
HEADER_FILL = "D9D9D9"
MARKED_FILL = "FDECEA"
TABLE_PT = 9.0
KEEP_TOGETHER_ROWS = 12  # a table this short is not split over two pages
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not allowed in XML 1.0


def _set_fonts(r_pr: CT_RPr, *, latin: str, east_asia: str) -> None:
    from docx.oxml.ns import qn

    fonts = r_pr.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:cs"), latin)
    fonts.set(qn("w:eastAsia"), east_asia)


def _run(paragraph: Paragraph, text: str, *, bold: bool = False, size: float | None = None) -> None:
    from docx.shared import Pt

    run = paragraph.add_run(_CONTROL.sub("", text))
    run.bold = bold or None
    if size is not None:
        run.font.size = Pt(size)


def style_document(doc: DocxDocument) -> None:
    """The base template's looks: fonts, sizes, A4 portrait, page numbers in the footer."""
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement
    from docx.shared import Cm, Pt

    normal = doc.styles["Normal"]
    normal.font.size = Pt(10.5)
    normal.paragraph_format.space_after = Pt(4)
    r_pr = normal.element.get_or_add_rPr()
    _set_fonts(r_pr, latin=LATIN_FONT, east_asia=EAST_ASIA_FONT)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:eastAsia"), "zh-CN")
    r_pr.append(lang)
    for name, size in (("Title", 18), ("Heading 1", 14), ("Heading 2", 12), ("Heading 3", 11)):
        style = doc.styles[name]
        _set_fonts(
            style.element.get_or_add_rPr(),
            latin=LATIN_HEADING_FONT,
            east_asia=EAST_ASIA_HEADING_FONT,
        )
        style.font.color.rgb = None
        style.font.size = Pt(size)
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(A4_WIDTH_CM), Cm(A4_HEIGHT_CM)
    section.left_margin = section.right_margin = Cm(MARGIN_CM)
    section.top_margin = section.bottom_margin = Cm(2.5)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    footer._p.append(field)
    inner = footer.add_run("1")
    footer._p.remove(inner._element)
    field.append(inner._element)


def build_template(path: Path = PACKAGE_TEMPLATES / "report.docx") -> None:
    from docx import Document as new_document

    doc = new_document()
    style_document(doc)
    body = doc.element.body
    for child in list(body):
        if not child.tag.endswith("sectPr"):
            body.remove(child)
    doc.save(str(path))


def _open(templates: Path | None) -> DocxDocument:
    from docx import Document as open_document

    path = template_file("report.docx", templates)
    if not path.is_file():
        doc = open_document()
        style_document(doc)
        return doc
    try:
        doc = open_document(str(path))
    except Exception as exc:  # python-docx raises zipfile, KeyError, lxml errors...
        raise InvalidInput(
            _("bad template {file}, line {line}: {error}").format(file=path, line="-", error=exc),
            "templates",
        ) from exc
    body = doc.element.body
    for child in list(body):
        if not child.tag.endswith("sectPr"):
            body.remove(child)
    return doc


def _shade(cell: _Cell, fill: str) -> None:
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement

    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shading)


def _table(doc: DocxDocument, table: Table, *, header: bool = True) -> None:
    """A Word table: the header row shaded and repeated on each page, rows never split, marked
    rows shaded, a short table (:data:`KEEP_TOGETHER_ROWS`) kept on one page. The body rows
    are copies of one row made through python-docx's API (about a millisecond a cell) with
    their texts put in: a 10,000-row activity log stays quick."""
    from copy import deepcopy

    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement
    from docx.shared import Cm, Pt

    if table.caption:
        caption = doc.add_paragraph()
        caption.paragraph_format.keep_with_next = True
        _run(caption, table.caption, bold=True)
    columns = len(table.header)
    weights = table.widths if len(table.widths) == columns else (1.0,) * columns
    usable = A4_WIDTH_CM - 2 * MARGIN_CM
    widths = [Cm(usable * w / sum(weights)) for w in weights]
    grid = doc.add_table(rows=1, cols=columns)
    grid.style = doc.styles["Table Grid"]
    grid.autofit = False
    first = grid.rows[0]
    if header:
        first._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
        for cell, text, width in zip(first.cells, table.header, widths, strict=True):
            cell.width = width
            _shade(cell, HEADER_FILL)
            paragraph = cell.paragraphs[0]
            paragraph.paragraph_format.space_after = Pt(0)
            paragraph.paragraph_format.keep_with_next = True
            _run(paragraph, text, bold=True, size=TABLE_PT)
    templates = {
        (marked, keep): _row_template(grid, table, widths, marked=marked, keep=keep)
        for marked in (False, True)
        for keep in (False, True)
    }
    together = len(table.rows) <= KEEP_TOGETHER_ROWS
    if not header:
        grid._tbl.remove(first._tr)
    text_tag = qn("w:t")
    for n, values in enumerate(table.rows):
        tr = deepcopy(templates[n in table.marked, together and n < len(table.rows) - 1])
        for t, text in zip(tr.iter(text_tag), values, strict=True):
            t.text = _CONTROL.sub("", text)
        grid._tbl.append(tr)
    doc.add_paragraph()


def _row_template(
    grid: DocxTable, table: Table, widths: Sequence[Length], *, marked: bool, keep: bool
) -> CT_Row:
    """One body row of ``grid`` made through the API, one text element a cell, detached."""
    from docx.enum.table import WD_ROW_HEIGHT_RULE
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement
    from docx.shared import Cm, Pt

    row: _Row = grid.add_row()  # type: ignore[no-untyped-call]  # python-docx leaves it untyped
    row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    if table.tall:
        row.height = Cm(1.2)
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    for i, (cell, width) in enumerate(zip(row.cells, widths, strict=True)):
        cell.width = width
        if marked:
            _shade(cell, MARKED_FILL)
        paragraph = cell.paragraphs[0]
        paragraph.paragraph_format.space_after = Pt(0)
        paragraph.paragraph_format.keep_with_next = keep or None  # with the next row
        if (table.align[i : i + 1] or "l") == "r":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _run(paragraph, "-", size=TABLE_PT)
    for t in row._tr.iter(qn("w:t")):
        t.set(qn("xml:space"), "preserve")
    tr = row._tr
    grid._tbl.remove(tr)
    return tr


def render_docx(doc: Document, *, templates: Path | None = None) -> bytes:
    from docx.enum.text import WD_BREAK
    from docx.shared import Cm, RGBColor

    from reports.render.charts import chart_png

    word = _open(templates)
    props = word.core_properties
    props.title, props.author = doc.title, "dutydesk"
    props.created = props.modified = doc.generated_at
    props.last_modified_by = "dutydesk"
    _run(word.add_heading("", level=0), doc.title)
    if doc.subtitle:
        _run(word.add_paragraph(), doc.subtitle)
    for label, value in doc.facts:
        paragraph = word.add_paragraph()
        _run(paragraph, label + " ", bold=True)
        _run(paragraph, value)
    for block, after in zip(doc.blocks, (*doc.blocks[1:], None), strict=True):
        if isinstance(block, Heading):
            _run(word.add_heading("", level=min(block.level, 3)), block.text)
        elif isinstance(block, Para):
            paragraph = word.add_paragraph()
            paragraph.paragraph_format.keep_with_next = isinstance(after, Table) or None
            if block.lead:
                _run(paragraph, block.lead + " ", bold=True)
            _run(paragraph, block.text)
        elif isinstance(block, Callout):
            paragraph = word.add_paragraph()
            _run(paragraph, block.text, bold=True)
            paragraph.runs[0].font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
        elif isinstance(block, Items):
            for lead, text in block.items:
                paragraph = word.add_paragraph(style="List Bullet")
                if lead:
                    _run(paragraph, lead + " ", bold=True)
                _run(paragraph, text)
        elif isinstance(block, Figures):
            _table(
                word,
                Table(
                    tuple(i[0] for i in block.items),
                    (tuple(i[1] + (f" ({i[2]})" if i[2] else "") for i in block.items),),
                ),
            )
        elif isinstance(block, Table):
            _table(word, block)
        elif isinstance(block, Chart):
            word.add_picture(io.BytesIO(chart_png(block)), width=Cm(A4_WIDTH_CM - 2 * MARGIN_CM))
            if block.note:
                _run(word.add_paragraph(), block.note)
        elif isinstance(block, Signatures):
            lines = tuple((role, name, "") for role, name in block.lines)
            _table(word, Table(("", "", ""), lines, (1.5, 1.5, 3.0), tall=True), header=False)
        elif isinstance(block, PageBreak):
            word.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    if doc.footer:
        _run(word.add_paragraph(), doc.footer)
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


if __name__ == "__main__":
    build_template()
