"""Provides a deterministic case for the post-incident report's tests and goldens.

A landslide in the small town (:func:`tests.support.town.build_town`), walked through the loop
by a fixed clock: an edit of its level, a return with its reason, an extension, a task, a
mobilization of grid G01 with answers yes, no and silence, a lesson and a follow-up action, a
late closing. Every time comes from the clock, so the report is the same on every run.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlite_utils import Database

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import Incident
from incidents.records import NewIncident, create_incident, get_incident
from incidents.review import add_action, add_lesson
from mobilization import Target, build_default_tree, record_answer, start_mobilization
from store.clock import FixedClock
from store.db import write
from tests.support.domain import OPERATOR
from tests.support.town import build_town
from tests.unit.mobilization_support import code_of, drive
from uplink.sitrep_rules import SitrepRules
from uplink.sitreps import phone, recompute


def build_report_case(db: Database, clock: FixedClock, policy: Policy) -> Incident:
    """The town, its tree, and case 2026-… walked to closed; returns the case as it ends."""
    build_town(db, clock, officers=("A", "B"), starts_on=date(2026, 11, 26))
    build_default_tree(db, clock, OPERATOR, timeout_s=300, repeats=1)
    case = create_incident(
        db,
        clock,
        policy,
        "A",
        NewIncident(
            title="东湖村后山山体滑坡",
            description="后山出现裂缝并有小规模滑坡，报告人电话13800138000。",
            category="natural_disaster",
            type="geological",
            severity="III",
            urgency="urgent",
            location="东湖村后山",
            grid="G01",
            reporter_name="王五",
            reporter_phone="13900139000",
            source="phone",
        ),
    )
    clock.advance(minutes=12)
    wf.register(db, clock, policy, "A", case.id)
    wf.edit(db, clock, policy, "A", case.id, severity="II")
    clock.advance(minutes=20)
    wf.dispatch(db, clock, policy, "A", case.id, "team:T-RESCUE")
    mob = start_mobilization(
        db,
        clock,
        "A",
        targets=[Target.parse("grid:G01")],
        message="东湖村后山滑坡，请立即集结",
        mode="broadcast",
        incident_id=case.id,
    )
    drive(db, clock)
    phone(db, clock, "A", case.id, to="区应急局值班室", at=clock.now(), note="电话初报")
    clock.advance(seconds=90)
    record_answer(db, clock, "A", yes=True, via="cli", code=code_of(db, mob, "L1"))
    clock.advance(seconds=150)
    record_answer(db, clock, "A", yes=False, via="cli", code=code_of(db, mob, "M2"))
    clock.advance(minutes=10)
    wf.add_task(
        db, clock, "A", case.id, "疏散坡下住户", owner="L1", due=clock.now() + timedelta(hours=1)
    )
    wf.handle(db, clock, policy, "A", case.id)
    clock.advance(hours=2)
    wf.return_case(db, clock, policy, "A", case.id, "需地质专家现场核实")
    clock.advance(minutes=30)
    wf.handle(db, clock, policy, "B", case.id)
    wf.request_extension(
        db, clock, policy, "B", case.id, "等待专家", clock.now() + timedelta(hours=24)
    )
    wf.approve_extension(db, clock, policy, "A", case.id)
    clock.advance(hours=30)
    wf.add_note(db, clock, "B", case.id, "已联系村委会，电话 13700137000")
    wf.feedback(db, clock, policy, "B", case.id, "坡下12户已撤离，设置警戒线")
    clock.advance(hours=1)
    wf.verify(db, clock, policy, "A", case.id)
    clock.advance(hours=20)
    wf.close(db, clock, policy, "A", case.id)
    clock.advance(hours=1)
    add_lesson(db, clock, "A", case.id, "夜间巡查应覆盖后山裂缝点")
    add_action(
        db,
        clock,
        "A",
        case.id,
        "在后山安装位移监测",
        owner="G01网格",
        due=clock.now() + timedelta(days=30),
    )
    with write(db):
        recompute(db, SitrepRules(), case.id, clock.now())
    return get_incident(db, case.id)
