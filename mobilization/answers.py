"""Provides the ways an answer comes in: a signed link, an SMS reply, an ack code, the officer.

Every front door ends in :func:`record_answer`, which records the answer and moves the cascade
on in the same transaction: a yes releases the node's children and may satisfy ``--need``; a
no moves the node to its next alternate. The first answer's time is kept and a later different
answer is recorded as a change.

The two doors people use from afar are checked first and refuse without writing anything: a link
must carry a valid token (:func:`check_token`: :class:`LinkRefused` when it is malformed, forged,
altered or expired), an SMS reply must carry the code sent to the number it comes from
(:func:`answer_by_sms`: :class:`WrongCode` otherwise; a bare "1" is never enough). Both refuse an
answer to a mobilization that is over (:class:`CallOutOver`). Refusals leave no audit row each:
an unauthenticated request must not grow the permanent log, so the HTTP layer counts them and
writes one summary a minute (:mod:`console.http.security`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from contacts.phones import mask_phone, normalize_phone
from mobilization.acks import TokenInvalid, parse_reply, read_token
from mobilization.cascade import CascadeTxn
from mobilization.models import Answer, Called, Mobilization
from mobilization.progress import get_mobilization
from mobilization.vocabulary import MobilizationState, RecipientState
from store.audit import append_event
from store.clock import Clock, from_iso, to_iso
from store.db import Database, write
from store.errors import InvalidInput, NotFound, PermissionDenied
from store.i18n import _
from store.keys import KeyRing


class LinkRefused(PermissionDenied):
    """A link whose token is malformed, forged, altered or expired; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(_("ack link refused: {reason}").format(reason=reason))
        self.reason = reason


class WrongCode(InvalidInput):
    """An SMS reply whose code is missing, unknown, or was sent to another number.

    ``guess`` is whether it counts as a guess towards the sender's lockout: a code that names
    nobody or someone else does, a reply that forgot its code does not.
    """

    def __init__(self, message: str, *, guess: bool) -> None:
        super().__init__(message, "code")
        self.guess = guess


class CallOutOver(PermissionDenied):
    """An answer to a mobilization that was completed or cancelled: nothing is recorded."""

    def __init__(self, mob: Mobilization) -> None:
        super().__init__(
            _("mobilization {id} is over ({state}); answers are no longer taken").format(
                id=mob.id, state=MobilizationState(mob.state).label
            )
        )
        self.mobilization = mob


def _still_open(db: Database, mobilization_id: int) -> Mobilization:
    """The mobilization, or :class:`CallOutOver` when it is no longer active."""
    mob = get_mobilization(db, mobilization_id)
    if mob.state != MobilizationState.ACTIVE:
        raise CallOutOver(mob)
    return mob


class _Recipient(NamedTuple):
    """A recipient as an answer finds them, with the phone their SMS must come from."""

    id: int
    mobilization_id: int
    name: str
    state: str
    answered_at: str | None
    phone: str | None
    live: int


def _recipient(db: Database, where: str, params: Sequence[Any]) -> _Recipient | None:
    row = db.conn.execute(
        "SELECT r.id, r.mobilization_id, r.name, r.state, r.answered_at, p.phone, r.live"
        f" FROM recipients r JOIN people p ON p.id = r.person_id WHERE {where}",
        params,
    ).fetchone()
    return None if row is None else _Recipient._make(row)


def record_answer(
    db: Database,
    clock: Clock,
    operator: str,
    *,
    yes: bool,
    via: str,
    recipient_id: int | None = None,
    code: str | None = None,
    eta_min: int | None = None,
    open_only: bool = False,
) -> Answer:
    """Record a person's answer, by recipient id (token) or live ack code (CLI, console, SMS).

    The first answer's time is kept; a later different answer changes the state and is recorded
    as a change. A yes releases the node's children (cascade) and may satisfy ``--need``; a no
    moves the node to its next alternate when its other people are negative too.

    Args:
        open_only: refuse (:class:`CallOutOver`) when the mobilization is over, checked in the
            same transaction; the remote doors (link, SMS) ask for it, the officer need not.
    """
    if eta_min is not None and not 0 <= eta_min <= 24 * 60:
        raise InvalidInput(_("must be between 0 and 1440 minutes"), "eta")
    now = clock.now()
    with write(db):
        if recipient_id is not None:
            row = _recipient(db, "r.id = ?", (recipient_id,))
        elif code is not None:
            row = _recipient(db, "r.live = 1 AND r.ack_code = ?", (code.strip(),))
        else:
            raise InvalidInput(_("give an ack code"), "code")
        if row is None:
            raise NotFound(
                _("no live mobilization recipient has ack code {code}").format(code=code)
            )
        new = RecipientState.YES if yes else RecipientState.NO
        first = row.answered_at is None
        changed = not first and row.state != new
        mob = (_still_open if open_only else get_mobilization)(db, int(row.mobilization_id))
        if first or changed:
            db.conn.execute(
                "UPDATE recipients SET state = ?, answered_at = coalesce(answered_at, ?),"
                " answer_via = coalesce(answer_via, ?), eta_min = coalesce(?, eta_min),"
                " due_at = NULL WHERE id = ?",
                (new, to_iso(now), via, eta_min, row.id),
            )
            db.conn.execute(
                "UPDATE attempts SET state = 'withdrawn', done_at = ? WHERE recipient_id = ?"
                " AND kind = 'notify' AND state = 'pending'",
                (to_iso(now), row.id),
            )
            append_event(
                db,
                at=to_iso(now),
                operator=operator,
                kind="mobilization_answer_changed" if changed else "mobilization_answer",
                incident_id=None,
                data={
                    "mobilization": mob.id,
                    "recipient": row.id,
                    "answer": new,
                    "previous": row.state if changed else None,
                    "via": via,
                    "eta_min": eta_min,
                },
            )
            step = CascadeTxn(db, now, mob)
            if yes:
                # A late yes on a node already settled unreachable still counts for that node.
                db.conn.execute(
                    "UPDATE mob_nodes SET state = 'yes' WHERE state = 'unreachable' AND id IN"
                    " (SELECT node_id FROM mob_links WHERE recipient_id = ?)",
                    (row.id,),
                )
            step.check_groups(int(row.id))
            for (node_id,) in db.conn.execute(
                "SELECT node_id FROM mob_links WHERE recipient_id = ?", (row.id,)
            ).fetchall():
                step.evaluate(int(node_id))
            step.finish()
    return Answer(
        recipient_id=int(row.id),
        mobilization_id=int(row.mobilization_id),
        name=row.name,
        yes=yes,
        first=first,
        changed=changed,
        answered_at=from_iso(row.answered_at or to_iso(now)),  # the first answer's time, kept
    )


def answer_by_token(db: Database, clock: Clock, keys: KeyRing, token: str, *, yes: bool) -> Answer:
    """Record an answer given through a signed link.

    Raises:
        LinkRefused: the token is malformed, forged, altered or expired.
        CallOutOver: the mobilization was completed or cancelled.
    """
    recipient_id = check_token(db, clock, keys, token)
    return record_answer(
        db, clock, "ack-link", yes=yes, via="link", recipient_id=recipient_id, open_only=True
    )


def check_token(db: Database, clock: Clock, keys: KeyRing, token: str) -> int:
    """The recipient a token names, if the token is valid and their mobilization still runs.

    Nothing is written: counting refusals is the caller's (see the module docstring).

    Raises:
        LinkRefused: the token is malformed, forged, altered or expired.
        NotFound: the token is valid but names no recipient (a database restored from an
            older backup).
        CallOutOver: the mobilization was completed or cancelled.
    """
    try:
        recipient_id = read_token(keys, token, clock.now())
    except TokenInvalid as exc:
        raise LinkRefused(exc.reason) from exc
    row = _recipient(db, "r.id = ?", (recipient_id,))
    if row is None:
        raise NotFound(_("this ack link names no recipient"))
    _still_open(db, row.mobilization_id)
    return recipient_id


def called_by_token(db: Database, clock: Clock, keys: KeyRing, token: str) -> Called:
    """Whom a link calls and to what; refused as :func:`check_token` refuses."""
    recipient_id = check_token(db, clock, keys, token)
    recipient = _recipient(db, "r.id = ?", (recipient_id,))
    if recipient is None:  # gone between the two reads: as if the link named nobody
        raise NotFound(_("this ack link names no recipient"))
    return Called(
        recipient_id=recipient.id,
        name=recipient.name,
        mobilization=get_mobilization(db, recipient.mobilization_id),
        state=RecipientState(recipient.state),
        answered_at=from_iso(recipient.answered_at) if recipient.answered_at else None,
    )


def answer_by_sms(
    db: Database, clock: Clock, sender: str, text: str, *, region: str = "CN"
) -> Answer:
    """Record an SMS reply forwarded by the gateway (``{"from", "text"}``).

    The reply must carry its code, and the code must be the one sent to the sending number: a
    reply without one is refused even when the number has a single open call-out (one forged
    "1" must not answer for anyone).

    Raises:
        InvalidInput: the text is not a yes/no reply, or the number is not valid.
        WrongCode: no code, an unknown code, or a code sent to another number.
        CallOutOver: the code's mobilization was completed or cancelled.
    """
    reply = parse_reply(text)
    if reply is None:
        raise InvalidInput(_("not a reply: send the code then 1 (coming) or 2 (can't)"), "text")
    phone = normalize_phone(sender, region)
    if reply.code is None:
        raise WrongCode(_("reply with the code from the message, e.g. '4821 1'"), guess=False)
    row = _recipient(db, "r.live = 1 AND r.ack_code = ?", (reply.code,))
    if row is None:
        raise WrongCode(
            _("no live mobilization recipient has ack code {code}").format(code=reply.code),
            guess=True,
        )
    if row.phone != phone:
        raise WrongCode(
            _("code {code} was not sent to {phone}").format(
                code=reply.code, phone=mask_phone(phone, region)
            ),
            guess=True,
        )
    _still_open(db, row.mobilization_id)
    return record_answer(
        db,
        clock,
        "sms",
        yes=reply.yes,
        via="sms",
        recipient_id=int(row.id),
        eta_min=reply.eta_min,
        open_only=True,
    )
