"""Answers: by signed link, by SMS reply (with or without the code), by ack code; duplicates.

What ``tests/e2e`` proves over HTTP (403 for a forged link, a reply from the wrong number
refused, a second answer kept as a change) is proven here on the functions the endpoints call.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlite_utils import Database

from mobilization import (
    Answer,
    answer_by_sms,
    answer_by_token,
    called_by_token,
    check_token,
    get_mobilization,
    installation_secret,
    make_token,
    record_answer,
)
from store.clock import FixedClock
from store.errors import InvalidInput, NotFound, PermissionDenied
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import code_of, drive, events, start, states


def test_answers_keep_the_first_time_and_record_a_change(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    code = code_of(town_tree, mob, "L1")
    first = record_answer(town_tree, clock, OPERATOR, yes=False, via="cli", code=code)
    clock.advance(minutes=3)
    second = record_answer(town_tree, clock, OPERATOR, yes=True, via="cli", code=code)
    assert first.first and not second.first and second.changed
    assert second.answered_at == first.answered_at
    again = record_answer(town_tree, clock, OPERATOR, yes=True, via="cli", code=code)
    assert not again.first and not again.changed
    assert len(events(town_tree, "mobilization_answer")) == 1
    [change] = events(town_tree, "mobilization_answer_changed")
    assert (change["answer"], change["previous"]) == ("yes", "no")
    with pytest.raises(NotFound, match="ack code 0000"):
        record_answer(town_tree, clock, OPERATOR, yes=True, via="cli", code="0000")


def test_a_link_answered_twice_keeps_the_first_time(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01")
    token = drive(town_tree, clock)[0].ack_url.rsplit("/", 1)[1]
    first = answer_by_token(town_tree, clock, token, yes=False)
    clock.advance(seconds=30)
    changed = answer_by_token(town_tree, clock, token, yes=True)
    assert first.first and not first.changed
    assert changed.changed and changed.answered_at == first.answered_at
    assert first.to_json()["answer"] == "no" and changed.to_json()["answer"] == "yes"
    assert states(town_tree, mob)["L1"] == "yes"


def test_a_link_says_whom_it_calls_and_to_what(town_tree: Database, clock: FixedClock) -> None:
    """What the ack page shows before the answer: the name, the message, the answer so far."""
    mob = start(town_tree, clock, "grid:G01")
    token = drive(town_tree, clock)[0].ack_url.rsplit("/", 1)[1]
    called = called_by_token(town_tree, clock, token)
    assert called.mobilization.id == mob
    assert called.mobilization.message == get_mobilization(town_tree, mob).message
    assert (called.state, called.answered_at) == ("sent", None)
    answer_by_token(town_tree, clock, token, yes=True)
    again = called_by_token(town_tree, clock, token)
    assert (again.state, again.name) == ("yes", called.name)
    assert again.answered_at == clock.now()
    with pytest.raises(PermissionDenied):
        called_by_token(town_tree, clock, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))


def test_the_json_of_an_answer_has_one_shape(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    answer = record_answer(
        town_tree, clock, OPERATOR, yes=True, via="cli", code=code_of(town_tree, mob, "L1")
    )
    assert answer.to_json() == {
        "mobilization": mob,
        "recipient": answer.recipient_id,
        "name": "L1",
        "answer": "yes",
        "first": True,
        "changed": False,
        "answered_at": clock.now().isoformat(),
    }
    assert isinstance(answer, Answer)


def test_tokens_answer_once_signed_and_refuse_forgery_and_expiry(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    sent = drive(town_tree, clock)
    token = sent[0].ack_url.rsplit("/", 1)[1]
    answer = answer_by_token(town_tree, clock, token, yes=True)
    assert answer.yes and answer.name == "L1"
    forged = make_token(b"x" * 32, answer.recipient_id, clock.now() + timedelta(hours=1))
    with pytest.raises(PermissionDenied, match="bad signature"):
        answer_by_token(town_tree, clock, forged, yes=False, remote="127.0.0.1")
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(PermissionDenied):
        answer_by_token(town_tree, clock, altered, yes=False)
    expired = make_token(installation_secret(town_tree), answer.recipient_id, clock.now())
    with pytest.raises(PermissionDenied, match="expired"):
        answer_by_token(town_tree, clock, expired, yes=False)
    rejected = events(town_tree, "security_ack_token_rejected")
    assert len(rejected) == 3
    assert rejected[0]["remote"] == "127.0.0.1" and rejected[0]["token"] == forged[:12]
    assert "expired" in rejected[2]["reason"]
    # Nothing the refused links said was recorded.
    assert states(town_tree, mob)["L1"] == "yes"
    assert len(events(town_tree, "mobilization_answer")) == 1
    assert get_mobilization(town_tree, mob).state == "active"


def test_a_link_past_its_time_is_refused_and_audited(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    token = drive(town_tree, clock)[0].ack_url.rsplit("/", 1)[1]
    assert check_token(town_tree, clock, token) == 1
    clock.advance(hours=24, seconds=1)  # the links live a day by default
    with pytest.raises(PermissionDenied, match="expired"):
        answer_by_token(town_tree, clock, token, yes=True, remote="10.0.0.9")
    assert events(town_tree, "security_ack_token_rejected")[0]["remote"] == "10.0.0.9"
    assert states(town_tree, mob)["L1"] != "yes"


def test_sms_replies_with_and_without_code(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast")
    drive(town_tree, clock)
    code = code_of(town_tree, mob, "M1")
    assert answer_by_sms(town_tree, clock, "+8613800138005", f"{code} 收到").yes
    with pytest.raises(InvalidInput, match="was not sent to"):
        answer_by_sms(town_tree, clock, "13800138006", f"{code} 1")
    assert not answer_by_sms(town_tree, clock, "13800138006", "2").yes
    with pytest.raises(InvalidInput, match="not a reply"):
        answer_by_sms(town_tree, clock, "13800138006", "what?")
    assert states(town_tree, mob)["M1"] == "yes" and states(town_tree, mob)["M2"] == "no"


def test_an_sms_no_by_code_calls_the_alternate(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    answer = answer_by_sms(town_tree, clock, "+8613800138004", f"{code_of(town_tree, mob, 'L1')} 2")
    assert not answer.yes and answer.first
    assert [m.name for m in drive(town_tree, clock)] == ["SEC"]
    sec = code_of(town_tree, mob, "SEC")
    with pytest.raises(NotFound, match="ack code 99999999"):
        answer_by_sms(town_tree, clock, "13800138003", "99999999 1")
    eta = answer_by_sms(town_tree, clock, "13800138003", f"{sec} 1 15")
    assert eta.yes
    [sec_row] = [
        r
        for r in town_tree.conn.execute(
            "SELECT answer_via, eta_min FROM recipients WHERE ack_code = ?", (sec,)
        )
    ]
    assert tuple(sec_row) == ("sms", 15)


def test_an_sms_without_code_needs_exactly_one_open_call(
    town_tree: Database, clock: FixedClock
) -> None:
    start(town_tree, clock, "grid:G01", mode="broadcast", interval_s=0)
    start(town_tree, clock, "node:grid-G01-members", mode="broadcast", interval_s=0)
    drive(town_tree, clock)
    with pytest.raises(InvalidInput, match="2 open call-outs"):
        answer_by_sms(town_tree, clock, "13800138005", "1")
    assert answer_by_sms(town_tree, clock, "13800138004", "1").name == "L1"  # L1: one call
