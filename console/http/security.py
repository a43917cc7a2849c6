"""Provides :class:`SecurityLedger`: refusals counted in memory, lockouts, a summary a minute.

Every request ``dutydesk serve`` refuses for a security reason (a forged or expired link, a bad
inbound signature or a replay, a wrong reply code or hub token, a request over its rate, a lockout)
is counted here, never written one row at a time: an unauthenticated request must not be able to
grow the permanent log. The counts go into the audit log as at most one ``security_summary``
entry a minute (:data:`SUMMARY_EVERY_S`): the failures of the period by kind, the
:data:`TOP_SOURCES` sources with the most failures (client addresses, and phones masked as
everywhere else), an "others" count for the rest, and the lockouts that began, which the duty
officer's notices show (:mod:`reports.notices`).

Lockouts: ``lockout_failures`` wrong reply codes from one phone within ``lockout_window`` lock
that phone's replies for ``lockout_for`` (``[security]`` of the configuration). A client address
is locked the same way after :data:`ADDRESS_FACTOR` times as many refused links, signatures or
replays: many people may share one carrier address, and a link cannot be guessed anyway (its MAC
is 128 bits), so the address lock is a brake on floods, not on guessing.

Memory is bounded whatever arrives: at most :data:`MAX_PERIOD_SOURCES` sources are counted one
by one in a period (the rest in "others"), and at most :data:`MAX_TRACKED` sources keep a
failure history or a lock (the least recently seen is forgotten first). Times are seconds of
the service's clock (``clock.now().timestamp()``), so tests drive them.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

SUMMARY_KIND = "security_summary"  # the audit entry's kind (reports.notices reads it)
SUMMARY_EVERY_S = 60.0
TOP_SOURCES = 10
MAX_PERIOD_SOURCES = 1000
MAX_TRACKED = 10_000
LOCKOUTS_LISTED = 20
ADDRESS_FACTOR = 10

PHONE = "phone:"  # source keys: "phone:+8613800138000", "addr:203.0.113.9"
ADDRESS = "addr:"


class Failure(StrEnum):
    """Why a request was refused, as counted in the summary."""

    BAD_LINK = "bad_link"  # malformed, forged, altered or expired ack token
    BAD_SIGNATURE = "bad_signature"  # inbound request unsigned, badly signed or stale
    REPLAYED = "replayed"  # an inbound signature seen before within the window
    BAD_CODE = "bad_code"  # an SMS reply with an unknown code or another phone's code
    BAD_TOKEN = "bad_token"  # a hub request without a valid unit token (none, unknown, revoked)
    RATE_LIMITED = "rate_limited"  # over the per-address request rate (429)
    LOCKED_OUT = "locked_out"  # a request from a locked phone or address


# What counts towards a lockout, and of whom. A bad hub token locks nothing: a township with a
# revoked token keeps retrying and must keep hearing 401 (not 429) to show it, and many units
# may reach the hub through one proxy address; a token cannot be guessed (256 bits).
_PHONE_LOCKING = frozenset({Failure.BAD_CODE})
_ADDRESS_LOCKING = frozenset({Failure.BAD_LINK, Failure.BAD_SIGNATURE, Failure.REPLAYED})


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failures within which window lock a phone, and for how long."""

    failures: int = 5
    window: timedelta = timedelta(minutes=10)
    lock_for: timedelta = timedelta(minutes=10)


def phone_source(phone: str) -> str:
    return PHONE + phone


def address_source(address: str) -> str:
    return ADDRESS + (address[:64] or "?")


class SecurityLedger:
    """The counts of one server process; see the module docstring.

    Args:
        policy: the lockout thresholds.
        mask_phone: how a phone is shown in the audit (the usual mask).
    """

    def __init__(self, policy: LockoutPolicy, mask_phone: Callable[[str], str]) -> None:
        self.policy = policy
        self._mask_phone = mask_phone
        self._lock = threading.Lock()
        self._since: float | None = None  # start of the period being counted
        self._last_written: float | None = None
        self._counts: dict[str, Counter[str]] = {}
        self._others: Counter[str] = Counter()  # failures of sources past MAX_PERIOD_SOURCES
        self._history: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked: OrderedDict[str, float] = OrderedDict()  # source -> locked until
        self._begun: list[tuple[str, float]] = []
        self._begun_more = 0

    # --- counting

    def failed(self, source: str, kind: Failure, now: float) -> bool:
        """Count one refusal of ``source``; returns whether it began a lockout."""
        with self._lock:
            if self._since is None:
                self._since = now
            counts = self._counts.get(source)
            if counts is None:
                if len(self._counts) >= MAX_PERIOD_SOURCES:
                    self._others[kind] += 1
                else:
                    counts = self._counts[source] = Counter()
            if counts is not None:
                counts[kind] += 1
            return self._towards_lockout(source, kind, now)

    def _towards_lockout(self, source: str, kind: Failure, now: float) -> bool:
        if source.startswith(PHONE) and kind in _PHONE_LOCKING:
            limit = self.policy.failures
        elif source.startswith(ADDRESS) and kind in _ADDRESS_LOCKING:
            limit = self.policy.failures * ADDRESS_FACTOR
        else:
            return False
        if self._locked_until(source, now) is not None:
            return False
        window = self.policy.window.total_seconds()
        times = self._history.pop(source, None) or deque(maxlen=limit)
        times.append(now)
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) < limit:
            self._history[source] = times  # moved to the newest end
            while len(self._history) > MAX_TRACKED:
                self._history.popitem(last=False)
            return False
        until = now + self.policy.lock_for.total_seconds()
        self._history.pop(source, None)
        self._locked[source] = until
        while len(self._locked) > MAX_TRACKED:
            self._locked.popitem(last=False)
        if len(self._begun) < LOCKOUTS_LISTED:
            self._begun.append((source, until))
        else:
            self._begun_more += 1
        return True

    def locked(self, source: str, now: float) -> float | None:
        """Seconds left of ``source``'s lockout, or ``None`` when it is not locked."""
        with self._lock:
            until = self._locked_until(source, now)
            return None if until is None else until - now

    def _locked_until(self, source: str, now: float) -> float | None:
        until = self._locked.get(source)
        if until is None:
            return None
        if until <= now:
            del self._locked[source]
            return None
        return until

    # --- the summary

    def pending(self) -> bool:
        with self._lock:
            return self._since is not None

    def take_summary(self, now: float, *, force: bool = False) -> dict[str, Any] | None:
        """The data of the next ``security_summary`` entry, or ``None`` when none is due.

        One is due when something was counted and the last one was written at least
        :data:`SUMMARY_EVERY_S` ago (or ``force``: the server is closing). Taking it starts a new
        period; the caller writes it.
        """
        with self._lock:
            if self._since is None:
                return None
            if (
                not force
                and self._last_written is not None
                and now - self._last_written < SUMMARY_EVERY_S
            ):
                return None
            kinds: Counter[str] = Counter(self._others)
            for counts in self._counts.values():
                kinds.update(counts)
            ranked = sorted(self._counts.items(), key=lambda item: -item[1].total())
            top, rest = ranked[:TOP_SOURCES], ranked[TOP_SOURCES:]
            data: dict[str, Any] = {
                "from": _iso(self._since),
                "to": _iso(now),
                "failures": kinds.total(),
                "kinds": dict(sorted(kinds.items())),
                "sources": [
                    {
                        "source": self.shown(s),
                        "failures": c.total(),
                        "kinds": dict(sorted(c.items())),
                    }
                    for s, c in top
                ],
                # Sources past the top ones; those past MAX_PERIOD_SOURCES are not told apart.
                "others": {
                    "sources": len(rest),
                    "failures": sum(c.total() for _, c in rest) + self._others.total(),
                    **({"untold_sources": True} if self._others else {}),
                },
                "lockouts": [
                    {"source": self.shown(s), "until": _iso(until)} for s, until in self._begun
                ],
            }
            if self._begun_more:
                data["lockouts_more"] = self._begun_more
            self._since = None
            self._last_written = now
            self._counts = {}
            self._others = Counter()
            self._begun = []
            self._begun_more = 0
            return data

    def shown(self, source: str) -> str:
        """``source`` as the audit and the log show it (a phone masked)."""
        if source.startswith(PHONE):
            return "phone " + self._mask_phone(source[len(PHONE) :])
        return source.removeprefix(ADDRESS)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


class ReplayGuard:
    """The inbound signatures seen within the signature window, so each is accepted once.

    Only signatures that verified are remembered, so only the holder of the secret can fill
    it; it is bounded all the same (:data:`MAX_SIGNATURES`, the oldest forgotten first).
    """

    MAX_SIGNATURES = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # signature -> forget after

    def first_time(self, signature: str, now: float, keep_for: float) -> bool:
        """Remember ``signature`` for ``keep_for`` seconds; ``False`` when it was seen already."""
        with self._lock:
            while self._seen:
                oldest, until = next(iter(self._seen.items()))
                if until > now and len(self._seen) < self.MAX_SIGNATURES:
                    break
                del self._seen[oldest]
            if signature in self._seen:
                return False
            self._seen[signature] = now + keep_for
            return True
