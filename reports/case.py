"""Provides the post-incident report of one case (事件总结报告) as a :class:`Document`.

The report follows an incident briefing (situation, objectives, actions, organization,
resources), then the classification and severity history, each stage against its time limit
(with a Gantt chart), the mobilizations (reached, answers per level, time to answer, who stayed
silent or was unreachable, answers over time), the tasks, the information reports sent up and
their timeliness, the lessons and follow-up actions (:mod:`incidents.review`) and an ICS-214
style activity log: every timeline entry with its time, who and what.

Everything is read through the owners' functions; the large parts are aggregated in SQL
(:func:`mobilization.progress.answers_over_time`, :func:`mobilization.progress.people_in`), so a
case with a 30,000-person mobilization builds in well under a second. Phones are masked unless
``masked=False`` (the caller audits that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from incidents.limits import Policy
from incidents.models import (
    EVENT_NAMES,
    FIELD_NAMES,
    Incident,
    Severity,
    Stage,
    TimelineEntry,
    Urgency,
    category_label,
    type_label,
)
from incidents.records import get_incident, tasks_of, timeline
from incidents.review import review_of
from mobilization import progress
from mobilization.models import Mobilization
from mobilization.vocabulary import EVENT_NAMES as MOBILIZATION_EVENT_NAMES
from mobilization.vocabulary import SILENT, RecipientState
from reports.document import (
    Block,
    Callout,
    Chart,
    ChartKind,
    Document,
    Figures,
    Heading,
    Items,
    Para,
    Series,
    Span,
    Table,
)
from store.db import Database
from store.i18n import N_, _, language
from store.masking import mask_phone
from uplink.callanswer import EVENT_NAMES as CALL_EVENT_NAMES
from uplink.field import EVENT_NAMES as FIELD_EVENT_NAMES
from uplink.reporting import EVENT_NAMES as SITREP_EVENT_NAMES
from uplink.reporting import Channel, ObligationState
from uplink.sitreps import list_sitreps, obligations_of

PEOPLE_LIMIT = 200
"""Silent or unreachable people listed per mobilization; the rest are counted."""
NONE = "—"

# What an entry's data may say in words, in this order: (key, how it is introduced).
_DETAILS = (
    ("to", N_("to {value}")),
    ("reason", N_("reason: {value}")),
    ("note", N_("note: {value}")),
    ("text", "{value}"),
    ("result", N_("result: {value}")),
    ("title", "{value}"),
)
_PHONE_ONLY = re.compile(r"\+?\d{7,15}")
_MOBILE_IN_TEXT = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")


def _mask_text(text: str, masked: bool) -> str:
    """Mobile numbers in free text masked (``138****8000``) when the report is masked."""
    if not masked:
        return text
    return _MOBILE_IN_TEXT.sub(
        lambda m: mask_phone("+86" + re.sub(r"\D", "", m.group())[-11:]), text
    )


def _person(key: str | None, masked: bool) -> str:
    """A person or operator; a key that is a phone number is masked."""
    if not key:
        return NONE
    if masked and _PHONE_ONLY.fullmatch(key.strip()):
        digits = key.strip()
        return mask_phone(digits if digits.startswith("+") else "+86" + digits[-11:])
    return key


def _when(at: datetime | None, zone: tzinfo) -> str:
    # isoformat is several times faster than strftime: 10,000 log rows
    return at.astimezone(zone).isoformat(" ", "minutes")[:16] if at is not None else NONE


def _duration(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days and not hours:
        return _("{days} d").format(days=days)
    if days:
        return _("{days} d {hours} h").format(days=days, hours=hours)
    if hours and not mins:
        return _("{hours} h").format(hours=hours)
    if hours:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=mins)
    return _("{minutes} min").format(minutes=mins)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else NONE


def _kind_word(kind: str) -> str:
    for names in (
        EVENT_NAMES,
        MOBILIZATION_EVENT_NAMES,
        SITREP_EVENT_NAMES,
        FIELD_EVENT_NAMES,
        CALL_EVENT_NAMES,
    ):
        if kind in names:
            return _(names[kind])
    return kind.replace("_", " ")


def _stage_word(stage: str | None) -> str:
    try:
        return Stage(stage).label if stage else NONE
    except ValueError:
        return str(stage)


def describe(entry: TimelineEntry, zone: tzinfo, *, masked: bool = True) -> str:
    """One timeline entry in words: what happened, the stage move, its reason, note or result,
    the deadline it set (an extension) — the activity log's "what"."""
    from store.clock import from_iso

    word = _kind_word(entry.kind)
    if entry.stage_from is not None and entry.stage_to is not None:
        word += f" ({entry.stage_from.label} → {entry.stage_to.label})"
    parts = [word]
    data = entry.data
    if entry.kind == "edit" and isinstance(data.get("changes"), dict):
        for name, pair in data["changes"].items():
            if isinstance(pair, list) and len(pair) == 2:
                parts.append(
                    _("{field}: {old} → {new}").format(
                        field=_(FIELD_NAMES[name]) if name in FIELD_NAMES else name,
                        old=_value(name, pair[0]),
                        new=_value(name, pair[1]),
                    )
                )
    for key, form in _DETAILS:
        value = data.get(key)
        if isinstance(value, str) and value:
            parts.append((_(form) if form != "{value}" else form).format(value=value))
    if entry.kind in _EXTENSION_KINDS:
        for key in ("until", "deadline"):
            value = data.get(key)
            if isinstance(value, str):
                parts.append(_("new limit {time}").format(time=_when(from_iso(value), zone)))
                break
    return _mask_text("; ".join(parts), masked)


_EXTENSION_KINDS = ("extension_requested", "extension_granted")


def _value(name: str, value: Any) -> str:
    if value is None or value == "":
        return NONE
    if name == "severity":
        try:
            return Severity.parse(value).roman
        except ValueError:
            return str(value)
    if name == "urgency":
        try:
            return Urgency.parse(str(value)).label
        except ValueError:
            return str(value)
    return str(value)


# ---- stages -----------------------------------------------------------------------------------


@dataclass
class StageSpan:
    """One stay of the case in an open stage: from entering it to leaving it (None: still in)."""

    stage: Stage
    start: datetime
    end: datetime | None
    limit: datetime | None

    def late(self, now: datetime) -> bool:
        end = self.end or now
        return self.limit is not None and end > self.limit


def stage_spans(
    incident: Incident, entries: Sequence[TimelineEntry], policy: Policy | None = None
) -> list[StageSpan]:
    """The case's stays in open stages, from its timeline: each stage change opens one (with the
    deadline the step set), an extension granted moves the open one's limit."""
    from store.clock import from_iso

    spans: list[StageSpan] = []
    current: StageSpan | None = None
    for entry in entries:
        if entry.stage_to is not None:
            if current is not None:
                current.end = entry.at
                current = None
            if entry.stage_to.is_open:
                deadline = entry.data.get("deadline")
                limit = from_iso(deadline) if isinstance(deadline, str) else None
                if limit is None and entry.kind == "reported" and policy is not None:
                    limit = policy.deadline(
                        Stage.REPORTED, entry.at, incident.category, incident.type, incident.urgency
                    )
                current = StageSpan(entry.stage_to, entry.at, None, limit)
                spans.append(current)
        elif (
            current is not None
            and isinstance(entry.data.get("deadline"), str)
            and entry.kind in ("extension_granted", "unpark")
        ):
            current.limit = from_iso(entry.data["deadline"])
    return spans


# ---- the report -------------------------------------------------------------------------------


def build_case_report(
    db: Database,
    ref: int | str,
    *,
    now: datetime,
    zone: tzinfo,
    masked: bool = True,
    lessons: bool = True,
    policy: Policy | None = None,
) -> Document:
    """The post-incident report of case ``ref`` (id or number) as it stands at ``now``.

    Args:
        zone: the office's time zone: every time is shown in it.
        masked: phones masked (reporter's, people's keys, numbers in notes); ``False`` shows them
            and the caller audits it (``store.audit.record_personal_data_shown``).
        lessons: include the lessons and follow-up actions section.
        policy: the stage limits, for the first stage's limit (the later ones are in the
            timeline); without it the first stage shows no limit.

    Raises:
        NotFound: no such case.
    """
    incident = get_incident(db, ref)
    entries = timeline(db, incident.id)
    spans = stage_spans(incident, entries, policy)
    mobilizations = list(
        reversed(progress.list_mobilizations(db, incident_id=incident.id, limit=100))
    )
    tasks = tasks_of(db, incident.id)
    sitreps = [s for s in list_sitreps(db, case=incident.id, limit=500) if s.sent_at is not None]
    obligations = [o for o in obligations_of(db, now, incident.id) if not o.cancelled]

    limited = [s for s in spans if s.limit is not None]
    on_time = sum(1 for s in limited if not s.late(now))
    end = incident.closed_at if incident.closed_at and not incident.stage.is_open else now
    called = reached = 0
    for mob in mobilizations:
        counts = progress.totals(db, mob.id)
        called += counts.total
        reached += counts.notified
    settled = [o for o in obligations if o.state_at(now) is not ObligationState.PENDING]
    reports_on_time = sum(1 for o in settled if o.state_at(now) is ObligationState.MET)

    blocks: list[Block] = [
        Figures(
            (
                (_("Stages on time"), f"{on_time}/{len(limited)}" if limited else NONE, ""),
                (
                    _("Total duration"),
                    _duration((end - incident.reported_at).total_seconds()),
                    "" if not incident.stage.is_open else _("still open"),
                ),
                (
                    _("Mobilization reached"),
                    _percent(reached, called),
                    _("{reached} of {called}").format(reached=reached, called=called)
                    if called
                    else "",
                ),
                (
                    _("Reports on time"),
                    f"{reports_on_time}/{len(settled)}" if settled else NONE,
                    "",
                ),
            )
        )
    ]
    if not masked:
        blocks.append(Callout(_("Personal data shown unmasked: handle this document accordingly.")))
    blocks += _summary(incident, entries, tasks, mobilizations, masked, zone)
    blocks += _classification(incident, entries, masked, zone)
    blocks += _stages(incident, entries, spans, now, zone, masked)
    for mob in mobilizations:
        blocks += _mobilization(db, mob, now, zone, masked)
    blocks += _tasks(tasks, now, zone, masked)
    blocks += _reports(sitreps, obligations, now, zone, masked)
    if lessons:
        blocks += _review(db, incident, zone, masked)
    blocks.append(Heading(1, _("Activity log")))
    blocks.append(
        Table(
            header=(_("Time"), _("Who"), _("What")),
            rows=tuple(
                (_when(e.at, zone), _person(e.operator, masked), describe(e, zone, masked=masked))
                for e in entries
            ),
            widths=(2, 2, 7),
        )
    )
    facts = (
        (_("Case"), incident.number),
        (_("Category"), f"{category_label(incident.category)} / {type_label(incident.type)}"),
        (_("Level"), f"{incident.severity.roman} ({incident.severity.label})"),
        (_("Stage"), incident.stage.label),
        (_("Reported"), _when(incident.reported_at, zone)),
        (_("Generated"), _when(now, zone)),
        (_("Personal data"), _("masked") if masked else _("unmasked")),
    )
    return Document(
        kind="case",
        title=_("Post-incident report: {number} {title}").format(
            number=incident.number, title=incident.title
        ),
        blocks=tuple(blocks),
        generated_at=now,
        lang=language(),
        subtitle=incident.location,
        facts=facts,
        masked=masked,
        extra={"case": incident.number},
    )


def _summary(
    incident: Incident,
    entries: Sequence[TimelineEntry],
    tasks: Sequence[Any],
    mobilizations: Sequence[Mobilization],
    masked: bool,
    zone: tzinfo,
) -> list[Block]:
    reporter = incident.reporter_name or NONE
    phone = incident.reporter_phone
    if phone:
        reporter += " " + (mask_phone(phone) if masked else phone)
    situation = _(
        "{description} Location: {location}. Reported {at} by {source}; reporter: {reporter}."
    ).format(
        description=_mask_text(incident.description or incident.title, masked),
        location=incident.location or NONE,
        at=_when(incident.reported_at, zone),
        source=incident.source.label,
        reporter=reporter,
    )
    objectives = "; ".join(t.title for t in tasks) or _(
        "bring the case through the closed loop within its stage limits"
    )
    steps = [e for e in entries if e.stage_to is not None or e.kind == "assign"]
    actions = "; ".join(_step_words(e, zone) for e in steps[:20]) + (
        _(" (and {count} more)").format(count=len(steps) - 20) if len(steps) > 20 else ""
    )
    targets = []
    for e in entries:
        to = e.data.get("to")
        if e.kind in ("dispatch", "assign") and isinstance(to, str) and to not in targets:
            targets.append(to)
    operators = sorted({_person(e.operator, masked) for e in entries})
    organization = _(
        "Responsible: {assignee}. Dispatched to: {targets}. Officers: {operators}."
    ).format(
        assignee=incident.assignee or NONE,
        targets=", ".join(targets) or NONE,
        operators=", ".join(operators) or NONE,
    )
    resources = (
        "; ".join(
            _("mobilization {id} of {targets} ({state})").format(
                id=m.id, targets=", ".join(m.targets), state=m.state.label
            )
            for m in mobilizations
        )
        or NONE
    )
    return [
        Heading(1, _("Summary")),
        Items(
            (
                (_("Situation"), situation),
                (_("Objectives"), _mask_text(objectives, masked)),
                (_("Actions"), actions or NONE),
                (_("Organization"), organization),
                (_("Resources"), resources),
            )
        ),
    ]


def _step_words(entry: TimelineEntry, zone: tzinfo) -> str:
    """``10:32 dispatched team:T-RESCUE``: a step of the case, briefly, for the summary."""
    to = entry.data.get("to")
    target = f" {to}" if isinstance(to, str) and to else ""
    return f"{_when(entry.at, zone)} {_kind_word(entry.kind)}{target}"


_CLASS_FIELDS = ("category", "type", "severity", "urgency")


def _classification(
    incident: Incident, entries: Sequence[TimelineEntry], masked: bool, zone: tzinfo
) -> list[Block]:
    rows: list[tuple[str, ...]] = []
    for e in entries:
        if e.kind == "reported":
            first = e.data
            rows.append(
                (
                    _when(e.at, zone),
                    _person(e.operator, masked),
                    _("as reported"),
                    f"{category_label(str(first.get('category', incident.category)))} / "
                    f"{type_label(str(first.get('type', incident.type)))}; "
                    f"{_value('severity', first.get('severity', incident.severity.value))}; "
                    f"{_value('urgency', first.get('urgency', incident.urgency.value))}",
                )
            )
        elif e.kind == "edit" and isinstance(e.data.get("changes"), dict):
            changed = [
                _("{field}: {old} → {new}").format(
                    field=_(FIELD_NAMES.get(name, name)) if name in FIELD_NAMES else name,
                    old=_value(name, pair[0]),
                    new=_value(name, pair[1]),
                )
                for name, pair in e.data["changes"].items()
                if name in _CLASS_FIELDS and isinstance(pair, list) and len(pair) == 2
            ]
            if changed:
                rows.append(
                    (
                        _when(e.at, zone),
                        _person(e.operator, masked),
                        _("changed"),
                        "; ".join(changed),
                    )
                )
    return [
        Heading(1, _("Classification and level")),
        Table(
            header=(_("Time"), _("Who"), _("Change"), _("Classification")),
            rows=tuple(rows),
            widths=(2, 2, 1.5, 6),
        ),
    ]


def _stages(
    incident: Incident,
    entries: Sequence[TimelineEntry],
    spans: Sequence[StageSpan],
    now: datetime,
    zone: tzinfo,
    masked: bool,
) -> list[Block]:
    rows: list[tuple[str, ...]] = []
    marked: set[int] = set()
    for index, span in enumerate(spans):
        end = span.end or now
        late_by = ""
        if span.late(now) and span.limit is not None:
            marked.add(index)
            late_by = _duration((end - span.limit).total_seconds())
        allowed = _duration((span.limit - span.start).total_seconds()) if span.limit else NONE
        rows.append(
            (
                span.stage.label,
                _when(span.start, zone),
                _when(span.end, zone) if span.end else _("(still in it)"),
                _duration((end - span.start).total_seconds()),
                allowed,
                late_by or (NONE if span.limit is None else _("on time")),
            )
        )
    blocks: list[Block] = [
        Heading(1, _("Stages against their limits")),
        Table(
            header=(_("Stage"), _("Entered"), _("Left at"), _("Took"), _("Limit"), _("Late by")),
            rows=tuple(rows),
            align="lllrrr",
            marked=frozenset(marked),
        ),
    ]
    if spans:
        blocks.append(
            Chart(
                kind=ChartKind.GANTT,
                title=_("Stages of case {number}").format(number=incident.number),
                spans=tuple(
                    Span(
                        label=s.stage.label,
                        start=s.start.astimezone(zone),
                        end=s.end.astimezone(zone) if s.end else None,
                        limit=s.limit.astimezone(zone) if s.limit else None,
                        late=s.late(now),
                    )
                    for s in spans
                ),
                now=now.astimezone(zone),
                note=_(
                    "Each stage from entering to leaving it; the mark is its limit,"
                    " late stages in red."
                ),
            )
        )
    changes: list[tuple[str, str]] = []
    for e in entries:
        if e.kind in ("return", "extension_requested", "extension_granted", "extension_rejected"):
            changes.append((_when(e.at, zone), describe(e, zone, masked=masked)))
    if changes:
        blocks.append(Heading(2, _("Extensions and returns")))
        blocks.append(Items(tuple(changes)))
    return blocks


def _mobilization(
    db: Database, mob: Mobilization, now: datetime, zone: tzinfo, masked: bool
) -> list[Block]:
    total = progress.totals(db, mob.id)
    by_level, p50, p90 = progress.level_counts(db, mob.id)
    blocks: list[Block] = [
        Heading(1, _("Mobilization {id}").format(id=mob.id)),
        Para(
            _("{targets}, started {at} by {who}; {state}.").format(
                targets=", ".join(mob.targets),
                at=_when(mob.created_at, zone),
                who=_person(mob.created_by, masked),
                state=mob.state.label,
            )
        ),
        Figures(
            (
                (
                    _("Reached"),
                    _percent(total.notified, total.total),
                    f"{total.notified}/{total.total}",
                ),
                (_("Yes"), str(total.yes), ""),
                (_("No"), str(total.no), ""),
                (_("Silent"), str(total.silent), ""),
                (_("Unreachable"), str(total.unreachable), ""),
                (
                    _("Time to answer p50 / p90"),
                    " / ".join(_duration(v) if v is not None else NONE for v in (p50, p90)),
                    "",
                ),
            )
        ),
        Table(
            header=(
                _("Level"),
                _("People"),
                _("Reached"),
                _("Yes"),
                _("No"),
                _("Silent"),
                _("Unreachable"),
            ),
            rows=tuple(
                (
                    str(level),
                    str(c.total),
                    _percent(c.notified, c.total),
                    str(c.yes),
                    str(c.no),
                    str(c.silent),
                    str(c.unreachable),
                )
                for level, c in sorted(by_level.items())
            ),
            align="lrrrrrr",
            caption=_("Answers per level"),
        ),
    ]
    points = progress.answers_over_time(db, mob.id)
    if points:
        yes = no = calls = 0
        series: dict[str, list[tuple[datetime | str, float]]] = {"yes": [], "no": [], "silent": []}
        for point in points:
            calls += point.called
            yes += point.yes
            no += point.no
            at = point.minute.astimezone(zone)
            series["yes"].append((at, float(yes)))
            series["no"].append((at, float(no)))
            series["silent"].append((at, float(max(0, calls - yes - no))))
        # The lines hold their last values until the mobilization ended (or now, while it runs).
        end = mob.finished_at or min(now, mob.expires_at)
        if end > points[-1].minute + timedelta(minutes=1):
            for values in series.values():
                values.append((end.astimezone(zone), values[-1][1]))
        blocks.append(
            Chart(
                kind=ChartKind.LINE,
                title=_("Answers over time, mobilization {id}").format(id=mob.id),
                series=(
                    Series(_("yes"), tuple(series["yes"])),
                    Series(_("no"), tuple(series["no"])),
                    Series(_("silent"), tuple(series["silent"])),
                ),
                x_label=_("time"),
                y_label=_("people"),
                note=_("Cumulative answers yes and no, and people called who have not answered."),
            )
        )
    for title, states in (
        (_("Silent"), sorted(SILENT)),
        (_("Unreachable"), [RecipientState.UNREACHABLE.value]),
    ):
        people, count = progress.people_in(db, mob.id, [str(s) for s in states], limit=PEOPLE_LIMIT)
        if not count:
            continue
        blocks.append(
            Table(
                header=(_("Person"), _("Node"), _("First called"), _("Sends")),
                rows=tuple(
                    (_person(p.name, masked), p.node, _when(p.since, zone), str(p.sends))
                    for p in people
                ),
                align="lllr",
                caption=title
                + (
                    _(" (first {shown}, and {more} more)").format(
                        shown=len(people), more=count - len(people)
                    )
                    if count > len(people)
                    else ""
                ),
            )
        )
    return blocks


def _tasks(tasks: Sequence[Any], now: datetime, zone: tzinfo, masked: bool) -> list[Block]:
    if not tasks:
        return []
    return [
        Heading(1, _("Tasks")),
        Table(
            header=(_("Task"), _("Owner"), _("Due"), _("Done")),
            rows=tuple(
                (
                    _mask_text(t.title, masked),
                    _person(t.owner, masked),
                    _when(t.due, zone),
                    _when(t.done_at, zone) if t.done_at else _("open"),
                )
                for t in tasks
            ),
            marked=frozenset(i for i, t in enumerate(tasks) if t.overdue_at(now)),
        ),
    ]


def _reports(
    sitreps: Sequence[Any], obligations: Sequence[Any], now: datetime, zone: tzinfo, masked: bool
) -> list[Block]:
    if not sitreps and not obligations:
        return []
    blocks: list[Block] = [Heading(1, _("Information reports"))]
    if sitreps:
        blocks.append(
            Table(
                header=(_("Report"), _("How"), _("Sent"), _("By")),
                rows=tuple(
                    (
                        s.name,
                        _("by phone") if s.channel is Channel.PHONE else _("in writing"),
                        _when(s.sent_at, zone),
                        _person(s.sent_by, masked),
                    )
                    for s in sitreps
                ),
                caption=_("Reports sent up"),
            )
        )
    marked = set()
    rows: list[tuple[str, ...]] = []
    for index, ob in enumerate(obligations):
        state = ob.state_at(now)
        delay = ob.delay_at(now)
        if state in (ObligationState.LATE, ObligationState.OVERDUE):
            marked.add(index)
        rows.append(
            (
                ob.kind.label,
                _when(ob.due, zone),
                _when(ob.met_at, zone),
                state.label,
                _duration(delay * 60) if delay is not None else NONE,
            )
        )
    if rows:
        blocks.append(
            Table(
                header=(_("Obligation"), _("Due"), _("Met"), _("Timeliness"), _("Late by")),
                rows=tuple(rows),
                align="llllr",
                marked=frozenset(marked),
                caption=_("Timeliness"),
            )
        )
    return blocks


def _review(db: Database, incident: Incident, zone: tzinfo, masked: bool) -> list[Block]:
    review = review_of(db, incident.id)
    blocks: list[Block] = [Heading(1, _("Lessons and follow-up actions"))]
    if review.lessons:
        blocks.append(
            Items(tuple(("", _mask_text(lesson.text, masked)) for lesson in review.lessons))
        )
    else:
        blocks.append(Para(_("No lessons recorded yet (dutydesk report lesson CASE TEXT).")))
    if review.actions:
        blocks.append(
            Table(
                header=(_("Action"), _("Owner"), _("Due"), _("Added")),
                rows=tuple(
                    (
                        _mask_text(a.text, masked),
                        _person(a.owner, masked),
                        _when(a.due, zone),
                        _when(a.at, zone),
                    )
                    for a in review.actions
                ),
                caption=_("Follow-up actions"),
            )
        )
    return blocks
