"""Warnings down the chain end to end: a county hub, townships, real processes, real answers.

A county (``dutydesk serve`` with ``[hub]``) registers four townships. T1 is pushed (its push
URL registered: the hub's engine pokes ``POST /v1/inbox/poke`` and T1 pulls at once; its own
poll is a minute, longer than the test waits), T2 polls every second, T3 is offline when the
warning is issued and T4 only comes up after a second warning meant for it alone has expired.
Each township runs ``dutydesk serve`` with its own SMS gateway (:class:`Gateway`), so the same
people (the small town of :mod:`tests.support.town`) are told apart by gateway.

The county issues a red 暴雨 warning with the real CLI (``dutydesk alert issue``): T1 and T2
start their 叫应 automatically (the leader on duty, the community secretary and the grid
leaders: four people each), the people answer through the signed link and the gateway's SMS
reply endpoint, and the county sees who received it how, the 叫应 started and the answers
(its read model; ``dutydesk hub alert ID --json`` at the end). T3 comes back and still starts
its 叫应; the cancel (``dutydesk alert cancel``) stops every 叫应; T4 records that its warning
had expired, and the county sees why it did not call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from jurisdiction.units import NewUnit, add_unit
from store.clock import SystemClock
from store.db import Database, connect
from tests.support.domain import OPERATOR
from tests.support.gateway import Gateway
from tests.support.inbound import post_reply, write_secret
from tests.support.serve import write_config
from tests.support.town import build_town, e164
from tests.support.uplink import Node, _toml_tables, hub_table, uplink_table, write_token
from tests.support.wait import wait_for
from uplink import alerts, downlink, hub
from uplink.hub import AlertView

pytestmark = pytest.mark.slow

COUNTY = "330106"
CALLED = ("A", "SEC", "L1", "L2")  # the duty officer, the secretary, the grid leaders
CALL_START = timedelta(minutes=15)


@dataclass
class Township:
    """A township's node, its gateway and the inbound secret its gateway signs with."""

    code: str
    node: Node
    gateway: Gateway
    secret: bytes
    token: str
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to(self, key: str) -> list[dict[str, Any]]:
        return [m for m in self.gateway.accepted if m.get("to") == e164(key)]

    def reply(self, key: str, text: str) -> httpx.Response:
        return post_reply(self.node.url, self.secret, {"from": e164(key), "text": text})

    def db(self) -> Database:
        return connect(self.node.db, migrate=False)

    def alert(self, identifier: str) -> alerts.AlertRecord | None:
        db = self.db()
        try:
            return alerts.find_alert(db, identifier)
        finally:
            db.close()

    def pulled(self) -> bool:
        db = self.db()
        try:
            return downlink.link_state(db)["pulled_at"] is not None
        finally:
            db.close()

    def call_is(self, identifier: str, state: str) -> bool:
        return self.call_state(identifier) == state

    def call_state(self, identifier: str) -> str | None:
        """The state of the township's 叫应 of ``identifier`` (None: none started)."""
        from uplink import callanswer

        db = self.db()
        try:
            record = alerts.find_alert(db, identifier)
            progress = callanswer.call_of(db, record.id) if record is not None else None
            return str(progress.state.value) if progress is not None else None
        finally:
            db.close()


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """The county hub, shared by the tests of this module (each registers townships of its
    own codes)."""
    node = Node(tmp_path_factory.mktemp("warnings"), "county")
    db = connect(node.db)
    add_unit(db, SystemClock(), OPERATOR, NewUnit(COUNTY + "000000", "城关县", "county"))
    db.close()
    node.configure(hub=hub_table())
    node.start()
    yield node
    node.stop()


def township(root: Path, county: Node, code: str, *, poll_seconds: int, push: bool) -> Township:
    """Register ``code`` at the county, build its town and write its configuration."""
    node = Node(root, f"t{code[-1]}")
    db = connect(county.db, migrate=False)
    try:
        _unit, token = hub.add_unit(db, SystemClock().now(), code, f"乡镇{code[-1]}")
        if push:
            downlink.set_push_url(db, code, node.url)
    finally:
        db.close()
    town = connect(node.db)
    build_town(town, SystemClock(), starts_on=date(2020, 1, 1))
    town.close()
    gateway = Gateway(dedupe=True).start()
    name, secret = write_secret(node.dir)
    write_config(node.dir, node.port, serve={"inbound_secret_file": name}, sms={"url": gateway.url})
    uplink = {
        **uplink_table(county.url, write_token(node.token_file, token), code),
        "poll_seconds": poll_seconds,
        "summary_seconds": 1,
    }
    with node.config.open("a", encoding="utf-8") as out:
        out.write("\n" + _toml_tables({"uplink": uplink}))
    return Township(code, node, gateway, secret, token)


def view(county: Node, identifier: str) -> AlertView:
    db = connect(county.db, migrate=False)
    try:
        return hub.alert_view(db, identifier, datetime.now(UTC), CALL_START)
    finally:
        db.close()


def unit_of(found: AlertView, code: str) -> hub.AlertUnit:
    return {u.unit: u for u in found.units}[code]


def issue(county: Node, *args: str) -> str:
    done = county.cli("alert", "issue", *args, "--json")
    answer = json.loads(done.stdout)
    identifier = answer.get("identifier") or answer["alert"]["identifier"]
    assert isinstance(identifier, str)
    return identifier


def test_a_red_warning_is_called_and_answered_in_every_township(
    tmp_path: Path, county: Node
) -> None:
    towns = {
        "T1": township(tmp_path, county, "330106001", poll_seconds=60, push=True),
        "T2": township(tmp_path, county, "330106002", poll_seconds=1, push=False),
        "T3": township(tmp_path, county, "330106003", poll_seconds=1, push=False),
    }
    t1, t2, t3 = towns["T1"], towns["T2"], towns["T3"]
    try:
        t1.node.start()
        t2.node.start()
        for town in (t1, t2):  # each has had its first (empty) pull: what comes next is news
            wait_for(town.pulled, 10, f"{town.code}'s first pull")
        expires = (datetime.now(UTC) + timedelta(hours=6)).isoformat(timespec="seconds")
        red = issue(
            county,
            "--event", "暴雨",
            "--severity", "red",
            "--urgency", "Immediate",
            "--certainty", "Likely",
            "--headline", "城关县气象台发布暴雨红色预警",
            "--instruction", "请立即到岗，组织危险区域人员转移",
            "--area", COUNTY,
            "--expires", expires,
        )  # fmt: skip
        # --- both running townships start their 叫应 at once, without an officer
        for town in (t1, t2):
            for key in CALLED:
                wait_for(partial(town.to, key), 30, f"{town.code}: the 叫应 SMS to {key}")
            assert not town.to("M1")  # grid members are not among the responsible
            assert "暴雨" in town.to("A")[0]["text"]
        # pushed: T1 took it on the hub's poke (its own poll is a minute away)
        assert t1.alert(red) is not None and t1.alert(red).via == "push"  # type: ignore[union-attr]
        assert t2.alert(red).via == "poll"  # type: ignore[union-attr]

        # --- answers: the signed link and the gateway's SMS replies
        for town, by_link, by_sms, sms in ((t1, "A", "SEC", "1"), (t2, "L1", "L2", "2")):
            link = town.to(by_link)[0]["ack_url"]
            assert httpx.post(link, data={"answer": "yes"}, timeout=10).status_code == 200
            code = town.to(by_sms)[0]["ack_code"]
            answered = town.reply(by_sms, f"{code} {sms}")
            assert answered.status_code == 200, answered.text

        # --- the county sees receipts, the 叫应 and the answers
        def figures() -> bool:
            found = view(county, red)
            one, two = unit_of(found, t1.code), unit_of(found, t2.code)
            return (
                (one.via, two.via) == ("push", "poll")
                and (one.total, one.yes, one.no) == (4, 2, 0)
                and (two.total, two.yes, two.no) == (4, 1, 1)
                and one.first_answer_at is not None
                and two.median_answer_s is not None
            )

        wait_for(figures, 30, "the county's figures of T1 and T2")
        found = view(county, red)
        assert found.colour == "red" and found.totals["received"] == 2
        assert unit_of(found, t1.code).call_state == "started"
        assert unit_of(found, t2.code).not_answered == 2
        assert unit_of(found, t3.code).received_at is None  # offline: not yet

        # --- T3 was offline: it takes the warning when it returns, and still calls
        t3.node.start()
        for key in CALLED:
            wait_for(partial(t3.to, key), 30, f"T3: the 叫应 SMS to {key}")
        wait_for(
            lambda: unit_of(view(county, red), t3.code).call_state == "started",
            30,
            "T3's receipt and 叫应 at the county",
        )

        # --- the county's own command shows the same figures
        shown = json.loads(county.cli("hub", "alert", red, "--json").stdout)
        rows = {row["unit"]: row for row in shown["units"]}
        assert rows[t1.code]["people"]["yes"] == 2 and rows[t2.code]["people"]["no"] == 1

        # --- a cancel stops every 叫应
        county.cli("alert", "cancel", red)
        for town in (t1, t2, t3):
            wait_for(
                partial(town.call_is, red, "cancelled"),
                30,
                f"{town.code}: its 叫应 stopped by the cancel",
            )
        wait_for(
            lambda: all(
                u.mobilization_state == "cancelled"
                for u in view(county, red).units
                if u.unit in (t1.code, t2.code, t3.code)
            ),
            30,
            "the county to see every 叫应 stopped",
        )
        assert view(county, red).cancelled_at is not None
    finally:
        for town in towns.values():
            town.node.stop()
            town.gateway.stop()


def test_a_township_back_after_the_warning_expired_records_why_it_did_not_call(
    tmp_path: Path, county: Node
) -> None:
    t4 = township(tmp_path, county, "330106004", poll_seconds=60, push=False)
    try:
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
        orange = issue(
            county,
            "--event", "暴雨",
            "--severity", "orange",
            "--urgency", "Immediate",
            "--certainty", "Likely",
            "--headline", "暴雨橙色预警",
            "--area", t4.code,
            "--expires", expires.isoformat(),
        )  # fmt: skip
        assert unit_of(view(county, orange), t4.code).sent_at is not None
        wait_for(lambda: datetime.now(UTC) > expires, 10, "the warning to expire")
        t4.node.start()  # its first pull is at once
        wait_for(
            lambda: unit_of(view(county, orange), t4.code).received_at is not None,
            30,
            "T4's receipt at the county",
        )
        row = unit_of(view(county, orange), t4.code)
        assert row.call_state == "skipped" and "expired" in (row.call_reason or "")
        record = t4.alert(orange)
        assert record is not None and record.call_reason == "expired"
        assert t4.call_state(orange) is None and not t4.gateway.accepted  # nobody was called
    finally:
        t4.node.stop()
        t4.gateway.stop()


def logged(town: Township) -> int:
    """The township's timeline entries, but the security summaries."""
    db = town.db()
    try:
        row = db.conn.execute(
            "SELECT count(*) FROM events WHERE kind != 'security_summary'"
        ).fetchone()
        return int(row[0])
    finally:
        db.close()


def test_the_inbox_and_the_poke_refuse_what_they_must(tmp_path: Path, county: Node) -> None:
    """The hub's inbox: the token's own unit only, the protocol header, a well-formed cursor.
    The unit's poke: signed with the hash of its token, fresh, once, small, for itself."""
    t5 = township(tmp_path, county, "330106005", poll_seconds=60, push=False)
    other = township(tmp_path, county, "330106006", poll_seconds=60, push=False)
    try:
        t5.node.start()
        inbox = f"{county.url}/v1/units/{t5.code}/inbox"
        headers = {"Authorization": f"Bearer {t5.token}", "Dutydesk-Protocol": "1"}
        page = httpx.get(inbox, headers=headers, timeout=10)
        assert page.status_code == 200 and page.json()["items"] == []
        for url, sent, status, where in (
            (inbox, {"Dutydesk-Protocol": "1"}, 401, "Authorization"),
            (inbox, {"Authorization": headers["Authorization"]}, 400, "Dutydesk-Protocol"),
            (f"{inbox}?after=-1", headers, 400, "after"),
            (f"{inbox}?limit=1000", headers, 400, "limit"),
            (f"{county.url}/v1/units/{other.code}/inbox", headers, 403, "code"),
        ):
            refused = httpx.get(url, headers=sent, timeout=10)
            assert refused.status_code == status and refused.json()["field"] == where, url

        poke = f"{t5.node.url}{downlink.POKE_PATH}"
        key = downlink.poke_key(t5.token)

        def signed(body: bytes, *, by: bytes = key, at: int | None = None) -> dict[str, str]:
            stamp = str(int(datetime.now(UTC).timestamp()) if at is None else at)
            return {
                "Content-Type": "application/json",
                downlink.TIMESTAMP_HEADER: stamp,
                downlink.SIGNATURE_HEADER: downlink.sign_poke(by, stamp, body),
            }

        before = logged(t5)
        body = json.dumps({"unit": t5.code, "nonce": "n1"}).encode()
        good = signed(body)
        assert httpx.post(poke, content=body, headers=good, timeout=10).status_code == 202
        again = httpx.post(poke, content=body, headers=good, timeout=10)  # a replay
        assert again.status_code == 401
        wrong_key = signed(body, by=downlink.poke_key(other.token))
        assert httpx.post(poke, content=body, headers=wrong_key, timeout=10).status_code == 401
        stale = signed(body, at=int(datetime.now(UTC).timestamp()) - 3600)
        assert httpx.post(poke, content=body, headers=stale, timeout=10).status_code == 401
        unsigned = {"Content-Type": "application/json"}
        assert httpx.post(poke, content=body, headers=unsigned, timeout=10).status_code == 401
        theirs = json.dumps({"unit": other.code, "nonce": "n2"}).encode()
        assert (
            httpx.post(poke, content=theirs, headers=signed(theirs), timeout=10).status_code == 403
        )
        big = json.dumps({"unit": t5.code, "nonce": "x" * 4000}).encode()
        assert httpx.post(poke, content=big, headers=signed(big), timeout=10).status_code == 413
        # a poke writes nothing (its refusals are counted in memory, summed once a minute)
        assert logged(t5) == before
    finally:
        t5.node.stop()
        for town in (t5, other):
            town.gateway.stop()
