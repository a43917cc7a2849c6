"""Benchmark of the target picker and the likely-duplicates read at street scale.

The picker re-ranks the whole directory on every key the officer types (Chinese, pinyin,
initials: :func:`contacts.directory.match`), and the new-case form reads the likely duplicates
0.3 s after typing stops (:func:`incidents.duplicates.likely_duplicates`). Both must feel
instant. Measured against a baseline taken in the same run on the same data: the directory's
own read of the 10,000 people (one SELECT per kind, :func:`contacts.directory.entries`), which
the picker does once when it opens.

Targets (ratios, so a busy machine moves both sides), spellings cached: a keystroke that
matches (Chinese, pinyin, initials) ranks 10,000 people in at most half that one read (≤ 0.5×);
a typo that matches nobody (closeness computed for everyone, to offer the closest) in at most
1.5× — it runs in the picker's worker, never on the key. Printed too: the first spelling of
every name (once per console process, in the picker's worker) and a plain substring scan, the
least any "filter as you type" costs.

Not part of CI. Run from the repository root::

    python -m bench.pickers
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from contacts import directory
from store.db import connect, write

PEOPLE = 10_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
TYPO = "xyzzy"
QUERIES = ("l", "lj", "liuj", "liujing", "刘", "刘静", "jing", TYPO)
RUNS = 7


def best(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    """(min, median) seconds of ``runs`` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    db = connect()
    at = "2026-01-01T00:00:00Z"
    names = [
        SURNAMES[i % 20] + GIVEN[(i // 20) % 20] + GIVEN[(i // 400) % 20] for i in range(PEOPLE)
    ]
    with write(db):
        db.conn.executemany(
            "INSERT INTO people (key, name, active, skills, created_at, updated_at)"
            " VALUES (?, ?, 1, '[]', ?, ?)",
            [(f"K{i}", name, at, at) for i, name in enumerate(names)],
        )
    items = directory.entries(db, kinds=("person",))
    read, _median = best(lambda: directory.entries(db, kinds=("person",)))
    started = time.perf_counter()
    directory.match(items, "lj")  # spells every name once (cached for the process)
    spelled = time.perf_counter() - started
    print(f"{PEOPLE:,} people: directory read {read * 1000:.0f} ms, first spelling {spelled:.2f} s")

    floor, floor_med = best(lambda: [n for n in names if "刘" in n])
    print(f"floor: substring scan {floor * 1000:.2f} ms (median {floor_med * 1000:.2f})")
    worst = typo = 0.0
    for query in QUERIES:
        low, med = best(lambda query=query: directory.match(items, query))
        if query == TYPO:
            typo = low
        else:
            worst = max(worst, low)
        print(
            f"  match {query!r:>10}: {low * 1000:6.1f} ms (median {med * 1000:.1f})"
            f"  {low / floor:5.1f}x floor"
        )
    for what, took, target in (("a matching keystroke", worst, 0.5), ("a typo", typo, 1.5)):
        ratio = took / read
        verdict = "OK" if ratio <= target else "MISSED"
        print(
            f"{what}: {took * 1000:.1f} ms = {ratio:.2f}x the directory read"
            f" (target <= {target}x): {verdict}"
        )


if __name__ == "__main__":
    main()
