"""The calendar feeds of a real ``dutydesk serve`` on 127.0.0.1, fetched and parsed back.

``GET /calendar/drills.ics`` and ``GET /calendar/roster.ics`` with the token of ``[serve]
calendar_token_file``: announced drills with their alarms, cancellations as CANCELLED events,
no unannounced drill, the roster's next 35 days; 401 for a missing or wrong token (counted in
the security summary, not one row each), a new token taking effect at once, 503 while the
token file is unsafe, and 404 when no token file is configured.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from drills.models import DrillKind
from drills.plans import add_plan
from drills.schedules import add_schedule, cancel_schedule, upcoming
from store.clock import SystemClock
from store.db import connect
from tests.support.domain import OPERATOR, events_since
from tests.support.serve import Serve, free_port, write_config

ZONE = "Asia/Shanghai"
TOKEN_FILE = "calendar-token"


def write_token(tmp_path: Path, token: str) -> None:
    path = tmp_path / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")


class Drills:
    """What the town schedules: a weekly call-tree drill with one occurrence cancelled, a
    tabletop whose schedule is cancelled, and an unannounced weekly drill."""

    def __init__(self, db_path: Path) -> None:
        clock = SystemClock()
        db = connect(db_path)
        try:
            tomorrow = (clock.now() + timedelta(days=1)).astimezone(ZoneInfo(ZONE)).date()
            nine = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0)
            weekly = add_plan(
                db,
                clock,
                OPERATOR,
                code="WEEKLY",
                name="每周叫应",
                kind=DrillKind.NOTIFICATION,
                scope=["grid:G01"],
                message="演练：请回复",
                organizer="A",
            )
            self.weekly = add_schedule(
                db, clock, OPERATOR, weekly.id, start=nine, zone=ZONE, rrule="FREQ=WEEKLY"
            ).id
            self.dropped = nine + timedelta(days=7)
            cancel_schedule(db, clock, OPERATOR, self.weekly, occurrence=self.dropped)
            tabletop = add_plan(
                db,
                clock,
                OPERATOR,
                code="TABLE",
                name="防汛桌面推演",
                kind=DrillKind.TABLETOP,
                organizer="A",
                reminders_min=[60],
            )
            self.table_at = nine + timedelta(days=10)
            self.table = add_schedule(
                db, clock, OPERATOR, tabletop.id, start=self.table_at, zone=ZONE
            ).id
            cancel_schedule(db, clock, OPERATOR, self.table)
            surprise = add_plan(
                db,
                clock,
                OPERATOR,
                code="SURPRISE",
                name="夜间突击叫应",
                kind=DrillKind.NOTIFICATION,
                scope=["grid:G01"],
                message="演练：请回复",
                organizer="A",
                announced=False,
            )
            self.surprise = add_schedule(
                db, clock, OPERATOR, surprise.id, start=nine, zone=ZONE, rrule="FREQ=WEEKLY"
            ).id
            self.uids = {
                o.uid
                for o in upcoming(
                    db, clock.now(), until=clock.now() + timedelta(days=366), limit=2000
                )
                if o.announced
            }
        finally:
            db.close()


def utc(wall: datetime) -> datetime:
    return wall.replace(tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def events(body: bytes) -> list[Any]:
    return list(Calendar.from_ical(body).walk("VEVENT"))


@pytest.fixture
def served(
    tmp_path: Path, town_db: Path, serve_factory: Callable[..., Serve]
) -> tuple[Serve, Drills, str]:
    drills = Drills(town_db)
    token = secrets.token_urlsafe(24)
    write_token(tmp_path, token)
    port = free_port()
    config = write_config(tmp_path, port, serve={"calendar_token_file": TOKEN_FILE})
    return serve_factory(town_db, config, port).start(), drills, token


def test_the_drill_feed_holds_announced_drills_alarms_and_cancellations(
    served: tuple[Serve, Drills, str],
) -> None:
    server, drills, token = served
    answer = httpx.get(f"{server.url}/calendar/drills.ics", params={"token": token}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    found = {str(e["UID"]): e for e in events(answer.content)}
    live = {uid: e for uid, e in found.items() if str(e["STATUS"]) != "CANCELLED"}
    cancelled = {uid: e for uid, e in found.items() if str(e["STATUS"]) == "CANCELLED"}
    assert set(live) == drills.uids and len(live) >= 50  # a year of weekly drills
    assert not any(f"drill-{drills.surprise}-" in uid for uid in found)  # never unannounced
    shown = {
        (int(uid.split("-")[1]), e.decoded("dtstart").astimezone(UTC))
        for uid, e in cancelled.items()
    }
    assert shown == {(drills.weekly, utc(drills.dropped)), (drills.table, utc(drills.table_at))}
    first = min(live.values(), key=lambda e: e.decoded("dtstart"))
    assert first.decoded("dtstart").astimezone(ZoneInfo(ZONE)).hour == 9
    assert str(first["SUMMARY"]) == "演练 Drill: 每周叫应"
    triggers = [a.decoded("trigger") for a in first.walk("VALARM")]
    assert triggers == [timedelta(days=-7), timedelta(days=-1), timedelta(hours=-1)]
    assert all(e.walk("VALARM") == [] for e in cancelled.values())
    # The same UIDs on the next fetch: a subscribed calendar updates, it does not duplicate.
    again = httpx.get(f"{server.url}/calendar/drills.ics", params={"token": token}, timeout=10)
    assert {str(e["UID"]) for e in events(again.content)} == set(found)


def test_the_roster_feed_holds_the_next_35_days(served: tuple[Serve, Drills, str]) -> None:
    server, _drills, token = served
    answer = httpx.get(f"{server.url}/calendar/roster.ics", params={"token": token}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    shifts = events(answer.content)
    assert 35 <= len(shifts) <= 36  # daily 24-hour shifts; the first began before now
    assert {str(e["SUMMARY"]) for e in shifts} == {"值班员: A"}
    now = datetime.now(UTC)
    starts = sorted(e.decoded("dtstart").astimezone(UTC) for e in shifts)
    assert starts[0] <= now + timedelta(days=1) and starts[-1] < now + timedelta(days=35)
    assert len({str(e["UID"]) for e in shifts}) == len(shifts)


def test_a_bad_token_is_401_counted_in_the_summary_and_a_new_token_works_at_once(
    tmp_path: Path, served: tuple[Serve, Drills, str]
) -> None:
    server, _drills, token = served
    before = events_since(server.db)[-1][0]
    url = f"{server.url}/calendar/drills.ics"
    refused = [
        httpx.get(url, timeout=10),
        httpx.get(url, params={"token": ""}, timeout=10),
        httpx.get(url, params={"token": token[:-1]}, timeout=10),
        httpx.get(f"{server.url}/calendar/roster.ics", params={"token": "x" * 5000}, timeout=10),
    ]
    assert [r.status_code for r in refused] == [401] * 4
    assert all("BEGIN:VCALENDAR" not in r.text for r in refused)
    assert httpx.post(url, params={"token": token}, timeout=10).status_code == 405

    new = secrets.token_urlsafe(24)
    write_token(tmp_path, new)  # rotated: the old token stops working at once
    assert httpx.get(url, params={"token": token}, timeout=10).status_code == 401
    assert httpx.get(url, params={"token": new}, timeout=10).status_code == 200
    (tmp_path / TOKEN_FILE).chmod(0o644)  # readable by others: no feed until it is mended
    assert httpx.get(url, params={"token": new}, timeout=10).status_code == 503
    assert httpx.get(url, params={"token": new}, timeout=10).status_code == 503
    (tmp_path / TOKEN_FILE).chmod(0o600)
    assert httpx.get(url, params={"token": new}, timeout=10).status_code == 200

    server.stop()  # the last summary is written on the way out
    added = events_since(server.db, before)
    assert {kind for _id, kind, _data in added} == {"security_summary"}
    counted = sum(data["kinds"].get("bad_token", 0) for _id, _kind, data in added)
    assert counted == 5
    log = server.log.read_text(errors="replace")
    assert log.count("/calendar/ refuses every request") == 1 and "Traceback" not in log
    assert token not in log and new not in log  # the query's token is never written down


def test_the_feeds_are_rate_limited_per_address(served: tuple[Serve, Drills, str]) -> None:
    server, _drills, token = served
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answers = [client.get("/calendar/roster.ics", params={"token": token}) for _ in range(150)]
    limited = [a for a in answers if a.status_code == 429]
    assert answers[0].status_code == 200
    assert limited and all(int(a.headers["retry-after"]) >= 1 for a in limited)
    assert all("BEGIN:VCALENDAR" not in a.text for a in limited)


def test_without_a_token_file_there_are_no_feeds(
    tmp_path: Path, town_db: Path, serve_factory: Callable[..., Serve]
) -> None:
    port = free_port()
    server = serve_factory(town_db, write_config(tmp_path, port), port).start()
    for feed in ("drills", "roster"):
        answer = httpx.get(f"{server.url}/calendar/{feed}.ics", params={"token": "x"}, timeout=10)
        assert answer.status_code == 404
