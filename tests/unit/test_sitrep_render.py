"""The information report as text, Markdown and Word: goldens of the words and of the .docx
structure (paragraphs in order, title, signer, unit, date, their styles and alignment), a
replaced template used, a bad template refused with the file named."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn

from store.errors import InvalidInput
from uplink import sitrep_render as render
from uplink.reporting import (
    Channel,
    Figures,
    ReportKind,
    ReportState,
    Sitrep,
    SitrepDoc,
)
from uplink.templates.build_sitrep import build

FIELDS = {
    "received": "12月7日8时52分，幸福社区网格员王芳电话报告",
    "occurred": "12月7日8时40分",
    "place": "青山街道幸福社区3号楼2单元602室",
    "nature": "居民住宅火灾（生产安全事故类）",
    "area": "3号楼2单元，涉及住户48户",
    "damage": "",
    "trend": "明火已扑灭，现场清理中",
    "leaders": "街道党工委书记刘强到场指挥",
    "measures": "消防救援站出动3车15人\n伤员送区人民医院救治",
    "next_steps": "请区应急管理局派员指导",
    "unit": "",
    "contact": "李四 13800138000",
    "corrects": "",
}
SIGNED = datetime(2026, 12, 6, 17, 5, tzinfo=UTC)  # 2026-12-07 01:05 in Shanghai


def make(
    kind: ReportKind = ReportKind.FOLLOWUP,
    seq: int = 2,
    *,
    fields: dict[str, str] | None = None,
    figures: Figures | None = None,
    previous: Figures | None = None,
    corrects_name: str | None = None,
    signed_by: str | None = "张三",
    unit: str = "青山街道",
    channel: Channel = Channel.WRITTEN,
    **changes: Any,
) -> SitrepDoc:
    sitrep = Sitrep(
        id=7,
        case_id=1,
        case_number="QS-20261207-0001",
        kind=kind,
        seq=seq if kind is ReportKind.FOLLOWUP else 0,
        channel=channel,
        state=ReportState.SIGNED if signed_by else ReportState.DRAFT,
        fields=dict(FIELDS, **(fields or {})),
        figures=figures
        if figures is not None
        else Figures(
            dead=1,
            injured=3,
            missing=0,
            evacuated=120,
            as_of=datetime(2026, 12, 7, 2, 0, tzinfo=UTC),
        ),
        corrects=3 if corrects_name else None,
        drafted_by="李四",
        drafted_at=datetime(2026, 12, 6, 16, 40, tzinfo=UTC),
        updated_at=datetime(2026, 12, 8, 1, 0, tzinfo=UTC),
        signed_by=signed_by,
        signed_at=SIGNED if signed_by else None,
    )
    sitrep = replace(sitrep, **changes)
    return SitrepDoc(
        sitrep=sitrep,
        case_title="幸福社区3号楼火灾",
        unit_name=unit,
        previous=previous,
        corrects_name=corrects_name,
        extra={"timezone": "Asia/Shanghai"},
    )


def followup_doc() -> SitrepDoc:
    return make(
        previous=Figures(dead=1, injured=1, missing=1, evacuated=None),
        corrects_name="续报一",
        fields={"corrects": "续报一所报受伤人数有误，应为1人。"},
    )


def read(data: bytes) -> Any:
    return Document(io.BytesIO(data))


def alignment(paragraph: Any) -> Any:
    """The paragraph's alignment, its own or its style's."""
    return paragraph.alignment or paragraph.style.paragraph_format.alignment


# --- titles and words -------------------------------------------------------------------------


def test_title_names_unit_case_and_report() -> None:
    assert render.title(make()) == "青山街道关于幸福社区3号楼火灾的续报（二）"
    assert render.title(make(ReportKind.INITIAL)) == "青山街道关于幸福社区3号楼火灾的初报"
    assert render.title(make(ReportKind.FINAL)) == "青山街道关于幸福社区3号楼火灾的终报"
    assert render.title(make(unit="")) == "关于幸福社区3号楼火灾的续报（二）"
    no_config = make(unit="", fields={"unit": "青山街道办事处"})
    assert render.title(no_config) == "青山街道办事处关于幸福社区3号楼火灾的续报（二）"


@pytest.mark.parametrize(
    ("seq", "numeral"),
    [(1, "一"), (2, "二"), (9, "九"), (10, "十"), (11, "十一"), (12, "十二")],
)
def test_followups_are_numbered_in_chinese(seq: int, numeral: str) -> None:
    assert render.title(make(seq=seq)).endswith(f"的续报（{numeral}）")
    assert render.kind_name(make(seq=seq)) == f"续报（{numeral}）"


def test_plain_text_golden() -> None:
    assert render.plain_text(followup_doc()) == (
        "青山街道关于幸福社区3号楼火灾的续报（二）\n"
        "签发人：张三\n"
        "更正说明：本报告更正续报一，续报一所报受伤人数有误，应为1人。\n"
        "接报时间及来源：12月7日8时52分，幸福社区网格员王芳电话报告\n"
        "事发时间：12月7日8时40分\n"
        "事发地点：青山街道幸福社区3号楼2单元602室\n"
        "事件性质及类别：居民住宅火灾（生产安全事故类）\n"
        "影响范围：3号楼2单元，涉及住户48户\n"
        "人员伤亡及疏散：截至12月7日10时，已造成1人死亡、3人受伤、0人失联，"
        "转移疏散群众120人；较上次报告新增受伤2人，失联人数减少1人。\n"
        "发展趋势：明火已扑灭，现场清理中\n"
        "到场领导：街道党工委书记刘强到场指挥\n"
        "已采取措施：消防救援站出动3车15人\n"
        "伤员送区人民医院救治\n"
        "下步工作及请求事项：请区应急管理局派员指导\n"
        "报告单位：青山街道\n"
        "联系人及电话：李四 13800138000\n"
        "2026年12月7日\n"
    )


def test_plain_text_is_stable_and_dated_by_sign_off() -> None:
    doc = followup_doc()
    sent = replace(doc, sitrep=replace(doc.sitrep, state=ReportState.SENT, sent_at=SIGNED))
    later = replace(sent, sitrep=replace(sent.sitrep, updated_at=datetime(2027, 1, 1, tzinfo=UTC)))
    assert render.plain_text(doc) == render.plain_text(sent) == render.plain_text(later)
    # 17:05 UTC on the 6th is the 7th in Shanghai; another configured zone gives its own day
    assert render.plain_text(doc).endswith("2026年12月7日\n")
    utc = replace(doc, extra={"timezone": "UTC"})
    assert render.plain_text(utc).endswith("2026年12月6日\n")


def test_unsigned_draft_says_so_and_is_dated_by_its_last_edit() -> None:
    text = render.plain_text(make(signed_by=None))
    assert "签发人：（未签发）\n" in text
    assert text.endswith("2026年12月8日\n")


def test_markdown_golden() -> None:
    doc = make(
        ReportKind.INITIAL,
        fields={"measures": "1. 出动3车15人\n2. 疏散*群众*", "trend": "", "leaders": ""},
    )
    assert render.markdown(doc) == (
        "签发人：张三\n\n"
        "# 青山街道关于幸福社区3号楼火灾的初报\n\n"
        "**接报时间及来源**：12月7日8时52分，幸福社区网格员王芳电话报告\n\n"
        "**事发时间**：12月7日8时40分\n\n"
        "**事发地点**：青山街道幸福社区3号楼2单元602室\n\n"
        "**事件性质及类别**：居民住宅火灾（生产安全事故类）\n\n"
        "**影响范围**：3号楼2单元，涉及住户48户\n\n"
        "**人员伤亡及疏散**：截至12月7日10时，已造成1人死亡、3人受伤、0人失联，"
        "转移疏散群众120人。\n\n"
        "**已采取措施**：1. 出动3车15人\n\n"
        "2\\. 疏散\\*群众\\*\n\n"
        "**下步工作及请求事项**：请区应急管理局派员指导\n\n"
        "联系人及电话：李四 13800138000\n\n"
        "青山街道  \n2026年12月7日\n"
    )


def test_figures_of_a_final_report_are_totals() -> None:
    text = render.figures_text(make(ReportKind.FINAL, previous=Figures(dead=0)))
    assert text == "截至12月7日10时，共造成1人死亡、3人受伤、0人失联，累计转移疏散群众120人。"


def test_figures_known_only_and_none_wording() -> None:
    at = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
    none_hurt = make(ReportKind.INITIAL, figures=Figures(dead=0, injured=0, as_of=at))
    assert render.figures_text(none_hurt) == "截至12月7日10时30分，未造成人员伤亡。"
    evacuated = make(ReportKind.INITIAL, figures=Figures(evacuated=35, trapped=2))
    assert render.figures_text(evacuated) == "截至目前，已造成2人被困，转移疏散群众35人。"
    unknown = make(ReportKind.INITIAL, figures=Figures())
    assert render.figures_text(unknown) == ""
    assert "人员伤亡及疏散" not in render.plain_text(unknown)


def test_followup_says_what_changed_since_the_last_report() -> None:
    same = make(previous=Figures(dead=1, injured=3, missing=0, evacuated=120))
    assert render.figures_text(same).endswith("；较上次报告无变化。")
    more = make(previous=Figures(dead=0, injured=1, missing=0, evacuated=100))
    assert render.figures_text(more).endswith("；较上次报告新增死亡1人、受伤2人、转移疏散20人。")
    first = make(previous=None)
    assert "较上次报告" not in render.figures_text(first)


def test_correction_without_a_note_still_names_the_corrected_report() -> None:
    doc = make(corrects_name="初报")
    assert render.correction_text(doc) == "更正说明：本报告更正初报。"
    assert render.plain_text(doc).split("\n")[2] == "更正说明：本报告更正初报。"
    assert render.correction_text(make()) == ""


def test_control_characters_and_blank_lines_are_dropped() -> None:
    doc = make(fields={"trend": "  明火\x07已扑灭\r\n\r\n\t现场清理中  "})
    assert "发展趋势：明火已扑灭\n现场清理中\n" in render.plain_text(doc)


def test_phone_report_is_a_short_note() -> None:
    doc = make(
        ReportKind.INITIAL,
        channel=Channel.PHONE,
        signed_by=None,
        sent_at=datetime(2026, 12, 7, 1, 20, tzinfo=UTC),
        phoned_to="区应急管理局值班室",
        fields={"note": "已报告起火和疏散情况"},
    )
    assert render.plain_text(doc) == (
        "电话报告\n"
        "青山街道于2026年12月7日9时20分电话向区应急管理局值班室报告幸福社区3号楼火灾。\n"
        "已报告起火和疏散情况\n"
    )
    assert render.title(doc).endswith("的电话报告")
    with pytest.raises(InvalidInput) as caught:
        render.docx(doc)
    assert caught.value.field == "format"


# --- Word ---------------------------------------------------------------------------------------


def test_docx_golden_structure() -> None:
    document = read(render.docx(followup_doc()))
    texts = [p.text for p in document.paragraphs]
    assert texts == [
        "签发人：张三",
        "青山街道关于幸福社区3号楼火灾的续报（二）",
        "更正说明：本报告更正续报一，续报一所报受伤人数有误，应为1人。",
        "接报时间及来源：12月7日8时52分，幸福社区网格员王芳电话报告",
        "事发时间：12月7日8时40分",
        "事发地点：青山街道幸福社区3号楼2单元602室",
        "事件性质及类别：居民住宅火灾（生产安全事故类）",
        "影响范围：3号楼2单元，涉及住户48户",
        "人员伤亡及疏散：截至12月7日10时，已造成1人死亡、3人受伤、0人失联，"
        "转移疏散群众120人；较上次报告新增受伤2人，失联人数减少1人。",
        "发展趋势：明火已扑灭，现场清理中",
        "到场领导：街道党工委书记刘强到场指挥",
        "已采取措施：消防救援站出动3车15人",
        "伤员送区人民医院救治",
        "下步工作及请求事项：请区应急管理局派员指导",
        "联系人及电话：李四 13800138000",
        "",
        "",
        "青山街道",
        "2026年12月7日",
    ]
    paragraphs = document.paragraphs
    signer, heading, first, date, unit = (
        paragraphs[0],
        paragraphs[1],
        paragraphs[2],
        paragraphs[-1],
        paragraphs[-2],
    )
    assert heading.style.name == "报告标题"
    assert alignment(heading) == WD_ALIGN_PARAGRAPH.CENTER
    assert alignment(signer) == WD_ALIGN_PARAGRAPH.RIGHT
    assert date.style.name == unit.style.name == "落款"
    assert alignment(date) == alignment(unit) == WD_ALIGN_PARAGRAPH.RIGHT
    # every body paragraph takes the placeholder paragraph's style (indented, justified)
    assert {p.style.name for p in paragraphs[2:15]} == {"报告正文"}
    assert alignment(first) == WD_ALIGN_PARAGRAPH.JUSTIFY
    assert document.core_properties.title == "青山街道关于幸福社区3号楼火灾的续报（二）"
    assert document.core_properties.author == "青山街道"


def test_docx_fonts_and_page_are_those_of_official_documents() -> None:
    document = read(render.docx(followup_doc()))

    def east_asia(style_name: str) -> str:
        fonts = document.styles[style_name].element.rPr.rFonts
        return str(fonts.get(qn("w:eastAsia")))

    assert east_asia("报告标题") == "方正小标宋简体"
    assert east_asia("报告正文") == "仿宋"
    assert document.styles["报告标题"].font.size.pt == 22
    assert document.styles["报告正文"].font.size.pt == 16
    name_run = document.paragraphs[0].runs[-1]
    assert name_run.text == "张三"
    assert name_run._element.rPr.rFonts.get(qn("w:eastAsia")) == "楷体"
    section = document.sections[0]
    assert round(section.top_margin.mm) == 37
    assert round(section.left_margin.mm) == 28
    assert round(section.page_width.mm) == 210


def test_docx_xml_has_no_placeholder_left_and_escapes_text() -> None:
    doc = make(fields={"trend": "风力<5级 & {{ 标题 }} {% if x %}"})
    data = render.docx(doc)
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode("utf-8")
    assert "{%" not in xml.replace("{% if x %}", "")
    assert "风力&lt;5级 &amp; {{ 标题 }} {% if x %}" in xml  # the text, not a placeholder
    assert "青山街道关于幸福社区3号楼火灾的续报（二）</w:t>" in xml


def test_docx_leaves_out_the_contact_line_when_there_is_none() -> None:
    texts = [p.text for p in read(render.docx(make(fields={"contact": ""}))).paragraphs]
    assert not any(t.startswith("联系人及电话") for t in texts)
    assert texts[-1] == "2026年12月7日"


def test_default_template_is_shipped_and_rebuilt_by_its_script(tmp_path: Path) -> None:
    assert render.DEFAULT_TEMPLATE.is_file()
    rebuilt = build(tmp_path / "sitrep.docx")
    doc = followup_doc()
    ours = [p.text for p in read(render.docx(doc)).paragraphs]
    assert [p.text for p in read(render.docx(doc, rebuilt)).paragraphs] == ours


def make_template(path: Path, *lines: str) -> Path:
    document = Document()
    for line in lines:
        document.add_paragraph(line)
    document.save(str(path))
    return path


def test_a_replaced_template_is_used(tmp_path: Path) -> None:
    template = make_template(
        tmp_path / "office.docx",
        "青山街道办事处值班室（红头）",
        "{{ 标题 }}",
        "编号：{{ 案件编号 }}　{{ 报告名称 }}",
        "{{ 正文 }}",
        "{{ 报告单位 }} {{ 日期 }} 签发：{{ 签发人 }}",
    )
    texts = [p.text for p in read(render.docx(followup_doc(), template)).paragraphs]
    assert texts[0] == "青山街道办事处值班室（红头）"
    assert texts[1] == "青山街道关于幸福社区3号楼火灾的续报（二）"
    assert texts[2] == "编号：QS-20261207-0001　续报（二）"
    assert texts[3].startswith("更正说明：")
    assert texts[-1] == "青山街道 2026年12月7日 签发：张三"
    assert "签发人：张三" not in texts


def test_a_template_may_use_each_element(tmp_path: Path) -> None:
    template = make_template(
        tmp_path / "fields.docx", "{{ 标题 }}", "{{ 正文 }}", "地点：{{ 事发地点 }}"
    )
    texts = [p.text for p in read(render.docx(followup_doc(), template)).paragraphs]
    assert texts[-1] == "地点：青山街道幸福社区3号楼2单元602室"


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (("{{ 标题 }}",), "{{ 正文 }}"),  # a placeholder missing
        (("{{ 标题 }}", "{{ 正文 }}", "{{ 题目 }}"), "题目"),  # an unknown placeholder
        (("{{ 标题 }}", "{{ 正文 "), "placeholder error"),  # a Jinja syntax error
        (("{{ 标题 }}", "{{ 正文 }}", "{% if 签发人 %}"), "placeholder error"),  # unclosed block
    ],
)
def test_a_bad_template_is_refused_naming_the_file(
    tmp_path: Path, lines: tuple[str, ...], words: str
) -> None:
    template = make_template(tmp_path / "bad.docx", *lines)
    with pytest.raises(InvalidInput) as caught:
        render.docx(followup_doc(), template)
    assert str(template) in str(caught.value)
    assert words in str(caught.value)
    assert caught.value.field == "template"


def test_a_file_that_is_not_a_docx_is_refused(tmp_path: Path) -> None:
    not_docx = tmp_path / "report.docx"
    not_docx.write_text("this is not a Word file", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not a Word .docx file") as caught:
        render.docx(followup_doc(), not_docx)
    assert str(not_docx) in str(caught.value)
    zipped = tmp_path / "empty.docx"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(InvalidInput, match="not a Word .docx file"):
        render.docx(followup_doc(), zipped)
    with pytest.raises(InvalidInput, match="not found"):
        render.docx(followup_doc(), tmp_path / "missing.docx")
