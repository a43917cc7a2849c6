"""A confirmed handover is an override of the roster for the rest of the shift; the brief's
"what changed" counts from the previous confirmed handover's own timeline entry.

The town's duty officer's post (DO) rotates daily at 08:00 between A and B from Thursday
2026-11-26; the clock stands at Thursday 10:00 in Shanghai, so A is on duty until Friday 08:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from console.acting import Acting, confirm_shift, shift_leads
from console.config import Config
from contacts.roster import add_post, add_rotation, holder, take_over
from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from incidents.supervision import case_changes, shift_handover
from incidents.workflow import register
from store.clock import FixedClock
from tests.support.domain import OPERATOR

FRIDAY_8 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


def test_the_incoming_officer_holds_the_post_until_the_shift_ends(
    town: Database, clock: FixedClock
) -> None:
    assert holder(town, "DO", clock.now()).person.key == "A"
    made = take_over(town, clock, "B", "DO", "B", "handover #1")
    assert made is not None and made.ends_at == FRIDAY_8
    now = holder(town, "DO", clock.now())
    assert (now.person.key, now.source) == ("B", "override")
    # Handed back later the same day: the rest of the same shift again.
    clock.advance(hours=3)
    back = take_over(town, clock, "A", "DO", "A", "handover #2")
    assert back is not None and back.ends_at == FRIDAY_8
    assert holder(town, "DO", clock.now()).person.key == "A"
    assert take_over(town, clock, "A", "DO", "A", "again") is None  # already holding it
    # From Friday 08:00 the rotation decides again (B's turn).
    assert holder(town, "DO", FRIDAY_8).person.key == "B"


def test_in_a_gap_the_take_over_lasts_until_the_next_shift(
    town: Database, clock: FixedClock
) -> None:
    add_post(town, clock, OPERATOR, "SL", "值班长")
    add_rotation(
        town,
        clock,
        OPERATOR,
        "SL",
        people=["SEC"],
        starts_on=datetime(2026, 11, 27).date(),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    made = take_over(town, clock, "A", "SL", "L1", "covering")
    assert made is not None and made.ends_at == FRIDAY_8
    assert holder(town, "SL", clock.now()).person.key == "L1"


def test_confirming_as_a_person_puts_them_on_duty(town: Database, clock: FixedClock) -> None:
    handed = shift_handover(town, clock, "A", "B")
    b = holder(town, "DO", FRIDAY_8).person  # B, as the roster holds them
    done, acting = confirm_shift(town, clock, Acting("B", b, "as"), None)
    assert done.id == handed.id and done.confirmed_by == "B"
    assert acting.source == "handover"
    assert holder(town, "DO", clock.now()).person.key == "B"


def test_the_shift_leads_come_from_the_post_unless_configured(
    town: Database, clock: FixedClock
) -> None:
    config = Config(path=None)
    assert shift_leads(town, config, clock.now()) == ()  # no SL post: anyone but the requester
    add_post(town, clock, OPERATOR, "SL", "值班长")
    add_rotation(
        town,
        clock,
        OPERATOR,
        "SL",
        people=["SEC", "L1"],
        starts_on=datetime(2026, 11, 1).date(),
        shift_start="08:00",
        shift_hours=24,
        zone="Asia/Shanghai",
    )
    assert shift_leads(town, config, clock.now()) == ("SEC", "L1")  # both, on shift or not
    configured = Config(path=None, policy=Policy(shift_leads=("陈队长",)))
    assert shift_leads(town, configured, clock.now()) == ("陈队长",)


def test_changes_count_from_the_handover_entry_even_in_the_same_second(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    def log(title: str) -> str:
        return create_incident(db, clock, policy, OPERATOR, NewIncident(title, "facilities")).number

    before = log("路灯不亮")
    moved = log("井盖缺失")
    handed = shift_handover(db, clock, "A", "B")
    clock.advance(minutes=1)
    confirm_shift(db, clock, Acting("B", None, "given"), handed.id)
    clock.set(handed.at)  # the same second as the handover, written after it
    fresh = log("3号楼火灾")
    register(db, clock, policy, "B", moved)
    changes = case_changes(db, clock.now() + timedelta(minutes=5))
    assert changes.handover_id == handed.id and changes.since == handed.at
    assert [c.number for c in changes.opened.items] == [fresh]
    assert [(c.number, c.was, c.stage.value) for c in changes.changed.items] == [
        (moved, "reported", "registered")
    ]
    assert before not in {c.number for c in changes.opened.items + changes.changed.items}
    assert changes.closed.total == 0
