"""Citizens write to the office by SMS: a real ``dutydesk serve``, a real SMS gateway.

The gateway forwards a citizen's text to ``POST /inbound/sms`` signed as it signs replies
(:mod:`tests.support.inbound`); the text becomes a reported case and the engine inside ``serve``
acknowledges it through the same gateway. The daily cap is set to one case so the second text
is kept as a note and nothing is sent back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from store.db import connect
from tests.support.gateway import Gateway
from tests.support.inbound import post_reply, write_secret
from tests.support.serve import free_port, write_config
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

CITIZEN = "+8613712345678"
NEIGHBOUR = "+8613698765432"


def rows(db_path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    db = connect(db_path, migrate=False)
    try:
        return [tuple(r) for r in db.conn.execute(sql, args).fetchall()]
    finally:
        db.close()


def snapshot(db_path: Path) -> tuple[int, int]:
    (counts,) = rows(
        db_path, "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM events)"
    )
    return int(counts[0]), int(counts[1])  # type: ignore[call-overload]


def sms_to(gateway: Gateway, phone: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in gateway.accepted if m.get("to") == phone]


def test_a_citizen_sms_becomes_a_case_and_is_acknowledged(
    town_db: Path,
    gateway: Gateway,
    serve_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    name, secret = write_secret(tmp_path)
    config = write_config(
        tmp_path, port, serve={"inbound_secret_file": name}, sms={"url": gateway.url}
    )
    with config.open("a", encoding="utf-8") as out:
        out.write("\n[inbound]\ngroup_minutes = 0\nmax_cases_per_day = 1\n")
    serve_factory(town_db, config, port).start()
    base = f"http://127.0.0.1:{port}"
    before = snapshot(town_db)

    # unsigned: refused, nothing changes
    text = "东湖村后山有落石，路被堵了"
    assert post_reply(base, None, {"from": CITIZEN, "text": text}).status_code == 401
    # a reply-shaped text without a code is still a (refused) reply, not a case
    refused = post_reply(base, secret, {"from": CITIZEN, "text": "1"})
    assert refused.status_code == 400 and refused.json()["error"] == "reply not accepted"
    assert snapshot(town_db) == before

    answer = post_reply(base, secret, {"from": CITIZEN, "text": text})
    assert answer.status_code == 200, answer.text
    reported = answer.json()["reported"]
    assert reported["outcome"] == "new" and reported["messages"] == 1
    number = reported["case"]
    ((title, source, phone, stage),) = rows(
        town_db,
        "SELECT title, source, reporter_phone, stage FROM incidents WHERE number = ?",
        number,
    )
    assert (title, source, phone, stage) == ("东湖村后山有落石", "sms", CITIZEN, "reported")

    ack = wait_for(lambda: sms_to(gateway, CITIZEN), what="the acknowledgement")[0]
    assert ack["text"].startswith(f"已收到，事件编号 {number}")
    assert ack["id"].startswith("sms-reply-")
    wait_for(
        lambda: rows(town_db, "SELECT 1 FROM events WHERE kind = 'sms_reply_sent'"),
        what="the reply recorded as sent",
    )

    # over the daily cap: a note on the case, no new case, nothing sent back
    again = post_reply(base, secret, {"from": CITIZEN, "text": "石头越来越多了"})
    assert again.status_code == 200
    assert again.json()["reported"] == {"outcome": "throttled", "case": number, "messages": 2}
    # another citizen's case is acknowledged; by then the first has still had one SMS only
    other = post_reply(base, secret, {"from": NEIGHBOUR, "text": "学校门口积水很深"})
    assert other.json()["reported"]["outcome"] == "new"
    wait_for(lambda: sms_to(gateway, NEIGHBOUR), what="the neighbour's acknowledgement")
    assert len(sms_to(gateway, CITIZEN)) == 1
    assert rows(town_db, "SELECT count(*) FROM incidents WHERE source = 'sms'") == [(2,)]
    notes = rows(
        town_db,
        "SELECT e.data FROM events e JOIN incidents i ON i.id = e.incident_id"
        " WHERE i.number = ? AND e.kind = 'sms_message'",
        number,
    )
    assert len(notes) == 1 and "137****5678" in str(notes[0][0])
    assert CITIZEN[3:] not in str(rows(town_db, "SELECT data FROM events"))
