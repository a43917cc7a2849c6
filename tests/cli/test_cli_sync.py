"""``dutydesk sync``: the link's status, dead letters and their requeue, seen by an operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import lease
from store.db import connect, write
from uplink.models import LinkState
from uplink.outbox import Projection, mark_dead, project, sendable
from uplink.status import record_failure

UPLINK = '[uplink]\nurl = "http://127.0.0.1:9"\nunit = "330106001"\ntoken = "{token}"\n'


def configure(run, token: str = "t" * 24) -> None:
    text = run.config.read_text(encoding="utf-8")
    run.config.write_text(text + UPLINK.format(token=token), encoding="utf-8")


def two_cases(run) -> None:
    for title in ("路灯不亮", "井盖缺失"):
        assert run("incident", "new", "--title", title, "--category", "facilities").code == 0
    db = connect(run.db)
    try:
        project(db, Projection("330106001"), datetime.now(UTC))
    finally:
        db.close()


def test_status_without_an_uplink_says_so(run) -> None:
    result = run("sync", "status")
    assert result.code == 0
    assert "not configured" in result.out
    assert run("sync", "status", "--json").json()["state"] == "off"


def test_status_shows_backlog_backoff_and_the_last_error(run) -> None:
    configure(run)
    two_cases(run)
    db = connect(run.db)
    try:
        with write(db):
            now = datetime.now(UTC)
            record_failure(
                db, now, LinkState.BACKING_OFF, "cannot connect", now + timedelta(minutes=2)
            )
    finally:
        db.close()
    data = run("sync", "status", "--json").json()
    assert data["state"] == "backing_off"
    assert data["backlog"] == 2
    assert data["unit"] == "330106001"
    assert data["last_error"] == "cannot connect"
    assert data["next_try_at"] is not None
    text = run("sync", "status").out
    assert "backing off" in text and "backlog: 2 events" in text and "next try" in text


def test_dead_letters_are_listed_and_requeued(run) -> None:
    configure(run)
    two_cases(run)
    db = connect(run.db)
    try:
        first = sendable(db, "330106001", 1)[0]
        with write(db):
            mark_dead(db, first.row, "unknown grid G99")
    finally:
        db.close()
    listed = run("sync", "dead-letters", "--json").json()["items"]
    assert [(d["row"], d["reason"]) for d in listed] == [(first.row, "unknown grid G99")]
    assert listed[0]["event"]["subject"] == "case:2026-000001"
    assert "unknown grid G99" in run("sync", "dead-letters").out
    assert run("sync", "status", "--json").json()["dead_letters"] == 1
    refused = run("sync", "retry", "999")
    assert refused.code == 2 and "is a dead letter; nothing changed" in refused.err
    assert run("sync", "retry").code == 2
    done = run("sync", "retry", str(first.row))
    assert done.code == 0 and "1 events back in the queue" in done.out
    assert run("sync", "dead-letters", "--json").json()["items"] == []
    assert run("sync", "status", "--json").json()["backlog"] == 2


def test_now_refuses_while_an_engine_runs_and_without_an_uplink(run, tmp_path: Path) -> None:
    off = run("sync", "now")
    assert off.code == 2 and "no uplink configured" in off.err
    configure(run)
    db = connect(run.db)
    try:
        assert lease.acquire(db, "engine:x:1:ab", datetime.now(UTC), timedelta(minutes=5))
    finally:
        db.close()
    busy = run("sync", "now")
    assert busy.code == 2 and "engine:x:1:ab" in busy.err


def test_now_reports_a_hub_that_cannot_be_reached(run) -> None:
    configure(run)
    two_cases(run)
    result = run("sync", "now")
    assert result.code == 1
    assert "cannot connect to the hub" in result.err
    assert run("sync", "status", "--json").json()["state"] == "backing_off"


def test_resync_is_asked_for(run) -> None:
    configure(run)
    result = run("sync", "resync")
    assert result.code == 0 and "compares with the hub" in result.out
