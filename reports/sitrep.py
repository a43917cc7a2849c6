"""Provides an information report (初报、续报、终报) as a :class:`~reports.document.Document`,
so it is also an HTML page and a PDF beside uplink's own text, Markdown and Word.

The words of the report itself are uplink's (:mod:`uplink.sitrep_render`: Chinese whatever the
interface language, it goes to the level above); the facts under the title (case, state, when
sent, masked) follow the process language. A contact's phone number in the text is masked
unless ``masked`` is False.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from reports.document import Block, Callout, Document, Para
from store.i18n import _, language
from store.masking import mask_phone
from uplink import sitrep_render
from uplink.reporting import FIELD_ZH, Channel, SitrepDoc

COLON = "："  # the full-width colon the report's labels end with

# A mainland mobile number in free text: 138 0013 8000, +86-138 0013 8000, 13800138000.
_MOBILE_IN_TEXT = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?(1[3-9]\d(?:[ -]?\d{4}){2})(?!\d)")


def mask_text(text: str) -> str:
    """``text`` with every mainland mobile number in it masked."""
    return _MOBILE_IN_TEXT.sub(lambda m: mask_phone("+86" + re.sub(r"[ -]", "", m.group(1))), text)


def _split(line: str) -> tuple[str, str]:
    label, sep, text = line.partition(COLON)
    return (label, text) if sep and len(label) <= 12 else ("", line)


def build_sitrep_report(
    doc: SitrepDoc, *, now: datetime, zone: ZoneInfo, masked: bool = True
) -> Document:
    """The report ``doc`` (:func:`uplink.sitreps.document`) as a document of kind ``sitrep``."""
    shown = mask_text if masked else (lambda text: text)
    report = doc.sitrep
    blocks: list[Block] = []
    if report.channel is Channel.PHONE:
        lines = sitrep_render.plain_text(doc).splitlines()
        blocks += [Para(shown(line)) for line in lines[1:]]
    else:
        p = sitrep_render.parts(doc)
        blocks.append(
            Para(p.signer or sitrep_render.UNSIGNED, lead=sitrep_render.SIGNER_LABEL + COLON)
        )
        for line in p.body:
            lead, text = _split(line)
            blocks.append(Para(shown(text), lead=lead + COLON if lead else ""))
        if p.unit:
            blocks.append(Para(p.unit, lead=FIELD_ZH["unit"] + COLON))
        if p.contact:
            blocks.append(Para(shown(p.contact), lead=FIELD_ZH["contact"] + COLON))
        blocks.append(Para(p.date))
    if report.sent_at is None:
        blocks.insert(0, Callout(_("Draft: not sent yet")))
    facts: list[tuple[str, str]] = [
        (_("Case"), report.case_number),
        (_("State"), report.state.label),
    ]
    if report.sent_at is not None:
        facts.append((_("Sent"), f"{report.sent_at.astimezone(zone):%Y-%m-%d %H:%M}"))
    facts += [
        (_("Generated"), f"{now.astimezone(zone):%Y-%m-%d %H:%M}"),
        (_("Personal data"), _("masked") if masked else _("unmasked")),
    ]
    return Document(
        kind="sitrep",
        title=sitrep_render.title(doc),
        blocks=tuple(blocks),
        generated_at=now,
        lang=language(),
        facts=tuple(facts),
        masked=masked,
    )
