"""Builds the default Word template of information reports: ``uplink/templates/sitrep.docx``.

Run ``python -m uplink.templates.build_sitrep [OUT]`` to regenerate it. The layout follows the
national standard for official documents (GB/T 9704, 党政机关公文格式) as a duty office's
information report uses it: A4, margins 37/35/28/26 mm, 22 lines of 三号 (16 pt) 仿宋 body,
the title centred in 二号 (22 pt) 方正小标宋简体, the sign-off line (签发人, the name in 楷体)
on the right, the reporting unit and the date at the right four characters in, and the page
number in the footer. The office may change all of it in Word; the placeholders are listed in
:data:`uplink.sitrep_render.PLACEHOLDERS`. Every paragraph format lives in a named style
(报告标题, 报告正文, 签发人行, 落款), so changing a style in Word changes the report.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument
    from docx.oxml.text.font import CT_RPr
    from docx.styles.style import ParagraphStyle

OUT = Path(__file__).parent / "sitrep.docx"

LATIN_FONT = "Times New Roman"
BODY_FONT = "仿宋"  # FangSong; offices with 仿宋_GB2312 installed may change the style
TITLE_FONT = "方正小标宋简体"  # the standard's title face; Word substitutes a Song face if absent
NAME_FONT = "楷体"  # the signer's name (GB/T 9704 7.2.2)
PAGE_FONT = "宋体"
BODY_PT = 16  # 三号
TITLE_PT = 22  # 二号
LINE_PT = 28.95  # 22 lines in the 225 mm type area


def _fonts(r_pr: CT_RPr, east_asia: str, latin: str = LATIN_FONT) -> None:
    """Name the fonts, East Asian included, and drop theme fonts (which would win)."""
    from docx.oxml.ns import qn

    fonts = r_pr.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:cs"), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    fonts.set(qn("w:hint"), "eastAsia")


def _chars(style: ParagraphStyle, **chars: int) -> None:
    """Indents counted in characters (firstLineChars=200: two characters), as Word writes them."""
    from docx.oxml.ns import qn

    ind = style.element.get_or_add_pPr().get_or_add_ind()
    for name, hundredths in chars.items():
        ind.set(qn(f"w:{name}"), str(hundredths))


def _style(
    doc: DocxDocument, style_id: str, name: str, *, font: str, size: float
) -> ParagraphStyle:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_LINE_SPACING
    from docx.oxml.ns import qn
    from docx.shared import Pt

    style: ParagraphStyle = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.element.set(qn("w:styleId"), style_id)
    style.base_style = doc.styles["Normal"]
    style.quick_style = True
    style.font.size = Pt(size)
    _fonts(style.element.get_or_add_rPr(), font)
    fmt = style.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = Pt(LINE_PT)
    fmt.space_before = fmt.space_after = Pt(0)
    return style


def build(out: Path = OUT) -> Path:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement
    from docx.shared import Mm, Pt

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.header_distance, section.footer_distance = Mm(15), Mm(28)

    # Defaults for any style the office adds: Chinese, not the blank template's theme fonts.
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    if defaults is not None:
        for r_pr_default in defaults.iter(qn("w:rPr")):
            _fonts(r_pr_default, BODY_FONT)
            for lang_default in r_pr_default.iter(qn("w:lang")):
                lang_default.set(qn("w:eastAsia"), "zh-CN")
    normal = doc.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    r_pr = normal.element.get_or_add_rPr()
    _fonts(r_pr, BODY_FONT)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    r_pr.append(lang)

    body = _style(doc, "SitrepBody", "报告正文", font=BODY_FONT, size=BODY_PT)
    body.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    _chars(body, firstLineChars=200, firstLine=2 * BODY_PT * 20)
    heading = _style(doc, "SitrepTitle", "报告标题", font=TITLE_FONT, size=TITLE_PT)
    heading.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading.paragraph_format.line_spacing = Pt(35)
    heading.paragraph_format.space_after = Pt(LINE_PT)
    heading.paragraph_format.keep_with_next = True
    signer = _style(doc, "SitrepSigner", "签发人行", font=BODY_FONT, size=BODY_PT)
    signer.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    signer.paragraph_format.space_after = Pt(LINE_PT)
    _chars(signer, rightChars=100, right=BODY_PT * 20)
    closing = _style(doc, "SitrepClosing", "落款", font=BODY_FONT, size=BODY_PT)
    closing.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    closing.paragraph_format.keep_with_next = True
    _chars(closing, rightChars=400, right=4 * BODY_PT * 20)

    line = doc.add_paragraph("签发人：", style=signer)
    name = line.add_run("{{ 签发人 }}")
    _fonts(name._element.get_or_add_rPr(), NAME_FONT)
    doc.add_paragraph("{{ 标题 }}", style=heading)
    doc.add_paragraph("{{ 正文 }}", style=body)
    doc.add_paragraph("{%p if 联系人及电话 %}", style=body)
    doc.add_paragraph("联系人及电话：{{ 联系人及电话 }}", style=body)
    doc.add_paragraph("{%p endif %}", style=body)
    doc.add_paragraph("", style=body)
    doc.add_paragraph("", style=body)
    doc.add_paragraph("{{ 报告单位 }}", style=closing)
    last = doc.add_paragraph("{{ 日期 }}", style=closing)
    last.paragraph_format.keep_with_next = False

    _page_number(doc)
    _font_table(doc)
    props = doc.core_properties
    props.title = props.subject = props.author = props.last_modified_by = ""  # set at render
    props.comments = props.keywords = props.category = ""
    props.created = props.modified = datetime(2026, 1, 1, tzinfo=UTC)
    props.revision = 1
    out.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(out))
    return out


def _page_number(doc: DocxDocument) -> None:
    """— 1 — centred in the footer (四号 半角宋体 Arabic numerals with em dashes)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement
    from docx.shared import Pt

    footer = doc.sections[0].footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for text in ("— ", None, " —"):
        if text is not None:
            run = footer.add_run(text)
        else:
            field = OxmlElement("w:fldSimple")
            field.set(qn("w:instr"), "PAGE")
            footer._p.append(field)
            run = footer.add_run("1")
            footer._p.remove(run._element)
            field.append(run._element)
        run.font.size = Pt(14)
        _fonts(run._element.get_or_add_rPr(), PAGE_FONT, latin=PAGE_FONT)


# Word picks a stand-in for a font a machine lacks by these (GB2312 charset, Song-like panose):
# an office without 方正小标宋简体 gets a Song face, not a Western one.
_FONTS = (
    (BODY_FONT, "FangSong", "02010609060101010101", "modern", "fixed"),
    (NAME_FONT, "KaiTi", "02010609060101010101", "modern", "fixed"),
    (TITLE_FONT, "FZXiaoBiaoSong-B05S", "02010600030101010101", "auto", "variable"),
    (PAGE_FONT, "SimSun", "02010600030101010101", "auto", "variable"),
)


def _font_table(doc: DocxDocument) -> None:
    from lxml import etree

    part = next(p for p in doc.part.package.parts if p.partname == "/word/fontTable.xml")
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    root = etree.fromstring(part.blob)
    for name, alt, panose, family, pitch in _FONTS:
        font = etree.SubElement(root, f"{{{ns}}}font", {f"{{{ns}}}name": name})
        etree.SubElement(font, f"{{{ns}}}altName", {f"{{{ns}}}val": alt})
        etree.SubElement(font, f"{{{ns}}}panose1", {f"{{{ns}}}val": panose})
        etree.SubElement(font, f"{{{ns}}}charset", {f"{{{ns}}}val": "86"})
        etree.SubElement(font, f"{{{ns}}}family", {f"{{{ns}}}val": family})
        etree.SubElement(font, f"{{{ns}}}pitch", {f"{{{ns}}}val": pitch})
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
