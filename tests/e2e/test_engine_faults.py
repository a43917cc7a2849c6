"""The engine under faults, as real processes against the real test gateway.

* SIGKILL in the middle of a mobilization of 1,500 SMS: the next engine sends again at most the
  requests that were in flight (before: every outcome of the unfinished chunk of 500 was lost,
  and 100-301 people got the SMS twice).
* SIGTERM: the engine finishes what is in flight, records it and gives the lease back; a
  standby engine holds it within a second and nobody gets anything twice (before: SIGTERM
  skipped the clean-up, and the standby waited for the lease to expire).
* Out of file descriptors: the engine holds the messages back, says so, and sends the same
  messages once the descriptors are back; nobody is marked unreachable (before: nine people
  were, without being sent anything).

Engines run as :mod:`tests.support.engine_runner` processes; the gateway counts every message
id that arrived twice (``Gateway.seen_twice``).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mobilization import Target, recipient_rows, start_mobilization
from store.clock import SystemClock, from_iso
from store.db import connect
from tests.support.domain import OPERATOR
from tests.support.engine_runner import EngineProcess
from tests.support.gateway import Gateway
from tests.support.serve import free_port, write_config
from tests.support.town import big_grid_db
from tests.support.wait import wait_for

CONCURRENCY = 4
LATENCY_S = 0.01  # a slowish gateway: each request takes 10 ms


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[EngineProcess]]:
    """Engine processes a test started; each stopped (SIGTERM, then SIGKILL) at the end."""
    started: list[EngineProcess] = []
    yield started
    for engine in started:
        engine.stop()


def engine(
    started: list[EngineProcess], db: Path, config: Path, name: str, *extra: str
) -> EngineProcess:
    process = EngineProcess(db, config, db.with_name(f"{name}.out"), *extra).start()
    started.append(process)
    return process


def mobilize(db_path: Path) -> int:
    db = connect(db_path)
    try:
        return start_mobilization(
            db,
            SystemClock(),
            OPERATOR,
            targets=[Target.parse("grid:G01")],
            message="防汛集结",
            mode="broadcast",
        )
    finally:
        db.close()


def recipients(db_path: Path, mob: int) -> list[dict[str, object]]:
    db = connect(db_path)
    try:
        return recipient_rows(db, mob)
    finally:
        db.close()


def all_sent(db_path: Path, mob: int) -> bool:
    return all(r["state"] == "sent" for r in recipients(db_path, mob))


def earliest_due(db_path: Path, mob: int) -> datetime:
    db = connect(db_path)
    try:
        row = db.conn.execute(
            "SELECT min(a.not_before) FROM attempts a JOIN recipients r ON r.id = a.recipient_id"
            " WHERE r.mobilization_id = ?",
            (mob,),
        ).fetchone()
    finally:
        db.close()
    return from_iso(row[0])


def sms_config(tmp_path: Path, gateway: Gateway) -> Path:
    return write_config(
        tmp_path,
        free_port(),
        sms={"url": gateway.url, "concurrency": CONCURRENCY, "timeout_s": 5},
    )


def one_each(gateway: Gateway, db_path: Path, mob: int) -> None:
    """Every recipient's phone got exactly one accepted message, and nobody else one."""
    phones = Counter(str(m["to"]) for m in gateway.accepted)
    db = connect(db_path)
    try:
        expected = {
            str(row[0]) if str(row[0]).startswith("+") else "+86" + str(row[0])
            for row in db.conn.execute(
                "SELECT p.phone FROM recipients r JOIN people p ON p.id = r.person_id"
                " WHERE r.mobilization_id = ?",
                (mob,),
            )
        }
    finally:
        db.close()
    assert set(phones) == expected
    assert set(phones.values()) == {1}


def test_a_sigkilled_engine_sends_again_at_most_what_was_in_flight(
    tmp_path: Path, gateway: Gateway, engines: list[EngineProcess]
) -> None:
    db = big_grid_db(tmp_path / "big.db", 1_500, timeout_s=3_600, repeats=0)
    config = sms_config(tmp_path, gateway)
    gateway.latency = LATENCY_S
    first = engine(engines, db, config, "first", "--lease-ttl", "1").wait_holding()
    mob = mobilize(db)
    wait_for(lambda: gateway.count >= 300, 60, "300 messages through the first engine", 0.005)
    first.signal(signal.SIGKILL)
    first.wait()
    cut_at = gateway.count
    assert cut_at < 1_400  # killed in the middle, not at the end

    engine(engines, db, config, "second", "--lease-ttl", "1").wait_holding()
    wait_for(lambda: all_sent(db, mob), 90, "every recipient sent", 0.1)

    twice = gateway.seen_twice
    # Only what was in flight when the first one died: per worker (batch 1) one request on the
    # wire and at most one answered and not yet committed (the engine lets a worker run ahead
    # of its commit by one request, no further). Before: up to a whole chunk of 500.
    assert sum(n - 1 for n in twice.values()) <= 2 * CONCURRENCY * 1, twice
    assert max(twice.values(), default=1) <= 2
    one_each(gateway, db, mob)


def test_sigterm_hands_over_to_the_standby_within_a_second_and_sends_nothing_twice(
    tmp_path: Path, gateway: Gateway, engines: list[EngineProcess]
) -> None:
    db = big_grid_db(tmp_path / "big.db", 800, timeout_s=3_600, repeats=0)
    config = sms_config(tmp_path, gateway)
    gateway.latency = LATENCY_S
    first = engine(engines, db, config, "first").wait_holding()
    standby = engine(engines, db, config, "standby")
    wait_for(
        lambda: any(line.get("state") == "elsewhere" for line in standby.lines()),
        20,
        "the standby to see the lease held",
    )
    mob = mobilize(db)
    wait_for(lambda: gateway.count >= 200, 60, "200 messages through the first engine", 0.005)

    first.signal(signal.SIGTERM)
    asked = time.monotonic()
    standby.wait_holding(timeout=5)
    took = time.monotonic() - asked
    assert first.wait(5) == 0
    assert took < 1.0, f"the standby took {took:.2f}s"

    wait_for(lambda: all_sent(db, mob), 60, "every recipient sent", 0.1)
    assert gateway.seen_twice == {}  # a clean stop: everything sent was recorded
    one_each(gateway, db, mob)


def test_out_of_file_descriptors_nobody_is_charged_and_the_same_messages_go_later(
    tmp_path: Path, gateway: Gateway, engines: list[EngineProcess]
) -> None:
    db = big_grid_db(tmp_path / "big.db", 9, timeout_s=3_600, repeats=0)
    config = sms_config(tmp_path, gateway)
    gateway.close_connections = True  # every request needs a new socket
    control = tmp_path / "fds"
    runner = engine(
        engines, db, config, "runner", "--control", str(control), "--local-retry", "0.3"
    ).wait_holding()
    control.with_suffix(".hog").touch()
    wait_for(lambda: any("hogging" in line for line in runner.lines()), 10, "the fds held")

    mob = mobilize(db)

    def attempts() -> list[tuple[str, str | None]]:
        check = connect(db)
        try:
            return [
                (str(state), error)
                for state, error in check.conn.execute(
                    "SELECT a.state, a.error FROM attempts a JOIN recipients r"
                    " ON r.id = a.recipient_id WHERE r.mobilization_id = ?",
                    (mob,),
                )
            ]
        finally:
            check.close()

    wait_for(
        lambda: (
            len(attempts()) == 10 and all(e and "local error EMFILE" in e for _s, e in attempts())
        ),
        20,
        "every attempt held back by EMFILE",
    )
    wait_for(
        lambda: any("EMFILE" in str(line.get("local_error")) for line in runner.lines()),
        10,
        "the engine to tell the officer",
    )
    # Three back-off rounds later (each pushed the attempts' time on): still nothing sent,
    # nothing failed, nobody charged.
    first_due = earliest_due(db, mob)
    wait_for(
        lambda: earliest_due(db, mob) >= first_due + timedelta(seconds=0.9),
        10,
        "three rounds of retries held back",
    )
    assert gateway.count == 0
    assert {state for state, _e in attempts()} == {"pending"}
    rows = recipients(db, mob)
    assert {r["state"] for r in rows} == {"queued"}
    assert {r["sends"] for r in rows} == {0}

    control.with_suffix(".free").touch()
    wait_for(lambda: all_sent(db, mob), 20, "every recipient sent once the fds are back", 0.05)
    assert [state for state, _e in attempts()] == ["sent"] * 10  # the same ten attempts
    assert {r["state"] for r in recipients(db, mob)} == {"sent"}
    assert gateway.seen_twice == {}
    one_each(gateway, db, mob)
    wait_for(
        lambda: (
            runner.lines()[-1].get("local_error") is None
            and any(line.get("local_error") is None and line.get("sent") for line in runner.lines())
        ),
        5,
        "the local error cleared",
    )
