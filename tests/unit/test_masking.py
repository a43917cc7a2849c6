"""Reporters' and staff phone numbers never reach the permanent audit log in full (issue 11, 11).

The attack before: ``incident new --phone 13800138000`` wrote the number whole into the
``reported`` event, an edit wrote old and new whole into ``edit``, a rotation or override of a
person keyed by their number wrote that key whole. The log is append-only and hash-chained:
once there, a number could never be erased. Each test greps the whole ``events`` table (every
column) for the digits.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlite_utils import Database

from contacts.people import NewPerson, add_person, edit_person
from contacts.roster import add_override, add_post, add_rotation
from incidents import workflow
from incidents.limits import Policy
from incidents.records import (
    NewIncident,
    create_incident,
    get_incident,
    record_reporter_phone_shown,
    timeline,
)
from store.audit import append_event, verify_chain
from store.clock import FixedClock, to_iso
from store.db import write
from store.masking import mask_phone
from tests.support.domain import OPERATOR

PHONE = "13800138000"
OTHER = "13912345678"


def digits_in_events(db: Database, digits: str) -> list[int]:
    """Ids of the events holding ``digits`` anywhere in any column."""
    rows = db.conn.execute("SELECT * FROM events").fetchall()
    return [row[0] for row in rows if digits in " ".join(str(v) for v in row)]


def test_mask_phone_hides_the_middle_and_is_idempotent() -> None:
    assert mask_phone(PHONE) == "138****8000"
    assert mask_phone("+86 138-0013-8000") == "138****8000"
    assert mask_phone(mask_phone(PHONE)) == "138****8000"
    assert mask_phone(None) == ""


def test_a_new_case_audits_the_reporter_phone_masked_and_keeps_it_whole_in_the_table(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case = create_incident(
        db,
        clock,
        policy,
        OPERATOR,
        NewIncident(title="t", category="accident_disaster", reporter_phone=PHONE),
    )
    assert digits_in_events(db, PHONE) == []
    assert timeline(db, case.id)[0].data["reporter_phone"] == "138****8000"
    # The table keeps the number: the duty office calls back.
    assert get_incident(db, case.id).reporter_phone == PHONE
    assert case.to_json(clock.now())["reporter_phone"] == "138****8000"
    assert case.to_json(clock.now(), unmasked=True)["reporter_phone"] == PHONE
    assert case.masked().reporter_phone == "138****8000"


def test_an_edit_of_the_reporter_phone_audits_old_and_new_masked(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case = create_incident(
        db,
        clock,
        policy,
        OPERATOR,
        NewIncident(title="t", category="accident_disaster", reporter_phone=PHONE),
    )
    workflow.edit(db, clock, policy, OPERATOR, case.id, reporter_phone=OTHER)
    assert digits_in_events(db, PHONE) == [] and digits_in_events(db, OTHER) == []
    change = timeline(db, case.id)[-1].data["changes"]["reporter_phone"]
    assert change == ["138****8000", "139****5678"]
    assert verify_chain(db).ok


def test_entries_written_before_masking_are_shown_masked(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    """A database from before the fix holds whole numbers; the timeline never shows them."""
    case = create_incident(db, clock, policy, OPERATOR, NewIncident(title="t", category="dispute"))
    with write(db):
        append_event(
            db,
            at=to_iso(clock.now()),
            operator=OPERATOR,
            kind="edit",
            incident_id=case.id,
            data={"changes": {"reporter_phone": [None, PHONE]}, "reporter_phone": PHONE},
        )
    entry = timeline(db, case.id)[-1]
    assert entry.data["changes"]["reporter_phone"] == [None, "138****8000"]
    assert entry.data["reporter_phone"] == "138****8000"


def test_an_unmasked_read_leaves_one_entry_naming_operator_and_case(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    case = create_incident(
        db,
        clock,
        policy,
        OPERATOR,
        NewIncident(title="t", category="dispute", reporter_phone=PHONE),
    )
    entry_id = record_reporter_phone_shown(db, clock, "王伟", "incident show", [case])
    row = db.conn.execute(
        "SELECT operator, kind, incident_id, data FROM events WHERE id = ?", (entry_id,)
    ).fetchone()
    assert row[:3] == ("王伟", "personal_data_shown", case.id)
    assert case.number in row[3] and PHONE not in row[3]


def test_roster_and_people_events_hold_no_whole_number(db: Database, clock: FixedClock) -> None:
    """A person added without a key is keyed by their number: rotations and overrides named
    that key whole in the log before."""
    person = add_person(db, clock, OPERATOR, NewPerson(name="张三", phone=PHONE))
    assert person.key == "+86" + PHONE
    add_post(db, clock, OPERATOR, "DO", "值班员")
    add_rotation(
        db,
        clock,
        OPERATOR,
        "DO",
        people=[person.key],
        starts_on=date(2026, 11, 26),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    start = clock.now() + timedelta(days=1)
    add_override(db, clock, OPERATOR, "DO", person.key, start, start + timedelta(hours=8), "swap")
    edit_person(db, clock, OPERATOR, person.id, phone=OTHER)
    assert digits_in_events(db, PHONE) == [] and digits_in_events(db, OTHER) == []
    assert digits_in_events(db, "138****8000")  # the events are there, masked
