"""``dutydesk field list CASE`` on the demo street: a case dispatched through the CLI reaches
the field on ``dutydesk sweep`` (people, state, deadline); links only with ``--links``, audited;
an unknown case exits 2; the demo's own field side (one case accepted with feedback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.context import keys_for
from console.demo import build_demo
from store.db import connect
from tests.cli.test_json_shapes import NOW, Desk, build_street, copy_street
from uplink import field


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_street(tmp_path_factory)


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole demo (240 cases): it has grid cases waiting and handled at its end."""
    folder = tmp_path_factory.mktemp("demo")
    build_demo(folder / "demo.db", now=NOW)
    return folder


@pytest.fixture
def desk(
    street: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> Desk:
    return copy_street(street, tmp_path, capsys, monkeypatch)


def audit_count(desk: Desk) -> int:
    db = connect(desk.db)
    try:
        row = db.conn.execute(
            "SELECT count(*) FROM events WHERE kind = 'personal_data_shown'"
        ).fetchone()
        return int(row[0])
    finally:
        db.close()


def test_a_dispatch_reaches_the_field_on_sweep_and_is_listed(desk: Desk) -> None:
    number = desk.case(("register",), ("dispatch", "--to", "grid:G01"))
    assert desk.ok("field", "list", number)["dispatches"] == []
    swept = desk.run("sweep")
    assert swept.code == 0 and "field" in swept.out
    data = desk.ok("field", "list", number)
    (dispatch,) = data["dispatches"]
    assert dispatch["target"] == "grid:G01" and dispatch["state"] == "waiting"
    assert dispatch["mobilization"] is not None
    roles = {p["role"] for p in dispatch["people"]}
    assert "leader" in roles or "member" in roles
    assert all("link" not in p for p in dispatch["people"])
    text = desk.run("field", "list", number)
    assert text.code == 0 and "grid:G01" in text.out and "/case/" not in text.out


def test_links_are_printed_only_with_links_and_audited(desk: Desk) -> None:
    number = desk.case(("register",), ("dispatch", "--to", "grid:G01"))
    desk.run("sweep")
    before = audit_count(desk)
    desk.ok("field", "list", number)
    assert audit_count(desk) == before
    data = desk.ok("field", "list", number, "--links")
    assert audit_count(desk) == before + 1
    person = data["dispatches"][0]["people"][0]
    link = person["link"]
    assert link.startswith("http://127.0.0.1:8470/case/")
    db = connect(desk.db)
    try:
        keys = keys_for(db, desk.db, load_config(desk.config))
        claim = field.read_link(keys, link.rsplit("/", 1)[1], data_now(data))
        field.check_claim(db, claim)
    finally:
        db.close()
    assert claim.person_key == person["person"]


def data_now(data: dict[str, Any]) -> Any:
    from store.clock import from_iso

    return from_iso(data["at"])


def test_an_unknown_case_exits_2(desk: Desk) -> None:
    result = desk.run("field", "list", "2026-999999")
    assert result.code == 2 and "Traceback" not in result.err


def test_the_demo_has_a_case_accepted_in_the_field_with_feedback(
    full_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    desk = copy_street(full_demo, tmp_path, capsys, monkeypatch)
    db = connect(desk.db)
    try:
        rows = db.conn.execute(
            "SELECT i.number, i.stage FROM field_updates u JOIN field_dispatches d"
            " ON d.id = u.dispatch_id JOIN incidents i ON i.id = d.incident_id"
            " WHERE u.kind = 'feedback'"
        ).fetchall()
    finally:
        db.close()
    assert rows and rows[0][1] == "feedback"
    data = desk.ok("field", "list", rows[0][0])
    kinds = [u["kind"] for u in data["dispatches"][-1]["updates"]]
    assert kinds == ["accepted", "progress", "feedback"]
    assert json.dumps(data, ensure_ascii=False).count("已处置完毕") == 1
