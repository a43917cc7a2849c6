"""Mobilizations end to end: ``dutydesk serve`` in a process, a real SMS gateway, real answers.

Each test starts its own gateway (and SMTP server where needed) on 127.0.0.1 and its own
``dutydesk serve``; mobilizations are started from the test process through the same database
file, as the CLI in another terminal would, and answered over HTTP: links as a phone's browser
would, SMS replies signed as the gateway signs them (:mod:`tests.support.inbound`). The attacks
on these doors are in ``test_http_security.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from contacts.people import set_channels
from mobilization import (
    Target,
    build_default_tree,
    make_token,
    recipient_rows,
    start_mobilization,
    summary,
)
from store.clock import SystemClock
from store.db import connect
from store.keys import KeyRing, key_path_for, read_keys
from tests.support.domain import OPERATOR
from tests.support.gateway import Gateway
from tests.support.inbound import post_reply, write_secret
from tests.support.serve import free_port
from tests.support.serve import write_config as write_serve_config
from tests.support.smtp import SmtpServer
from tests.support.town import big_grid_db, e164
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow


SECRETS: dict[Path, bytes] = {}


def write_config(tmp_path: Path, port: int, **channels: dict) -> Path:  # type: ignore[type-arg]
    """The configuration of ``serve`` with an inbound secret (kept in SECRETS by directory)."""
    name, SECRETS[tmp_path] = write_secret(tmp_path)
    return write_serve_config(tmp_path, port, serve={"inbound_secret_file": name}, **channels)


def reply(port: int, tmp_path: Path, sender: str, text: str) -> httpx.Response:
    """An SMS reply as the gateway forwards it: signed with the secret of ``tmp_path``."""
    payload = {"from": sender, "text": text}
    return post_reply(f"http://127.0.0.1:{port}", SECRETS[tmp_path], payload)


def ring_of(db_path: Path) -> KeyRing:
    """The key ring ``serve`` made beside the database (the default key file)."""
    return read_keys(key_path_for(db_path))


def mobilize(db_path: Path, *targets: str, **kw: object) -> int:
    db = connect(db_path)
    try:
        return start_mobilization(
            db,
            SystemClock(),
            OPERATOR,
            targets=[Target.parse(t) for t in targets],
            message=kw.pop("message", "河道水位上涨，请到岗"),  # type: ignore[arg-type]
            interval_s=kw.pop("interval_s", 0),  # type: ignore[arg-type]  # as in write_config
            **kw,  # type: ignore[arg-type]
        )
    finally:
        db.close()


def states(db_path: Path, mob: int) -> dict[str, str]:
    db = connect(db_path)
    try:
        return {r["key"]: r["state"] for r in recipient_rows(db, mob)}
    finally:
        db.close()


def to(gateway: Gateway, key: str) -> list[dict]:
    return [m for m in gateway.accepted if m.get("to") == e164(key)]


def test_cascade_answered_by_link_and_by_sms(town_db, gateway, serve_factory, tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sms={"url": gateway.url})
    serve_factory(town_db, config, port).start()
    mob = mobilize(town_db, "grid:G01")
    first = wait_for(lambda: to(gateway, "L1"), what="the grid leader's SMS")[0]
    assert gateway.keys[0] == first["id"]  # Idempotency-Key = the attempt id
    assert first["ack_code"] in first["text"] and first["ack_url"] in first["text"]
    assert first["ack_url"].startswith(f"http://127.0.0.1:{port}/ack/")
    assert not to(gateway, "M1")  # cascade: members wait for their leader

    page = httpx.get(first["ack_url"], headers={"accept-language": "zh-CN"})
    assert page.status_code == 200 and "能否到岗" in page.text and "L1" in page.text
    english = httpx.get(first["ack_url"], headers={"accept-language": "en-US"})
    assert "Can you come?" in english.text
    answer = httpx.post(first["ack_url"], data={"answer": "yes", "eta": "15"})
    assert answer.status_code == 200 and "已记录" in answer.text
    members = wait_for(
        lambda: len({m["to"] for m in gateway.accepted}) >= 4 and gateway.accepted,
        what="the members' SMS after the leader's yes",
    )
    assert {m["to"] for m in members} == {e164(k) for k in ("L1", "M1", "M2", "V1")}

    code = to(gateway, "M1")[0]["ack_code"]
    answered = reply(port, tmp_path, e164("M1"), f"{code} 收到")
    assert answered.status_code == 200 and answered.json()["answer"] == "yes"
    wrong = reply(port, tmp_path, e164("M2"), f"{code} 2")  # M1's code from M2's phone
    assert wrong.status_code == 400 and wrong.json() == {"ok": False, "error": "reply not accepted"}
    expected = {"L1": "yes", "M1": "yes", "M2": "sent", "V1": "sent"}
    wait_for(lambda: states(town_db, mob) == expected, what=f"states {expected}")


def test_forged_expired_and_malformed_requests_change_nothing(
    town_db, gateway, serve_factory, tmp_path
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sms={"url": gateway.url})
    serve_factory(town_db, config, port).start()
    mob = mobilize(town_db, "grid:G01")
    first = wait_for(lambda: to(gateway, "L1"), what="the grid leader's SMS")[0]
    base = f"http://127.0.0.1:{port}"
    token = first["ack_url"].rsplit("/", 1)[1]
    db = connect(town_db)
    rid = recipient_rows(db, mob)[0]["id"]
    events_before = db.conn.execute("SELECT max(id) FROM events").fetchone()[0]
    db.close()
    ring = ring_of(town_db)
    expired = make_token(ring.current, rid, SystemClock().now() - timedelta(seconds=1))
    forged = make_token(KeyRing.ephemeral().current, rid, SystemClock().now() + timedelta(hours=1))
    for bad in (forged, expired, token[:-3] + "xyz", "garbage"):
        assert httpx.get(f"{base}/ack/{bad}").status_code == 403
        assert httpx.post(f"{base}/ack/{bad}", json={"answer": "yes"}).status_code == 403
    assert httpx.post(f"{base}/ack/{token}", json={"answer": "perhaps"}).status_code == 400
    assert (
        httpx.post(
            f"{base}/ack/{token}",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ).status_code
        == 400
    )
    assert (
        httpx.post(f"{base}/ack/{token}", data={"answer": "yes", "eta": "soon"}).status_code == 400
    )
    assert httpx.post(f"{base}/ack/{token}", content=b"x" * 5000).status_code == 413
    secret = SECRETS[tmp_path]
    assert post_reply(base, secret, b"[1, 2]").status_code == 400
    assert post_reply(base, secret, {"from": "", "text": "1"}).status_code == 400
    # a reply without its code (a text that is no reply at all is a citizen's report now)
    assert post_reply(base, secret, {"from": e164("L1"), "text": "收到"}).status_code == 400
    assert post_reply(base, None, {"from": e164("L1"), "text": "1"}).status_code == 401
    assert states(town_db, mob) == {"L1": "sent"}
    db = connect(town_db)
    kinds = {
        r[0] for r in db.conn.execute("SELECT kind FROM events WHERE id > ?", (events_before,))
    }
    db.close()
    # The refusals are counted in memory and summed up at most once a minute: no row each.
    assert kinds <= {"security_summary"}
    # The genuine link still works, once; a second answer keeps the first time.
    ok = httpx.post(f"{base}/ack/{token}", json={"answer": "no"}).json()
    assert ok["first"] and ok["answer"] == "no"
    again = httpx.post(f"{base}/ack/{token}", json={"answer": "yes"}).json()
    assert again["changed"] and again["answered_at"] == ok["answered_at"]


def test_gateway_refusals_throttling_and_other_channels(
    town_db, gateway, serve_factory, tmp_path
) -> None:
    db = connect(town_db)
    clock = SystemClock()
    with SmtpServer() as smtp:
        # M2 prefers e-mail (verified); V1 a chat robot; M1's number is refused by the gateway.
        set_channels(db, clock, OPERATOR, "M2", [("email", "m2@example.org", True)])
        set_channels(db, clock, OPERATOR, "V1", [("webhook", gateway.hook_url, True)])
        db.close()
        port = free_port()
        config = write_config(
            tmp_path,
            port,
            sms={"url": gateway.url, "retry_window_s": 10},
            webhook={},
            email={"host": "127.0.0.1", "port": smtp.port, "sender": "duty@example.org"},
        )
        gateway.fail(400, "number blocked", to={e164("M1")})
        gateway.throttle(1, retry_after=0.2)
        serve_factory(town_db, config, port).start()
        mob = mobilize(town_db, "grid:G01", mode="broadcast")
        wait_for(lambda: smtp.received, what="the e-mail")
        wait_for(lambda: [r for r in gateway.requests if r.path == "/hook"], what="the robot")
        wait_for(lambda: to(gateway, "L1"), what="the leader's SMS after a 429")
        mail = smtp.received[0]
        assert "m2@example.org" in mail.rcpt_tos
        db = connect(town_db)

        def recorded() -> dict[str, dict] | None:
            # The gateway answers before the engine records: wait for the records.
            rows = {r["key"]: r for r in recipient_rows(db, mob)}
            done = rows["M1"]["error"] and all(
                rows[k]["state"] == "sent" for k in ("L1", "M2", "V1")
            )
            return rows if done else None

        rows = wait_for(recorded, what="every outcome recorded")
        assert "number blocked" in rows["M1"]["error"] and rows["M1"]["state"] == "queued"
        assert rows["L1"]["state"] == rows["M2"]["state"] == rows["V1"]["state"] == "sent"
        assert summary(db, mob, clock.now()).total.notified == 3
        db.close()
    assert any(r.status == 429 for r in gateway.requests)


def test_sigkill_in_the_middle_loses_nobody_and_resends_only_the_unknown(
    tmp_path, serve_factory
) -> None:
    """10,000 people in one grid, broadcast; the engine is killed mid-way and started again."""
    db_path = big_grid_db(tmp_path / "big.db", 10_000, timeout_s=4, repeats=0)
    with Gateway(dedupe=True, record=True) as gateway:
        # Batches of 50, two at a time, 40 ms each: about 4 s for everyone, so the kill lands
        # in the middle.
        gateway.latency = 0.04
        port = free_port()
        config = write_config(
            tmp_path, port, sms={"url": gateway.url, "batch": 50, "concurrency": 2}
        )
        server = serve_factory(db_path, config, port).start()
        mob = mobilize(db_path, "grid:G01", mode="broadcast")
        wait_for(lambda: gateway.unique >= 3000, timeout=60, what="3,000 sent")
        server.kill()
        at_kill = gateway.unique
        db = connect(db_path)
        unknown = {
            r[0]
            for r in db.conn.execute(
                "SELECT id FROM attempts WHERE state = 'pending' AND channel IS NOT NULL"
            )
        }
        db.close()
        assert 0 < at_kill < 10_001
        killed = time.monotonic()
        # The new engine waits for the dead one's lease to lapse; by then every delivered
        # call's time-out is past, so the escalations are due the moment it takes over.
        serve_factory(db_path, config, port).start()
        assert time.monotonic() - killed < 10  # lease 6 s, renewed every 2 s
        wait_for(lambda: gateway.unique >= 10_001, timeout=90, what="everyone sent")

        def settled() -> bool:
            s = states(db_path, mob)
            return all(v in ("unreachable", "no_answer", "escalated") for v in s.values())

        wait_for(settled, timeout=60, what="every time-out fired")
        db = connect(db_path)
        rows = recipient_rows(db, mob)
        assert len(rows) == 10_001  # leader + members: nobody lost
        sent_ids = [r[0] for r in db.conn.execute("SELECT id FROM attempts WHERE state = 'sent'")]
        sent_attempts = db.conn.execute(
            "SELECT count(*), count(DISTINCT recipient_id) FROM attempts"
            " WHERE kind = 'notify' AND state = 'sent'"
        ).fetchone()
        node = db.conn.execute(
            "SELECT state FROM mob_nodes WHERE mobilization_id = ? AND code = 'grid-G01-members'",
            (mob,),
        ).fetchone()[0]
        db.close()
        assert sent_attempts == (10_001, 10_001)  # one delivered call each (repeats = 0)
        assert node == "unreachable"
        # Re-sends after the kill reused their attempt ids, and only attempts whose outcome the
        # dead engine never recorded were sent twice; the deduplicating gateway counted each once.
        ids = [m["id"] for m in gateway.messages]
        twice = {i for i, n in Counter(ids).items() if n > 1}
        assert twice <= unknown
        assert set(ids) == set(sent_ids)
        assert gateway.unique == 10_001


def test_cli_mobilize_show_and_ack(town_db, gateway, serve_factory, tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sms={"url": gateway.url})
    serve_factory(town_db, config, port).start()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from console.cli import main; main(sys.argv[1:])"
        return subprocess.run(
            [sys.executable, "-c", code, "--db", str(town_db), "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    started = cli("mobilize", "--team", "T-RESCUE", "--message", "集合", "--exercise")
    assert started.returncode == 0, started.stderr
    mob = int(started.stdout.strip())
    assert "no engine" not in started.stderr  # serve holds the lease
    sms = wait_for(lambda: to(gateway, "M1"), what="the team leader's SMS")[0]
    assert "演练" in sms["text"]
    answered = cli("ack", sms["ack_code"], "--eta", "20")
    assert answered.returncode == 0 and "M1: coming" in answered.stdout
    wait_for(lambda: to(gateway, "V1"), what="the team member after the leader's yes")
    shown = cli("mobilization", "show", str(mob))
    assert "[EXERCISE]" in shown.stdout and "level 1" in shown.stdout
    listed = cli("mobilization", "list", "--exercise", "--json")
    assert '"exercise": true' in listed.stdout
    bad = cli("ack", "0000")
    assert bad.returncode != 0 and "ack code 0000" in bad.stderr


def test_a_second_serve_waits_and_takes_over_when_the_first_dies(
    town_db, gateway, serve_factory, tmp_path
) -> None:
    first_port, second_port = free_port(), free_port()
    config = write_config(tmp_path, first_port, sms={"url": gateway.url})
    first = serve_factory(town_db, config, first_port).start()
    second = serve_factory(town_db, config, second_port)
    second.start(until="elsewhere")
    assert second.health()["engine"] == "elsewhere"
    first.kill()
    killed = time.monotonic()
    wait_for(
        lambda: second.health()["engine"] == "here",
        what="the takeover",
    )
    assert time.monotonic() - killed < 10
    mobilize(town_db, "grid:G01")
    wait_for(lambda: to(gateway, "L1"), what="the survivor sending")


def test_repeats_alternates_no_unreachable_need_and_duplicates_in_real_time(
    town_db, gateway, serve_factory, tmp_path
) -> None:
    """Time-outs of 1 s, one repeat: a silent leader, a 'no' from the alternate, then --need."""
    db = connect(town_db)
    build_default_tree(db, SystemClock(), OPERATOR, timeout_s=1, repeats=1, replace=True)
    db.close()
    port = free_port()
    config = write_config(tmp_path, port, sms={"url": gateway.url})
    serve_factory(town_db, config, port).start()
    # M1 is a member of G01 and the rescue team's leader; V1 a volunteer and a team member.
    mob = mobilize(town_db, "grid:G01", "team:T-RESCUE", need=2)
    sec = wait_for(lambda: to(gateway, "SEC"), what="the alternate after L1's silence")[0]
    assert [m["kind"] for m in to(gateway, "L1")] == ["notify", "notify"]  # sent, repeated
    said_no = reply(port, tmp_path, e164("SEC"), f"{sec['ack_code']} 2")
    assert said_no.status_code == 200 and said_no.json()["answer"] == "no"
    # G01's leader node is unreachable now: its members and volunteers are called all the same.
    wait_for(lambda: to(gateway, "M2") and to(gateway, "V1"), what="G01's people released")
    for key in ("M1", "V1"):
        code = to(gateway, key)[0]["ack_code"]
        assert reply(port, tmp_path, e164(key), f"{code} 1").status_code == 200
    # Two yes in G01: M2 is told to stand down instead of being called again.
    stood = wait_for(
        lambda: [m for m in to(gateway, "M2") if m["kind"] == "stand_down"], what="stand down"
    )
    assert len(stood) == 1
    final = states(town_db, mob)
    assert final["L1"] == "unreachable" and final["SEC"] == "no"
    assert final["M1"] == final["V1"] == "yes" and final["M2"] == "stood_down"
    # One recipient per person though M1 and V1 sit in two nodes (team and grid): one code,
    # and no more call-outs than one plus its repeat, whichever node called them first.
    for key in ("M1", "V1"):
        calls = [m for m in to(gateway, key) if m["kind"] == "notify"]
        assert len({m["ack_code"] for m in calls}) == 1 and 1 <= len(calls) <= 2
    assert sorted(final) == ["L1", "M1", "M2", "SEC", "V1"]  # nobody twice
