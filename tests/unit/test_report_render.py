"""The common renderers (:mod:`reports.render`): one document, four formats, the templates.

The golden files ``tests/fixtures/reports/sample.md`` and ``sample.html`` (the HTML normalized:
the charts' SVG replaced by a marker, since matplotlib's output is its own) are rebuilt with::

    .venv/bin/python -c "from tests.unit.test_report_render import write_goldens; write_goldens()"
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from reports.document import (
    Callout,
    Chart,
    ChartKind,
    Document,
    Figures,
    Heading,
    Items,
    PageBreak,
    Para,
    Series,
    Signatures,
    Span,
    Table,
)
from reports.render import FORMATS, render, suffix_format
from store.errors import InvalidInput

GOLDENS = Path(__file__).resolve().parent.parent / "fixtures" / "reports"
T0 = datetime(2026, 12, 7, 9, 0)


def _at(minutes: int) -> datetime:
    from datetime import timedelta

    return T0 + timedelta(minutes=minutes)


def sample() -> Document:
    """Every kind of block, Chinese and markup-looking text."""
    return Document(
        kind="sample",
        title="东湖村后山山体滑坡 事后报告",
        subtitle="青山街道应急值守办公室",
        generated_at=datetime(2026, 12, 7, 10, 0),
        facts=(("单位", "青山街道"), ("个人信息", "已脱敏")),
        blocks=(
            Figures((("阶段按时", "3 / 4", "75 %"), ("总时长", "5 h 10 min", ""))),
            Heading(1, "1 概况"),
            Para("山体滑坡 <script>alert(1)</script> | *星号* # 不是标题", lead="情况"),
            Callout("处置阶段已逾期 40 min"),
            Items((("派遣", "应急救援队"), ("", "无标题的一项"))),
            Heading(2, "1.1 阶段"),
            Table(
                ("阶段", "用时", "时限"),
                (("登记", "5 min", "10 min"), ("处置", "4 h 40 min", "4 h")),
                widths=(2, 1, 1),
                align="lrr",
                caption="各阶段用时",
                marked=frozenset({1}),
            ),
            Chart(
                ChartKind.BAR,
                "每日案件",
                series=(Series("案件", (("12-06", 3.0), ("12-07", 5.0))),),
                x_label="日期",
            ),
            Chart(
                ChartKind.GANTT,
                "阶段甘特图",
                spans=(
                    Span("登记", _at(0), _at(5), _at(10)),
                    Span("处置", _at(5), None, _at(245), late=True),
                ),
                now=_at(285),
            ),
            PageBreak(),
            Signatures((("值班员", "王伟"), ("值班长", ""))),
        ),
        footer="青山街道应急值守办公室 制",
    )


def normalized_html(text: str) -> str:
    return re.sub(r"<svg.*?</svg>", "<svg/>", text, flags=re.DOTALL)


def write_goldens() -> None:
    doc = sample()
    (GOLDENS / "sample.md").write_bytes(render(doc, "md"))
    (GOLDENS / "sample.html").write_text(
        normalized_html(render(doc, "html").decode()), encoding="utf-8"
    )


def test_markdown_is_the_golden_file() -> None:
    assert render(sample(), "md").decode() == (GOLDENS / "sample.md").read_text(encoding="utf-8")


def test_html_is_the_golden_file() -> None:
    html = render(sample(), "html").decode()
    assert normalized_html(html) == (GOLDENS / "sample.html").read_text(encoding="utf-8")


def test_markdown_escapes_text_and_marks_rows() -> None:
    text = render(sample(), "md").decode()
    assert "\\<script\\>" in text and "\\| \\*星号\\*" in text
    assert "| ⚠ 处置 | 4 h 40 min | 4 h |" in text
    assert "| 12-06 | 3 |" in text  # a chart as its table of values
    assert "| 处置 | 2026-12-07 09:05 | … | 2026-12-07 13:05 | ⚠ |" in text


def test_html_is_self_contained_escaped_and_draws_charts_as_outlines() -> None:
    html = render(sample(), "html").decode()
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert not re.search(r"(src|href)=\"https?:", html) and "@import" not in html
    assert html.count("<svg") == 2 and "<text" not in html  # glyphs as paths
    assert '<tr class="marked">' in html and "Noto Sans CJK SC" in html


def test_chart_svg_is_stable_and_png_is_an_image() -> None:
    from reports.render.charts import chart_png, chart_svg

    for kind in ChartKind:
        chart = Chart(
            kind,
            "网格按时率",
            series=(
                Series("是", ((_at(0), 0.0), (_at(5), 10.0)))
                if kind is ChartKind.LINE
                else Series("按时率", (("东湖村", 80.0), ("西山村", 95.5))),
            ),
            spans=(Span("登记", _at(0), _at(30), _at(20), late=True),),
            percent=kind is ChartKind.BARH,
            reference=90.0 if kind is ChartKind.BARH else None,
            now=_at(60),
        )
        assert chart_svg(chart) == chart_svg(chart), kind
        assert chart_png(chart)[:8] == b"\x89PNG\r\n\x1a\n", kind


def test_pdf_is_a4_with_the_cjk_font_and_two_pages(tmp_path: Path) -> None:
    pdf = tmp_path / "sample.pdf"
    pdf.write_bytes(render(sample(), "pdf"))
    assert pdf.read_bytes()[:5] == b"%PDF-"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert "(A4)" in info.stdout
    pages = int(re.findall(r"^Pages:\s+(\d+)$", info.stdout, re.MULTILINE)[0])
    last = subprocess.run(
        ["pdftotext", "-f", str(pages), "-l", str(pages), str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "值班员" in last and "阶段甘特图" not in last  # the page break before the signatures
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert re.search(r"CJK.* yes ", fonts.stdout), fonts.stdout


def test_word_has_the_title_headings_tables_and_the_charts_as_pictures() -> None:
    import docx
    from docx.oxml.ns import qn

    word = docx.Document(io.BytesIO(render(sample(), "docx")))
    paragraphs = [(p.style.name if p.style else "", p.text) for p in word.paragraphs]
    assert paragraphs[0] == ("Title", "东湖村后山山体滑坡 事后报告")
    assert ("Heading 1", "1 概况") in paragraphs and ("Heading 2", "1.1 阶段") in paragraphs
    assert len(word.inline_shapes) == 2  # the two charts
    stages = next(t for t in word.tables if t.rows[0].cells[0].text == "阶段")
    assert [c.text for c in stages.rows[2].cells] == ["处置", "4 h 40 min", "4 h"]
    assert stages.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert word.core_properties.title == "东湖村后山山体滑坡 事后报告"
    section = word.sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.page_height.cm, 1) == 29.7


def test_suffix_and_unknown_format() -> None:
    assert FORMATS == ("md", "html", "pdf", "docx")
    assert suffix_format(Path("a/B.PDF")) == "pdf" and suffix_format(Path("x.htm")) == "html"
    assert suffix_format(Path("x.txt")) is None and suffix_format(None) is None
    with pytest.raises(InvalidInput) as caught:
        render(sample(), "odt")
    assert caught.value.field == "format"


def test_an_office_template_replaces_the_built_in_one(tmp_path: Path) -> None:
    (tmp_path / "report.md.j2").write_text("办公室模板：{{ doc.title }}\n", encoding="utf-8")
    assert render(sample(), "md", templates=tmp_path).decode() == (
        "办公室模板：东湖村后山山体滑坡 事后报告\n"
    )
    (tmp_path / "sample.html.j2").write_text(
        '{% extends "report.html.j2" %}{% block head %}<meta name="office" content="青山">'
        "{% endblock %}",
        encoding="utf-8",
    )
    html = render(sample(), "html", templates=tmp_path).decode()
    assert '<meta name="office" content="青山">' in html and "<h2>1 概况</h2>" in html
    (tmp_path / "report.css").write_text("body { color: #123456 }", encoding="utf-8")
    assert "#123456" in render(sample(), "html", templates=tmp_path).decode()


@pytest.mark.parametrize(
    ("text", "line"),
    [("第一行\n{% for x in %}\n", 2), ("a\nb\n{{ doc.no_such_thing.deeper }}\n", 3)],
)
def test_a_bad_template_names_its_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    bad = tmp_path / "report.md.j2"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        render(sample(), "md", templates=tmp_path)
    assert caught.value.field == "templates"
    assert str(bad) in str(caught.value) and f"line {line}" in str(caught.value)


def test_importing_the_renderers_loads_no_heavy_library() -> None:
    probe = (
        "import reports.render, reports.render.html, reports.render.word, sys; "
        "print([m for m in ('jinja2', 'matplotlib', 'weasyprint', 'docx') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_office_word_template_keeps_its_header_and_loses_its_body(tmp_path: Path) -> None:
    import docx

    own = docx.Document()
    own.sections[0].header.paragraphs[0].text = "青山街道应急办 文件"
    own.add_paragraph("模板里的示例正文")
    own.save(str(tmp_path / "report.docx"))
    word = docx.Document(io.BytesIO(render(sample(), "docx", templates=tmp_path)))
    assert word.sections[0].header.paragraphs[0].text == "青山街道应急办 文件"
    texts = [p.text for p in word.paragraphs]
    assert "模板里的示例正文" not in texts and texts[0] == "东湖村后山山体滑坡 事后报告"
    (tmp_path / "report.docx").write_bytes(b"not a zip")
    with pytest.raises(InvalidInput) as caught:
        render(sample(), "docx", templates=tmp_path)
    assert caught.value.field == "templates" and "report.docx" in str(caught.value)


def test_word_signatures_have_no_header_row_and_marked_rows_are_shaded() -> None:
    import docx
    from docx.oxml.ns import qn

    word = docx.Document(io.BytesIO(render(sample(), "docx")))
    signatures = word.tables[-1]
    assert [c.text for c in signatures.rows[0].cells] == ["值班员", "王伟", ""]
    stages = next(t for t in word.tables if t.rows[0].cells[0].text == "阶段")

    def fill(row: int) -> str | None:
        shading = stages.rows[row].cells[0]._tc.tcPr.find(qn("w:shd"))
        return None if shading is None else shading.get(qn("w:fill"))

    assert fill(1) is None and fill(2) == "FDECEA"  # the overdue stage
