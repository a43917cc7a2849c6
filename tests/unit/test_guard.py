"""The pieces of ``serve``'s guard on their own: the security ledger, the rate buckets, JSON depth.

The ledger's times are plain seconds here (the service hands it its clock's); what the real
server does with these pieces is proven in ``tests/e2e/test_http_security.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from console.http.common import MAX_JSON_DEPTH, json_depth_over, parse_json
from console.http.guard import Buckets
from console.http.security import (
    MAX_PERIOD_SOURCES,
    MAX_TRACKED,
    SUMMARY_EVERY_S,
    TOP_SOURCES,
    Failure,
    LockoutPolicy,
    ReplayGuard,
    SecurityLedger,
    address_source,
    phone_source,
)
from store.errors import InvalidInput
from store.masking import mask_phone

T0 = 1_780_000_000.0
PHONE = phone_source("+8613800138005")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def ledger(failures: int = 5, window_min: int = 10, lock_min: int = 10) -> SecurityLedger:
    policy = LockoutPolicy(failures, timedelta(minutes=window_min), timedelta(minutes=lock_min))
    return SecurityLedger(policy, lambda phone: mask_phone(phone, "CN"))


def test_five_wrong_codes_in_ten_minutes_lock_the_phone_for_ten_minutes() -> None:
    book = ledger()
    began = [book.failed(PHONE, Failure.BAD_CODE, T0 + i * 100) for i in range(5)]
    assert began == [False, False, False, False, True]
    assert book.locked(PHONE, T0 + 400) == pytest.approx(600)
    assert book.locked(PHONE, T0 + 999) is not None
    assert book.locked(PHONE, T0 + 1000) is None  # ten minutes after the fifth
    assert book.locked(phone_source("+8613800138006"), T0 + 500) is None


def test_wrong_codes_spread_over_more_than_the_window_do_not_lock() -> None:
    book = ledger()
    for i in range(20):
        assert not book.failed(PHONE, Failure.BAD_CODE, T0 + i * 160)  # 4 per 10:40
    assert book.locked(PHONE, T0 + 20 * 160) is None


def test_only_guesses_count_towards_a_phone_lock_and_links_lock_an_address_later() -> None:
    book = ledger()
    for i in range(20):
        book.failed(PHONE, Failure.LOCKED_OUT, T0 + i)
        book.failed(PHONE, Failure.RATE_LIMITED, T0 + i)
    assert book.locked(PHONE, T0 + 30) is None
    address = address_source("203.0.113.9")
    began = [book.failed(address, Failure.BAD_LINK, T0 + i) for i in range(50)]
    assert began.index(True) == 49  # ten times a phone's threshold: many share an address
    assert book.locked(address, T0 + 60) is not None


def test_one_summary_a_minute_at_most_with_the_top_sources_and_the_rest_counted() -> None:
    book = ledger()
    assert book.take_summary(T0) is None  # nothing counted: nothing to write
    for n in range(30):
        for _ in range(n + 1):
            book.failed(address_source(f"198.51.100.{n}"), Failure.BAD_LINK, T0)
    for _ in range(5):
        book.failed(PHONE, Failure.BAD_CODE, T0 + 1)
    first = book.take_summary(T0 + 2)
    assert first is not None
    assert first["failures"] == sum(range(1, 31)) + 5
    assert [s["source"] for s in first["sources"][:2]] == ["198.51.100.29", "198.51.100.28"]
    assert len(first["sources"]) == TOP_SOURCES
    assert first["others"]["sources"] == 30 + 1 - TOP_SOURCES
    assert (
        sum(s["failures"] for s in first["sources"]) + first["others"]["failures"]
        == (first["failures"])
    )
    assert first["lockouts"] == [{"source": "phone 138****8005", "until": _iso(T0 + 1 + 600)}]
    assert "13800138005" not in json.dumps(first)  # phones masked in the audit
    book.failed(PHONE, Failure.LOCKED_OUT, T0 + 3)
    assert book.take_summary(T0 + 3) is None
    assert book.take_summary(T0 + 2 + SUMMARY_EVERY_S - 1) is None
    second = book.take_summary(T0 + 2 + SUMMARY_EVERY_S)
    assert second is not None and second["failures"] == 1 and second["lockouts"] == []
    assert book.take_summary(T0 + 1000) is None  # nothing since
    book.failed(PHONE, Failure.LOCKED_OUT, T0 + 1001)
    assert book.take_summary(T0 + 1001, force=True) is not None  # on close


def test_memory_stays_bounded_whatever_the_number_of_sources() -> None:
    """An attacker with a /64 of IPv6 addresses must not grow the server's memory."""
    book = ledger()
    sources = 3 * MAX_TRACKED
    for n in range(sources):
        book.failed(address_source(f"2001:db8::{n:x}"), Failure.BAD_SIGNATURE, T0 + n * 1e-4)
    assert len(book._counts) == MAX_PERIOD_SOURCES
    assert len(book._history) <= MAX_TRACKED
    summary = book.take_summary(T0 + 10)
    assert summary is not None and summary["failures"] == sources
    assert summary["others"]["untold_sources"] is True
    assert len(json.dumps(summary)) < 5_000  # one small row, whatever came in


def test_a_signature_is_accepted_once_within_its_window() -> None:
    replays = ReplayGuard()
    assert replays.first_time("v1=aa", T0, 601)
    assert not replays.first_time("v1=aa", T0 + 600, 601)
    assert replays.first_time("v1=bb", T0 + 600, 601)
    assert replays.first_time("v1=aa", T0 + 602, 601)  # forgotten after the window: too old


def test_a_bucket_grants_a_burst_then_its_rate_and_forgets_the_oldest_address() -> None:
    buckets = Buckets(rate=10.0, burst=5, cap=3)
    assert [buckets.take("a", 0.0) for _ in range(5)] == [0.0] * 5
    assert buckets.take("a", 0.0) == pytest.approx(0.1)
    assert buckets.take("a", 0.1) == 0.0  # one token back after 0.1 s
    for address in ("b", "c", "d"):
        buckets.take(address, 0.2)
    assert len(buckets) == 3  # "a" was the least recently seen: forgotten
    assert buckets.take("a", 0.2) == 0.0


def test_deep_json_is_refused_before_it_is_parsed() -> None:
    """Before: ``json.loads`` of 100,000 ``[`` raised RecursionError: HTTP 500."""
    for depth in (MAX_JSON_DEPTH + 1, 1_000, 100_000):
        with pytest.raises(InvalidInput, match="nested too deeply"):
            parse_json(b"[" * depth)
    assert parse_json(b'{"a": [[1]], "b": "[[[[[[[[[[[[[[[[[[[[[[[[["}') == {
        "a": [[1]],
        "b": "[" * 25,
    }
    assert not json_depth_over('"\\"[[[[[[[[[[[[[[[[[[[[[["', 2)  # an escaped quote
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_json(b"{not json")
    with pytest.raises(InvalidInput, match="UTF-8"):
        parse_json(b"\xff")
