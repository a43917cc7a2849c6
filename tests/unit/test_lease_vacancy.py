"""Since when no engine holds the lease: a clean stop notes its moment, a crash leaves its
expiry, a live holder means nothing is paused; and since when the holder has held it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store import lease
from store.db import connect

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
TTL = timedelta(seconds=6)


def test_vacancy_says_since_when_and_why() -> None:
    db = connect()
    assert lease.vacancy(db, NOW) == lease.Vacancy(None, None, False)  # no engine ever ran

    assert lease.acquire(db, "engine:h:1:a", NOW, TTL)
    assert lease.vacancy(db, NOW + timedelta(seconds=5)) is None  # live
    assert lease.acquire(db, "engine:h:1:a", NOW + timedelta(seconds=2), TTL)  # renewed
    assert lease.held_since(db, "engine:h:1:a") == NOW  # since it took it, not renewed it
    assert lease.held_since(db, "engine:h:9:z") is None

    crashed = lease.vacancy(db, NOW + timedelta(minutes=5))  # it stopped renewing
    assert crashed == lease.Vacancy(NOW + timedelta(seconds=2) + TTL, "engine:h:1:a", True)

    lease.release(db, "engine:h:2:b", NOW + timedelta(minutes=6))  # not the holder: no effect
    assert lease.vacancy(db, NOW + timedelta(minutes=7)) == crashed

    assert lease.acquire(db, "engine:h:2:b", NOW + timedelta(minutes=8), TTL)
    stop = NOW + timedelta(minutes=9)
    lease.release(db, "engine:h:2:b", stop)
    assert lease.vacancy(db, stop) == lease.Vacancy(stop, "engine:h:2:b", False)
    assert lease.acquire(db, "engine:h:3:c", stop, TTL)  # a standby takes it at once
    assert lease.vacancy(db, stop) is None
    assert lease.held_since(db, "engine:h:3:c") == stop
