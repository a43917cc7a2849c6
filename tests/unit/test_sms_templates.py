"""The call-out's text before it goes: SMS segments (GSM-7 and UCS-2), the carriers' signature,
the message templates per incident category, and the preview of who would be called."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from console.config import load_config
from incidents.models import CATEGORIES
from mobilization import (
    CaseFacts,
    Outgoing,
    SmsSender,
    SmsSettings,
    Target,
    check_templates,
    fill,
    parse_channels,
    preview_mobilization,
    running_for_incident,
    sample_sms,
    signed,
    sms_length,
    start_mobilization,
    template_for,
)
from mobilization.templates import _BUILTIN, DEFAULT, FIELDS
from store.clock import FixedClock
from store.errors import ConfigError, InvalidInput
from tests.support.domain import OPERATOR
from tests.support.gateway import Gateway

# --- segments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "chars", "encoding", "segments", "per"),
    [
        ("", 0, "GSM-7", 0, 160),
        ("a" * 160, 160, "GSM-7", 1, 160),
        ("a" * 161, 161, "GSM-7", 2, 153),
        ("a" * 306, 306, "GSM-7", 2, 153),
        ("a" * 307, 307, "GSM-7", 3, 153),
        ("{" * 80, 160, "GSM-7", 1, 160),  # the extension table: two septets each
        ("€" * 81, 162, "GSM-7", 2, 153),
        ("中" * 70, 70, "UCS-2", 1, 70),
        ("中" * 71, 71, "UCS-2", 2, 67),
        ("中" * 134, 134, "UCS-2", 2, 67),
        ("中" * 135, 135, "UCS-2", 3, 67),
        ("a" * 69 + "中", 70, "UCS-2", 1, 70),  # one Chinese character makes it all UCS-2
        ("😀" * 35, 70, "UCS-2", 1, 70),  # beyond the BMP: two code units each
        ("【青山街道】请到岗", 9, "UCS-2", 1, 70),
    ],
)
def test_sms_length_counts_segments(
    text: str, chars: int, encoding: str, segments: int, per: int
) -> None:
    length = sms_length(text)
    assert (length.chars, length.encoding, length.segments, length.per_segment) == (
        chars,
        encoding,
        segments,
        per,
    )


def test_the_signature_goes_at_the_start_once_or_at_the_end() -> None:
    assert signed("请到岗", "【青山街道】") == "【青山街道】请到岗"
    assert signed("【青山街道】请到岗", "【青山街道】") == "【青山街道】请到岗"
    assert signed("请到岗", "【青山街道】", "end") == "请到岗【青山街道】"
    assert signed("请到岗", None) == "请到岗"


def test_the_signature_is_configured_and_checked() -> None:
    sms = parse_channels({"sms": {"url": "https://gw/send", "signature": " 【青山街道】 "}}).sms
    assert sms is not None and (sms.signature, sms.signature_at) == ("【青山街道】", "start")
    for bad, field in (
        ({"signature": ""}, "channels.sms.signature"),
        ({"signature": "x" * 21}, "channels.sms.signature"),
        ({"signature_at": "middle"}, "channels.sms.signature_at"),
    ):
        with pytest.raises(InvalidInput) as caught:
            parse_channels({"sms": {"url": "https://gw/send", **bad}})
        assert caught.value.field == field


async def test_the_gateway_receives_the_signed_text() -> None:
    with Gateway() as gateway:
        sender = SmsSender(SmsSettings(url=gateway.url, signature="【青山街道】"))
        try:
            message = Outgoing("att-1", 1, "sms", "+8613800138001", "3号楼火灾，请到岗")
            deliveries = await sender.send([message])
        finally:
            await sender.aclose()
        assert deliveries[0].ok
        assert [m["text"] for m in gateway.messages] == ["【青山街道】3号楼火灾，请到岗"]


def test_sample_sms_is_the_call_out_as_received() -> None:
    now = datetime(2026, 5, 20, 6, 0).astimezone()
    text, length = sample_sms(
        "河堤渗水，请到岗",
        exercise=True,
        now=now,
        base_url="https://duty.example",
        signature="【青山街道】",
    )
    assert text.startswith("【青山街道】【演练 EXERCISE】河堤渗水，请到岗 回复“12345 1”到岗")
    assert "https://duty.example/ack/" in text
    assert length == sms_length(text) and length.encoding == "UCS-2" and length.segments > 1


# --- templates ------------------------------------------------------------------------------

FACTS = CaseFacts(
    title="河堤渗水",
    place="幸福路12号",
    time="05-20 14:00",
    category="natural_disaster",
    category_label="自然灾害",
    type_label="洪涝",
    number="2026-000001",
    grid="G01",
)


def test_every_category_has_a_built_in_template_in_both_languages() -> None:
    for lang, table in _BUILTIN.items():
        assert set(table) == {*CATEGORIES, DEFAULT}, lang


def test_a_template_is_filled_from_the_case() -> None:
    zh = fill(FACTS, lang="zh_CN")
    assert zh == (
        "05-20 14:00，幸福路12号：河堤渗水。请立即到岗，转移危险区域群众，巡查隐患点，"
        "到社区应急物资点报到。"
    )
    en = fill(FACTS, lang="en")
    assert en.startswith("05-20 14:00, 幸福路12号: 河堤渗水. Please come on duty at once")
    assert en.endswith("report to the community emergency supplies point.")
    # Another category: its own what-to-do and where-to-report.
    fire = fill(CaseFacts("仓库起火", "仓库", "05-20 14:00", "accident_disaster"), lang="zh_CN")
    assert "携带灭火和救援器材" in fire and "现场指挥点报到" in fire
    # No place: the grid stands for it.
    assert fill(CaseFacts("x", "", "t", "dispute", grid="G02"), lang="en").startswith("t, G02: x.")


def test_the_office_overrides_a_category_or_the_default() -> None:
    overrides = {
        "natural_disaster": "{category}/{type} {number} {place} {title}：{what}",
        DEFAULT: "【{grid}】{title}，到{report}",
    }
    assert fill(FACTS, overrides, lang="zh_CN") == (
        "自然灾害/洪涝 2026-000001 幸福路12号 河堤渗水：立即到岗，转移危险区域群众，巡查隐患点"
    )
    other = CaseFacts("吵架", "3号楼", "t", "dispute", grid="G01")
    assert fill(other, overrides, lang="zh_CN") == "【G01】吵架，到社区调解室"
    assert template_for("dispute", {}, lang="en").startswith("{time}, {place}")


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"default": "{tim} x"}, "mobilize.templates.default", "{tim} is not a field"),
        ({"default": "{title!r}"}, "mobilize.templates.default", "is not a field"),
        ({"default": "{title:>10}"}, "mobilize.templates.default", "is not a field"),
        ({"default": "{title"}, "mobilize.templates.default", "brace"),
        ({"default": "  "}, "mobilize.templates.default", "non-empty"),
        ({"default": 3}, "mobilize.templates.default", "non-empty"),
        ({"default": "x" * 501}, "mobilize.templates.default", "at most 500"),
        ("text", "mobilize.templates", "must be a table"),
    ],
)
def test_a_bad_template_is_refused_naming_its_key(raw: object, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_templates(raw, "mobilize.templates")
    assert caught.value.field == field
    assert words in caught.value.reason
    assert set(FIELDS) >= {"title", "place", "time", "what", "report"}


def test_the_configuration_reads_templates_and_refuses_unknown_categories(tmp_path: Path) -> None:
    path = tmp_path / "dutydesk.toml"
    path.write_text(
        '[mobilize.templates]\ndefault = "{title}"\naccident_disaster = "{place} {title}"\n',
        encoding="utf-8",
    )
    assert load_config(path).mobilize_templates == {
        "default": "{title}",
        "accident_disaster": "{place} {title}",
    }
    path.write_text('[mobilize.templates]\nfire = "{title}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "line 2, key 'mobilize.templates.fire': unknown category" in str(caught.value)
    path.write_text('[mobilize.templates]\ndefault = "{where}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "key 'mobilize.templates.default': {where} is not a field" in str(caught.value)


# --- preview --------------------------------------------------------------------------------


@pytest.fixture
def tree(town_tree: Database) -> Iterator[Database]:
    yield town_tree


def test_the_preview_counts_people_per_grid_and_team(tree: Database, clock: FixedClock) -> None:
    preview = preview_mobilization(
        tree, clock.now(), [Target.parse("grid:G01"), Target.parse("team:T-RESCUE")]
    )
    by_group = {g.code: (g.label, g.people) for g in preview.groups}
    # G01: its leader, two members and a volunteer; the team: M1 and V1, who are in G01 too
    # and are called once.
    assert by_group["G01"] == ("G01网格", 4)
    assert by_group["T-RESCUE"] == ("救援队", 2)
    assert preview.people == 4
    assert preview.nodes >= 2
    with pytest.raises(InvalidInput, match="grid:G99 has no node"):
        preview_mobilization(tree, clock.now(), [Target.parse("grid:G99")])
    # Nothing was written.
    assert tree.conn.execute("SELECT count(*) FROM mobilizations").fetchone() == (0,)


def test_running_for_incident_lists_the_cases_active_ones(
    tree: Database, clock: FixedClock
) -> None:
    from incidents.limits import Policy
    from incidents.records import NewIncident, create_incident

    case = create_incident(
        tree, clock, Policy(), OPERATOR, NewIncident(title="河堤渗水", category="natural_disaster")
    )
    assert running_for_incident(tree, case.id) == []
    mob = start_mobilization(
        tree, clock, OPERATOR, targets=[Target.parse("grid:G01")], message="x", incident_id=case.id
    )
    assert [m.id for m in running_for_incident(tree, case.id)] == [mob]
