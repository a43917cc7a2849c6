"""The downlink at the hub (:mod:`uplink.downlink`): who an area reaches, the queue, the inbox,
the push targets and the poke's signature; and the unit's pull (:class:`Puller`) against a
mock hub: each item taken once, with the cursor, through faults."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlite_utils import Database

from jurisdiction.units import NewUnit, add_unit
from store.clock import FixedClock, to_iso
from store.errors import InvalidInput
from tests.support.domain import OPERATOR
from uplink import downlink, hub
from uplink.downlink import Puller

XML = "<alert>not parsed by the queue</alert>"


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    ring = [
        [lon, lat],
        [lon + size, lat],
        [lon + size, lat + size],
        [lon, lat + size],
        [lon, lat],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def units(db: Database, clock: FixedClock) -> dict[str, str]:
    """Three townships registered at the hub (two of county 330102, one of 330103)."""
    tokens: dict[str, str] = {}
    for code, name in (
        ("330102001", "城关镇"),
        ("330102002", "东河乡"),
        ("330103001", "西山镇"),
    ):
        _unit, tokens[code] = hub.add_unit(db, clock.now(), code, name, operator=OPERATOR)
    return tokens


# --- which units an area reaches --------------------------------------------------------------


def test_division_codes_reach_the_units_at_or_under_them(
    db: Database, units: dict[str, str]
) -> None:
    assert downlink.units_in_area(db, ["330102"]) == ["330102001", "330102002"]
    assert downlink.units_in_area(db, ["330102000000"]) == ["330102001", "330102002"]
    assert downlink.units_in_area(db, ["330100"]) == sorted(units)
    # a village of a township reaches that township
    assert downlink.units_in_area(db, ["330102001005"]) == ["330102001"]
    assert downlink.units_in_area(db, ["330102002", "330103001"]) == ["330102002", "330103001"]
    assert downlink.units_in_area(db, ["330104"]) == []


def test_a_revoked_unit_is_reached_by_nothing(
    db: Database, clock: FixedClock, units: dict[str, str]
) -> None:
    hub.revoke_unit(db, clock.now(), "330102002", operator=OPERATOR)
    assert downlink.units_in_area(db, ["330102"]) == ["330102001"]


def test_polygons_reach_the_units_whose_boundary_they_meet(
    db: Database, clock: FixedClock, units: dict[str, str]
) -> None:
    # the hub's jurisdiction names its townships by their 12-digit codes
    add_unit(db, clock, OPERATOR, NewUnit("330102000000", "城关县", "county"))
    first = NewUnit(
        "330102001000", "城关镇", "township", "330102000000", boundary=square(120.00, 30.00)
    )
    add_unit(db, clock, OPERATOR, first)
    # 东河乡 has no boundary of its own: its grid's counts
    add_unit(db, clock, OPERATOR, NewUnit("330102002000", "东河乡", "township", "330102000000"))
    add_unit(db, clock, OPERATOR, NewUnit("330102002001", "东河村", "community", "330102002000"))
    grid = NewUnit("G-1", "一组", "grid", "330102002001", boundary=square(120.05, 30.0))
    add_unit(db, clock, OPERATOR, grid)
    # a CAP polygon: (lat, lon) pairs, closed
    over_first = [(30.001, 120.001), (30.001, 120.004), (30.004, 120.004), (30.001, 120.001)]
    over_grid = [(30.002, 120.052), (30.002, 120.055), (30.005, 120.055), (30.002, 120.052)]
    far = [(31.0, 121.0), (31.0, 121.01), (31.01, 121.01), (31.0, 121.0)]
    assert downlink.units_in_area(db, [], [over_first]) == ["330102001"]
    assert downlink.units_in_area(db, [], [over_grid]) == ["330102002"]
    assert downlink.units_in_area(db, [], [far]) == []
    assert downlink.units_in_area(db, ["330103001"], [over_first, over_grid]) == sorted(units)


def test_an_area_code_of_the_hubs_own_jurisdiction_reaches_the_unit_above_it(
    db: Database, clock: FixedClock
) -> None:
    hub.add_unit(db, clock.now(), "330102001", "城关镇", operator=OPERATOR)
    add_unit(db, clock, OPERATOR, NewUnit("330102001000", "城关镇", "township"))
    add_unit(db, clock, OPERATOR, NewUnit("330102001001", "东门社区", "community", "330102001000"))
    add_unit(db, clock, OPERATOR, NewUnit("G-7", "七号网格", "grid", "330102001001"))
    # a grid code says nothing by its digits: the jurisdiction places it
    assert downlink.units_in_area(db, ["G-7"]) == ["330102001"]
    assert downlink.units_in_area(db, ["G-8"]) == []


# --- the queue and the inbox ------------------------------------------------------------------


def test_an_alert_is_queued_once_per_unit_and_read_in_order(
    db: Database, clock: FixedClock, units: dict[str, str]
) -> None:
    now = clock.now()
    assert downlink.send_alert(db, now, "A1", XML, ["330102001", "330102002"]) == 2
    assert downlink.send_alert(db, now, "A1", XML, ["330102001"]) == 0  # idempotent
    downlink.send_directive(db, now, {"id": "D1", "title": "t"}, ["330102001"])
    items, following = downlink.inbox(db, "330102001")
    assert [(i.kind, i.ref) for i in items] == [("alert", "A1"), ("directive", "D1")]
    assert following == items[-1].id
    assert items[0].to_json()["alert"] == XML
    assert items[1].to_json()["directive"] == {"id": "D1", "title": "t"}
    later, same = downlink.inbox(db, "330102001", following)
    assert later == [] and same == following
    first, cursor = downlink.inbox(db, "330102001", 0, 1)
    assert [i.ref for i in first] == ["A1"]
    assert downlink.inbox_json("330102001", first, cursor, 1)["more"] is True
    # the hub's receipts table knows when it was sent
    assert set(downlink.sent_at(db, "alert", "A1")) == {"330102001", "330102002"}
    assert hub.alert_view(db, "A1", now, timedelta(minutes=15)).totals["units"] == 2


def test_a_directive_for_an_unknown_unit_is_refused(
    db: Database, clock: FixedClock, units: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        downlink.send_directive(db, clock.now(), {"id": "D1"}, ["999"])
    assert refused.value.field == "unit"
    with pytest.raises(InvalidInput) as no_id:
        downlink.send_directive(db, clock.now(), {"title": "x"}, ["330102001"])
    assert no_id.value.field == "id"


def test_issue_directive_keeps_the_hubs_copy_and_queues_it(
    db: Database, clock: FixedClock, units: dict[str, str]
) -> None:
    ident, sent_to = downlink.issue_directive(
        db,
        clock.now(),
        OPERATOR,
        sender="330102",
        sender_name="城关县应急办",
        title="关于做好强降雨防范的通知",
        text="请各乡镇立即开展隐患排查。",
        attachments=[{"name": "方案.pdf", "url": "https://example.org/a.pdf"}],
        reply_by=clock.now() + timedelta(hours=2),
        action="case",
        units=["330102001", "330102002"],
    )
    assert ident.startswith("330102-") and ident.endswith("-1")
    assert sent_to == ["330102001", "330102002"]
    items, _next = downlink.inbox(db, "330102002")
    payload = items[0].to_json()["directive"]
    assert payload["id"] == ident and payload["action"] == "case"
    assert payload["attachments"] == [{"name": "方案.pdf", "url": "https://example.org/a.pdf"}]
    view = hub.directive_view(db, ident, clock.now())
    assert [u.unit for u in view.units] == sent_to
    assert view.to_json()["totals"] == {"units": 2, "received": 0, "replied": 0, "overdue": 0}
    later = clock.now() + timedelta(hours=3)
    assert hub.directive_view(db, ident, later).to_json()["totals"]["overdue"] == 2
    second, _units = downlink.issue_directive(
        db, clock.now(), OPERATOR, sender="330102", title="t", text="x", units=["330102001"]
    )
    assert second.endswith("-2")
    for bad, field in (
        ({"title": ""}, "title"),
        ({"action": "party"}, "action"),
        ({"units": []}, "unit"),
        ({"reply_by": clock.now() - timedelta(minutes=1)}, "reply_by"),
        ({"attachments": [{"name": "x", "url": "file:///etc/passwd"}]}, "attachments[0].url"),
    ):
        args: dict[str, Any] = {"title": "t", "text": "x", "units": ["330102001"], **bad}
        with pytest.raises(InvalidInput) as refused:
            downlink.issue_directive(db, clock.now(), OPERATOR, sender="330102", **args)
        assert refused.value.field == field


def test_limit_and_cursor_are_checked() -> None:
    assert downlink.check_limit(None) == 50
    assert downlink.check_limit("200") == 200
    assert downlink.check_cursor(None) == 0 and downlink.check_cursor("17") == 17
    for bad in ("0", "201", "x", "-1", "9" * 7):
        with pytest.raises(InvalidInput):
            downlink.check_limit(bad)
    for bad in ("-1", "1.5", "9" * 17, "abc"):
        with pytest.raises(InvalidInput):
            downlink.check_cursor(bad)


# --- the push ---------------------------------------------------------------------------------


def test_push_targets_are_the_units_with_a_url_and_something_new(
    db: Database, clock: FixedClock, units: dict[str, str]
) -> None:
    downlink.set_push_url(db, "330102001", "http://127.0.0.1:9/")
    downlink.send_alert(db, clock.now(), "A1", XML, ["330102001", "330102002"])
    targets = downlink.push_targets(db)
    assert [t.unit for t in targets] == ["330102001"]  # 330102002 polls
    assert targets[0].url == "http://127.0.0.1:9"
    assert targets[0].key == downlink.poke_key(units["330102001"])
    downlink.poked(db, clock.now(), targets[0])
    assert downlink.push_targets(db) == []
    downlink.send_alert(db, clock.now(), "A2", XML, ["330102001"])
    assert [t.newest for t in downlink.push_targets(db)] == [targets[0].newest + 2]
    with pytest.raises(InvalidInput) as refused:
        downlink.set_push_url(db, "330102001", "ftp://x")
    assert refused.value.field == "push_url"


def test_a_poke_is_signed_with_the_hash_of_the_units_token(
    db: Database, clock: FixedClock, units: dict[str, str]
) -> None:
    downlink.set_push_url(db, "330102001", "http://127.0.0.1:9")
    downlink.send_alert(db, clock.now(), "A1", XML, ["330102001"])
    (target,) = downlink.push_targets(db)
    url, body, headers = downlink.poke_request(target, 1_765_000_000)
    assert url == "http://127.0.0.1:9/v1/inbox/poke"
    assert json.loads(body)["unit"] == "330102001"
    stamp = headers[downlink.TIMESTAMP_HEADER]
    signature = headers[downlink.SIGNATURE_HEADER]
    # the unit computes the key from its token; the hub had only the token's hash
    key = downlink.poke_key(units["330102001"])
    assert downlink.poke_signed(key, stamp, signature, body)
    assert not downlink.poke_signed(key, str(int(stamp) + 1), signature, body)
    assert not downlink.poke_signed(key, stamp, signature, body + b" ")
    assert not downlink.poke_signed(downlink.poke_key(units["330102002"]), stamp, signature, body)
    _u, again = downlink.poke_request(target, 1_765_000_000)[1:], None
    assert again is None and downlink.poke_request(target, 1_765_000_000)[1] != body  # nonce


# --- the unit's pull ----------------------------------------------------------------------------


class MockHub:
    """The hub's inbox over ``hub_db`` as an httpx mock transport; ``down`` fails requests."""

    def __init__(self, hub_db: Database, unit: str) -> None:
        self.hub_db, self.unit = hub_db, unit
        self.down = False
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        after = downlink.check_cursor(request.url.params.get("after"))
        limit = downlink.check_limit(request.url.params.get("limit"))
        items, following = downlink.inbox(self.hub_db, self.unit, after, limit)
        return httpx.Response(
            200, json={"version": 1, **downlink.inbox_json(self.unit, items, following, limit)}
        )


async def test_the_pull_takes_each_item_once_with_the_cursor_through_an_outage(
    db: Database, clock: FixedClock, units: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from store.db import connect

    unit_db = connect()
    taken: list[tuple[str, str, str]] = []

    def take(db_: Any, clock_: Any, item: dict[str, Any], via: str, **_kw: Any) -> None:
        if item["ref"] == "BAD":
            raise InvalidInput("not CAP", "alert")
        taken.append((item["kind"], item["ref"], via))

    monkeypatch.setattr(downlink, "take_item", take)
    mock = MockHub(db, "330102001")
    client = httpx.AsyncClient(transport=httpx.MockTransport(mock))
    puller = Puller("http://hub", units["330102001"], "330102001", clock, client=client)
    try:
        for i in range(120):  # more than a page
            downlink.send_alert(db, clock.now(), f"A{i}", XML, ["330102001"])
        downlink.send_alert(db, clock.now(), "BAD", XML, ["330102001"])
        report = await puller.pull(unit_db, via="push")
        assert (report.received, report.refused, report.error) == (120, 1, None)
        assert [ref for _k, ref, _v in taken] == [f"A{i}" for i in range(120)]
        assert {v for _k, _r, v in taken} == {"push"}
        refused = unit_db.conn.execute(
            "SELECT data FROM events WHERE kind = 'downlink_refused'"
        ).fetchall()
        assert len(refused) == 1 and json.loads(refused[0][0])["ref"] == "BAD"
        state = downlink.link_state(unit_db)
        assert state["after"] == downlink.inbox(db, "330102001", 0, 200)[1] == 121
        assert state["poked_at"] == to_iso(clock.now())
        # nothing new: nothing taken again
        again = await puller.pull(unit_db)
        assert again.received == 0 and len(taken) == 120
        # the hub unreachable: counted, said, nothing lost
        downlink.send_directive(db, clock.now(), {"id": "D1"}, ["330102001"])
        mock.down = True
        failed = await puller.pull(unit_db)
        assert failed.error is not None and "connect" in failed.error
        assert downlink.link_state(unit_db)["failures"] == 1
        mock.down = False
        back = await puller.pull(unit_db)
        assert back.received == 1 and taken[-1] == ("directive", "D1", "poll")
        assert downlink.link_state(unit_db)["failures"] == 0
    finally:
        await client.aclose()
        unit_db.close()


async def test_a_throttled_pull_says_the_hub_s_retry_after(clock: FixedClock) -> None:
    """The engine holds every request to the hub for the seconds of a 429's Retry-After."""
    from store.db import connect

    def throttled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, json={"error": "too many requests"}, headers={"Retry-After": "7"}
        )

    unit_db = connect()
    client = httpx.AsyncClient(transport=httpx.MockTransport(throttled))
    puller = Puller("http://hub", "t" * 20, "330102001", clock, client=client)
    try:
        report = await puller.pull(unit_db)
        assert report.retry_after == 7 and report.received == 0
        assert report.error is not None and "429" in report.error
        assert downlink.link_state(unit_db)["failures"] == 1
    finally:
        await client.aclose()
        unit_db.close()


async def test_an_item_whose_taking_fails_is_taken_again_next_time(
    db: Database, clock: FixedClock, units: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database fault while taking an item: the cursor stays, the next pull takes it."""
    from store.db import connect
    from store.errors import DatabaseBusy

    unit_db = connect()
    calls: list[str] = []

    def take(db_: Any, clock_: Any, item: dict[str, Any], via: str, **_kw: Any) -> None:
        calls.append(item["ref"])
        if len(calls) == 2:
            raise DatabaseBusy("locked")

    monkeypatch.setattr(downlink, "take_item", take)
    client = httpx.AsyncClient(transport=httpx.MockTransport(MockHub(db, "330102001")))
    puller = Puller("http://hub", units["330102001"], "330102001", clock, client=client)
    try:
        for ref in ("A1", "A2", "A3"):
            downlink.send_alert(db, clock.now(), ref, XML, ["330102001"])
        with pytest.raises(DatabaseBusy):
            await puller.pull(unit_db)
        assert downlink.cursor(unit_db) == downlink.inbox(db, "330102001", 0, 1)[1]
        report = await puller.pull(unit_db)
        assert report.received == 2 and calls == ["A1", "A2", "A2", "A3"]
    finally:
        await client.aclose()
        unit_db.close()
