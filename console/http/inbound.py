"""Provides ``POST /inbound/sms``: the SMS gateway forwards the replies people send, signed.

Anyone who can reach the port could otherwise answer for anyone, so every request must be signed
by the gateway with a secret shared with this office. The scheme, for whoever implements the
gateway's side:

* the secret: the bytes of one line of the file named by ``[serve] inbound_secret_file`` (at
  least 16 characters, surrounding whitespace removed; ``#`` lines are comments; several lines
  are several valid secrets, so a secret can be rotated without a gap). The file must not be
  readable by group or others. Without it the endpoint answers 503 to everything and changes
  nothing (the server log says why, once);
* two headers on every request::

      X-Dutydesk-Timestamp: 1765085906            (unix seconds, when the gateway sent it)
      X-Dutydesk-Signature: v1=<hex>              (64 lowercase hex digits)

  where ``<hex>`` is ``HMAC-SHA256(secret, f"{timestamp}.".encode() + body)`` over the exact
  bytes of the body;
* the timestamp must be within ``[serve] signature_window_seconds`` (default 300) of our clock,
  and each signature is accepted once: a replay within the window is refused.

An unsigned, badly signed, stale or replayed request gets 401 and changes nothing. A signed one
carries JSON ``{"from", "text"}``; the text must carry the reply code (``4821 1`` yes, ``4821 2``
no, ``4821 收到``...) and the code must be the one sent to that number
(:func:`mobilization.answer_by_sms`). A reply that is not recorded, for whatever reason (no code,
unknown code, another number's code, the call-out is over, the number locked out after too many
wrong codes), gets one and the same answer, 400 ``{"ok": false, "error": "reply not accepted"}``,
so the response tells a guesser nothing. Wrong codes count towards the sender's lockout
(:mod:`console.http.security`); a malformed body from the signed gateway gets its own 400.

A text that is not shaped like a reply at all (no yes/no word: "后山有落石，路被堵了") is a
citizen writing to the office: it becomes a reported case, or a note on the number's recent case
(:func:`incidents.citizen.receive_sms`), answered 200 ``{"ok": true, "reported": {"outcome",
"case", "messages"}}``. The acknowledgement to the citizen is not in the response: it is queued
in the case's timeline and the engine sends it through the SMS channel
(:func:`console.engine.send_citizen_replies`), under the idempotency key ``sms-reply-<entry id>``.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import partial
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.http.common import (
    BodyRefused,
    HttpService,
    client_address,
    parse_json,
    read_body,
)
from console.http.security import Failure, address_source, phone_source
from contacts.phones import normalize_phone
from incidents.citizen import Receipt, receive_sms
from mobilization import Answer, WrongCode, answer_by_sms, parse_reply
from store.db import Database
from store.errors import DatabaseBusy, InvalidInput, NotFound, PermissionDenied
from store.keys import unsafe_permissions

SMS_BODY_LIMIT = 16 * 1024
TIMESTAMP = "x-dutydesk-timestamp"
SIGNATURE = "x-dutydesk-signature"
MIN_SECRET = 16


def routes(service: HttpService) -> list[Route]:
    """The gateway's route; a missing or unsafe secret is said now, at startup (and only once)."""
    _secrets, problem = read_secrets(service.config.inbound_secret_file)
    if problem is not None:
        service.say_once(_shut(problem))
    return [
        Route("/inbound/sms", partial(inbound_sms, service), methods=["POST"]),
    ]


def sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Dutydesk-Signature`` value of ``body`` sent at ``timestamp`` (the gateway's side)."""
    mac = hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def read_secrets(path: Path | None) -> tuple[list[bytes], str | None]:
    """The inbound secrets in the file at ``path``, or why there are none."""
    if path is None:
        return [], "no [serve] inbound_secret_file is configured"
    try:
        problem = unsafe_permissions(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], f"cannot read the inbound secret file {path}: {exc}"
    if problem is not None:
        return [], problem
    lines = [line.strip() for line in text.splitlines()]
    secrets = [line.encode() for line in lines if line and not line.startswith("#")]
    if not secrets or any(len(s) < MIN_SECRET for s in secrets):
        return [], f"the inbound secret file {path} needs secrets of {MIN_SECRET}+ characters"
    return secrets, None


def _shut(problem: str) -> str:
    return f"dutydesk serve: /inbound/sms refuses every request (503): {problem}"


def _signed(secrets: list[bytes], timestamp: str, signature: str, body: bytes) -> bool:
    if not signature.startswith("v1=") or len(signature) != 67:
        return False
    found = False
    for secret in secrets:  # every one is tried, so the time does not tell which matched
        found |= hmac.compare_digest(sign(secret, timestamp, body), signature)
    return found


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": "a valid X-Dutydesk-Signature is required"}, 401)


def _not_accepted() -> JSONResponse:
    """The one answer to every reply that is not recorded (see the module docstring)."""
    return JSONResponse({"ok": False, "error": "reply not accepted"}, 400)


async def inbound_sms(service: HttpService, request: Request) -> Response:
    secrets, problem = read_secrets(service.config.inbound_secret_file)
    if problem is not None:
        service.say_once(_shut(problem))
        return JSONResponse({"error": "inbound replies are not configured"}, 503)
    try:
        body = await read_body(request, SMS_BODY_LIMIT)
    except BodyRefused as refused:
        return refused.response
    address = address_source(client_address(request))
    timestamp = request.headers.get(TIMESTAMP, "")
    signature = request.headers.get(SIGNATURE, "").strip().lower()
    now = service.now_s()
    window = service.config.signature_window_s
    if not (
        timestamp.isascii()
        and timestamp.isdigit()
        and len(timestamp) <= 12
        and abs(now - int(timestamp)) <= window
        and _signed(secrets, timestamp, signature, body)
    ):
        service.refused(address, Failure.BAD_SIGNATURE)
        return _unauthorized()
    if not service.replays.first_time(signature, now, 2.0 * window + 1):
        service.refused(address, Failure.REPLAYED)
        return _unauthorized()
    try:
        data = parse_json(body)
    except InvalidInput as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, 400)
    if not isinstance(data, dict):
        return JSONResponse({"error": "body must be a JSON object"}, 400)
    sender, text = data.get("from"), data.get("text")
    for field, value in (("from", sender), ("text", text)):
        if not isinstance(value, str) or not value.strip():
            return JSONResponse(
                {"error": f"{field}: must be a non-empty string", "field": field}, 400
            )
    region = service.config.phone_region
    try:
        phone = normalize_phone(str(sender), region, field="from")
    except InvalidInput:
        return _not_accepted()
    if parse_reply(str(text)) is None:
        return await _citizen(service, phone, str(text))
    source = phone_source(phone)
    if service.ledger.locked(source, now) is not None:
        service.refused(source, Failure.LOCKED_OUT)
        return _not_accepted()

    def answer(db: Database) -> Answer:
        return answer_by_sms(db, service.clock, phone, str(text), region=region)

    try:
        result = await service.db_call(answer)
    except WrongCode as exc:
        if exc.guess:
            service.refused(source, Failure.BAD_CODE)
        return _not_accepted()
    except (InvalidInput, NotFound, PermissionDenied):  # not a reply, the call-out is over...
        return _not_accepted()
    except DatabaseBusy:  # ours, not the sender's: the gateway tries again
        return JSONResponse({"error": "busy, try again"}, 503, {"retry-after": "1"})
    service.answered()
    return JSONResponse({"ok": True, **result.to_json()})


async def _citizen(service: HttpService, phone: str, text: str) -> Response:
    """A citizen's message: a reported case or a note (the daily cap and grouping decide)."""

    def receive(db: Database) -> Receipt:
        config = service.config
        return receive_sms(db, service.clock, config.policy, config.inbound, phone, text)

    try:
        receipt = await service.db_call(receive)
    except InvalidInput as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, 400)
    except DatabaseBusy:
        return JSONResponse({"error": "busy, try again"}, 503, {"retry-after": "1"})
    if receipt.reply_entry is not None and service.engine is not None:
        service.engine.replies_queued()
    return JSONResponse({"ok": True, "reported": receipt.to_json()})
