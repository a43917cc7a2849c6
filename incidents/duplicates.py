"""Provides the likely duplicates of a call being logged, and adding a call to an existing case.

The same fire is reported by five callers. While a call is logged, :func:`find_duplicates` lists
the open cases it may repeat: reported in the last hours (:data:`WINDOW`), in the same grid or
at a similar place, with similar words. Words are compared as the search index sees them
(:func:`store.textsearch.segment`: Chinese as overlapping character pairs, other text as words),
so "3号楼着火" and "3号楼火灾冒烟" share 号楼 and 3 without a dictionary. The officer then adds the
call to the existing case as a note that names the caller (:func:`add_call`), or logs it and
merges it (:func:`incidents.workflow.merge`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incidents.models import Incident, TimelineEntry, type_label
from incidents.records import COLUMNS, PHONE_RE, get_incident, row_to_incident
from store.audit import append_event
from store.clock import Clock, to_iso
from store.db import Database, write
from store.errors import InvalidInput, InvalidTransition
from store.i18n import N_, _
from store.masking import mask_phone
from store.text import clean_text
from store.textsearch import segment

WINDOW = timedelta(hours=6)
"""How far back a case may have been reported to count as a likely duplicate."""
MAX_CANDIDATES = 500
"""The newest open cases of the window that are compared (a busy morning has a few dozen)."""
WORDS_WITH_PLACE = 0.25
"""Word similarity enough when the place agrees (same grid or similar location)."""
WORDS_WITHOUT_PLACE = 0.5
"""Word similarity needed when the call names no place yet (the officer typed the title only)."""
SIMILAR_PLACE = 0.5
"""Location similarity from which two places count as the same."""

# Why a case is a likely duplicate (codes in JSON; the words translated where shown).
REASONS = {
    "same_grid": N_("same grid"),
    "same_place": N_("similar place"),
    "similar_words": N_("similar words"),
    "same_type": N_("same type"),
}

_WORD = re.compile(r"\w+")


def words(text: str | None) -> frozenset[str]:
    """The words of ``text`` as the search index sees them, lower-cased.

    Chinese runs give their character pairs (:func:`store.textsearch.segment`); a lone Chinese
    character is kept only when the text has no pair at all (a one-character title), since
    every run's last character would otherwise make unrelated texts look alike.
    """
    tokens = _WORD.findall(segment(text or "").lower())
    # A lone non-ASCII letter is a run's last character (segment keeps one per Chinese run).
    pairs = [t for t in tokens if not (len(t) == 1 and not t.isascii())]
    return frozenset(pairs or tokens)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice coefficient of two word sets: 1.0 for the same words, 0.0 for none shared."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


@dataclass(frozen=True)
class Call:
    """What is known of a call being logged; every part may still be empty."""

    title: str = ""
    description: str = ""
    location: str = ""
    grid: str | None = None
    category: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class Duplicate:
    """An open case the call may repeat, with how alike they are (0..1) and why."""

    incident: Incident
    score: float
    reasons: tuple[str, ...]

    def reason_text(self) -> str:
        """Why, in the current language (``same grid, similar words``)."""
        return ", ".join(_(REASONS[r]) for r in self.reasons)

    def to_json(self) -> dict[str, Any]:
        case = self.incident
        return {
            "number": case.number,
            "title": case.title,
            "stage": case.stage.value,
            "grid": case.grid,
            "location": case.location,
            "reported_at": to_iso(case.reported_at),
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
        }


def _text_words(title: str, description: str, type_: str | None) -> frozenset[str]:
    # The type's name joins the words, so 冒烟 in a fire-type case meets 火灾 in the call.
    named = type_label(type_) if type_ and type_ != "other" else ""
    return words(" ".join((title, description, named)))


def score(call: Call, case: Incident) -> Duplicate | None:
    """How likely ``call`` repeats ``case``; ``None`` when it does not look like it.

    A duplicate is in the same grid or at a similar place (or the call names no place yet)
    and has similar words: title, description and type name, compared as the search index
    segments them. A different grid, or a different place in the same grid-less area, rules a
    case out whatever its words.
    """
    reasons: list[str] = []
    place = 0.0
    if call.grid and case.grid:
        if call.grid.strip().upper() != case.grid.upper():
            return None
        place = 1.0
        reasons.append("same_grid")
    location = similarity(words(call.location), words(case.location))
    if location >= SIMILAR_PLACE:
        place = max(place, location)
        reasons.append("same_place")
    elif call.location.strip() and case.location.strip() and not place:
        return None  # both name a place, and not the same one
    text = similarity(
        _text_words(call.title, call.description, call.type),
        _text_words(case.title, case.description, case.type),
    )
    same_type = bool(call.type and call.type != "other" and call.type == case.type)
    if same_type:
        reasons.append("same_type")
    needed = WORDS_WITH_PLACE if place else WORDS_WITHOUT_PLACE
    if text < needed and not (same_type and place):
        return None
    if text >= needed:
        reasons.insert(len(reasons) - same_type, "similar_words")
    value = 0.6 * text + 0.3 * place + 0.1 * same_type
    return Duplicate(case, min(1.0, value), tuple(reasons))


def find_duplicates(
    db: Database,
    now: datetime,
    call: Call,
    *,
    window: timedelta = WINDOW,
    limit: int = 5,
) -> list[Duplicate]:
    """The open cases of the last ``window`` that ``call`` likely repeats, most alike first.

    Only the active queue is compared (open, not parked), newest first, at most
    :data:`MAX_CANDIDATES` cases: cheap enough to run as the officer types.
    """
    if not (call.title.strip() or call.description.strip()):
        return []
    rows = db.conn.execute(
        f"SELECT {COLUMNS} FROM incidents WHERE active = 1 AND reported_at >= ?"
        " ORDER BY reported_at DESC, id DESC LIMIT ?",
        (to_iso(now - window), MAX_CANDIDATES),
    ).fetchall()
    found = [d for d in (score(call, row_to_incident(r)) for r in rows) if d is not None]
    found.sort(key=lambda d: (-d.score, -d.incident.id))
    return found[:limit]


# ---- adding a call to an existing case --------------------------------------------------------


def caller_of(entry: TimelineEntry) -> dict[str, str | None] | None:
    """The caller a note names (``{"name", "phone"}``, the phone masked), if it names one."""
    caller = entry.data.get("caller") if entry.kind == "note" else None
    return caller if isinstance(caller, dict) else None


def add_call(
    db: Database,
    clock: Clock,
    operator: str,
    ref: int | str,
    text: str,
    *,
    caller_name: str | None = None,
    caller_phone: str | None = None,
) -> int:
    """Add a repeated call to an open case: a note that names the caller.

    The note is an ordinary, searchable timeline note; its data also names the caller
    (``{"caller": {"name": ..., "phone": ...}}``). The permanent log keeps the number masked,
    as it keeps the reporter's.

    Returns:
        The note's entry id.

    Raises:
        InvalidInput: no text, or a caller's name or number that is not one (field named).
        InvalidTransition: the case is finished (closed, voided or merged).
    """
    body = clean_text(text or "", "text", kind="note", multiline=True)
    if not body:
        raise InvalidInput(_("say what the caller reported"), "text")
    name = clean_text(caller_name or "", "reporter_name", kind="name") or None
    phone = clean_text(caller_phone or "", "reporter_phone", kind="phone") or None
    if phone and not PHONE_RE.match(phone):
        raise InvalidInput(
            _("{phone!r} is not a phone number").format(phone=phone), "reporter_phone"
        )
    with write(db):
        incident = get_incident(db, ref)
        if not incident.stage.is_open:
            raise InvalidTransition(
                _("case {number} is {stage}; log the call as a new case instead").format(
                    number=incident.number, stage=incident.stage.label
                )
            )
        at = to_iso(clock.now())
        db.conn.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (at, incident.id))
        data: dict[str, Any] = {"text": body}
        if name or phone:
            data["caller"] = {"name": name, "phone": mask_phone(phone) or None}
        return append_event(
            db, at=at, operator=operator, kind="note", incident_id=incident.id, data=data
        )


def caller_text(caller: dict[str, str | None]) -> str:
    """A caller as shown: name and masked number (``张三 138****8000``)."""
    return " ".join(str(v) for v in (caller.get("name"), mask_phone(caller.get("phone"))) if v)


__all__ = [
    "REASONS",
    "WINDOW",
    "Call",
    "Duplicate",
    "add_call",
    "caller_of",
    "caller_text",
    "find_duplicates",
    "score",
    "similarity",
    "words",
]
