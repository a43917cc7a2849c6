"""Provides the mobilization tests' hand-driven engine and their short readings of the database.

The engine's steps are driven by hand (process → claim → deliver → record) with the ``log``
channel, which delivers everything at once; the real senders and the HTTP front doors are tested
in ``test_channels.py`` and ``tests/e2e``. The town and its tree are the ``town_tree`` fixture
of ``tests/unit/conftest.py``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from mobilization import (
    Delivery,
    Outgoing,
    Routing,
    Target,
    claim_pending,
    node_states,
    process_due,
    recipient_rows,
    record_deliveries,
    start_mobilization,
)
from store.clock import FixedClock
from tests.support.domain import OPERATOR

LOG = Routing()


def drive(
    db: Database,
    clock: FixedClock,
    *,
    fail: frozenset[str] = frozenset(),
    routing: Routing = LOG,
) -> list[Outgoing]:
    """Run the engine's steps until nothing is due now; returns every message sent.

    Messages to an address in ``fail`` come back refused (error ``rejected``).
    """
    sent: list[Outgoing] = []
    for _ in range(200):
        moved = process_due(db, clock)
        out, failed = claim_pending(db, clock, routing)
        deliveries = [Delivery(m.attempt_id, m.address not in fail, "rejected") for m in out]
        record_deliveries(db, clock, deliveries + failed, routing)
        sent += [m for m in out if m.address not in fail]
        if not moved and not out and not failed:
            return sent
    raise AssertionError("the engine did not settle")


def start(db: Database, clock: FixedClock, *targets: str, **kw: object) -> int:
    """Start a mobilization of ``targets`` (``grid:G01``...) with the message 防汛集结."""
    return start_mobilization(
        db,
        clock,
        OPERATOR,
        targets=[Target.parse(t) for t in targets],
        message="防汛集结",
        **kw,  # type: ignore[arg-type]
    )


def states(db: Database, mob_id: int) -> dict[str, str]:
    """Each called person's key and state."""
    return {r["key"]: r["state"] for r in recipient_rows(db, mob_id)}


def code_of(db: Database, mob_id: int, key: str) -> str:
    """The ack code a person's message carried."""
    return str(next(r["code"] for r in recipient_rows(db, mob_id) if r["key"] == key))


def nodes(db: Database, mob_id: int) -> dict[str, str]:
    """Each node's code and state."""
    return {n.code: n.state for n in node_states(db, mob_id)}


def names(messages: list[Outgoing], kind: str = "notify") -> list[str]:
    """Who the messages of ``kind`` went to, sorted."""
    return sorted(m.name for m in messages if m.kind == kind)


def events(db: Database, kind: str) -> list[dict[str, Any]]:
    """The data of the audit events of ``kind``, oldest first."""
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(data) for (data,) in rows]
