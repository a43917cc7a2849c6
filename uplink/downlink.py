"""Provides the downlink at the hub: alerts and directives queued for the units below.

What goes down (the hub's side of ``GET /v1/units/{code}/inbox`` and of the push):

- :func:`units_in_area`: which registered units an alert reaches. A unit is reached when its
  division code is at or under one of the area's codes (``330102`` reaches ``330102001``; a
  code is compared by its significant digits, so ``330102000000`` is ``330102``), when one of
  the area's codes is inside the unit (a village of that township), when the hub's own
  jurisdiction (:mod:`jurisdiction`) places an area code under the unit, or when the unit's
  boundary in the hub's ``units`` table (its own, else the union of its descendants') meets one
  of the area's polygons (shapely, :mod:`jurisdiction.geo`).
- :func:`send_alert` / :func:`send_directive`: one ``hub_down`` row per unit and item
  (idempotent: a unit gets an item once). The row's id is the unit's cursor.
- :func:`fan_out_alert`: an alert issued here, sent to every unit its area reaches (an Update
  or a Cancel also to every unit that had what it references).
- :func:`inbox`: a page of a unit's items after its cursor, in order.
- :func:`push_targets`: the units with a push URL that have items they may not have pulled yet
  (the hub's engine pokes them: :func:`poke_request`).
- The poke's signature (:func:`poke_key`, :func:`sign_poke`, :func:`poke_signed`): HMAC-SHA256
  over ``f"{timestamp}.".encode() + body`` keyed by the hex SHA-256 of the unit's token, the one
  thing of the token the hub keeps; the unit computes the same from its token file.

The payload of an alert item is the CAP XML exactly as the hub validated it; of a directive,
its fields as JSON (``uplink.directives`` receives them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.clock import from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput
from store.i18n import _

ALERT = "alert"
DIRECTIVE = "directive"
KINDS = (ALERT, DIRECTIVE)
INBOX_LIMIT = (1, 200, 50)  # least, most, default items in one page
MAX_CURSOR = 2**53
POKE_PATH = "/v1/inbox/poke"
POKE_BODY_LIMIT = 1024  # bytes: {"unit": ..., "nonce": ...}
TIMESTAMP_HEADER = "X-Dutydesk-Timestamp"
SIGNATURE_HEADER = "X-Dutydesk-Signature"
_DIVISION = re.compile(r"\d{6}(\d{3}){0,2}")
_IN_CHUNK = 500


@dataclass(frozen=True)
class InboxItem:
    """One item queued for a unit: its cursor, kind, reference, payload and when queued."""

    id: int
    unit: str
    kind: str
    ref: str
    payload: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "ref": self.ref,
            "created_at": to_iso(self.created_at),
        }
        if self.kind == ALERT:
            out["alert"] = self.payload  # the CAP XML, as validated
        else:
            out["directive"] = json.loads(self.payload)
        return out


# --- which units an area reaches ----------------------------------------------------------------


def significant(code: str) -> str:
    """A division code's significant part: ``330102000000`` → ``330102``, ``330100`` → ``3301``.

    A code that is not a 6/9/12-digit division code is returned as it is.
    """
    if not _DIVISION.fullmatch(code):
        return code
    while len(code) > 6 and code.endswith("000"):
        code = code[:-3]
    while len(code) > 2 and len(code) <= 6 and code.endswith("00"):
        code = code[:-2]
    return code


def padded(code: str) -> str:
    """A division code in the 12-digit form of the jurisdiction (``330102001`` →
    ``330102001000``); another code as it is."""
    return code.ljust(12, "0") if _DIVISION.fullmatch(code) else code


def _under(code: str, area: str) -> bool:
    """``code`` is ``area`` or inside it (by division code), or ``area`` is inside ``code``."""
    if code == area:
        return True
    a, b = significant(code), significant(area)
    if not (_DIVISION.fullmatch(code) and _DIVISION.fullmatch(area)):
        return False
    return a.startswith(b) or b.startswith(a)


def registered(db: Database) -> list[str]:
    """The codes of the units registered at this hub and not revoked."""
    rows = db.conn.execute("SELECT code FROM hub_units WHERE revoked_at IS NULL ORDER BY code")
    return [str(r[0]) for r in rows]


def _ancestors(db: Database, code: str) -> list[str]:
    """``code`` and the codes above it in the hub's own jurisdiction (current units)."""
    rows = db.conn.execute(
        "WITH RECURSIVE up(id, code, parent_id) AS ("
        " SELECT id, code, parent_id FROM units WHERE code = ? AND valid_to IS NULL"
        " UNION SELECT u.id, u.code, u.parent_id FROM units u JOIN up ON u.id = up.parent_id)"
        " SELECT code FROM up",
        (code,),
    )
    return [str(r[0]) for r in rows]


def _boundaries(db: Database, code: str) -> list[str]:
    """The GeoJSON boundaries of the unit ``code`` in the hub's jurisdiction: its own, else its
    descendants' (a township drawn only through its grids)."""
    row = db.conn.execute(
        "SELECT id, boundary FROM units WHERE code IN (?, ?) AND valid_to IS NULL"
        " ORDER BY code = ? DESC LIMIT 1",
        (code, padded(code), code),
    ).fetchone()
    if row is None:
        return []
    if row[1]:
        return [str(row[1])]
    rows = db.conn.execute(
        "WITH RECURSIVE down(id) AS (SELECT ? UNION SELECT u.id FROM units u JOIN down"
        " ON u.parent_id = down.id WHERE u.valid_to IS NULL)"
        " SELECT boundary FROM units WHERE id IN (SELECT id FROM down) AND boundary IS NOT NULL",
        (int(row[0]),),
    )
    return [str(r[0]) for r in rows]


def units_in_area(
    db: Database,
    codes: Sequence[str],
    polygons: Sequence[Sequence[tuple[float, float]]] = (),
) -> list[str]:
    """The registered units (not revoked) an area reaches, sorted; see the module docstring.

    Args:
        codes: the area's division codes (CAP ``geocode`` values).
        polygons: the area's polygons, each a ring of (latitude, longitude) pairs as CAP writes
            them (``lat,lon lat,lon ...``).
    """
    units = registered(db)
    reached: set[str] = set()
    for code in codes:
        above = {significant(c) for c in _ancestors(db, code)}
        for unit in units:
            if significant(unit) in above or _under(unit, code):
                reached.add(unit)
    if polygons:
        reached.update(_by_polygon(db, [u for u in units if u not in reached], polygons))
    return sorted(reached)


def _by_polygon(
    db: Database, units: Sequence[str], polygons: Sequence[Sequence[tuple[float, float]]]
) -> set[str]:
    from shapely.geometry import Polygon
    from shapely.ops import unary_union

    from jurisdiction.geo import make_sound, to_shape

    shapes = [Polygon([(lon, lat) for lat, lon in ring]) for ring in polygons if len(ring) >= 4]
    if not shapes:
        return set()
    area = make_sound(unary_union([make_sound(s) for s in shapes]))
    found: set[str] = set()
    for unit in units:
        for text in _boundaries(db, unit):
            try:
                geom = make_sound(to_shape(json.loads(text)))
            except (ValueError, TypeError, KeyError):
                continue  # a broken boundary reaches nothing; `grid check` reports it
            if geom.intersects(area):
                found.add(unit)
                break
    return found


# --- queueing ---------------------------------------------------------------------------------


def _queue(
    db: Database, now: datetime, kind: str, ref: str, payload: str, units: Sequence[str]
) -> int:
    at = to_iso(now)
    added = 0
    with write(db):
        for unit in dict.fromkeys(units):
            cur = db.conn.execute(
                "INSERT OR IGNORE INTO hub_down (unit, kind, ref, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (unit, kind, ref, payload, at),
            )
            added += cur.rowcount
            if kind == ALERT:
                db.conn.execute(
                    "INSERT INTO hub_alert_units (identifier, unit, sent_at) VALUES (?, ?, ?)"
                    " ON CONFLICT(identifier, unit) DO UPDATE SET"
                    " sent_at = coalesce(hub_alert_units.sent_at, excluded.sent_at)",
                    (ref, unit, at),
                )
            else:
                db.conn.execute(
                    "INSERT INTO hub_directive_units (directive, unit, sent_at) VALUES (?, ?, ?)"
                    " ON CONFLICT(directive, unit) DO UPDATE SET"
                    " sent_at = coalesce(hub_directive_units.sent_at, excluded.sent_at)",
                    (ref, unit, at),
                )
    return added


def send_alert(
    db: Database, now: datetime, identifier: str, xml: bytes | str, units: Sequence[str]
) -> int:
    """Queue the CAP alert ``xml`` for each of ``units`` (once per unit); rows added."""
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    return _queue(db, now, ALERT, identifier, text, units)


def send_directive(
    db: Database, now: datetime, directive: dict[str, Any], units: Sequence[str]
) -> int:
    """Queue ``directive`` (its fields, with its ``id``) for each of ``units``; rows added.

    Raises:
        InvalidInput: no ``id``, or a unit that is not registered here.
    """
    ref = directive.get("id")
    if not isinstance(ref, str | int) or isinstance(ref, bool) or not str(ref):
        raise InvalidInput(_("a directive needs its id"), "id")
    known = set(registered(db))
    for unit in units:
        if unit not in known:
            raise InvalidInput(
                _("no unit {code} is registered at this hub").format(code=unit), "unit"
            )
    payload = json.dumps(directive, ensure_ascii=False, separators=(",", ":"))
    return _queue(db, now, DIRECTIVE, str(ref), payload, units)


def _field(record: Any, *names: str) -> Any:
    for name in names:
        if hasattr(record, name):
            return getattr(record, name)
    return None


def fan_out_alert(db: Database, now: datetime, record: Any) -> list[str]:
    """Send an alert stored here (``uplink.alerts``' record) down to the units its area
    reaches, and, for an Update or a Cancel, to every unit that had what it references.
    Returns the units it was queued for (nothing when no unit is registered)."""
    identifier = str(_field(record, "identifier"))
    xml = _field(record, "xml")
    codes = list(_field(record, "area_codes", "codes") or ())
    polygons = list(_field(record, "polygons") or ())
    units = set(units_in_area(db, codes, polygons)) if codes or polygons else set()
    for ref in referenced(_field(record, "references")):
        units.update(units_with(db, ALERT, ref))
    chosen = sorted(units)
    if chosen and xml is not None:
        send_alert(db, now, identifier, xml, chosen)
    return chosen


def referenced(references: Any) -> list[str]:
    """The identifiers a CAP ``references`` names (``sender,identifier,sent`` triples), from
    the text or a sequence of triples or identifiers."""
    if not references:
        return []
    if isinstance(references, str):
        triples = [part.split(",") for part in references.split()]
        return [t[1] for t in triples if len(t) == 3]
    out: list[str] = []
    for item in references:
        if isinstance(item, str):
            parts = item.split(",")
            out.append(parts[1] if len(parts) == 3 else item)
        elif isinstance(item, Sequence) and len(item) == 3:
            out.append(str(item[1]))
        else:
            ident = _field(item, "identifier")
            if ident is not None:
                out.append(str(ident))
    return out


def units_with(db: Database, kind: str, ref: str) -> list[str]:
    """The units ``ref`` (an alert identifier or a directive id) was queued for."""
    rows = db.conn.execute(
        "SELECT unit FROM hub_down WHERE kind = ? AND ref = ? ORDER BY unit", (kind, ref)
    )
    return [str(r[0]) for r in rows]


def sent_at(db: Database, kind: str, ref: str) -> dict[str, datetime]:
    """When ``ref`` was queued for each unit."""
    rows = db.conn.execute(
        "SELECT unit, created_at FROM hub_down WHERE kind = ? AND ref = ?", (kind, ref)
    )
    return {str(u): from_iso(at) for u, at in rows}


# --- the inbox ------------------------------------------------------------------------------


def check_limit(given: str | None) -> int:
    """The page size asked for (``?limit=``), within :data:`INBOX_LIMIT`.

    Raises:
        InvalidInput: not a whole number within the bounds.
    """
    least, most, default = INBOX_LIMIT
    if given is None:
        return default
    if not (len(given) <= 6 and given.isascii() and given.isdigit()) or not (
        least <= int(given) <= most
    ):
        raise InvalidInput(
            _("must be a whole number from {least} to {most}").format(least=least, most=most),
            "limit",
        )
    return int(given)


def check_cursor(given: str | None) -> int:
    """The cursor asked for (``?after=``): 0 when none.

    Raises:
        InvalidInput: not a whole number from 0.
    """
    if given is None or given == "":
        return 0
    if not (len(given) <= 16 and given.isascii() and given.isdigit()) or int(given) > MAX_CURSOR:
        raise InvalidInput(_("must be a whole number, 0 or more"), "after")
    return int(given)


def inbox(
    db: Database, unit: str, after: int = 0, limit: int = INBOX_LIMIT[2]
) -> tuple[list[InboxItem], int]:
    """The unit's items after the cursor ``after``, oldest first, and the next cursor (the last
    item's id, or ``after`` when there is none)."""
    rows = db.conn.execute(
        "SELECT id, unit, kind, ref, payload, created_at FROM hub_down"
        " WHERE unit = ? AND id > ? ORDER BY id LIMIT ?",
        (unit, after, limit),
    ).fetchall()
    items = [
        InboxItem(int(i), str(u), str(k), str(r), str(p), from_iso(c)) for i, u, k, r, p, c in rows
    ]
    return items, items[-1].id if items else after


def inbox_json(
    unit: str, items: Sequence[InboxItem], next_cursor: int, limit: int
) -> dict[str, Any]:
    """The body of a page of ``GET /v1/units/{code}/inbox`` (without ``version``)."""
    return {
        "unit": unit,
        "items": [item.to_json() for item in items],
        "next": next_cursor,
        "more": len(items) >= limit,
    }


# --- the push -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushTarget:
    """A unit to poke: its code, push URL, the key of its poke and its newest item."""

    unit: str
    url: str
    key: bytes
    newest: int


def push_targets(db: Database) -> list[PushTarget]:
    """The units with a push URL that have items newer than the last poke about them
    (``hub_units.poked_id``), and a token (a unit without one cannot verify a poke)."""
    rows = db.conn.execute(
        "SELECT u.code, u.push_url, u.token_hash, max(d.id) FROM hub_units u"
        " JOIN hub_down d ON d.unit = u.code AND d.id > u.poked_id"
        " WHERE u.push_url IS NOT NULL AND u.push_url != '' AND u.revoked_at IS NULL"
        " AND u.token_hash IS NOT NULL GROUP BY u.code ORDER BY u.code"
    ).fetchall()
    return [
        PushTarget(str(code), str(url), str(digest).encode("ascii"), int(newest))
        for code, url, digest, newest in rows
    ]


def poked(db: Database, now: datetime, target: PushTarget) -> None:
    """Record that ``target`` was poked about its items up to ``target.newest`` (whether the
    poke went through or not: a unit that missed it pulls on its own)."""
    with write(db):
        db.conn.execute(
            "UPDATE hub_units SET poked_id = max(poked_id, ?), poked_at = ? WHERE code = ?",
            (target.newest, to_iso(now), target.unit),
        )


def set_push_url(db: Database, code: str, url: str | None) -> None:
    """Set (or with ``None`` clear) the unit's push URL (``http(s)://host:port``).

    Raises:
        InvalidInput: not an http(s) URL.
        NotFound: no such unit.
    """
    from uplink.hub import get_unit

    if url is not None:
        url = url.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url) or len(url) > 500:
            raise InvalidInput(_("must be an http:// or https:// address"), "push_url")
    with write(db):
        get_unit(db, code)
        db.conn.execute("UPDATE hub_units SET push_url = ? WHERE code = ?", (url, code))


def poke_key(token: str) -> bytes:
    """The key of a unit's pokes: the hex SHA-256 of its token (what the hub keeps of it)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest().encode("ascii")


def sign_poke(key: bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Dutydesk-Signature`` of a poke: ``v1=`` + HMAC-SHA256 over timestamp and body."""
    mac = hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def poke_signed(key: bytes, timestamp: str, signature: str, body: bytes) -> bool:
    """Whether ``signature`` is the poke's (constant time)."""
    if not signature.startswith("v1=") or len(signature) != 67:
        return False
    return hmac.compare_digest(sign_poke(key, timestamp, body), signature)


def poke_request(target: PushTarget, now_s: float) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body and headers of a poke of ``target`` at ``now_s`` (unix seconds)."""
    body = json.dumps(
        {"unit": target.unit, "nonce": secrets.token_hex(12)}, separators=(",", ":")
    ).encode("ascii")
    stamp = str(int(now_s))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign_poke(target.key, stamp, body),
    }
    return target.url + POKE_PATH, body, headers


# --- directives issued at the hub -----------------------------------------------------------

ACTIONS = ("none", "case", "task")
MAX_ATTACHMENTS = 20


def _attachments(attachments: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    from store.text import clean_text

    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(
            _("at most {most} attachments").format(most=MAX_ATTACHMENTS), "attachments"
        )
    out: list[dict[str, str]] = []
    for i, item in enumerate(attachments):
        name = clean_text(str(item.get("name", "")), f"attachments[{i}].name", required=True)
        url = str(item.get("url", "")).strip()
        if not re.fullmatch(r"https?://\S{1,2000}", url):
            raise InvalidInput(_("must be an http:// or https:// address"), f"attachments[{i}].url")
        out.append({"name": name, "url": url})
    return out


def new_directive_id(db: Database, sender: str, now: datetime) -> str:
    """``<sender>-<YYYYMMDDhhmmss>-<n>`` (UTC), the next ``n`` for that second."""
    stem = f"{sender}-{now.strftime('%Y%m%d%H%M%S')}-"
    taken = db.conn.execute(
        "SELECT count(*) FROM hub_directives WHERE id LIKE ? ESCAPE '\\'",
        (stem.replace("_", "\\_").replace("%", "\\%") + "%",),
    ).fetchone()[0]
    return f"{stem}{int(taken) + 1}"


def issue_directive(
    db: Database,
    now: datetime,
    operator: str,
    *,
    sender: str,
    sender_name: str = "",
    title: str,
    text: str,
    attachments: Sequence[dict[str, str]] = (),
    reply_by: datetime | None = None,
    action: str = "none",
    alert: str | None = None,
    exercise: bool = False,
    units: Sequence[str],
) -> tuple[str, list[str]]:
    """A directive (通知/指令) issued at this hub and queued for ``units``: the hub's copy in
    ``hub_directives``, one inbox item per unit, an audit entry. Returns its id and the units.

    Raises:
        InvalidInput: an empty title or text, a bad attachment, an unknown action, a reply-by
            in the past, no unit, or a unit not registered here (each naming its field).
    """
    from store.audit import append_event
    from store.text import clean_text

    title = clean_text(title, "title", kind="title", required=True)
    text = clean_text(text, "text", kind="note", multiline=True, required=True)
    files = _attachments(attachments)
    if action not in ACTIONS:
        raise InvalidInput(_("must be one of {values}").format(values=", ".join(ACTIONS)), "action")
    if reply_by is not None and reply_by <= now:
        raise InvalidInput(_("the reply deadline has already passed"), "reply_by")
    chosen = list(dict.fromkeys(units))
    if not chosen:
        raise InvalidInput(_("name at least one unit"), "unit")
    known = set(registered(db))
    for unit in chosen:
        if unit not in known:
            raise InvalidInput(
                _("no unit {code} is registered at this hub").format(code=unit), "unit"
            )
    with write(db):
        ident = new_directive_id(db, sender, now)
        db.conn.execute(
            "INSERT INTO hub_directives (id, title, text, attachments, reply_by, action, alert,"
            " exercise, sent_at, sent_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ident,
                title,
                text,
                json.dumps(files, ensure_ascii=False),
                to_iso(reply_by) if reply_by is not None else None,
                action,
                alert,
                int(exercise),
                to_iso(now),
                operator,
            ),
        )
        payload = {
            "id": ident,
            "sender": sender,
            "sender_name": sender_name,
            "title": title,
            "text": text,
            "attachments": files,
            "sent_at": to_iso(now),
            "reply_by": to_iso(reply_by) if reply_by is not None else None,
            "action": action,
            "alert": alert,
            "exercise": exercise,
        }
        send_directive(db, now, payload, chosen)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="hub_directive_sent",
            data={"directive": ident, "title": title, "units": chosen},
        )
    return ident, chosen


# --- the unit's side: pulling the inbox ------------------------------------------------------

Via = str  # "push" (pulled at once on the hub's poke) or "poll" (every poll_seconds)


@dataclass
class PullReport:
    """What one :meth:`Puller.pull` did."""

    received: int = 0  # items taken (alerts and directives, new or not)
    refused: int = 0  # items that could not be taken (recorded, passed over)
    error: str | None = None  # why the hub could not be asked (the link's fault)
    retry_after: float | None = None  # the hub's Retry-After with that refusal, in seconds


def cursor(db: Database) -> int:
    """The last inbox item this unit took (0 before the first)."""
    row = db.conn.execute("SELECT after FROM downlink_cursor WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def link_state(db: Database) -> dict[str, Any]:
    """The downlink's state as recorded: cursor, last pull and poke, failures, last error."""
    row = db.conn.execute(
        "SELECT after, pulled_at, poked_at, failures, last_error FROM downlink_cursor WHERE id = 1"
    ).fetchone()
    if row is None:
        return {"after": 0, "pulled_at": None, "poked_at": None, "failures": 0, "last_error": None}
    after, pulled_at, poked_at, failures, last_error = row
    return {
        "after": int(after),
        "pulled_at": pulled_at,
        "poked_at": poked_at,
        "failures": int(failures),
        "last_error": last_error,
    }


def _advance(db: Database, after: int, now: datetime, *, poked: bool) -> None:
    db.conn.execute("INSERT OR IGNORE INTO downlink_cursor (id, after) VALUES (1, 0)")
    db.conn.execute(
        "UPDATE downlink_cursor SET after = max(after, ?), pulled_at = ?, failures = 0,"
        " last_error = NULL, poked_at = CASE WHEN ? THEN ? ELSE poked_at END WHERE id = 1",
        (after, to_iso(now), int(poked), to_iso(now)),
    )


def record_pull_failure(db: Database, message: str) -> int:
    """Count a failed pull (the hub unreachable, a refusal); returns the failures in a row."""
    with write(db):
        db.conn.execute("INSERT OR IGNORE INTO downlink_cursor (id, after) VALUES (1, 0)")
        db.conn.execute(
            "UPDATE downlink_cursor SET failures = failures + 1, last_error = ? WHERE id = 1",
            (message[:500],),
        )
        row = db.conn.execute("SELECT failures FROM downlink_cursor WHERE id = 1").fetchone()
    return int(row[0])


def take_item(
    db: Database,
    clock: Any,
    item: dict[str, Any],
    via: Via,
    *,
    rules: Any = None,
    policy: Any = None,
) -> None:
    """Hand one inbox item to its owner, in the caller's transaction: an alert to
    ``uplink.alerts.receive`` (and a new one to ``uplink.callanswer.maybe_start``: the 叫应
    starts, or the unit records why not), a directive to ``uplink.directives.receive``.

    Raises:
        InvalidInput: the item is not one (its kind, or what its owner refuses).
    """
    kind = item.get("kind")
    if kind == ALERT:
        from uplink import alerts, callanswer

        xml = item.get("alert")
        if not isinstance(xml, str):
            raise InvalidInput(_("an alert item carries its CAP XML"), "alert")
        received = alerts.receive(db, clock, xml.encode("utf-8"), via=via)
        if received.new:
            callanswer.maybe_start(db, clock, received.record, rules)
    elif kind == DIRECTIVE:
        from uplink import directives

        payload = item.get("directive")
        if not isinstance(payload, dict):
            raise InvalidInput(_("a directive item carries its fields"), "directive")
        directives.receive(db, clock, payload, via=via, policy=policy)
    else:
        raise InvalidInput(_("unknown item kind {kind}").format(kind=str(kind)[:20]), "kind")


class PullFailed(Exception):
    """The inbox could not be read (the message says why, in the officer's words).

    ``retry_after``: the seconds of the hub's ``Retry-After`` when it gave one (429, 503).
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Puller:
    """Pulls a unit's inbox from its hub and takes each item exactly once.

    Each item is taken in one transaction with the cursor's move (:func:`take_item`), so a
    crash takes it again from the hub, and the owners' ``receive`` is idempotent on the
    item's identifier: nothing is lost and nothing is taken twice. An item its owner refuses
    is recorded in the audit log (``downlink_refused``) and passed over: it would refuse it
    every time.

    Args:
        url: the hub's base URL (``[uplink] url``).
        token: the unit's bearer token.
        unit: the unit's code.
        clock: the clock.
        timeout_s: per request.
        client: an ``httpx.AsyncClient`` (tests hand in one with a mock transport).
        rules: the ``[warning]`` rules of the automatic 叫应 (``WarningRules``).
        policy: the case workflow's policy, for a directive that opens a case.
    """

    def __init__(
        self,
        url: str,
        token: str,
        unit: str,
        clock: Any,
        *,
        timeout_s: float = 10.0,
        client: Any = None,
        rules: Any = None,
        policy: Any = None,
    ) -> None:
        import httpx

        from uplink.models import PROTOCOL_HEADER, PROTOCOL_VERSION

        self.url = url.rstrip("/")
        self.unit = unit
        self.clock = clock
        self.rules = rules  # the [warning] rules of the automatic 叫应
        self.policy = policy  # the case workflow's, for a directive that opens a case
        self._headers = {
            "Authorization": f"Bearer {token}",
            PROTOCOL_HEADER: str(PROTOCOL_VERSION),
        }
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self._owns_client = client is None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def page(self, after: int, limit: int = INBOX_LIMIT[2]) -> dict[str, Any]:
        """One page of the inbox after ``after``.

        Raises:
            PullFailed: the hub could not be reached or refused (its words in the message).
        """
        import httpx

        from uplink.drain import _describe, _error_text, retry_after

        try:
            response = await self._client.get(
                f"{self.url}/v1/units/{self.unit}/inbox",
                params={"after": after, "limit": limit},
                headers=self._headers,
            )
        except httpx.HTTPError as exc:
            raise PullFailed(_describe(exc)) from exc
        if response.status_code != 200:
            raise PullFailed(
                _("the hub answered HTTP {code}: {reason}").format(
                    code=response.status_code, reason=_error_text(response)
                ),
                retry_after(response.headers.get("retry-after"), self.clock.now()),
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise PullFailed(_("the hub's answer is not JSON")) from exc
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise PullFailed(_("the hub's answer is not an inbox page"))
        return data

    async def pull(self, db: Database, *, via: Via = "poll", most: int = 1000) -> PullReport:
        """Take every item after the cursor (up to ``most``), page by page.

        Never raises for the link's faults: they are counted (:func:`record_pull_failure`)
        and said in ``report.error``; a database error propagates.
        """
        from store.audit import append_event

        report = PullReport()
        poked = via == "push"
        while report.received + report.refused < most:
            try:
                page = await self.page(cursor(db))
            except PullFailed as exc:
                report.error = str(exc)
                report.retry_after = exc.retry_after
                record_pull_failure(db, report.error)
                return report
            items = [i for i in page["items"] if isinstance(i, dict)]
            if not items:
                with write(db):
                    _advance(db, cursor(db), self.clock.now(), poked=poked)
                return report
            for item in items:
                ident = item.get("id")
                if not isinstance(ident, int) or isinstance(ident, bool) or ident <= cursor(db):
                    continue  # a page overlapping what was taken: nothing to do
                try:
                    with write(db):
                        take_item(db, self.clock, item, via, rules=self.rules, policy=self.policy)
                        _advance(db, ident, self.clock.now(), poked=poked)
                    report.received += 1
                except InvalidInput as exc:
                    with write(db):
                        append_event(
                            db,
                            at=to_iso(self.clock.now()),
                            operator="engine",
                            kind="downlink_refused",
                            data={
                                "item": ident,
                                "kind": str(item.get("kind"))[:20],
                                "ref": str(item.get("ref"))[:130],
                                "error": str(exc)[:500],
                            },
                        )
                        _advance(db, ident, self.clock.now(), poked=poked)
                    report.refused += 1
            if not page.get("more"):
                return report
        return report
