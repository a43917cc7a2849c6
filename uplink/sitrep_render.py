"""Provides the information report (初报、续报、终报) as plain text, Markdown and a Word document.

The three formats hold the same parts, laid out as a Chinese duty office writes such reports:
the sign-off line (签发人), the title ("青山街道关于幸福社区3号楼火灾的续报（二）"), the
correction note when the report corrects an earlier one, the report's elements in their
conventional order (:data:`~uplink.reporting.TEXT_FIELDS`, empty ones left out) with the
casualty and evacuation paragraph in its place, the contact, the reporting unit and the date.
The words are Chinese whatever the interface language: the document goes to the level above.

:func:`plain_text` is what is sent up and read out on the phone: compact, no markup, and stable
(the same report renders the same text; it is the text recorded in the audit). The date of a
report is its sign-off date (a 公文's 成文日期 is the day it was signed), in the office's zone.

The Word document is rendered from a template the office can replace: a .docx in which
``{{ 标题 }}``, ``{{ 正文 }}``, ``{{ 签发人 }}`` ... stand where the parts go (docxtpl, Jinja2
inside Word). An office opens the file in Word, changes fonts, margins, its letterhead or
moves a placeholder, and saves it; nothing to program. Every body paragraph takes the format
of the paragraph holding ``{{ 正文 }}``. The placeholders are listed in :data:`PLACEHOLDERS`;
the default template is ``uplink/templates/sitrep.docx``, built by
``python -m uplink.templates.build_sitrep``. docxtpl is imported inside :func:`docx` only: the
console's start does not pay for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from store.errors import InvalidInput
from store.i18n import _
from uplink.reporting import (
    FIELD_ZH,
    FIGURE_ZH,
    Channel,
    Figures,
    ReportKind,
    SitrepDoc,
    chinese_number,
)

DEFAULT_ZONE = "Asia/Shanghai"
TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = TEMPLATE_DIR / "sitrep.docx"

# The elements that are not body paragraphs: they have their own places in the layout.
_OWN_PLACE = ("unit", "contact", "corrects")
# The casualty paragraph follows the affected area (影响范围) and precedes the damage (财产损失),
# the order of the elements in the reporting rules of duty offices.
_FIGURES_AFTER = "area"
_CASUALTIES = ("dead", "injured", "missing", "trapped")

SIGNER_LABEL = "签发人"
FIGURES_LABEL = "人员伤亡及疏散"
UNSIGNED = "（未签发）"
PHONE_LABEL = "电话报告"

PLACEHOLDERS: dict[str, str] = {
    "标题": "the report's title",
    "正文": "the body: correction note, elements and casualties, one paragraph each",
    "签发人": "who signed it off (empty before sign-off)",
    "报告单位": "the reporting unit",
    "联系人及电话": "contact person and phone",
    "日期": "the report's date (2026年12月7日)",
    "报告名称": "初报, 续报（二）, 终报",
    "事件名称": "the case's title",
    "案件编号": "the case's number",
    "人员伤亡": "the casualty and evacuation sentence",
    "更正说明": "the correction note (empty when the report corrects nothing)",
    **{
        label: "the element as written"
        for name, label in FIELD_ZH.items()
        if name not in _OWN_PLACE
    },
}
"""What a template may use: ``{{ name }}`` -> what it holds."""
REQUIRED_PLACEHOLDERS = ("标题", "正文")
"""A template without these is refused: a report without its title or body is no report."""


@dataclass(frozen=True)
class Parts:
    """A report's parts, in order; each format lays them out."""

    title: str
    signer: str  # "" before sign-off
    correction: str  # the correction paragraph; "" when it corrects nothing
    body: tuple[str, ...]  # "label：text" paragraphs, a field's further lines as their own
    figures: str  # the casualty sentence (also in body); "" when nothing is known
    unit: str
    contact: str
    date: str


# --- the words ------------------------------------------------------------------------------------


def title(doc: SitrepDoc) -> str:
    """青山街道关于幸福社区3号楼火灾的续报（二）: unit, case and the report's name."""
    unit = _unit(doc)
    head = f"{unit}关于" if unit else "关于"
    return f"{head}{_clean_line(doc.case_title)}的{kind_name(doc)}"


def kind_name(doc: SitrepDoc) -> str:
    """初报, 续报（二）, 终报 (the title's form), 电话报告 for a report by phone."""
    report = doc.sitrep
    if report.channel is Channel.PHONE:
        return PHONE_LABEL
    if report.kind is ReportKind.FOLLOWUP and report.seq > 0:
        return f"{report.kind.label_zh}（{chinese_number(report.seq)}）"
    return report.kind.label_zh


def parts(doc: SitrepDoc) -> Parts:
    """The report's parts, as every format shows them."""
    report = doc.sitrep
    fields = {name: _clean(text) for name, text in report.fields.items()}
    figures = figures_text(doc)
    body: list[str] = []
    correction = correction_text(doc)
    if correction:
        body.append(correction)
    for name, label in FIELD_ZH.items():
        if name in _OWN_PLACE:
            continue
        lines = fields.get(name, "").split("\n") if fields.get(name) else []
        if lines:
            body.append(f"{label}：{lines[0]}")
            body.extend(lines[1:])
        if name == _FIGURES_AFTER and figures:
            body.append(f"{FIGURES_LABEL}：{figures}")
    return Parts(
        title=title(doc),
        signer=_clean_line(report.signed_by or ""),
        correction=correction,
        body=tuple(body),
        figures=figures,
        unit=_unit(doc),
        contact=_clean_line(fields.get("contact", "")),
        date=chinese_date(_dated(doc), _zone(doc)),
    )


def figures_text(doc: SitrepDoc) -> str:
    """截至12月7日10时，已造成1人死亡、3人受伤、0人失联，转移疏散群众120人；较上次报告新增受伤2人。

    Only known counts are named (None is "not known", not zero). A follow-up adds what changed
    since the last report (``doc.previous``) where both reports knew the count; a final report
    gives the totals (共造成, 累计). "" when no count is known.
    """
    figures = doc.sitrep.figures
    if not figures.known:
        return ""
    final = doc.sitrep.kind is ReportKind.FINAL
    counts = figures.counts()
    known = [(name, n) for name in _CASUALTIES if (n := counts[name]) is not None]
    clauses: list[str] = []
    if known and all(n == 0 for _name, n in known):
        clauses.append("未造成人员伤亡")
    elif known:
        verb = "共造成" if final else "已造成"
        clauses.append(verb + "、".join(f"{n}人{FIGURE_ZH[name]}" for name, n in known))
    if counts["evacuated"] is not None:
        verb = "累计转移疏散群众" if final else "转移疏散群众"
        clauses.append(f"{verb}{counts['evacuated']}人")
    when = _moment(figures.as_of, _zone(doc), _dated(doc)) if figures.as_of else "目前"
    text = f"截至{when}，" + "，".join(clauses)
    if doc.sitrep.kind is ReportKind.FOLLOWUP and doc.previous is not None:
        text += "；" + changes_text(figures, doc.previous)
    return text + "。"


def changes_text(figures: Figures, previous: Figures) -> str:
    """较上次报告新增受伤2人，失联人数减少1人 / 较上次报告无变化."""
    more: list[str] = []
    fewer: list[str] = []
    for name, (old, new) in figures.changes(previous).items():
        if old is None or new is None:
            continue  # the last report did not know it: the total above says it
        if new > old:
            more.append(f"{FIGURE_ZH[name]}{new - old}人")
        else:
            fewer.append(f"{FIGURE_ZH[name]}人数减少{old - new}人")
    if not more and not fewer:
        return "较上次报告无变化"
    said = ["新增" + "、".join(more)] if more else []
    return "较上次报告" + "，".join(said + fewer)


def correction_text(doc: SitrepDoc) -> str:
    """更正说明：本报告更正续报一，……; "" when the report corrects nothing."""
    note = _clean(doc.sitrep.fields.get("corrects", "")).replace("\n", "")
    label = FIELD_ZH["corrects"]
    if doc.corrects_name:
        head = f"{label}：本报告更正{doc.corrects_name}"
        return f"{head}，{note}" if note else f"{head}。"
    return f"{label}：{note}" if note else ""


def chinese_date(at: datetime, zone: ZoneInfo) -> str:
    """2026年12月7日 (the day in ``zone``)."""
    local = at.astimezone(zone)
    return f"{local.year}年{local.month}月{local.day}日"


def _moment(at: datetime, zone: ZoneInfo, dated: datetime) -> str:
    """12月7日10时, 12月7日10时5分; the year is named when it is not the report's."""
    local = at.astimezone(zone)
    year = f"{local.year}年" if local.year != dated.astimezone(zone).year else ""
    minutes = f"{local.minute}分" if local.minute else ""
    return f"{year}{local.month}月{local.day}日{local.hour}时{minutes}"


def _dated(doc: SitrepDoc) -> datetime:
    """The report's date: its sign-off (成文日期), else when it was phoned or last edited."""
    report = doc.sitrep
    if report.channel is Channel.PHONE:
        return report.sent_at or report.drafted_at
    return report.signed_at or report.updated_at


def _zone(doc: SitrepDoc) -> ZoneInfo:
    name = str(doc.extra.get("timezone") or DEFAULT_ZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _unit(doc: SitrepDoc) -> str:
    """The reporting unit as :func:`uplink.sitreps.document` resolved it, else the field."""
    return _clean_line(doc.unit_name) or _clean_line(doc.sitrep.fields.get("unit", ""))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(text: str) -> str:
    """Text as written, without control characters, stray spaces or empty lines."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def _clean_line(text: str) -> str:
    return " ".join(_clean(text).split("\n"))


# --- plain text and Markdown ----------------------------------------------------------------------


def plain_text(doc: SitrepDoc) -> str:
    """The text sent up and read on the phone: one part a line, no markup, stable."""
    if doc.sitrep.channel is Channel.PHONE:
        return _phone_text(doc)
    p = parts(doc)
    lines = [p.title, f"{SIGNER_LABEL}：{p.signer or UNSIGNED}", *p.body]
    if p.unit:
        lines.append(f"{FIELD_ZH['unit']}：{p.unit}")
    if p.contact:
        lines.append(f"{FIELD_ZH['contact']}：{p.contact}")
    lines.append(p.date)
    return "\n".join(lines) + "\n"


def _phone_text(doc: SitrepDoc) -> str:
    """电话报告 / 青山街道于2026年12月7日9时20分电话向区应急管理局值班室报告幸福社区3号楼火灾。"""
    report = doc.sitrep
    zone = _zone(doc)
    at = _dated(doc)
    when = f"{at.astimezone(zone).year}年" + _moment(at, zone, at)
    to = _clean_line(report.phoned_to or "")
    unit = _unit(doc)
    who = f"{unit}于" if unit else ""
    line = f"{who}{when}电话{'向' + to if to else ''}报告{_clean_line(doc.case_title)}。"
    note = _clean(report.fields.get("note", ""))
    return "\n".join([PHONE_LABEL, line, *([note] if note else [])]) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+|~])")


def _md(text: str, *, line_start: bool = True) -> str:
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    if line_start:  # "1." or "-" there would start a list
        escaped = re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)
        escaped = re.sub(r"^([-=])", r"\\\1", escaped)
    return escaped


def markdown(doc: SitrepDoc) -> str:
    """The report as Markdown: the sign-off line, the title as the heading, one paragraph per
    element with its label in bold, then contact, unit and date."""
    if doc.sitrep.channel is Channel.PHONE:
        return "\n\n".join(_md(line) for line in _phone_text(doc).splitlines()) + "\n"
    p = parts(doc)
    blocks = [
        f"{SIGNER_LABEL}：{_md(p.signer or UNSIGNED, line_start=False)}",
        f"# {_md(p.title, line_start=False)}",
    ]
    for paragraph in p.body:
        label, sep, rest = paragraph.partition("：")
        if sep and label in _LABELS:
            # The colon outside the bold: CommonMark does not close ** between "：" and a letter.
            blocks.append(f"**{label}**：{_md(rest, line_start=False)}")
        else:
            blocks.append(_md(paragraph))
    if p.contact:
        blocks.append(f"{FIELD_ZH['contact']}：{_md(p.contact, line_start=False)}")
    closing = [_md(line) for line in (p.unit, p.date) if line]
    blocks.append("  \n".join(closing))
    return "\n\n".join(blocks) + "\n"


_LABELS = frozenset((*FIELD_ZH.values(), FIGURES_LABEL))


# --- Word -----------------------------------------------------------------------------------------


def context(doc: SitrepDoc) -> dict[str, str]:
    """The values a template's placeholders take (see :data:`PLACEHOLDERS`)."""
    p = parts(doc)
    fields = {name: _clean(text) for name, text in doc.sitrep.fields.items()}
    values = {
        label: fields.get(name, "") for name, label in FIELD_ZH.items() if name not in _OWN_PLACE
    }
    return {
        **values,
        "标题": p.title,
        # docxtpl turns \a into a new paragraph with the placeholder paragraph's format.
        "正文": "\a".join(p.body),
        "签发人": p.signer,
        "报告单位": p.unit,
        "联系人及电话": p.contact,
        "日期": p.date,
        "报告名称": kind_name(doc),
        "事件名称": _clean_line(doc.case_title),
        "案件编号": doc.sitrep.case_number,
        "人员伤亡": p.figures,
        "更正说明": p.correction,
    }


def docx(doc: SitrepDoc, template: Path | None = None) -> bytes:
    """The report as a Word document (.docx bytes), rendered from ``template`` (default: the
    built-in one).

    Raises:
        InvalidInput: a report by phone (it has no document), or a template that is missing,
            not a .docx, has a placeholder error or an unknown placeholder, or lacks one of
            :data:`REQUIRED_PLACEHOLDERS`; the message names the file.
    """
    import io
    import zipfile

    from docx.opc.exceptions import PackageNotFoundError
    from docxtpl import DocxTemplate
    from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
    from jinja2.sandbox import SandboxedEnvironment
    from lxml.etree import XMLSyntaxError

    if doc.sitrep.channel is Channel.PHONE:
        raise InvalidInput(_("a report by phone has no document; show it as text"), "format")
    path = template if template is not None else DEFAULT_TEMPLATE
    if not path.is_file():
        raise InvalidInput(_("report template {path} not found").format(path=path), "template")
    tpl = DocxTemplate(str(path))
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
    try:
        tpl.render(context(doc), jinja_env=env, autoescape=True)
        missing = [
            name
            for name in REQUIRED_PLACEHOLDERS
            if name not in tpl.get_undeclared_template_variables(jinja_env=env)
        ]
        properties = tpl.docx.core_properties  # the file's own title, for lists of files
        properties.title, properties.subject = title(doc), kind_name(doc)
        properties.author = properties.last_modified_by = _unit(doc)
        out = io.BytesIO()
        tpl.save(out)
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, XMLSyntaxError) as exc:
        raise InvalidInput(
            _("report template {path} is not a Word .docx file ({error})").format(
                path=path, error=exc.__class__.__name__
            ),
            "template",
        ) from exc
    except UndefinedError as exc:
        said = re.search(r"'(.+?)' is undefined", exc.message or "")
        raise InvalidInput(
            _("report template {path} uses an unknown placeholder {name}; known: {names}").format(
                path=path,
                name="{{ " + said.group(1) + " }}" if said else exc.message,
                names=", ".join(PLACEHOLDERS),
            ),
            "template",
        ) from exc
    except OSError as exc:
        raise InvalidInput(
            _("report template {path} cannot be read ({error})").format(
                path=path, error=exc.strerror or exc
            ),
            "template",
        ) from exc
    except TemplateSyntaxError as exc:
        near = " ".join(t.strip() for t in getattr(exc, "docx_context", ()) if t.strip())
        raise InvalidInput(
            _("report template {path} has a placeholder error near {near!r}: {error}").format(
                path=path, error=exc.message, near=near[:120]
            ),
            "template",
        ) from exc
    except TemplateError as exc:
        raise InvalidInput(
            _("report template {path} cannot be filled in: {error}").format(path=path, error=exc),
            "template",
        ) from exc
    if missing:
        raise InvalidInput(
            _("report template {path} lacks the placeholders {names}").format(
                path=path, names=", ".join("{{ " + name + " }}" for name in missing)
            ),
            "template",
        )
    return out.getvalue()
