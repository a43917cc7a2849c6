"""Provides the CAP 1.2 alert: its vocabulary, its records, the one reader and writer of its XML.

A warning (预警) reaches a unit as an OASIS Common Alerting Protocol 1.2 message, the format the
national early-warning system's GB/T 35965.1 profiles; dutydesk issues its own the same way. This
module owns every word of it: the enums of the schema (status, msgType, scope, category, urgency,
severity, certainty, responseType), the four Chinese warning colours (:class:`Colour`: red Extreme,
orange Severe, yellow Moderate, blue Minor), the frozen records (:class:`Alert`, :class:`Info`,
:class:`Area`, :class:`Resource`, :class:`Reference`), and the XML both ways.

:func:`parse` is the only door for XML from outside. It refuses, with :class:`InvalidInput` naming
the element's path and the reason in the schema's own words, anything that is:

- larger than :data:`MAX_ALERT_BYTES` (checked before a byte is parsed);
- hostile: a DTD, an entity, an external reference (defusedxml refuses them at the first sight,
  so a billion laughs never expands and no local file is ever read), nesting deeper than
  :data:`MAX_DEPTH` or more than :data:`MAX_ELEMENTS` elements (counted as they are read);
- invalid against the official schema (``uplink/standards/CAP-v1.2.xsd``, with xmlschema, which
  stops at its first complaint; no location hint in the document is ever followed);
- against the rules the specification states and the schema cannot: identifier and sender with
  no space, comma, ``<`` or ``&``; ``restriction`` for Restricted and ``addresses`` for Private
  scope; ``references`` (space-separated ``sender,identifier,sent`` triples) on Update, Cancel,
  Ack and Error; polygons closed rings of at least four WGS 84 ``lat,lon`` points; circles
  ``lat,lon radius``; ``ceiling`` only with ``altitude``.

:func:`to_xml` writes the same rules the other way: it checks the record first (our own words,
:class:`InvalidInput`), writes UTF-8 with the CAP namespace and the elements in schema order, and
validates the result before returning it. If what it wrote still breaks the schema, that is a bug
in the writer, raised as :class:`CapWriteError`, never a document handed on.

A document declared in GB2312, GBK or GB18030 (as Chinese systems often send) is read too.

Times are timezone-aware datetimes; they are written in Beijing time, ``2026-07-01T08:00:00+08:00``
(CAP forbids ``Z`` and fractions; seconds are truncated). Identifiers of alerts issued here follow
the national profile's shape, ``<sender code>_<YYYYMMDDhhmmss, Beijing time>_<sequence>``
(:func:`new_identifier`). Division codes (GB/T 2260) travel as ``geocode`` pairs whose valueName
is :data:`AREA_CODE_NAME` (``"GB/T 2260"``); :attr:`Alert.area_codes` reads them back.

xmlschema costs about 0.2 s to import and as much to compile the schema, so it is imported inside
the functions that validate and the compiled schema is kept once per process.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.errors import DutydeskError, InvalidInput
from store.i18n import N_, _

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    import xmlschema

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
XSD_PATH = Path(__file__).parent / "standards" / "CAP-v1.2.xsd"
MAX_ALERT_BYTES = 256 * 1024
"""The largest alert accepted (a real one is a few KiB; checked before parsing)."""
MAX_DEPTH = 24
"""The deepest element nesting accepted (CAP needs 5; an XML signature a few more)."""
MAX_ELEMENTS = 20_000
"""The most elements accepted (an alert naming 3,000 division codes has about 9,000)."""
AREA_CODE_NAME = "GB/T 2260"
"""The geocode valueName under which an area's administrative division code is written."""
AREA_CODE_NAMES = frozenset({"gb/t 2260", "gb/t2260", "gb2260", "divisioncode"})
"""The valueNames read as a division code (case-insensitive): ours and common spellings."""
BEIJING = timezone(timedelta(hours=8), "Beijing")
"""Beijing time, the zone CAP times are written in (China has kept +08:00 all year since 1992)."""
DEFAULT_LANGUAGE = "zh-CN"
"""The language of the alerts dutydesk issues (CAP's own default, when absent, is en-US)."""


class CapWriteError(DutydeskError):
    """What :func:`to_xml` wrote does not validate: a bug in the writer, never sent on."""


# --- the vocabulary ------------------------------------------------------------------------------


class Status(StrEnum):
    """``status``: who the message is for (Exercise marks drill traffic)."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"

    @property
    def label(self) -> str:
        return _(_STATUS_NAMES[self])


_STATUS_NAMES = {
    Status.ACTUAL: N_("actual"),
    Status.EXERCISE: N_("exercise"),
    Status.SYSTEM: N_("system"),
    Status.TEST: N_("test"),
    Status.DRAFT: N_("draft"),
}


class MsgType(StrEnum):
    """``msgType``: a new alert, or an update, cancel, ack or error about earlier ones."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"

    @property
    def label(self) -> str:
        return _(_MSG_TYPE_NAMES[self])

    @property
    def needs_references(self) -> bool:
        """Update, Cancel, Ack and Error are about earlier messages, named in ``references``."""
        return self is not MsgType.ALERT


_MSG_TYPE_NAMES = {
    MsgType.ALERT: N_("alert"),
    MsgType.UPDATE: N_("update"),
    MsgType.CANCEL: N_("cancel"),
    MsgType.ACK: N_("acknowledgement"),
    MsgType.ERROR: N_("error"),
}


class Scope(StrEnum):
    """``scope``: public, restricted (``restriction`` says to whom) or private (``addresses``)."""

    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"

    @property
    def label(self) -> str:
        return _(_SCOPE_NAMES[self])


_SCOPE_NAMES = {
    Scope.PUBLIC: N_("public"),
    Scope.RESTRICTED: N_("restricted"),
    Scope.PRIVATE: N_("private"),
}


class Category(StrEnum):
    """``category`` of the event."""

    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"

    @property
    def label(self) -> str:
        return _(_CATEGORY_NAMES[self])


_CATEGORY_NAMES = {
    Category.GEO: N_("geophysical"),
    Category.MET: N_("meteorological"),
    Category.SAFETY: N_("public safety"),
    Category.SECURITY: N_("security"),
    Category.RESCUE: N_("rescue and recovery"),
    Category.FIRE: N_("fire"),
    Category.HEALTH: N_("health"),
    Category.ENV: N_("environment"),
    Category.TRANSPORT: N_("transport"),
    Category.INFRA: N_("infrastructure"),
    Category.CBRNE: N_("CBRNE"),
    Category.OTHER: N_("other"),
}


class ResponseType(StrEnum):
    """``responseType``: the action recommended to the audience."""

    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"

    @property
    def label(self) -> str:
        return _(_RESPONSE_NAMES[self])


_RESPONSE_NAMES = {
    ResponseType.SHELTER: N_("shelter"),
    ResponseType.EVACUATE: N_("evacuate"),
    ResponseType.PREPARE: N_("prepare"),
    ResponseType.EXECUTE: N_("execute the plan"),
    ResponseType.AVOID: N_("avoid"),
    ResponseType.MONITOR: N_("monitor"),
    ResponseType.ASSESS: N_("assess"),
    ResponseType.ALL_CLEAR: N_("all clear"),
    ResponseType.NONE: N_("no action"),
}


class Urgency(StrEnum):
    """``urgency``: how soon to act."""

    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"

    @property
    def label(self) -> str:
        return _(_URGENCY_NAMES[self])


_URGENCY_NAMES = {
    Urgency.IMMEDIATE: N_("immediate"),
    Urgency.EXPECTED: N_("expected"),
    Urgency.FUTURE: N_("future"),
    Urgency.PAST: N_("past"),
    Urgency.UNKNOWN: N_("unknown"),
}


class Severity(StrEnum):
    """``severity``: the four levels map to the Chinese warning colours (:class:`Colour`)."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"

    @property
    def label(self) -> str:
        return _(_SEVERITY_NAMES[self])

    @property
    def rank(self) -> int:
        """0 for Unknown up to 4 for Extreme: compare levels with it."""
        return _SEVERITY_RANK[self]

    @property
    def colour(self) -> Colour | None:
        return Colour.from_severity(self)


_SEVERITY_NAMES = {
    Severity.EXTREME: N_("extreme"),
    Severity.SEVERE: N_("severe"),
    Severity.MODERATE: N_("moderate"),
    Severity.MINOR: N_("minor"),
    Severity.UNKNOWN: N_("unknown"),
}
_SEVERITY_RANK = {
    Severity.UNKNOWN: 0,
    Severity.MINOR: 1,
    Severity.MODERATE: 2,
    Severity.SEVERE: 3,
    Severity.EXTREME: 4,
}


class Certainty(StrEnum):
    """``certainty``: how sure the sender is."""

    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"

    @property
    def label(self) -> str:
        return _(_CERTAINTY_NAMES[self])


_CERTAINTY_NAMES = {
    Certainty.OBSERVED: N_("observed"),
    Certainty.LIKELY: N_("likely"),
    Certainty.POSSIBLE: N_("possible"),
    Certainty.UNLIKELY: N_("unlikely"),
    Certainty.UNKNOWN: N_("unknown"),
}


class Colour(StrEnum):
    """The four colours of a Chinese warning (预警信号), one per CAP severity."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"

    @property
    def severity(self) -> Severity:
        return _COLOUR_SEVERITY[self]

    @property
    def label_zh(self) -> str:
        """红色, 橙色, 黄色, 蓝色: the official word, whatever the language."""
        return _COLOUR_ZH[self]

    @property
    def label(self) -> str:
        """The colour's name in the current language."""
        return _(_COLOUR_NAMES[self])

    @property
    def hex(self) -> str:
        """The colour to paint it with."""
        return _COLOUR_HEX[self]

    @classmethod
    def from_severity(cls, severity: Severity | str) -> Colour | None:
        """The colour of a CAP severity; ``None`` for Unknown."""
        return _SEVERITY_COLOUR.get(Severity(severity))

    @classmethod
    def parse(cls, text: str) -> Colour:
        """``red``, ``Red``, ``红色``, ``红``, ``红色预警``, ``Extreme`` … -> the colour.

        Raises:
            InvalidInput: nothing we know (field ``colour``).
        """
        key = text.strip().lower().removesuffix("预警").removesuffix("warning").strip()
        for colour in cls:
            if key in (colour.value, colour.severity.value.lower(), colour.label_zh):
                return colour
            if key == colour.label_zh.removesuffix("色"):
                return colour
        raise InvalidInput(
            _("{value!r} is not a warning colour (red, orange, yellow, blue)").format(value=text),
            "colour",
        )


_COLOUR_SEVERITY = {
    Colour.RED: Severity.EXTREME,
    Colour.ORANGE: Severity.SEVERE,
    Colour.YELLOW: Severity.MODERATE,
    Colour.BLUE: Severity.MINOR,
}
_SEVERITY_COLOUR = {severity: colour for colour, severity in _COLOUR_SEVERITY.items()}
_COLOUR_ZH = {Colour.RED: "红色", Colour.ORANGE: "橙色", Colour.YELLOW: "黄色", Colour.BLUE: "蓝色"}
_COLOUR_NAMES = {
    Colour.RED: N_("red"),
    Colour.ORANGE: N_("orange"),
    Colour.YELLOW: N_("yellow"),
    Colour.BLUE: N_("blue"),
}
_COLOUR_HEX = {
    Colour.RED: "#e60012",
    Colour.ORANGE: "#f39800",
    Colour.YELLOW: "#ffd800",
    Colour.BLUE: "#0068b7",
}


def parse_severity(text: str) -> Severity:
    """A severity typed by a person: ``Extreme``… ``Unknown``, or a colour (``红色``, ``orange``).

    Raises:
        InvalidInput: neither (field ``severity``).
    """
    key = text.strip()
    for severity in Severity:
        if key.lower() == severity.value.lower():
            return severity
    try:
        return Colour.parse(key).severity
    except InvalidInput:
        raise InvalidInput(
            _("{value!r} is not a severity (Extreme, Severe, Moderate, Minor or a colour)").format(
                value=text
            ),
            "severity",
        ) from None


# --- the records ---------------------------------------------------------------------------------

Pair = tuple[str, str]
"""A (valueName, value) pair: eventCode, parameter, geocode."""
Point = tuple[float, float]
"""(lat, lon) in WGS 84 degrees, CAP's order."""
Polygon = tuple[Point, ...]
"""A closed ring: first point equals last, at least four points."""
Circle = tuple[float, float, float]
"""(lat, lon, radius in km)."""


@dataclass(frozen=True)
class Reference:
    """One earlier message named in ``references``: ``sender,identifier,sent``."""

    sender: str
    identifier: str
    sent: datetime

    def __post_init__(self) -> None:
        _truncate(self, "sent")

    @property
    def text(self) -> str:
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"


@dataclass(frozen=True)
class Resource:
    """``resource``: a file that goes with the alert (named, never fetched by us)."""

    description: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class Area:
    """``area``: a described area, by polygons, circles and geocodes (division codes)."""

    description: str
    polygons: tuple[Polygon, ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[Pair, ...] = ()
    altitude: Decimal | None = None
    ceiling: Decimal | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        """The division codes among the geocodes (valueName :data:`AREA_CODE_NAME`)."""
        return tuple(value for name, value in self.geocodes if name.lower() in AREA_CODE_NAMES)


@dataclass(frozen=True)
class Info:
    """``info``: the event, its level and what to do, in one language."""

    categories: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    language: str | None = None
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[Pair, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[Pair, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()

    def __post_init__(self) -> None:
        for name in ("effective", "onset", "expires"):
            _truncate(self, name)

    @property
    def colour(self) -> Colour | None:
        return Colour.from_severity(self.severity)


@dataclass(frozen=True)
class Alert:
    """``alert``: one CAP message. Build it, then :func:`to_xml`; or get it from :func:`parse`."""

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[Info, ...] = field(default=())

    def __post_init__(self) -> None:
        _truncate(self, "sent")

    @property
    def info(self) -> Info | None:
        """The first info block (dutydesk writes one), ``None`` for a message without any."""
        return self.infos[0] if self.infos else None

    @property
    def severity(self) -> Severity:
        """The highest severity of its info blocks (Unknown when none)."""
        return max((i.severity for i in self.infos), key=lambda s: s.rank, default=Severity.UNKNOWN)

    @property
    def colour(self) -> Colour | None:
        """The warning colour of its highest severity; ``None`` when Unknown or no info."""
        return Colour.from_severity(self.severity)

    @property
    def event(self) -> str:
        """The event of the first info block (``暴雨``), '' when there is none."""
        return self.infos[0].event if self.infos else ""

    @property
    def expires(self) -> datetime | None:
        """The latest ``expires`` of its info blocks; ``None`` if any has none (open-ended)."""
        ends = [i.expires for i in self.infos]
        if not ends or any(end is None for end in ends):
            return None
        return max(end for end in ends if end is not None)

    @property
    def exercise(self) -> bool:
        """Drill traffic (status Exercise), or a test that must move nobody."""
        return self.status is not Status.ACTUAL

    @property
    def area_codes(self) -> tuple[str, ...]:
        """The division codes of every area, in order, each once."""
        return tuple(dict.fromkeys(c for i in self.infos for a in i.areas for c in a.codes))

    @property
    def polygons(self) -> tuple[Polygon, ...]:
        """The polygons of every area, (lat, lon) points."""
        return tuple(p for i in self.infos for a in i.areas for p in a.polygons)

    @property
    def area_description(self) -> str:
        """The areaDesc of every area of the first info, joined with '、'."""
        if not self.infos:
            return ""
        return "、".join(a.description for a in self.infos[0].areas)

    @property
    def references_text(self) -> str:
        """The ``references`` element's text ('' when none)."""
        return " ".join(r.text for r in self.references)

    def to_json(self) -> dict[str, Any]:
        """The alert's one JSON form (``alert show --json``, the wire's summaries).

        CAP's own names in snake_case; times in CAP form (``+08:00``); ``colour`` and
        ``area_codes`` derived.
        """
        return {
            "identifier": self.identifier,
            "sender": self.sender,
            "sent": cap_time(self.sent),
            "status": self.status.value,
            "msg_type": self.msg_type.value,
            "source": self.source,
            "scope": self.scope.value,
            "restriction": self.restriction,
            "addresses": self.addresses,
            "codes": list(self.codes),
            "note": self.note,
            "references": [
                {"sender": r.sender, "identifier": r.identifier, "sent": cap_time(r.sent)}
                for r in self.references
            ],
            "incidents": self.incidents,
            "colour": None if self.colour is None else self.colour.value,
            "severity": self.severity.value,
            "area_codes": list(self.area_codes),
            "infos": [_info_json(i) for i in self.infos],
        }


def _truncate(record: object, name: str) -> None:
    value = getattr(record, name)
    if isinstance(value, datetime) and value.microsecond:
        object.__setattr__(record, name, value.replace(microsecond=0))


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else cap_time(value)


def _info_json(info: Info) -> dict[str, Any]:
    return {
        "language": info.language,
        "categories": [c.value for c in info.categories],
        "event": info.event,
        "response_types": [r.value for r in info.response_types],
        "urgency": info.urgency.value,
        "severity": info.severity.value,
        "certainty": info.certainty.value,
        "colour": None if info.colour is None else info.colour.value,
        "audience": info.audience,
        "event_codes": [list(p) for p in info.event_codes],
        "effective": _opt_time(info.effective),
        "onset": _opt_time(info.onset),
        "expires": _opt_time(info.expires),
        "sender_name": info.sender_name,
        "headline": info.headline,
        "description": info.description,
        "instruction": info.instruction,
        "web": info.web,
        "contact": info.contact,
        "parameters": [list(p) for p in info.parameters],
        "resources": [
            {
                "description": r.description,
                "mime_type": r.mime_type,
                "size": r.size,
                "uri": r.uri,
                "deref_uri": r.deref_uri,
                "digest": r.digest,
            }
            for r in info.resources
        ],
        "areas": [
            {
                "description": a.description,
                "polygons": [[list(pt) for pt in p] for p in a.polygons],
                "circles": [list(c) for c in a.circles],
                "geocodes": [list(g) for g in a.geocodes],
                "codes": list(a.codes),
                "altitude": None if a.altitude is None else str(a.altitude),
                "ceiling": None if a.ceiling is None else str(a.ceiling),
            }
            for a in info.areas
        ],
    }


# --- times, identifiers, references --------------------------------------------------------------

_CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")


def cap_time(at: datetime, zone: timezone = BEIJING) -> str:
    """``2026-07-01T08:00:00+08:00``: CAP's form, in Beijing time, seconds truncated.

    Raises:
        InvalidInput: a naive datetime (no zone to convert from).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(_("a CAP time needs a time zone"), "time")
    return at.astimezone(zone).replace(microsecond=0).isoformat()


def parse_cap_time(text: str, field: str = "time") -> datetime:
    """A CAP time (``YYYY-MM-DDThh:mm:ss+hh:mm``, no ``Z``, no fractions) -> aware datetime.

    Raises:
        InvalidInput: any other form (``field`` named).
    """
    value = text.strip()
    if not _CAP_TIME.fullmatch(value):
        raise InvalidInput(
            _("{value!r} is not a CAP time (YYYY-MM-DDThh:mm:ss+hh:mm, no Z, no fractions)").format(
                value=text
            ),
            field,
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            _("{value!r} is not a valid date and time").format(value=text), field
        ) from exc


_SENDER_CODE = re.compile(r"[0-9A-Za-z]{1,40}")


def new_identifier(sender_code: str, now: datetime, seq: int) -> str:
    """An identifier in the national profile's shape: ``<code>_<YYYYMMDDhhmmss>_<seq>``.

    Args:
        sender_code: the issuing unit's code (GB/T 2260 division code, optionally followed by
            a sector code), letters and digits only.
        now: the issue time (aware); written in Beijing time.
        seq: the sequence number of the message within that second, from 1.

    Raises:
        InvalidInput: a code with other characters, a naive time or a sequence below 1.
    """
    if not _SENDER_CODE.fullmatch(sender_code):
        raise InvalidInput(
            _("{value!r} is not a sender code (letters and digits)").format(value=sender_code),
            "sender_code",
        )
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput(_("a CAP time needs a time zone"), "now")
    if seq < 1:
        raise InvalidInput(_("the sequence number starts at 1"), "seq")
    return f"{sender_code}_{now.astimezone(BEIJING):%Y%m%d%H%M%S}_{seq}"


def parse_references(text: str, field: str = "references") -> tuple[Reference, ...]:
    """``sender,identifier,sent ...`` -> references.

    Raises:
        InvalidInput: an entry that is not a ``sender,identifier,sent`` triple.
    """
    found: list[Reference] = []
    for entry in text.split():
        parts = entry.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise InvalidInput(
                _("{value!r} is not a sender,identifier,sent triple").format(value=entry), field
            )
        found.append(Reference(parts[0], parts[1], parse_cap_time(parts[2], field)))
    return tuple(found)


def references_of(alert: Alert) -> tuple[Reference, ...]:
    """The earlier messages ``alert`` updates, cancels, acknowledges or rejects."""
    return alert.references


def reference(alert: Alert) -> Reference:
    """How a later message names ``alert`` in its ``references``."""
    return Reference(alert.sender, alert.identifier, alert.sent)


def follow_up(
    original: Alert,
    *,
    msg_type: MsgType,
    identifier: str,
    sent: datetime,
    infos: Sequence[Info] | None = None,
    note: str | None = None,
) -> Alert:
    """An Update or Cancel (or Ack/Error) of ``original``: same sender, status and scope.

    ``references`` name the original and everything it referenced (CAP asks for the whole
    chain, so a receiver that missed a message can still find the thread). ``infos`` default
    to the original's.
    """
    chain = tuple(dict.fromkeys((*original.references, reference(original))))
    return replace(
        original,
        identifier=identifier,
        sent=sent,
        msg_type=msg_type,
        references=chain,
        note=note,
        infos=tuple(original.infos if infos is None else infos),
    )


# --- the rules the schema cannot express ---------------------------------------------------------

_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")


@cache
def _not_xml_char() -> re.Pattern[str]:
    """Anything but an XML 1.0 character (compiled on first use: ~20 ms, kept off the import)."""
    return re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")


def check(alert: Alert) -> None:
    """The specification's rules on a record (what :func:`to_xml` and :func:`parse` enforce).

    Raises:
        InvalidInput: the first rule broken; ``field`` is the element's path.
    """
    for problem in _problems(alert):
        raise problem


def _problems(alert: Alert) -> Iterator[InvalidInput]:
    yield from _strings(alert, "/alert")
    for name, value in (("identifier", alert.identifier), ("sender", alert.sender)):
        if not value or _FORBIDDEN_IN_ID.search(value):
            yield InvalidInput(
                _("must be non-empty, without spaces, commas, '<' or '&'"), f"/alert/{name}"
            )
    yield from _aware(alert.sent, "/alert/sent")
    if alert.scope is Scope.RESTRICTED and not alert.restriction:
        yield InvalidInput(_("required when scope is Restricted"), "/alert/restriction")
    if alert.scope is Scope.PRIVATE and not alert.addresses:
        yield InvalidInput(_("required when scope is Private"), "/alert/addresses")
    if alert.msg_type.needs_references and not alert.references:
        yield InvalidInput(
            _("required when msgType is {kind}").format(kind=alert.msg_type.value),
            "/alert/references",
        )
    for ref in alert.references:
        if (
            not ref.sender
            or not ref.identifier
            or _FORBIDDEN_IN_ID.search(ref.sender + ref.identifier)
        ):
            yield InvalidInput(
                _("{value!r} is not a sender,identifier,sent triple").format(
                    value=f"{ref.sender},{ref.identifier},…"
                ),
                "/alert/references",
            )
        yield from _aware(ref.sent, "/alert/references")
    for n, info in enumerate(alert.infos, 1):
        yield from _info_problems(info, f"/alert/info[{n}]")


def _info_problems(info: Info, path: str) -> Iterator[InvalidInput]:
    if not info.categories:
        yield InvalidInput(_("at least one category is required"), f"{path}/category")
    if not info.event.strip():
        yield InvalidInput(_("the event is required"), f"{path}/event")
    if info.language is not None and not _LANGUAGE.fullmatch(info.language):
        yield InvalidInput(
            _("{value!r} is not a language tag (e.g. zh-CN)").format(value=info.language),
            f"{path}/language",
        )
    for name in ("effective", "onset", "expires"):
        value = getattr(info, name)
        if value is not None:
            yield from _aware(value, f"{path}/{name}")
    for n, res in enumerate(info.resources, 1):
        if res.size is not None and res.size < 0:
            yield InvalidInput(_("a size is not negative"), f"{path}/resource[{n}]/size")
    for n, area in enumerate(info.areas, 1):
        here = f"{path}/area[{n}]"
        for m, polygon in enumerate(area.polygons, 1):
            problem = _polygon_problem(polygon)
            if problem:
                yield InvalidInput(problem, f"{here}/polygon[{m}]")
        for m, (lat, lon, radius) in enumerate(area.circles, 1):
            problem = _point_problem((lat, lon))
            if problem is None and not (math.isfinite(radius) and radius >= 0):
                problem = _("the radius must be a number of km, 0 or more")
            if problem:
                yield InvalidInput(problem, f"{here}/circle[{m}]")
        for name in ("altitude", "ceiling"):
            value = getattr(area, name)
            if value is not None and not value.is_finite():
                yield InvalidInput(_("must be a number"), f"{here}/{name}")
        if area.ceiling is not None and area.altitude is None:
            yield InvalidInput(_("a ceiling needs an altitude"), f"{here}/ceiling")


def _aware(at: datetime, path: str) -> Iterator[InvalidInput]:
    if at.tzinfo is None or at.utcoffset() is None:
        yield InvalidInput(_("a CAP time needs a time zone"), path)
        return
    try:
        at.astimezone(BEIJING)
    except OverflowError:
        yield InvalidInput(_("the date is out of range"), path)


def _point_problem(point: Point) -> str | None:
    lat, lon = point
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return _("coordinates must be numbers")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return _("({lat}, {lon}) is not a WGS 84 lat,lon point").format(lat=lat, lon=lon)
    return None


def _polygon_problem(polygon: Polygon) -> str | None:
    if len(polygon) < 4:
        return _("a polygon needs at least 4 points (the first repeated last)")
    for point in polygon:
        problem = _point_problem(point)
        if problem:
            return problem
    if polygon[0] != polygon[-1]:
        return _("a polygon must be closed: its last point equals its first")
    return None


def _strings(value: object, path: str) -> Iterator[InvalidInput]:
    """Every text of the record is writable XML (no control characters, no lone surrogates)."""
    if isinstance(value, str):
        if _not_xml_char().search(value):
            yield InvalidInput(_("contains a character XML cannot carry"), path)
    elif isinstance(value, tuple):
        for item in value:
            yield from _strings(item, path)
    elif isinstance(value, Reference):  # written inside the one <references> text
        yield from _strings((value.sender, value.identifier), path)
    elif isinstance(value, (Alert, Info, Area, Resource)):
        for name in value.__dataclass_fields__:
            element = _ELEMENTS.get((type(value).__name__, name)) or _ELEMENTS.get(("", name), name)
            item = getattr(value, name)
            if isinstance(item, tuple) and element in _REPEATED:
                for n, each in enumerate(item, 1):
                    yield from _strings(each, f"{path}/{element}[{n}]")
            else:
                yield from _strings(item, f"{path}/{element}")


_ELEMENTS = {
    ("", "msg_type"): "msgType",
    ("", "codes"): "code",
    ("", "infos"): "info",
    ("", "categories"): "category",
    ("", "response_types"): "responseType",
    ("", "event_codes"): "eventCode",
    ("", "sender_name"): "senderName",
    ("", "parameters"): "parameter",
    ("", "resources"): "resource",
    ("", "areas"): "area",
    ("", "polygons"): "polygon",
    ("", "circles"): "circle",
    ("", "geocodes"): "geocode",
    ("", "mime_type"): "mimeType",
    ("", "deref_uri"): "derefUri",
    ("Area", "description"): "areaDesc",
    ("Resource", "description"): "resourceDesc",
}
"""The CAP element of a record's field, where the names differ (for the paths of errors)."""


# --- writing -------------------------------------------------------------------------------------


def to_xml(alert: Alert) -> bytes:
    """The alert as CAP 1.2 XML, UTF-8, validated against the schema before it is returned.

    Raises:
        InvalidInput: the record breaks a rule (the element's path in ``field``).
        CapWriteError: what was written does not validate (a bug; nothing is returned).
    """
    check(alert)
    out = _Writer()
    out.open("alert", f' xmlns="{NAMESPACE}"')
    out.text("identifier", alert.identifier)
    out.text("sender", alert.sender)
    out.text("sent", cap_time(alert.sent))
    out.text("status", alert.status.value)
    out.text("msgType", alert.msg_type.value)
    out.text("source", alert.source)
    out.text("scope", alert.scope.value)
    out.text("restriction", alert.restriction)
    out.text("addresses", alert.addresses)
    for code in alert.codes:
        out.text("code", code)
    out.text("note", alert.note)
    if alert.references:
        out.text("references", alert.references_text)
    out.text("incidents", alert.incidents)
    for info in alert.infos:
        _write_info(out, info)
    out.close("alert")
    data = out.getvalue()
    if len(data) > MAX_ALERT_BYTES:
        raise InvalidInput(
            _("the message is {size} bytes, more than the {limit} accepted").format(
                size=len(data), limit=MAX_ALERT_BYTES
            ),
            "/alert",
        )
    errors = list(_schema_errors(data))
    if errors:
        raise CapWriteError(
            _("the CAP written for {identifier} does not validate: {error}").format(
                identifier=alert.identifier, error=errors[0]
            )
        )
    return data


def _write_info(out: _Writer, info: Info) -> None:
    out.open("info")
    out.text("language", info.language)
    for category in info.categories:
        out.text("category", category.value)
    out.text("event", info.event)
    for response in info.response_types:
        out.text("responseType", response.value)
    out.text("urgency", info.urgency.value)
    out.text("severity", info.severity.value)
    out.text("certainty", info.certainty.value)
    out.text("audience", info.audience)
    out.pairs("eventCode", info.event_codes)
    out.text("effective", _opt_time(info.effective))
    out.text("onset", _opt_time(info.onset))
    out.text("expires", _opt_time(info.expires))
    out.text("senderName", info.sender_name)
    out.text("headline", info.headline)
    out.text("description", info.description)
    out.text("instruction", info.instruction)
    out.text("web", info.web)
    out.text("contact", info.contact)
    out.pairs("parameter", info.parameters)
    for res in info.resources:
        out.open("resource")
        out.text("resourceDesc", res.description)
        out.text("mimeType", res.mime_type)
        out.text("size", None if res.size is None else str(res.size))
        out.text("uri", res.uri)
        out.text("derefUri", res.deref_uri)
        out.text("digest", res.digest)
        out.close("resource")
    for area in info.areas:
        out.open("area")
        out.text("areaDesc", area.description)
        for polygon in area.polygons:
            out.text("polygon", " ".join(f"{_num(lat)},{_num(lon)}" for lat, lon in polygon))
        for lat, lon, radius in area.circles:
            out.text("circle", f"{_num(lat)},{_num(lon)} {_num(radius)}")
        out.pairs("geocode", area.geocodes)
        out.text("altitude", None if area.altitude is None else _decimal(area.altitude))
        out.text("ceiling", None if area.ceiling is None else _decimal(area.ceiling))
        out.close("area")
    out.close("info")


def _num(value: float) -> str:
    """The shortest decimal that reads back as the same float, never with an exponent
    (``38.47``, ``0``, ``-120.14``, ``0.00001``)."""
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def _decimal(value: Decimal) -> str:
    return format(value, "f")


class _Writer:
    """A small indenting XML writer: CAP has no attributes and no mixed content."""

    def __init__(self) -> None:
        self._parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
        self._depth = 0

    def open(self, tag: str, attrs: str = "") -> None:
        self._parts.append(f"{'  ' * self._depth}<{tag}{attrs}>\n")
        self._depth += 1

    def close(self, tag: str) -> None:
        self._depth -= 1
        self._parts.append(f"{'  ' * self._depth}</{tag}>\n")

    def text(self, tag: str, value: str | None) -> None:
        if value is None:
            return
        self._parts.append(f"{'  ' * self._depth}<{tag}>{_escape(value)}</{tag}>\n")

    def pairs(self, tag: str, pairs: Sequence[Pair]) -> None:
        for name, value in pairs:
            self.open(tag)
            self.text("valueName", name)
            self.text("value", value)
            self.close(tag)

    def getvalue(self) -> bytes:
        return "".join(self._parts).encode("utf-8")


def _escape(text: str) -> str:
    # \r is written as a reference: a raw one would come back as \n (XML end-of-line handling).
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


# --- reading -------------------------------------------------------------------------------------


def parse(xml: bytes) -> Alert:
    """A CAP 1.2 message from outside -> the record, or a refusal.

    Raises:
        InvalidInput: too large, hostile, malformed, invalid against the schema or the
            specification's rules; the message gives the reason (the schema's own words) and
            ``field`` the element's path (``/alert/info[1]/area[1]/polygon[1]``).
    """
    root = _parse_tree(xml)
    errors = _schema_errors_in(root)
    if errors:
        raise errors[0]
    alert = _read_alert(root)
    check(alert)
    return alert


def validate(xml: bytes) -> None:
    """Check a CAP message as :func:`parse` does, without keeping the record.

    Raises:
        InvalidInput: as :func:`parse`.
    """
    parse(xml)


def is_valid(xml: bytes) -> bool:
    """Whether :func:`validate` accepts ``xml``."""
    try:
        parse(xml)
    except InvalidInput:
        return False
    return True


def _parse_tree(xml: bytes) -> Element:
    """Parse with defusedxml: no DTD, no entity, no external reference, bounded depth."""
    if not isinstance(xml, bytes | bytearray | memoryview):
        raise InvalidInput(_("a CAP message is bytes"), "/")
    if len(xml) > MAX_ALERT_BYTES:
        raise InvalidInput(
            _("the message is {size} bytes, more than the {limit} accepted").format(
                size=len(xml), limit=MAX_ALERT_BYTES
            ),
            "/",
        )
    data = _as_utf8(bytes(xml))
    from xml.etree.ElementTree import ParseError, TreeBuilder

    from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
    from defusedxml.ElementTree import DefusedXMLParser

    class _Bounded:
        """A tree builder refusing nesting deeper than MAX_DEPTH or MAX_ELEMENTS, as it goes."""

        def __init__(self) -> None:
            self.builder = TreeBuilder()
            self.depth = 0
            self.count = 0

        def start(self, tag: str, attrs: dict[str, str]) -> Element:
            self.depth += 1
            self.count += 1
            if self.depth > MAX_DEPTH:
                raise InvalidInput(
                    _("elements are nested deeper than {limit}").format(limit=MAX_DEPTH), "/"
                )
            if self.count > MAX_ELEMENTS:
                raise InvalidInput(_("more than {limit} elements").format(limit=MAX_ELEMENTS), "/")
            return self.builder.start(tag, attrs)

        def end(self, tag: str) -> Element:
            self.depth -= 1
            return self.builder.end(tag)

        def data(self, text: str) -> None:
            self.builder.data(text)

        def close(self) -> Element:
            return self.builder.close()

    parser = DefusedXMLParser(
        target=_Bounded(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        root: Element = parser.close()
    except DTDForbidden:
        raise InvalidInput(_("a document type declaration (DTD) is not accepted"), "/") from None
    except EntitiesForbidden:
        raise InvalidInput(_("entity declarations are not accepted"), "/") from None
    except DefusedXmlException:  # external references, unsupported constructs
        raise InvalidInput(_("external references are not accepted"), "/") from None
    except ParseError as exc:
        raise InvalidInput(_("not well-formed XML: {reason}").format(reason=exc), "/") from None
    except RecursionError:
        raise InvalidInput(_("elements are nested too deeply"), "/") from None
    except (ValueError, LookupError) as exc:  # e.g. an encoding expat cannot take
        raise InvalidInput(_("not well-formed XML: {reason}").format(reason=exc), "/") from None
    return root


_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_EXPAT_ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1"})


def _as_utf8(data: bytes) -> bytes:
    """A document declared in another encoding (GB2312, GBK, GB18030…), re-encoded as UTF-8.

    Expat reads only UTF-8, UTF-16, ASCII and Latin-1 itself; Chinese systems often declare
    GB encodings. The text is decoded with Python's codec and the declaration rewritten.
    """
    found = _DECLARED_ENCODING.match(data)
    if found is None:
        return data
    name = found.group(1).decode("ascii").lower()
    if name in _EXPAT_ENCODINGS or name.startswith("utf-16"):
        return data
    try:
        text = data.decode(name)
    except (LookupError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            _("the text is not in the declared encoding {name}: {reason}").format(
                name=name, reason=exc
            ),
            "/",
        ) from None
    start, end = found.span(1)
    return data[:start] + b"UTF-8" + data[end : found.end()] + text[found.end() :].encode("utf-8")


_SCHEMA_LOCK = threading.Lock()


@cache
def schema() -> xmlschema.XMLSchema10:
    """The compiled CAP 1.2 schema, once per process (about 0.2 s the first time)."""
    import xmlschema

    # Only the packaged file: the CAP schema imports nothing, so nothing else may be loaded.
    return xmlschema.XMLSchema10(str(XSD_PATH), base_url=str(XSD_PATH.parent), allow="sandbox")


def _schema_errors(data: bytes) -> Iterator[str]:
    """The writer's self-check: reasons the document breaks the schema (none if valid)."""
    try:
        root = _parse_tree(data)
    except InvalidInput as exc:
        yield str(exc)
        return
    for error in _schema_errors_in(root):
        yield str(error)


def _schema_errors_in(root: Element) -> list[InvalidInput]:
    """The schema's first complaint about ``root`` (none if valid), with the element's path.

    Strict validation stops at the first error: lax mode collects every error of a document
    before yielding one, seconds for a hostile one made of thousands of wrong elements.
    """
    from xmlschema import XMLSchemaValidationError

    compiled = schema()
    # One validation at a time: the engine's threads and the HTTP server share the schema, and
    # xmlschema builds some of its state lazily on first use.
    with _SCHEMA_LOCK:
        try:
            compiled.validate(root, use_location_hints=False)
        except XMLSchemaValidationError as error:
            elem = getattr(error, "elem", None)
            paths = _paths(root)
            path = paths.get(id(elem), "/alert") if elem is not None else "/alert"
            return [InvalidInput(str(error.reason or error.message), path)]
    return []


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_REPEATED = frozenset(
    {"code", "info", "category", "responseType", "eventCode", "parameter", "resource", "area"}
    | {"polygon", "circle", "geocode"}
)
"""The elements that may occur more than once: their paths carry a position (``area[2]``)."""


def _paths(root: Element) -> dict[int, str]:
    """Each element's path, repeatable ones with their position (``info[1]``), by ``id()``."""
    paths = {id(root): f"/{_local(root.tag)}"}
    stack = [root]
    while stack:
        parent = stack.pop()
        seen: dict[str, int] = {}
        for child in parent:
            name = _local(child.tag) if isinstance(child.tag, str) else "?"
            seen[name] = seen.get(name, 0) + 1
            step = f"{name}[{seen[name]}]" if name in _REPEATED else name
            paths[id(child)] = f"{paths[id(parent)]}/{step}"
            stack.append(child)
    return paths


class _Reader:
    """Reads the children of one (schema-valid) element by name, keeping the path for errors."""

    def __init__(self, elem: Element, path: str) -> None:
        self.path = path
        self.children: dict[str, list[Element]] = {}
        for child in elem:
            if isinstance(child.tag, str) and child.tag.startswith("{" + NAMESPACE + "}"):
                self.children.setdefault(_local(child.tag), []).append(child)

    def all(self, tag: str) -> list[Element]:
        return self.children.get(tag, [])

    def texts(self, tag: str) -> list[str]:
        return [child.text or "" for child in self.all(tag)]

    def opt(self, tag: str) -> str | None:
        found = self.all(tag)
        return (found[0].text or "") if found else None

    def req(self, tag: str) -> str:
        found = self.opt(tag)
        if found is None:  # the schema has already refused it; kept for a clear message
            raise InvalidInput(_("required"), f"{self.path}/{tag}")
        return found

    def time(self, tag: str) -> datetime | None:
        text = self.opt(tag)
        return None if text is None else parse_cap_time(text, f"{self.path}/{tag}")

    def pairs(self, tag: str) -> tuple[Pair, ...]:
        found = []
        for n, child in enumerate(self.all(tag), 1):
            inner = _Reader(child, f"{self.path}/{tag}[{n}]")
            found.append((inner.req("valueName"), inner.req("value")))
        return tuple(found)

    def sub(self, tag: str) -> list[_Reader]:
        return [_Reader(c, f"{self.path}/{tag}[{n}]") for n, c in enumerate(self.all(tag), 1)]


def _read_alert(root: Element) -> Alert:
    r = _Reader(root, "/alert")
    refs = r.opt("references")
    return Alert(
        identifier=r.req("identifier"),
        sender=r.req("sender"),
        sent=parse_cap_time(r.req("sent"), "/alert/sent"),
        status=Status(r.req("status")),
        msg_type=MsgType(r.req("msgType")),
        scope=Scope(r.req("scope")),
        source=r.opt("source"),
        restriction=r.opt("restriction"),
        addresses=r.opt("addresses"),
        codes=tuple(r.texts("code")),
        note=r.opt("note"),
        references=() if refs is None else parse_references(refs, "/alert/references"),
        incidents=r.opt("incidents"),
        infos=tuple(_read_info(i) for i in r.sub("info")),
    )


def _read_info(r: _Reader) -> Info:
    return Info(
        language=_stripped(r.opt("language")),
        categories=tuple(Category(t) for t in r.texts("category")),
        event=r.req("event"),
        response_types=tuple(ResponseType(t) for t in r.texts("responseType")),
        urgency=Urgency(r.req("urgency")),
        severity=Severity(r.req("severity")),
        certainty=Certainty(r.req("certainty")),
        audience=r.opt("audience"),
        event_codes=r.pairs("eventCode"),
        effective=r.time("effective"),
        onset=r.time("onset"),
        expires=r.time("expires"),
        sender_name=r.opt("senderName"),
        headline=r.opt("headline"),
        description=r.opt("description"),
        instruction=r.opt("instruction"),
        web=r.opt("web"),
        contact=r.opt("contact"),
        parameters=r.pairs("parameter"),
        resources=tuple(_read_resource(x) for x in r.sub("resource")),
        areas=tuple(_read_area(a) for a in r.sub("area")),
    )


def _stripped(text: str | None) -> str | None:
    return None if text is None else text.strip()


def _read_resource(r: _Reader) -> Resource:
    size = r.opt("size")
    return Resource(
        description=r.req("resourceDesc"),
        mime_type=r.req("mimeType"),
        size=None if size is None else int(size.strip()),
        uri=r.opt("uri"),
        deref_uri=r.opt("derefUri"),
        digest=r.opt("digest"),
    )


def _read_area(r: _Reader) -> Area:
    return Area(
        description=r.req("areaDesc"),
        polygons=tuple(
            parse_polygon(t, f"{r.path}/polygon[{n}]") for n, t in enumerate(r.texts("polygon"), 1)
        ),
        circles=tuple(
            parse_circle(t, f"{r.path}/circle[{n}]") for n, t in enumerate(r.texts("circle"), 1)
        ),
        geocodes=r.pairs("geocode"),
        altitude=_read_decimal(r.opt("altitude"), f"{r.path}/altitude"),
        ceiling=_read_decimal(r.opt("ceiling"), f"{r.path}/ceiling"),
    )


def _read_decimal(text: str | None, path: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(_("must be a number"), path) from None


def _point(text: str, path: str) -> Point:
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return (float(parts[0]), float(parts[1]))
    except ValueError:
        raise InvalidInput(
            _("{value!r} is not a lat,lon point").format(value=text[:40]), path
        ) from None


def parse_polygon(text: str, path: str = "polygon") -> Polygon:
    """``lat,lon lat,lon ...`` -> the polygon (checked: closed, at least 4 WGS 84 points).

    Raises:
        InvalidInput: not that (``path`` named).
    """
    polygon = tuple(_point(part, path) for part in text.split())
    problem = _polygon_problem(polygon)
    if problem:
        raise InvalidInput(problem, path)
    return polygon


def parse_circle(text: str, path: str = "circle") -> Circle:
    """``lat,lon radius`` (radius in km) -> the circle.

    Raises:
        InvalidInput: not that (``path`` named).
    """
    parts = text.split()
    if len(parts) != 2:
        raise InvalidInput(_("{value!r} is not 'lat,lon radius'").format(value=text[:40]), path)
    lat, lon = _point(parts[0], path)
    try:
        radius = float(parts[1])
    except ValueError:
        raise InvalidInput(
            _("{value!r} is not 'lat,lon radius'").format(value=text[:40]), path
        ) from None
    return (lat, lon, radius)
