"""Warnings at a unit: issued here as valid CAP, updated and cancelled by reference, received
from above once, refused whole when the XML is bad."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from store.clock import FixedClock
from store.errors import InvalidInput, InvalidTransition, NotFound
from tests.support.domain import OPERATOR, START
from uplink import alerts, cap
from uplink.alerts import AlertSpec, AlertState, Origin

CODE = "330106"
EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "cap"


def spec(clock: FixedClock, **changes: object) -> AlertSpec:
    base = AlertSpec(
        event="暴雨",
        severity="橙色",
        urgency="Expected",
        certainty="Likely",
        headline="西湖区气象台发布暴雨橙色预警",
        description="预计未来 6 小时内降雨量将达 50 毫米以上。",
        instruction="请做好防御暴雨准备，转移低洼地带人员。",
        area_desc="西湖区",
        area_codes=("330106001", "330106002"),
        expires=clock.now() + timedelta(hours=6),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def entries(db: Database, kind: str) -> list[dict[str, object]]:
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(data) for (data,) in rows]


def count(db: Database, table: str) -> int:
    return int(db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_an_issued_warning_is_valid_cap_stored_with_its_fields(
    db: Database, clock: FixedClock
) -> None:
    record = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code=CODE)
    assert record.identifier == f"{CODE}_20261126100000_1"  # Beijing time, seq 1
    parsed = cap.parse(record.xml)  # the stored XML validates against the schema
    assert parsed.identifier == record.identifier
    assert parsed.msg_type is cap.MsgType.ALERT
    assert parsed.status is cap.Status.ACTUAL
    assert b"2026-11-26T10:00:00+08:00" in record.xml
    assert record.colour is cap.Colour.ORANGE
    assert record.severity is cap.Severity.SEVERE
    assert record.area_codes == ("330106001", "330106002")
    assert record.origin is Origin.ISSUED and record.via is None
    assert record.thread == record.identifier
    assert record.state(clock.now()) is AlertState.ACTIVE
    assert alerts.get_alert(db, record.identifier) == alerts.get_alert(db, record.id)
    [entry] = entries(db, "alert_issued")
    assert entry["identifier"] == record.identifier
    assert entry["colour"] == "orange"
    assert record.to_json(clock.now())["state"] == "active"


def test_a_drill_warning_has_status_exercise_and_sequences_count_up(
    db: Database, clock: FixedClock
) -> None:
    first = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code=CODE)
    drill = alerts.issue(db, clock, OPERATOR, spec(clock, exercise=True), sender_code=CODE)
    assert drill.identifier.endswith("_2") and drill.identifier != first.identifier
    assert drill.status is cap.Status.EXERCISE and drill.exercise
    assert cap.parse(drill.xml).status is cap.Status.EXERCISE


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"area_codes": ()}, "area"),
        ({"headline": ""}, "headline"),
        ({"event": "暴\x1b[2J雨"}, "event"),
        ({"severity": "紫色"}, "severity"),
        ({"urgency": "Soon"}, "urgency"),
        ({"expires": START}, "expires"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field_and_nothing_is_stored(
    db: Database, clock: FixedClock, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        alerts.issue(db, clock, OPERATOR, spec(clock, **changes), sender_code=CODE)
    assert caught.value.field == field
    assert count(db, "alerts") == 0
    assert entries(db, "alert_issued") == []


def test_an_update_references_the_original_and_supersedes_it(
    db: Database, clock: FixedClock
) -> None:
    original = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code=CODE)
    clock.advance(minutes=30)
    red = replace(alerts.spec_of(original), severity=cap.Severity.EXTREME, headline="升级为红色")
    update = alerts.update(db, clock, OPERATOR, original.identifier, red, sender_code=CODE)
    assert update.msg_type is cap.MsgType.UPDATE
    assert update.references == (original.identifier,)
    assert cap.parse(update.xml).references[0].text == cap.reference(original.alert).text
    assert update.thread == original.thread
    assert update.colour is cap.Colour.RED
    assert alerts.get_alert(db, original.id).superseded_by == update.identifier
    assert alerts.get_alert(db, original.id).state(clock.now()) is AlertState.SUPERSEDED
    assert [a.identifier for a in alerts.active_alerts(db, clock.now())] == [update.identifier]
    assert entries(db, "alert_updated")[0]["references"] == [original.identifier]


def test_a_cancel_references_the_chain_and_closes_the_thread(
    db: Database, clock: FixedClock
) -> None:
    original = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code=CODE)
    update = alerts.update(db, clock, OPERATOR, original.id, spec(clock), sender_code=CODE)
    clock.advance(minutes=10)
    cancel = alerts.cancel(db, clock, OPERATOR, original.identifier, sender_code=CODE, note="解除")
    assert cancel.msg_type is cap.MsgType.CANCEL
    assert cancel.references == (original.identifier, update.identifier)
    assert cap.parse(cancel.xml).note == "解除"
    assert cancel.event == "暴雨"  # lists still say what was cancelled
    states = [a.state(clock.now()) for a in alerts.thread_of(db, original.thread)]
    assert states == [AlertState.CANCELLED] * 3
    assert alerts.active_alerts(db, clock.now()) == []
    with pytest.raises(InvalidTransition):
        alerts.update(db, clock, OPERATOR, original.identifier, spec(clock), sender_code=CODE)
    with pytest.raises(InvalidTransition):
        alerts.cancel(db, clock, OPERATOR, update.identifier, sender_code=CODE)
    assert len(entries(db, "alert_cancelled")) == 1


def test_received_messages_are_stored_once_and_a_receipt_is_written(
    db: Database, clock: FixedClock
) -> None:
    issued = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code="330100")
    xml = issued.xml
    db.conn.execute("DELETE FROM alerts")  # this unit holds nothing: the county issued it
    got = alerts.receive(db, clock, xml, via="push")
    assert got.new
    assert got.record.origin is Origin.RECEIVED and got.record.via == "push"
    assert got.record.xml == xml  # kept exactly as validated
    assert got.record.received_at == clock.now()
    clock.advance(minutes=1)
    again = alerts.receive(db, clock, xml.decode("utf-8"), via="poll")  # as the inbox's JSON
    assert not again.new
    assert again.record == got.record
    assert count(db, "alerts") == 1
    [receipt] = entries(db, "alert_received")
    assert receipt["identifier"] == issued.identifier
    assert receipt["via"] == "push"


def test_a_received_update_and_cancel_close_what_they_reference_even_out_of_order(
    db: Database, clock: FixedClock
) -> None:
    county = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code="330100")
    update = alerts.update(db, clock, OPERATOR, county.id, spec(clock), sender_code="330100")
    cancel = alerts.cancel(db, clock, OPERATOR, county.id, sender_code="330100")
    messages = [county.xml, update.xml, cancel.xml]
    db.conn.execute("DELETE FROM alerts")
    # The update arrives first, then the original (a pull after a push), then the cancel.
    alerts.receive(db, clock, messages[1], via="push")
    late = alerts.receive(db, clock, messages[0], via="poll").record
    assert late.superseded_by == update.identifier
    assert {a.thread for a in alerts.list_alerts(db)} == {county.identifier}
    assert [a.identifier for a in alerts.active_alerts(db, clock.now())] == [update.identifier]
    alerts.receive(db, clock, messages[2], via="push")
    assert alerts.active_alerts(db, clock.now()) == []
    assert all(a.cancelled_at is not None for a in alerts.list_alerts(db))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"""


@pytest.mark.parametrize(
    "xml",
    [
        b"<alert",
        b"not xml at all",
        BILLION_LAUGHS,
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>',
        b"<a>" * 50 + b"</a>" * 50,
        b" " * (cap.MAX_ALERT_BYTES + 1),
    ],
    ids=["truncated", "text", "entities", "schema", "nesting", "oversized"],
)
def test_bad_xml_is_refused_and_nothing_is_stored(
    db: Database, clock: FixedClock, xml: bytes
) -> None:
    with pytest.raises(InvalidInput):
        alerts.receive(db, clock, xml, via="push")
    assert count(db, "alerts") == 0
    assert entries(db, "alert_received") == []


def test_an_ack_is_not_taken_and_via_is_checked(db: Database, clock: FixedClock) -> None:
    issued = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code="330100")
    ack = cap.follow_up(
        issued.alert, msg_type=cap.MsgType.ACK, identifier="330106_ack_1", sent=clock.now()
    )
    with pytest.raises(InvalidInput) as caught:
        alerts.receive(db, clock, cap.to_xml(ack), via="push")
    assert caught.value.field == "/alert/msgType"
    with pytest.raises(InvalidInput) as caught:
        alerts.receive(db, clock, issued.xml, via="carrier pigeon")
    assert caught.value.field == "via"
    assert count(db, "alerts") == 1


def test_the_spec_examples_can_be_imported_from_files(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    for path in sorted(EXAMPLES.glob("cap12_appendixA*.xml")):
        got = alerts.import_file(db, clock, path)
        assert got.new and got.record.via == "import"
        assert got.record.xml == path.read_bytes()
    assert count(db, "alerts") == 4
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * (cap.MAX_ALERT_BYTES + 1))
    with pytest.raises(InvalidInput) as caught:
        alerts.import_file(db, clock, big)
    assert caught.value.field == str(big)
    with pytest.raises(InvalidInput) as caught:
        alerts.import_file(db, clock, tmp_path / "missing.xml")
    assert caught.value.field == str(tmp_path / "missing.xml")
    assert count(db, "alerts") == 4


def test_lists_order_and_activity(db: Database, clock: FixedClock) -> None:
    blue = alerts.issue(
        db,
        clock,
        OPERATOR,
        spec(clock, severity="蓝色", expires=clock.now() + timedelta(hours=1)),
        sender_code=CODE,
    )
    clock.advance(minutes=1)
    red = alerts.issue(db, clock, OPERATOR, spec(clock, severity="红色"), sender_code=CODE)
    assert [a.id for a in alerts.list_alerts(db)] == [red.id, blue.id]
    assert [a.id for a in alerts.active_alerts(db, clock.now())] == [red.id, blue.id]
    later = clock.now() + timedelta(hours=2)
    assert blue.state(later) is AlertState.EXPIRED
    assert [a.id for a in alerts.list_alerts(db, active_only=True, now=later)] == [red.id]
    assert alerts.list_alerts(db, origin=Origin.RECEIVED) == []
    with pytest.raises(InvalidInput):
        alerts.list_alerts(db, active_only=True)
    with pytest.raises(NotFound):
        alerts.get_alert(db, "nope")
    with pytest.raises(NotFound):
        alerts.get_alert(db, 999)


def test_a_received_warning_cannot_be_changed_here_and_keeps_the_call_decision(
    db: Database, clock: FixedClock
) -> None:
    county = alerts.issue(db, clock, OPERATOR, spec(clock), sender_code="330100")
    db.conn.execute("DELETE FROM alerts")
    got = alerts.receive(db, clock, county.xml, via="poll").record
    with pytest.raises(InvalidTransition):
        alerts.cancel(db, clock, OPERATOR, got.identifier, sender_code=CODE)
    alerts.set_call(db, got.id, "skipped", "below_level", clock.now())
    record = alerts.get_alert(db, got.id)
    assert (record.call_state, record.call_reason) == ("skipped", "below_level")
    assert record.call_at == clock.now()
    with pytest.raises(InvalidInput):
        alerts.set_call(db, got.id, "maybe", None, clock.now())
