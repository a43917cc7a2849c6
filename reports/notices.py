"""Provides :class:`NoticeWatcher`: what the duty officer should hear about, from the timeline.

Every change dutydesk makes appends to the ``events`` chain, whoever makes it (this console,
the CLI, another console, the engine, the ack server). The watcher remembers the newest entry
it has seen and, when asked, turns the entries after it into :class:`Notice` values: a new
report (with its level, and a bell for the levels configured), a case going overdue and put
under supervision (督办), a mobilization answer (who said yes or no), a node nobody answered,
a mobilization completed, an information report (初报, 续报, 终报) gone overdue (with the
bell), a warning received from above (its colour and event in words, its headline and its
叫应; red and orange ring the bell), a directive received (with the bell) and a directive whose
reply deadline passed unanswered (with the bell), and the ack server's security summary
(refused requests, and the phones or addresses locked out after too many failures; at most one
a minute). The console
shows them as toasts; this module knows nothing of Textual, so the wording is tested without a
screen.

Each :meth:`NoticeWatcher.poll` is one range read on the events' primary key (at most
:data:`BATCH` rows) plus primary-key lookups for the names it shows. A burst of one kind (a
sweep after downtime supervising fifty cases) becomes one notice, not fifty; a batch that comes
back full (a bulk import) is summed up in one notice and the watcher moves to the head of the
chain rather than replaying it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from incidents.models import Severity, Stage
from store.audit import StoredEvent, events_after, head
from store.clock import from_iso
from store.db import Database
from store.i18n import N_, _

if TYPE_CHECKING:
    from uplink.alerts import AlertRecord

NoticeSeverity = Literal["information", "warning", "error"]

BATCH = 200
"""Entries read per poll; a full batch means a bulk change, summed up instead of replayed."""
MAX_OF_A_KIND = 3
"""More notices of one kind than this in one poll are collapsed into one."""
NAMES_SHOWN = 5
"""Case numbers or names listed in a collapsed notice before "+N"."""

_RANK: dict[NoticeSeverity, int] = {"information": 0, "warning": 1, "error": 2}
# How a new report's toast looks, by case level: I and II as errors, III a warning.
_REPORT_SEVERITY: dict[int, NoticeSeverity] = {1: "error", 2: "error", 3: "warning"}


@dataclass(frozen=True)
class Notice:
    """One toast: a title, a message, how serious it is, and whether to ring the bell.

    The title and message say everything in words (the level, yes or no, overdue): the
    severity only picks the toast's colour, so nothing is conveyed by colour alone. Both are
    in the language of the process when the notice was made.
    """

    title: str
    message: str
    severity: NoticeSeverity = "information"
    bell: bool = False


@dataclass(frozen=True)
class _Item:
    """A notice with what is needed to collapse it with others of its kind."""

    kind: str
    label: str
    notice: Notice


@dataclass(frozen=True)
class _Case:
    number: str
    title: str
    severity: int | None


@dataclass(frozen=True)
class _Mobilization:
    message: str
    exercise: bool

    @property
    def prefix(self) -> str:
        return (_("[EXERCISE]") + " ") if self.exercise else ""

    def named(self, mob_id: int | None) -> str:
        """``mobilization #3 [EXERCISE] flood muster`` (the message cut short)."""
        name = _("mobilization #{id}").format(id=mob_id)
        return f"{name} {self.prefix}{_short(self.message)}"


# Titles of a collapsed notice, by kind (shown with _()): ``{n}`` is how many were collapsed,
# always more than MAX_OF_A_KIND.
_COLLAPSED: dict[str, str] = {
    "reported": N_("{n} new reports"),
    "supervise": N_("{n} cases overdue"),
    "answer": N_("{n} answers"),
    "unreachable": N_("{n} nodes unreachable"),
    "completed": N_("{n} mobilizations done"),
    "lockout": N_("{n} lockouts"),
    "sitrep_overdue": N_("{n} reports overdue"),
    "security": N_("{n} security summaries"),
    "alert": N_("{n} warnings received"),
    "directive": N_("{n} directives received"),
    "directive_overdue": N_("{n} directive replies overdue"),
    "field_accepted": N_("{n} cases accepted in the field"),
    "field_declined": N_("{n} cases declined in the field"),
    "field_feedback": N_("{n} feedbacks from the field"),
    "field_accept_overdue": N_("{n} cases not accepted in time"),
}
# The warning colours whose receipt rings the bell (uplink.cap.Colour values), and how their
# toast looks: as serious as the colour.
_BELL_COLOURS = frozenset({"red", "orange"})
_ALERT_SEVERITY: dict[str, NoticeSeverity] = {
    "red": "error",
    "orange": "error",
    "yellow": "warning",
}


class NoticeWatcher:
    """Turns new timeline entries into notices, remembering how far it has read.

    Args:
        db: the dutydesk database; the caller serialises access to a shared connection.
        bell_severities: the case levels (1 = I ... 4 = IV) whose new reports ring the bell.
    """

    def __init__(
        self,
        db: Database,
        *,
        bell_severities: Collection[int] = frozenset({1, 2}),
        zone: tzinfo = UTC,
    ) -> None:
        self.db = db
        self.bell_severities = frozenset(bell_severities)
        self.zone = zone
        """The office's zone, in which the notices give times (a warning's end, a deadline)."""
        self.last_id: int | None = None

    def prime(self) -> None:
        """Start from the newest entry now: what happened before is history, not news."""
        self.last_id = head(self.db)[0]

    def poll(self) -> list[Notice]:
        """The notices for the entries written since the last poll (or prime), oldest first.

        A watcher never primed primes itself and returns nothing.
        """
        if self.last_id is None:
            self.prime()
            return []
        events = events_after(self.db, self.last_id, BATCH)
        if not events:
            return []
        self.last_id = events[-1].id
        notices = _collapse(self._items(events))
        if len(events) == BATCH:
            newest = head(self.db)[0]
            skipped = newest - self.last_id
            self.last_id = max(self.last_id, newest)
            if skipped > 0:
                notices.append(
                    Notice(
                        _("More changes"),
                        _(
                            "{count} more timeline entries (an import or a long sweep) were not"
                            " announced one by one; see the lists."
                        ).format(count=skipped),
                        "warning",
                    )
                )
        return notices

    # ---- turning entries into notices -------------------------------------------------------

    def _items(self, events: Sequence[StoredEvent]) -> list[_Item]:
        cases = self._cases(events)
        mobs = self._mobilizations(events)
        names = self._recipients(events)
        alerts = self._alerts(events)
        makers: dict[str, Callable[[StoredEvent], _Item | None]] = {
            "reported": lambda e: self._reported(e, cases.get(e.incident_id or 0)),
            "supervise": lambda e: _supervised(e, cases.get(e.incident_id or 0)),
            "mobilization_answer": lambda e: _answered(e, mobs, names),
            "mobilization_answer_changed": lambda e: _answered(e, mobs, names),
            "mobilization_node_unreachable": lambda e: _unreachable(e, mobs),
            "mobilization_completed": lambda e: self._completed(e, mobs),
            "security_summary": _security,
            "sitrep_overdue": lambda e: _sitrep_overdue(e, cases.get(e.incident_id or 0)),
            "alert_received": lambda e: _alert_received(
                e, alerts.get(str(e.data.get("identifier") or "")), self.zone
            ),
            "directive_received": lambda e: _directive(e, self.zone, overdue=False),
            "directive_overdue": lambda e: _directive(e, self.zone, overdue=True),
            "field_accepted": lambda e: _field(e, cases.get(e.incident_id or 0)),
            "field_declined": lambda e: _field(e, cases.get(e.incident_id or 0)),
            "field_feedback": lambda e: _field(e, cases.get(e.incident_id or 0)),
            "field_accept_overdue": lambda e: _field(e, cases.get(e.incident_id or 0)),
        }
        items = []
        for event in events:
            make = makers.get(event.kind)
            item = make(event) if make else None
            if item is not None:
                items.append(item)
        return items

    def _reported(self, event: StoredEvent, case: _Case | None) -> _Item:
        data = event.data
        number = str(data.get("number") or (case.number if case else f"#{event.incident_id}"))
        title = str(data.get("title") or (case.title if case else ""))
        level = _level(data.get("severity"))
        if level is None and case is not None:
            level = case.severity
        heading = _("New report {number}").format(number=number)
        if level is None:
            return _Item("reported", number, Notice(heading, title))
        severity = Severity(level)
        notice = Notice(
            heading,
            _("level {roman} ({name}) · {title}").format(
                roman=severity.roman, name=severity.label, title=title
            ),
            _REPORT_SEVERITY.get(level, "information"),
            bell=level in self.bell_severities,
        )
        return _Item("reported", number, notice)

    def _completed(self, event: StoredEvent, mobs: dict[int, _Mobilization]) -> _Item:
        mob_id = _int(event.data.get("mobilization"))
        mob = mobs.get(mob_id or 0)
        yes, total = self.db.conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'yes'), count(*) FROM recipients"
            " WHERE mobilization_id = ?",
            (mob_id,),
        ).fetchone()
        parts = [f"{mob.prefix}{_short(mob.message)}"] if mob else []
        parts.append(_("{yes}/{total} answered yes").format(yes=yes, total=total))
        notice = Notice(_("Mobilization #{id} done").format(id=mob_id), " · ".join(parts))
        return _Item("completed", f"#{mob_id}", notice)

    # ---- the names the notices show (primary-key lookups, one query per table) --------------

    def _cases(self, events: Iterable[StoredEvent]) -> dict[int, _Case]:
        wanted = {
            e.incident_id
            for e in events
            if e.incident_id is not None
            and (
                e.kind in ("supervise", "sitrep_overdue", *_FIELD_KINDS)
                or (e.kind == "reported" and not {"number", "title", "severity"} <= e.data.keys())
            )
        }
        rows = self._lookup("SELECT id, number, title, severity FROM incidents", wanted)
        return {int(r[0]): _Case(str(r[1]), str(r[2]), _level(r[3])) for r in rows}

    def _mobilizations(self, events: Iterable[StoredEvent]) -> dict[int, _Mobilization]:
        wanted = {
            mob_id
            for e in events
            if e.kind.startswith("mobilization_")
            and (mob_id := _int(e.data.get("mobilization"))) is not None
        }
        rows = self._lookup("SELECT id, message, exercise FROM mobilizations", wanted)
        return {int(r[0]): _Mobilization(str(r[1]), bool(r[2])) for r in rows}

    def _recipients(self, events: Iterable[StoredEvent]) -> dict[int, str]:
        wanted = {
            rid
            for e in events
            if e.kind in ("mobilization_answer", "mobilization_answer_changed")
            and (rid := _int(e.data.get("recipient"))) is not None
        }
        rows = self._lookup("SELECT id, name FROM recipients", wanted)
        return {int(r[0]): str(r[1]) for r in rows}

    def _alerts(self, events: Iterable[StoredEvent]) -> dict[str, AlertRecord]:
        """The warnings received in these entries, by identifier (uplink.alerts' records)."""
        wanted = {
            str(e.data["identifier"])
            for e in events
            if e.kind == "alert_received" and e.data.get("identifier")
        }
        if not wanted:
            return {}
        from store.errors import NotFound
        from uplink.alerts import get_alert  # loaded when a warning first arrives

        found: dict[str, AlertRecord] = {}
        for identifier in wanted:
            try:
                found[identifier] = get_alert(self.db, identifier)
            except NotFound:
                continue
        return found

    def _lookup(self, select: str, ids: Collection[int]) -> list[Sequence[Any]]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return list(self.db.conn.execute(f"{select} WHERE id IN ({marks})", tuple(ids)))


def _supervised(event: StoredEvent, case: _Case | None) -> _Item:
    number = case.number if case else f"#{event.incident_id}"
    stage = str(event.data.get("stage") or "")
    try:
        name = Stage(stage).label
    except ValueError:
        name = stage
    parts = [case.title] if case else []
    parts.append(_("overdue at stage {stage}; now supervised").format(stage=name))
    notice = Notice(_("Overdue {number}").format(number=number), " · ".join(parts), "warning")
    return _Item("supervise", number, notice)


def _sitrep_overdue(event: StoredEvent, case: _Case | None) -> _Item:
    """An information report the case owes went past its deadline (written once by the
    engine's sweep): ``初报超时未报: 2026-000123`` with the case's title and how late it is.

    A missing initial (or phone) report is what the county counts first: an error; a late
    follow-up or final report a warning. Both ring the bell.
    """
    from uplink.reporting import ObligationKind

    data = event.data
    number = case.number if case else str(data.get("case") or f"#{event.incident_id}")
    raw = str(data.get("kind") or data.get("obligation") or "")
    try:
        kind: ObligationKind | None = ObligationKind(raw)
    except ValueError:
        kind = None
    report = kind.label_zh if kind is not None else raw
    parts = [case.title] if case else []
    due = data.get("due")
    if isinstance(due, str) and due:
        try:
            late = int((from_iso(event.at) - from_iso(due)).total_seconds() // 60)
        except ValueError:
            late = None
        if late is not None and late >= 0:
            parts.append(_("due {minutes} min ago, not sent").format(minutes=late))
    urgent = kind in (ObligationKind.INITIAL, ObligationKind.PHONE)
    notice = Notice(
        _("{report} overdue: {number}").format(report=report, number=number),
        " · ".join(parts) or _("report not sent"),
        "error" if urgent else "warning",
        bell=True,
    )
    return _Item("sitrep_overdue", f"{number} {report}", notice)


_FIELD_KINDS = ("field_accepted", "field_declined", "field_feedback", "field_accept_overdue")


def _field(event: StoredEvent, case: _Case | None) -> _Item:
    """What came back from the field (uplink.field): a case accepted (签收), declined with a
    reason (the bell: the officer must send it elsewhere), its feedback (反馈), or nobody
    accepting it in time (the bell: phone them)."""
    data = event.data
    number = case.number if case else f"#{event.incident_id}"
    name = str(data.get("name") or data.get("person") or "")
    parts = [case.title] if case else []
    if event.kind == "field_accepted":
        title = _("Accepted in the field: {number}").format(number=number)
        said = _("{name} accepted").format(name=name)
        if data.get("late"):
            said = _("{name} accepted after the deadline").format(name=name)
        notice = Notice(title, " · ".join([said, *parts]))
    elif event.kind == "field_declined":
        title = _("Declined in the field: {number}").format(number=number)
        said = _("{name}: {reason}").format(name=name, reason=_short(str(data.get("reason"))))
        notice = Notice(title, " · ".join([said, *parts]), "warning", bell=True)
    elif event.kind == "field_feedback":
        title = _("Feedback from the field: {number}").format(number=number)
        said = _("{name}: {reason}").format(name=name, reason=_short(str(data.get("text"))))
        notice = Notice(title, " · ".join([said, *parts]))
    else:
        title = _("Not accepted in time: {number}").format(number=number)
        said = _("sent to {target}; nobody accepted it, call them").format(
            target=str(data.get("sent_to") or "")
        )
        notice = Notice(title, " · ".join([said, *parts]), "warning", bell=True)
    return _Item(event.kind, number, notice)


def _answered(
    event: StoredEvent, mobs: dict[int, _Mobilization], names: dict[int, str]
) -> _Item | None:
    data = event.data
    rid = _int(data.get("recipient"))
    name = names.get(rid or 0) or _("recipient {id}").format(id=rid)
    answer = data.get("answer")
    if answer not in ("yes", "no"):
        return None
    said = (_("{name} said yes") if answer == "yes" else _("{name} said no")).format(name=name)
    parts = [said]
    previous = data.get("previous")
    if event.kind == "mobilization_answer_changed" and previous:
        was = {"yes": _("yes"), "no": _("no")}.get(str(previous), str(previous))
        parts[0] += " " + _("(changed from {previous})").format(previous=was)
    eta = _int(data.get("eta_min"))
    if answer == "yes" and eta is not None:
        parts.append(_("ETA {minutes} min").format(minutes=eta))
    mob_id = _int(data.get("mobilization"))
    mob = mobs.get(mob_id or 0)
    parts.append(mob.named(mob_id) if mob else f"#{mob_id}")
    notice = Notice(
        _("Answer: {answer}").format(answer=said),
        " · ".join(parts),
        "information" if answer == "yes" else "warning",
    )
    return _Item("answer", said, notice)


def _unreachable(event: StoredEvent, mobs: dict[int, _Mobilization]) -> _Item:
    node = str(event.data.get("node") or "?")
    mob_id = _int(event.data.get("mobilization"))
    mob = mobs.get(mob_id or 0)
    what = mob.named(mob_id) if mob else _("mobilization #{id}").format(id=mob_id)
    notice = Notice(
        _("Unreachable: {node}").format(node=node),
        f"{what} · " + _("{node}: nobody answered in time").format(node=node),
        "warning",
    )
    return _Item("unreachable", node, notice)


def _security(event: StoredEvent) -> _Item:
    """The ack server's summary of refused requests; a lockout is a warning of its own."""
    data = event.data
    failures = _int(data.get("failures")) or 0
    lockouts = data.get("lockouts")
    locked = [
        str(lock.get("source", "?"))
        for lock in (lockouts if isinstance(lockouts, list) else [])
        if isinstance(lock, dict)
    ]
    sources = data.get("sources")
    top = [
        str(s.get("source", "?"))
        for s in (sources if isinstance(sources, list) else [])[:3]
        if isinstance(s, dict)
    ]
    refused = _("{count} requests refused (forged links, bad signatures or codes)").format(
        count=failures
    )
    if top:
        refused += " · " + _("most from {sources}").format(sources=", ".join(top))
    if locked:
        notice = Notice(
            _("Locked out: {who}").format(who=", ".join(locked[:NAMES_SHOWN])),
            _("too many failed answers; their replies are refused for a while") + " · " + refused,
            "warning",
        )
        return _Item("lockout", locked[0], notice)
    return _Item("security", str(failures), Notice(_("Security"), refused, "warning"))


def _alert_received(event: StoredEvent, alert: AlertRecord | None, zone: tzinfo) -> _Item:
    """A warning arrived from above: ``橙色 暴雨预警`` (colour and event in words) with its
    headline, when it ends and its 叫应 (started, or why not). Red and orange ring the bell;
    an update or a cancel says so in its title."""
    data = event.data
    identifier = str(data.get("identifier") or "?")
    if alert is None:  # read back failed (a later write removed it): say what the entry says
        notice = Notice(_("Warning received"), identifier, "warning", bell=True)
        return _Item("alert", identifier, notice)
    colour = alert.colour.value if alert.colour is not None else ""
    words = alert.colour.label if alert.colour is not None else ""
    name = _("{colour} {event} warning").format(colour=words, event=alert.event).strip()
    prefix = (_("[EXERCISE]") + " ") if alert.exercise else ""
    msg_type = str(data.get("msg_type") or alert.msg_type)
    if msg_type == "Cancel":
        title = _("Warning cancelled: {name}").format(name=name)
    elif msg_type == "Update":
        title = _("Warning updated: {name}").format(name=name)
    else:
        title = _("Warning received: {name}").format(name=name)
    parts = [alert.headline] if alert.headline else []
    if alert.expires is not None and msg_type != "Cancel":
        until = alert.expires.astimezone(zone).strftime("%m-%d %H:%M")
        parts.append(_("until {time}").format(time=until))
    if alert.call_state == "started":
        parts.append(_("call-and-answer started"))
    elif alert.call_state == "skipped" and msg_type != "Cancel":
        parts.append(
            _("call-and-answer not started: {why}").format(why=_call_reason(alert.call_reason))
        )
    cancel = msg_type == "Cancel"
    notice = Notice(
        prefix + title,
        " · ".join(parts) or identifier,
        "information" if cancel else _ALERT_SEVERITY.get(colour, "information"),
        bell=not cancel and colour in _BELL_COLOURS,
    )
    return _Item("alert", name, notice)


def _call_reason(reason: str | None) -> str:
    from uplink.callanswer import CallReason

    try:
        return CallReason(str(reason)).label
    except ValueError:
        return str(reason)


def _directive(event: StoredEvent, zone: tzinfo, *, overdue: bool) -> _Item:
    """A directive from above arrived (``通知: 防汛检查`` from whom, reply by when), or its
    reply deadline passed unanswered; both ring the bell."""
    data = event.data
    title = str(data.get("title") or data.get("id") or "?")
    parts = []
    sender = str(data.get("sender_name") or data.get("sender") or "")
    if sender:
        parts.append(_("from {sender}").format(sender=sender))
    due = data.get("reply_by")
    if isinstance(due, str) and due:
        try:
            when = from_iso(due).astimezone(zone).strftime("%m-%d %H:%M")
        except ValueError:
            when = due
        words = _("reply was due {time}") if overdue else _("reply by {time}")
        parts.append(words.format(time=when))
    if not overdue and data.get("case"):
        parts.append(_("case {number} opened").format(number=data["case"]))
    if overdue:
        notice = Notice(
            _("Directive reply overdue: {title}").format(title=title),
            " · ".join(parts) or _("no reply sent"),
            "error",
            bell=True,
        )
        return _Item("directive_overdue", title, notice)
    prefix = (_("[EXERCISE]") + " ") if data.get("exercise") else ""
    notice = Notice(
        prefix + _("Directive received: {title}").format(title=title),
        " · ".join(parts) + (" · " if parts else "") + _("I: the inbox"),
        "warning",
        bell=True,
    )
    return _Item("directive", title, notice)


def _collapse(items: Sequence[_Item]) -> list[Notice]:
    """One notice per item, except that a kind seen more than MAX_OF_A_KIND times is summed up.

    The summary takes the place of the kind's first notice, its most serious severity and its
    bell if any of them rang.
    """
    by_kind: dict[str, list[_Item]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    notices: list[Notice] = []
    for item in items:
        group = by_kind[item.kind]
        if len(group) <= MAX_OF_A_KIND:
            notices.append(item.notice)
        elif item is group[0]:
            labels = [i.label for i in group]
            shown = ", ".join(labels[:NAMES_SHOWN])
            more = len(labels) - NAMES_SHOWN
            notices.append(
                Notice(
                    _(_COLLAPSED[item.kind]).format(n=len(group)),
                    f"{shown} … +{more}" if more > 0 else shown,
                    max((i.notice.severity for i in group), key=_RANK.__getitem__),
                    bell=any(i.notice.bell for i in group),
                )
            )
    return notices


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _level(value: Any) -> int | None:
    """A case level 1-4 from a stored value (a number, or a Roman numeral in imported data)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(Severity.parse(value))
    except (ValueError, TypeError):
        return None


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
