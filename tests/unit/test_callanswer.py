"""The 叫应 of a warning: who is called for an area, when it starts on its own, its message and
tree, silence escalating to the duty officer's silent list, and a cancel stopping it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from contacts.roster import add_post, add_rotation
from jurisdiction.units import NewUnit, add_unit
from mobilization import (
    MobilizationState,
    Mode,
    get_mobilization,
    get_tree,
    record_answer,
    summary,
)
from store.clock import FixedClock
from store.errors import InvalidTransition
from tests.support.domain import OPERATOR, START
from tests.support.town import COM, OTHER, TOWN, build_town, person
from tests.unit.mobilization_support import code_of, drive, events, states
from uplink import alerts
from uplink.callanswer import (
    CALL_MESSAGE_UNITS,
    CALL_TREE,
    CallReason,
    build_call_tree,
    call_message,
    call_of,
    load_alert,
    maybe_start,
    responsible,
    significant_prefix,
    start_call,
    stop_for_cancel,
)
from uplink.callanswer_rules import CallRule, WarningRules
from uplink.cap import Colour

# Two small squares (lon, lat) around Hangzhou: G01 in the west, G03 in the east.
WEST = [[120.00, 30.00], [120.01, 30.00], [120.01, 30.01], [120.00, 30.01], [120.00, 30.00]]
EAST = [[120.05, 30.00], [120.06, 30.00], [120.06, 30.01], [120.05, 30.01], [120.05, 30.00]]
HEADLINE = "市气象台发布暴雨橙色预警信号"
INSTRUCTION = "请立即到岗到位，组织危险区域人员转移"


@pytest.fixture
def county(db: Database, clock: FixedClock) -> Database:
    """The small town, a leader-on-duty post (LEAD), and a second community with grid G03."""
    build_town(db, clock, officers=("A",), starts_on=date(2026, 11, 26))
    person(db, clock, "LEAD", TOWN, "shift_lead", "13900000001")
    add_post(db, clock, OPERATOR, "LD", "带班领导")
    add_rotation(
        db,
        clock,
        OPERATOR,
        "LD",
        people=["LEAD"],
        starts_on=date(2026, 11, 26),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    add_unit(db, clock, OPERATOR, NewUnit(OTHER, "和平社区", "community", parent=TOWN))
    add_unit(db, clock, OPERATOR, NewUnit("G03", "G03网格", "grid", parent=OTHER))
    person(db, clock, "SEC2", OTHER, "community_secretary", "13900000002")
    person(db, clock, "L3", "G03", "grid_leader", "13900000003")
    return db


def issue(
    db: Database,
    clock: FixedClock,
    *,
    severity: str = "Severe",
    event: str = "暴雨",
    codes: tuple[str, ...] = (COM,),
    polygons: tuple[tuple[tuple[float, float], ...], ...] = (),
    exercise: bool = False,
    expires_in: timedelta = timedelta(hours=6),
    instruction: str = INSTRUCTION,
) -> alerts.AlertRecord:
    spec = alerts.AlertSpec(
        event=event,
        severity=severity,
        urgency="Immediate",
        certainty="Likely",
        headline=HEADLINE,
        instruction=instruction,
        area_desc="幸福社区",
        area_codes=codes,
        polygons=polygons,
        expires=clock.now() + expires_in,
        exercise=exercise,
    )
    return alerts.issue(db, clock, OPERATOR, spec, sender_code="330106000000")


def keys(db: Database, record: Any, rules: WarningRules | None = None) -> set[str]:
    """Who a 叫应 of ``record`` calls at the test's start."""
    return {p.key for p in responsible(db, record, rules or WarningRules(), START)}


def lat_lon(ring: list[list[float]]) -> tuple[tuple[float, float], ...]:
    return tuple((lat, lon) for lon, lat in ring)


# --- who --------------------------------------------------------------------------------------


def test_an_area_code_calls_the_posts_and_the_covered_units_secretary_and_grid_leaders(
    county: Database, clock: FixedClock
) -> None:
    record = issue(county, clock, codes=(COM,))
    people = {p.key: p for p in responsible(county, record, WarningRules(), clock.now())}
    assert set(people) == {"LEAD", "A", "SEC", "L1", "L2"}
    assert any("LD" in why for why in people["LEAD"].why)
    assert people["SEC"].refs == (f"role:community_secretary@{COM}",)
    assert any(f"area code {COM}" in why for why in people["SEC"].why)
    assert any("幸福社区" in why for why in people["L1"].why)  # covered as part of the community
    # the other community, and the grid members, are not called
    assert not {"SEC2", "L3", "M1", "M2", "V1"} & set(people)


def test_a_county_code_covers_every_unit_under_it(county: Database, clock: FixedClock) -> None:
    record = issue(county, clock, codes=("330106",))
    assert keys(county, record) == {"LEAD", "A", "SEC", "L1", "L2", "SEC2", "L3"}
    assert significant_prefix("330106000000") == "330106"
    assert significant_prefix("330106001000") == "330106001"
    assert significant_prefix("33") == "33"
    assert significant_prefix("G01") is None
    assert significant_prefix("000000000000") is None


def test_a_polygon_covers_the_grids_whose_boundary_it_meets_and_their_community(
    county: Database, clock: FixedClock
) -> None:
    county.conn.execute(
        "UPDATE units SET boundary = ? WHERE code = 'G01'",
        (json.dumps({"type": "Polygon", "coordinates": [WEST]}),),
    )
    county.conn.execute(
        "UPDATE units SET boundary = ? WHERE code = 'G03'",
        (json.dumps({"type": "Polygon", "coordinates": [EAST]}),),
    )
    county.conn.commit()
    inner = [[120.052, 30.002], [120.058, 30.002], [120.058, 30.008], [120.052, 30.002]]
    record = issue(county, clock, codes=(), polygons=(lat_lon(inner),))
    people = {p.key: p for p in responsible(county, record, WarningRules(), clock.now())}
    assert set(people) == {"LEAD", "A", "L3", "SEC2"}
    assert any("polygon" in why for why in people["L3"].why)
    assert any("community of G03网格" in why for why in people["SEC2"].why)


def test_an_area_that_places_no_unit_calls_the_whole_jurisdiction(
    county: Database, clock: FixedClock
) -> None:
    record = issue(county, clock, codes=("440300",))
    assert keys(county, record) == {"LEAD", "A", "SEC", "L1", "L2", "SEC2", "L3"}


def test_without_a_leader_post_the_shift_lead_post_leads(db: Database, clock: FixedClock) -> None:
    build_town(db, clock, officers=("A",), starts_on=date(2026, 11, 26))
    add_post(db, clock, OPERATOR, "SL", "值班长")
    person(db, clock, "B", TOWN, "shift_lead", "13800138002")
    add_rotation(
        db,
        clock,
        OPERATOR,
        "SL",
        people=["B"],
        starts_on=date(2026, 11, 26),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    record = issue(db, clock)
    assert keys(db, record) == {"B", "A", "SEC", "L1", "L2"}
    mob = start_call(db, clock, OPERATOR, record.id, auto=False)
    root = next(n for n in get_tree(db, CALL_TREE) if n.parent_code is None)
    assert (root.kind, root.ref) == ("post", "SL")
    assert get_mobilization(db, mob).tree == CALL_TREE


def test_a_rule_per_event_chooses_its_roles_and_posts(county: Database, clock: FixedClock) -> None:
    rules = WarningRules(rules=(CallRule(event="暴雨预警", roles=("grid_leader",), posts=("DO",)),))
    rain = issue(county, clock, event="暴雨")
    assert keys(county, rain, rules) == {"A", "L1", "L2"}
    wind = issue(county, clock, event="大风")
    assert keys(county, wind, rules) == {"LEAD", "A", "SEC", "L1", "L2"}


# --- when -------------------------------------------------------------------------------------


def test_orange_starts_at_once_and_yellow_does_not(county: Database, clock: FixedClock) -> None:
    orange = issue(county, clock, severity="Severe")
    decision = maybe_start(county, clock, orange)
    assert decision.started and decision.mobilization_id is not None
    assert decision.to_json() == {
        "started": True,
        "reason": "started",
        "mobilization": decision.mobilization_id,
    }
    record = alerts.get_alert(county, orange.identifier)
    assert (record.call_state, record.call_reason) == ("started", "started")
    yellow = issue(county, clock, severity="Moderate", event="大风")
    skipped = maybe_start(county, clock, yellow)
    assert (skipped.started, skipped.reason) == (False, CallReason.BELOW_LEVEL)
    record = alerts.get_alert(county, yellow.identifier)
    assert (record.call_state, record.call_reason) == ("skipped", "below_level")
    assert CallReason.BELOW_LEVEL.label == "below the level that starts a call-and-answer"


def test_levels_per_event_type(county: Database, clock: FixedClock) -> None:
    rules = WarningRules(rules=(CallRule(event="暴雨", levels=("Moderate", "Severe", "Extreme")),))
    yellow_rain = issue(county, clock, severity="Moderate", event="暴雨")
    assert maybe_start(county, clock, yellow_rain, rules).started
    yellow_wind = issue(county, clock, severity="Moderate", event="大风")
    assert maybe_start(county, clock, yellow_wind, rules).reason is CallReason.BELOW_LEVEL


def test_an_exercise_alert_starts_only_when_configured(county: Database, clock: FixedClock) -> None:
    drill = issue(county, clock, exercise=True)
    assert maybe_start(county, clock, drill).reason is CallReason.EXERCISE
    again = issue(county, clock, exercise=True, codes=(OTHER,))
    decision = maybe_start(county, clock, again, WarningRules(exercise_calls=True))
    assert decision.started and decision.mobilization_id is not None
    assert get_mobilization(county, decision.mobilization_id).exercise
    progress = call_of(county, again.id)
    assert progress is not None and progress.exercise and progress.auto


def test_an_expired_alert_records_why_it_did_not_start(county: Database, clock: FixedClock) -> None:
    record = issue(county, clock, expires_in=timedelta(hours=1))
    clock.advance(hours=2)
    decision = maybe_start(county, clock, record)
    assert decision.reason is CallReason.EXPIRED and decision.mobilization_id is None
    assert decision.to_json() == {"started": False, "reason": "expired"}
    stored = alerts.get_alert(county, record.identifier)
    assert (stored.call_state, stored.call_reason) == ("skipped", "expired")
    assert call_of(county, record.id) is None
    # by hand, an officer may still call it
    mob = start_call(county, clock, OPERATOR, record.identifier, auto=False)
    progress = call_of(county, record.id)
    assert progress is not None and progress.mobilization_id == mob and not progress.auto


def test_an_update_while_its_call_runs_does_not_start_a_second(
    county: Database, clock: FixedClock
) -> None:
    first = issue(county, clock)
    assert maybe_start(county, clock, first).started
    spec = alerts.spec_of(first)
    update = alerts.update(
        county, clock, OPERATOR, first.identifier, spec, sender_code="330106000000"
    )
    assert maybe_start(county, clock, update).reason is CallReason.ALREADY_CALLING


def test_nobody_to_call_is_recorded_not_raised(db: Database, clock: FixedClock) -> None:
    record = issue(db, clock)  # an empty installation: no unit, no post, nobody
    decision = maybe_start(db, clock, record)
    assert decision.reason is CallReason.NOBODY
    assert alerts.get_alert(db, record.identifier).call_reason == "nobody"


# --- the mobilization -------------------------------------------------------------------------


def test_the_call_is_a_broadcast_over_its_own_tree_with_the_warnings_words(
    county: Database, clock: FixedClock
) -> None:
    record = issue(county, clock)
    mob_id = start_call(county, clock, OPERATOR, record.id, auto=False)
    mob = get_mobilization(county, mob_id)
    assert mob.mode is Mode.BROADCAST and mob.tree == CALL_TREE and not mob.exercise
    assert mob.message == f"【{Colour.ORANGE.label_zh}暴雨预警】{HEADLINE}。{INSTRUCTION}"
    tree = {n.code: n for n in get_tree(county, CALL_TREE)}
    assert (tree["root"].kind, tree["root"].ref) == ("post", "LD")
    assert tree["post-DO"].parent_code == "root"
    secretary = tree[f"community_secretary@{COM}"]
    assert secretary.parent_code == "post-DO"
    leader = tree["grid_leader@G01"]
    assert leader.parent_code == secretary.code
    assert [a.format() for a in leader.alternates] == [
        f"role:community_secretary@{COM}",
        "post:DO",
    ]
    assert leader.timeout_s == 300 and leader.repeats == 1
    # everyone is called at once
    sent = drive(county, clock)
    assert sorted(m.name for m in sent) == ["A", "L1", "L2", "LEAD", "SEC"]
    assert all(mob.message in m.text for m in sent)
    started = events(county, "alert_call_started")[-1]
    assert started["alert"] == record.identifier and started["mobilization"] == mob_id
    assert started["auto"] is False
    row = county.conn.execute(
        "SELECT alert_id, auto, exercise, started_by FROM call_answers WHERE mobilization_id = ?",
        (mob_id,),
    ).fetchone()
    assert tuple(row) == (record.id, 0, 0, OPERATOR)


def test_a_long_instruction_is_cut_to_the_sms_budget(county: Database, clock: FixedClock) -> None:
    record = issue(county, clock, instruction="请立即组织转移。" * 40)
    text = call_message(load_alert(county, record.id))
    from mobilization import sms_length

    assert sms_length(text).chars <= CALL_MESSAGE_UNITS
    assert text.startswith("【橙色暴雨预警】" + HEADLINE) and text.endswith("…")


def test_an_exercise_call_by_hand_marks_every_message(county: Database, clock: FixedClock) -> None:
    record = issue(county, clock, severity="Minor")
    mob = start_call(county, clock, OPERATOR, record.id, auto=False, exercise=True)
    assert get_mobilization(county, mob).exercise
    sent = drive(county, clock)
    assert sent and all("演练" in m.text for m in sent)


def test_silence_escalates_and_stays_on_the_silent_list(
    county: Database, clock: FixedClock
) -> None:
    record = issue(county, clock)
    mob = maybe_start(county, clock, record).mobilization_id
    assert mob is not None
    drive(county, clock)
    for key in ("LEAD", "A", "SEC", "L2"):
        code = code_of(county, mob, key)
        record_answer(county, clock, OPERATOR, yes=True, via="console", code=code)
    clock.advance(minutes=5)
    resent = drive(county, clock)
    assert [m.name for m in resent if m.kind == "notify"] == ["L1"]  # the repeat
    clock.advance(minutes=5)
    drive(county, clock)
    # L1 is silent after the repeat: the node escalated to the secretary, who said yes; L1 stays
    # silent, for the duty officer to phone
    assert states(county, mob)["L1"] == "escalated"
    silent = summary(county, mob, clock.now()).silent
    assert [p.name for p in silent] == ["L1"]
    progress = call_of(county, record.id)
    assert progress is not None
    assert (progress.counts.total, progress.counts.yes, progress.counts.silent) == (5, 4, 1)
    assert progress.answered == 4


def test_a_cancel_stops_the_call(county: Database, clock: FixedClock) -> None:
    record = issue(county, clock)
    mob = maybe_start(county, clock, record).mobilization_id
    assert mob is not None
    drive(county, clock)
    cancel = alerts.cancel(county, clock, OPERATOR, record.identifier, sender_code="330106000000")
    assert stop_for_cancel(county, clock, cancel) == 1
    assert get_mobilization(county, mob).state is MobilizationState.CANCELLED
    clock.advance(minutes=1)  # one message a minute to each person at most
    told = drive(county, clock)
    assert sorted(m.name for m in told if m.kind == "cancel") == ["A", "L1", "L2", "LEAD", "SEC"]
    progress = call_of(county, record.id)
    assert progress is not None and progress.stopped_at == clock.now() - timedelta(minutes=1)
    assert events(county, "alert_call_stopped")[-1]["mobilization"] == mob
    # again (the cancel received): nothing left to stop, and the decision says so
    decision = maybe_start(county, clock, cancel)
    assert decision.reason is CallReason.CANCEL_MESSAGE and decision.stopped == 0
    with pytest.raises(InvalidTransition):
        start_call(county, clock, OPERATOR, record.id, auto=False)


def test_a_call_tree_drill_exercises_the_call_over_the_whole_jurisdiction(
    county: Database, clock: FixedClock
) -> None:
    """A call-tree drill plan over a 叫应 tree of its own runs the 叫应 in exercise mode."""
    from drills.plans import add_plan
    from drills.runs import start_run

    # the leader and duty officer posts, two secretaries, three grid leaders
    assert build_call_tree(county, clock, OPERATOR, tree="jiaoying-drill") == 7
    plan = add_plan(
        county,
        clock,
        OPERATOR,
        code="JY-1",
        name="汛前叫应演练",
        kind="notification",
        scope=["node:root"],
        organizer="A",
        message="【演练】暴雨橙色预警叫应，请回复确认",
        tree="jiaoying-drill",
    )
    # a warning's call for one community does not narrow the drill's tree
    start_call(county, clock, OPERATOR, issue(county, clock).id, auto=False)
    drive(county, clock)
    run = start_run(county, clock, OPERATOR, plan)
    assert run.mobilization_id is not None
    mob = get_mobilization(county, run.mobilization_id)
    assert mob.exercise and mob.tree == "jiaoying-drill"
    # a drill walks the tree as a cascade: each level is called once the one above answers
    called: list[list[str]] = []
    for _level in range(4):
        clock.advance(minutes=1)  # one message a minute to each person at most
        sent = [m for m in drive(county, clock) if m.text.startswith("【演练")]
        called.append(sorted(m.name for m in sent))
        for m in sent:
            code = code_of(county, mob.id, m.name)
            record_answer(county, clock, OPERATOR, yes=True, via="console", code=code)
    assert called == [["LEAD"], ["A"], ["SEC", "SEC2"], ["L1", "L2", "L3"]]
