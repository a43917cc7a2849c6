"""Answers: by signed link, by SMS reply (always with its code), by ack code; duplicates; refusals.

What ``tests/e2e`` proves over HTTP (403 for a forged link, 401 for an unsigned reply, one answer
for every refused reply, a second answer kept as a change) is proven here on the functions the
endpoints call: a refused link or reply writes nothing (not even an audit row), a reply without
its code is refused, an answer to a mobilization that is over is refused, tokens are read in one
spelling only, and the link key lives outside the database.
"""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from console.config import Config
from console.context import keys_for
from mobilization import (
    Answer,
    CallOutOver,
    LinkRefused,
    Routing,
    WrongCode,
    answer_by_sms,
    answer_by_token,
    called_by_token,
    cancel_mobilization,
    check_token,
    get_mobilization,
    make_token,
    read_token,
    record_answer,
)
from mobilization.acks import LINK_LIFE_MAX, TokenInvalid
from store.clock import FixedClock
from store.db import connect
from store.errors import InvalidInput, NotFound
from store.keys import Key, KeyRing, load_keys, rotate_keys
from tests.support.domain import OPERATOR
from tests.unit.mobilization_support import code_of, drive, events, start, states


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.ephemeral()


@pytest.fixture
def routing(ring: KeyRing) -> Routing:
    return Routing(keys=ring)


def token_of(db: Database, clock: FixedClock, routing: Routing) -> str:
    """Drive the engine and return the first message's token."""
    return drive(db, clock, routing=routing)[0].ack_url.rsplit("/", 1)[1]


def event_count(db: Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_answers_keep_the_first_time_and_record_a_change(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    code = code_of(town_tree, mob, "L1")
    first = record_answer(town_tree, clock, OPERATOR, yes=False, via="cli", code=code)
    clock.advance(minutes=3)
    second = record_answer(town_tree, clock, OPERATOR, yes=True, via="cli", code=code)
    assert first.first and not second.first and second.changed
    assert second.answered_at == first.answered_at
    again = record_answer(town_tree, clock, OPERATOR, yes=True, via="cli", code=code)
    assert not again.first and not again.changed
    assert len(events(town_tree, "mobilization_answer")) == 1
    [change] = events(town_tree, "mobilization_answer_changed")
    assert (change["answer"], change["previous"]) == ("yes", "no")
    with pytest.raises(NotFound, match="ack code 0000"):
        record_answer(town_tree, clock, OPERATOR, yes=True, via="cli", code="0000")


def test_a_link_answered_twice_keeps_the_first_time(
    town_tree: Database, clock: FixedClock, ring: KeyRing, routing: Routing
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    token = token_of(town_tree, clock, routing)
    first = answer_by_token(town_tree, clock, ring, token, yes=False)
    clock.advance(seconds=30)
    changed = answer_by_token(town_tree, clock, ring, token, yes=True)
    assert first.first and not first.changed
    assert changed.changed and changed.answered_at == first.answered_at
    assert first.to_json()["answer"] == "no" and changed.to_json()["answer"] == "yes"
    assert states(town_tree, mob)["L1"] == "yes"


def test_a_link_says_whom_it_calls_and_to_what(
    town_tree: Database, clock: FixedClock, ring: KeyRing, routing: Routing
) -> None:
    """What the ack page shows before the answer: the name, the message, the answer so far."""
    mob = start(town_tree, clock, "grid:G01")
    token = token_of(town_tree, clock, routing)
    called = called_by_token(town_tree, clock, ring, token)
    assert called.mobilization.id == mob
    assert called.mobilization.message == get_mobilization(town_tree, mob).message
    assert (called.state, called.answered_at) == ("sent", None)
    answer_by_token(town_tree, clock, ring, token, yes=True)
    again = called_by_token(town_tree, clock, ring, token)
    assert (again.state, again.name) == ("yes", called.name)
    assert again.answered_at == clock.now()
    with pytest.raises(LinkRefused):
        called_by_token(town_tree, clock, ring, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))


def test_the_json_of_an_answer_has_one_shape(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    answer = record_answer(
        town_tree, clock, OPERATOR, yes=True, via="cli", code=code_of(town_tree, mob, "L1")
    )
    assert answer.to_json() == {
        "mobilization": mob,
        "recipient": answer.recipient_id,
        "name": "L1",
        "answer": "yes",
        "first": True,
        "changed": False,
        "answered_at": clock.now().isoformat(),
    }
    assert isinstance(answer, Answer)


def test_forged_altered_and_expired_links_are_refused_and_write_nothing(
    town_tree: Database, clock: FixedClock, ring: KeyRing, routing: Routing
) -> None:
    """Before: each refusal appended an audit row, so a flood of forged links grew the log."""
    mob = start(town_tree, clock, "grid:G01")
    token = token_of(town_tree, clock, routing)
    answer = answer_by_token(town_tree, clock, ring, token, yes=True)
    assert answer.yes and answer.name == "L1"
    before = event_count(town_tree)
    forged = make_token(KeyRing.ephemeral().current, answer.recipient_id, clock.now())
    with pytest.raises(LinkRefused, match="bad signature") as refused:
        answer_by_token(town_tree, clock, ring, forged, yes=False)
    assert refused.value.reason == "bad signature"
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(LinkRefused):
        answer_by_token(town_tree, clock, ring, altered, yes=False)
    expired = make_token(ring.current, answer.recipient_id, clock.now())
    with pytest.raises(LinkRefused, match="expired"):
        answer_by_token(town_tree, clock, ring, expired, yes=False)
    for _ in range(1000):
        with pytest.raises(LinkRefused):
            check_token(town_tree, clock, ring, forged)
    assert event_count(town_tree) == before  # refusals are the HTTP layer's to count
    assert states(town_tree, mob)["L1"] == "yes"
    assert len(events(town_tree, "mobilization_answer")) == 1
    assert get_mobilization(town_tree, mob).state == "active"


def test_a_link_past_its_time_is_refused(
    town_tree: Database, clock: FixedClock, ring: KeyRing, routing: Routing
) -> None:
    mob = start(town_tree, clock, "grid:G01")
    token = token_of(town_tree, clock, routing)
    assert check_token(town_tree, clock, ring, token) == 1
    clock.advance(hours=24, seconds=1)  # the links live a day by default
    with pytest.raises(LinkRefused, match="expired"):
        answer_by_token(town_tree, clock, ring, token, yes=True)
    assert states(town_tree, mob)["L1"] != "yes"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(lambda t: t + "=", id="padding"),
        pytest.param(lambda t: t.replace(".", ".="), id="padding-in-the-middle"),
        pytest.param(lambda t: t + ".", id="trailing-dot"),
        pytest.param(lambda t: "." + t, id="leading-dot"),
        pytest.param(lambda t: t.replace(".", ".."), id="double-dot"),
        pytest.param(lambda t: t + ".AAAA", id="extra-part"),
        pytest.param(lambda t: t.replace("-", "+").replace("_", "/"), id="standard-alphabet"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: t + "\n", id="trailing-newline"),
    ],
)
def test_only_the_canonical_spelling_of_a_token_is_read(spell, ring: KeyRing) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 7, 1, tzinfo=UTC)
    token = make_token(ring.current, 4821, now + timedelta(hours=1))
    assert read_token(ring, token, now) == 4821
    respelled = spell(token)
    if respelled == token:  # this token has no such character: make one that does
        respelled = spell(token + "-_")
    with pytest.raises(TokenInvalid):
        read_token(ring, respelled, now)


def test_unused_low_bits_in_the_last_base64_character_are_refused(ring: KeyRing) -> None:
    """The same bytes spelled another way (the low bits of the last character set)."""
    now = datetime(2026, 7, 1, tzinfo=UTC)
    token = make_token(ring.current, 7, now + timedelta(hours=1))
    body, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for part, i in ((body, 0), (mac, 1)):
        if len(part) % 4 in (2, 3):  # the last character carries unused bits
            index = alphabet.index(part[-1])
            other = part[:-1] + alphabet[index ^ 1]
            decoded = base64.urlsafe_b64decode(other + "=" * (-len(other) % 4))
            assert _b64(decoded) == part  # really the same bytes
            pieces = [body, mac]
            pieces[i] = other
            with pytest.raises(TokenInvalid, match="malformed"):
                read_token(ring, ".".join(pieces), now)


def test_a_rotated_key_keeps_its_links_and_refuses_late_mints(tmp_path: Path) -> None:
    """Rotation: a link sent before still works; one minted later with the old key does not."""
    path = tmp_path / "office.keys"
    t0 = datetime(2026, 7, 1, 8, tzinfo=UTC)
    old = load_keys(path, t0)
    sent = make_token(old.current, 11, t0 + timedelta(hours=24))
    rotated = rotate_keys(path, t0 + timedelta(hours=1))
    assert rotated.current.kid != old.current.kid
    now = t0 + timedelta(hours=2)
    assert read_token(rotated, sent, now) == 11  # signed before: valid for its life
    assert read_token(rotated, make_token(rotated.current, 12, now + timedelta(hours=1)), now)
    # Someone who kept the old key mints a link that would last far beyond the old key's life.
    late = make_token(old.current, 13, t0 + timedelta(hours=1) + LINK_LIFE_MAX + timedelta(days=1))
    with pytest.raises(TokenInvalid, match="bad signature"):
        read_token(rotated, late, now)
    # And a key that is not in the ring at all.
    stranger = Key(old.current.kid + "x", t0, b"\1" * 32)
    with pytest.raises(TokenInvalid, match="bad signature"):
        read_token(rotated, make_token(stranger, 11, now + timedelta(hours=1)), now)


def test_a_backup_of_the_database_alone_cannot_mint_a_link(tmp_path: Path) -> None:
    """Before: the secret was in ``meta``, so every backup could sign links for anyone."""
    live = tmp_path / "office.db"
    db = connect(live)
    config = Config(path=None)
    ring = keys_for(db, live, config)
    db.close()
    assert (tmp_path / "office.keys").exists()
    copy_dir = tmp_path / "stolen"
    copy_dir.mkdir()
    shutil.copy(live, copy_dir / "office.db")
    raw = (copy_dir / "office.db").read_bytes()
    for key in ring.keys:
        assert key.secret not in raw and key.secret.hex().encode() not in raw
        assert key.derive("links") not in raw
    stolen = connect(copy_dir / "office.db")
    thief = keys_for(stolen, copy_dir / "office.db", config)  # a key file of its own
    stolen.close()
    now = datetime.now(UTC)
    minted = make_token(thief.current, 1, now + timedelta(hours=1))
    with pytest.raises(TokenInvalid, match="bad signature"):
        read_token(ring, minted, now)


def test_an_answer_to_a_cancelled_mobilization_is_refused(
    town_tree: Database, clock: FixedClock, ring: KeyRing, routing: Routing
) -> None:
    """Before: links and codes kept recording answers after the call-out was called off."""
    mob = start(town_tree, clock, "grid:G01")
    token = token_of(town_tree, clock, routing)
    code = code_of(town_tree, mob, "L1")
    cancel_mobilization(town_tree, clock, OPERATOR, mob)
    before = states(town_tree, mob)
    with pytest.raises(CallOutOver, match="is over"):
        answer_by_token(town_tree, clock, ring, token, yes=True)
    with pytest.raises(CallOutOver):
        called_by_token(town_tree, clock, ring, token)
    with pytest.raises(CallOutOver):
        answer_by_sms(town_tree, clock, "+8613800138004", f"{code} 1")
    with pytest.raises(CallOutOver):
        record_answer(
            town_tree, clock, "ack-link", yes=True, via="link", recipient_id=1, open_only=True
        )
    assert states(town_tree, mob) == before
    assert not events(town_tree, "mobilization_answer")


def test_an_answer_to_a_completed_mobilization_is_refused(
    town_tree: Database, clock: FixedClock, ring: KeyRing, routing: Routing
) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast", need=1)
    sent = drive(town_tree, clock, routing=routing)
    tokens = {m.address: m.ack_url.rsplit("/", 1)[1] for m in sent}
    answer_by_sms(town_tree, clock, "13800138005", f"{code_of(town_tree, mob, 'M1')} 1")
    drive(town_tree, clock, routing=routing)
    assert get_mobilization(town_tree, mob).state == "completed"
    m2 = tokens["+8613800138006"]
    with pytest.raises(CallOutOver):
        answer_by_token(town_tree, clock, ring, m2, yes=True)
    with pytest.raises(CallOutOver):
        answer_by_sms(town_tree, clock, "13800138006", f"{code_of(town_tree, mob, 'M2')} 1")
    assert states(town_tree, mob)["M2"] == "stood_down"


def test_sms_replies_need_the_code_sent_to_that_number(
    town_tree: Database, clock: FixedClock
) -> None:
    mob = start(town_tree, clock, "grid:G01", mode="broadcast")
    drive(town_tree, clock)
    code = code_of(town_tree, mob, "M1")
    assert answer_by_sms(town_tree, clock, "+8613800138005", f"{code} 收到").yes
    with pytest.raises(WrongCode, match="was not sent to") as other:
        answer_by_sms(town_tree, clock, "13800138006", f"{code} 1")
    assert other.value.guess and "138****8006" in str(other.value)
    with pytest.raises(InvalidInput, match="not a reply"):
        answer_by_sms(town_tree, clock, "13800138006", "what?")
    assert answer_by_sms(
        town_tree, clock, "13800138006", f"{code_of(town_tree, mob, 'M2')} 2"
    ).first
    assert states(town_tree, mob)["M1"] == "yes" and states(town_tree, mob)["M2"] == "no"


def test_a_bare_reply_is_refused_even_with_one_open_call(
    town_tree: Database, clock: FixedClock
) -> None:
    """Before: a bare "1" from a number with one open call-out was taken as that call's yes,
    so one forged "yes" on a ``--need 1`` mobilization stood everybody else down."""
    mob = start(town_tree, clock, "grid:G01", mode="broadcast", need=1)
    drive(town_tree, clock)
    before = states(town_tree, mob)
    for text in ("1", "yes", "收到", "1 15"):
        with pytest.raises(WrongCode, match="code from the message") as refused:
            answer_by_sms(town_tree, clock, "13800138004", text)
        assert not refused.value.guess  # a forgotten code is not a guess
    assert states(town_tree, mob) == before
    assert get_mobilization(town_tree, mob).state == "active"


def test_an_sms_no_by_code_calls_the_alternate(town_tree: Database, clock: FixedClock) -> None:
    mob = start(town_tree, clock, "grid:G01")
    drive(town_tree, clock)
    answer = answer_by_sms(town_tree, clock, "+8613800138004", f"{code_of(town_tree, mob, 'L1')} 2")
    assert not answer.yes and answer.first
    assert [m.name for m in drive(town_tree, clock)] == ["SEC"]
    sec = code_of(town_tree, mob, "SEC")
    with pytest.raises(WrongCode, match="ack code 99999999") as unknown:
        answer_by_sms(town_tree, clock, "13800138003", "99999999 1")
    assert unknown.value.guess
    eta = answer_by_sms(town_tree, clock, "13800138003", f"{sec} 1 15")
    assert eta.yes
    [sec_row] = [
        r
        for r in town_tree.conn.execute(
            "SELECT answer_via, eta_min FROM recipients WHERE ack_code = ?", (sec,)
        )
    ]
    assert tuple(sec_row) == ("sms", 15)


def test_ack_codes_come_from_secrets(
    town_tree: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: ``random.randrange``, a generator whose state can be recovered from its output."""
    import random

    import mobilization.cascade as cascade

    drawn: list[int] = []
    real = cascade.secrets.randbelow

    def randbelow(n: int) -> int:
        value = real(n)
        drawn.append(value)
        return value

    monkeypatch.setattr(cascade.secrets, "randbelow", randbelow)
    monkeypatch.setattr(random, "randrange", lambda *a: pytest.fail("random used for a code"))
    mob = start(town_tree, clock, "grid:G01", mode="broadcast")
    codes = [code_of(town_tree, mob, key) for key in ("L1", "M1", "M2")]
    assert len(drawn) >= 3 and len(set(codes)) == 3
    assert all(c.isdigit() and len(c) >= 4 and not c.startswith("0") for c in codes)
