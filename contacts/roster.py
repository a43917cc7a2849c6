"""Provides the duty roster: posts, the rotations that fill them, overrides, and who is on duty.

A **post** (值班员 duty officer, 值班长 shift lead, ...) is filled by **rotations** and
**overrides**:

* A rotation's shift ``k`` (k = 0, 1, 2, ...) starts at the local wall-clock time
  ``starts_on + k * every_days days`` at ``shift_start`` in the rotation's zone and ends
  ``shift_hours`` of *wall-clock* time later; it is held by ``people[k % len(people)]``. So a
  24-hour shift 08:00 → 08:00 keeps handing over at 08:00 across a daylight-saving change (that
  shift really lasts 23 or 25 hours) and never leaves a gap or an overlap. A shift may not be
  longer than its cadence (``shift_hours <= 24 * every_days``); day/night duty is two rotations
  on the same post (08:00 for 12 h and 20:00 for 12 h). ``valid_to`` (UTC) ends a rotation: a
  shift running at that moment is cut there.
* An override is an absolute interval (one shift, or a date range) held by one person.

Where several cover the same moment, overrides beat rotations and, within each kind, the one
created later wins. An override covering part of a shift splits the shift: the rotation's
holder keeps the parts before and after. A **gap** is time in which nothing covers a post.

:func:`on_duty` answers "who is on duty now" for every post with three indexed queries and
works in memory after that, so the console can call it every minute.

Who acts at the desk is, by default, the holder of the duty officer's post
(:data:`DUTY_OFFICER_POST`); a confirmed handover makes the incoming officer hold it for the
rest of the shift (:func:`take_over`, an override), so the roster and the handover agree. The
people on the shift lead's post (:data:`SHIFT_LEAD_POST`) are who approve extensions.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contacts.phones import shown_key

# The writers below load the audit log (store.audit) and the people (contacts.people) when they
# are called: who holds a post now is read before the console's first frame (console.acting),
# and it needs neither.
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, NotFound
from store.i18n import _
from store.text import clean_text

POST_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
SHIFT_START_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_NAME = 100
MAX_EVERY_DAYS = 366  # a rotation hands over at least once a year
MAX_OVERRIDE = timedelta(days=366)  # one override: a shift, a leave, at most a year
# The years a roster may name: beyond them shift arithmetic overflows (year 1 east of UTC,
# year 9999 plus a shift), and every "who is on duty" read would fail, not just this one.
FIRST_YEAR, LAST_YEAR = 1970, 2199


def _out_of_range(text: str, field: str) -> InvalidInput:
    return InvalidInput(
        _("{text} is out of range: give a time between {first} and {last}").format(
            text=text, first=FIRST_YEAR, last=LAST_YEAR
        ),
        field,
    )


def _check_year(year: int, text: str, field: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _out_of_range(text, field)


def _utc(at: datetime, field: str) -> datetime:
    """``at`` in UTC, whole seconds, within the roster's years."""
    try:
        utc = at.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise _out_of_range(at.isoformat(), field) from None
    _check_year(utc.year, at.isoformat(), field)
    return utc


@dataclass(frozen=True)
class Post:
    """A duty post, e.g. ``DO`` 值班员."""

    id: int
    code: str
    name: str


@dataclass(frozen=True)
class PersonRef:
    """The person holding a shift, as the roster shows them."""

    id: int
    key: str
    name: str

    @property
    def shown_key(self) -> str:
        """The key as the roster shows it: masked when it is a phone number (personal data)."""
        return shown_key(self.key)


@dataclass(frozen=True)
class Rotation:
    """A rotation filling a post; see the module docstring for its shifts."""

    id: int
    post: Post
    name: str
    zone: str
    starts_on: date
    shift_start: time
    shift_hours: float
    every_days: int
    people: tuple[PersonRef, ...]
    valid_to: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Override:
    """One person holding a post for one interval, over whatever the rotation says."""

    id: int
    post: Post
    person: PersonRef
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Shift:
    """A stretch of time in which one person holds a post.

    ``source`` is ``rotation`` or ``override``; ``ref`` the id of that rotation or override.
    A rotation shift split by an override yields one :class:`Shift` per remaining part.
    """

    post: Post
    person: PersonRef
    starts_at: datetime
    ends_at: datetime
    source: str
    ref: int

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class Gap:
    """Time in which nobody holds ``post`` (clipped to the window asked about)."""

    post: Post
    starts_at: datetime
    ends_at: datetime


# --------------------------------------------------------------------------------- reading


def _post_from_row(row: Sequence[Any]) -> Post:
    return Post(id=int(row[0]), code=str(row[1]), name=str(row[2]))


def get_post(db: Database, code: str) -> Post:
    """The post with this code (case-insensitive).

    Raises:
        NotFound: no such post.
    """
    row = db.conn.execute(
        "SELECT id, code, name FROM posts WHERE code = ? COLLATE NOCASE", (code.strip(),)
    ).fetchone()
    if row is None:
        known = ", ".join(p.code for p in list_posts(db)) or _(
            "none yet; add one with duty post-add"
        )
        raise NotFound(_("no post {code!r} (posts: {known})").format(code=code, known=known))
    return _post_from_row(row)


def list_posts(db: Database) -> list[Post]:
    rows = db.conn.execute("SELECT id, code, name FROM posts ORDER BY code").fetchall()
    return [_post_from_row(r) for r in rows]


def _people(db: Database, ids: Iterable[int]) -> dict[int, PersonRef]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = db.conn.execute(
        f"SELECT id, key, name FROM people WHERE id IN ({marks})", wanted
    ).fetchall()
    return {int(r[0]): PersonRef(int(r[0]), str(r[1]), str(r[2])) for r in rows}


def _person_ref(db: Database, ref: str | int, field: str = "person") -> PersonRef:
    """The person ``ref`` names (:func:`contacts.people.get_person`), as the roster holds them."""
    from contacts.people import get_person

    person = get_person(db, ref, field=field)
    return PersonRef(person.id, person.key, person.name)


def _zone(name: str, field: str = "zone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(_("unknown time zone {name!r}").format(name=name), field) from exc


ROTATION_COLUMNS = (
    "r.id, r.post_id, r.name, r.zone, r.starts_on, r.shift_start, r.shift_hours, r.every_days,"
    " r.people, r.valid_to, r.created_at, p.code, p.name"
)


def _rotations(db: Database, post_ids: Sequence[int] | None) -> list[Rotation]:
    sql = f"SELECT {ROTATION_COLUMNS} FROM rotations r JOIN posts p ON p.id = r.post_id"
    args: list[Any] = []
    if post_ids is not None:
        sql += f" WHERE r.post_id IN ({','.join('?' * len(post_ids))})"
        args = list(post_ids)
    rows = db.conn.execute(sql + " ORDER BY r.id", args).fetchall()
    ids = [int(i) for r in rows for i in json.loads(r[8])]
    people = _people(db, ids)
    out = []
    for r in rows:
        hh, mm = (int(x) for x in str(r[5]).split(":"))
        out.append(
            Rotation(
                id=int(r[0]),
                post=Post(int(r[1]), str(r[11]), str(r[12])),
                name=str(r[2]),
                zone=str(r[3]),
                starts_on=date.fromisoformat(str(r[4])),
                shift_start=time(hh, mm),
                shift_hours=float(r[6]),
                every_days=int(r[7]),
                people=tuple(people[int(i)] for i in json.loads(r[8])),
                valid_to=from_iso(r[9]) if r[9] else None,
                created_at=from_iso(r[10]),
            )
        )
    return out


def list_rotations(db: Database, post: str | None = None) -> list[Rotation]:
    return _rotations(db, None if post is None else [get_post(db, post).id])


def _overrides(
    db: Database, post_ids: Sequence[int] | None, start: datetime, end: datetime
) -> list[Override]:
    sql = (
        "SELECT o.id, o.post_id, p.code, p.name, o.person_id, o.starts_at, o.ends_at, o.reason,"
        " o.created_by, o.created_at FROM roster_overrides o JOIN posts p ON p.id = o.post_id"
        " WHERE o.ends_at > ? AND o.starts_at < ?"
    )
    args: list[Any] = [to_iso(start), to_iso(end)]
    if post_ids is not None:
        sql += f" AND o.post_id IN ({','.join('?' * len(post_ids))})"
        args += list(post_ids)
    rows = db.conn.execute(sql + " ORDER BY o.id", args).fetchall()
    people = _people(db, (int(r[4]) for r in rows))
    return [
        Override(
            id=int(r[0]),
            post=Post(int(r[1]), str(r[2]), str(r[3])),
            person=people[int(r[4])],
            starts_at=from_iso(r[5]),
            ends_at=from_iso(r[6]),
            reason=str(r[7]),
            created_by=str(r[8]),
            created_at=from_iso(r[9]),
        )
        for r in rows
    ]


# --------------------------------------------------------------------------------- writing


def add_post(db: Database, clock: Clock, operator: str, code: str, name: str) -> Post:
    """Add a duty post; appends ``post_added``.

    Raises:
        InvalidInput: bad code or name, or the code is taken.
    """
    from store.audit import append_event

    code = code.strip()
    name = " ".join(clean_text(name, "name", kind="name").split())
    if not POST_CODE_RE.match(code):
        raise InvalidInput(
            _("{code!r} is not a post code: up to 32 letters, digits, '-', '_' or '.'").format(
                code=code
            ),
            "code",
        )
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(
            _("a name of 1 to {max} characters is required").format(max=MAX_NAME), "name"
        )
    now = to_iso(clock.now())
    with write(db):
        taken = db.conn.execute(
            "SELECT code FROM posts WHERE code = ? COLLATE NOCASE", (code,)
        ).fetchone()
        if taken:
            raise InvalidInput(_("post {code!r} already exists").format(code=taken[0]), "code")
        cursor = db.conn.execute(
            "INSERT INTO posts (code, name, created_at) VALUES (?, ?, ?)", (code, name, now)
        )
        post_id = int(cursor.lastrowid or 0)
        append_event(
            db, at=now, operator=operator, kind="post_added", data={"code": code, "name": name}
        )
    return Post(post_id, code, name)


def parse_shift_start(text: str | time) -> time:
    if isinstance(text, time):
        return text.replace(second=0, microsecond=0, tzinfo=None)
    match = SHIFT_START_RE.match(text.strip())
    if not match:
        raise InvalidInput(
            _("{text!r} is not a time of day; use HH:MM (e.g. 08:00)").format(text=text),
            "shift-start",
        )
    return time(int(match.group(1)), int(match.group(2)))


def add_rotation(
    db: Database,
    clock: Clock,
    operator: str,
    post: str,
    *,
    people: Sequence[str | int],
    starts_on: date,
    shift_start: str | time,
    shift_hours: float,
    every_days: int = 1,
    zone: str,
    name: str = "",
    valid_to: datetime | None = None,
) -> Rotation:
    """Add a rotation to a post; appends ``rotation_added``.

    Args:
        post: the post's code.
        people: keys, ids, phones or unique names, in rotation order (repeats allowed).
        starts_on: the local date of shift 0.
        shift_start: local wall-clock start of every shift, ``HH:MM``.
        shift_hours: wall-clock length of a shift (24 for 08:00 → 08:00).
        every_days: days between shift starts (1 daily, 7 weekly hand-over).
        zone: IANA zone of the wall-clock times.
        valid_to: when the rotation stops (a running shift is cut there).

    Raises:
        InvalidInput: a value is out of range; NotFound: no such post or person.
    """
    from store.audit import append_event

    target = get_post(db, post)
    start_time = parse_shift_start(shift_start)
    _check_year(starts_on.year, starts_on.isoformat(), "starts-on")
    _zone(zone)
    if (
        isinstance(every_days, bool)
        or not isinstance(every_days, int)
        or not 1 <= every_days <= MAX_EVERY_DAYS
    ):
        raise InvalidInput(
            _("must be a whole number from 1 to {max} (got {value!r})").format(
                max=MAX_EVERY_DAYS, value=every_days
            ),
            "every-days",
        )
    hours = float(shift_hours)
    if not math.isfinite(hours) or hours <= 0 or hours > 24 * every_days:
        raise InvalidInput(
            _(
                "must be more than 0 and at most {max} (24 x every-days; a shift may not overlap"
                " the next one), got {value!r}"
            ).format(max=24 * every_days, value=shift_hours),
            "hours",
        )
    if not people:
        raise InvalidInput(_("at least one person is required"), "people")
    refs = [_person_ref(db, p, "people") for p in people]
    name = " ".join(clean_text(name, "name", kind="name").split())
    now = clock.now()
    if valid_to is not None and valid_to.tzinfo is None:
        raise InvalidInput(_("valid_to must carry a time zone"), "until")
    if valid_to is not None:
        _utc(valid_to, "until")
    with write(db):
        cursor = db.conn.execute(
            "INSERT INTO rotations (post_id, name, zone, starts_on, shift_start, shift_hours,"
            " every_days, people, valid_to, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                target.id,
                name,
                zone,
                starts_on.isoformat(),
                start_time.strftime("%H:%M"),
                hours,
                every_days,
                json.dumps([r.id for r in refs]),
                to_iso(valid_to) if valid_to else None,
                to_iso(now),
            ),
        )
        rotation_id = int(cursor.lastrowid or 0)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="rotation_added",
            data={
                "rotation": rotation_id,
                "post": target.code,
                "people": [r.shown_key for r in refs],
                "starts_on": starts_on.isoformat(),
                "shift_start": start_time.strftime("%H:%M"),
                "shift_hours": hours,
                "every_days": every_days,
                "zone": zone,
                "valid_to": to_iso(valid_to) if valid_to else None,
            },
        )
    return Rotation(
        id=rotation_id,
        post=target,
        name=name,
        zone=zone,
        starts_on=starts_on,
        shift_start=start_time,
        shift_hours=hours,
        every_days=every_days,
        people=tuple(refs),
        valid_to=valid_to.astimezone(UTC).replace(microsecond=0) if valid_to else None,
        created_at=now,
    )


def add_override(
    db: Database,
    clock: Clock,
    operator: str,
    post: str,
    person: str | int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
) -> Override:
    """Put ``person`` on ``post`` from ``starts_at`` to ``ends_at``; appends ``override_added``.

    It wins over every rotation and every earlier override for that interval.

    Raises:
        InvalidInput: times not aware, not in order, longer than :data:`MAX_OVERRIDE` or out of
            the roster's years, or no reason; NotFound: post/person.
    """
    from store.audit import append_event

    target = get_post(db, post)
    who = _person_ref(db, person)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput(_("override times must carry a time zone"), "from")
    start, end = _utc(starts_at, "from"), _utc(ends_at, "to")
    if end <= start:
        raise InvalidInput(_("the end must be after the start"), "to")
    if end - start > MAX_OVERRIDE:
        raise InvalidInput(
            _("an override lasts at most {days} days; add another for the time after").format(
                days=MAX_OVERRIDE.days
            ),
            "to",
        )
    reason = " ".join(clean_text(reason, "reason", kind="note", multiline=True).split())
    if not reason:
        raise InvalidInput(_("a reason is required (who asked, why)"), "reason")
    now = clock.now()
    with write(db):
        cursor = db.conn.execute(
            "INSERT INTO roster_overrides (post_id, person_id, starts_at, ends_at, reason,"
            " created_by, created_at) VALUES (?,?,?,?,?,?,?)",
            (target.id, who.id, to_iso(start), to_iso(end), reason, operator, to_iso(now)),
        )
        override_id = int(cursor.lastrowid or 0)
        append_event(
            db,
            at=to_iso(now),
            operator=operator,
            kind="override_added",
            data={
                "override": override_id,
                "post": target.code,
                "person": who.shown_key,
                "starts_at": to_iso(start),
                "ends_at": to_iso(end),
                "reason": reason,
            },
        )
    return Override(override_id, target, who, start, end, reason, operator, now)


# ------------------------------------------------------------------------------ resolution


@dataclass(frozen=True)
class _Segment:
    post: Post
    person: PersonRef
    start: datetime
    end: datetime
    source: str
    ref: int
    rank: tuple[int, int, int]  # higher wins: (kind, id, shift number)


def rotation_shift(rotation: Rotation, k: int) -> tuple[datetime, datetime]:
    """UTC bounds of shift ``k`` of ``rotation`` (wall-clock start and length in its zone)."""
    zone = ZoneInfo(rotation.zone)
    wall = datetime.combine(
        rotation.starts_on + timedelta(days=k * rotation.every_days), rotation.shift_start
    )
    # Aware local datetimes: the offset is looked up for each wall time (fold=0 for the
    # repeated hour), so the hand-over stays at the same wall-clock time across DST.
    start = wall.replace(tzinfo=zone).astimezone(UTC)
    end = (wall + timedelta(hours=rotation.shift_hours)).replace(tzinfo=zone).astimezone(UTC)
    return start, end


def _rotation_segments(rotation: Rotation, lo: datetime, hi: datetime) -> list[_Segment]:
    """The rotation's shifts overlapping ``[lo, hi)``."""
    zone = ZoneInfo(rotation.zone)
    first = (lo.astimezone(zone).date() - rotation.starts_on).days - rotation.shift_hours / 24 - 2
    last = (hi.astimezone(zone).date() - rotation.starts_on).days + 2
    k_lo = max(0, math.floor(first / rotation.every_days))
    k_hi = math.ceil(last / rotation.every_days)
    out = []
    for k in range(k_lo, k_hi + 1):
        start, end = rotation_shift(rotation, k)
        if rotation.valid_to is not None:
            end = min(end, rotation.valid_to)
        if end <= start or end <= lo or start >= hi:
            continue
        out.append(
            _Segment(
                rotation.post,
                rotation.people[k % len(rotation.people)],
                start,
                end,
                "rotation",
                rotation.id,
                (0, rotation.id, k),
            )
        )
    return out


def _segments(
    db: Database,
    rotations: Sequence[Rotation],
    post_ids: Sequence[int] | None,
    lo: datetime,
    hi: datetime,
) -> list[_Segment]:
    segments = [s for r in rotations for s in _rotation_segments(r, lo, hi)]
    segments += [
        _Segment(o.post, o.person, o.starts_at, o.ends_at, "override", o.id, (1, o.id, 0))
        for o in _overrides(db, post_ids, lo, hi)
    ]
    return segments


def _paint(segments: Sequence[_Segment]) -> list[tuple[datetime, datetime, _Segment]]:
    """Cut overlapping segments of one post into the parts where each one wins."""
    points = sorted({s.start for s in segments} | {s.end for s in segments})
    ordered = sorted(segments, key=lambda s: s.start)
    heap: list[tuple[tuple[int, int, int], int]] = []
    pieces: list[tuple[datetime, datetime, _Segment]] = []
    i = 0
    for a, b in zip(points, points[1:], strict=False):
        while i < len(ordered) and ordered[i].start <= a:
            seg = ordered[i]
            heapq.heappush(heap, ((-seg.rank[0], -seg.rank[1], -seg.rank[2]), i))
            i += 1
        while heap and ordered[heap[0][1]].end <= a:
            heapq.heappop(heap)
        if not heap:
            continue
        winner = ordered[heap[0][1]]
        if pieces and pieces[-1][2] is winner and pieces[-1][1] == a:
            pieces[-1] = (pieces[-1][0], b, winner)
        else:
            pieces.append((a, b, winner))
    return pieces


def _resolve(
    db: Database, start: datetime, end: datetime, posts: Sequence[Post]
) -> dict[int, list[tuple[datetime, datetime, _Segment]]]:
    """For each post, the winning parts of every segment that overlap ``[start, end)``.

    A part's bounds depend only on the segments overlapping the segment it comes from, so it
    is enough to load everything overlapping the hull of the segments that touch the window.
    """
    post_ids = [p.id for p in posts]
    rotations = _rotations(db, post_ids)
    first = _segments(db, rotations, post_ids, start, end)
    lo = min([start, *(s.start for s in first)])
    hi = max([end, *(s.end for s in first)])
    everything = _segments(db, rotations, post_ids, lo, hi) if (lo, hi) != (start, end) else first
    by_post: dict[int, list[_Segment]] = {p.id: [] for p in posts}
    for seg in everything:
        by_post[seg.post.id].append(seg)
    return {
        pid: [piece for piece in _paint(segs) if piece[0] < end and piece[1] > start]
        for pid, segs in by_post.items()
    }


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(_("times must carry a time zone"), "from")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise InvalidInput(_("the end must be after the start"), "to")
    return start, end


def _posts(db: Database, post: str | None) -> list[Post]:
    return list_posts(db) if post is None else [get_post(db, post)]


def shifts(
    db: Database,
    start: datetime,
    end: datetime,
    post: str | None = None,
    person: str | int | None = None,
) -> list[Shift]:
    """Every shift overlapping ``[start, end)``, by start time then post code.

    Shifts keep their real bounds (a shift running at ``start`` starts before it); a rotation
    shift partly overridden appears as its remaining parts.

    Args:
        post: only this post's code.
        person: only this person's shifts (key, id, phone or unique name).
    """
    start, end = _window(start, end)
    who = _person_ref(db, person) if person is not None else None
    out = [
        Shift(seg.post, seg.person, a, b, seg.source, seg.ref)
        for pieces in _resolve(db, start, end, _posts(db, post)).values()
        for a, b, seg in pieces
        if who is None or seg.person.id == who.id
    ]
    out.sort(key=lambda s: (s.starts_at, s.post.code))
    return out


def holder(db: Database, post: str, at: datetime) -> Shift | None:
    """Who holds ``post`` at ``at`` (``None`` when the post is unfilled then)."""
    found = [s for s in shifts(db, at, at + timedelta(seconds=1), post) if s.covers(at)]
    return found[0] if found else None


def on_duty(db: Database, at: datetime) -> list[Shift]:
    """The shift of every post filled at ``at``, in post-code order; unfilled posts are absent."""
    at = at.astimezone(UTC)
    posts = list_posts(db)
    if not posts:
        return []
    resolved = _resolve(db, at, at + timedelta(seconds=1), posts)
    out = []
    for post in posts:
        for a, b, seg in resolved[post.id]:
            if a <= at < b:
                out.append(Shift(post, seg.person, a, b, seg.source, seg.ref))
    return out


# ------------------------------------------------------------------------ who is acting

# The duty officer's post (值班员): its holder is who acts at the desk by default.
DUTY_OFFICER_POST = "DO"
# The shift lead's post (值班长): the people on it approve extensions.
SHIFT_LEAD_POST = "SL"
TAKE_OVER_AT_MOST = timedelta(hours=24)  # a post unfilled now: the take-over lasts at most this


def duty_officer(db: Database, at: datetime) -> Shift | None:
    """The shift of whoever holds the duty officer's post at ``at`` (``None``: no such post, or
    nobody holds it then)."""
    try:
        return holder(db, DUTY_OFFICER_POST, at)
    except NotFound:
        return None


def post_people(db: Database, post: str, at: datetime) -> list[PersonRef]:
    """Everyone on ``post`` at ``at``: the people of its rotations still running then and of
    the overrides covering it, in roster order, each once.

    Raises:
        NotFound: no such post.
    """
    target = get_post(db, post)
    at = at.astimezone(UTC)
    found: dict[int, PersonRef] = {}
    for rotation in _rotations(db, [target.id]):
        if rotation.valid_to is None or rotation.valid_to > at:
            for ref in rotation.people:
                found.setdefault(ref.id, ref)
    for override in _overrides(db, [target.id], at, at + timedelta(seconds=1)):
        found.setdefault(override.person.id, override.person)
    return list(found.values())


def duty_people(db: Database, at: datetime) -> list[PersonRef]:
    """The people who hold duty posts (see :func:`post_people`), those on duty at ``at``
    first, then by post code; each once."""
    found: dict[int, PersonRef] = {}
    for shift in on_duty(db, at):
        found.setdefault(shift.person.id, shift.person)
    for post in list_posts(db):
        for ref in post_people(db, post.code, at):
            found.setdefault(ref.id, ref)
    return list(found.values())


def switch_acting(
    db: Database, clock: Clock, operator: str, person: str | int, reason: str = ""
) -> PersonRef:
    """Who acts at the desk changes from ``operator`` to ``person``; appends ``acting_switched``.

    The roster does not change (a handover does that, :func:`take_over`): this only says that
    what is written from now on at this desk is ``person``'s.

    Raises:
        NotFound: no such person.
        InvalidInput: a control character or an over-long reason.
    """
    from store.audit import append_event

    who = _person_ref(db, person)
    reason = " ".join(clean_text(reason, "reason", kind="note", multiline=True).split())
    at = to_iso(clock.now())
    with write(db):
        append_event(
            db,
            at=at,
            operator=operator,
            kind="acting_switched",
            data={"from": operator, "to": who.name, "person": who.shown_key, "reason": reason},
        )
    return who


def take_over(
    db: Database,
    clock: Clock,
    operator: str,
    post: str,
    person: str | int,
    reason: str,
) -> Override | None:
    """A confirmed handover: ``person`` holds ``post`` from now for the rest of the shift.

    The rest of the shift is until the current holder's shift ends; when nobody holds the post
    now, until the next shift starts (at most :data:`TAKE_OVER_AT_MOST`). It is an override
    (``override_added``), so :func:`on_duty` and :func:`holder` name the incoming officer.

    Returns:
        The override, or ``None`` when ``person`` already holds the post.

    Raises:
        NotFound: no such post or person.
    """
    target = get_post(db, post)
    who = _person_ref(db, person)
    now = _utc(clock.now(), "from")
    with write(db):
        current = holder(db, target.code, now)
        if current is not None and current.person.id == who.id:
            return None
        if current is not None:
            end = current.ends_at
        else:
            upcoming = [
                s.starts_at
                for s in shifts(db, now, now + TAKE_OVER_AT_MOST, target.code)
                if s.starts_at > now
            ]
            end = min(upcoming, default=now + TAKE_OVER_AT_MOST)
        return add_override(db, clock, operator, target.code, who.id, now, end, reason)


def gaps(db: Database, start: datetime, end: datetime, post: str | None = None) -> list[Gap]:
    """Stretches of ``[start, end)`` in which a post has nobody, by post code then time."""
    start, end = _window(start, end)
    posts = _posts(db, post)
    resolved = _resolve(db, start, end, posts)
    out: list[Gap] = []
    for p in posts:
        cursor = start
        for a, b, _seg in resolved[p.id]:
            if a > cursor:
                out.append(Gap(p, cursor, a))
            cursor = max(cursor, b)
        if cursor < end:
            out.append(Gap(p, cursor, end))
    return out


# ------------------------------------------------------------------------------- exporting


def shift_uid(shift: Shift) -> str:
    """A UID stable across exports: the same post, person and start give the same UID."""
    digest = hashlib.sha1(
        f"{shift.post.code}|{shift.person.key}|{to_iso(shift.starts_at)}".encode(),
        usedforsecurity=False,
    ).hexdigest()
    return f"{digest[:32]}@roster.dutydesk"


def to_ical(shifts: Sequence[Shift], zone: str, *, stamp: datetime) -> bytes:
    """An iCalendar of ``shifts``: one VEVENT each, times in ``zone`` with its VTIMEZONE.

    Args:
        zone: IANA zone the DTSTART/DTEND are written in (TZID).
        stamp: the DTSTAMP of the events (when the export was made).
    """
    tz = _zone(zone)
    from icalendar import Calendar, Event  # only here: ~25 ms of every start otherwise

    cal = Calendar()
    cal.add("prodid", "-//dutydesk//duty roster//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "dutydesk duty roster")
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(shift))
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", shift.starts_at.astimezone(tz))
        event.add("dtend", shift.ends_at.astimezone(tz))
        event.add("summary", f"{shift.post.name}: {shift.person.name}")
        event.add(
            "description",
            f"post {shift.post.code}, person {shift.person.shown_key} ({shift.source})",
        )
        event.add("categories", ["duty"])
        cal.add_component(event)
    if shifts:
        cal.add_missing_timezones()
    data: bytes = cal.to_ical()
    return data


def shift_to_json(shift: Shift, zone: ZoneInfo | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "post": shift.post.code,
        "post_name": shift.post.name,
        "person": shift.person.shown_key,
        "person_name": shift.person.name,
        "starts_at": to_iso(shift.starts_at),
        "ends_at": to_iso(shift.ends_at),
        "source": shift.source,
        "ref": shift.ref,
    }
    if zone is not None:
        data["starts_local"] = shift.starts_at.astimezone(zone).isoformat()
        data["ends_local"] = shift.ends_at.astimezone(zone).isoformat()
    return data


__all__ = [
    "DUTY_OFFICER_POST",
    "SHIFT_LEAD_POST",
    "Gap",
    "Override",
    "PersonRef",
    "Post",
    "Rotation",
    "Shift",
    "add_override",
    "add_post",
    "add_rotation",
    "duty_officer",
    "duty_people",
    "gaps",
    "get_post",
    "holder",
    "list_posts",
    "list_rotations",
    "on_duty",
    "post_people",
    "rotation_shift",
    "shift_to_json",
    "shift_uid",
    "shifts",
    "switch_acting",
    "take_over",
    "to_ical",
]
