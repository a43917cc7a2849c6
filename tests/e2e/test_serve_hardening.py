"""``dutydesk serve`` under slow, idle and many clients, stopped by signals, on two listeners.

Each test starts a real server process on 127.0.0.1 and talks to it over real sockets
(:mod:`tests.support.rawhttp` for clients that never finish a request). What each reproduces,
from issue 11: a slowloris client and idle connections held forever, and 300 of them at a file
limit of 256 starving the engine's sockets (item 4); SIGTERM killing the process before the
engine gave its lease back (item 6); the gateway's endpoint on the public port (item 1); an
open ``/healthz``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from mobilization import Target, build_default_tree, recipient_rows, start_mobilization
from store import lease
from store.clock import SystemClock
from store.db import connect
from tests.support.domain import OPERATOR
from tests.support.gateway import Gateway
from tests.support.inbound import post_reply, write_secret
from tests.support.rawhttp import PARTIAL_HEAD, Flood, get, until_closed
from tests.support.rawhttp import connect as raw_connect
from tests.support.serve import Serve, free_port, write_config
from tests.support.town import build_town, e164, person
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

# Short deadlines, so a test waits a second or two and not the production defaults' ten.
QUICK = {"header_timeout_s": 1.0, "body_timeout_s": 1.5, "keep_alive_s": 4.0}


def crowded_town(path: Path, members: int) -> Path:
    """The small town with ``members`` more people in grid G01; nobody times out for 10 min."""
    db = connect(path)
    clock = SystemClock()
    build_town(db, clock, starts_on=date(2020, 1, 1))
    for i in range(members):
        person(db, clock, f"P{i:04d}", "G01", "grid_member", f"139{i:08d}")
    build_default_tree(db, clock, OPERATOR, timeout_s=600, repeats=0)
    db.close()
    return path


def mobilize(db_path: Path, target: str, **kw: object) -> int:
    db = connect(db_path)
    try:
        return start_mobilization(
            db,
            SystemClock(),
            OPERATOR,
            targets=[Target.parse(target)],
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


def holder(db_path: Path) -> str | None:
    db = connect(db_path)
    try:
        return lease.current_holder(db, SystemClock().now())
    finally:
        db.close()


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


# --- item 4: deadlines and the connection cap


def test_a_slowloris_head_is_cut_off_at_the_header_deadline(town_db, tmp_path) -> None:
    """Before: a head trickled a byte at a time (or nothing at all) held the connection forever."""
    port = free_port()
    server = Serve(
        town_db, write_config(tmp_path, port), port, tmp_path / "serve.log", limits=QUICK
    ).start()
    try:
        with raw_connect(port) as trickler:
            started = time.monotonic()
            trickler.sendall(PARTIAL_HEAD)
            # One more header byte every quarter second: they do not push the deadline back.
            held = until_closed(trickler, 8, trickle=b"X", every=0.25)
            waited = time.monotonic() - started
        assert waited >= 0.9 and held < 4, (waited, held)
        with raw_connect(port) as silent:  # connects and never sends a byte
            assert 0.9 <= until_closed(silent, 8) < 4
        # A client that finishes its head in time is served as before.
        assert httpx.get(f"{server.url}/healthz", headers=_auth(server)).status_code == 200
    finally:
        server.stop()


def test_idle_keep_alive_connections_are_closed_and_slow_bodies_cut_off(town_db, tmp_path) -> None:
    port = free_port()
    server = Serve(
        town_db,
        write_config(tmp_path, port),
        port,
        tmp_path / "serve.log",
        limits={**QUICK, "header_timeout_s": 10.0, "keep_alive_s": 1.0},
    ).start()
    try:
        with raw_connect(port) as idle:
            status, body = get(idle, "/healthz", _auth(server))
            assert status == 200 and json.loads(body)["engine"] == "here"
            # Idle after its answer: closed after keep_alive_s, well before the header deadline.
            assert 0.8 <= until_closed(idle, 8) < 5
        # A body announced and never finished: cut off body_timeout_s after the head.
        with raw_connect(port) as slow:
            slow.sendall(
                b"POST /ack/abc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            assert 1.3 <= until_closed(slow, 8, trickle=b" ", every=0.25) < 5
        # A head still incomplete past 16 KB is refused, not buffered on.
        with raw_connect(port) as big:
            big.sendall(PARTIAL_HEAD + b"X-Pad: " + b"a" * 20_000)
            assert big.recv(65536).startswith(b"HTTP/1.1 400 ")
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log


def test_a_flood_past_the_cap_at_a_file_limit_of_256_leaves_the_engine_its_sockets(
    tmp_path,
) -> None:
    """Before: 300 slow clients at ``ulimit -n 256`` took every descriptor; the engine's sends
    failed with "Too many open files" and people were marked unreachable for our fault."""
    db_path = crowded_town(tmp_path / "town.db", 100)
    limit = 256
    with Gateway(dedupe=True) as gateway:
        port = free_port()
        config = write_config(tmp_path, port, sms={"url": gateway.url, "concurrency": 8})
        # The production defaults (header deadline 10 s), under the low limit.
        server = Serve(db_path, config, port, tmp_path / "serve.log", nofile=limit).start()
        assert server.proc is not None
        pid = server.proc.pid
        most = [open_files(pid)]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                try:
                    most.append(open_files(pid))
                except FileNotFoundError:
                    return
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            with Flood(port, 300) as flood:
                # The server accepts what its cap allows and closes the rest at once.
                wait_for(lambda: flood.closed_by_server >= 200, 30, "connections over the cap")
                mob = mobilize(db_path, "grid:G01", mode="broadcast")
                everyone = len(states(db_path, mob))
                wait_for(lambda: gateway.unique >= everyone, 60, "everyone's SMS in the flood")
                held, opened = flood.kept, flood.opened
            # The flood is gone: a real request is answered at once.
            assert server.health()["engine"] == "here"
        finally:
            sampling.set()
            sampler.join(5)
            server.stop()
    # The attacker kept its 300 connections going throughout, reopening what was closed.
    assert held == 300 and opened >= 500, (held, opened)
    print(f"open files at most {max(most)} of {limit}; {opened} connections opened")
    assert max(most) < limit - 40, max(most)  # room to spare: the engine's sockets, SQLite
    assert set(states(db_path, mob).values()) == {"sent"}  # nobody unreachable
    log = server.log.read_text(errors="replace")
    for trouble in ("Too many open files", "out of system resource", "Traceback"):
        assert trouble not in log, log


# --- item 6: a graceful stop


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_serve_cleanly_mid_mobilization(tmp_path, sig) -> None:
    """Before: SIGTERM killed the process (uvicorn re-raised it) with the lease still held and
    sends in flight unrecorded, so the next engine waited out the lease and sent them again."""
    db_path = crowded_town(tmp_path / "town.db", 1500)
    with Gateway(dedupe=True) as gateway:
        gateway.latency = 0.05
        port = free_port()
        config = write_config(
            tmp_path, port, sms={"url": gateway.url, "batch": 10, "concurrency": 2}
        )
        server = Serve(db_path, config, port, tmp_path / "serve.log").start()
        assert server.proc is not None
        mobilize(db_path, "grid:G01", mode="broadcast")
        wait_for(lambda: gateway.unique >= 200, 60, "the first sends")
        server.proc.send_signal(sig)
        code = server.proc.wait(30)
        after = holder(db_path)
        delivered = {m["id"] for m in gateway.accepted}
    log = server.log.read_text(errors="replace")
    assert code == 0, log
    assert after is None  # the lease is free the moment it exits: a standby takes over at once
    assert f"stopped ({sig.name})" in log and "Traceback" not in log, log
    db = connect(db_path)
    try:
        claimed = db.conn.execute(
            "SELECT count(*) FROM attempts WHERE state = 'pending' AND claimed_by IS NOT NULL"
        ).fetchone()[0]
        sent = {r[0] for r in db.conn.execute("SELECT id FROM attempts WHERE state = 'sent'")}
    finally:
        db.close()
    assert claimed == 0  # every send in flight was recorded or given back
    assert delivered and delivered <= sent  # nothing the gateway took is left to send again
    assert refused(port)


# --- item 1: the gateway's own listener


def test_the_gateway_has_its_own_listener_and_the_public_one_no_inbound_route(
    town_db, gateway, tmp_path
) -> None:
    port, inbound_port = free_port(), free_port()
    secret_file, secret = write_secret(tmp_path)
    config = write_config(
        tmp_path,
        port,
        serve={"inbound_port": inbound_port, "inbound_secret_file": secret_file},
        sms={"url": gateway.url},
    )
    server = Serve(town_db, config, port, tmp_path / "serve.log").start()
    assert server.proc is not None
    inbound_url = f"http://127.0.0.1:{inbound_port}"
    try:
        assert server.health(inbound_url)["engine"] == "here"
        mob = mobilize(town_db, "grid:G01")
        sms = wait_for(lambda: [m for m in gateway.accepted if m["to"] == e164("L1")], 30)[0]
        reply = {"from": e164("L1"), "text": f"{sms['ack_code']} 1"}
        # The public listener: no such route, signed or not.
        assert post_reply(server.url, secret, reply).status_code == 404
        # The gateway's listener: unsigned is refused, signed is recorded; no ack links there.
        assert post_reply(inbound_url, None, reply).status_code == 401
        assert states(town_db, mob)["L1"] == "sent"
        signed = post_reply(inbound_url, secret, reply)
        assert signed.status_code == 200, signed.text
        assert states(town_db, mob)["L1"] == "yes"
        assert httpx.get(f"{inbound_url}/ack/{sms['ack_url'].rsplit('/', 1)[1]}").status_code == 404
        assert httpx.get(sms["ack_url"]).status_code == 200  # the link works on the public one
        # One signal stops both.
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
    finally:
        server.stop()
    assert refused(port) and refused(inbound_port)
    assert holder(town_db) is None


# --- /healthz


def _auth(server: Serve) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def test_health_details_only_with_the_token(town_db, tmp_path) -> None:
    port = free_port()
    server = Serve(town_db, write_config(tmp_path, port), port, tmp_path / "serve.log").start()
    try:
        url = f"{server.url}/healthz"
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"X": "y"}):
            answer = httpx.get(url, headers=headers)
            assert answer.status_code == 401 and "engine" not in answer.json()
        details = httpx.get(url, headers=_auth(server)).json()
        assert details["engine"] == "here" and details["holder"].startswith("engine")
    finally:
        server.stop()


def test_health_without_a_token_file_tells_loopback_only_that_it_is_alive(
    town_db, tmp_path
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, serve={"health_token_file": None})
    server = Serve(town_db, config, port, tmp_path / "serve.log").start(until="alive")
    try:
        assert httpx.get(f"{server.url}/healthz").json() == {"ok": True}
        guess = httpx.get(f"{server.url}/healthz", headers={"Authorization": "Bearer x" * 3})
        assert guess.status_code == 401
    finally:
        server.stop()


def test_a_health_token_others_can_read_is_refused_at_start(town_db, tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    (tmp_path / "health-token").chmod(0o644)
    code = "import sys; from console.cli import main; main(sys.argv[1:])"
    run = subprocess.run(
        [sys.executable, "-c", code, "--db", str(town_db), "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "chmod 600" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert refused(port)


def test_a_port_in_use_is_one_line_and_no_engine_starts(town_db, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, port)
        code = "import sys; from console.cli import main; main(sys.argv[1:])"
        run = subprocess.run(
            [sys.executable, "-c", code, "--db", str(town_db), "--config", str(config), "serve"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 1
    assert f"could not listen on 127.0.0.1:{port}: Address already in use" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert holder(town_db) is None
