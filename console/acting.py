"""Provides who acts at the desk: the officer every write is recorded as, and who approves.

The acting officer is a known person. By default it is whoever holds the duty officer's post
now (:func:`contacts.roster.duty_officer`); ``--as`` names someone else (by key, name, phone or
pinyin, :func:`lookup_person`); only when the database has no duty officer's post (or nobody
holds it now) is it the configuration's ``operator``, and :attr:`Acting.source` says so.

A confirmed handover (:func:`confirm_shift`) makes the incoming officer hold the duty officer's
post for the rest of the shift, so the roster, the header and the audit agree on who is acting.
Who may approve extensions (:func:`shift_leads`) is the people on the shift lead's post; the
configuration's ``[shift] leads``, when set, overrides it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from console.config import Config
from contacts.roster import (
    DUTY_OFFICER_POST,
    SHIFT_LEAD_POST,
    PersonRef,
    duty_officer,
    duty_people,
    list_posts,
    on_duty,
    post_people,
    switch_acting,
    take_over,
)
from store.clock import Clock
from store.db import Database, SQLError, write
from store.errors import DutydeskError, InvalidInput, NotFound
from store.i18n import N_, _

if TYPE_CHECKING:
    # The handover's functions load it when called: who acts is settled before the console's
    # first frame, the handover (nine record types and the audit) is not needed then.
    from incidents.supervision import Handover

# Where the acting officer came from (:attr:`Acting.source`); the words are shown with _().
SOURCES = {
    "as": N_("named with --as"),
    "roster": N_("on duty by the roster"),
    "config": N_("from the configuration: no duty officer on the roster"),
    "switched": N_("switched at the desk"),
    "handover": N_("took over the shift"),
    "given": N_("given"),
}


@dataclass(frozen=True)
class Acting:
    """Who acts at the desk: ``name`` is what the audit records (the person's name).

    ``person`` is ``None`` only for the configuration's operator (``source == "config"``) or a
    name given by a caller that did not look it up (``"given"``).
    """

    name: str
    person: PersonRef | None
    source: str

    @property
    def why(self) -> str:
        """Where it came from, in words (translated)."""
        return _(SOURCES.get(self.source, SOURCES["given"]))


def lookup_person(db: Database, text: str, field: str, at: datetime | None = None) -> PersonRef:
    """The active person ``text`` names: key, exact name, phone, or unique pinyin/initials.

    The people on duty posts (at ``at``, by default now) are looked among first: a street has
    more than one 王伟, and the one who acts at the desk or takes the shift over is the one on
    the roster. Only when none of them fits is everyone looked among.

    Raises:
        InvalidInput: nobody (or several) match; the message names ``field`` and the closest.
    """
    from contacts.directory import resolve_person
    from contacts.roster import duty_people

    when = at if at is not None else datetime.now(UTC)
    desk = [ref.id for ref in duty_people(db, when)]
    if desk:
        with contextlib.suppress(InvalidInput):
            found = resolve_person(db, text, field=field, people=desk)
            return PersonRef(found.id, found.key, found.name)
    person = resolve_person(db, text, field=field)
    return PersonRef(person.id, person.key, person.name)


def resolve_acting(db: Database, config: Config, now: datetime, given: str | None) -> Acting:
    """Who acts: the person ``given`` (``--as``), else the duty officer now, else the
    configuration's operator.

    Raises:
        InvalidInput: ``given`` names nobody known (exit 2, with the closest matches).
    """
    if given is not None and given.strip():
        person = lookup_person(db, given, "--as", now)
        return Acting(person.name, person, "as")
    try:
        shift = duty_officer(db, now)
    except (DutydeskError, SQLError):  # an unreadable roster: say who is configured
        shift = None
    if shift is not None:
        return Acting(shift.person.name, shift.person, "roster")
    return Acting(config.operator, None, "config")


@dataclass(frozen=True)
class DeskPerson:
    """Someone who may act at the desk: a person on a duty post, and the posts (names) they
    are on, ``on_duty`` naming those they hold right now."""

    person: PersonRef
    posts: tuple[str, ...]
    on_duty: tuple[str, ...]


def desk_people(db: Database, at: datetime) -> list[DeskPerson]:
    """The people on duty posts, who the acting officer may be switched to: those on duty at
    ``at`` first (in post order), then the others by post."""
    holding: dict[int, list[str]] = {}
    for shift in on_duty(db, at):
        holding.setdefault(shift.person.id, []).append(shift.post.name)
    posts: dict[int, list[str]] = {}
    for post in list_posts(db):
        for ref in post_people(db, post.code, at):
            posts.setdefault(ref.id, []).append(post.name)
    return [
        DeskPerson(
            ref, tuple(posts.get(ref.id, holding.get(ref.id, []))), tuple(holding.get(ref.id, []))
        )
        for ref in duty_people(db, at)
    ]


def switch(db: Database, clock: Clock, current: str, person: PersonRef | str) -> Acting:
    """At the desk, ``person`` acts from now on (audited: ``acting_switched``)."""
    ref = (
        person.id
        if isinstance(person, PersonRef)
        else lookup_person(db, person, "person", clock.now()).id
    )
    who = switch_acting(db, clock, current, ref, _("switched at the desk"))
    return Acting(who.name, who, "switched")


def confirm_shift(
    db: Database, clock: Clock, acting: Acting, handover_id: int | None = None
) -> tuple[Handover, Acting]:
    """接班确认 as ``acting``: confirm the handover (by default the one waiting for them), and
    make them the duty officer for the rest of the shift (an override of the roster).

    Returns:
        The confirmed handover, and who acts now (the incoming officer).

    Raises:
        NotFound: no such handover, or none waiting for ``acting``.
        PermissionDenied: the handover is to someone else.
        InvalidTransition: it was already confirmed.
    """
    from incidents.supervision import confirm_handover, pending_handover

    with write(db):
        if handover_id is None:
            waiting = pending_handover(db, acting.name)
            if waiting is None:
                raise NotFound(
                    _("no handover is waiting for {operator} to confirm").format(
                        operator=acting.name
                    )
                )
            handover_id = waiting.id
        handover = confirm_handover(db, clock, acting.name, handover_id)
        person = acting.person
        if person is not None:
            reason = _("handover #{id} from {operator}").format(
                id=handover.id, operator=handover.from_operator
            )
            # Without a duty officer's post the roster has nothing to say.
            with contextlib.suppress(NotFound):
                take_over(db, clock, acting.name, DUTY_OFFICER_POST, person.id, reason)
    return handover, Acting(acting.name, person, "handover")


def confirm_incoming(db: Database, clock: Clock, handover_id: int) -> tuple[Handover, Acting]:
    """At the desk where the shift was just handed over: the incoming officer confirms it.

    The officer named in the handover is looked up (they must be a known person) and becomes
    the acting officer; the switch is audited before the confirmation.

    Raises:
        InvalidInput: the handover names nobody known.
        NotFound, PermissionDenied, InvalidTransition: as :func:`confirm_shift`.
    """
    from incidents.supervision import get_handover

    with write(db):
        handover = get_handover(db, handover_id)
        person = lookup_person(db, handover.to_operator, "to", clock.now())
        switch_acting(db, clock, handover.from_operator, person.id, _("handover"))
        return confirm_shift(db, clock, Acting(person.name, person, "switched"), handover_id)


def shift_leads(db: Database, config: Config, at: datetime) -> tuple[str, ...]:
    """Who may approve extensions: ``[shift] leads`` when configured, else the people on the
    shift lead's post; ``()`` (anyone but the requester) when neither names anyone."""
    if config.policy.shift_leads:
        return config.policy.shift_leads
    try:
        return tuple(ref.name for ref in post_people(db, SHIFT_LEAD_POST, at))
    except NotFound:  # no shift lead's post
        return ()
