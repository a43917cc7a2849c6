"""Benchmark of the contacts import: 30,000 people across 3,000 grids, from a generated CSV.

Builds a database with one township, 300 communities and 3,000 grids (10 per community),
writes a people CSV of 30,000 rows (10 per grid, Chinese headers, roles and skills filled in),
and times :func:`contacts.importer.import_contacts` end to end: reading the file, validating
every row (phones through libphonenumber, units, duplicates, roles) and writing people, roles
and channels in one transaction. Against it, a raw ``sqlite3.executemany`` of the very same
people rows (already normalised, no validation, no roles or channels) into a fresh identical
schema, in the same run. Both databases are files with ``synchronous = FULL``, as in use.
Then a re-import of the same file (which must change nothing). Target: 30,000 rows within 10 s.

Also, as the issue asks of this benchmark: ``grid check`` over 3,000 grid polygons (the county
layout of ``bench.gridcheck``; target within 5 s), and the latency of ``duty now``
(:func:`contacts.roster.on_duty` over 5 posts with rotations of the imported people, p50/p95).

Not part of CI. Run from the repository root::

    python -m bench.contacts
    python -m bench.contacts --people 100000 --grids 10000
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file, this module's directory comes first on sys.path and its own name would
    # shadow the ``contacts`` package: put the repository root there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import csv  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from bench.gridcheck import build as build_county  # noqa: E402
from bench.gridcheck import timed as time_grid_check  # noqa: E402
from contacts.importer import import_contacts  # noqa: E402
from contacts.roster import add_post, add_rotation, on_duty  # noqa: E402
from store.clock import FixedClock  # noqa: E402
from store.db import Database, connect, write  # noqa: E402

AT = "2026-01-01T00:00:00Z"
TARGET_S = 10.0
GRID_CHECK_TARGET_S = 5.0
POSTS = (("DO", "值班员"), ("SL", "值班长"), ("DR", "司机"), ("MED", "医疗"), ("COM", "通信"))
ROLES = ("网格员", "网格长", "志愿者", "grid_member")
SKILLS = ("急救", "驾驶", "无人机", "")


def build_grids(db: Database, grids: int) -> list[str]:
    """A township, communities of 10 grids each, and the grids; returns the grid codes."""
    codes: list[str] = []
    with write(db):
        db.conn.execute(
            "INSERT INTO units (id, code, name, level, valid_from, created_at, updated_at)"
            " VALUES (1, '330106001000', '北山街道', 'township', ?, ?, ?)",
            (AT, AT, AT),
        )
        communities = (grids + 9) // 10
        db.conn.executemany(
            "INSERT INTO units (id, code, name, level, parent_id, valid_from, created_at,"
            " updated_at) VALUES (?, ?, ?, 'community', 1, ?, ?, ?)",
            [(2 + n, f"330106{n + 1:06d}", f"社区{n + 1}", AT, AT, AT) for n in range(communities)],
        )
        rows = []
        for g in range(grids):
            code = f"C{g // 10:04d}G{g % 10:02d}"
            codes.append(code)
            rows.append((code, f"{code}网格", 2 + g // 10, AT, AT, AT))
        db.conn.executemany(
            "INSERT INTO units (code, name, level, parent_id, households, valid_from,"
            " created_at, updated_at) VALUES (?, ?, 'grid', ?, 400, ?, ?, ?)",
            rows,
        )
    return codes


def person_rows(people: int, grids: list[str]) -> list[tuple[str, str, str, str, str, str]]:
    """(id, name, grid, phone as written, roles, skills) for each person."""
    out = []
    for n in range(people):
        phone = f"139{n:08d}"
        written = f"{phone[:3]} {phone[3:7]} {phone[7:]}" if n % 3 == 0 else phone
        out.append(
            (
                f"P{n:06d}",
                f"居民{n}",
                grids[n % len(grids)],
                written,
                f"{ROLES[n % 4]}、{ROLES[(n + 1) % 4]}" if n % 5 == 0 else ROLES[n % 4],
                SKILLS[n % 4],
            )
        )
    return out


def write_csv(path: Path, rows: list[tuple[str, str, str, str, str, str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["编号", "姓名", "所属单位", "电话", "角色", "技能"])
        writer.writerows(rows)


def raw_load(path: Path, rows: list[tuple[str, str, str, str, str, str]]) -> float:
    """Seconds for a raw executemany of the same people rows into a fresh identical schema."""
    db = connect(path)
    grids = {code: uid for uid, code in db.conn.execute("SELECT id, code FROM units")}
    db.close()
    tuples = [
        (key, name, grids.get(grid), "+86" + phone.replace(" ", ""), AT, AT)
        for key, name, grid, phone, _, _ in rows
    ]
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO people (key, name, unit_id, phone, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?)",
        tuples,
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def duty_now_latency(db: Database, clock: FixedClock) -> tuple[float, float]:
    """p50/p95 in ms of ``on_duty`` with every post on a daily rotation of imported people."""
    keys = [r[0] for r in db.conn.execute("SELECT key FROM people ORDER BY id LIMIT 70")]
    for n, (code, name) in enumerate(POSTS):
        add_post(db, clock, "bench", code, name)
        add_rotation(
            db,
            clock,
            "bench",
            code,
            people=keys[n * 14 : (n + 1) * 14],
            starts_on=datetime(2025, 1, 1).date(),
            shift_start="08:00",
            shift_hours=24,
            zone="Asia/Shanghai",
        )
    samples = []
    for minute in range(400):
        at = clock.now() + timedelta(minutes=37 * minute)  # spread over ten days
        start = time.perf_counter()
        on_duty(db, at)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.95)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--grids", type=int, default=3_000)
    args = parser.parse_args(argv)
    clock = FixedClock(datetime(2026, 11, 26, 2, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = connect(root / "import.db")
        grids = build_grids(db, args.grids)
        rows = person_rows(args.people, grids)
        source = root / "people.csv"
        write_csv(source, rows)
        raw_db = connect(root / "raw.db")
        build_grids(raw_db, args.grids)
        raw_db.close()

        start = time.perf_counter()
        report = import_contacts(db, clock, "bench", source)
        imported_s = time.perf_counter() - start
        added = report.total("added")
        start = time.perf_counter()
        again = import_contacts(db, clock, "bench", source)
        reimport_s = time.perf_counter() - start
        duty_ms = duty_now_latency(db, clock)
        db.close()
        raw_s = raw_load(root / "raw.db", rows)

    n = args.people
    print(f"file.rows {n} people across {args.grids} grids")
    print(f"import.seconds {imported_s:.2f} (added {added}, problems {len(report.problems)})")
    print(f"import.rows_per_s {n / imported_s:,.0f}")
    print(f"raw_executemany.seconds {raw_s:.3f}")
    print(f"raw_executemany.rows_per_s {n / raw_s:,.0f}")
    print(f"ratio import/raw {(n / imported_s) / (n / raw_s):.3f}")
    print(
        f"reimport.seconds {reimport_s:.2f} (added {again.total('added')}, updated"
        f" {again.total('updated')}, unchanged {again.total('unchanged')})"
    )
    county = build_county([(x * 5, y * 2, 5, 2) for y in range(30) for x in range(10)], (5, 2))
    grid_s, violations = time_grid_check(county)
    print(
        f"grid_check.seconds {grid_s:.2f} on 3,000 grid polygons (violations {violations})"
        f" target<={GRID_CHECK_TARGET_S:.0f}s {'OK' if grid_s <= GRID_CHECK_TARGET_S else 'FAIL'}"
    )
    p50, p95 = duty_ms
    print(f"duty_now p50={p50:.2f}ms p95={p95:.2f}ms ({len(POSTS)} posts)")
    ok = (
        grid_s <= GRID_CHECK_TARGET_S
        and imported_s <= TARGET_S
        and added == n
        and not report.problems
        and again.total("added") == again.total("updated") == 0
    )
    verdict = "PASS" if ok else "FAIL"
    print(
        f"VERDICT {verdict}: {n} rows imported in {imported_s:.2f} s (target <= {TARGET_S:.0f} s),"
        f" grid check {grid_s:.2f} s (target <= {GRID_CHECK_TARGET_S:.0f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
