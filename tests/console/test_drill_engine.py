"""The engine fires drill schedules through APScheduler jobs, once, whoever runs it.

Real engines (:class:`~console.engine.EngineThread`, as the console runs them) on a database
file with the system clock: a one-off schedule a few seconds ahead fires its run through its
job (the periodic pass is set far off, so only the job can fire it), the run's exercise call-out
goes out, a reminder goes out through the ``log`` sender; with two engines on one database only
the lease holder fires, and the standby that takes over builds the jobs again and fires what
was armed; a restart fires nothing twice; a schedule another process made is claimed at the
look that finds it, even when its first moment is already due; and an engine whose clock is
not the wall clock sets its jobs by its own time, without spinning.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.config import Config
from console.engine import DRILL_RETRY_S, Engine, EngineOptions, EngineThread
from drills.models import RUN_WHAT, ClaimOutcome, DrillKind, NoticeKind, NoticeState
from drills.notices import list_notices
from drills.plans import add_plan
from drills.runs import list_runs
from drills.schedules import add_schedule, claims, upcoming
from store.clock import FixedClock, SystemClock
from store.db import Database, connect
from tests.support.domain import OPERATOR
from tests.support.town import e164
from tests.support.wait import wait_for

ZONE = "Asia/Shanghai"
# Nothing but the jobs fires: the periodic pass (and the look for changed schedules) come
# once, at the start, then not again within a test.
JOBS_ONLY = EngineOptions(
    tick_s=0.05, idle_s=0.1, standby_s=0.05, renew_s=0.5, sweep_s=600, drill_look_s=600
)


@pytest.fixture
def db(town_db: Path) -> Iterator[Database]:
    database = connect(town_db)
    yield database
    database.close()


@pytest.fixture
def threads() -> Iterator[list[EngineThread]]:
    started: list[EngineThread] = []
    yield started
    for thread in started:
        thread.stop()


def start(threads: list[EngineThread], town_db: Path) -> Engine:
    engine = Engine(town_db, Config(path=None), clock=SystemClock(), options=JOBS_ONLY)
    thread = EngineThread(engine)
    threads.append(thread)
    thread.start()
    return engine


def call_tree_plan(db: Database, code: str = "CALL", reminders: tuple[int, ...] = ()) -> int:
    plan = add_plan(
        db,
        SystemClock(),
        OPERATOR,
        code=code,
        name="网格叫应演练",
        kind=DrillKind.NOTIFICATION,
        scope=["grid:G01"],
        message="演练：请回复是否在岗",
        organizer="A",
        evaluators=["SEC"],
        reminders_min=reminders,
    )
    return plan.id


def schedule_in(db: Database, plan: int, seconds: float) -> int:
    at = SystemClock().now() + timedelta(seconds=seconds)
    return add_schedule(db, SystemClock(), OPERATOR, plan, start=at, zone=ZONE).id


def log_lines(town_db: Path) -> list[dict[str, Any]]:
    path = town_db.with_name(town_db.stem + "-messages.log")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def runs_of(db: Database, schedule_id: int) -> list[Any]:
    return [r for r in list_runs(db) if r.schedule_id == schedule_id]


def test_a_one_off_fires_its_run_through_its_job_and_reminds_through_the_log(
    town_db: Path, db: Database, threads: list[EngineThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_at = schedule_in(db, call_tree_plan(db), 3)
    # A reminder one minute before an occurrence 63 s ahead: due in 3 s.
    reminded = schedule_in(db, call_tree_plan(db, "REMIND", (1,)), 63)
    jobs: list[int] = []
    real = Engine._drill_job

    async def counted(self: Engine, schedule_id: int) -> None:
        jobs.append(schedule_id)
        await real(self, schedule_id)

    monkeypatch.setattr(Engine, "_drill_job", counted)
    engine = start(threads, town_db)
    wait_for(lambda: engine.drill_jobs == 2, 10, "a job for each schedule")
    assert runs_of(db, run_at) == [] and jobs == []  # nothing due yet

    run = wait_for(lambda: runs_of(db, run_at), 15, "the scheduled run")[0]
    assert run_at in jobs  # its job fired it: the periodic pass is ten minutes off
    assert run.occurrence is not None and run.mobilization_id is not None
    (claim,) = [c for c in claims(db, run_at) if c.what == RUN_WHAT]
    assert claim.outcome is ClaimOutcome.FIRED and claim.late_s < 5
    # The run's call-out goes out, marked as an exercise.
    call = wait_for(
        lambda: [m for m in log_lines(town_db) if m["address"] == e164("L1")], 10, "the call-out"
    )
    assert call[0]["exercise"] is True and "演练" in call[0]["text"]

    def sent() -> list[Any]:
        found = list_notices(db, schedule_id=reminded, kind=NoticeKind.REMINDER)
        return found if found and all(n.state is NoticeState.SENT for n in found) else []

    notices = wait_for(sent, 15, "the reminder sent")
    assert reminded in jobs
    assert {n.name for n in notices} == {"A", "SEC"}  # the organizer and the evaluator
    lines = [m for m in log_lines(town_db) if m["kind"] == "notice"]
    assert sorted(m["attempt_id"] for m in lines) == sorted(n.id for n in notices)
    assert {m["address"] for m in lines} == {e164("A"), e164("SEC")}
    assert all("演练提醒" in m["text"] for m in lines)
    assert engine.drills_fired == 1 and engine.drill_reminders == 1
    assert engine.drill_notices_sent == 2 and engine.drill_error is None
    # The one-off is done; the other schedule's job is now set for its run.
    wait_for(lambda: engine.drill_jobs == 1, 10, "the jobs armed again")
    assert len(runs_of(db, run_at)) == 1


def test_two_engines_fire_once_and_the_one_taking_over_fires_what_was_armed(
    town_db: Path, db: Database, threads: list[EngineThread]
) -> None:
    plan = call_tree_plan(db, reminders=(1,))
    first = schedule_in(db, plan, 62)  # its reminder is due in 2 s
    holder = start(threads, town_db)
    standby = start(threads, town_db)
    assert holder.state == "here" and standby.state == "elsewhere"
    wait_for(lambda: holder.drill_jobs == 1, 10, "the holder's job")
    assert standby.drill_jobs == 0

    notices = wait_for(
        lambda: [n for n in list_notices(db, schedule_id=first) if n.state is NoticeState.SENT],
        15,
        "the reminder sent",
    )
    assert len(notices) == 2 and holder.drill_reminders == 1 and standby.drill_reminders == 0

    # The holder stops with the run armed; the standby takes over, builds the jobs again
    # from the tables and fires the run itself.
    second = schedule_in(db, plan, 6)
    holder.drills_changed()
    wait_for(lambda: holder.drill_jobs == 2, 10, "the holder's job for the new schedule")
    threads[0].stop()
    wait_for(lambda: standby.state == "here", 10, "the standby to take over")
    run = wait_for(lambda: runs_of(db, second), 15, "the run fired by the new holder")
    assert standby.drills_fired == 1 and holder.drills_fired == 0
    assert len(run) == 1 and len([c for c in claims(db, second) if c.what == RUN_WHAT]) == 1
    reminders = [m for m in log_lines(town_db) if m["kind"] == "notice"]
    assert len(reminders) == 2  # each reminder once, though two engines ran


def test_a_restart_fires_nothing_twice(
    town_db: Path, db: Database, threads: list[EngineThread]
) -> None:
    plan = call_tree_plan(db, reminders=(1,))
    reminded = schedule_in(db, plan, 62)
    ran = schedule_in(db, plan, 3)
    engine = start(threads, town_db)
    wait_for(lambda: runs_of(db, ran), 15, "the run")
    wait_for(
        lambda: len([m for m in log_lines(town_db) if m["kind"] == "notice"]) == 2,
        15,
        "the reminder of the other schedule",
    )
    threads[0].stop()
    assert engine.state == "stopped"
    before = log_lines(town_db)
    claimed = claims(db, ran) + claims(db, reminded)

    again = start(threads, town_db)
    # The positive sign that it looked: its first pass (claims, then every job built) is done.
    wait_for(lambda: again.drill_passes >= 1, 10, "the new engine's first pass")
    assert again.drill_jobs == 1  # the other schedule's run, still ahead
    assert again.drills_fired == 0 and again.drill_reminders == 0
    assert claims(db, ran) + claims(db, reminded) == claimed
    assert len(runs_of(db, ran)) == 1 and runs_of(db, reminded) == []
    sent_before = [m for m in before if m["kind"] == "notice"]
    sent_after = [m for m in log_lines(town_db) if m["kind"] == "notice"]
    assert sent_after == sent_before


def test_a_schedule_made_elsewhere_is_claimed_at_the_next_look(
    town_db: Path, db: Database, threads: list[EngineThread]
) -> None:
    """Made by another process (the CLI), the engine looking only once its first reminder is
    due: the look that finds the new schedule claims it before it sets the jobs (the next
    moments are those after now, so a due moment would otherwise wait for the next full
    pass, ten minutes off)."""
    engine = start(threads, town_db)
    wait_for(lambda: engine.drill_passes >= 1, 10, "the engine's first pass")
    made = schedule_in(db, call_tree_plan(db, reminders=(1,)), 61)  # reminder due in 0-1 s
    (occurrence,) = [o for o in upcoming(db, SystemClock().now()) if o.schedule_id == made]
    due = occurrence.at - timedelta(minutes=1)
    wait_for(lambda: SystemClock().now() > due, 5, "the reminder's moment to pass")
    assert claims(db, made) == []
    engine.drills_changed()  # what the look every drill_look_s does
    wait_for(lambda: claims(db, made), 10, "the reminder claimed")
    (reminder,) = claims(db, made)
    assert reminder.what != RUN_WHAT and reminder.outcome is ClaimOutcome.FIRED
    wait_for(lambda: engine.drill_notices_sent == 2, 10, "the reminder sent")
    assert engine.drill_jobs == 1  # and the run's job set


def test_a_clock_that_is_not_the_wall_clock_sets_jobs_by_its_own_time(
    town_db: Path, db: Database, threads: list[EngineThread]
) -> None:
    """A job is set as far ahead as the engine's clock says its moment is (the system clock:
    at the moment itself), and one that fires before that clock reached its moment (a fixed
    clock) does not spin: nothing is claimed, and it is set again later."""
    schedule = schedule_in(db, call_tree_plan(db), 3600)
    clock = FixedClock(datetime.now(UTC) + timedelta(seconds=3600 - 2))
    engine = Engine(town_db, Config(path=None), clock=clock, options=JOBS_ONLY)
    thread = EngineThread(engine)
    threads.append(thread)
    thread.start()
    wait_for(lambda: engine.drill_passes >= 2, 15, "the job fired and its pass done")
    fired_at = time.monotonic()
    assert engine.drills_fired == 0 and engine.drill_jobs == 1  # set again, not fired
    passes = engine.drill_passes
    wait_for(lambda: engine.drill_passes > passes, 15, "the job fired once more, later")
    assert time.monotonic() - fired_at > DRILL_RETRY_S / 2  # seconds apart, not a spin
    assert engine.drills_fired == 0 and claims(db, schedule) == []
