"""``dutydesk mobilize``, ``mobilization show|list|people|resend|cancel`` and ``ack``.

No engine runs in these tests: the commands write the mobilization and its first recipients,
and the engine's steps are driven by hand where a test needs people to have been called.
"""

from __future__ import annotations

import pytest

from contacts.people import NewPerson, add_person
from jurisdiction.units import NewUnit, add_unit
from mobilization import Delivery, Routing, claim_pending, process_due, record_deliveries
from store.clock import SystemClock
from store.db import connect
from tests.support.town import COM, TOWN


@pytest.fixture
def town(run):
    db = connect(run.db)
    clock = SystemClock()
    add_unit(db, clock, "t", NewUnit(TOWN, "城关街道", "township"))
    add_unit(db, clock, "t", NewUnit(COM, "幸福社区", "community", parent=TOWN))
    add_unit(db, clock, "t", NewUnit("G01", "一网格", "grid", parent=COM))
    for key, unit, role, phone in (
        ("A", TOWN, "duty_officer", "13800138001"),
        ("SEC", COM, "community_secretary", "13800138003"),
        ("L1", "G01", "grid_leader", "13800138004"),
        ("M1", "G01", "grid_member", "13800138005"),
        ("M2", "G01", "grid_member", "13800138006"),
    ):
        add_person(db, clock, "t", NewPerson(key, unit, phone, roles=[role]), key=key)
    db.close()
    return run


def send_all(run) -> None:
    db = connect(run.db)
    clock = SystemClock()
    process_due(db, clock)
    out, failed = claim_pending(db, clock, Routing())
    record_deliveries(db, clock, [Delivery(m.attempt_id, True) for m in out] + failed, Routing())
    db.close()


def test_mobilize_builds_the_tree_and_says_no_engine_runs(town) -> None:
    started = town("mobilize", "--grid", "G01", "--message", "防汛集结", "--mode", "broadcast")
    assert started.code == 0, started.err
    assert started.out.strip() == "1"
    assert "no engine is running" in started.err
    shown = town("mobilization", "show", "1", "--json").json()
    assert shown["state"] == "active" and shown["mode"] == "broadcast"
    assert shown["total"]["total"] == 3 and shown["total"]["queued"] == 3
    assert shown["groups"]["G01"]["total"] == 3


def test_people_are_masked_and_answers_recorded_by_code(town) -> None:
    town("mobilize", "--grid", "G01", "--message", "集合", "--mode", "broadcast", "--need", "1")
    send_all(town)
    people = town("mobilization", "people", "1", "--json", "--attempts").json()["items"]
    assert {p["phone"] for p in people} == {"138****8004", "138****8005", "138****8006"}
    assert all(p["state"] == "sent" and len(p["attempts"]) == 1 for p in people)
    code = next(p["code"] for p in people if p["key"] == "M1")
    answered = town("ack", code, "--eta", "12")
    assert answered.code == 0 and "M1: coming (first answer)" in answered.out
    changed = town("ack", code, "--no", "--json").json()
    assert changed["changed"] and changed["answer"] == "no"
    people = town("mobilization", "people", "1", "--json").json()["items"]
    after = {p["key"]: p["state"] for p in people}
    assert after["M1"] == "no"
    unknown = town("ack", "99999999")
    assert unknown.code == 2 and "ack code 99999999" in unknown.err
    bad_eta = town("ack", code, "--eta", "5000")
    assert bad_eta.code == 2 and "eta" in bad_eta.err


def test_show_lists_who_is_still_silent_and_for_how_long(town) -> None:
    town("mobilize", "--grid", "G01", "--message", "集合", "--mode", "broadcast")
    send_all(town)
    shown = town("mobilization", "show", "1")
    assert shown.code == 0, shown.err
    assert "still silent" in shown.out
    assert shown.out.count("0 min") >= 3  # L1, M1 and M2, called a moment ago
    for key in ("L1", "M1", "M2"):
        assert key in shown.out


def test_list_resend_and_cancel(town) -> None:
    # Both mobilizations call L1 at once: with no interval, neither waits for the other.
    with town.config.open("a", encoding="utf-8") as f:
        f.write("[mobilize]\ninterval_seconds = 0\n")
    town("mobilize", "--grid", "G01", "--message", "演练集合", "--exercise")
    town("mobilize", "--grid", "G01", "--message", "真实集合")
    send_all(town)
    listed = town("mobilization", "list", "--exercise", "--json").json()["items"]
    assert [m["id"] for m in listed] == [1] and listed[0]["exercise"]
    real = town("mobilization", "list", "--real", "--json").json()["items"]
    assert [m["id"] for m in real] == [2]
    assert "[EXERCISE]" in town("mobilization", "list").out
    resent = town("mobilization", "resend", "2")
    assert resent.code == 0 and "1 silent people" in resent.out
    cancelled = town("mobilization", "cancel", "2")
    assert cancelled.code == 0 and "1 people will be told" in cancelled.out
    again = town("mobilization", "cancel", "2")
    assert again.code == 2 and "cancelled" in again.err
    shown = town("mobilization", "show", "2")
    assert "cancelled" in shown.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("mobilize", "--message", "x"), "give --grid, --team or --tree"),
        (("mobilize", "--grid", "NOPE", "--message", "x"), "grid:NOPE has no node"),
        (("mobilize", "--grid", "G01", "--message", "  "), "message"),
        (("mobilize", "--grid", "G01", "--message", "x", "--need", "0"), "need"),
        (("mobilize", "--grid", "G01", "--message", "x", "--incident", "2026-999999"), "999999"),
        (("mobilization", "show", "7"), "mobilization 7 not found"),
    ],
)
def test_bad_input_is_one_clear_line(town, args: tuple[str, ...], message: str) -> None:
    result = town(*args)
    assert result.code != 0
    assert message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_preview_shows_who_and_the_sms_and_starts_nothing(town) -> None:
    shown = town(
        "mobilize", "--grid", "G01", "--message", "防汛集结", "--mode", "broadcast", "--preview"
    )
    assert shown.code == 0, shown.err
    assert "would call 3 people (一网格 3) · broadcast · REAL call-out" in shown.out
    assert "segments (UCS-2, 67 per segment)" in shown.out
    assert "防汛集结 回复" in shown.out
    as_json = town("mobilize", "--grid", "G01", "--message", "x", "--preview", "--json").json()
    assert as_json["people"] == 3 and as_json["groups"][0]["code"] == "G01"
    assert as_json["sms"]["encoding"] == "UCS-2" and as_json["sms"]["segments"] >= 2
    assert town("mobilization", "list", "--json").json()["items"] == []  # nothing started
    unknown = town("mobilize", "--grid", "G99", "--message", "x", "--preview")
    assert unknown.code == 2 and "grid:G99 has no node" in unknown.err


def test_a_second_mobilization_for_a_case_is_warned(town) -> None:
    case = town(
        "incident", "new", "--title", "河堤渗水", "--category", "natural_disaster", "--json"
    )
    assert case.code == 0, case.err
    number = str(case.json()["number"])
    first = town("mobilize", "--incident", number, "--grid", "G01", "--message", "x")
    assert first.code == 0 and "already running" not in first.err
    second = town("mobilize", "--incident", number, "--grid", "G01", "--message", "y")
    assert second.code == 0
    assert "mobilization #1 is already running for this case" in second.err
