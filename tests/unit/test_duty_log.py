"""The daily duty log: what it gathers for one local day, and its signature lines."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from contacts.roster import add_post, add_rotation
from incidents.limits import Policy
from incidents.models import Stage
from incidents.records import NewIncident, create_incident
from incidents.supervision import shift_handover
from reports.document import Figures, Signatures, Table
from reports.duty_log import build_duty_log
from reports.render import render
from store.clock import FixedClock
from store.db import connect
from store.i18n import set_language
from tests.conftest import OPERATOR, walk_to

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 26)


def test_cases_and_open_items(db, clock, make_case):
    make_case(Stage.CLOSED)
    open_case = make_case(Stage.DISPATCHED, title="南苑社区山体滑坡隐患")
    doc = build_duty_log(db, DAY, zone=ZONE, now=clock.now())
    assert doc.kind == "duty_log" and doc.masked
    figures = dict((label, value) for label, value, _note in doc.key_figures())
    assert figures["cases received"] == "2"
    assert figures["open, handed on"] == "1"
    tables = [b for b in doc.blocks if isinstance(b, Table) and b.header[0] == "case"]
    assert tables and tables[0].rows[0][0] == open_case.number
    assert isinstance(doc.blocks[-1], Signatures)
    assert [role for role, _name in doc.blocks[-1].lines] == ["duty officer", "shift lead"]


def test_other_day_is_empty(db, clock, make_case):
    make_case()
    doc = build_duty_log(db, DAY - timedelta(days=1), zone=ZONE, now=clock.now())
    assert isinstance(doc.blocks[0], Figures)
    assert dict((k, v) for k, v, _n in doc.key_figures())["cases received"] == "0"


GOLDENS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"


def office_day(db: Database, clock: FixedClock) -> None:
    """A small office's day: a roster (值班员 rotating, 值班长), a closed case, a serious open
    one past its deadline, a handover with its note."""
    for key, name in (("+8613800138001", "王伟"), ("lina", "李娜"), ("chen", "陈队长")):
        db.conn.execute(
            "INSERT INTO people (key, name, created_at, updated_at) VALUES (?,?,?,?)",
            (key, name, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        )
    add_post(db, clock, "t", "DO", "值班员")
    add_post(db, clock, "t", "SL", "值班长")
    for post, people in (("DO", ["+8613800138001", "lina"]), ("SL", ["chen"])):
        add_rotation(
            db, clock, "t", post, people=people, starts_on=date(2026, 11, 1),
            shift_start="08:00", shift_hours=24, zone="Asia/Shanghai",
        )  # fmt: skip
    policy = Policy()
    fire = create_incident(
        db, clock, policy, OPERATOR,
        NewIncident(title="3号楼火灾", category="accident_disaster", type="fire"),
    )  # fmt: skip
    walk_to(db, clock, policy, fire.id, Stage.CLOSED)
    clock.advance(hours=1)
    slide = create_incident(
        db, clock, policy, OPERATOR,
        NewIncident(title="南苑社区山体滑坡隐患", category="natural_disaster", type="other",
                    severity=2, source="hotline"),
    )  # fmt: skip
    walk_to(db, clock, policy, slide.id, Stage.DISPATCHED)
    clock.advance(hours=2)
    shift_handover(db, clock, OPERATOR, "李娜", "山体滑坡隐患继续跟进")
    clock.advance(hours=1)


def test_golden_markdown_and_html(db, clock) -> None:
    """The whole duty log of :func:`office_day`, as Markdown and HTML.

    Regenerate (after checking the difference is wanted) from the repository root::

        .venv/bin/python -c "from tests.unit.test_duty_log import regenerate; regenerate()"
    """
    office_day(db, clock)
    doc = build_duty_log(db, DAY, zone=ZONE, now=clock.now())
    for fmt in ("md", "html"):
        expected = (GOLDENS / f"duty_log.{fmt}").read_text(encoding="utf-8")
        assert normalized(render(doc, fmt), fmt) == expected, fmt


def normalized(page: bytes, fmt: str) -> str:
    """The page without its stylesheet (the renderer's look, tested with the renderer): the
    golden holds this report's content and structure."""
    text = page.decode("utf-8")
    if fmt == "html":
        text = re.sub(r"<style>.*?</style>", "<style></style>", text, flags=re.S)
    return text


def test_unmasked_shows_the_phone_key(db, clock) -> None:
    office_day(db, clock)
    masked = render(build_duty_log(db, DAY, zone=ZONE, now=clock.now()), "md").decode()
    shown = render(build_duty_log(db, DAY, zone=ZONE, now=clock.now(), masked=False), "md")
    assert "+8613800138001" not in masked and "138\\*\\*\\*\\*8001" in masked
    assert "+8613800138001" in shown.decode()


def regenerate() -> None:
    """Rewrite the duty log goldens (see :func:`test_golden_markdown_and_html`)."""
    from tests.support.domain import START

    set_language("en")
    db = connect()
    clock = FixedClock(START)
    office_day(db, clock)
    doc = build_duty_log(db, DAY, zone=ZONE, now=clock.now())
    for fmt in ("md", "html"):
        text = normalized(render(doc, fmt), fmt)
        (GOLDENS / f"duty_log.{fmt}").write_text(text, encoding="utf-8")
