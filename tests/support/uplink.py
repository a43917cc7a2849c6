"""Provides what the uplink's end-to-end tests share: nodes, units, activity, convergence.

A :class:`Node` is one dutydesk installation in a directory of its own — its database, its
configuration, its ``dutydesk serve`` process (:class:`tests.support.serve.Serve`): a
township (``[uplink]`` pointing at a hub, through a fault proxy), a hub (``[hub] enabled``),
or both at once (a county: a hub for its townships and a unit of the city).
:func:`uplink_table` is the ``[uplink]`` of a township with a short timeout and a backoff
capped at a second or two: the retries of a minutes-long outage happen in seconds (the
compressed clock of these tests; the schedule is the same, only its cap is smaller).

:func:`register_unit` registers a unit at a hub with the real CLI (``dutydesk hub unit add
CODE --name N --json``) and :func:`write_token` puts its token in a file only its owner may
read. :class:`Activity` is a duty office at work on a township's database (a second
connection beside the running serve: WAL): cases reported and walked along the closed loop,
edited, parked, voided, merged.

:func:`convergence_problems` is the core check and :func:`assert_converged` waits for it to
find nothing: every township case is at the hub with the same title, severity, stage,
deadline and active flag (read through :func:`uplink.hub.cases`), the hub has no case the
township lacks unless it is flagged lost, the township's outbox has no backlog and no dead
letter, and, per subject, the events the hub applied are exactly the township's sent events,
same ids in the same seq order (0 lost, 0 duplicates, order kept), with the hub's stored
events numbered 1..n (superseded ones included, after a restore), none left held, and each
hub case at the seq of its last applied event. The hub is read only through
:mod:`uplink.hub` (``cases``, ``case_timeline``, ``subject_events``, ``unit_state``); the
township's outbox, which no function lists whole, with a read of its table.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from incidents import workflow
from incidents.limits import Policy
from incidents.models import Incident, Stage
from incidents.records import (
    ListFilter,
    NewIncident,
    create_incident,
    get_incident,
    list_incidents,
)
from store.clock import Clock, SystemClock, from_iso
from store.db import Database, connect, connect_readonly
from store.errors import InvalidTransition, NotFound
from tests.support.domain import OPERATOR
from tests.support.serve import Serve, free_port, write_config
from tests.support.wait import wait_for
from uplink import hub
from uplink.models import subject_ref
from uplink.outbox import backlog, case_payload, local_subjects

_CLI = "import sys; from console.cli import main; main(sys.argv[1:])"


def dutydesk(
    db: Path, config: Path | None, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one ``dutydesk`` command on ``db`` (with ``config``) in a child process."""
    command = [sys.executable, "-c", _CLI, "--db", str(db)]
    if config is not None:
        command += ["--config", str(config)]
    done = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"dutydesk {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done


def _toml_tables(tables: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items() if v is not None)
        lines.append("")
    return "\n".join(lines)


def uplink_table(
    url: str,
    token_file: Path,
    unit: str,
    *,
    batch: int = 50,
    timeout_s: int = 1,
    backoff_max_s: int = 1,
    poll_s: int = 60,
) -> dict[str, Any]:
    """A township's ``[uplink]``: short timeout, backoff capped at ``backoff_max_s``, its
    inbox pulled every ``poll_s``."""
    return {
        "url": url,
        "token_file": str(token_file),
        "unit": unit,
        "batch": batch,
        "timeout_seconds": timeout_s,
        "backoff_max_seconds": backoff_max_s,
        "poll_seconds": poll_s,
    }


def hub_table(*, requests_per_minute: int = 100_000, rollup_seconds: int = 1) -> dict[str, Any]:
    """A hub's ``[hub]``: on, a rate no test reaches, roll-ups every second."""
    return {
        "enabled": True,
        "requests_per_minute": requests_per_minute,
        "rollup_seconds": rollup_seconds,
    }


def write_token(path: Path, token: str) -> Path:
    """``token`` in ``path``, readable by its owner only (replacing what was there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
    return path


class Node:
    """One dutydesk: ``root/name`` holds its database, configuration and serve log."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = self.dir / f"{name}.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.dir / "serve.log"
        self.config = self.dir / "config.toml"
        self.token_file = self.dir / "uplink-token"
        self.serve: Serve | None = None
        connect(self.db).close()  # created and migrated before anything reads it

    def configure(self, **tables: dict[str, Any] | None) -> Path:
        """Write the configuration: ``[serve]`` on this node's port, plus ``tables``."""
        path = write_config(self.dir, self.port)
        extra = _toml_tables({k: v for k, v in tables.items() if v is not None})
        with path.open("a", encoding="utf-8") as out:
            out.write("\n" + extra)
        return path

    def start(self, timeout: float = 30.0, until: tuple[str, ...] = ("here",)) -> Serve:
        """Start ``dutydesk serve``; returns once its engine's state is one of ``until``
        (``here``: it holds the lease; ``elsewhere``: it stands by, as after a SIGKILL until
        the dead engine's lease lapses, while its HTTP routes already serve)."""
        serve = self.serve = Serve(self.db, self.config, self.port, self.log)
        if until == ("here",):
            return serve.start(timeout)
        with self.log.open("ab") as log:
            serve.proc = proc = subprocess.Popen(
                serve._command(),
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

        def reached() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}:\n{self.log_text()}")
            try:
                return serve.health().get("engine") in until
            except (httpx.HTTPError, ValueError):
                return False

        wait_for(reached, timeout, f"serve's engine to be one of {until}", 0.1)
        return serve

    def kill(self) -> None:
        """SIGKILL: no clean stop, no lease given back."""
        assert self.serve is not None
        self.serve.kill()

    def stop(self) -> None:
        if self.serve is not None:
            self.serve.stop()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return dutydesk(self.db, self.config, *args, check=check)

    def sync_status(self) -> dict[str, Any]:
        """``dutydesk sync status --json`` of this node."""
        return dict(json.loads(self.cli("sync", "status", "--json").stdout))

    def log_text(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""


def register_unit(hub_node: Node, code: str, name: str) -> str:
    """Register ``code`` at the hub with the CLI; returns its token (printed once)."""
    done = hub_node.cli("hub", "unit", "add", code, "--name", name, "--json")
    answer = json.loads(done.stdout)
    assert answer["unit"] == code, answer
    token = answer["token"]
    assert isinstance(token, str) and token.startswith("ddh_"), answer
    return token


# --- a duty office at work ---------------------------------------------------------------------

_LOOP = (
    (Stage.REPORTED, "register"),
    (Stage.REGISTERED, "dispatch"),
    (Stage.DISPATCHED, "handle"),
    (Stage.HANDLING, "feedback"),
    (Stage.FEEDBACK, "verify"),
    (Stage.VERIFIED, "close"),
)


class Activity:
    """Work on a township's database through the domain functions.

    Args:
        db: the township's database: a file (opened as a second connection beside its
            running serve: WAL; not synced at each commit, a test's writer needs no
            durability) or an open connection.
        clock: the office's clock (the system's by default).
        seed: of the random choices of :meth:`churn`.
    """

    def __init__(self, db: Path | Database, clock: Clock | None = None, seed: int = 0) -> None:
        self._owns = not isinstance(db, Database)
        self.db = (
            db
            if isinstance(db, Database)
            else connect(db, busy_timeout=30.0, synchronous="NORMAL", migrate=False)
        )
        self.clock = clock or SystemClock()
        self.policy = Policy()
        self.rng = random.Random(seed)
        self.numbers: list[str] = []

    def close(self) -> None:
        if self._owns:
            self.db.close()

    def report(self, title: str, severity: str = "IV") -> Incident:
        incident = create_incident(
            self.db,
            self.clock,
            self.policy,
            OPERATOR,
            NewIncident(title=title, category="dispute", severity=severity),
        )
        self.numbers.append(incident.number)
        return incident

    def advance(self, number: str) -> bool:
        """Move the case one stage along the closed loop; False when it is finished."""
        incident = get_incident(self.db, number)
        actions = dict(_LOOP)
        action = actions.get(incident.stage)
        if action is None or incident.parked:
            return False
        db, clock, policy = self.db, self.clock, self.policy
        if action == "dispatch":
            workflow.dispatch(db, clock, policy, OPERATOR, number)
        elif action == "feedback":
            workflow.feedback(db, clock, policy, OPERATOR, number, "处理完毕")
        else:
            getattr(workflow, action)(db, clock, policy, OPERATOR, number)
        return True

    def edit(self, number: str, title: str) -> None:
        workflow.edit(self.db, self.clock, self.policy, OPERATOR, number, title=title)

    def churn(self, steps: int) -> int:
        """``steps`` random changes: new cases, stage moves, edits, parking, voids, merges.

        Returns how many changes were made (a step that finds nothing to do is skipped).
        """
        made = 0
        db, clock, policy, rng = self.db, self.clock, self.policy, self.rng
        for i in range(steps):
            roll = rng.random()
            if roll < 0.3 or not self.numbers:
                self.report(f"巡查发现问题{len(self.numbers) + 1}", rng.choice(["I", "III", "IV"]))
                made += 1
                continue
            number = rng.choice(self.numbers)
            try:
                if roll < 0.75:
                    made += self.advance(number)
                elif roll < 0.85:
                    self.edit(number, f"更新标题{i}")
                    made += 1
                elif roll < 0.92:
                    incident = get_incident(db, number)
                    if incident.parked:
                        workflow.unpark(db, clock, policy, OPERATOR, number)
                    else:
                        workflow.park(db, clock, policy, OPERATOR, number, "等待配合")
                    made += 1
                elif roll < 0.96:
                    workflow.void(db, clock, policy, OPERATOR, number, "误报")
                    made += 1
                else:
                    into = rng.choice(self.numbers)
                    if into == number:
                        continue
                    workflow.merge(db, clock, policy, OPERATOR, number, into)
                    made += 1
            except InvalidTransition:
                continue  # that case cannot do that now: an office would pick another
        return made


# --- convergence ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    seq: int
    event_id: str
    state: str  # applied | held | superseded


def _township_cases(db: Database, now: datetime) -> dict[str, Incident]:
    out: dict[str, Incident] = {}
    after: tuple[str, int] | None = None
    flt = ListFilter(parked=None, include_closed=True)
    while True:
        page = list_incidents(db, now, flt, after=after, limit=500)
        out.update((i.number, i) for i in page.items)
        if page.next_after is None:
            return out
        after = page.next_after


def _township_sent(db: Database) -> dict[str, list[tuple[int, str]]]:
    """Per subject, the township's sent events as (seq, id) in seq order."""
    sent: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for subject, seq, event_id in db.conn.execute(
        "SELECT subject, seq, event_id FROM uplink_outbox WHERE state = 'sent'"
        " ORDER BY subject, seq"
    ):
        sent[subject].append((int(seq), event_id))
    return sent


def _hub_received(hub_db: Database, unit: str, subjects: set[str]) -> dict[str, list[_Stored]]:
    """Per subject, every event the hub stored from ``unit`` (applied, held, superseded):
    cases through :func:`uplink.hub.case_timeline`, the other subjects (the unit itself,
    mobilizations, roll-ups) through :func:`uplink.hub.subject_events`."""
    out: dict[str, list[_Stored]] = {}
    for subject in sorted(subjects):
        if subject.startswith("case:"):
            try:
                timeline = hub.case_timeline(hub_db, unit, subject_ref(subject))
            except NotFound:
                continue
            stored = [_Stored(e.seq, e.event_id, e.state) for e in timeline]
        else:
            found = hub.subject_events(hub_db, unit, subject)
            stored = [_Stored(int(e["seq"]), str(e["id"]), str(e["state"])) for e in found]
        if stored:
            out[subject] = stored
    return out


def _hub_subjects(hub_db: Database, unit: str) -> set[str]:
    """Every subject of which the hub applied something from ``unit``."""
    subjects: set[str] = set()
    after: str | None = None
    while True:
        page = hub.unit_state(hub_db, unit, after=after, limit=5000)
        subjects.update(s.subject for s in page.subjects)
        if page.next is None:
            return subjects
        after = page.next


def convergence_problems(town: Database, central: Database, unit: str) -> list[str]:
    """What still differs between the township (``town``) and the hub's picture of it
    (``central``); empty when nothing does. Reads one snapshot of each database."""
    now = datetime.now(UTC)
    problems: list[str] = []
    town.conn.execute("BEGIN")
    central.conn.execute("BEGIN")
    try:
        cursor, newest = town.conn.execute(
            "SELECT (SELECT event_id FROM uplink_cursor WHERE id = 1), (SELECT max(id) FROM events)"
        ).fetchone()
        if (cursor or 0) < (newest or 0):
            problems.append(f"township timeline projected up to {cursor} of {newest}")
        pending, _oldest, dead = backlog(town)
        if pending:
            problems.append(f"township backlog: {pending} events not acknowledged")
        if dead:
            problems.append(f"township dead letters: {dead}")
        mine = _township_cases(town, now)
        at_hub = hub.cases(central, now, unit=unit, open_only=False, limit=1_000_000)
        theirs = {c.number: c for c in at_hub}
        for number, incident in mine.items():
            case = case_payload(incident, now, include_reporter=False)
            held = theirs.get(number)
            if held is None:
                problems.append(f"case {number}: not at the hub")
                continue
            deadline = from_iso(case["deadline"]) if case["deadline"] else None
            for name, want, got in (
                ("title", case["title"], held.title),
                ("severity", case["severity"], held.severity),
                ("stage", case["stage"], held.stage),
                ("category", case["category"], held.category),
                ("deadline", deadline, held.deadline),
                ("active", case["active"], held.active),
                ("lost", False, held.lost),
            ):
                if want != got:
                    problems.append(f"case {number}: {name} {got!r} at the hub, {want!r} here")
        for number, held in theirs.items():
            if number not in mine and not held.lost:
                problems.append(f"case {number}: at the hub (not lost), unknown to the township")
        sent = _township_sent(town)
        last = local_subjects(town)
        received = _hub_received(central, unit, _hub_subjects(central, unit) | set(last))
        ids: dict[str, str] = {}
        for subject, stored in received.items():
            for event in stored:
                if event.event_id in ids:
                    problems.append(f"event {event.event_id} stored twice at the hub")
                ids[event.event_id] = subject
            held_there = [e.seq for e in stored if e.state == "held"]
            if held_there:
                problems.append(f"{subject}: seq {held_there} still held at the hub")
            seqs = sorted(e.seq for e in stored if e.state != "held")
            if seqs != list(range(1, len(seqs) + 1)):
                problems.append(f"{subject}: the hub's seqs are {seqs}, not 1..{len(seqs)}")
            applied = [(e.seq, e.event_id) for e in stored if e.state == "applied"]
            if applied != sent.get(subject, []):
                problems.append(
                    f"{subject}: the hub applied {len(applied)} events, the township sent"
                    f" {len(sent.get(subject, []))}; first difference at"
                    f" {_first_difference(applied, sent.get(subject, []))}"
                )
            if subject.startswith("case:") and subject[5:] in theirs:
                top = max((e.seq for e in stored if e.state == "applied"), default=0)
                if theirs[subject[5:]].seq != top:
                    problems.append(
                        f"{subject}: the hub's case is at seq {theirs[subject[5:]].seq},"
                        f" its last applied event is {top}"
                    )
        for subject, events in sent.items():
            if subject not in received:
                problems.append(f"{subject}: {len(events)} events sent, none at the hub")
            elif last.get(subject) != max(s for s, _id in events):
                problems.append(
                    f"{subject}: numbered up to {last.get(subject)}, sent up to"
                    f" {max(s for s, _id in events)}"
                )
    finally:
        town.conn.execute("ROLLBACK")
        central.conn.execute("ROLLBACK")
    return problems


def _first_difference(a: list[tuple[int, str]], b: list[tuple[int, str]]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"#{i}: hub {x}, township {y}"
    return f"#{min(len(a), len(b))} (one list is longer)"


Source = Path | Database  # a database file (opened read-only at each look), or a connection


def _look(source: Source) -> tuple[Database, bool]:
    if isinstance(source, Database):
        return source, False
    return connect_readonly(source), True


def problems_between(township: Source, hub_db: Source, unit: str) -> list[str]:
    """:func:`convergence_problems` of two databases given as files or connections."""
    town, close_town = _look(township)
    try:
        central, close_hub = _look(hub_db)
        try:
            return convergence_problems(town, central, unit)
        finally:
            if close_hub:
                central.close()
    finally:
        if close_town:
            town.close()


def assert_converged(
    township: Source, hub_db: Source, unit: str, *, timeout: float = 30.0
) -> list[str]:
    """Wait until the hub's picture of ``unit`` equals the township (see the module docstring).

    Returns the township's case numbers (so a test can say how many converged).
    """
    seen: list[list[str]] = [[]]

    def converged() -> bool:
        seen[0] = problems_between(township, hub_db, unit)
        return not seen[0]

    try:
        wait_for(converged, timeout, f"the hub to converge on unit {unit}", 0.2)
    except AssertionError as exc:
        shown = "\n  ".join(seen[0][:25])
        more = f"\n  ... {len(seen[0]) - 25} more" if len(seen[0]) > 25 else ""
        raise AssertionError(f"{exc}; still different:\n  {shown}{more}") from None
    town, close = _look(township)
    try:
        return sorted(_township_cases(town, datetime.now(UTC)))
    finally:
        if close:
            town.close()
