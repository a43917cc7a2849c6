"""A dispatch reaching the field (uplink.field): who it goes to per target kind, the mobilization
and the case link in each call-out, accepting (case → handling), progress, photos, feedback
(case → feedback), declining, the acceptance overdue entry (once), links ending with the
dispatch, replayed forms, and links that are forged, expired or another person's."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident, get_incident
from mobilization import (
    MobilizationState,
    Routing,
    build_default_tree,
    claim_pending,
    get_mobilization,
    process_due,
    recipient_rows,
    release_claims,
)
from store.clock import FixedClock
from store.errors import InvalidInput, InvalidTransition
from store.keys import KeyRing, key_path_for, load_keys
from tests.support.domain import OPERATOR
from tests.support.town import build_town
from tests.unit.mobilization_support import drive, start
from uplink import field
from uplink.field_rules import FieldRules
from uplink.photos import Photo

BASE = "http://127.0.0.1:8470"
RULES = FieldRules()


def photo(seed: bytes = b"x") -> Photo:
    """A photo value as uplink.photos.ingest makes it (the bytes need not decode here: the
    domain records the hash, size and kind; the page writes the file)."""
    data = b"\xff\xd8" + seed * 100
    return Photo(data, hashlib.sha256(data).hexdigest(), "image/jpeg", 640, 480)


@pytest.fixture
def town(db: Database, clock: FixedClock) -> Database:
    build_town(db, clock, officers=("A",), starts_on=date(2026, 11, 20))
    return db


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing.ephemeral()


def new_case(db: Database, clock: FixedClock, policy: Policy, urgency: str = "normal") -> int:
    incident = create_incident(
        db,
        clock,
        policy,
        OPERATOR,
        NewIncident(
            title="东湖村后山山体滑坡",
            category="natural_disaster",
            type="geological",
            urgency=urgency,
            location="东湖村后山",
            lat=30.27,
            lon=120.15,
            grid="G01",
            reporter_name="张三",
            reporter_phone="13912345678",
        ),
    )
    wf.register(db, clock, policy, OPERATOR, incident.id)
    return incident.id


def dispatched(
    db: Database, clock: FixedClock, policy: Policy, to: str = "grid:G01", urgency: str = "normal"
) -> tuple[int, field.FieldDispatch]:
    case = new_case(db, clock, policy, urgency)
    wf.dispatch(db, clock, policy, OPERATOR, case, to)
    assert field.catch_up(db, clock, RULES, policy) == 1
    (only,) = field.dispatches_of(db, case)
    return case, only


def claim_of(
    db: Database, keys: KeyRing, clock: FixedClock, d: int, person: str
) -> field.LinkClaim:
    token = field.token_for(db, keys, d, person, clock.now())
    return field.read_link(keys, token, clock.now(), RULES)


def entries(db: Database, kind: str) -> list[dict[str, Any]]:
    rows = db.conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(r[0]) for r in rows]


def snapshot(db: Database) -> tuple[Any, ...]:
    return tuple(
        db.conn.execute(f"SELECT * FROM {t}").fetchall()
        for t in ("field_dispatches", "field_people", "field_updates", "incidents", "events")
    )


# --- who it goes to ----------------------------------------------------------------------------


def test_a_grid_dispatch_goes_to_its_leader_and_members_with_the_secretary_as_alternate(
    town: Database, clock: FixedClock, policy: Policy
) -> None:
    case, d = dispatched(town, clock, policy, "grid:G01")
    roles = {p.key: p.role for p in d.people}
    assert roles == {"L1": "leader", "M1": "member", "M2": "member", "SEC": "alternate"}
    assert d.target == "grid:G01" and d.state == "waiting"
    assert d.accept_by == clock.now() + timedelta(minutes=30)
    assert d.mobilization_id is not None
    mob = get_mobilization(town, d.mobilization_id)
    assert mob.incident_id is None and mob.state is MobilizationState.ACTIVE
    assert mob.id == d.mobilization_id and case == d.incident_id
    assert mob.message.startswith("【派遣】") and "东湖村后山" in mob.message
    assert "张三" not in mob.message and "13912345678" not in mob.message
    called = {r["key"] for r in recipient_rows(town, d.mobilization_id)}
    assert called == {"L1", "M1", "M2"}  # the alternate only when the leader is silent
    sent = entries(town, "field_sent")
    assert sent[-1]["sent_to"] == "G01网格" and sent[-1]["mobilization"] == d.mobilization_id
    assert set(sent[-1]["people"]) == {"L1", "M1", "M2", "SEC"}


def test_a_team_dispatch_goes_to_its_leader_with_the_members_as_alternates(
    town: Database, clock: FixedClock, policy: Policy
) -> None:
    _case, d = dispatched(town, clock, policy, "team:T-RESCUE")
    assert {p.key: p.role for p in d.people} == {"M1": "leader", "V1": "alternate"}


def test_the_office_gets_the_duty_officer_and_a_person_themselves(
    town: Database, clock: FixedClock, policy: Policy
) -> None:
    _case, d = dispatched(town, clock, policy, f"office:{policy.office_name}")
    assert [(p.key, p.role) for p in d.people] == [("A", "duty")]
    _case2, d2 = dispatched(town, clock, policy, "person:L2")
    assert [(p.key, p.role) for p in d2.people] == [("L2", "person")]


def test_an_urgent_case_has_the_short_acceptance_limit(
    town: Database, clock: FixedClock, policy: Policy
) -> None:
    _case, d = dispatched(town, clock, policy, urgency="urgent")
    assert d.accept_by == clock.now() + timedelta(minutes=10)


def field_routing(keys: KeyRing) -> Routing:
    """The engine's routing: a field call-out's link is the person's case link."""
    return Routing(keys=keys, link_for=partial(field.recipient_link, keys=keys, base_url=BASE))


def attempt_texts(db: Database) -> dict[str, str]:
    """Each claimed attempt's fixed text, by attempt id."""
    rows = db.conn.execute("SELECT id, text FROM attempts WHERE text IS NOT NULL")
    return {str(a): str(t) for a, t in rows}


def test_each_call_out_carries_the_persons_own_case_link_in_the_text_it_keeps(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    _case, d = dispatched(town, clock, policy)
    sent = drive(town, clock, routing=field_routing(keys))
    by_name = {m.name: m for m in sent if m.kind == "notify"}
    assert set(by_name) == {"L1", "M1", "M2"}
    kept = attempt_texts(town)
    for name, message in by_name.items():
        assert message.ack_url.startswith(f"{BASE}/case/") and message.text.endswith(
            message.ack_url
        )
        assert "/ack/" not in message.text
        assert kept[message.attempt_id] == message.text  # one truth: what is recorded is sent
        claim = field.read_link(keys, message.ack_url.rsplit("/", 1)[1], clock.now(), RULES)
        assert (claim.dispatch_id, claim.person_key) == (d.id, name)
        field.check_claim(town, claim)


def test_an_ordinary_call_out_keeps_its_ack_link(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    dispatched(town, clock, policy)  # an open field dispatch elsewhere changes nothing for it
    build_default_tree(town, clock, OPERATOR, timeout_s=300, repeats=1)
    mob = start(town, clock, "grid:G02")
    sent = [m for m in drive(town, clock, routing=field_routing(keys)) if m.kind == "notify"]
    ordinary = [m for m in sent if m.recipient_id in {r["id"] for r in recipient_rows(town, mob)}]
    assert ordinary
    kept = attempt_texts(town)
    for message in ordinary:
        assert message.ack_url.startswith(f"{BASE}/ack/") and message.text.endswith(message.ack_url)
        assert kept[message.attempt_id] == message.text and "/case/" not in message.text


def test_a_call_out_claimed_again_after_a_crash_is_the_same_text_and_link(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    dispatched(town, clock, policy)
    routing = field_routing(keys)
    process_due(town, clock)
    first, _failed = claim_pending(town, clock, routing)
    assert first and all("/case/" in m.ack_url for m in first if m.kind == "notify")
    assert release_claims(town) == len(first)  # the engine died before recording them
    clock.advance(minutes=1)
    again, _failed = claim_pending(town, clock, routing)
    assert [(m.attempt_id, m.text, m.ack_url) for m in again] == [
        (m.attempt_id, m.text, m.ack_url) for m in first
    ]


def test_a_recipient_not_yet_on_the_dispatch_is_added_as_an_alternate(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    _case, d = dispatched(town, clock, policy)
    assert d.mobilization_id is not None
    m2 = next(r for r in recipient_rows(town, d.mobilization_id) if r["key"] == "M2")
    town.conn.execute(
        "DELETE FROM field_people WHERE dispatch_id = ? AND person_key = 'M2'", (d.id,)
    )
    link = field.recipient_link(
        town, d.mobilization_id, m2["id"], clock.now(), keys=keys, base_url=BASE
    )
    assert link is not None and link.startswith(f"{BASE}/case/")
    claim = field.read_link(keys, link.rsplit("/", 1)[1], clock.now(), RULES)
    assert claim.person_key == "M2"
    (after,) = [x for x in field.dispatches_of(town, _case) if x.id == d.id]
    assert {p.key: p.role for p in after.people}["M2"] == "alternate"


def test_no_case_link_once_the_dispatch_is_accepted_or_for_a_stranger(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    _case, d = dispatched(town, clock, policy)
    assert d.mobilization_id is not None
    rid = int(recipient_rows(town, d.mobilization_id)[0]["id"])
    link = partial(field.recipient_link, town, keys=keys, base_url=BASE)
    assert link(d.mobilization_id, 10**6, clock.now()) is None  # not its recipient
    field.accept(town, clock, policy, claim_of(town, keys, clock, d.id, "M1"), form_id="f")
    assert link(d.mobilization_id, rid, clock.now()) is None  # the ack link, then


# --- accept, progress, photo, feedback ---------------------------------------------------------


def test_accept_progress_photo_feedback_move_the_case_through_handling_to_feedback(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    case, d = dispatched(town, clock, policy)
    claim = claim_of(town, keys, clock, d.id, "M1")
    view = field.field_view(town, claim, clock.now(), RULES)
    assert view.can_accept and not view.can_feedback and view.number
    assert view.map_url == "https://uri.amap.com/marker?position=120.150000,30.270000"
    assert "张三" not in repr(view) and "13912345678" not in repr(view)
    clock.advance(minutes=5)
    assert field.accept(town, clock, policy, claim, form_id="f1") is True
    incident = get_incident(town, case)
    assert incident.stage.value == "handling"
    handle = town.conn.execute(
        "SELECT operator FROM events WHERE kind = 'handle' AND incident_id = ?", (case,)
    ).fetchone()
    assert handle[0] == "field:M1"
    assert d.mobilization_id is not None
    assert get_mobilization(town, d.mobilization_id).state is MobilizationState.COMPLETED
    answers = {r["key"]: r["state"] for r in recipient_rows(town, d.mobilization_id)}
    assert answers["M1"] == "yes"
    assert field.add_progress(town, clock, policy, claim, text="已到现场", form_id="f2")
    assert field.add_photo(town, clock, policy, claim, photo=photo(), kind="before", form_id="f3")
    assert field.submit_feedback(town, clock, policy, claim, text="已清理塌方", form_id="f4")
    assert get_incident(town, case).stage.value == "feedback"
    (after,) = field.dispatches_of(town, case)
    assert after.accepted_by == "M1" and after.state == "accepted"
    assert [u.kind for u in after.updates] == ["accepted", "progress", "photo", "feedback"]
    pic = after.updates[2]
    assert pic.photo_sha256 == photo().sha256 and pic.photo_kind == "before"
    assert entries(town, "field_photo")[-1]["sha256"] == photo().sha256
    assert entries(town, "field_feedback")[-1]["person"] == "M1"
    assert field.has_photo(town, claim, photo().sha256)


def test_feedback_before_accepting_is_refused(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    case, d = dispatched(town, clock, policy)
    claim = claim_of(town, keys, clock, d.id, "M1")
    before = snapshot(town)
    with pytest.raises(InvalidTransition):
        field.submit_feedback(town, clock, policy, claim, text="done", form_id="f1")
    with pytest.raises(InvalidTransition):
        field.add_photo(town, clock, policy, claim, photo=photo(), kind="after", form_id="f2")
    assert snapshot(town) == before
    assert get_incident(town, case).stage.value == "dispatched"


def test_a_replayed_form_changes_nothing(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    _case, d = dispatched(town, clock, policy)
    claim = claim_of(town, keys, clock, d.id, "L1")
    assert field.accept(town, clock, policy, claim, form_id="same")
    assert field.add_progress(town, clock, policy, claim, text="一", form_id="p1")
    before = snapshot(town)
    assert field.add_progress(town, clock, policy, claim, text="一", form_id="p1") is False
    assert field.accept(town, clock, policy, claim, form_id="same") is False
    assert snapshot(town) == before


def test_photos_are_limited_per_person(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    _case, d = dispatched(town, clock, policy)
    claim = claim_of(town, keys, clock, d.id, "L1")
    field.accept(town, clock, policy, claim, form_id="a")
    rules = FieldRules(photo_max_count=2)
    for i in range(2):
        field.add_photo(
            town,
            clock,
            policy,
            claim,
            photo=photo(bytes([i])),
            kind="after",
            form_id=f"p{i}",
            rules=rules,
        )
    with pytest.raises(InvalidInput) as refused:
        field.add_photo(
            town, clock, policy, claim, photo=photo(b"z"), kind="after", form_id="p9", rules=rules
        )
    assert refused.value.field == "photo"
    with pytest.raises(InvalidInput) as bad_kind:
        field.add_photo(town, clock, policy, claim, photo=photo(), kind="selfie", form_id="k")
    assert bad_kind.value.field == "kind"


# --- decline and overdue -----------------------------------------------------------------------


def test_a_decline_answers_no_and_tells_the_officer_the_dispatch_stays_with_the_others(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    case, d = dispatched(town, clock, policy)
    claim = claim_of(town, keys, clock, d.id, "M2")
    with pytest.raises(InvalidInput):
        field.decline(town, clock, policy, claim, reason=" ", form_id="d0")
    assert field.decline(town, clock, policy, claim, reason="在外地", form_id="d1")
    assert entries(town, "field_declined")[-1]["reason"] == "在外地"
    assert d.mobilization_id is not None
    answers = {r["key"]: r["state"] for r in recipient_rows(town, d.mobilization_id)}
    assert answers["M2"] == "no"
    other = claim_of(town, keys, clock, d.id, "L1")
    assert field.field_view(town, other, clock.now(), RULES).can_accept
    assert get_incident(town, case).stage.value == "dispatched"


def test_not_accepted_in_time_writes_the_overdue_entry_once(
    town: Database, clock: FixedClock, policy: Policy
) -> None:
    case, d = dispatched(town, clock, policy)
    clock.advance(minutes=29)
    assert field.sweep(town, clock) == 0
    clock.advance(minutes=2)
    assert field.sweep(town, clock) == 1
    assert field.sweep(town, clock) == 0
    (overdue,) = entries(town, "field_accept_overdue")
    assert overdue["dispatch"] == d.id
    assert field.dispatches_of(town, case)[0].state == "overdue"


# --- links end with the dispatch ---------------------------------------------------------------


def test_a_return_ends_the_links_and_sends_the_case_again_and_closing_ends_them(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    case, d = dispatched(town, clock, policy)
    first = claim_of(town, keys, clock, d.id, "L1")
    field.accept(town, clock, policy, first, form_id="a")
    wf.return_case(town, clock, policy, OPERATOR, case, "派错网格")
    field.catch_up(town, clock, RULES, policy)
    with pytest.raises(field.LinkInvalid) as ended:
        field.field_view(town, first, clock.now(), RULES)
    assert ended.value.reason == "ended"
    again = field.dispatches_of(town, case)
    assert [(x.target, x.ended_reason) for x in again] == [
        ("grid:G01", "returned"),
        ("grid:G01", None),
    ]
    assert field.field_view(
        town, claim_of(town, keys, clock, again[1].id, "L1"), clock.now()
    ).can_accept
    assert field.catch_up(town, clock, RULES, policy) == 0
    all_ = again
    assert again[0].mobilization_id is not None
    assert get_mobilization(town, again[0].mobilization_id).state is not MobilizationState.ACTIVE
    # Accepted again, returned again: a third dispatch to the same grid.
    second = claim_of(town, keys, clock, all_[1].id, "M1")
    field.accept(town, clock, policy, second, form_id="b")
    wf.return_case(town, clock, policy, OPERATOR, case, "再派")
    field.catch_up(town, clock, RULES, policy)
    all_ = field.dispatches_of(town, case)
    assert [x.ended_reason for x in all_] == ["returned", "returned", None]
    team = claim_of(town, keys, clock, all_[2].id, "L1")
    field.accept(town, clock, policy, team, form_id="b")
    field.submit_feedback(town, clock, policy, team, text="处理完毕", form_id="c")
    wf.verify(town, clock, policy, OPERATOR, case)
    wf.close(town, clock, policy, OPERATOR, case)
    field.catch_up(town, clock, RULES, policy)
    assert field.dispatches_of(town, case)[-1].ended_reason == "closed"
    with pytest.raises(field.LinkInvalid):
        field.add_progress(town, clock, policy, team, text="x", form_id="d")


# --- refused links -----------------------------------------------------------------------------


def test_forged_expired_and_other_peoples_links_are_refused(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    _case, d = dispatched(town, clock, policy)
    _case2, other = dispatched(town, clock, policy, "grid:G02")
    token = field.token_for(town, keys, d.id, "L1", clock.now())
    body, mac = token.split(".")
    for bad in (body + "." + mac[:-2] + "AA", "x", token + "=", "a.b.c"):
        with pytest.raises(field.LinkInvalid):
            field.read_link(keys, bad, clock.now(), RULES)
    with pytest.raises(field.LinkInvalid) as foreign:
        field.read_link(KeyRing.ephemeral(), token, clock.now(), RULES)
    assert foreign.value.reason == "bad signature"
    with pytest.raises(field.LinkInvalid) as old:
        field.read_link(keys, token, clock.now() + timedelta(days=7), RULES)
    assert old.value.reason == "expired"
    # A person of another dispatch, and a right person with a made-up nonce: refused.
    stranger = field.LinkClaim(d.id, "L2", "nonce", clock.now())
    wrong_nonce = field.LinkClaim(other.id, "L2", "guess", clock.now())
    before = snapshot(town)
    for claim in (stranger, wrong_nonce):
        with pytest.raises(field.LinkInvalid) as refused:
            field.accept(town, clock, policy, claim, form_id="f")
        assert refused.value.reason == "unknown"
    assert snapshot(town) == before
    # A photo of another dispatch is not this link's to see.
    mine = claim_of(town, keys, clock, d.id, "L1")
    theirs = claim_of(town, keys, clock, other.id, "L2")
    field.accept(town, clock, policy, theirs, form_id="t")
    field.add_photo(town, clock, policy, theirs, photo=photo(b"b"), kind="after", form_id="u")
    assert not field.has_photo(town, mine, photo(b"b").sha256)


def test_csrf_tokens_are_bound_to_the_form_and_expire(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    _case, d = dispatched(town, clock, policy)
    claim = claim_of(town, keys, clock, d.id, "L1")
    form = field.new_form_id()
    csrf = field.make_csrf(keys, claim, form, clock.now())
    field.check_csrf(keys, claim, form, csrf, clock.now() + timedelta(hours=3))
    for bad_form, bad_token, at in (
        (form, None, clock.now()),
        (form, "", clock.now()),
        (field.new_form_id(), csrf, clock.now()),
        (form, csrf[:-3] + "AAA", clock.now()),
        (form, csrf, clock.now() + timedelta(hours=4)),
    ):
        with pytest.raises(field.CsrfInvalid):
            field.check_csrf(keys, claim, bad_form, bad_token, at)
    other = claim_of(town, keys, clock, d.id, "M1")
    with pytest.raises(field.CsrfInvalid):
        field.check_csrf(keys, other, form, csrf, clock.now())


def test_catch_up_is_durable_and_idempotent(
    town: Database, clock: FixedClock, policy: Policy
) -> None:
    case = new_case(town, clock, policy)
    wf.dispatch(town, clock, policy, OPERATOR, case, "grid:G01")
    wf.handle(town, clock, policy, OPERATOR, case)
    wf.return_case(town, clock, policy, OPERATOR, case, "错派")
    # Caught up only after the return: the first dispatch is recorded already ended, nobody
    # called for it; the return sends the case again.
    assert field.catch_up(town, clock, RULES, policy) == 2
    assert field.catch_up(town, clock, RULES, policy) == 0
    first, second = field.dispatches_of(town, case)
    assert first.ended_reason == "returned" and first.mobilization_id is None
    assert second.ended_reason is None and second.mobilization_id is not None


# --- the officer hears of it -------------------------------------------------------------------


def test_the_officer_gets_notices_for_accept_decline_feedback_and_overdue(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    from reports.notices import NoticeWatcher

    watcher = NoticeWatcher(town)
    watcher.prime()
    case, d = dispatched(town, clock, policy)
    number = get_incident(town, case).number
    field.decline(
        town, clock, policy, claim_of(town, keys, clock, d.id, "M2"), reason="在外地", form_id="x"
    )
    declined = [n for n in watcher.poll() if "Declined" in n.title]
    assert len(declined) == 1 and declined[0].bell and number in declined[0].title
    assert "在外地" in declined[0].message
    clock.advance(minutes=31)
    field.sweep(town, clock)
    (late,) = [n for n in watcher.poll() if "Not accepted" in n.title]
    assert late.bell and "G01网格" in late.message
    claim = claim_of(town, keys, clock, d.id, "L1")
    field.accept(town, clock, policy, claim, form_id="a")
    field.submit_feedback(town, clock, policy, claim, text="已清理", form_id="b")
    titles = [n.title for n in watcher.poll()]
    assert f"Accepted in the field: {number}" in titles
    assert f"Feedback from the field: {number}" in titles


def test_a_case_handled_before_the_catch_up_gets_links_but_no_call_out(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    case = new_case(town, clock, policy)
    wf.dispatch(town, clock, policy, OPERATOR, case, "grid:G01")
    wf.handle(town, clock, policy, OPERATOR, case)
    field.catch_up(town, clock, RULES, policy)
    (d,) = field.dispatches_of(town, case)
    assert d.mobilization_id is None and d.accepted_by == OPERATOR and d.people
    clock.advance(hours=1)
    assert field.sweep(town, clock) == 0  # nobody is supervised for it
    claim = claim_of(town, keys, clock, d.id, "L1")
    assert field.field_view(town, claim, clock.now()).can_accept
    field.accept(town, clock, policy, claim, form_id="a")
    field.submit_feedback(town, clock, policy, claim, text="已处理", form_id="b")
    assert get_incident(town, case).stage.value == "feedback"


def test_a_yes_by_sms_to_the_call_out_is_an_acceptance(
    town: Database, clock: FixedClock, policy: Policy, keys: KeyRing
) -> None:
    from mobilization import answer_by_sms

    case, d = dispatched(town, clock, policy)
    sent = drive(town, clock, routing=Routing(keys=keys))
    code = next(m.ack_code for m in sent if m.name == "M1")
    answer_by_sms(town, clock, "+8613800138005", f"{code} 1")
    assert field.accept_replies(town, clock, policy) == 1
    assert field.accept_replies(town, clock, policy) == 0
    (after,) = field.dispatches_of(town, case)
    assert after.accepted_by == "M1"
    assert entries(town, "field_accepted")[-1]["via"] == "sms"
    assert get_incident(town, case).stage.value == "handling"


def test_the_field_settings_are_read_and_checked() -> None:
    from console.config import parse_config
    from store.errors import DutydeskError

    config = parse_config("[field]\naccept_minutes = 20\nkeep_photo_location = true\n")
    assert config.field_rules.accept_minutes == 20 and config.field_rules.keep_photo_location
    assert config.field_rules.urgent_accept_minutes == 10
    assert config.field_rules.accept_limit("very_urgent") == 10
    assert config.field_rules.accept_limit("normal") == 20
    for bad in ("accept_minutes = 0", "link_days = true", "photo_count = 3"):
        with pytest.raises(DutydeskError) as refused:
            parse_config(f"[field]\n{bad}\n")
        assert "field" in str(refused.value)


def test_the_demo_sends_a_field_call_out_with_its_case_link(
    town: Database, clock: FixedClock, policy: Policy, tmp_path: Path
) -> None:
    from console.demo import DEMO_URL, _deliver, _routing

    _case, d = dispatched(town, clock, policy)
    _deliver(town, clock, _routing(tmp_path / "demo.db"))
    keys = load_keys(key_path_for(tmp_path / "demo.db"))  # the demo server's own key file
    kept = list(attempt_texts(town).values())
    assert len(kept) == 3 and all(f"{DEMO_URL}/case/" in t and "/ack/" not in t for t in kept)
    for text in kept:
        claim = field.read_link(keys, text.rsplit("/", 1)[1], clock.now(), RULES)
        assert claim.dispatch_id == d.id
