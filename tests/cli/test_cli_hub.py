"""``dutydesk hub``: units and tokens, the overview, cases, a case's timeline, a unit's witness.

The events a township would POST are put into the hub's database with :func:`uplink.hub.ingest`
(the HTTP side has its own tests); everything else goes through the command line.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from store.clock import to_iso
from store.db import connect
from tests.support.domain import case_json
from uplink import hub
from uplink.models import Batch, Kind, Result, UplinkEvent

UNIT = "T1"


def add(run, code: str = UNIT, name: str = "城关镇") -> dict[str, Any]:
    result = run("hub", "unit", "add", code, "--name", name, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return data


def ingest(run, *events: UplinkEvent, unit: str = UNIT) -> list[Result]:
    """Put events into the hub's database as ``POST /v1/events`` would."""
    db = connect(run.db)
    try:
        results = hub.ingest(
            db,
            unit,
            Batch(unit, events),
            datetime.now(UTC),
            key=uuid.uuid4().hex,
            body_hash=uuid.uuid4().hex,
        )
    finally:
        db.close()
    return [r.result for r in results]


def case_event(number: str, seq: int, **fields: Any) -> UplinkEvent:
    case = case_json(number, **{"stage": "handling", **fields})
    change = {"kind": "handle", "stage_from": "dispatched", "stage_to": "handling"}
    return UplinkEvent(
        uuid.uuid4().hex,
        UNIT,
        f"case:{number}",
        seq,
        Kind.CASE_STAGE,
        to_iso(datetime.now(UTC)),
        {"change": change, "case": case},
    )


def test_a_unit_is_added_listed_revoked_and_rotated(run) -> None:
    text = run("hub", "unit", "add", UNIT, "--name", "城关镇")
    assert text.code == 0, text.err
    token = next(line.split()[-1] for line in text.out.splitlines() if line.startswith("token:"))
    assert token.startswith("ddh_")
    assert "shown only this once" in text.out
    second = add(run, "T2", "东街道")
    assert second["unit"] == "T2" and second["token"].startswith("ddh_")

    listed = run("hub", "unit", "list", "--json").json()["items"]
    assert [(u["code"], u["name"], u["revoked_at"]) for u in listed] == [
        (UNIT, "城关镇", None),
        ("T2", "东街道", None),
    ]
    assert token not in run("hub", "unit", "list", "--json").out
    table = run("hub", "unit", "list")
    assert "城关镇" in table.out and "never" in table.out

    revoked = run("hub", "unit", "revoke", UNIT)
    assert revoked.code == 0 and "revoked" in revoked.out
    db = connect(run.db)
    try:
        with pytest.raises(hub.Unauthorized) as refused:
            hub.authenticate(db, token, datetime.now(UTC))
    finally:
        db.close()
    assert refused.value.reason == "token revoked"
    assert "revoked" in run("hub", "unit", "list").out

    rotated = run("hub", "unit", "rotate", UNIT, "--json")
    assert rotated.code == 0, rotated.err
    fresh = rotated.json()["token"]
    assert fresh != token and rotated.json()["rotated_at"]
    db = connect(run.db)
    try:
        assert hub.authenticate(db, fresh, datetime.now(UTC)).code == UNIT
        with pytest.raises(hub.Unauthorized):
            hub.authenticate(db, token, datetime.now(UTC))
    finally:
        db.close()
    plain = run("hub", "unit", "rotate", "T2")
    assert "shown only this once" in plain.out and "ddh_" in plain.out


def test_bad_input_is_one_line_and_exit_2(run) -> None:
    add(run)
    cases = [
        (("hub", "unit", "add", UNIT, "--name", "again"), "unit T1 is already registered"),
        (("hub", "unit", "add", "bad/code", "--name", "x"), "code: must be 1-64 letters"),
        (("hub", "unit", "revoke", "T9"), "no unit T9 is registered at this hub"),
        (("hub", "unit", "rotate", "T9"), "no unit T9 is registered at this hub"),
        (("hub", "cases", "--unit", "T9"), "no unit T9 is registered at this hub"),
        (("hub", "timeline", "T9", "A-1"), "no unit T9 is registered at this hub"),
        (("hub", "timeline", UNIT, "A-1"), "nothing received about case A-1 from unit T1"),
        (("hub", "witness", "T9"), "no unit T9 is registered at this hub"),
        (("hub", "witness", UNIT), "no signed audit head received from unit T1 yet"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.code == 2, (args, result.err)
        assert message in result.err and "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert run("hub", "unit", "add", UNIT).code == 2  # --name is required


def test_the_units_overview_counts_and_flags_silence(run) -> None:
    assert "no units registered yet" in run("hub", "units").out
    add(run)
    add(run, "T2", "东街道")
    ingest(
        run,
        case_event("A-1", 1, severity="I", supervised=True),
        case_event("A-2", 1, severity="III"),
        case_event("A-3", 1, severity="III", active=False, stage="closed"),
    )
    run.config.write_text(  # a minute of silence is too long
        run.config.read_text(encoding="utf-8") + "[hub]\nsilent_minutes = 1\n", encoding="utf-8"
    )
    db = connect(run.db)
    try:
        db.conn.execute(
            "UPDATE hub_units SET created_at = ? WHERE code = 'T2'",
            (to_iso(datetime.now(UTC) - timedelta(hours=1)),),
        )
    finally:
        db.close()
    views = {v["unit"]: v for v in run("hub", "units", "--json").json()["items"]}
    assert views[UNIT]["open_cases"] == 2 and views[UNIT]["supervised"] == 1
    assert views[UNIT]["by_severity"] == {"I": 1, "II": 0, "III": 1, "IV": 0}
    assert (views[UNIT]["silent"], views["T2"]["silent"]) == (False, True)
    assert views[UNIT]["last_contact_at"] is not None
    table = run("hub", "units")
    assert table.code == 0
    [t2] = [line for line in table.out.splitlines() if line.startswith("T2")]
    assert "SILENT" in t2 and "never" in t2


def test_cases_lists_open_overdue_and_all(run) -> None:
    add(run)
    past = to_iso(datetime.now(UTC) - timedelta(hours=2))
    assert (
        ingest(
            run,
            case_event("A-1", 1, deadline=past),
            case_event("A-2", 1, severity="II"),
            case_event("A-3", 1, active=False, stage="closed"),
        )
        == [Result.ACCEPTED] * 3
    )
    overdue = run("hub", "cases", "--overdue", "--json").json()["items"]
    assert [(c["number"], c["overdue"], c["unit"]) for c in overdue] == [("A-1", True, UNIT)]
    assert overdue[0]["data"]["title"] == "3号楼火灾"
    open_ = [c["number"] for c in run("hub", "cases", "--unit", UNIT, "--json").json()["items"]]
    assert open_ == ["A-2", "A-1"]  # severity II first
    every = [c["number"] for c in run("hub", "cases", "--all", "--json").json()["items"]]
    assert sorted(every) == ["A-1", "A-2", "A-3"]
    table = run("hub", "cases")
    assert table.code == 0
    [line] = [line for line in table.out.splitlines() if "A-1" in line]
    assert "overdue" in line and "3号楼火灾" in line
    assert "A-3" not in table.out


def test_the_timeline_shows_what_was_received_in_order(run) -> None:
    add(run)
    second, first = case_event("A-1", 2, stage="feedback"), case_event("A-1", 1)
    assert ingest(run, second) == [Result.HELD]
    assert ingest(run, first) == [Result.ACCEPTED]
    events = run("hub", "timeline", UNIT, "A-1", "--json").json()["items"]
    assert [(e["seq"], e["id"], e["state"]) for e in events] == [
        (1, first.id, "applied"),
        (2, second.id, "applied"),
    ]
    table = run("hub", "timeline", UNIT, "A-1")
    assert table.code == 0 and "case_stage" in table.out and "applied" in table.out


def _dutydesk(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_witness_verifies_the_townships_chain(
    run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    town = ("--db", str(tmp_path / "town.db"), "--config", str(run.config))
    code, _out, err = _dutydesk(
        capsys, *town, "incident", "new", "--title", "3号楼火灾", "--category", "accident-disaster"
    )
    assert code == 0, err
    code, out, err = _dutydesk(capsys, *town, "audit", "head", "--json")
    assert code == 0, err
    head = json.loads(out)
    add(run)
    signed = UplinkEvent(uuid.uuid4().hex, UNIT, "unit", 1, Kind.AUDIT_HEAD, head["at"], head)
    assert ingest(run, signed) == [Result.ACCEPTED]

    witnessed = run("hub", "witness", UNIT)
    assert witnessed.code == 0, witnessed.err
    assert json.loads(witnessed.out) == head
    path = tmp_path / "witness.json"
    path.write_text(witnessed.out, encoding="utf-8")
    code, out, err = _dutydesk(capsys, *town, "audit", "verify", "--witness", str(path))
    assert code == 0, err
    assert f"witness: entry {head['last_id']} is in the chain as witnessed" in out
