"""What the command line shows people: words, not codes; times in the office's zone.

A case's timeline names its events (动员已启动, not ``mobilization_started``) and says what they
recorded without Python reprs (``targets=['grid:G01']``); the next steps are named in the chosen
language; ``grid check`` names its rules and the grids by name; a wrong category lists the
categories in people's words; ``mobilization people`` shows answers at local time. ``--json``
keeps the codes throughout.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from store.clock import from_iso
from tests.cli.test_json_shapes import MOBILIZE, Desk, build_street, copy_street

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def demo_street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_street(tmp_path_factory)


@pytest.fixture
def desk(
    demo_street: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> Desk:
    return copy_street(demo_street, tmp_path, capsys, monkeypatch)


def mobilized_case(desk: Desk) -> tuple[str, int]:
    number = desk.case(("register",))
    mob = int(desk.ok(*MOBILIZE, "--incident", number)["id"])
    return number, mob


def test_a_case_timeline_reads_as_words_in_chinese_and_keeps_codes_in_json(desk: Desk) -> None:
    number, _mob = mobilized_case(desk)
    desk.ok("incident", "dispatch", number, "--to", "grid:G01")
    shown = desk.run("--lang", "zh_CN", "incident", "show", number)
    assert shown.code == 0, shown.err
    text = shown.out
    assert "动员已启动" in text
    for code in ("mobilization_started", "['", "grid:G01", "targets=", "deadline=", "register →"):
        assert code not in text, (code, text)
    steps = text.split("可执行的下一步：")[1]
    assert "(handle)" in steps or "（handle）" in steps  # the command, beside its name
    assert not steps.strip().startswith("handle")  # the name first, in Chinese
    data = desk.ok("incident", "show", number)
    kinds = [e["kind"] for e in data["timeline"]]
    assert "mobilization_started" in kinds and "dispatch" in kinds
    started = next(e for e in data["timeline"] if e["kind"] == "mobilization_started")
    assert started["data"]["targets"] == ["grid:G01"]
    assert "handle" in data["allowed"]


def test_english_timeline_names_targets_and_deadlines(desk: Desk) -> None:
    number, mob = mobilized_case(desk)
    desk.ok("incident", "dispatch", number, "--to", "grid:G01")
    text = desk.run("--lang", "en", "incident", "show", number).out
    assert "mobilization started" in text and f"mobilization {mob}" in text
    assert "grid G01" in text and "deadline 2026-" in text
    assert "next steps: start handling (handle)" in text


def test_grid_check_names_rules_and_grids_and_json_keeps_the_ids(desk: Desk) -> None:
    checked = desk.run("--lang", "en", "grid", "check")
    assert checked.code == 1
    lines = checked.out.splitlines()[:-1]
    assert lines and all(
        line.split(":")[0] in ("moderate scale", "seamless coverage") for line in lines
    )
    assert not any(line.startswith(("scale:", "coverage:")) for line in lines)
    assert any("(G10)" in line for line in lines)  # a grid by its name, its code after it
    report = desk.run("grid", "check", "--json")
    assert {p["code"] for p in report.json()["problems"]} <= {"scale", "coverage"}


def test_a_wrong_category_lists_the_categories_in_words(desk: Desk) -> None:
    wrong = desk.run("--lang", "zh_CN", "incident", "new", "--title", "x", "--category", "foo")
    assert wrong.code == 2
    assert "自然灾害" in wrong.err and "natural-disaster" in wrong.err
    english = desk.run("--lang", "en", "incident", "new", "--title", "x", "--category", "foo")
    assert "accident or disaster (accident-disaster)" in english.err
    by_name = desk.run(
        "--lang", "en", "incident", "new", "--title", "x", "--category", "natural disaster",
        "--type", "snow and ice", "--json",
    )  # fmt: skip
    assert by_name.code == 0, by_name.err
    assert (by_name.json()["category"], by_name.json()["type"]) == ("natural_disaster", "snow_ice")


def test_mobilization_people_shows_answers_at_local_time(desk: Desk) -> None:
    _number, mob = mobilized_case(desk)
    row = desk.items("mobilization", "people", str(mob))[0]
    desk.ok("ack", str(row["code"]))
    answered = next(
        r for r in desk.items("mobilization", "people", str(mob)) if r["code"] == row["code"]
    )
    at = from_iso(answered["answered_at"])
    assert answered["answered_at"].endswith("Z")  # JSON: ISO-8601 with its offset
    shown = desk.run("--lang", "en", "mobilization", "people", str(mob)).out
    local = at.astimezone(ZONE).strftime("%H:%M:%S")
    line = next(line for line in shown.splitlines() if "answered" in line)
    assert f"answered {local}" in line
    if at.strftime("%H") != at.astimezone(ZONE).strftime("%H"):
        assert f"answered {at.strftime('%H:%M:%S')}" not in line


def test_an_edit_names_the_fields_changed_in_either_language(desk: Desk) -> None:
    number = desk.case()
    desk.ok("incident", "edit", number, "--title", "井盖缺失（已设警示）", "--urgency", "urgent")
    zh = desk.run("--lang", "zh_CN", "incident", "show", number).out
    assert "标题: 井盖缺失 → 井盖缺失（已设警示）" in zh and "紧急程度: 一般 → 紧急" in zh
    en = desk.run("--lang", "en", "incident", "show", number).out
    assert "Title: 井盖缺失 →" in en and "Urgency: normal → urgent" in en
    assert "title:" not in en and "urgency:" not in en
    edit = next(e for e in desk.ok("incident", "show", number)["timeline"] if e["kind"] == "edit")
    assert set(edit["data"]["changes"]) == {"title", "urgency"}  # JSON keeps the codes


def test_every_editable_field_has_a_name() -> None:
    """An edit's timeline line names the fields people changed, never their codes."""
    from incidents.models import FIELD_NAMES
    from incidents.workflow import EDITABLE

    assert set(FIELD_NAMES) == set(EDITABLE)
