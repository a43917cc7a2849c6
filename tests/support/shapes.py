"""Provides grid shapes for the tests of the four grid rules: ``box``, ``layout``, ``CELL_M2``.

Shapes are drawn in steps of 0.001° around (120°E, 30°N): one step is about 96.4 m east-west
and 110.5 m north-south, so a 1 × 1 step cell is about 10,657 m² (``CELL_M2``). ``box`` is a
rectangle of steps as a GeoJSON polygon; ``layout`` adds a street, a 2 × 1 step community and
its grids to a database.
"""

from __future__ import annotations

import math

from sqlite_utils import Database

from jurisdiction.units import NewUnit, add_unit
from store.clock import Clock
from tests.support.domain import OPERATOR
from tests.support.town import COM, TOWN

STEP = 0.001
# Area of one step × one step cell under the grid check's local projection.
CELL_M2 = (STEP * 111_320 * math.cos(math.radians(30.0005))) * (STEP * 110_540)


def box(x0: float, y0: float, x1: float, y1: float) -> dict[str, object]:
    """The rectangle from step (x0, y0) to step (x1, y1) as a GeoJSON polygon."""
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return {
        "type": "Polygon",
        "coordinates": [[[120 + x * STEP, 30 + y * STEP] for x, y in ring]],
    }


def layout(
    db: Database,
    clock: Clock,
    grids: dict[str, dict[str, object]],
    *,
    register: tuple[str, ...] = (),
    community: dict[str, object] | None = None,
) -> None:
    """A street, a 2 × 1 step community, and its grids given as NewUnit keyword arguments."""
    add_unit(db, clock, OPERATOR, NewUnit(TOWN, "北山街道", "township"))
    add_unit(
        db,
        clock,
        OPERATOR,
        NewUnit(
            COM,
            "幸福社区",
            "community",
            TOWN,
            boundary=community or box(0, 0, 2, 1),
            addresses=register,
        ),
    )
    for code, fields in grids.items():
        values: dict[str, object] = {"households": 350, **fields}
        add_unit(db, clock, OPERATOR, NewUnit(code, f"{code}网格", "grid", COM, **values))  # type: ignore[arg-type]
