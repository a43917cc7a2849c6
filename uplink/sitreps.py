"""Provides the township's information reports (初报、续报、终报): draft, sign off, send, and the
obligations to report that the engine supervises.

A report is drafted from the case (:func:`draft`: the record fills the elements it knows),
edited (:func:`edit`), signed off by someone entitled (:func:`sign`, :func:`entitled`) and sent
(:func:`send`): its exact text is written into the hash-chained timeline (``sitrep_sent``),
which the uplink's outbox turns into a ``report`` event; the hub's acknowledgement of that
event is the report's receipt (签收). A sent report is never edited again: a correction is a
new follow-up that names the report it corrects. A report given by phone is recorded as sent
(:func:`phone`). The case's reporting facts (its received time, the marks "to be reported" and
"sensitive", the casualty figures) are changed by audited commands (:func:`mark`,
:func:`correct_received`, :func:`record_figures`).

The duties to report are rows of ``sitrep_obligations``, recomputed from each case's timeline
by the pure calculator (:func:`uplink.obligations.compute`) whenever the case changes:
:func:`catch_up` is a cursor over the timeline, like the outbox's, and :func:`sweep` (called by
the engine) writes one ``sitrep_overdue`` entry per obligation that fell overdue.
Refusals raise :mod:`store.errors` classes and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from contacts.people import get_person, list_people
from contacts.roster import holder
from contacts.teams import get_team
from incidents.models import CATEGORIES, Incident, Severity, Stage
from incidents.records import case_number, get_incident, timeline
from jurisdiction.models import Level
from jurisdiction.units import get_unit, list_units
from mobilization import list_mobilizations, totals
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from store.i18n import _
from store.text import clean_text
from uplink import sitrep_render
from uplink.obligations import compute
from uplink.outbox import receipts
from uplink.reporting import (
    FIELD_NAMES,
    FIELD_ZH,
    FIGURE_NAMES,
    CaseMoment,
    Channel,
    Figures,
    Filed,
    Obligation,
    ObligationKind,
    Reason,
    ReportKind,
    ReportState,
    Sitrep,
    SitrepDoc,
    report_name,
)
from uplink.sitrep_rules import SitrepRules

ZONE = ZoneInfo("Asia/Shanghai")
"""The zone the report's text gives times in (a Chinese duty office's)."""
SYSTEM = "system"  # the operator of the entries the sweep writes
CATCH_UP_BATCH = 2000  # timeline entries read per catch-up step (one transaction)
SWEEP_BATCHES = 4  # catch-up steps per sweep: a long backlog is caught up over several sweeps
SWEEP_ALERTS = 1000  # overdue obligations alerted per sweep, the rest at the next ones
FUTURE_SKEW = timedelta(minutes=5)  # a time "now" on a clock a little ahead is still accepted
MAX_LIMIT = 10_000

# Timeline kinds that cannot change a case's obligations: the sweeps' own alerts (reminders
# and supervision of overdue cases, overdue reports, a dispatch not accepted in time), reads,
# notes and tasks, reports not sent, what the field sends (a stage it moves is an entry of its
# own). Every other entry of a case, and any entry that moves the stage, has it recomputed:
# at a million cases the reminders alone come due by the thousand each sweep.
_IDLE_KINDS = frozenset(
    {
        "remind",
        "supervise",
        "field_sent",
        "field_ended",
        "field_accepted",
        "field_declined",
        "field_progress",
        "field_photo",
        "field_feedback",
        "field_accept_overdue",
        "sitrep_overdue",
        "sitrep_drafted",
        "sitrep_edited",
        "sitrep_signed",
        "sitrep_unsigned",
        "sitrep_discarded",
        "personal_data_shown",
        "note",
        "task_added",
        "task_done",
        "lesson",
        "follow_up_action",
    }
)


class _SitrepRow(NamedTuple):
    id: int
    incident_id: int
    kind: str
    seq: int
    channel: str
    state: str
    fields: str
    figures: str
    corrects: int | None
    drafted_by: str
    drafted_at: str
    updated_at: str
    signed_by: str | None
    signed_at: str | None
    sent_by: str | None
    sent_at: str | None
    phoned_to: str | None
    text: str | None
    event_id: str | None


_SITREP_COLUMNS = ", ".join(f"s.{name}" for name in _SitrepRow._fields)


class _ObligationRow(NamedTuple):
    id: int
    incident_id: int
    kind: str
    seq: int
    reason: str
    since: str
    due_at: str
    met_at: str | None
    met_by: int | None
    cancelled: int
    alerted_at: str | None


_OBLIGATION_COLUMNS = ", ".join(_ObligationRow._fields)


@dataclass(frozen=True)
class CaseReporting:
    """A case's reporting facts: when it was received (接报时间, corrected or the case's
    ``reported_at``), whether it is marked "to be reported" or "sensitive", its latest figures."""

    case_id: int
    case_number: str
    received_at: datetime
    marked: bool
    sensitive: bool
    figures: Figures
    received_corrected: bool = False

    @property
    def reportable_mark(self) -> bool:
        """Marked or sensitive: reportable whatever the case's level."""
        return self.marked or self.sensitive

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case_number,
            "received_at": to_iso(self.received_at),
            "received_corrected": self.received_corrected,
            "marked": self.marked,
            "sensitive": self.sensitive,
            "figures": self.figures.to_json() if self.figures.known else None,
        }


# --- reading ---------------------------------------------------------------------------------


def _opt(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


class _Numbers:
    """Case numbers by id, each read once (``sitreps`` keeps the id, the case its number)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.known: dict[int, str] = {}

    def __call__(self, incident_id: int) -> str:
        if incident_id not in self.known:
            # The number alone: reading the whole case (get_incident) was most of the time of
            # get_sitrep, which every command and the demo's build call again and again.
            number = case_number(self.db, incident_id)
            self.known[incident_id] = number if number is not None else str(incident_id)
        return self.known[incident_id]


def _receipts(db: Database, event_ids: Iterable[str]) -> dict[str, datetime]:
    wanted = [e for e in event_ids if e]
    if not wanted:
        return {}
    return receipts(db, wanted)


def _row_to_sitrep(r: _SitrepRow, number: str, received: datetime | None) -> Sitrep:
    state = ReportState(r.state)
    if state is ReportState.SENT and received is not None:
        state = ReportState.RECEIVED
    return Sitrep(
        id=int(r.id),
        case_id=int(r.incident_id),
        case_number=number,
        kind=ReportKind(r.kind),
        seq=int(r.seq),
        channel=Channel(r.channel),
        state=state,
        fields=dict(json.loads(r.fields)),
        figures=Figures.from_json(json.loads(r.figures)),
        corrects=r.corrects,
        drafted_by=r.drafted_by,
        drafted_at=from_iso(r.drafted_at),
        updated_at=from_iso(r.updated_at),
        signed_by=r.signed_by,
        signed_at=_opt(r.signed_at),
        sent_by=r.sent_by,
        sent_at=_opt(r.sent_at),
        received_at=received,
        phoned_to=r.phoned_to,
        text=r.text,
    )


def _sitreps(
    db: Database, where: str, params: Sequence[Any], limit: int, *, receipts: bool = True
) -> list[Sitrep]:
    rows = [
        _SitrepRow._make(row)
        for row in db.conn.execute(
            f"SELECT {_SITREP_COLUMNS} FROM sitreps s WHERE {where} ORDER BY s.id LIMIT ?",
            (*params, limit),
        )
    ]
    got = _receipts(db, [r.event_id for r in rows if r.event_id]) if receipts else {}
    numbers = _Numbers(db)
    return [
        _row_to_sitrep(r, numbers(int(r.incident_id)), got.get(r.event_id) if r.event_id else None)
        for r in rows
    ]


def _check_id(sitrep_id: int) -> int:
    if isinstance(sitrep_id, bool) or not isinstance(sitrep_id, int) or not 0 < sitrep_id < 2**63:
        raise NotFound(_("no report {id}").format(id=sitrep_id))
    return sitrep_id


def get_sitrep(db: Database, sitrep_id: int) -> Sitrep:
    """One report; ``received_at`` (and the state ``received``) from the hub's receipt.

    Raises:
        NotFound: no report has that id.
    """
    found = _sitreps(db, "s.id = ?", (_check_id(sitrep_id),), 1)
    if not found:
        raise NotFound(_("no report {id}").format(id=sitrep_id))
    return found[0]


def list_sitreps(db: Database, *, case: int | str | None = None, limit: int = 200) -> list[Sitrep]:
    """Reports in the order they were drafted: one case's, or the newest ``limit`` of all."""
    if limit < 1:
        raise InvalidInput(_("must be at least 1"), "limit")
    limit = min(limit, MAX_LIMIT)
    if case is not None:
        incident = get_incident(db, case)
        return _sitreps(db, "s.incident_id = ?", (incident.id,), limit)
    rows = db.conn.execute("SELECT id FROM sitreps ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    if not rows:
        return []
    return _sitreps(db, "s.id >= ?", (int(rows[-1][0]),), limit)


def _case_sitreps(db: Database, incident_id: int, *, receipts: bool = True) -> list[Sitrep]:
    """Every report of a case (``receipts=False``: without reading the hub's receipts)."""
    return _sitreps(db, "s.incident_id = ?", (incident_id,), MAX_LIMIT, receipts=receipts)


def _sent(reports: Iterable[Sitrep]) -> list[Sitrep]:
    """The reports that went up (written and sent, or given by phone), in the order sent."""
    out = [r for r in reports if r.state.final and r.sent_at is not None]
    return sorted(out, key=lambda r: (r.sent_at or r.drafted_at, r.id))


# --- the case's reporting facts ---------------------------------------------------------------


def _case_row(db: Database, incident_id: int) -> tuple[str | None, bool, bool, Figures]:
    row = db.conn.execute(
        "SELECT received_at, marked, sensitive, figures FROM sitrep_cases WHERE incident_id = ?",
        (incident_id,),
    ).fetchone()
    if row is None:
        return None, False, False, Figures()
    received, marked, sensitive, figures = row
    known = Figures.from_json(json.loads(figures)) if figures else Figures()
    return received, bool(marked), bool(sensitive), known


def _reporting(db: Database, incident: Incident) -> CaseReporting:
    received, marked, sensitive, figures = _case_row(db, incident.id)
    return CaseReporting(
        case_id=incident.id,
        case_number=incident.number,
        received_at=from_iso(received) if received else incident.reported_at,
        marked=marked,
        sensitive=sensitive,
        figures=figures,
        received_corrected=received is not None,
    )


def reporting_of(db: Database, case: int | str) -> CaseReporting:
    """The case's reporting facts (received time, marks, latest figures)."""
    return _reporting(db, get_incident(db, case))


def _ensure_case_row(db: Database, incident_id: int) -> None:
    db.conn.execute("INSERT OR IGNORE INTO sitrep_cases (incident_id) VALUES (?)", (incident_id,))


def _not_future(at: datetime, now: datetime, field: str) -> datetime:
    if at.tzinfo is None:
        raise InvalidInput(_("give a time with its zone"), field)
    if at > now + FUTURE_SKEW:
        raise InvalidInput(
            _("{at} is in the future").format(at=to_iso(at)),
            field,
        )
    return at


def mark(
    db: Database,
    clock: Clock,
    operator: str,
    case: int | str,
    *,
    marked: bool | None = None,
    sensitive: bool | None = None,
) -> CaseReporting:
    """Mark a case "to be reported" (reportable whatever its level) and/or "sensitive".

    ``None`` leaves a mark as it is; nothing changed writes nothing. Audited as
    ``sitrep_marked`` with the old and new value of each mark that changed.
    """
    with write(db):
        incident = get_incident(db, case)
        _received, old_marked, old_sensitive, _figures = _case_row(db, incident.id)
        new_marked = old_marked if marked is None else bool(marked)
        new_sensitive = old_sensitive if sensitive is None else bool(sensitive)
        if (new_marked, new_sensitive) != (old_marked, old_sensitive):
            _ensure_case_row(db, incident.id)
            db.conn.execute(
                "UPDATE sitrep_cases SET marked = ?, sensitive = ? WHERE incident_id = ?",
                (int(new_marked), int(new_sensitive), incident.id),
            )
            append_event(
                db,
                at=to_iso(clock.now()),
                operator=operator,
                kind="sitrep_marked",
                incident_id=incident.id,
                data={
                    name: [old, new]
                    for name, old, new in (
                        ("marked", old_marked, new_marked),
                        ("sensitive", old_sensitive, new_sensitive),
                    )
                    if old != new
                },
            )
        return _reporting(db, incident)


def correct_received(
    db: Database,
    clock: Clock,
    operator: str,
    case: int | str,
    received_at: datetime,
    reason: str,
) -> CaseReporting:
    """Correct when the case was received (接报时间): the initial report's clock starts there.

    Raises:
        InvalidInput: no reason (``reason``), a time in the future or without zone (``at``).
    """
    text = clean_text(reason or "", "reason", kind="note", required=True)
    now = clock.now()
    at = _not_future(received_at, now, "at")
    with write(db):
        incident = get_incident(db, case)
        before = _reporting(db, incident)
        if to_iso(at) == to_iso(before.received_at):
            return before
        _ensure_case_row(db, incident.id)
        db.conn.execute(
            "UPDATE sitrep_cases SET received_at = ? WHERE incident_id = ?",
            (to_iso(at), incident.id),
        )
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="sitrep_received",
            incident_id=incident.id,
            data={"received_at": [to_iso(before.received_at), to_iso(at)], "reason": text},
        )
        return _reporting(db, incident)


def _merge_figures(before: Figures, values: Mapping[str, Any], as_of: datetime | None) -> Figures:
    """``before`` with the counts given in ``values`` (an empty one clears a count)."""
    parsed = Figures.parse(values, as_of)
    counts = before.counts()
    for name in values:
        counts[name] = getattr(parsed, name)
    return Figures(**counts, as_of=as_of)


def _figure_changes(before: Figures, after: Figures) -> dict[str, list[int | None]]:
    old, new = before.counts(), after.counts()
    return {name: [old[name], new[name]] for name in FIGURE_NAMES if old[name] != new[name]}


def record_figures(
    db: Database,
    clock: Clock,
    operator: str,
    case: int | str,
    figures: Mapping[str, Any],
    as_of: datetime | None = None,
) -> CaseReporting:
    """Record the case's casualty and evacuation figures as known at ``as_of`` (default now).

    Counts not given keep their value; an empty one becomes unknown. A change is audited as
    ``sitrep_figures`` (the figures and what changed) and calls for a follow-up.

    Raises:
        InvalidInput: a negative, fractional or non-numeric count, an unknown figure (the
            figure's name), a time in the future (``as_of``).
    """
    now = clock.now()
    at = _not_future(as_of, now, "as_of") if as_of is not None else now
    with write(db):
        incident = get_incident(db, case)
        before = _reporting(db, incident).figures
        after = _merge_figures(before, figures, at)
        changes = _figure_changes(before, after)
        if not changes:
            return _reporting(db, incident)
        _ensure_case_row(db, incident.id)
        db.conn.execute(
            "UPDATE sitrep_cases SET figures = ? WHERE incident_id = ?",
            (json.dumps(after.to_json(), ensure_ascii=False), incident.id),
        )
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="sitrep_figures",
            incident_id=incident.id,
            data={"figures": after.to_json(), "changes": changes, "as_of": to_iso(at)},
        )
        return _reporting(db, incident)


# --- who signs off ------------------------------------------------------------------------


def _post_holders(db: Database, posts: Sequence[str], at: datetime) -> list[str]:
    names: list[str] = []
    for post in posts:
        try:
            shift = holder(db, post, at)
        except NotFound:  # no such post in this office's roster
            continue
        if shift is not None:
            names.append(shift.person.name)
    return names


def _role_holders(db: Database, roles: Sequence[str]) -> list[str]:
    names: list[str] = []
    for role in roles:
        try:
            people = list_people(db, role=role, active=True)
        except InvalidInput:  # a role this version does not know
            continue
        names.extend(p.name for p in people)
    return names


def signers(db: Database, rules: SitrepRules, at: datetime) -> list[str]:
    """The names entitled to sign a report off at ``at``: ``[sitrep] signers`` when
    configured, else the holders of the signer posts then and the people with a signer role."""
    if rules.signers:
        return list(dict.fromkeys(rules.signers))
    found = _post_holders(db, rules.signer_posts, at) + _role_holders(db, rules.signer_roles)
    return list(dict.fromkeys(found))


def _signer(db: Database, rules: SitrepRules, name: str, at: datetime) -> str | None:
    """``_signer_name(db, name, signers(db, rules, at))``, without listing everyone with a
    signer role when the post holders already decide (the shift lead signing: the usual case).
    """
    if rules.signers:
        return _signer_name(db, name, signers(db, rules, at))
    holders = list(dict.fromkeys(_post_holders(db, rules.signer_posts, at)))
    stripped = name.strip()
    if stripped and stripped in holders:
        return stripped
    return _signer_name(db, name, signers(db, rules, at))


def _signer_name(db: Database, name: str, allowed: Sequence[str]) -> str | None:
    """``name`` as the list of signers spells it: as given, or the name of the person it
    names (a key, phone or id, as ``--by`` takes them); None when not entitled."""
    name = name.strip()
    if not name:
        return None
    if name in allowed:
        return name

    try:
        person = get_person(db, name)
    except (NotFound, InvalidInput):
        return None
    return person.name if person.active and person.name in allowed else None


def entitled(db: Database, rules: SitrepRules, name: str, at: datetime) -> bool:
    """Whether ``name`` (a name, or a person's key) may sign a report off at ``at``
    (see :func:`signers`)."""
    return _signer(db, rules, name, at) is not None


# --- drafting --------------------------------------------------------------------------------


def _local(at: datetime, *, year: bool = True) -> str:
    """2026年11月26日10时5分 (10时 on the hour) in the office's zone, as reports write times."""
    t = at.astimezone(ZONE)
    minutes = f"{t.minute}分" if t.minute else ""
    return f"{f'{t.year}年' if year else ''}{t.month}月{t.day}日{t.hour}时{minutes}"


def _unit_label(db: Database, code: str | None) -> str:
    if not code:
        return ""
    try:
        return get_unit(db, code).name
    except NotFound:
        return code


def _township_name(db: Database) -> str:
    units = list_units(db, level=Level.TOWNSHIP)
    return units[0].name if units else ""


def _target_label(db: Database, target: str) -> str:
    """A dispatch target ``kind:code`` in words: the grid's, team's or person's name."""
    kind, _sep, code = target.partition(":")
    if kind == "grid":
        return _unit_label(db, code)
    if kind == "team":
        try:
            return str(get_team(db, code).name)
        except (NotFound, InvalidInput):
            return code
    if kind == "person":
        try:
            return get_person(db, code).name
        except (NotFound, InvalidInput):
            return code.lstrip("#")
    return code


def _measures(db: Database, incident: Incident) -> str:
    """已采取措施 from the record, in time order: dispatches, assignments and feedback from the
    timeline, and each mobilization (how many were called, how many said yes)."""
    lines: list[tuple[datetime, str]] = []
    for entry in timeline(db, incident.id):
        target = entry.data.get("to")
        if entry.kind in ("dispatch", "assign") and isinstance(target, str):
            verb = "派遣" if entry.kind == "dispatch" else "指定"
            lines.append((entry.at, f"{verb}{_target_label(db, target)}处置"))
        elif entry.kind == "feedback" and isinstance(entry.data.get("result"), str):
            lines.append((entry.at, f"处置反馈：{entry.data['result']}"))
    for mob in list_mobilizations(db, incident_id=incident.id, exercise=False):
        counts = totals(db, mob.id)
        lines.append(
            (mob.created_at, f"启动人员动员，通知{counts.total}人，{counts.yes}人确认到岗")
        )
    lines.sort(key=lambda line: line[0])
    text = "；\n".join(f"{_local(at, year=False)}{what}" for at, what in lines)
    return text + "。" if text else ""


def _nature(incident: Incident) -> str:
    category, types = CATEGORIES.get(incident.category, (incident.category, {}))
    kind = types.get(incident.type, incident.type)
    severity = incident.severity
    return f"{category}·{kind}，{severity.label_zh}（{severity.roman}级）"


def _fresh_fields(
    db: Database, incident: Incident, reporting: CaseReporting, operator: str, unit: str
) -> dict[str, str]:
    source = incident.source.label_zh
    received = f"{_local(reporting.received_at)}接{source}报告"
    if incident.reporter_name:
        received += f"，报告人：{incident.reporter_name}"
    place = incident.location
    grid = _unit_label(db, incident.grid)
    if grid:
        place = f"{place}（{grid}）" if place else grid
    fields = dict.fromkeys(FIELD_NAMES, "")
    fields.update(
        received=received,
        occurred=_local(incident.reported_at),
        place=place,
        nature=_nature(incident),
        area=grid,
        measures=_measures(db, incident),
        unit=unit,
        contact=_contact(db, operator),
    )
    return fields


def _contact(db: Database, operator: str) -> str:
    """联系人及电话: the officer drafting, with their phone when the directory has it (the
    level above calls back on it), written as dialled in China (no +86)."""
    try:
        person = get_person(db, operator)
    except (NotFound, InvalidInput):  # not in the directory, or a name two people share
        return operator
    if not person.phone:
        return person.name
    phone = person.phone.removeprefix("+86")
    return f"{person.name} {phone}"


def _check_followup_allowed(
    incident: Incident, reports: Sequence[Sitrep], kind: ReportKind
) -> None:
    """A follow-up or final report needs an initial report sent, or one given by phone; a
    final report needs the case finished."""
    if kind is ReportKind.INITIAL:
        return
    sent = _sent(reports)
    if not any(r.kind is ReportKind.INITIAL or r.channel is Channel.PHONE for r in sent):
        raise InvalidTransition(
            _(
                "case {number} has no initial report yet: send the initial report first, or"
                " record the one given by phone (sitrep phone)"
            ).format(number=incident.number)
        )
    if kind is ReportKind.FINAL and incident.stage.is_open:
        raise InvalidTransition(
            _("case {number} is still open ({stage}): a final report follows its closing").format(
                number=incident.number, stage=incident.stage.label
            )
        )


def _check_second_initial(incident: Incident, reports: Sequence[Sitrep], own: int | None) -> None:
    for r in reports:
        if r.kind is ReportKind.INITIAL and r.channel is Channel.WRITTEN and r.id != own:
            raise InvalidTransition(
                _(
                    "case {number} already has an initial report ({state}, #{id}); report what"
                    " changed in a follow-up"
                ).format(number=incident.number, state=r.state.label, id=r.id)
            )


def draft(
    db: Database,
    clock: Clock,
    rules: SitrepRules,
    operator: str,
    case: int | str,
    kind: ReportKind | str,
    *,
    corrects: int | None = None,
    unit_name: str = "",
) -> Sitrep:
    """Draft a written report of the case, filled from the record.

    An initial report takes its elements from the case (received time and source, place,
    nature and level, measures from the timeline and the mobilizations, unit, contact); a
    follow-up or final report starts from the previous report's elements with the measures
    refreshed, and every report from the case's current figures. Follow-ups are numbered now
    (续报一, 续报二 ...). ``corrects`` makes it the correction of a sent report: a follow-up whose
    更正说明 names it.

    Raises:
        InvalidTransition: a second initial report, a follow-up or final report with no initial
            (written or by phone), a final report on an open case.
        InvalidInput: ``corrects`` on a report that is not a follow-up, or naming a report of
            another case or one not sent.
    """
    kind = _kind(kind)
    now = clock.now()
    at = to_iso(now)
    with write(db):
        incident = get_incident(db, case)
        reports = _case_sitreps(db, incident.id)
        if kind is ReportKind.INITIAL:
            _check_second_initial(incident, reports, None)
        _check_followup_allowed(incident, reports, kind)
        corrected: Sitrep | None = None
        if corrects is not None:
            corrected = _corrected(db, incident, kind, corrects)
        reporting = _reporting(db, incident)
        unit = (unit_name or rules.unit_name or _township_name(db)).strip()
        sent = [r for r in _sent(reports) if r.channel is Channel.WRITTEN]
        if kind is ReportKind.INITIAL or not sent:
            fields = _fresh_fields(db, incident, reporting, operator, unit)
        else:
            fields = {name: sent[-1].fields.get(name, "") for name in FIELD_NAMES}
            fields["measures"] = _measures(db, incident) or fields["measures"]
            fields["corrects"] = ""
            if unit_name:
                fields["unit"] = unit
        seq = 0
        if kind is ReportKind.FOLLOWUP:
            seq = 1 + max(
                (r.seq for r in reports if r.kind is kind and r.channel is Channel.WRITTEN),
                default=0,
            )
        figures = reporting.figures
        cursor = db.conn.execute(
            "INSERT INTO sitreps (incident_id, kind, seq, channel, state, fields, figures,"
            " corrects, drafted_by, drafted_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                incident.id,
                kind.value,
                seq,
                Channel.WRITTEN.value,
                ReportState.DRAFT.value,
                _json(fields),
                _json(figures.to_json()),
                corrected.id if corrected is not None else None,
                operator,
                at,
                at,
            ),
        )
        sitrep_id = int(cursor.lastrowid or 0)
        append_event(
            db,
            at=at,
            operator=operator,
            kind="sitrep_drafted",
            incident_id=incident.id,
            data={
                "id": sitrep_id,
                "kind": kind.value,
                "seq": seq,
                "name": report_name(kind, seq),
                "corrects": corrected.id if corrected is not None else None,
                "fields": fields,
                "figures": figures.to_json(),
            },
        )
        return get_sitrep(db, sitrep_id)


def _kind(kind: ReportKind | str) -> ReportKind:
    """A report kind, or :class:`InvalidInput` naming ``kind`` for a word that is none."""
    return kind if isinstance(kind, ReportKind) else ReportKind.parse(str(kind))


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _corrected(db: Database, incident: Incident, kind: ReportKind, ref: int) -> Sitrep:
    if kind is not ReportKind.FOLLOWUP:
        raise InvalidInput(
            _("a correction is a follow-up: draft it with --kind followup"), "corrects"
        )
    try:
        target = get_sitrep(db, ref)
    except NotFound as exc:
        raise InvalidInput(str(exc), "corrects") from exc
    if target.case_id != incident.id:
        raise InvalidInput(
            _("report #{id} is of case {other}, not {number}").format(
                id=ref, other=target.case_number, number=incident.number
            ),
            "corrects",
        )
    if not target.state.final or target.channel is not Channel.WRITTEN:
        raise InvalidInput(
            _("report #{id} was not sent in writing: edit it instead of correcting it").format(
                id=ref
            ),
            "corrects",
        )
    return target


# --- editing, signing, sending ---------------------------------------------------------------


def _editable(sitrep: Sitrep) -> None:
    if sitrep.state.final:
        raise InvalidTransition(
            _(
                "report #{id} ({name}) was sent and is never changed; a correction is a new"
                " follow-up (sitrep draft --kind followup --corrects {id})"
            ).format(id=sitrep.id, name=sitrep.name)
        )


def _clean_fields(values: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in values.items():
        if name not in FIELD_ZH:
            raise InvalidInput(
                _("unknown report field {name!r}; use {names}").format(
                    name=name, names=", ".join(FIELD_NAMES)
                ),
                name,
            )
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput(_("must be text"), name)
        out[name] = clean_text(value, name, kind="note", multiline=True)
    return out


def edit(
    db: Database,
    clock: Clock,
    operator: str,
    sitrep_id: int,
    *,
    fields: Mapping[str, str] | None = None,
    figures: Mapping[str, Any] | None = None,
    as_of: datetime | None = None,
) -> Sitrep:
    """Change a draft's text fields and/or figures (the report's, not the case's).

    Editing a signed report voids its sign-off (back to draft; ``sitrep_unsigned``). Nothing
    changed writes nothing.

    Raises:
        InvalidTransition: the report was sent. InvalidInput: an unknown field or a bad figure
            (naming it), a time in the future (``as_of``).
    """
    now = clock.now()
    new_fields = _clean_fields(fields or {})
    if as_of is not None:
        _not_future(as_of, now, "as_of")
    with write(db):
        sitrep = get_sitrep(db, sitrep_id)
        _editable(sitrep)
        merged = {**sitrep.fields, **new_fields}
        changed = {
            name: [sitrep.fields.get(name, ""), value]
            for name, value in new_fields.items()
            if sitrep.fields.get(name, "") != value
        }
        after = sitrep.figures
        figure_changes: dict[str, list[int | None]] = {}
        if figures:
            after = _merge_figures(sitrep.figures, figures, as_of or now)
            figure_changes = _figure_changes(sitrep.figures, after)
            if not figure_changes and as_of is None:
                after = sitrep.figures
        elif as_of is not None and sitrep.figures.known:
            after = replace(sitrep.figures, as_of=as_of)
        as_of_changed = after.as_of != sitrep.figures.as_of
        if not changed and not figure_changes and not as_of_changed:
            return sitrep
        at = to_iso(now)
        db.conn.execute(
            "UPDATE sitreps SET fields = ?, figures = ?, state = ?, signed_by = NULL,"
            " signed_at = NULL, updated_at = ? WHERE id = ?",
            (_json(merged), _json(after.to_json()), ReportState.DRAFT.value, at, sitrep.id),
        )
        data: dict[str, Any] = {"id": sitrep.id, "name": sitrep.name}
        if changed:
            data["changes"] = changed
        if figure_changes or as_of_changed:
            data["figures"] = after.to_json()
            data["figure_changes"] = figure_changes
        if sitrep.state is ReportState.SIGNED:
            data["unsigned"] = sitrep.signed_by
        append_event(
            db,
            at=at,
            operator=operator,
            kind="sitrep_edited",
            incident_id=sitrep.case_id,
            data=data,
        )
        if sitrep.state is ReportState.SIGNED:
            append_event(
                db,
                at=at,
                operator=operator,
                kind="sitrep_unsigned",
                incident_id=sitrep.case_id,
                data={"id": sitrep.id, "name": sitrep.name, "signer": sitrep.signed_by},
            )
        return get_sitrep(db, sitrep.id)


def _check_correction_said(sitrep: Sitrep) -> None:
    if sitrep.corrects is not None and not sitrep.fields.get("corrects", "").strip():
        raise InvalidInput(
            _("a correction must say what it corrects ({label})").format(
                label=FIELD_ZH["corrects"]
            ),
            "corrects",
        )


def sign(
    db: Database,
    clock: Clock,
    rules: SitrepRules,
    operator: str,
    sitrep_id: int,
    *,
    signer: str | None = None,
) -> Sitrep:
    """签发: ``signer`` (default: the operator) signs the report off; audited with both names.

    Raises:
        PermissionDenied: the signer is not entitled now (the message names who is).
        InvalidTransition: the report was sent, or is signed already.
        InvalidInput: a correction that does not say what it corrects (``corrects``).
    """
    name = clean_text(signer if signer is not None else operator, "signer", kind="name")
    if not name:
        raise InvalidInput(_("name who signs the report off"), "signer")
    now = clock.now()
    with write(db):
        sitrep = get_sitrep(db, sitrep_id)
        _editable(sitrep)
        if sitrep.state is ReportState.SIGNED:
            raise InvalidTransition(
                _("report #{id} is already signed off by {signer}").format(
                    id=sitrep.id, signer=sitrep.signed_by
                )
            )
        _check_correction_said(sitrep)
        known = _signer(db, rules, name, now)
        if known is None:
            allowed = signers(db, rules, now)
            raise PermissionDenied(
                _("{name} may not sign reports off; entitled now: {names}").format(
                    name=name, names=", ".join(allowed) or _("nobody (set [sitrep] signers)")
                )
            )
        at = to_iso(now)
        db.conn.execute(
            "UPDATE sitreps SET state = ?, signed_by = ?, signed_at = ?, updated_at = ?"
            " WHERE id = ?",
            (ReportState.SIGNED.value, known, at, at, sitrep.id),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="sitrep_signed",
            incident_id=sitrep.case_id,
            data={"id": sitrep.id, "name": sitrep.name, "signer": known, "operator": operator},
        )
        return get_sitrep(db, sitrep.id)


def _rendered(doc: SitrepDoc) -> tuple[str, str]:
    """(title, plain text) of a report: the words the renderer gives it."""
    return sitrep_render.title(doc), sitrep_render.plain_text(doc)


def send(
    db: Database, clock: Clock, operator: str, sitrep_id: int, *, unit_name: str = ""
) -> Sitrep:
    """Send a signed report up: its exact text (:func:`uplink.sitrep_render.plain_text`) and
    the whole report go into the timeline (``sitrep_sent``), which the outbox sends.

    Raises:
        InvalidTransition: not signed off, sent already, or (the case changed since the
            draft) a second initial report, no initial report, a final report on an open case.
    """
    now = clock.now()
    at = to_iso(now)
    with write(db):
        sitrep = get_sitrep(db, sitrep_id)
        _editable(sitrep)
        if sitrep.state is not ReportState.SIGNED:
            raise InvalidTransition(
                _(
                    "report #{id} ({name}) is not signed off: sign it off first (sitrep sign)"
                ).format(id=sitrep.id, name=sitrep.name)
            )
        incident = get_incident(db, sitrep.case_id)
        reports = _case_sitreps(db, incident.id)
        if sitrep.kind is ReportKind.INITIAL:
            _check_second_initial(incident, [r for r in reports if r.state.final], sitrep.id)
        _check_followup_allowed(incident, reports, sitrep.kind)
        _check_correction_said(sitrep)
        shown = replace(sitrep, state=ReportState.SENT, sent_by=operator, sent_at=now)
        doc = _document(db, shown, reports, unit_name)
        heading, text = _rendered(doc)
        db.conn.execute(
            "UPDATE sitreps SET state = ?, sent_by = ?, sent_at = ?, text = ?, updated_at = ?"
            " WHERE id = ?",
            (ReportState.SENT.value, operator, at, text, at, sitrep.id),
        )
        append_event(
            db,
            at=at,
            operator=operator,
            kind="sitrep_sent",
            incident_id=incident.id,
            data={
                "id": sitrep.id,
                "kind": sitrep.kind.value,
                "seq": sitrep.seq,
                "name": sitrep.name,
                "channel": Channel.WRITTEN.value,
                "fields": sitrep.fields,
                "figures": sitrep.figures.to_json(),
                "corrects": sitrep.corrects,
                "corrects_name": doc.corrects_name,
                "signed_by": sitrep.signed_by,
                "signed_at": to_iso(sitrep.signed_at) if sitrep.signed_at else None,
                "title": heading,
                "unit": doc.unit_name,
                "text": text,
            },
        )
        return get_sitrep(db, sitrep.id)


def phone(
    db: Database,
    clock: Clock,
    operator: str,
    case: int | str,
    *,
    to: str,
    at: datetime,
    note: str = "",
    kind: ReportKind | str = ReportKind.INITIAL,
) -> Sitrep:
    """Record a report given by phone: when, to whom, what was said (``note``).

    It meets a phone deadline, not a written one; a phone report of the initial report allows
    follow-ups before the written initial one.

    Raises:
        InvalidInput: nobody named (``to``), a time in the future or before the case was
            received (``at``), a note too long (``note``).
        InvalidTransition: a follow-up or final report with no initial one, a final report on
            an open case.
    """
    kind = _kind(kind)
    whom = clean_text(to or "", "to", kind="name", required=True)
    said = clean_text(note or "", "note", kind="note", multiline=True)
    now = clock.now()
    given = _not_future(at, now, "at")
    with write(db):
        incident = get_incident(db, case)
        reporting = _reporting(db, incident)
        earliest = min(reporting.received_at, incident.reported_at)
        if given < earliest:
            raise InvalidInput(
                _("{at} is before the case was received ({received})").format(
                    at=to_iso(given), received=to_iso(earliest)
                ),
                "at",
            )
        reports = _case_sitreps(db, incident.id)
        if kind is not ReportKind.INITIAL:
            _check_followup_allowed(incident, reports, kind)
        stamp = to_iso(now)
        given_at = to_iso(given)
        cursor = db.conn.execute(
            "INSERT INTO sitreps (incident_id, kind, seq, channel, state, fields, figures,"
            " drafted_by, drafted_at, updated_at, sent_by, sent_at, phoned_to, text)"
            " VALUES (?,?,0,?,?,?,?,?,?,?,?,?,?,?)",
            (
                incident.id,
                kind.value,
                Channel.PHONE.value,
                ReportState.SENT.value,
                _json({"note": said} if said else {}),
                _json(reporting.figures.to_json()),
                operator,
                stamp,
                stamp,
                operator,
                given_at,
                whom,
                said,
            ),
        )
        sitrep_id = int(cursor.lastrowid or 0)
        heading, text = _rendered(_document(db, get_sitrep(db, sitrep_id), reports, ""))
        db.conn.execute("UPDATE sitreps SET text = ? WHERE id = ?", (text, sitrep_id))
        append_event(
            db,
            at=stamp,
            operator=operator,
            kind="sitrep_phoned",
            incident_id=incident.id,
            data={
                "id": sitrep_id,
                "kind": kind.value,
                "seq": 0,
                "name": ObligationKind.PHONE.label_zh,
                "channel": Channel.PHONE.value,
                "to": whom,
                "at": given_at,
                "note": said,
                "title": heading,
                "text": text,
                "figures": reporting.figures.to_json(),
            },
        )
        return get_sitrep(db, sitrep_id)


def discard(db: Database, clock: Clock, operator: str, sitrep_id: int) -> None:
    """Throw a draft (or a signed report not sent) away; audited with what it said.

    Raises:
        InvalidTransition: the report was sent.
    """
    with write(db):
        sitrep = get_sitrep(db, sitrep_id)
        _editable(sitrep)
        db.conn.execute("DELETE FROM sitreps WHERE id = ?", (sitrep.id,))
        append_event(
            db,
            at=to_iso(clock.now()),
            operator=operator,
            kind="sitrep_discarded",
            incident_id=sitrep.case_id,
            data={
                "id": sitrep.id,
                "kind": sitrep.kind.value,
                "seq": sitrep.seq,
                "name": sitrep.name,
                "state": sitrep.state.value,
                "fields": sitrep.fields,
                "figures": sitrep.figures.to_json(),
            },
        )


# --- documents -------------------------------------------------------------------------------


def _document(db: Database, sitrep: Sitrep, reports: Sequence[Sitrep], unit_name: str) -> SitrepDoc:
    incident = get_incident(db, sitrep.case_id)
    unit = (unit_name or sitrep.fields.get("unit", "") or _township_name(db)).strip()
    # The last written report sent before this one: what a follow-up's changes are counted from
    # (a report by phone need not have said any figure).
    before = [
        r
        for r in _sent(reports)
        if r.id != sitrep.id
        and r.channel is Channel.WRITTEN
        and (sitrep.sent_at is None or (r.sent_at is not None and r.sent_at <= sitrep.sent_at))
    ]
    previous = before[-1].figures if before else None
    corrects_name = None
    if sitrep.corrects is not None:
        corrects_name = next((r.name for r in reports if r.id == sitrep.corrects), None)
    extra: dict[str, Any] = {
        "timezone": ZONE.key,
        "case_number": incident.number,
        "category": incident.category,
        "type": incident.type,
        "severity": incident.severity.roman,
        "stage": incident.stage.value,
        "location": incident.location,
    }
    return SitrepDoc(
        sitrep=sitrep,
        case_title=incident.title,
        unit_name=unit,
        previous=previous,
        corrects_name=corrects_name,
        extra=extra,
    )


def document(db: Database, sitrep_id: int, *, unit_name: str = "") -> SitrepDoc:
    """What the renderers need of a report: the report, its case's title, the reporting unit
    (``unit_name``, else the report's 报告单位, else the township's name), the figures of the
    written report sent before it, and the name of the report it corrects."""
    sitrep = get_sitrep(db, sitrep_id)
    return _document(db, sitrep, _case_sitreps(db, sitrep.case_id), unit_name)


# --- obligations -----------------------------------------------------------------------------


def _severity(value: Any, default: int) -> int:
    """A level as the timeline wrote it (1-4, or I-IV); ``default`` when it cannot be read."""
    try:
        return int(Severity.parse(value))
    except ValueError:
        return default


_DATA_KINDS = ("reported", "edit", "sitrep_marked")
"""The timeline kinds whose data :func:`_moments` reads (the others: their kind and stage)."""


class _Entry(NamedTuple):
    """What :func:`_moments` reads of a timeline entry (``data`` empty unless its kind is one
    of :data:`_DATA_KINDS`)."""

    at: str
    kind: str
    stage_to: str | None
    data: dict[str, Any]


def _entries(db: Database, incident_id: int) -> list[_Entry]:
    """The case's timeline as :func:`_moments` needs it: the entries of
    :func:`incidents.records.timeline`, in the same order, without parsing (and masking) the
    data of the entries that only move the stage or are notes, reminders, reports..."""
    rows = db.conn.execute(
        "SELECT at, kind, stage_to, CASE WHEN kind IN (?, ?, ?) THEN data END FROM events"
        " WHERE incident_id = ? ORDER BY id",
        (*_DATA_KINDS, incident_id),
    ).fetchall()
    return [
        _Entry(at, kind, Stage(stage_to).value if stage_to else None, _loads(data))
        for at, kind, stage_to, data in rows
    ]


def _loads(data: str | None) -> dict[str, Any]:
    if data is None:
        return {}
    loaded = json.loads(data)
    return loaded if isinstance(loaded, dict) else {}


def _moments(db: Database, incident: Incident, reporting: CaseReporting) -> list[CaseMoment]:
    """The case after each change that bears on its reporting, from its timeline.

    Every moment carries the case's current received time (a correction says when it was
    really received, from the start). A case whose timeline does not start with ``reported``
    (loaded in bulk) starts as the record has it now.
    """
    entries = _entries(db, incident.id)
    state: dict[str, Any] = {
        "category": incident.category,
        "type": incident.type,
        "severity": int(incident.severity),
        "stage": Stage.REPORTED.value,
    }
    marks = {"marked": False, "sensitive": False}
    marked = False  # either mark: reportable whatever the level
    moments: list[CaseMoment] = []

    def moment(at: datetime, figures_changed: bool = False) -> None:
        moments.append(
            CaseMoment(
                at=at,
                category=state["category"],
                type=state["type"],
                severity=state["severity"],
                stage=state["stage"],
                received_at=reporting.received_at,
                marked=marked,
                figures_changed=figures_changed,
            )
        )

    if not entries or entries[0].kind != "reported":
        moment(incident.reported_at)
    for entry in entries:
        changed = False
        data = entry.data
        if entry.kind == "reported":
            state["category"] = str(data.get("category") or incident.category)
            state["type"] = str(data.get("type") or incident.type)
            state["severity"] = _severity(data.get("severity"), int(incident.severity))
            changed = True
        if entry.stage_to is not None and entry.stage_to != state["stage"]:
            state["stage"] = entry.stage_to
            changed = True
        changes = data.get("changes") if entry.kind == "edit" else None
        if isinstance(changes, dict):
            for name in ("category", "type", "severity"):
                pair = changes.get(name)
                if not (isinstance(pair, list) and len(pair) == 2 and pair[1] is not None):
                    continue
                value = _severity(pair[1], state[name]) if name == "severity" else str(pair[1])
                if value != state[name]:
                    state[name] = value
                    changed = True
        if entry.kind == "sitrep_marked":
            for name in ("marked", "sensitive"):
                pair = data.get(name)
                if isinstance(pair, list) and len(pair) == 2:
                    marks[name] = bool(pair[1])
            if any(marks.values()) != marked:
                marked = any(marks.values())
                changed = True
        figures_changed = entry.kind == "sitrep_figures"
        if changed or figures_changed:
            moment(from_iso(entry.at), figures_changed)
    return moments


def _filed_of(db: Database, incident_id: int) -> list[Filed]:
    """The case's reports that went up, as the calculator takes them: those :func:`_sent`
    keeps of :func:`_case_sitreps`, in its order, reading only the columns needed (not each
    report's fields, figures and text, nor the hub's receipts)."""
    rows = db.conn.execute(
        "SELECT id, kind, channel, state, sent_at FROM sitreps WHERE incident_id = ?"
        " ORDER BY id LIMIT ?",
        (incident_id, MAX_LIMIT),
    ).fetchall()
    sent = [
        (from_iso(sent_at), int(ref), kind, channel)
        for ref, kind, channel, state, sent_at in rows
        if ReportState(state).final and sent_at
    ]
    sent.sort(key=lambda item: (item[0], item[1]))
    return [
        Filed(ref=ref, kind=ReportKind(kind), channel=Channel(channel), at=at)
        for at, ref, kind, channel in sent
    ]


def recompute(db: Database, rules: SitrepRules, incident_id: int, now: datetime) -> int:
    """Bring one case's obligation rows up to date (inside the caller's transaction).

    Rows are keyed by (case, kind, seq) and updated in place, keeping ``alerted_at`` unless the
    deadline moved into the future (then it may alert again); a stored obligation the calculator
    no longer produces is cancelled (met ones stay as they were). Returns how many it computed.
    """
    try:
        incident = get_incident(db, incident_id)
    except NotFound:
        return 0
    reporting = _reporting(db, incident)
    moments = _moments(db, incident, reporting)
    filed = _filed_of(db, incident.id)
    computed = compute(
        moments, filed, rules, case_id=incident.id, case_number=incident.number, now=now
    )
    stamp = to_iso(now)
    keys: set[tuple[str, int]] = set()
    for ob in computed:
        keys.add((ob.kind.value, ob.seq))
        db.conn.execute(
            "INSERT INTO sitrep_obligations (incident_id, kind, seq, reason, since, due_at,"
            " met_at, met_by, cancelled) VALUES (?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(incident_id, kind, seq) DO UPDATE SET reason = excluded.reason,"
            " since = excluded.since, met_at = excluded.met_at, met_by = excluded.met_by,"
            " cancelled = excluded.cancelled,"
            " alerted_at = CASE WHEN excluded.due_at != sitrep_obligations.due_at"
            " AND excluded.due_at > ? THEN NULL ELSE sitrep_obligations.alerted_at END,"
            " due_at = excluded.due_at",
            (
                incident.id,
                ob.kind.value,
                ob.seq,
                ob.reason.value,
                to_iso(ob.since),
                to_iso(ob.due),
                to_iso(ob.met_at) if ob.met_at else None,
                ob.met_by if isinstance(ob.met_by, int) else None,
                int(ob.cancelled),
                stamp,
            ),
        )
    for row_id, kind, seq in db.conn.execute(
        "SELECT id, kind, seq FROM sitrep_obligations WHERE incident_id = ? AND met_at IS NULL"
        " AND cancelled = 0",
        (incident.id,),
    ).fetchall():
        if (kind, int(seq)) not in keys:
            db.conn.execute(
                "UPDATE sitrep_obligations SET cancelled = 1 WHERE id = ?", (int(row_id),)
            )
    return len(computed)


def _cursor(db: Database) -> int:
    row = db.conn.execute("SELECT event_id FROM sitrep_cursor WHERE id = 1").fetchone()
    return 0 if row is None else int(row[0])


def catch_up(
    db: Database,
    clock: Clock,
    rules: SitrepRules,
    *,
    batch: int = CATCH_UP_BATCH,
    max_batches: int | None = None,
) -> int:
    """Move ``sitrep_cursor`` over the timeline entries written since, recomputing the
    obligations of every case they touched; each batch of entries in one transaction, at most
    ``max_batches`` of them (None: until the end). Returns how many cases were recomputed."""
    now = clock.now()
    done = 0
    steps = 0
    while max_batches is None or steps < max_batches:
        steps += 1
        # Most calls find nothing new: look before taking the write lock.
        if not db.conn.execute(
            "SELECT 1 FROM events WHERE id > ? LIMIT 1", (_cursor(db),)
        ).fetchone():
            return done
        with write(db):
            after = _cursor(db)
            rows = db.conn.execute(
                "SELECT id, incident_id, kind, stage_to FROM events WHERE id > ? ORDER BY id"
                " LIMIT ?",
                (after, batch),
            ).fetchall()
            if not rows:
                return done
            touched = sorted(
                {
                    int(incident_id)
                    for _id, incident_id, kind, stage_to in rows
                    if incident_id is not None and (kind not in _IDLE_KINDS or stage_to is not None)
                }
            )
            for incident_id in touched:
                recompute(db, rules, incident_id, now)
            db.conn.execute(
                "INSERT INTO sitrep_cursor (id, event_id) VALUES (1, ?)"
                " ON CONFLICT(id) DO UPDATE SET event_id = excluded.event_id",
                (int(rows[-1][0]),),
            )
            done += len(touched)
        if len(rows) < batch:
            return done
    return done


def _row_to_obligation(r: _ObligationRow, number: str) -> Obligation:
    return Obligation(
        case_id=int(r.incident_id),
        case_number=number,
        kind=ObligationKind(r.kind),
        seq=int(r.seq),
        reason=Reason(r.reason),
        since=from_iso(r.since),
        due=from_iso(r.due_at),
        met_at=_opt(r.met_at),
        met_by=r.met_by,
        cancelled=bool(r.cancelled),
        id=int(r.id),
    )


def _obligations(db: Database, where: str, params: Sequence[Any], limit: int) -> list[Obligation]:
    rows = [
        _ObligationRow._make(row)
        for row in db.conn.execute(
            f"SELECT {_OBLIGATION_COLUMNS} FROM sitrep_obligations WHERE {where}"
            " ORDER BY due_at, id LIMIT ?",
            (*params, min(max(limit, 1), MAX_LIMIT)),
        )
    ]
    numbers = _Numbers(db)
    return [_row_to_obligation(r, numbers(int(r.incident_id))) for r in rows]


_UNALERTED = "met_at IS NULL AND cancelled = 0 AND due_at < ? AND alerted_at IS NULL"
"""Overdue at ``?`` and not alerted yet (the partial index on open obligations serves it)."""


def sweep(db: Database, clock: Clock, rules: SitrepRules) -> list[Obligation]:
    """Catch up, then write one ``sitrep_overdue`` entry (operator ``system``) for each
    obligation that fell overdue and was not alerted yet; returns those obligations."""
    catch_up(db, clock, rules, max_batches=SWEEP_BATCHES)
    now = clock.now()
    stamp = to_iso(now)
    alerted: list[Obligation] = []
    # Most sweeps find nothing: look before taking the write lock.
    if not db.conn.execute(
        f"SELECT 1 FROM sitrep_obligations WHERE {_UNALERTED} LIMIT 1", (stamp,)
    ).fetchone():
        return alerted
    with write(db):
        due = _obligations(db, _UNALERTED, (stamp,), SWEEP_ALERTS)
        # Recomputed at this moment first: what fell due may have been settled meanwhile.
        for incident_id in sorted({ob.case_id for ob in due}):
            recompute(db, rules, incident_id, now)
        for ob in _obligations(db, _UNALERTED, (stamp,), SWEEP_ALERTS):
            db.conn.execute(
                "UPDATE sitrep_obligations SET alerted_at = ? WHERE id = ?", (stamp, ob.id)
            )
            append_event(
                db,
                at=stamp,
                operator=SYSTEM,
                kind="sitrep_overdue",
                incident_id=ob.case_id,
                data={
                    "obligation": ob.id,
                    "kind": ob.kind.value,
                    "seq": ob.seq,
                    "name": ob.kind.label_zh,
                    "reason": ob.reason.value,
                    "due": to_iso(ob.due),
                    "case": ob.case_number,
                },
            )
            alerted.append(ob)
    return alerted


def obligations_of(db: Database, now: datetime, case: int | str) -> list[Obligation]:
    """A case's obligations (every state), by deadline."""
    incident = get_incident(db, case)
    return _obligations(db, "incident_id = ?", (incident.id,), MAX_LIMIT)


def open_obligations(db: Database, now: datetime, *, limit: int = 200) -> list[Obligation]:
    """Obligations still owed (due or overdue), the earliest deadline first."""
    return _obligations(db, "met_at IS NULL AND cancelled = 0", (), limit)


def late_obligations(
    db: Database, now: datetime, *, since: datetime | None = None, limit: int = 200
) -> list[Obligation]:
    """Obligations overdue now or met late, by deadline; ``since``: deadlines from then on."""
    where = (
        "cancelled = 0 AND ((met_at IS NULL AND due_at < ?) OR (met_at IS NOT NULL"
        " AND met_at > due_at))"
    )
    params: list[Any] = [to_iso(now)]
    if since is not None:
        where += " AND due_at >= ?"
        params.append(to_iso(since))
    return _obligations(db, where, params, limit)
