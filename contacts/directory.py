"""Provides the directory: every target a case or a call may name, found by what people type.

A target is a current grid, an active team, the duty office or an active person, written
``kind:code``: ``grid:G01``, ``team:T-FIRE``, ``office:城关镇应急办``, ``person:P0003``. A person
whose key is a phone number (the default key) is written ``person:#<id>``: the written form lands
in the timeline and goes upstream, and must carry no personal data.

People type names, codes, keys, phone numbers, full pinyin or pinyin initials (``lj``,
``liuj`` and ``ljing`` all find 刘静). :func:`candidates` ranks what matches, for a picker;
:func:`resolve_target` and :func:`resolve_person` turn one typed text into exactly one target or
refuse it, listing the closest matches (a Chinese name is taken exactly: 李放 is not quietly read
as its homophone 李芳, it is refused with 李芳 first among the suggestions); :func:`describe`
turns a written target back into people's words.

Cost: one SELECT per kind; pinyin (pypinyin, ~0.2 s to import, so imported on first use) is
computed once per distinct name and kept in a process-wide cache, since a name's spelling never
changes. Ranking 10,000 people then takes milliseconds (see the report of issue 14).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from contacts.models import Role
from contacts.people import Person, get_person
from contacts.phones import DEFAULT_REGION, normalize_phone, shown_key
from jurisdiction.models import Level
from jurisdiction.units import list_units
from store.db import Database
from store.errors import InvalidInput, NotFound
from store.i18n import N_, _

KINDS: tuple[str, ...] = ("grid", "team", "office", "person")
"""Every kind of target, in the order a picker lists equal matches."""
KIND_NAMES = {
    "grid": N_("grid"),
    "team": N_("team"),
    "office": N_("office"),
    "person": N_("person"),
}
SUGGESTIONS = 5
"""How many closest matches a refusal lists."""
MAX_SYLLABLES = 16  # longer names are matched by their text and whole pinyin only

# Scores: what a match is worth (higher first); a refusal lists the best of them.
EXACT = 100.0
PREFIX = 95.0
WHOLE_PINYIN = 90.0  # the whole full pinyin or the whole initials: "liujing", "lj"
PINYIN_PREFIX = 85.0  # syllable prefixes from the first syllable: "liuj", "ljing", "l"
CONTAINS = 75.0
PINYIN_INSIDE = 70.0  # syllable prefixes from a later syllable: "jing" in 刘静
HOMOPHONE = 65.0  # Chinese typed that sounds the same: 李放 for 李芳
FUZZY = 60.0  # below this only "closest" suggestions (typos)
CLOSE = 0.4  # how alike (0-1) a typo must be to its target to be suggested
UNIQUE = WHOLE_PINYIN  # a bare pinyin match resolves only at this score or above


def kind_label(kind: str) -> str:
    """A kind of target in the current language."""
    return _(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


@dataclass(frozen=True)
class Target:
    """One thing a case can be sent to: ``kind`` (see :data:`KINDS`), ``code`` and ``label``,
    the words people know it by (a name)."""

    kind: str
    code: str
    label: str

    def format(self) -> str:
        """The written form, as stored: ``grid:G01``, ``team:T-FIRE``, ``person:#12``."""
        return f"{self.kind}:{self.code}"


@dataclass(frozen=True)
class Candidate:
    """A target that matches what was typed: ``label`` (a name), ``detail`` (its code, unit,
    roles or kind, in people's words) and ``score`` (higher is closer)."""

    target: Target
    label: str
    detail: str
    score: float


@dataclass(frozen=True)
class Spelling:
    """How a name is typed in pinyin: each character's readings (heteronyms too), lower case.

    ``heads`` are the first letters of the first character's readings, ``inner`` those of the
    later ones: a query whose first letter is in neither cannot be its pinyin (the fast "no").
    """

    syllables: tuple[tuple[str, ...], ...]
    full: str  # the first reading of each character, joined: "liujing"
    initials: str  # their first letters: "lj"
    heads: frozenset[str] = frozenset()
    inner: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Entry:
    """One target with everything it is found by.

    Args:
        words: exact names for it, as compared (:func:`_fold`: code, name, key, ``#id``).
        person_id: the person's id (people only), for :func:`resolve_person`.
        phone: the person's E.164 number, matched exactly, never shown.
    """

    target: Target
    detail: str
    words: frozenset[str]
    person_id: int | None = None
    phone: str | None = None
    name: str = field(init=False, repr=False, compare=False)  # the label as compared
    code: str = field(init=False, repr=False, compare=False)  # the code as compared

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _fold(self.target.label))
        object.__setattr__(self, "code", self.target.code.lower())

    @property
    def spelling(self) -> Spelling:
        """The label's pinyin (computed on first use, then cached with the name)."""
        return spell(self.target.label)


# --- pinyin ------------------------------------------------------------------------------------


def _has_han(text: str) -> bool:
    """Whether ``text`` holds a Chinese character (the CJK blocks, extensions included)."""
    return any(0x3400 <= ord(ch) <= 0x9FFF or 0x20000 <= ord(ch) <= 0x3134F for ch in text)


def _alternatives(reading: str) -> tuple[str, ...]:
    """A reading as typed: lower case; ü may be typed v (pypinyin's form) or u."""
    value = reading.lower()
    return (value, value.replace("v", "u")) if "v" in value else (value,)


@lru_cache(maxsize=65_536)
def spell(name: str) -> Spelling:
    """The pinyin of ``name`` (cached: computed once per distinct name in the process)."""
    from pypinyin import Style, pinyin

    readings = pinyin(name, style=Style.NORMAL, heteronym=True, errors="default")
    syllables: list[tuple[str, ...]] = []
    for options in readings:
        chunk = options[0] if options else ""
        if not _has_han(chunk) and " " in chunk.strip():
            # a Latin run ("Team A") comes as one item: one syllable a word
            syllables.extend(_alternatives(word) for word in chunk.split())
            continue
        alts: list[str] = []
        for option in options[:3]:
            for alt in _alternatives(option.strip()):
                if alt and alt not in alts:
                    alts.append(alt)
        if alts:
            syllables.append(tuple(alts))
    full = "".join(s[0] for s in syllables)
    return Spelling(
        tuple(syllables),
        full,
        "".join(s[0][0] for s in syllables),
        frozenset(alt[0] for alt in syllables[0]) if syllables else frozenset(),
        frozenset(alt[0] for s in syllables[1:MAX_SYLLABLES] for alt in s),
    )


def _walk(query: str, syllables: Sequence[tuple[str, ...]], start: int) -> bool:
    """Whether ``query`` is typed by prefixes of consecutive syllables from ``start``
    ("lj", "liuj", "ljing" for liu-jing).

    A search over where each syllable's prefix ends; positions already tried are remembered,
    so a long query against many readings stays linear in their product, never exponential.
    """
    if len(query) > 6 * (len(syllables) - start):  # no syllable is longer than six letters
        return False
    failed: set[tuple[int, int]] = set()
    end = len(query)

    def walk(at: int, index: int) -> bool:
        if at == end:
            return True
        if index >= len(syllables) or (at, index) in failed:
            return False
        for alt in syllables[index]:
            if alt[0] != query[at]:
                continue
            taken = min(len(alt), end - at)
            while taken > 1 and not query.startswith(alt[:taken], at):
                taken -= 1
            for length in range(taken, 0, -1):  # every shorter prefix matches too
                if walk(at + length, index + 1):
                    return True
        failed.add((at, index))
        return False

    return walk(0, start)


def _fold(text: str) -> str:
    """What was typed, compared: trimmed, lower case, without spaces and apostrophes."""
    return "".join(text.split()).replace("'", "").replace("’", "").lower()


# --- loading -----------------------------------------------------------------------------------


def _units_of(db: Database) -> tuple[list[Entry], dict[str, str]]:
    """Current grids as entries, and every current unit's name by code (for details)."""
    units = list_units(db)
    names = {u.code: u.name for u in units}
    grids = [
        Entry(
            Target("grid", u.code, u.name),
            " · ".join(x for x in (u.code, names.get(u.parent_code or "", "")) if x),
            frozenset({_fold(u.code), _fold(u.name)}),
        )
        for u in units
        if u.level is Level.GRID
    ]
    return grids, names


def _teams(db: Database) -> list[Entry]:
    from contacts.teams import TeamKind

    rows = db.conn.execute(
        "SELECT code, name, kind FROM teams WHERE active = 1 ORDER BY code"
    ).fetchall()
    return [
        Entry(
            Target("team", code, name),
            f"{code} · {TeamKind(kind).label}",
            frozenset({_fold(code), _fold(name)}),
        )
        for code, name, kind in rows
    ]


def person_code(person_id: int, key: str) -> str:
    """The code of a person in a written target: the key, or ``#id`` when the key is a phone
    number (personal data must not reach the timeline)."""
    return key if shown_key(key) == key and not key.startswith("#") else f"#{person_id}"


def _people(db: Database, people: Iterable[int] | None, unit_names: dict[str, str]) -> list[Entry]:
    sql = (
        "SELECT p.id, p.key, p.name, u.code, p.phone,"
        " (SELECT group_concat(r.role) FROM person_roles r WHERE r.person_id = p.id)"
        " FROM people p LEFT JOIN units u ON u.id = p.unit_id WHERE p.active = 1"
    )
    params: list[object] = []
    if people is not None:
        sql += " AND p.id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted({int(i) for i in people})))
    role_names = {role.value: role.label for role in Role}
    entries = []
    for person_id, key, name, unit, phone, roles in db.conn.execute(sql + " ORDER BY p.id", params):
        held = [role_names[r] for r in (roles or "").split(",") if r in role_names]
        where = unit_names.get(unit or "", unit or "")
        detail = " · ".join(x for x in (where, _(", ").join(held)) if x)
        code = person_code(int(person_id), key)
        words = {_fold(name), _fold(key), f"#{person_id}"}
        entries.append(
            Entry(Target("person", code, name), detail, frozenset(words), int(person_id), phone)
        )
    return entries


def entries(
    db: Database,
    *,
    kinds: Iterable[str] = KINDS,
    people: Iterable[int] | None = None,
    offices: Iterable[str] = (),
) -> list[Entry]:
    """Everything of ``kinds`` that can be named now, one SELECT per kind.

    Args:
        kinds: some of :data:`KINDS`.
        people: only these people (ids), e.g. the holders of the duty posts; ``None``: everyone
            active.
        offices: the office names the policy knows (``office:NAME``); the directory has no
            table of offices.
    """
    wanted = _kinds(kinds)
    out: list[Entry] = []
    unit_names: dict[str, str] = {}
    if "grid" in wanted or "person" in wanted:
        grids, unit_names = _units_of(db)
        if "grid" in wanted:
            out.extend(grids)
    if "team" in wanted:
        out.extend(_teams(db))
    if "office" in wanted:
        for name in dict.fromkeys(o.strip() for o in offices if o and o.strip()):
            out.append(
                Entry(Target("office", name, name), kind_label("office"), frozenset({_fold(name)}))
            )
    if "person" in wanted:
        out.extend(_people(db, people, unit_names))
    return out


def _kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(kinds))
    unknown = [k for k in wanted if k not in KINDS]
    if unknown or not wanted:
        raise ValueError(f"unknown target kinds {unknown!r}; use some of {KINDS!r}")
    return wanted


# --- matching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What was typed, read once for every entry it is compared with."""

    text: str  # folded (:func:`_fold`)
    han: bool  # holds Chinese: compared by text and by sound
    latin: bool  # starts with a letter and is ASCII: may be pinyin
    sound: str  # the pinyin of Chinese typed (for homophones), else ""

    @classmethod
    def of(cls, typed: str) -> Query:
        text = _fold(typed)
        han = _has_han(text)
        latin = bool(text) and text.isascii() and text[0].isalpha()
        return cls(text, han, latin, spell(text).full if han else "")


def score(entry: Entry, query: Query) -> float:
    """How well ``query`` names ``entry`` (see the scores at the top); 0: not at all."""
    q = query.text
    if not q:
        return 0.0
    if q in entry.words or q == entry.name:
        return EXACT
    if entry.name.startswith(q) or entry.code.startswith(q):
        return PREFIX
    inside = q in entry.name or q in entry.code
    if query.latin:
        spelling = entry.spelling
        first = q[0]
        if first in spelling.heads:
            if q == spelling.full or q == spelling.initials:
                return WHOLE_PINYIN
            if spelling.initials.startswith(q) or spelling.full.startswith(q):
                return PINYIN_PREFIX  # the common case, without the search
            if _walk(q, spelling.syllables[:MAX_SYLLABLES], 0):
                return PINYIN_PREFIX
        if inside:
            return CONTAINS
        if first in spelling.inner:
            syllables = spelling.syllables[:MAX_SYLLABLES]
            if any(_walk(q, syllables, i) for i in range(1, len(syllables))):
                return PINYIN_INSIDE
        return 0.0
    if inside:
        return CONTAINS
    if query.han and query.sound and query.sound == entry.spelling.full:
        return HOMOPHONE
    return 0.0


@lru_cache(maxsize=8)
def _matcher(typed: str) -> difflib.SequenceMatcher[str]:
    """A matcher with ``typed`` as its second sequence, whose index it builds once."""
    return difflib.SequenceMatcher(None, "", typed, autojunk=False)


def _closeness(entry: Entry, query: Query, floor_at: float = 0.0) -> float:
    """How close a typo is (0-1): by text, by code, and by pinyin; 0 when it cannot be above
    ``floor_at`` (``quick_ratio`` first: it bounds ``ratio`` from above at a fraction of the
    cost)."""
    q = query.text
    if query.han:  # Chinese: by the characters and by their sound
        pairs = [(q, entry.name), (query.sound, entry.spelling.full)]
    elif query.latin:  # pinyin or a code (a Latin name is its own pinyin)
        pairs = [(q, entry.code), (q, entry.spelling.full)]
    else:
        pairs = [(q, entry.name), (q, entry.code)]
    best = 0.0
    for typed, other in pairs:
        matcher = _matcher(typed)
        matcher.set_seq1(other)
        floor = max(best, floor_at)
        if matcher.real_quick_ratio() > floor and matcher.quick_ratio() > floor:
            best = max(best, matcher.ratio())
    return best


def _split_kind(text: str) -> tuple[str | None, str]:
    """``("team", "T-FIRE")`` for ``team:T-FIRE``; ``(None, text)`` when no kind is written."""
    head, sep, rest = text.partition(":")
    if sep and head.strip().lower() in KINDS:
        return head.strip().lower(), rest.strip()
    return None, text


def _rank(found: list[tuple[float, Entry]], limit: int) -> list[Candidate]:
    order = {k: i for i, k in enumerate(KINDS)}
    found.sort(
        key=lambda pair: (
            -pair[0],
            order.get(pair[1].target.kind, 9),
            len(pair[1].target.label),
            pair[1].target.label,
            pair[1].target.code,
        )
    )
    return [Candidate(e.target, e.target.label, e.detail, s) for s, e in found[:limit]]


def match(
    items: Sequence[Entry], query: str, *, limit: int = 20, fuzzy: bool = True
) -> list[Candidate]:
    """The entries ``query`` names, best first (at most ``limit``).

    ``kind:text`` keeps to that kind. When nothing matches and ``fuzzy``, the closest entries
    by spelling (typos) come instead, scored below :data:`FUZZY`; with ``kind:``, the nearest
    of that kind however far ("grid:G99" lists the grids there are).
    """
    kind, text = _split_kind(query.strip())
    typed = Query.of(text)
    pool = [e for e in items if kind is None or e.target.kind == kind]
    if not typed.text:
        return _rank([(0.0, e) for e in pool], limit) if kind else []
    found = [(s, e) for e in pool if (s := score(e, typed)) > 0]
    if not found and fuzzy:
        close = [(r, e) for e in pool if (r := _closeness(e, typed, CLOSE)) >= CLOSE]
        if not close and kind is not None:
            # one kind was asked for: its nearest are worth listing however far ("G99")
            close = [(_closeness(e, typed), e) for e in pool]
        found = [(FUZZY * r, e) for r, e in close]
    return _rank(found, limit)


def candidates(
    db: Database,
    query: str,
    *,
    kinds: Iterable[str] = KINDS,
    people: Iterable[int] | None = None,
    offices: Iterable[str] = (),
    limit: int = 20,
) -> list[Candidate]:
    """What ``query`` may mean among the targets of ``kinds``, best first.

    Matches a code, a name or key (exactly, as a prefix, or inside), full pinyin and pinyin
    initials (``lj`` → 刘静, also ``liuj``, ``ljing``), and a Chinese homophone; when nothing
    matches, the closest by spelling. ``kind:text`` keeps to one kind.

    Args:
        people: only these people (ids); ``None``: every active person.
        offices: the office names of the policy.
    """
    return match(entries(db, kinds=kinds, people=people, offices=offices), query, limit=limit)


# --- resolving ---------------------------------------------------------------------------------


def _listing(found: Sequence[Candidate]) -> str:
    return "; ".join(
        _("{label} ({target}, {detail})").format(
            label=c.label, target=c.target.format(), detail=c.detail
        )
        if c.detail
        else _("{label} ({target})").format(label=c.label, target=c.target.format())
        for c in found
    )


def _kinds_words(kinds: Sequence[str]) -> str:
    """``grid, team, office or person``: the kinds in people's words."""
    words = [kind_label(k) for k in kinds]
    if len(words) == 1:
        return words[0]
    return _("{some} or {last}").format(some=_(", ").join(words[:-1]), last=words[-1])


def resolve_entry(
    items: Sequence[Entry],
    text: str,
    *,
    field: str = "to",
    kinds: Sequence[str] = KINDS,
    region: str = DEFAULT_REGION,
) -> Entry:
    """The one entry ``text`` names among ``items`` (see :func:`resolve_target`).

    Raises:
        InvalidInput: naming ``field``.
    """
    given = " ".join((text or "").split())
    if not given:
        raise InvalidInput(_("required: name a {kinds}").format(kinds=_kinds_words(kinds)), field)
    kind, rest = _split_kind(given)
    if kind is not None and kind not in kinds:
        raise InvalidInput(
            _("a {kind} cannot be named here; name a {kinds}").format(
                kind=kind_label(kind), kinds=_kinds_words(kinds)
            ),
            field,
        )
    pool = [e for e in items if kind is None or e.target.kind == kind]
    folded = _fold(rest)
    exact = [e for e in pool if folded in e.words or folded == e.name]
    if not exact and any(c.isdigit() for c in rest) and (kind in (None, "person")):
        try:
            phone = normalize_phone(rest, region)
        except InvalidInput:
            phone = None
        if phone:
            exact = [e for e in pool if e.phone == phone]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        listed = _rank([(EXACT, e) for e in exact], SUGGESTIONS + 5)
        raise InvalidInput(
            _("{text!r} names {count}: {listing}; give one of them as written").format(
                text=given, count=len(exact), listing=_listing(listed)
            ),
            field,
        )
    head, sep, _rest = given.partition(":")
    if kind is None and sep and head.strip().isascii() and head.strip().isalpha():
        raise InvalidInput(
            _("{kind!r} is not a kind of target; name a {kinds}").format(
                kind=head.strip(), kinds=_kinds_words(kinds)
            ),
            field,
        )
    ranked = match(pool, given, limit=SUGGESTIONS + 1)
    strong = [c for c in ranked if c.score >= UNIQUE]
    near = [c for c in ranked if c.score >= PINYIN_PREFIX]
    if not _has_han(rest) and len(strong) == 1 and len(near) == 1:
        return next(e for e in pool if e.target == strong[0].target)
    matching = [c for c in ranked if c.score > HOMOPHONE]  # a homophone is a typo's closest
    if matching:
        raise InvalidInput(
            _("{text!r} may be {listing}; give one of them as written").format(
                text=given, listing=_listing(matching[:SUGGESTIONS])
            ),
            field,
        )
    what = kind_label(kind) if kind else _kinds_words(kinds)
    if ranked:
        raise InvalidInput(
            _("no {what} is called {text!r}; closest: {listing}").format(
                what=what, text=rest or given, listing=_listing(ranked[:SUGGESTIONS])
            ),
            field,
        )
    raise InvalidInput(
        _("no {what} is called {text!r}, and nothing is close").format(
            what=what, text=rest or given
        ),
        field,
    )


def resolve_target(
    db: Database,
    text: str,
    *,
    field: str = "to",
    kinds: Iterable[str] = KINDS,
    people: Iterable[int] | None = None,
    offices: Iterable[str] = (),
    region: str = DEFAULT_REGION,
) -> Target:
    """The one current grid, active team, office or active person ``text`` names.

    ``text`` may be written (``team:T-FIRE``, ``person:#12``) or bare: a code, name, key,
    ``#id`` or phone number of any kind (a team's name is the team, not a person called so),
    or pinyin or initials that name exactly one target (``lj`` → 刘静). Chinese is taken
    exactly: a homophone is only suggested.

    Args:
        field: the input named by a refusal.
        kinds: the kinds allowed here.
        people: only these people (ids); ``None``: every active person.
        offices: the office names of the policy.

    Raises:
        InvalidInput: nothing, or several things, match; the message lists up to five of the
            closest in their written form, so the command can be given again.
    """
    wanted = _kinds(kinds)
    items = entries(db, kinds=wanted, people=people, offices=offices)
    return resolve_entry(items, text, field=field, kinds=wanted, region=region).target


def resolve_person(
    db: Database,
    text: str,
    *,
    field: str = "person",
    people: Iterable[int] | None = None,
    region: str = DEFAULT_REGION,
) -> Person:
    """The one active person ``text`` names: key, ``#id``, exact name, phone, or pinyin or
    initials that fit only them.

    Raises:
        InvalidInput: nobody or several people match (up to five closest listed).
    """
    items = entries(db, kinds=("person",), people=people)
    entry = resolve_entry(items, text, field=field, kinds=("person",), region=region)
    assert entry.person_id is not None  # people's entries carry their id
    return get_person(db, entry.person_id)


def describe(db: Database, written: str | None) -> str:
    """A stored target (``team:T-FIRE``, ``person:#12``) in people's words (its name).

    Targets written before they were checked (``team:消防志愿队``, ``person:王五``, a bare name)
    and retired grids or teams are named as well as they can be; nothing raises.
    """
    if not written:
        return ""
    kind, sep, code = written.partition(":")
    if not sep:
        return written
    code = code.strip()
    if kind == "grid":
        from jurisdiction.units import get_unit

        try:
            return get_unit(db, code).name
        except NotFound:
            return code
    if kind == "team":
        row = db.conn.execute(
            "SELECT name FROM teams WHERE code = ? OR name = ? ORDER BY code = ? DESC LIMIT 1",
            (code, code, code),
        ).fetchone()
        return str(row[0]) if row else code
    if kind == "person":
        try:
            return get_person(db, code).name
        except (NotFound, InvalidInput):
            return code
    return code


def labels(db: Database, written: Iterable[str | None]) -> dict[str, str]:
    """:func:`describe` for each distinct written target (a case card's assignee and its
    timeline's ``to``/``from``): ``{"team:T-FIRE": "消防志愿队", ...}``."""
    return {w: describe(db, w) for w in dict.fromkeys(w for w in written if w)}


__all__ = [
    "KINDS",
    "Candidate",
    "Entry",
    "Query",
    "Spelling",
    "Target",
    "candidates",
    "describe",
    "entries",
    "kind_label",
    "labels",
    "match",
    "person_code",
    "resolve_entry",
    "resolve_person",
    "resolve_target",
    "spell",
]
