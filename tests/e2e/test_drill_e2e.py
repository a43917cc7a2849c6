"""A drill end to end: scheduled, reminded, run, answered by SMS, evaluated, improvement made.

``dutydesk serve`` runs in a process of its own against a real SMS gateway on 127.0.0.1 (the
reminder and the exercise call-out go through it) and takes the gateway's signed replies, as
in production. The schedule is made from this process through the database file, as the CLI in
another terminal would: a one-off a minute ahead with a reminder one minute before, so the
reminder falls due within seconds and the drill a minute later, fired by the engine's scheduler.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from drills.evaluation import evaluation, rate
from drills.improvements import add_improvement, list_improvements
from drills.models import ImprovementState, Rating, RunState
from drills.plans import add_plan, parse_objective
from drills.runs import end_run, list_runs
from drills.schedules import add_schedule
from mobilization import recipient_rows
from store.clock import SystemClock
from store.db import connect
from tests.e2e.test_mobilization_e2e import reply, to, write_config
from tests.support.domain import OPERATOR
from tests.support.gateway import Gateway
from tests.support.serve import free_port
from tests.support.town import e164
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

ZONE = "Asia/Shanghai"


def _plan_and_schedule(db_path: Path) -> tuple[int, datetime]:
    db = connect(db_path)
    clock = SystemClock()
    try:
        plan = add_plan(
            db,
            clock,
            OPERATOR,
            code="calltree",
            name="网格通信联络演练",
            kind="notification",
            scope=["grid:G01"],
            announced=True,
            organizer="A",
            evaluators=["SEC"],
            message="防汛通信联络演练，请回复",
            reminders_min=[1],
            objectives=[parse_objective("answer_rate 75% 10m: 四分之三的人10分钟内应答")],
        )
        # The reminder falls due five seconds from now, the drill a minute after it.
        now = clock.now().astimezone(ZoneInfo(ZONE)).replace(tzinfo=None)
        at = now.replace(microsecond=0) + timedelta(seconds=65)
        schedule = add_schedule(db, clock, OPERATOR, plan.code, start=at, zone=ZONE)
        return schedule.id, at.replace(tzinfo=ZoneInfo(ZONE))
    finally:
        db.close()


def _runs(db_path: Path) -> list:  # type: ignore[type-arg]
    db = connect(db_path)
    try:
        return list_runs(db)
    finally:
        db.close()


def test_a_drill_scheduled_reminded_run_answered_and_evaluated(
    town_db: Path, gateway: Gateway, serve_factory, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, sms={"url": gateway.url})
    serve_factory(town_db, config, port).start()
    _schedule, at = _plan_and_schedule(town_db)

    # The reminder, to the organizer and the evaluator (announced: participants too; none here).
    reminder = wait_for(
        lambda: [m for m in to(gateway, "A") if "演练" in m["text"]],
        what="the reminder",
        timeout=30,
    )[0]
    assert "网格通信联络演练" in reminder["text"]
    assert wait_for(lambda: to(gateway, "SEC"), what="the evaluator's reminder")

    # The drill itself, at its time: an exercise call-out of grid G01 (the leader first).
    runs = wait_for(lambda: _runs(town_db), what="the drill's run", timeout=90)
    run = runs[0]
    assert run.state is RunState.RUNNING and run.schedule_id is not None
    assert abs((run.started_at - at).total_seconds()) < 60
    call = wait_for(
        lambda: [m for m in to(gateway, "L1") if m.get("ack_code")], what="the call-out"
    )[0]
    assert "演练" in call["text"] and call["exercise"] is True

    # The leader answers yes by SMS, which releases the members; two of them answer.
    assert reply(port, tmp_path, e164("L1"), f"{call['ack_code']} 1").status_code == 200
    for key, text in (("M1", "1"), ("M2", "2")):
        message = wait_for(
            lambda key=key: [m for m in to(gateway, key) if m.get("ack_code")],
            what=f"{key}'s call-out",
        )[0]
        assert reply(port, tmp_path, e164(key), f"{message['ack_code']} {text}").status_code == 200

    db = connect(town_db)
    clock = SystemClock()
    try:

        def answered() -> dict[str, str] | None:
            rows = recipient_rows(db, run.mobilization_id)
            got = {r["key"]: str(r["state"]) for r in rows if str(r["state"]) in ("yes", "no")}
            return got if len(got) == 3 else None

        states = wait_for(answered, what="three answers recorded")
        assert states == {"L1": "yes", "M1": "yes", "M2": "no"}
        ended = end_run(db, clock, OPERATOR, run.id)
        assert ended.state is RunState.ENDED

        ev = evaluation(db, run.id)
        (result,) = ev.results
        # L1 and M1 said yes out of four called (L1, M1, M2, V1): 50 % < 75 % - 10 → M.
        assert ev.metrics.called == 4 and ev.metrics.yes == 2
        assert result.value == pytest.approx(50.0)
        assert result.proposed is Rating.M
        assert [s.name for s in ev.metrics.never_answered] == ["V1"]
        assert "13800138007" not in repr(ev.to_json())  # phones masked
        rate(db, clock, OPERATOR, run.id, result.objective.id, Rating.M)
        item = add_improvement(
            db,
            clock,
            OPERATOR,
            run.id,
            issue="志愿者未应答",
            action="核对志愿者号码并培训回复方式",
            element="training",
            owner="SEC",
            due=clock.now() + timedelta(days=14),
            objective_id=result.objective.id,
        )
        assert evaluation(db, run.id).complete
        assert [i.id for i in list_improvements(db, open_only=True)] == [item.id]
        assert item.state is ImprovementState.OPEN
    finally:
        db.close()
