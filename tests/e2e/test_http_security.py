"""The attacks and faults on ``dutydesk serve``'s doors, replayed against a real server.

Each test starts a real ``dutydesk serve`` on 127.0.0.1 with a real SMS gateway and attacks it
as issue 11 found it could be attacked: an unsigned "yes" that stood a whole grid down, guessed
reply codes and the 404-vs-400 oracle, a flood of forged requests that wrote one audit row each,
links that still answered a cancelled call-out, deeply nested JSON (HTTP 500), a client that
goes away mid-body (a traceback in the log), a client that trickles its body. Each asserts that
the attack now fails safely: the status, nothing changed in the database, the audit log grew by
a handful of rows at most, and the server's log has no traceback.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from mobilization import Target, cancel_mobilization, recipient_rows, start_mobilization
from reports.notices import NoticeWatcher
from store.clock import SystemClock
from store.db import connect
from tests.support.domain import OPERATOR, events_since
from tests.support.gateway import Gateway
from tests.support.inbound import post_reply, signed_headers, write_secret
from tests.support.serve import Serve, free_port, write_config
from tests.support.town import e164
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

NOT_ACCEPTED = {"ok": False, "error": "reply not accepted"}


def mobilize(db_path: Path, *targets: str, **kw: object) -> int:
    db = connect(db_path)
    try:
        return start_mobilization(
            db,
            SystemClock(),
            OPERATOR,
            targets=[Target.parse(t) for t in targets],
            message="河道水位上涨，请到岗",
            interval_s=0,
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


def last_event(db_path: Path) -> int:
    db = connect(db_path)
    try:
        return int(db.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])
    finally:
        db.close()


def all_sent(db_path: Path, mob: int, count: int) -> dict[str, str]:
    """Wait until ``count`` people's sending is recorded (the gateway answers first)."""

    def recorded() -> dict[str, str] | None:
        now = states(db_path, mob)
        return now if len(now) == count and set(now.values()) == {"sent"} else None

    return wait_for(recorded, what=f"{count} sendings recorded")


def sent_to(gateway: Gateway, key: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in gateway.accepted if m.get("to") == e164(key)]


def no_traceback(log: Path) -> str:
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "Exception in ASGI" not in text, text
    return text


class Office:
    """One office: its database, a gateway, a running ``serve`` with an inbound secret."""

    def __init__(
        self,
        tmp_path: Path,
        db: Path,
        gateway: Gateway,
        serve_factory,  # type: ignore[no-untyped-def]
        *,
        secret: bool = True,
        secret_mode: int = 0o600,
    ) -> None:
        self.db, self.gateway, self.tmp = db, gateway, tmp_path
        self.port = free_port()
        extra: dict[str, object] = {}
        self.secret: bytes | None = None
        if secret:
            name, self.secret = write_secret(tmp_path, secret_mode)
            extra["inbound_secret_file"] = name
        config = write_config(tmp_path, self.port, serve=extra, sms={"url": gateway.url})
        self.server: Serve = serve_factory(db, config, self.port).start()
        self.base = self.server.url
        self.log = self.server.log

    def reply(self, key: str, text: str, **kw: object) -> httpx.Response:
        return post_reply(self.base, self.secret, {"from": e164(key), "text": text}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def office(tmp_path, town_db, gateway, serve_factory) -> Office:  # type: ignore[no-untyped-def]
    return Office(tmp_path, town_db, gateway, serve_factory)


def test_an_unsigned_yes_no_longer_stands_a_grid_down(office: Office) -> None:
    """Before: one unsigned ``{"from": L1, "text": "1"}`` on a ``--need 1`` call-out was taken
    as L1's yes (a bare "1", one open call-out) and stood everyone else down."""
    mob = mobilize(office.db, "grid:G01", mode="broadcast", need=1)
    before = all_sent(office.db, mob, 4)
    forged = {"from": e164("L1"), "text": "1"}
    unsigned = httpx.post(f"{office.base}/inbound/sms", json=forged)
    assert unsigned.status_code == 401
    assert post_reply(office.base, b"a guessed secret of some length", forged).status_code == 401
    stale = int(time.time()) - 3600
    assert post_reply(office.base, office.secret, forged, timestamp=stale).status_code == 401
    body = json.dumps(forged).encode()
    headers = signed_headers(office.secret or b"", body)
    signature = headers["X-Dutydesk-Signature"]
    # Another last digit: "0" whatever it was left a signature ending in 0 valid (1 in 16 runs).
    headers["X-Dutydesk-Signature"] = signature[:-1] + ("1" if signature.endswith("0") else "0")
    tampered = httpx.post(f"{office.base}/inbound/sms", content=body, headers=headers)
    assert tampered.status_code == 401
    # Signed by the gateway, but without its code: refused all the same.
    bare = office.reply("L1", "1")
    assert (bare.status_code, bare.json()) == (400, NOT_ACCEPTED)
    assert states(office.db, mob) == before

    # The genuine reply, signed, with its code, works once; its replay is refused.
    code = sent_to(office.gateway, "L1")[0]["ack_code"]
    genuine = json.dumps({"from": e164("L1"), "text": f"{code} 1"}).encode()
    signed = signed_headers(office.secret or b"", genuine)
    ok = httpx.post(f"{office.base}/inbound/sms", content=genuine, headers=signed)
    assert ok.status_code == 200 and ok.json()["answer"] == "yes"
    replay = httpx.post(f"{office.base}/inbound/sms", content=genuine, headers=signed)
    assert replay.status_code == 401
    wait_for(lambda: states(office.db, mob)["M1"] == "stood_down", what="the others stood down")
    assert states(office.db, mob)["L1"] == "yes"
    no_traceback(office.log)


def test_without_a_usable_secret_the_inbound_door_is_shut(
    tmp_path, town_db, gateway, serve_factory
) -> None:  # type: ignore[no-untyped-def]
    """No secret configured, or one others can read: 503 to everything, one log line why."""
    for secret, mode, why in ((False, 0o600, "inbound_secret_file"), (True, 0o644, "chmod 600")):
        work = tmp_path / f"{secret}-{mode:o}"
        work.mkdir()
        office = Office(work, town_db, gateway, serve_factory, secret=secret, secret_mode=mode)
        mob = mobilize(town_db, "grid:G01")
        all_sent(town_db, mob, 1)
        code = sent_to(gateway, "L1")[0]["ack_code"]
        for _ in range(3):
            answer = post_reply(
                office.base, office.secret, {"from": e164("L1"), "text": f"{code} 1"}
            )
            assert answer.status_code == 503
        assert states(town_db, mob)["L1"] == "sent"
        office.server.stop()
        lines = [line for line in no_traceback(office.log).splitlines() if "/inbound/sms" in line]
        assert len(lines) == 1 and why in lines[0], lines
        office.log.unlink()
        db = connect(town_db)
        cancel_mobilization(db, SystemClock(), OPERATOR, mob)
        db.close()
        gateway.reset()


def test_every_failed_reply_looks_the_same_and_guessing_locks_the_phone(
    office: Office,
) -> None:
    """Before: 404 for an unknown code, 400 for another number's: ~500 guesses/s told a guesser
    which codes were live, with no limit and no trace."""
    mob = mobilize(office.db, "grid:G01", mode="broadcast")
    before = all_sent(office.db, mob, 4)
    codes = {k: sent_to(office.gateway, k)[0]["ack_code"] for k in ("L1", "M1", "M2", "V1")}
    first_event = last_event(office.db)
    unknown = "9" * len(codes["M1"]) if "9" * len(codes["M1"]) not in codes.values() else "1" * 8
    failures = [
        office.reply("M1", f"{unknown} 1"),  # a code nobody has
        office.reply("M1", f"{codes['M2']} 1"),  # M2's code from M1's phone
        office.reply("M1", "1"),  # no code
        office.reply("M1", f"{codes['V1']} 2"),
        office.reply("M1", f"{unknown} 2"),
        office.reply("M1", f"{codes['L1']} 1"),  # the fifth wrong code: M1 is locked out
        office.reply("M1", f"{codes['M1']} 1"),  # M1's own code, while locked out
    ]
    assert {(r.status_code, r.content) for r in failures} == {
        (400, json.dumps(NOT_ACCEPTED, separators=(",", ":")).encode())
    }
    assert states(office.db, mob) == before
    # Another phone is not affected by M1's lock.
    assert office.reply("M2", f"{codes['M2']} 1").status_code == 200

    def summary_with_lockout() -> dict | None:  # type: ignore[type-arg]
        for _id, kind, data in events_since(office.db, first_event):
            if kind == "security_summary" and data.get("lockouts"):
                return data
        return None

    summary = wait_for(summary_with_lockout, timeout=20, what="a security summary")
    assert summary["lockouts"][0]["source"] == "phone 138****8005"  # masked, as everywhere
    assert summary["kinds"]["bad_code"] == 5 and summary["kinds"]["locked_out"] == 1
    assert "13800138005" not in json.dumps(summary)
    db = connect(office.db)
    watcher = NoticeWatcher(db)
    watcher.last_id = first_event
    notices = watcher.poll()
    db.close()
    assert any("138****8005" in n.title and n.severity == "warning" for n in notices), notices
    no_traceback(office.log)


def test_ten_thousand_forged_requests_add_a_handful_of_rows(office: Office) -> None:
    """Before: every forged link appended a ``security_ack_token_rejected`` row: anyone could
    grow the permanent log without bound."""
    mob = mobilize(office.db, "grid:G01")
    all_sent(office.db, mob, 1)
    token = sent_to(office.gateway, "L1")[0]["ack_url"].rsplit("/", 1)[1]
    first_event = last_event(office.db)
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=office.base, timeout=10) as client:
        for i in range(10_000):
            if i % 3 == 0:
                answer = client.get(f"/ack/{token[:-4]}{i:04d}"[:200])
            elif i % 3 == 1:
                answer = client.post(f"/ack/forged{i}.AAAA", json={"answer": "yes"})
            else:
                answer = client.post("/inbound/sms", json={"from": e164("L1"), "text": "1"})
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    assert set(statuses) <= {401, 403, 429}, statuses
    assert statuses.get(429, 0) > 5_000  # the rate limit and the address lock did their part
    assert states(office.db, mob) == {"L1": "sent"}
    office.server.stop()  # the last summary is written on the way out
    added = events_since(office.db, first_event)
    kinds = [kind for _id, kind, _data in added]
    assert set(kinds) <= {"security_summary"} and 1 <= len(kinds) <= 3, kinds
    counted = sum(data["failures"] for _id, _kind, data in added)
    assert counted >= 10_000
    assert all(len(data["sources"]) <= 10 for _id, _kind, data in added)
    assert any(d["lockouts"] and d["lockouts"][0]["source"] == "127.0.0.1" for *_, d in added)
    no_traceback(office.log)


def test_the_rate_limit_answers_429_with_retry_after(office: Office) -> None:
    with httpx.Client(base_url=office.base, timeout=10) as client:
        answers = [client.get("/healthz") for _ in range(150)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and answers[0].status_code != 429
    assert all(int(a.headers["retry-after"]) >= 1 for a in limited)


def test_links_to_a_call_out_that_is_over_say_so(office: Office) -> None:
    """Before: a link kept recording answers after its mobilization was cancelled."""
    mob = mobilize(office.db, "grid:G01")
    all_sent(office.db, mob, 1)
    url = sent_to(office.gateway, "L1")[0]["ack_url"]
    page = httpx.get(url, headers={"accept-language": "zh-CN"})
    assert page.status_code == 200 and "能否到岗" in page.text
    db = connect(office.db)
    cancel_mobilization(db, SystemClock(), OPERATOR, mob)
    db.close()
    before = states(office.db, mob)
    zh = httpx.get(url, headers={"accept-language": "zh-CN"})
    assert zh.status_code == 410 and "动员已结束" in zh.text and "<form" not in zh.text
    en = httpx.post(url, data={"answer": "yes"}, headers={"accept-language": "en"})
    assert en.status_code == 410 and "call-out is over" in en.text
    as_json = httpx.post(url, json={"answer": "yes"})
    assert as_json.status_code == 410 and as_json.json()["over"] is True
    assert states(office.db, mob) == before


def test_the_chinese_page_shows_the_answer_in_chinese(office: Office) -> None:
    """Before: the page said "您已回复：yes", the state's code instead of its label."""
    all_sent(office.db, mobilize(office.db, "grid:G01"), 1)
    url = sent_to(office.gateway, "L1")[0]["ack_url"]
    assert httpx.post(url, data={"answer": "yes"}).status_code == 200
    zh = httpx.get(url, headers={"accept-language": "zh-CN"})
    assert "您已回复：到" in zh.text and "yes</p>" not in zh.text
    en = httpx.get(url, headers={"accept-language": "en"})
    assert "Your answer so far: said yes" in en.text


def test_deep_json_gives_400_and_a_huge_body_413(office: Office) -> None:
    """Before: 100,000 ``[`` gave HTTP 500 (a RecursionError in json.loads) and a traceback."""
    mob = mobilize(office.db, "grid:G01")
    all_sent(office.db, mob, 1)
    url = sent_to(office.gateway, "L1")[0]["ack_url"]
    deep = b"[" * 4000  # within /ack's 4 KB: json.loads alone would hit its recursion limit
    answer = httpx.post(url, content=deep, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "nested" in answer.json()["error"]
    nested = b'{"from": "x", "text": ' + b"[" * 15_000 + b"}"
    inbound = post_reply(office.base, office.secret, nested)
    assert inbound.status_code == 400 and "nested" in inbound.json()["error"]
    huge = b"[" * 100_000
    assert (
        httpx.post(url, content=huge, headers={"content-type": "application/json"}).status_code
        == 413
    )
    assert post_reply(office.base, office.secret, huge).status_code == 413
    assert states(office.db, mob) == {"L1": "sent"}
    no_traceback(office.log)


def _raw_post(port: int, path: str, length: int, headers: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{headers}\r\n".encode()
    )
    return sock


def test_a_client_gone_mid_body_costs_one_log_line(office: Office) -> None:
    """Before: each client that went away while sending its body logged a full traceback."""
    mob = mobilize(office.db, "grid:G01")
    all_sent(office.db, mob, 1)
    url = sent_to(office.gateway, "L1")[0]["ack_url"]
    path = url.split(str(office.port), 1)[1]

    def gone_lines() -> list[str]:
        text = office.log.read_text(errors="replace")
        return [line for line in text.splitlines() if "went away" in line]

    for n in range(1, 4):
        sock = _raw_post(office.port, path, 1000)
        sock.sendall(b'{"answer": "ye')
        sock.close()  # gone with 986 bytes of its body unsent
        wait_for(lambda n=n: len(gone_lines()) >= n, what=f"log line {n}")

    lines = gone_lines()
    assert len(lines) == 3, lines
    assert all("nothing changed" in line for line in lines)
    assert states(office.db, mob) == {"L1": "sent"}
    no_traceback(office.log)


def test_a_body_trickled_past_the_deadline_gets_408(office: Office) -> None:
    """A client sending its body a byte a second holds a connection no longer than the
    deadline (10 s), then gets 408 and nothing is recorded."""
    mob = mobilize(office.db, "grid:G01")
    all_sent(office.db, mob, 1)
    url = sent_to(office.gateway, "L1")[0]["ack_url"]
    path = url.split(str(office.port), 1)[1]
    sock = _raw_post(office.port, path, 200)
    started = time.monotonic()
    sock.settimeout(0.5)
    answer = b""
    body = iter(b'{"answer": "yes"' + b" " * 200)
    while not answer and time.monotonic() - started < 25:
        with contextlib.suppress(StopIteration, OSError):
            sock.sendall(bytes([next(body)]))
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            continue
    sock.close()
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 9 <= took < 15, took
    assert states(office.db, mob) == {"L1": "sent"}
    no_traceback(office.log)
