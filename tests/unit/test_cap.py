"""CAP 1.2: the spec's examples, the alerts we write, hostile XML and the rules the XSD cannot say.

Every document :func:`uplink.cap.to_xml` returns is checked here by a second, independent
validator (lxml's libxml2 against the same XSD), so a writer bug that xmlschema missed would
still fail a test.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from store.errors import DutydeskError, InvalidInput
from uplink import cap
from uplink.cap import (
    Alert,
    Area,
    Category,
    Certainty,
    Colour,
    Info,
    MsgType,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "tests" / "fixtures" / "cap").glob("cap12_appendixA*.xml"))
XSD_SHA256 = "b7798ef25868b068c97b268bda02d067c7d4ba9373adc5638bf37105804ee723"
NOW = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # 08:30 in Beijing
T = TypeVar("T")
FAST_S = 2.0  # a hostile document is refused at once, not after parsing or expanding it


@pytest.fixture(scope="module")
def libxml2() -> etree.XMLSchema:
    """The second validator: libxml2 (through lxml) with the packaged XSD."""
    return etree.XMLSchema(etree.parse(str(cap.XSD_PATH)))


def assert_schema_valid(libxml2: etree.XMLSchema, xml: bytes) -> None:
    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    assert libxml2.validate(doc), libxml2.error_log


def rainstorm(
    colour: Colour = Colour.ORANGE,
    *,
    status: Status = Status.ACTUAL,
    codes: tuple[str, ...] = ("330102001", "330102002"),
    polygon: cap.Polygon | None = None,
) -> Alert:
    area = Area(
        "清波街道、湖滨街道",
        polygons=() if polygon is None else (polygon,),
        geocodes=tuple((cap.AREA_CODE_NAME, code) for code in codes),
    )
    info = Info(
        categories=(Category.MET,),
        event="暴雨",
        urgency=Urgency.IMMEDIATE,
        severity=colour.severity,
        certainty=Certainty.LIKELY,
        language=cap.DEFAULT_LANGUAGE,
        response_types=(ResponseType.PREPARE,),
        event_codes=(("GB/T 28592", "11B03"),),
        effective=NOW,
        expires=NOW + timedelta(hours=12),
        sender_name="某区气象台",
        headline=f"某区气象台发布暴雨{colour.label_zh}预警",
        description="预计未来3小时内将出现50毫米以上降水。",
        instruction="请做好防御准备，转移危险区域人员。",
        areas=(area,),
    )
    return Alert(
        identifier=cap.new_identifier("330102", NOW, 1),
        sender="330102",
        sent=NOW,
        status=status,
        msg_type=MsgType.ALERT,
        scope=Scope.PUBLIC,
        infos=(info,),
    )


SQUARE: cap.Polygon = ((30.2, 120.1), (30.2, 120.2), (30.3, 120.2), (30.3, 120.1), (30.2, 120.1))


# --- the specification's examples ----------------------------------------------------------------


def test_the_packaged_schema_is_the_official_file_with_its_notice() -> None:
    assert hashlib.sha256(cap.XSD_PATH.read_bytes()).hexdigest() == XSD_SHA256
    notice = (cap.XSD_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert "Copyright OASIS Open 2010 All Rights Reserved" in notice
    assert XSD_SHA256 in notice


def test_there_are_four_appendix_a_examples() -> None:
    assert [p.name for p in EXAMPLES] == [f"cap12_appendixA{n}.xml" for n in range(1, 5)]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_each_example_parses_validates_and_round_trips(
    path: Path, libxml2: etree.XMLSchema
) -> None:
    data = path.read_bytes()
    cap.validate(data)
    alert = cap.parse(data)
    written = cap.to_xml(alert)
    assert_schema_valid(libxml2, written)
    assert cap.parse(written) == alert
    assert cap.to_xml(cap.parse(written)) == written  # the writer is stable
    assert cap.is_valid(written)


def test_the_examples_read_as_the_spec_describes_them() -> None:
    a1, a2, a3, a4 = (cap.parse(p.read_bytes()) for p in EXAMPLES)
    assert a1.identifier == "43b080713727" and a1.msg_type is MsgType.ALERT
    assert a1.infos[0].parameters == (("HSAS", "ORANGE"),)
    assert a1.infos[0].resources == (
        Resource(
            "Image file (GIF)", "image/gif", uri="http://www.dhs.gov/dhspublic/getAdvisoryImage"
        ),
    )
    assert a1.sent == datetime(2003, 4, 2, 19, 39, 1, tzinfo=UTC)
    assert a1.colour is Colour.ORANGE
    assert a2.polygons == (
        ((38.47, -120.14), (38.34, -119.95), (38.52, -119.74), (38.62, -119.89), (38.47, -120.14)),
    )
    assert a2.infos[0].areas[0].geocodes[0] == ("SAME", "006109")
    assert a2.area_codes == ()  # SAME codes are not division codes
    assert a2.infos[0].expires == datetime(2003, 6, 17, 23, 0, tzinfo=UTC)
    assert a3.msg_type is MsgType.UPDATE
    assert cap.references_of(a3) == (
        Reference("trinet@caltech.edu", "TRI13970876.1", datetime(2003, 6, 12, 3, 30, tzinfo=UTC)),
    )
    assert a3.infos[0].areas[0].circles == ((32.9525, -115.5527, 0.0),)
    assert a3.colour is Colour.BLUE
    assert [i.language for i in a4.infos] == ["en-US", "es-US"]
    assert a4.infos[1].event == "Abducción de Niño"
    assert a4.expires is None


def test_times_are_written_in_beijing_time() -> None:
    a2 = cap.parse(EXAMPLES[1].read_bytes())
    written = cap.to_xml(a2).decode()
    assert "<sent>2003-06-18T05:57:00+08:00</sent>" in written
    assert "<expires>2003-06-18T07:00:00+08:00</expires>" in written


# --- the alerts we write -------------------------------------------------------------------------


@pytest.mark.parametrize("colour", list(Colour))
@pytest.mark.parametrize("msg_type", [MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL])
@pytest.mark.parametrize("status", [Status.ACTUAL, Status.EXERCISE])
def test_generated_alerts_of_every_colour_and_type_validate(
    colour: Colour, msg_type: MsgType, status: Status, libxml2: etree.XMLSchema
) -> None:
    original = rainstorm(colour, status=status, polygon=SQUARE)
    alert = original
    if msg_type is not MsgType.ALERT:
        alert = cap.follow_up(
            original,
            msg_type=msg_type,
            identifier=cap.new_identifier("330102", NOW + timedelta(hours=1), 1),
            sent=NOW + timedelta(hours=1),
        )
    xml = cap.to_xml(alert)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="')
    assert_schema_valid(libxml2, xml)
    back = cap.parse(xml)
    assert back == alert
    assert back.colour is colour and back.severity is colour.severity
    assert back.exercise is (status is Status.EXERCISE)
    assert f"<severity>{colour.severity.value}</severity>".encode() in xml
    assert "暴雨".encode() in xml
    if msg_type is not MsgType.ALERT:
        assert back.references == (cap.reference(original),)
        assert back.references_text == "330102,330102_20260701083000_1,2026-07-01T08:30:00+08:00"


def test_an_update_of_an_update_references_the_whole_chain() -> None:
    first = rainstorm()
    second = cap.follow_up(first, msg_type=MsgType.UPDATE, identifier="330102_2", sent=NOW)
    third = cap.follow_up(second, msg_type=MsgType.CANCEL, identifier="330102_3", sent=NOW)
    assert [r.identifier for r in cap.references_of(third)] == [first.identifier, "330102_2"]
    assert cap.parse(cap.to_xml(third)).references == third.references


def test_area_codes_polygons_and_json() -> None:
    alert = rainstorm(Colour.RED, polygon=SQUARE, codes=("330102001", "330102002", "330102001"))
    assert alert.area_codes == ("330102001", "330102002")
    assert alert.polygons == (SQUARE,)
    assert alert.area_description == "清波街道、湖滨街道"
    data = alert.to_json()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["colour"] == "red" and data["severity"] == "Extreme"
    assert data["sent"] == "2026-07-01T08:30:00+08:00"
    assert data["area_codes"] == ["330102001", "330102002"]
    assert data["infos"][0]["areas"][0]["polygons"][0][0] == [30.2, 120.1]
    # Other spellings of the division code's valueName are read too.
    other = Area("x", geocodes=(("divisionCode", "330103"), ("SAME", "006037")))
    assert other.codes == ("330103",)


def test_microseconds_are_dropped_on_construction_so_records_equal_their_xml() -> None:
    alert = replace(rainstorm(), sent=NOW + timedelta(microseconds=123456))
    assert alert.sent == NOW
    assert cap.parse(cap.to_xml(alert)) == alert


def test_a_carriage_return_and_markup_in_text_survive_the_round_trip() -> None:
    info = replace(rainstorm().infos[0], description="a\r\nb <c> & ]]> d ", headline="")
    alert = replace(rainstorm(), infos=(info,))
    back = cap.parse(cap.to_xml(alert))
    assert back.infos[0].description == "a\r\nb <c> & ]]> d "
    assert back.infos[0].headline == ""


def test_new_identifier_has_the_national_profile_shape() -> None:
    assert cap.new_identifier("330102001", NOW, 7) == "330102001_20260701083000_7"
    for bad_code in ("", "33 01", "330_102", "330,1"):
        with pytest.raises(InvalidInput) as caught:
            cap.new_identifier(bad_code, NOW, 1)
        assert caught.value.field == "sender_code"
    with pytest.raises(InvalidInput):
        cap.new_identifier("330102", datetime(2026, 7, 1), 1)
    with pytest.raises(InvalidInput):
        cap.new_identifier("330102", NOW, 0)


def test_cap_times() -> None:
    assert cap.cap_time(NOW) == "2026-07-01T08:30:00+08:00"
    assert cap.parse_cap_time("2003-04-02T14:39:01-05:00") == datetime(
        2003, 4, 2, 19, 39, 1, tzinfo=UTC
    )
    assert cap.parse_cap_time("2026-01-01T00:00:00-00:00") == datetime(2026, 1, 1, tzinfo=UTC)
    for bad in ("2026-07-01T08:30:00Z", "2026-07-01T08:30:00.5+08:00", "2026-07-01 08:30:00+08:00"):
        with pytest.raises(InvalidInput) as caught:
            cap.parse_cap_time(bad, "sent")
        assert caught.value.field == "sent"
    with pytest.raises(InvalidInput):
        cap.parse_cap_time("2026-02-30T08:30:00+08:00")
    with pytest.raises(InvalidInput):
        cap.cap_time(datetime(2026, 7, 1))


# --- colours and levels --------------------------------------------------------------------------


def test_colours_map_to_severities() -> None:
    assert [(c.severity, c.label_zh) for c in Colour] == [
        (Severity.EXTREME, "红色"),
        (Severity.SEVERE, "橙色"),
        (Severity.MODERATE, "黄色"),
        (Severity.MINOR, "蓝色"),
    ]
    assert Colour.from_severity("Severe") is Colour.ORANGE
    assert Colour.from_severity(Severity.UNKNOWN) is None
    assert Severity.EXTREME.colour is Colour.RED
    assert Severity.EXTREME.rank > Severity.SEVERE.rank > Severity.UNKNOWN.rank


@pytest.mark.parametrize(
    ("text", "colour"),
    [
        ("red", Colour.RED),
        ("Orange", Colour.ORANGE),
        ("橙色预警", Colour.ORANGE),
        ("黄色", Colour.YELLOW),
        ("蓝", Colour.BLUE),
        (" Extreme ", Colour.RED),
        ("red warning", Colour.RED),
    ],
)
def test_a_colour_is_read_from_the_words_people_use(text: str, colour: Colour) -> None:
    assert Colour.parse(text) is colour


def test_severity_is_read_from_levels_or_colours() -> None:
    assert cap.parse_severity("extreme") is Severity.EXTREME
    assert cap.parse_severity("橙色") is Severity.SEVERE
    assert cap.parse_severity("Unknown") is Severity.UNKNOWN
    with pytest.raises(InvalidInput) as caught:
        cap.parse_severity("purple")
    assert caught.value.field == "severity"
    with pytest.raises(InvalidInput) as caught:
        Colour.parse("紫色")
    assert caught.value.field == "colour"


# --- refusals: the schema's words and the element's path -----------------------------------------


def example(n: int) -> bytes:
    return EXAMPLES[n - 1].read_bytes()


def refusal(xml: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        cap.parse(xml)
    return caught.value


def test_a_schema_violation_names_the_element_and_gives_the_schemas_reason() -> None:
    error = refusal(example(2).replace(b"<severity>Severe", b"<severity>Dreadful"))
    assert error.field == "/alert/info[1]/severity"
    assert "value must be one of" in error.reason and "Extreme" in error.reason
    assert str(error).startswith("/alert/info[1]/severity: ")


def test_a_misplaced_element_names_its_parent() -> None:
    moved = example(2).replace(b"<areaDesc>", b"<areaDescription>", 1)
    moved = moved.replace(b"</areaDesc>", b"</areaDescription>", 1)
    error = refusal(moved)
    assert error.field == "/alert/info[1]/area[1]"
    assert "areaDescription" in error.reason


def test_a_foreign_element_and_a_location_hint_are_refused_without_being_followed() -> None:
    include = (
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" '
        b'xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/hostname" '
        b'parse="text"/></alert>'
    )
    assert "XInclude" in refusal(include).reason
    hint = example(1).replace(
        b'<alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">',
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="urn:oasis:names:tc:emergency:cap:1.2 http://127.0.0.1:9/x.xsd">',
    )
    assert cap.parse(hint).identifier == "43b080713727"  # validated with ours, hint ignored


def test_not_xml_and_not_cap_are_refused() -> None:
    assert "well-formed" in refusal(b"<alert>").reason
    assert refusal(b"<alert/>").field == "/alert"
    with pytest.raises(InvalidInput):
        cap.parse("<alert/>")  # type: ignore[arg-type]
    assert not cap.is_valid(b"")


# --- hostile XML ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def compiled_schema() -> None:
    """Compile the schema once, so timings measure the refusal and not the first compile."""
    cap.parse(example(1))


def refused_quickly(xml: bytes) -> InvalidInput:
    started = time.perf_counter()
    error = refusal(xml)
    assert time.perf_counter() - started < FAST_S
    return error


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE alert [\n<!ENTITY lol "lol">\n'
    + b"".join(
        b'<!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b']>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;'
    b"</identifier></alert>"
)


def test_billion_laughs_is_refused_without_expanding() -> None:
    error = refused_quickly(BILLION_LAUGHS)
    assert "DTD" in error.reason
    assert "lol" not in str(error)


def test_an_external_entity_to_a_local_file_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do-not-leak-7f3a", encoding="utf-8")
    for target in (secret.as_uri(), "file:///etc/hostname"):
        xml = (
            f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "{target}">]>'
            '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier>'
            "</alert>"
        ).encode()
        error = refused_quickly(xml)
        assert "do-not-leak" not in str(error)
        assert "DTD" in error.reason


def test_an_external_dtd_and_a_parameter_entity_are_refused() -> None:
    assert (
        "DTD"
        in refused_quickly(
            b'<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd"><alert/>'
        ).reason
    )
    assert (
        "DTD"
        in refused_quickly(
            b'<!DOCTYPE alert [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]><alert/>'
        ).reason
    )


def test_ten_megabytes_of_nesting_is_refused_before_parsing() -> None:
    nested = b"<a>" * (5 * 1024 * 1024 // 3) + b"</a>" * (5 * 1024 * 1024 // 4)
    assert len(nested) >= 10 * 1024 * 1024 - 8
    error = refused_quickly(nested)
    assert "more than the 262144 accepted" in error.reason


def test_deep_nesting_within_the_size_limit_is_refused_as_it_is_read() -> None:
    nested = b"<a>" * 30000 + b"</a>" * 30000
    assert len(nested) < cap.MAX_ALERT_BYTES
    assert "nested deeper" in refused_quickly(nested).reason
    inside = example(1).replace(b"<info>", b"<info>" + b"<x>" * 40 + b"</x>" * 40, 1)
    assert "nested deeper" in refused_quickly(inside).reason


def test_an_oversized_body_is_refused_before_parsing() -> None:
    padded = (
        example(1)
        .replace(b"<note>", b"")
        .replace(
            b"<scope>Public</scope>",
            b"<scope>Public</scope><note>" + b"x" * cap.MAX_ALERT_BYTES + b"</note>",
        )
    )
    assert "accepted" in refused_quickly(padded).reason
    huge = replace(
        rainstorm(), infos=(replace(rainstorm().infos[0], description="雨" * cap.MAX_ALERT_BYTES),)
    )
    with pytest.raises(InvalidInput) as caught:
        cap.to_xml(huge)
    assert caught.value.field == "/alert"


# --- the rules the schema cannot express ---------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"2003-06-17T14:57:00-07:00", b"2003-06-17T21:57:00Z", "/alert/sent"),
        (b"2003-06-17T14:57:00-07:00", b"2003-06-17T14:57:00.25-07:00", "/alert/sent"),
        (b"2003-06-17T16:00:00-07:00", b"2003-06-17T23:00:00Z", "/alert/info[1]/expires"),
        (b"KSTO1055887203", b"KSTO 1055887203", "/alert/identifier"),
        (b"KSTO1055887203", b"KSTO,1055887203", "/alert/identifier"),
        (b"KSTO1055887203", b"KSTO&lt;1055887203", "/alert/identifier"),
        (b"KSTO1055887203", b"KSTO&amp;1055887203", "/alert/identifier"),
        (b"<sender>KSTO@NWS.NOAA.GOV", b"<sender>KSTO NWS", "/alert/sender"),
        (b"<msgType>Alert", b"<msgType>Update", "/alert/references"),
        (b"<msgType>Alert", b"<msgType>Cancel", "/alert/references"),
        (b"<scope>Public", b"<scope>Restricted", "/alert/restriction"),
        (b"<scope>Public", b"<scope>Private", "/alert/addresses"),
        (b" 38.47,-120.14</polygon>", b"</polygon>", "/alert/info[1]/area[1]/polygon[1]"),
        (
            b"38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14",
            b"38.47,-120.14 38.34,-119.95 38.47,-120.14",
            "/alert/info[1]/area[1]/polygon[1]",
        ),
        (b"38.47,-120.14 38.34", b"98.47,-120.14 38.34", "/alert/info[1]/area[1]/polygon[1]"),
        (b"38.47,-120.14 38.34", b"38.47;-120.14 38.34", "/alert/info[1]/area[1]/polygon[1]"),
        (
            b"</polygon>",
            b"</polygon><circle>38.4 -120 5</circle>",
            "/alert/info[1]/area[1]/circle[1]",
        ),
    ],
)
def test_the_specification_rules_refuse_what_the_schema_lets_through(
    old: bytes, new: bytes, field: str
) -> None:
    data = example(2)
    assert old in data
    error = refusal(data.replace(old, new, 1))
    assert error.field == field, str(error)


def test_an_update_with_references_is_accepted_and_bad_references_are_refused() -> None:
    data = example(3)
    assert cap.parse(data).msg_type is MsgType.UPDATE
    for bad in (b"trinet@caltech.edu,TRI13970876.1", b"a,b,2003-06-11T20:30:00Z", b",b,c"):
        error = refusal(
            data.replace(b"trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00", bad)
        )
        assert error.field == "/alert/references"


def test_a_ceiling_needs_an_altitude() -> None:
    data = example(2).replace(
        b"</geocode>\n        </area>", b"</geocode><ceiling>100</ceiling></area>"
    )
    assert refusal(data).field == "/alert/info[1]/area[1]/ceiling"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda a: replace(a, identifier="a b"), "/alert/identifier"),
        (lambda a: replace(a, identifier=""), "/alert/identifier"),
        (lambda a: replace(a, sender="x<y"), "/alert/sender"),
        (lambda a: replace(a, msg_type=MsgType.UPDATE), "/alert/references"),
        (lambda a: replace(a, scope=Scope.RESTRICTED), "/alert/restriction"),
        (lambda a: replace(a, sent=datetime(2026, 7, 1)), "/alert/sent"),
        (lambda a: replace(a, note="bell \x07"), "/alert/note"),
        (
            lambda a: replace(a, infos=(replace(a.infos[0], categories=()),)),
            "/alert/info[1]/category",
        ),
        (lambda a: replace(a, infos=(replace(a.infos[0], event=" "),)), "/alert/info[1]/event"),
        (
            lambda a: replace(a, infos=(replace(a.infos[0], language="Chinese (China)"),)),
            "/alert/info[1]/language",
        ),
        (
            lambda a: replace(
                a, infos=(replace(a.infos[0], areas=(Area("x", polygons=(SQUARE[:-1],)),)),)
            ),
            "/alert/info[1]/area[1]/polygon[1]",
        ),
        (
            lambda a: replace(
                a, infos=(replace(a.infos[0], areas=(Area("x", polygons=(SQUARE[:2],)),)),)
            ),
            "/alert/info[1]/area[1]/polygon[1]",
        ),
        (
            lambda a: replace(
                a, infos=(replace(a.infos[0], areas=(Area("x", circles=((30.0, 200.0, 1.0),)),)),)
            ),
            "/alert/info[1]/area[1]/circle[1]",
        ),
        (
            lambda a: replace(
                a, infos=(replace(a.infos[0], areas=(Area("x", ceiling=Decimal(3)),)),)
            ),
            "/alert/info[1]/area[1]/ceiling",
        ),
    ],
)
def test_the_writer_refuses_a_record_that_breaks_a_rule(
    change: Callable[[Alert], Alert], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        cap.to_xml(change(rainstorm()))
    assert caught.value.field == field, str(caught.value)


def test_a_restricted_or_private_alert_with_its_audience_is_written() -> None:
    restricted = replace(rainstorm(), scope=Scope.RESTRICTED, restriction="防汛责任人")
    private = replace(rainstorm(), scope=Scope.PRIVATE, addresses="330102001 330102002")
    for alert in (restricted, private):
        assert cap.parse(cap.to_xml(alert)) == alert


# --- property: whatever the record, the writer never hands out an invalid document ---------------


def mostly(
    good: st.SearchStrategy[T], odd: st.SearchStrategy[T], one_in: int = 8
) -> st.SearchStrategy[T]:
    """``odd`` once in ``one_in`` draws, else ``good`` (``one_of`` picks each half the time)."""
    return st.integers(1, one_in).flatmap(lambda n: odd if n == 1 else good)


PRINTABLE = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=12)
TEXT = mostly(PRINTABLE, st.text(max_size=12), 40)  # the odd one: controls, \r, non-characters
GOOD_ID = st.from_regex(r"[A-Za-z0-9_.@:-]{1,16}", fullmatch=True)
IDS = mostly(GOOD_ID, TEXT)  # mostly valid, so that the writer gets further
ZONES = st.sampled_from(
    [UTC, cap.BEIJING, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45))]
)
AWARE = st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=ZONES)
NAIVE = st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1))
TIMES = mostly(AWARE, NAIVE)
PAIRS = st.lists(st.tuples(TEXT, TEXT), max_size=2).map(tuple)
POINT = st.tuples(st.floats(-90, 90), st.floats(-180, 180))
RING = st.lists(POINT, min_size=3, max_size=5).map(lambda pts: (*pts, pts[0]))
ANY_POLYGON = st.lists(st.tuples(st.floats(), st.floats()), max_size=5).map(tuple)
DECIMALS = st.none() | st.decimals(-10_000, 10_000, places=2)


def optional(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | strategy


AREAS = st.builds(
    Area,
    description=TEXT,
    polygons=st.lists(st.one_of(RING, RING, ANY_POLYGON), max_size=2).map(tuple),
    circles=st.lists(
        st.tuples(st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 1000)), max_size=2
    ).map(tuple),
    geocodes=PAIRS,
    altitude=DECIMALS,
    ceiling=DECIMALS,
)
RESOURCES = st.builds(
    Resource,
    description=TEXT,
    mime_type=TEXT,
    size=st.none() | st.integers(-5, 10**12),
    uri=optional(TEXT),
    deref_uri=optional(TEXT),
    digest=optional(TEXT),
)
INFOS = st.builds(
    Info,
    categories=mostly(st.lists(st.sampled_from(Category), min_size=1, max_size=2), st.just([])).map(
        tuple
    ),
    event=st.one_of(st.just("暴雨"), TEXT),
    urgency=st.sampled_from(Urgency),
    severity=st.sampled_from(Severity),
    certainty=st.sampled_from(Certainty),
    language=st.one_of(st.none(), st.sampled_from(["zh-CN", "en-US", "es"]), TEXT),
    response_types=st.lists(st.sampled_from(ResponseType), max_size=2).map(tuple),
    audience=optional(TEXT),
    event_codes=PAIRS,
    effective=st.none() | TIMES,
    onset=st.none() | AWARE,
    expires=st.none() | AWARE,
    sender_name=optional(TEXT),
    headline=optional(TEXT),
    description=optional(TEXT),
    instruction=optional(TEXT),
    web=optional(TEXT),
    contact=optional(TEXT),
    parameters=PAIRS,
    resources=st.lists(RESOURCES, max_size=1).map(tuple),
    areas=st.lists(AREAS, max_size=2).map(tuple),
)
ALERTS = st.builds(
    Alert,
    identifier=IDS,
    sender=IDS,
    sent=TIMES,
    status=st.sampled_from(Status),
    msg_type=st.sampled_from([MsgType.ALERT] * 4 + list(MsgType)),
    scope=st.sampled_from([Scope.PUBLIC] * 4 + [Scope.RESTRICTED, Scope.PRIVATE]),
    source=optional(TEXT),
    restriction=optional(TEXT),
    addresses=optional(TEXT),
    codes=st.lists(TEXT, max_size=2).map(tuple),
    note=optional(TEXT),
    references=st.lists(st.builds(Reference, IDS, IDS, AWARE), max_size=2).map(tuple)
    | st.builds(Reference, GOOD_ID, GOOD_ID, AWARE).map(lambda r: (r,)),
    incidents=optional(TEXT),
    infos=st.lists(INFOS, max_size=2).map(tuple),
)


LIBXML2 = etree.XMLSchema(etree.parse(str(cap.XSD_PATH)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ALERTS)
def test_the_writer_returns_valid_cap_or_refuses_in_its_own_words(alert: Alert) -> None:
    libxml2 = LIBXML2
    try:
        xml = cap.to_xml(alert)
    except InvalidInput as refused:  # our pre-check, naming the element
        assert refused.field is not None and refused.field.startswith("/alert")
        return
    except DutydeskError as exc:  # CapWriteError: the writer produced invalid XML
        pytest.fail(f"the writer broke the schema: {exc}")
    assert_schema_valid(libxml2, xml)
    assert cap.parse(xml) == alert


def test_the_property_reaches_both_outcomes() -> None:
    """The strategy makes valid alerts and refused ones (else the property proves little)."""
    valid = rainstorm()
    assert cap.to_xml(valid)
    with pytest.raises(InvalidInput):
        cap.to_xml(replace(valid, identifier="a,b"))


def test_a_writer_bug_is_an_error_not_a_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cap, "_num", lambda value: "not-a-number")
    alert = replace(
        rainstorm(), infos=(replace(rainstorm().infos[0], areas=(Area("x", altitude=None),)),)
    )
    assert cap.to_xml(alert)  # no number written: fine
    monkeypatch.setattr(cap, "_decimal", lambda value: "high")
    bad = replace(alert, infos=(replace(alert.infos[0], areas=(Area("x", altitude=Decimal(1)),)),))
    with pytest.raises(cap.CapWriteError) as caught:
        cap.to_xml(bad)
    assert "does not validate" in str(caught.value)
    assert not isinstance(caught.value, InvalidInput)


# --- cost ----------------------------------------------------------------------------------------


def test_importing_cap_does_not_import_xmlschema() -> None:
    code = (
        "import sys, uplink.cap\n"
        "print(sorted(m for m in ('xmlschema', 'elementpath', 'defusedxml') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_an_xml_signature_is_let_through_and_not_kept() -> None:
    signed = example(1).replace(
        b"</info>",
        b'</info><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>',
    )
    assert cap.parse(signed) == cap.parse(example(1))


def test_validation_from_several_threads_agrees() -> None:
    from concurrent.futures import ThreadPoolExecutor

    documents = [p.read_bytes() for p in EXAMPLES] * 5
    with ThreadPoolExecutor(max_workers=4) as pool:
        parsed = list(pool.map(cap.parse, documents))
    assert parsed == [cap.parse(d) for d in documents]


@pytest.mark.parametrize("encoding", ["GB2312", "GBK", "GB18030", "UTF-16"])
def test_an_alert_declared_in_a_chinese_or_utf16_encoding_is_read(encoding: str) -> None:
    text = example(1).decode().replace("UTF-8", encoding)
    text = text.replace("Homeland Security Advisory System Update", "暴雨")
    alert = cap.parse(text.encode(encoding))
    assert alert.event == "暴雨"


def test_an_unknown_or_lying_encoding_is_refused() -> None:
    assert "declared encoding" in refusal(example(1).replace(b"UTF-8", b"no-such-codec")).reason
    lying = example(1).decode().replace("UTF-8", "GB2312").replace("Update", "暴雨")
    assert refusal(lying.encode("utf-8")).field == "/"


@pytest.mark.parametrize(
    ("filler", "count"),
    [(b"<a/>", 19_000), (b"<info><a/></info>", 9_000), (b"<code/>", 20_001)],
    ids=["foreign", "bad-info", "too-many"],
)
def test_thousands_of_elements_are_refused_quickly(filler: bytes, count: int) -> None:
    """Under the element limit the schema stops at its first complaint; over it, the parser."""
    crowded = example(1).replace(
        b"<scope>Public</scope>", b"<scope>Public</scope>" + filler * count
    )
    assert len(crowded) <= cap.MAX_ALERT_BYTES
    error = refused_quickly(crowded)
    if count > cap.MAX_ELEMENTS:
        assert error.reason == f"more than {cap.MAX_ELEMENTS} elements"
    else:
        assert error.reason.startswith("Unexpected child with tag")


def test_a_polygon_file_is_read_as_lat_lon_points() -> None:
    text = "30.2,120.1 30.2,120.2\n30.3,120.2  30.3,120.1\n30.2,120.1\n"
    assert cap.parse_polygon(text) == SQUARE
    with pytest.raises(InvalidInput) as caught:
        cap.parse_polygon("30.2,120.1 30.2,120.2 30.3,120.2 30.3,120.1", "--polygon")
    assert caught.value.field == "--polygon" and "closed" in caught.value.reason
    with pytest.raises(InvalidInput):
        cap.parse_polygon("120.1,30.2 120.2,30.2 120.2,30.3 120.1,30.2")  # lon,lat: out of range
    assert cap.parse_circle("32.9525,-115.5527 0") == (32.9525, -115.5527, 0.0)


MUTATIONS = st.tuples(
    st.sampled_from(range(4)),  # which example
    st.integers(0, 10_000),  # where
    st.integers(0, 40),  # how much to cut
    st.sampled_from(
        [
            b"",
            b"<",
            b">",
            b"&",
            b"x",
            b" ",
            b"\x00",
            b"</info>",
            b"<info>",
            b"<polygon>1,2</polygon>",
            b"<code>a</code>",
            b"-00:00",
            b"Z",
            b".5",
            "暴雨".encode(),
            b"\xff",
            b"<![CDATA[x]]>",
            b"<?pi x?>",
            b"<!-- c -->",
            b'xmlns="urn:x"',
        ]
    ),  # what to put there
)


@settings(max_examples=150, deadline=None)
@given(MUTATIONS)
def test_a_mangled_alert_is_read_or_refused_never_anything_else(
    mutation: tuple[int, int, int, bytes],
) -> None:
    n, at, cut, insert = mutation
    data = EXAMPLES[n].read_bytes()
    at %= len(data)
    mangled = data[:at] + insert + data[at + cut :]
    try:
        alert = cap.parse(mangled)
    except InvalidInput as refused:
        assert refused.field is not None and refused.field.startswith("/")
        return
    assert cap.parse(cap.to_xml(alert)) == alert  # whatever we accept, we can write back
