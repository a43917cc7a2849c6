"""Benchmark of ``grid check`` at county scale: 3,000 grids with polygons and addresses.

Builds an in-memory jurisdiction of 300 communities of 10 grids each (a 10 × 30 sheet of
communities, each tiled by a 5 × 2 block of grids, 20 addresses per grid), breaks it in a few
known places (one gap, one overlap, one duplicated address, one grid out of scale), and times
:func:`jurisdiction.gridcheck.check_grids` over the whole county and over one community. Then
the same for one community holding all 3,000 grids (the worst case for pairwise overlaps).

Not part of CI. Run from the repository root::

    python -m bench.gridcheck
"""

from __future__ import annotations

import json
import time

from jurisdiction.gridcheck import check_grids
from store.db import Database, connect, write

STEP = 0.001
AT = "2026-01-01T00:00:00Z"


def box(x0: float, y0: float, x1: float, y1: float) -> str:
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return json.dumps(
        {"type": "Polygon", "coordinates": [[[120 + x * STEP, 30 + y * STEP] for x, y in ring]]}
    )


def build(communities: list[tuple[int, int, int, int]], per: tuple[int, int]) -> Database:
    """Communities as (x, y, w, h) in steps, each tiled by ``per`` = (cols, rows) grids."""
    db = connect()
    cols, rows = per
    with write(db):
        db.conn.execute(
            "INSERT INTO units (id, code, name, level, valid_from, created_at, updated_at)"
            " VALUES (1, '330106001000', 't', 'township', ?, ?, ?)",
            (AT, AT, AT),
        )
        next_id = 2
        for n, (x, y, w, h) in enumerate(communities):
            comm_id = next_id
            next_id += 1
            db.conn.execute(
                "INSERT INTO units (id, code, name, level, parent_id, boundary, valid_from,"
                " created_at, updated_at) VALUES (?, ?, 'c', 'community', 1, ?, ?, ?, ?)",
                (comm_id, f"330106{n + 1:06d}", box(x, y, x + w, y + h), AT, AT, AT),
            )
            gw, gh = w / cols, h / rows
            for i in range(cols):
                for j in range(rows):
                    code = f"C{n:03d}G{i:02d}{j:02d}"
                    db.conn.execute(
                        "INSERT INTO units (id, code, name, level, parent_id, households,"
                        " boundary, valid_from, created_at, updated_at)"
                        " VALUES (?, ?, 'g', 'grid', ?, 400, ?, ?, ?, ?)",
                        (
                            next_id,
                            code,
                            comm_id,
                            box(x + i * gw, y + j * gh, x + (i + 1) * gw, y + (j + 1) * gh),
                            AT,
                            AT,
                            AT,
                        ),
                    )
                    db.conn.executemany(
                        "INSERT INTO unit_addresses (unit_id, address, valid_from) VALUES (?,?,?)",
                        [(next_id, f"{code}-{k}", AT) for k in range(20)],
                    )
                    next_id += 1
        # Known faults: a gap, an overlap, a duplicated address, a grid out of scale.
        db.conn.execute(
            "UPDATE units SET boundary = ? WHERE code = 'C000G0000'",
            (box(0, 0, 0.9 * communities[0][2] / cols, communities[0][3] / rows),),
        )
        if len(communities) < 4:
            return db
        db.conn.execute(
            "UPDATE units SET boundary = ? WHERE code = 'C001G0000'",
            (
                box(
                    communities[1][0],
                    communities[1][1],
                    communities[1][0] + 1.5 * communities[1][2] / cols,
                    communities[1][1] + communities[1][3] / rows,
                ),
            ),
        )
        db.conn.execute(
            "INSERT INTO unit_addresses (unit_id, address, valid_from)"
            " SELECT id, 'C000G0000-0', ? FROM units WHERE code = 'C002G0000'",
            (AT,),
        )
        db.conn.execute("UPDATE units SET households = 9 WHERE code = 'C003G0000'")
    return db


def timed(db: Database, community: str | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    found = check_grids(db, community=community)
    return time.perf_counter() - start, len(found)


def main() -> None:
    county = build([(x * 5, y * 2, 5, 2) for y in range(30) for x in range(10)], (5, 2))
    seconds, found = timed(county)
    print(f"county.300x10.check   {seconds * 1000:8.0f} ms  violations={found}")
    seconds, found = timed(county, "330106000001")
    print(f"county.one_community  {seconds * 1000:8.0f} ms  violations={found}")
    big = build([(0, 0, 50, 60)], (50, 60))
    seconds, found = timed(big)
    print(f"one.community.3000    {seconds * 1000:8.0f} ms  violations={found}")


if __name__ == "__main__":
    main()
