"""Progress: summaries and totals that agree, node states, people and attempts, the vocabulary.

The counts are what ``mobilization show``, the listings, the dashboard and the mobilization
screen print; the states' words come from :mod:`mobilization.vocabulary` in both languages.
"""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from mobilization import (
    AttemptKind,
    AttemptState,
    MobilizationState,
    Mode,
    NodeStatus,
    RecipientState,
    attempts_of,
    cancel_mobilization,
    get_mobilization,
    list_mobilizations,
    node_states,
    recipient_rows,
    record_answer,
    resend_silent,
    summary,
    totals,
)
from store.clock import FixedClock
from store.errors import NotFound
from store.i18n import CHINESE, set_language
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import code_of, drive, names, start


def test_resend_silent_and_summary(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast", exercise=True)
    sent = drive(town_tree, clock)
    assert all("演练" in m.text for m in sent)
    clock.advance(seconds=90)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="cli", code=code_of(town_tree, mob, "M1")
    )
    clock.advance(seconds=30)
    record_answer(
        town_tree, clock, OPERATOR, yes=False, via="cli", code=code_of(town_tree, mob, "M2")
    )
    assert resend_silent(town_tree, clock, OPERATOR, mob) == 2
    assert names(drive(town_tree, clock)) == ["L1", "V1"]
    s = summary(town_tree, mob, clock.now())
    assert (s.total.notified, s.total.yes, s.total.no, s.total.silent) == (4, 1, 1, 2)
    assert s.by_level[0].total == 1 and s.by_group["G01"].total == 4
    assert s.p50_s == 105.0 and s.p90_s == pytest.approx(117.0)
    assert [p.name for p in s.silent] == ["L1", "V1"]
    assert sum(s.answers_by_minute) == 2
    assert s.mobilization.exercise


def test_totals_agree_with_the_summary(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast")
    drive(town_tree, clock)
    record_answer(
        town_tree, clock, OPERATOR, yes=True, via="cli", code=code_of(town_tree, mob, "M1")
    )
    record_answer(
        town_tree, clock, OPERATOR, yes=False, via="cli", code=code_of(town_tree, mob, "M2")
    )
    assert totals(town_tree, mob) == summary(town_tree, mob, clock.now()).total
    cancel_mobilization(town_tree, clock, OPERATOR, mob)
    after = totals(town_tree, mob)
    assert after == summary(town_tree, mob, clock.now()).total
    assert (after.yes, after.no, after.cancelled, after.total) == (1, 1, 2, 4)


def test_nodes_people_and_attempts_are_read_as_the_domains_words(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    tree = {n.code: n for n in node_states(town_tree, mob)}
    assert tree["grid-G01"].state is NodeStatus.ACTIVE and tree["grid-G01"].counts.silent == 1
    assert tree["grid-G01-members"].state is NodeStatus.WAITING
    assert tree["grid-G01-members"].parent_id == tree["grid-G01"].id
    [row] = recipient_rows(town_tree, mob)
    assert row["state"] is RecipientState.SENT and row["key"] == "L1" and row["sends"] == 1
    [attempt] = attempts_of(town_tree, row["id"])
    assert attempt["kind"] is AttemptKind.NOTIFY and attempt["state"] is AttemptState.SENT
    mobilization = get_mobilization(town_tree, mob)
    assert mobilization.state is MobilizationState.ACTIVE and mobilization.mode is Mode.CASCADE
    with pytest.raises(NotFound, match="mobilization 99"):
        get_mobilization(town_tree, 99)


def test_listings_filter_by_state_and_exercise(town_tree: Database, clock: FixedClock) -> None:
    real = start(town_tree, clock, "grid:G01")
    drill = start(town_tree, clock, "grid:G02", exercise=True)
    cancel_mobilization(town_tree, clock, OPERATOR, real)
    assert [m.id for m in list_mobilizations(town_tree)] == [drill, real]
    assert [m.id for m in list_mobilizations(town_tree, exercise=True)] == [drill]
    assert [m.id for m in list_mobilizations(town_tree, state="cancelled")] == [real]
    assert list_mobilizations(town_tree, incident_id=1) == []


def test_the_vocabulary_has_one_word_per_state_in_each_language() -> None:
    assert RecipientState.NO_ANSWER.label == "no answer"
    assert NodeStatus.ACTIVE.label == "calling"
    assert AttemptState.PENDING.label == "waiting to send"
    set_language(CHINESE)
    assert RecipientState.YES.label == "到"
    assert Mode.CASCADE.label == "逐级"
    assert MobilizationState.COMPLETED.label == "已完成"
    for vocabulary in (MobilizationState, Mode, RecipientState, NodeStatus, AttemptKind):
        assert all(not member.label.isascii() for member in vocabulary), vocabulary
