"""The engine sends a dispatched case to the field by itself: it catches up with the timeline,
starts the dispatch's call-out, and each message carries the person's own case link (the log
keeps only the start of the token), in the text its attempt keeps as in the text sent."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from console.config import Config
from console.engine import Engine, EngineOptions
from incidents import workflow as wf
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from store.clock import FixedClock
from store.db import connect
from tests.support.wait import wait_until

FAST = EngineOptions(tick_s=0.01, idle_s=0.01, renew_s=0.05, sweep_s=60)


def log_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_a_dispatch_goes_out_with_each_persons_case_link(town_db: Path) -> None:
    clock = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    policy = Policy()
    db = connect(town_db)
    case = create_incident(
        db, clock, policy, "t", NewIncident(title="路灯倒伏", category="facilities", grid="G01")
    ).id
    wf.register(db, clock, policy, "t", case)
    engine = Engine(town_db, Config(path=None), clock=clock, options=FAST)
    log = town_db.with_name("town-messages.log")
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await wait_until(lambda: engine.state == "here", 10.0, "the lease")
        wf.dispatch(db, clock, policy, "t", case, "grid:G01")
        engine.wake()
        await wait_until(lambda: len(log_lines(log)) >= 3, 10.0, "the call-outs")
        lines = log_lines(log)
        addresses = {str(m["address"]) for m in lines}
        assert addresses == {"+8613800138004", "+8613800138005", "+8613800138006"}
        for line in lines:
            text, url = str(line["text"]), str(line["ack_url"])
            assert text.startswith("【派遣】") and "/case/" in url and url in text
            assert "/ack/" not in text
        # What the attempts keep is what was sent: the case link, not an ack link.
        kept = [
            str(r[0]) for r in db.conn.execute("SELECT text FROM attempts WHERE kind = 'notify'")
        ]
        assert len(kept) == 3 and all("/case/" in t and "/ack/" not in t for t in kept)
        rows = db.conn.execute(
            "SELECT count(*) FROM field_people p JOIN field_dispatches d ON d.id = p.dispatch_id"
            " WHERE d.incident_id = ?",
            (case,),
        ).fetchone()
        assert rows[0] >= 3
    finally:
        stop.set()
        await task
        db.close()
