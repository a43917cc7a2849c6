"""Provides a case dispatched to the field and a person's link to it, for the case-page tests.

The same landslide in ``grid`` (a lat/lon for the map link, a reporter the page must not show),
registered and dispatched there; the field's cursor run so the dispatch exists; then the link
of ``person``. Used by the unit tests of the page (``tests/unit/test_casepage.py``) and the
browser test (``tests/e2e/test_field_page.py``), each with its own words where they check them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from incidents.limits import Policy
from incidents.records import NewIncident, create_incident
from incidents.workflow import dispatch, register
from store.clock import Clock
from store.db import Database
from store.keys import KeyRing
from tests.support.domain import OPERATOR
from uplink import field
from uplink.field_rules import FieldRules


def dispatch_to_field(
    db: Database,
    clock: Clock,
    policy: Policy,
    rules: FieldRules,
    keys: KeyRing,
    *,
    grid: str,
    person: str,
    base: str,
    **incident: Any,
) -> tuple[int, int, str]:
    """(case id, dispatch id, ``person``'s link) of a new landslide dispatched to ``grid``;
    ``incident`` overrides the case's fields (description, location, lat/lon, reporter)."""
    values: dict[str, Any] = {
        "title": "东湖村后山山体滑坡",
        "category": "natural_disaster",
        "type": "geological",
        "urgency": "urgent",
        "grid": grid,
        "reporter_phone": "13912345678",
        **incident,
    }
    case = create_incident(db, clock, policy, OPERATOR, NewIncident(**values))
    register(db, clock, policy, OPERATOR, case.id)
    dispatch(db, clock, policy, OPERATOR, case.id, f"grid:{grid}")
    field.catch_up(db, clock, rules, policy)
    row = db.conn.execute(
        "SELECT id FROM field_dispatches WHERE incident_id = ? AND ended_at IS NULL", (case.id,)
    ).fetchone()
    now: datetime = clock.now()
    return case.id, int(row[0]), field.link_for(db, keys, int(row[0]), person, base, now)
