"""Provides drill plans: what is exercised, by whom, and the objectives a run is measured against.

A plan is written once and run many times, so its mistakes are caught when it is written, not at
3 a.m. when a schedule fires it: the people it names are looked up the one way contacts names a
person and stored by key (a renamed person stays the same person), and a call-out plan's scope is
checked against the contact tree its runs will walk.

Objectives and injects are written in one line each, as the CLI and the TUI take them
(:func:`parse_objective`, :func:`parse_inject`)::

    answer_rate 90% 10m level=1: grid leaders answer within 10 minutes
    reach 100% 5m          first_answer 3m          milestone name=case logged 3m
    free: the command post coordinates well
    10m the river passes the warning level          show 25m the road is flooded (shown only)

Replacing a plan's objectives keeps the rows of those given again unchanged, so their ratings and
improvement items stay linked across an edit; the others are retired (kept for old ratings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from contacts.models import parse_labelled
from contacts.people import get_person
from contacts.phones import shown_key
from contacts.teams import get_team
from drills.models import (
    DEFAULT_REMINDERS_MIN,
    MAX_NAME,
    MAX_TEXT,
    PLAN_CODE_PATTERN,
    DrillKind,
    Hours,
    Inject,
    Metric,
    Objective,
    Plan,
    choice,
)
from jurisdiction.models import Level
from jurisdiction.units import get_unit
from mobilization import DEFAULT_TREE, MAX_MESSAGE, Target, TargetKind, get_tree
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, NotFound
from store.i18n import N_, _
from store.text import clean_text

MAX_MINUTES = 7 * 24 * 60  # an objective's time, an inject's offset: at most a week
MAX_REMINDER_MIN = 60 * 24 * 60  # a reminder at most 60 days before
MAX_LEVEL = 20
OBJECTIVE_SYNTAX = "METRIC [90%] [10m] [level=N] [name=WORDS] [: text]"
INJECT_SYNTAX = "[show] TIME TEXT"
EDITABLE = (
    "name",
    "kind",
    "scenario",
    "scope",
    "announced",
    "hours",
    "organizer",
    "evaluators",
    "participants",
    "message",
    "tree",
    "reminders_min",
    "injects",
    "objectives",
)

_CODE = re.compile(PLAN_CODE_PATTERN)
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|min|h)$")
_PER_MINUTE = {"s": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0}


# ------------------------------------------------------------------------------- objectives


@dataclass(frozen=True)
class ObjectiveSpec:
    """An objective as written, before it is stored (see :class:`drills.models.Metric`)."""

    metric: Metric
    text: str
    target: float | None = None
    within_min: float | None = None
    level: int | None = None
    name: str | None = None

    def objective(self, id: int = 0, position: int = 0) -> Objective:
        return Objective(
            id=id,
            position=position,
            text=self.text,
            metric=self.metric,
            target=self.target,
            within_min=self.within_min,
            level=self.level,
            name=self.name,
        )


def duration_min(token: str) -> float | None:
    """``90s``, ``10m``, ``10min``, ``1.5h`` in minutes; None when the token is not a time."""
    match = _DURATION.match(token.strip().lower())
    return float(match.group(1)) * _PER_MINUTE[match.group(2)] if match else None


def _parse_metric(token: str, field: str) -> Metric:
    value = token.strip().lower().replace("-", "_")
    try:
        return Metric(value)
    except ValueError:
        raise InvalidInput(
            _("unknown measure {metric!r}; use one of {metrics}").format(
                metric=token, metrics=", ".join(m.value for m in Metric)
            ),
            field,
        ) from None


def _once(found: dict[str, Any], key: str, value: Any, token: str, field: str) -> None:
    if key in found:
        raise InvalidInput(_("{token!r} is given twice").format(token=token), field)
    found[key] = value


def parse_objective(text: str, field: str = "objective") -> ObjectiveSpec:
    """An objective from its one-line form ``METRIC [90%] [10m] [level=N] [name=WORDS] [: text]``.

    The text after the colon is what reports show; it defaults to the measure in words
    (:meth:`drills.models.Objective.describe`). ``name=`` takes the words up to the next option.

    Raises:
        InvalidInput: naming ``field`` and what is wrong (an unknown measure, a missing target or
            time, an option the measure does not take, a value out of range).
    """
    head, _sep, free = (text or "").partition(":")
    tokens = head.split()
    if not tokens:
        raise InvalidInput(_("write {syntax}").format(syntax=OBJECTIVE_SYNTAX), field)
    metric = _parse_metric(tokens[0], field)
    found: dict[str, Any] = {}
    name_words: list[str] | None = None
    for token in tokens[1:]:
        percent = _PERCENT.match(token)
        minutes = duration_min(token)
        lowered = token.lower()
        if percent:
            target = float(percent.group(1))
            if not 0 < target <= 100:
                raise InvalidInput(
                    _("{token!r}: a percentage must be above 0 and at most 100").format(
                        token=token
                    ),
                    field,
                )
            _once(found, "target", target, token, field)
        elif minutes is not None:
            if not 0 < minutes <= MAX_MINUTES:
                raise InvalidInput(
                    _("{token!r}: a time must be above 0 and at most 7 days").format(token=token),
                    field,
                )
            _once(found, "within_min", minutes, token, field)
        elif lowered.startswith("level="):
            level = token.partition("=")[2]
            if not level.isdigit() or int(level) > MAX_LEVEL:
                raise InvalidInput(
                    _("{token!r}: the level is a tree level from 0 to {max}").format(
                        token=token, max=MAX_LEVEL
                    ),
                    field,
                )
            _once(found, "level", int(level), token, field)
        elif lowered.startswith("name="):
            name_words = [token.partition("=")[2]]
            _once(found, "name", name_words, token, field)
        elif name_words is not None:
            name_words.append(token)
        else:
            raise InvalidInput(
                _("{token!r} is not understood; write {syntax}").format(
                    token=token, syntax=OBJECTIVE_SYNTAX
                ),
                field,
            )
    name = " ".join(w for w in name_words or () if w) or None
    if name is not None:
        name = clean_text(name, field, kind="short")
    spec = ObjectiveSpec(
        metric=metric,
        text="",
        target=found.get("target"),
        within_min=found.get("within_min"),
        level=found.get("level"),
        name=name,
    )
    _check_measure(spec, "name" in found, field)
    words = clean_text(free, field, kind="note")
    if len(words) > MAX_TEXT:
        raise InvalidInput(
            _("the text is {length} characters long; at most {limit}").format(
                length=len(words), limit=MAX_TEXT
            ),
            field,
        )
    if metric is Metric.FREE and not words:
        raise InvalidInput(_("free needs its text after ':' (what the evaluator rates)"), field)
    return ObjectiveSpec(
        metric=metric,
        text=words or spec.objective().describe(),
        target=spec.target,
        within_min=spec.within_min,
        level=spec.level,
        name=spec.name,
    )


def _check_measure(spec: ObjectiveSpec, named: bool, field: str) -> None:
    """What each measure needs and refuses."""
    metric = spec.metric
    if metric is Metric.FREE and (
        spec.target is not None or spec.within_min is not None or spec.level is not None
    ):
        raise InvalidInput(
            _("free takes no target, time or level: write 'free: what is rated'"), field
        )
    if metric in (Metric.ANSWER_RATE, Metric.REACH):
        if spec.target is None:
            raise InvalidInput(
                _("{metric} needs a target such as 90%").format(metric=metric.value), field
            )
    elif spec.target is not None:
        raise InvalidInput(
            _("{metric} takes a time, not a percentage").format(metric=metric.value), field
        )
    if metric is not Metric.FREE and spec.within_min is None:
        raise InvalidInput(
            _("{metric} needs a time such as 10m").format(metric=metric.value), field
        )
    if spec.level is not None and metric is not Metric.ANSWER_RATE:
        raise InvalidInput(_("level= applies to answer_rate only"), field)
    if metric is Metric.MILESTONE and not spec.name:
        raise InvalidInput(_("milestone needs name=WORDS: the milestone the run records"), field)
    if named and metric is not Metric.MILESTONE:
        raise InvalidInput(_("name= applies to milestone only"), field)


def parse_inject(text: str, field: str = "inject") -> Inject:
    """An inject from ``[show] TIME TEXT``: sent to the participants ``TIME`` after the start
    (``10m``, ``1h``), or with ``show`` only shown on the console.

    Raises:
        InvalidInput: naming ``field``: no time, a time out of range, no text.
    """
    words = (text or "").split(maxsplit=1)
    send = True
    if words and words[0].lower() == "show":
        send = False
        words = words[1].split(maxsplit=1) if len(words) > 1 else []
    minutes = duration_min(words[0]) if words else None
    if minutes is None or len(words) < 2:
        raise InvalidInput(
            _("write {syntax}, e.g. '10m the river passes the warning level'").format(
                syntax=INJECT_SYNTAX
            ),
            field,
        )
    return _clean_inject(Inject(at_min=minutes, text=words[1], send=send), field)


def _clean_inject(inject: Inject, field: str) -> Inject:
    if not 0 <= inject.at_min <= MAX_MINUTES:
        raise InvalidInput(_("an inject comes from 0 minutes to 7 days after the start"), field)
    words = clean_text(inject.text, field, kind="note", required=True)
    if len(words) > MAX_TEXT:
        raise InvalidInput(
            _("the text is {length} characters long; at most {limit}").format(
                length=len(words), limit=MAX_TEXT
            ),
            field,
        )
    return Inject(at_min=float(inject.at_min), text=words, send=bool(inject.send))


# ------------------------------------------------------------------------------- reading


class _PlanRow(NamedTuple):
    id: int
    code: str
    name: str
    kind: str
    scenario: str
    scope: str
    announced: int
    hours: str
    organizer: str
    evaluators: str
    participants: str
    message: str
    tree: str
    reminders: str
    injects: str
    active: int
    created_at: str
    created_by: str
    updated_at: str


_PLAN_COLUMNS = ", ".join(_PlanRow._fields)
_OBJECTIVE_COLUMNS = "id, position, text, metric, target, within_min, level, name"


def _objective(row: Sequence[Any]) -> Objective:
    id_, position, text, metric, target, within_min, level, name = row
    return Objective(
        id=int(id_),
        position=int(position),
        text=text,
        metric=Metric(metric),
        target=target,
        within_min=within_min,
        level=level,
        name=name,
    )


def objectives_by_id(db: Database, ids: Iterable[int]) -> dict[int, Objective]:
    """Objectives by id, retired ones too (what an old run was rated on)."""
    rows = db.conn.execute(
        f"SELECT {_OBJECTIVE_COLUMNS} FROM drill_objectives"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(ids))),),
    ).fetchall()
    return {int(r[0]): _objective(r) for r in rows}


def check_objective(db: Database, plan_id: int, plan_code: str, objective_id: int) -> None:
    """Refuse an objective id that is not one of the plan's (a note or an improvement item
    names the objective it is about).

    Raises:
        InvalidInput: no such objective in that plan.
    """
    found = db.conn.execute(
        "SELECT 1 FROM drill_objectives WHERE id = ? AND plan_id = ?", (objective_id, plan_id)
    ).fetchone()
    if found is None:
        raise InvalidInput(
            _("no objective {id} in plan {code}").format(id=objective_id, code=plan_code),
            "objective",
        )


def _plans(db: Database, where: str, params: Sequence[Any]) -> list[Plan]:
    rows = [
        _PlanRow._make(r)
        for r in db.conn.execute(
            f"SELECT {_PLAN_COLUMNS} FROM drill_plans WHERE {where} ORDER BY code", params
        ).fetchall()
    ]
    objectives: dict[int, list[Objective]] = {}
    for plan_id, *rest in db.conn.execute(
        f"SELECT plan_id, {_OBJECTIVE_COLUMNS} FROM drill_objectives WHERE active = 1 AND"
        " plan_id IN (SELECT value FROM json_each(?)) ORDER BY plan_id, position, id",
        (json.dumps([r.id for r in rows]),),
    ):
        objectives.setdefault(int(plan_id), []).append(_objective(rest))
    return [
        Plan(
            id=int(r.id),
            code=r.code,
            name=r.name,
            kind=DrillKind(r.kind),
            scenario=r.scenario,
            scope=tuple(json.loads(r.scope)),
            announced=bool(r.announced),
            hours=Hours(r.hours),
            organizer=r.organizer,
            evaluators=tuple(json.loads(r.evaluators)),
            participants=tuple(json.loads(r.participants)),
            message=r.message,
            tree=r.tree,
            reminders_min=tuple(int(m) for m in json.loads(r.reminders)),
            injects=tuple(
                Inject(at_min=float(i["at_min"]), text=i["text"], send=bool(i["send"]))
                for i in json.loads(r.injects)
            ),
            objectives=tuple(objectives.get(int(r.id), ())),
            active=bool(r.active),
            created_at=from_iso(r.created_at),
            created_by=r.created_by,
            updated_at=from_iso(r.updated_at),
        )
        for r in rows
    ]


def get_plan(db: Database, plan: str | int) -> Plan:
    """A plan by its code, or by its id (an int, or digits no plan has as a code).

    Raises:
        NotFound: no such plan.
    """
    if isinstance(plan, int):
        found = _plans(db, "id = ?", (plan,))
    else:
        text = plan.strip()
        found = _plans(db, "code = ?", (text,))
        if not found and text.lstrip("#").isdigit():
            found = _plans(db, "id = ?", (int(text.lstrip("#")),))
    if not found:
        raise NotFound(_("no drill plan {plan}").format(plan=plan))
    return found[0]


def list_plans(db: Database, *, active: bool | None = True) -> list[Plan]:
    """Plans by code: active ones (default), inactive ones, or all (``None``)."""
    if active is None:
        return _plans(db, "1 = 1", ())
    return _plans(db, "active = ?", (int(active),))


# ------------------------------------------------------------------------------- checking


def _kind(value: DrillKind | str) -> DrillKind:
    if isinstance(value, DrillKind):
        return value
    text = str(value).strip().lower().replace("-", "_")
    if text in ("call_tree", "calltree"):  # the English label of a notification drill
        return DrillKind.NOTIFICATION
    try:
        return parse_labelled(DrillKind, text, N_("drill kind"))
    except ValueError as exc:
        raise InvalidInput(str(exc), "kind") from exc


def _hours(value: Hours | str) -> Hours:
    return choice(Hours, value, "hours")


def _person_key(db: Database, ref: str | int, field: str) -> str:
    """The key of the person ``ref`` names (key, id, phone or unique name), who must be active."""
    try:
        person = get_person(db, ref, field=field)
    except NotFound as exc:
        raise InvalidInput(str(exc), field) from exc
    if not person.active:
        raise InvalidInput(_("{name} is inactive").format(name=person.name), field)
    return person.key


def _people(db: Database, refs: Sequence[str | int] | str, field: str) -> tuple[str, ...]:
    if isinstance(refs, str):
        refs = [refs]
    keys: list[str] = []
    for ref in refs:
        key = _person_key(db, ref, field)
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def _scope(values: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    out: list[str] = []
    for value in values:
        try:
            target = Target.parse(str(value))
        except InvalidInput as exc:
            raise InvalidInput(exc.reason, "scope") from exc
        if target.format() not in out:
            out.append(target.format())
    return tuple(out)


def _check_scope(db: Database, scope: Sequence[str], tree: str) -> None:
    """Each target has a node in the tree, found as the cascade finds it (a grid by its grid
    leader's node, a team by its leader's); before the default tree is built (a run builds it),
    the grids and teams must exist."""
    nodes = get_tree(db, tree)
    targets = [Target.parse(s) for s in scope]
    if not nodes:
        if tree != DEFAULT_TREE:
            raise InvalidInput(_("contact tree {tree!r} has no nodes").format(tree=tree), "tree")
        for target in targets:
            try:
                if target.kind is TargetKind.GRID:
                    if get_unit(db, target.code).level is not Level.GRID:
                        raise NotFound(_("{code} is not a grid").format(code=target.code))
                elif target.kind is TargetKind.TEAM:
                    get_team(db, target.code)
            except NotFound as exc:
                raise InvalidInput(str(exc), "scope") from exc
        return
    codes = {n.code for n in nodes}
    roles = {n.ref for n in nodes if n.kind == "role"}
    for target in targets:
        if target.kind is TargetKind.NODE:
            found = target.code in codes
        else:
            role = "grid_leader" if target.kind is TargetKind.GRID else "team_leader"
            found = f"{role}@{target.code}" in roles
        if not found:
            raise InvalidInput(
                _("{target} has no node in contact tree {tree}").format(
                    target=target.format(), tree=tree
                ),
                "scope",
            )


def _reminders(values: Sequence[int]) -> tuple[int, ...]:
    out: set[int] = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(_("give whole minutes"), "reminders")
        if not 1 <= value <= MAX_REMINDER_MIN:
            raise InvalidInput(
                _("{value} is not between 1 minute and 60 days").format(value=value),
                "reminders",
            )
        out.add(value)
    return tuple(sorted(out, reverse=True))


def _objective_spec(spec: ObjectiveSpec | str, field: str) -> ObjectiveSpec:
    if isinstance(spec, str):
        return parse_objective(spec, field)
    _check_measure(spec, spec.name is not None, field)
    text = clean_text(spec.text, field, kind="note") or spec.objective().describe()
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            _("the text is {length} characters long; at most {limit}").format(
                length=len(text), limit=MAX_TEXT
            ),
            field,
        )
    return ObjectiveSpec(spec.metric, text, spec.target, spec.within_min, spec.level, spec.name)


def _clean(db: Database, field: str, value: Any) -> Any:
    """One field's value as stored (people as keys, lists as tuples), or InvalidInput."""
    if field == "name":
        text = clean_text(str(value), "name", kind="short", required=True)
        if len(text) > MAX_NAME:
            raise InvalidInput(
                _("is {length} characters long; at most {limit}").format(
                    length=len(text), limit=MAX_NAME
                ),
                "name",
            )
        return text
    if field == "kind":
        return _kind(value)
    if field == "scenario":
        return clean_text(str(value), "scenario", kind="short")
    if field == "scope":
        return _scope(value)
    if field == "announced":
        return bool(value)
    if field == "hours":
        return _hours(value)
    if field == "organizer":
        return _person_key(db, value, "organizer")
    if field in ("evaluators", "participants"):
        return _people(db, value, field)
    if field == "message":
        text = " ".join(clean_text(str(value), "message", kind="message", multiline=True).split())
        if len(text) > MAX_MESSAGE:
            raise InvalidInput(
                _("is {length} characters long; at most {limit}").format(
                    length=len(text), limit=MAX_MESSAGE
                ),
                "message",
            )
        return text
    if field == "tree":
        return clean_text(str(value), "tree", kind="code", required=True)
    if field == "reminders_min":
        return _reminders(value)
    if field == "injects":
        cleaned = [
            _clean_inject(i if isinstance(i, Inject) else parse_inject(str(i)), "inject")
            for i in value
        ]
        return tuple(sorted(cleaned, key=lambda i: i.at_min))
    if field == "objectives":
        return tuple(_objective_spec(s, "objective") for s in value)
    raise InvalidInput(
        _("not a field of a plan; use one of {fields}").format(fields=", ".join(EDITABLE)), field
    )


def _check_whole(db: Database, values: dict[str, Any], *, scope_changed: bool) -> None:
    """What concerns several fields: a call-out drill names whom it calls and what it says."""
    kind: DrillKind = values["kind"]
    if kind.calls_out:
        if not values["scope"]:
            raise InvalidInput(
                _("a {kind} drill calls people out: name grids, teams or tree nodes").format(
                    kind=kind.label
                ),
                "scope",
            )
        if not values["message"]:
            raise InvalidInput(
                _("a {kind} drill calls people out: give the message they receive").format(
                    kind=kind.label
                ),
                "message",
            )
        if scope_changed:
            _check_scope(db, values["scope"], values["tree"])


# ------------------------------------------------------------------------------- writing


def _spec_key(o: Objective | ObjectiveSpec) -> tuple[Any, ...]:
    return (o.metric.value, o.text, o.target, o.within_min, o.level, o.name)


def _write_objectives(
    db: Database, plan_id: int, specs: Sequence[ObjectiveSpec], current: Sequence[Objective]
) -> None:
    """Keep the rows of objectives given again (renumbered), retire the rest, add the new."""
    unused = {o.id: o for o in current}
    for position, spec in enumerate(specs, start=1):
        same = next((i for i, o in unused.items() if _spec_key(o) == _spec_key(spec)), None)
        if same is not None:
            del unused[same]
            db.conn.execute(
                "UPDATE drill_objectives SET position = ? WHERE id = ?", (position, same)
            )
            continue
        db.conn.execute(
            "INSERT INTO drill_objectives (plan_id, position, text, metric, target, within_min,"
            " level, name) VALUES (?,?,?,?,?,?,?,?)",
            (
                plan_id,
                position,
                spec.text,
                spec.metric.value,
                spec.target,
                spec.within_min,
                spec.level,
                spec.name,
            ),
        )
    db.conn.executemany(
        "UPDATE drill_objectives SET active = 0 WHERE id = ?", [(i,) for i in unused]
    )


def _stored(field: str, value: Any) -> Any:
    """A cleaned value in its column's form."""
    if field in ("scope", "evaluators", "participants", "reminders_min"):
        return json.dumps(list(value), ensure_ascii=False)
    if field == "injects":
        return json.dumps([i.to_json() for i in value], ensure_ascii=False)
    if field in ("kind", "hours"):
        return value.value
    if field == "announced":
        return int(value)
    return value


_COLUMN = {"reminders_min": "reminders"}


def _audit_value(field: str, value: Any) -> Any:
    """How the audit log records a field: people by shown key (a phone key masked)."""
    if field == "organizer":
        return shown_key(value)
    if field in ("evaluators", "participants"):
        return [shown_key(k) for k in value]
    if field == "injects":
        return len(value)
    if field == "objectives":
        return [o.text for o in value]
    if field in ("scope", "reminders_min"):
        return list(value)
    if field in ("kind", "hours"):
        return value.value
    return value


def add_plan(
    db: Database,
    clock: Clock,
    operator: str,
    *,
    code: str,
    name: str,
    kind: DrillKind | str,
    scenario: str = "",
    scope: Sequence[str] = (),
    announced: bool = True,
    hours: Hours | str = Hours.ANY,
    organizer: str,
    evaluators: Sequence[str] = (),
    participants: Sequence[str] = (),
    message: str = "",
    tree: str = DEFAULT_TREE,
    reminders_min: Sequence[int] = DEFAULT_REMINDERS_MIN,
    injects: Sequence[Inject] = (),
    objectives: Sequence[ObjectiveSpec] = (),
) -> Plan:
    """Write a new plan (audit ``drill_plan_added``).

    People are given by key, id, phone or unique name and stored by key. A call-out kind needs
    a scope (``grid:G01``, ``team:T1``, ``node:CODE``), each with a node in ``tree``, and a
    message.

    Raises:
        InvalidInput: naming the field: a bad or taken code, an unknown person, a bad target,
            a target the tree does not have, a bad objective or inject.
    """
    code = clean_text(code, "code", kind="code", required=True)
    if not _CODE.match(code):
        raise InvalidInput(
            _("use letters, digits, '.', '_' or '-' (at most 40, starting with a letter or digit)"),
            "code",
        )
    given = {
        "name": name,
        "kind": kind,
        "scenario": scenario,
        "scope": scope,
        "announced": announced,
        "hours": hours,
        "organizer": organizer,
        "evaluators": evaluators,
        "participants": participants,
        "message": message,
        "tree": tree,
        "reminders_min": reminders_min,
        "injects": injects,
        "objectives": objectives,
    }
    values = {field: _clean(db, field, value) for field, value in given.items()}
    _check_whole(db, values, scope_changed=True)
    at = to_iso(clock.now())
    with write(db):
        if db.conn.execute("SELECT 1 FROM drill_plans WHERE code = ?", (code,)).fetchone():
            raise InvalidInput(_("a drill plan {code} already exists").format(code=code), "code")
        columns = [f for f in EDITABLE if f != "objectives"]
        cur = db.conn.execute(
            f"INSERT INTO drill_plans (code, {', '.join(_COLUMN.get(f, f) for f in columns)},"
            f" active, created_at, created_by, updated_at)"
            f" VALUES (?, {', '.join('?' for _f in columns)}, 1, ?, ?, ?)",
            (code, *(_stored(f, values[f]) for f in columns), at, operator, at),
        )
        plan_id = int(cur.lastrowid or 0)
        _write_objectives(db, plan_id, values["objectives"], ())
        append_event(
            db,
            at=at,
            operator=operator,
            kind="drill_plan_added",
            data={
                "plan": code,
                "id": plan_id,
                **{f: _audit_value(f, values[f]) for f in EDITABLE},
            },
        )
    return get_plan(db, plan_id)


def _current(plan: Plan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "kind": plan.kind,
        "scenario": plan.scenario,
        "scope": plan.scope,
        "announced": plan.announced,
        "hours": plan.hours,
        "organizer": plan.organizer,
        "evaluators": plan.evaluators,
        "participants": plan.participants,
        "message": plan.message,
        "tree": plan.tree,
        "reminders_min": plan.reminders_min,
        "injects": plan.injects,
        "objectives": tuple(
            ObjectiveSpec(o.metric, o.text, o.target, o.within_min, o.level, o.name)
            for o in plan.objectives
        ),
    }


def edit_plan(db: Database, clock: Clock, operator: str, plan: str | int, **changes: Any) -> Plan:
    """Change a plan's fields (the keywords of :func:`add_plan` but ``code``); a value of
    ``None`` leaves its field as it is. ``objectives=`` replaces the list (see the module
    docstring). Nothing changed: nothing written. Audit ``drill_plan_edited``.

    Raises:
        InvalidInput: the code, or a field a plan does not have, or a bad value (as add_plan).
        NotFound: no such plan.
    """
    if "code" in changes:
        raise InvalidInput(_("a plan's code cannot be changed"), "code")
    current = get_plan(db, plan)
    before = _current(current)
    cleaned = {f: _clean(db, f, v) for f, v in changes.items() if v is not None}
    changed = sorted(f for f, v in cleaned.items() if v != before[f])
    if not changed:
        return current
    values = {**before, **cleaned}
    scope_changed = bool({"scope", "tree", "kind"} & set(changed))
    _check_whole(db, values, scope_changed=scope_changed)
    at = to_iso(clock.now())
    with write(db):
        columns = [f for f in changed if f != "objectives"]
        db.conn.execute(
            "UPDATE drill_plans SET "
            + "".join(f"{_COLUMN.get(f, f)} = ?, " for f in columns)
            + "updated_at = ? WHERE id = ?",
            (*(_stored(f, values[f]) for f in columns), at, current.id),
        )
        if "objectives" in changed:
            _write_objectives(db, current.id, values["objectives"], current.objectives)
        if "reminders_min" in changed:
            _schedules_follow(db, current.id)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="drill_plan_edited",
            data={
                "plan": current.code,
                "changed": changed,
                **{f: _audit_value(f, values[f]) for f in changed},
            },
        )
    return get_plan(db, current.id)


def _schedules_follow(db: Database, plan_id: int) -> None:
    """The plan's schedules' next moments, computed again (in the caller's transaction)."""
    from drills.schedules import refresh_next  # schedules imports plans

    refresh_next(db, plan_id)


def set_active(db: Database, clock: Clock, operator: str, plan: str | int, active: bool) -> Plan:
    """Retire a plan (its schedules no longer start runs) or bring it back; audit
    ``drill_plan_edited``. Setting the state it already has writes nothing."""
    current = get_plan(db, plan)
    if current.active == bool(active):
        return current
    at = to_iso(clock.now())
    with write(db):
        db.conn.execute(
            "UPDATE drill_plans SET active = ?, updated_at = ? WHERE id = ?",
            (int(bool(active)), at, current.id),
        )
        _schedules_follow(db, current.id)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="drill_plan_edited",
            data={"plan": current.code, "changed": ["active"], "active": bool(active)},
        )
    return get_plan(db, current.id)
