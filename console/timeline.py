"""Provides how a case's timeline reads to people: what each entry is, and what it recorded.

The timeline mixes the events of three packages (the case's own steps, its mobilizations, the
grid adjustments that moved it); each package names its own events (``EVENT_NAMES``) and this
module only puts them side by side. The data of an entry is stored as codes and ISO times
(``{"to": "grid:G01", "deadline": "2026-12-07T13:37:00Z"}``); people read it here as words in
the current language, times in the office's zone. ``--json`` keeps the codes.

Used by the CLI's case card (:mod:`console.cli.render`) and the console's case screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from console.timefmt import local, short
from incidents import models as incidents
from incidents.models import FIELD_NAMES, Stage, TimelineEntry
from jurisdiction import models as jurisdiction
from mobilization import vocabulary as mobilization
from store.clock import from_iso
from store.i18n import N_, _
from uplink.reporting import EVENT_NAMES as SITREP_EVENT_NAMES

EVENT_NAMES: dict[str, str] = {
    **incidents.EVENT_NAMES,
    **mobilization.EVENT_NAMES,
    **jurisdiction.EVENT_NAMES,
    **SITREP_EVENT_NAMES,
}
# A target's kind (``grid:G01``) -> how it reads (``grid G01``, ``网格 G01``).
TARGET_WORDS = {
    "grid": N_("grid {code}"),
    "team": N_("team {code}"),
    "person": N_("person {code}"),
    "office": N_("office {code}"),
    "node": N_("tree node {code}"),
    "unit": N_("unit {code}"),
}
# Keys written with a time (stored ISO-8601 UTC) -> the words around it.
TIME_WORDS = {
    "deadline": N_("deadline {time}"),
    "until": N_("until {time}"),
    "due": N_("due {time}"),
}
# Keys whose value leads the line (what was written), in this order.
FIRST = ("title", "text", "result", "note")
# Keys never shown in a line of the timeline: shown elsewhere (the case card), or bookkeeping.
HIDDEN = frozenset(
    {"number", "lat", "lon", "reporter_phone", "notes", "undone", "extension_lapsed", "task"}
)


FIELD_PREFIX = "field_"
"""The field's entries (:mod:`uplink.field`, imported on first use: it is heavy)."""


def event_label(kind: str) -> str:
    """An entry kind in people's words, in the current language (unknown kinds lose their
    underscores rather than show as codes)."""
    if kind in EVENT_NAMES:
        return _(EVENT_NAMES[kind])
    if kind.startswith(FIELD_PREFIX):
        from uplink.field import EVENT_NAMES as FIELD_EVENT_NAMES

        if kind in FIELD_EVENT_NAMES:
            return _(FIELD_EVENT_NAMES[kind])
    return kind.replace("_", " ")


def target_words(target: object, names: Mapping[str, str] | None = None) -> str:
    """``grid:G01`` → ``grid G01`` (``网格 G01``); a list of targets joined; other text as is.

    Args:
        names: written targets → their names (:func:`contacts.directory.labels`, read by the
            caller): a person or team then reads as its name (``刘静``, ``消防志愿队``), a grid
            as ``网格 G01 (幸福社区第一网格)``; a target not named there keeps its code.
    """
    if isinstance(target, list | tuple):
        return ", ".join(target_words(t, names) for t in target)
    text = str(target)
    kind, sep, code = text.partition(":")
    name = (names or {}).get(text, "")
    if sep and name and name != code.strip():
        if kind == "grid":
            return _("grid {code} ({name})").format(code=code, name=name)
        if kind in ("person", "team", "office"):
            return name
    if sep and kind in TARGET_WORDS:
        return _(TARGET_WORDS[kind]).format(code=code)
    return text


ASSIGNING = frozenset({"dispatch", "assign"})
"""Entries whose ``to`` (and ``from``) name where the case was sent."""


def written_targets(assignee: str | None, entries: Iterable[TimelineEntry]) -> list[str]:
    """The written targets a case card shows: its assignee and the ``to``/``from`` of its
    dispatch and assign entries (what :func:`contacts.directory.labels` is asked to name)."""
    found: dict[str, None] = {assignee: None} if assignee else {}
    for entry in entries:
        if entry.kind in ASSIGNING:
            for key in ("to", "from"):
                value = entry.data.get(key)
                for item in value if isinstance(value, list | tuple) else [value]:
                    if isinstance(item, str) and item:
                        found[item] = None
    return list(found)


def value_words(value: object) -> str:
    """Any stored value as words: lists joined, mappings as ``name value``, no reprs."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | tuple):
        return ", ".join(value_words(v) for v in value if v not in (None, ""))
    if isinstance(value, dict):
        return " ".join(value_words(v) for v in value.values() if v not in (None, ""))
    return str(value)


def field_value_words(field: str, value: object) -> str:
    """An edited field's value as people say it: a level as ``III 较大``, an urgency by its
    name; any other field as :func:`value_words`."""
    try:
        if field == "severity" and value is not None:
            level = incidents.Severity(int(str(value)))
            return f"{level.roman} {level.label}"
        if field == "urgency" and value is not None:
            return incidents.Urgency(str(value)).label
    except ValueError:  # a value stored before the vocabulary knew it: shown as stored
        return value_words(value)
    return value_words(value)


def _time(value: object, zone: ZoneInfo, compact: bool) -> str:
    try:
        at: datetime = from_iso(str(value))
    except ValueError:
        return str(value)
    return short(at, zone) if compact else local(at, zone)


def _stage(value: object) -> str:
    try:
        return Stage(str(value)).label
    except ValueError:
        return str(value)


def _mode(value: object) -> str:
    try:
        return mobilization.Mode(str(value)).label
    except ValueError:
        return str(value)


# Keys whose value reads as a phrase of its own; the rest follow their label or stand alone.
_PHRASES: dict[str, Callable[[Any], str]] = {
    "to": target_words,
    "targets": target_words,
    "into": lambda v: _("into {number}").format(number=v),
    "duplicate": lambda v: _("duplicate {number}").format(number=v),
    "reason": lambda v: _("reason: {text}").format(text=v),
    "stage": lambda v: _("in stage {stage}").format(stage=_stage(v)),
    "mobilization": lambda v: _("mobilization {id}").format(id=v),
    "mode": _mode,
    "need": lambda v: _("{count} needed").format(count=v),
    "nodes": lambda v: _("{count} node(s)").format(count=v),
    "recipients": lambda v: _("{count} people").format(count=v),
    "pending": lambda v: _("{count} still waiting").format(count=v),
    "told": lambda v: _("{count} told").format(count=v),
    "owner": lambda v: _("owner {name}").format(name=v),
    "seq": lambda v: _("extension {seq}").format(seq=v),
    "approvals_needed": lambda v: _("needs {count} approval(s)").format(count=v),
    "needed": lambda v: _("needs {count} approval(s)").format(count=v),
    "n": lambda v: _("#{n}").format(n=v),
    "step": lambda v: incidents.step_label(str(v)),
    "callers": lambda v: _("callers: {names}").format(names=value_words(v)),
    "rule": lambda v: "",
}


def entry_details(
    entry: TimelineEntry,
    zone: ZoneInfo,
    *,
    compact: bool = False,
    names: Mapping[str, str] | None = None,
) -> str:
    """One line of what an entry recorded, in people's words, times in the office's zone.

    Args:
        compact: times as ``12-07 21:32`` (the console's narrow column) instead of with the year.
        names: written targets → names (see :func:`target_words`), for dispatch and assign.
    """
    data = entry.data
    if entry.kind in SITREP_EVENT_NAMES:
        return sitrep_details(entry.kind, data, zone, compact=compact)
    if entry.kind.startswith(FIELD_PREFIX):
        return field_details(entry.kind, data, zone, compact=compact)
    if entry.kind == "reported":
        category, type_ = str(data.get("category")), str(data.get("type"))
        return "{title} ({category}/{type})".format(
            title=data.get("title"),
            category=incidents.category_label(category),
            type=incidents.type_label(type_),
        )
    parts: list[str] = []
    if entry.kind == "verify" and data.get("passed") is False:
        parts.append(_("failed"))
    if entry.kind == "grid_moved":
        parts.append(f"{data.get('from')} → {data.get('to')}")
        data = {k: v for k, v in data.items() if k not in ("from", "to")}
    if entry.kind in ASSIGNING:  # where the case went: by name, from → to on a reassignment
        sent = [target_words(data[k], names) for k in ("from", "to") if data.get(k)]
        parts.append(" → ".join(sent))
        data = {k: v for k, v in data.items() if k not in ("from", "to")}
    if entry.kind == "edit":
        changes = data.get("changes") or {}
        parts.extend(
            f"{_(FIELD_NAMES[name]) if name in FIELD_NAMES else name}:"
            f" {field_value_words(name, old) or '-'} → {field_value_words(name, new) or '-'}"
            for name, (old, new) in changes.items()
        )
    # What was written (a title, a note, a result) first, then its circumstances.
    keys = sorted(data, key=lambda k: FIRST.index(k) if k in FIRST else len(FIRST))
    for key in keys:
        value = data[key]
        if value in (None, "", [], {}) or key in HIDDEN or key in ("changes", "passed"):
            continue
        if key == "exercise":
            if value:
                parts.append(_("exercise"))
            continue
        if key in TIME_WORDS:
            parts.append(_(TIME_WORDS[key]).format(time=_time(value, zone, compact)))
        elif key in _PHRASES:
            text = _PHRASES[key](value)
            if text:
                parts.append(text)
        else:
            parts.append(value_words(value))
    return ", ".join(p for p in parts if p)


# --- information reports ----------------------------------------------------------------------


def _report_name(data: Mapping[str, Any]) -> str:
    """The report an entry is about: its stored name (初报, 续报二), else from kind and seq."""
    from uplink.reporting import ReportKind, report_name

    name = data.get("name")
    if isinstance(name, str) and name:
        return name
    try:
        kind = ReportKind(str(data.get("kind")))
    except ValueError:
        return str(data.get("id") or "")
    seq = data.get("seq")
    return report_name(kind, seq if isinstance(seq, int) else 0)


def _pair(value: object) -> tuple[object, object] | None:
    """An ``old → new`` value as stored: ``[old, new]`` or ``{"old": .., "new": ..}``."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, dict) and "new" in value:
        return value.get("old"), value["new"]
    return None


def _flag(value: object) -> str:
    return _("yes") if value else _("no")


def _figure_changes(data: Mapping[str, Any]) -> list[str]:
    """``死亡 0 → 1``: the figures that changed (``changes``), else the figures recorded."""
    from uplink.reporting import FIGURE_NAMES, FIGURE_ZH

    changes = data.get("changes")
    parts: list[str] = []
    if isinstance(changes, dict) and changes:
        for name in FIGURE_NAMES:
            pair = _pair(changes.get(name))
            if pair is not None:
                old, new = pair
                parts.append(f"{FIGURE_ZH[name]} {'-' if old is None else old} → {new}")
        return parts
    figures = data.get("figures")
    if isinstance(figures, dict):
        parts.extend(
            f"{FIGURE_ZH[name]} {figures[name]}"
            for name in FIGURE_NAMES
            if figures.get(name) is not None
        )
    return parts


def sitrep_details(
    kind: str, data: Mapping[str, Any], zone: ZoneInfo, *, compact: bool = False
) -> str:
    """What an information report's entry recorded: ``初报 signed off by 李芳``, ``续报二 sent``,
    ``received time corrected 09:05 → 08:50``, ``死亡 0 → 1``."""
    from uplink.reporting import FIELD_ZH, ObligationKind

    def time(value: object) -> str:
        return _time(value, zone, compact) if value else "-"

    name = _report_name(data)
    parts: list[str] = []
    if kind == "sitrep_drafted":
        parts.append(_("{report} drafted").format(report=name))
        if data.get("corrects"):
            parts.append(_("corrects report #{id}").format(id=data["corrects"]))
    elif kind == "sitrep_edited":
        parts.append(_("{report} edited").format(report=name))
        changes = data.get("changes")
        if isinstance(changes, dict):
            parts.extend(FIELD_ZH.get(str(key), str(key)) for key in changes)
        parts.extend(_figure_changes({"changes": data.get("figure_changes")}))
        if data.get("unsigned"):
            parts.append(_("sign-off by {signer} voided").format(signer=data["unsigned"]))
    elif kind == "sitrep_signed":
        signer = data.get("signer") or data.get("signed_by") or "?"
        parts.append(_("{report} signed off by {signer}").format(report=name, signer=signer))
    elif kind == "sitrep_unsigned":
        parts.append(_("{report} edited after sign-off: back to draft").format(report=name))
    elif kind == "sitrep_sent":
        parts.append(_("{report} sent").format(report=name))
        if data.get("signed_by"):
            parts.append(_("signed off by {signer}").format(signer=data["signed_by"]))
    elif kind == "sitrep_phoned":
        to = data.get("to") or data.get("phoned_to") or "?"
        parts.append(_("reported by phone to {name}").format(name=to))
        if data.get("at"):
            parts.append(_("at {time}").format(time=time(data["at"])))
        if data.get("note"):
            parts.append(str(data["note"]))
    elif kind == "sitrep_discarded":
        parts.append(_("{report} discarded").format(report=name))
    elif kind == "sitrep_marked":
        for key, label in (("marked", _("to be reported")), ("sensitive", _("sensitive"))):
            if key not in data:
                continue
            pair = _pair(data[key])
            if pair is not None:
                parts.append(f"{label}: {_flag(pair[0])} → {_flag(pair[1])}")
            else:
                parts.append(f"{label}: {_flag(data[key])}")
    elif kind == "sitrep_received":
        pair = _pair(data.get("received_at"))
        old, new = pair if pair is not None else (data.get("from"), data.get("to"))
        parts.append(
            _("received time corrected {old} → {new}").format(old=time(old), new=time(new))
        )
        if data.get("reason"):
            parts.append(_("reason: {text}").format(text=data["reason"]))
    elif kind == "sitrep_figures":
        parts.extend(_figure_changes(data))
        if data.get("as_of"):
            parts.append(_("as of {time}").format(time=time(data["as_of"])))
    elif kind == "sitrep_overdue":
        raw = str(data.get("kind") or data.get("obligation") or "")
        try:
            report = ObligationKind(raw).label_zh
        except ValueError:
            report = raw
        parts.append(_("{report} not sent in time").format(report=report))
        if data.get("due"):
            parts.append(_(TIME_WORDS["due"]).format(time=time(data["due"])))
    return ", ".join(p for p in parts if p)


# --- the field (现场) ---------------------------------------------------------------------------


def size_words(size: object) -> str:
    """``1.2 MB``, ``340 KB``, ``512 B`` (a stored byte count)."""
    try:
        count = int(str(size))
    except ValueError:
        return str(size)
    for factor, unit in ((1_000_000, "MB"), (1_000, "KB")):
        if count >= factor:
            value = count / factor
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{count} B"


# Why a field dispatch ended (``field_ended``'s reason) -> words.
FIELD_ENDINGS = {
    "returned": N_("returned"),
    "redispatched": N_("dispatched again"),
    "closed": N_("closed"),
    "voided": N_("voided"),
    "merged": N_("merged"),
}


def field_details(
    kind: str, data: Mapping[str, Any], zone: ZoneInfo, *, compact: bool = False
) -> str:
    """What a field entry recorded: ``to 张三, 李四 (grid G01), accept by 12-07 21:32``,
    ``accepted by 张三``, ``李四 declined: reason: 不在村里``, ``张三: 已到现场``,
    ``张三: before photo, 1.2 MB, 3000×2000``."""
    from uplink.field import PHOTO_KIND_NAMES

    def time(value: object) -> str:
        return _time(value, zone, compact) if value else "-"

    name = str(data.get("name") or data.get("person") or "?")
    parts: list[str] = []
    if kind == "field_sent":
        people = value_words(data.get("people") or [])
        parts.append(_("to {people}").format(people=people or "—"))
        if data.get("sent_to"):
            parts.append(str(data["sent_to"]))
        if data.get("accept_by"):
            parts.append(_("accept by {time}").format(time=time(data["accept_by"])))
        if data.get("problem"):
            parts.append(_("not sent: {problem}").format(problem=data["problem"]))
    elif kind == "field_ended":
        reason = str(data.get("reason") or "")
        parts.append(_(FIELD_ENDINGS[reason]) if reason in FIELD_ENDINGS else reason)
        if data.get("told"):
            parts.append(_("{count} told").format(count=data["told"]))
    elif kind == "field_accepted":
        parts.append(_("accepted by {name}").format(name=name))
        if data.get("late"):
            parts.append(_("late"))
        if data.get("via") == "reply":
            parts.append(_("by SMS"))
    elif kind == "field_declined":
        parts.append(
            _("{name} declined: {reason}").format(name=name, reason=data.get("reason") or "—")
        )
    elif kind in ("field_progress", "field_feedback"):
        parts.append(f"{name}: {data.get('text') or ''}")
    elif kind == "field_photo":
        photo_kind = str(data.get("kind") or "")
        words = _(PHOTO_KIND_NAMES[photo_kind]) if photo_kind in PHOTO_KIND_NAMES else photo_kind
        parts.append(_("{name}: {kind} photo").format(name=name, kind=words))
        if data.get("bytes") is not None:
            parts.append(size_words(data["bytes"]))
        if data.get("width") and data.get("height"):
            parts.append(f"{data['width']}×{data['height']}")
    elif kind == "field_accept_overdue":
        parts.append(_("nobody accepted by {time}").format(time=time(data.get("accept_by"))))
        if data.get("sent_to"):
            parts.append(str(data["sent_to"]))
        if data.get("declined"):
            parts.append(_("{count} declined").format(count=data["declined"]))
    else:
        return value_words({k: v for k, v in data.items() if k not in ("dispatch", "update")})
    return ", ".join(p for p in parts if p)
