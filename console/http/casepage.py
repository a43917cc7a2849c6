"""Provides the case page people in the field open from their dispatch link: ``/case/<token>``.

One page per person and dispatch (:mod:`uplink.field` signs the link and owns what it may do):
what happened, where (a map link when the case has coordinates), the deadlines and the time
left, the officer's instructions and this dispatch's field updates, with the actions the person
may take now: accept (签收) or decline with a reason, a progress note, photos (before, after,
progress), the handling result (反馈). Nothing else: no reporter, no other case.

Server-rendered from the Jinja2 templates beside this module, Chinese unless the browser prefers
English, and it works without JavaScript: each action is a form POST carrying a CSRF token and
a form id (a form sent twice changes nothing) that answers 303 back to the page with a message;
a refused action re-renders the page with a 4xx and why. With JavaScript on, a small inline
script uploads the photo with a progress bar.

Every route checks the link first. A forged, expired or ended link, a missing or forged CSRF
token, or a photo of another dispatch gets the 403 page and is counted in the security ledger
(one summary a minute, :mod:`console.http.security`), never written one by one. Requests are
rate-limited per client address (the guard in front of every route) and per link here; bodies
are size-limited while they stream (forms 16 KB, photos ``photo_max_bytes`` + 64 KB), and a
photo body is only read once its link is known good. Photos are decoded and re-encoded off the
event loop, at most :data:`INGESTS_AT_ONCE` at a time (a 40 MP photo takes ~200 MB to decode).
"""

from __future__ import annotations

import email.message
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import anyio
import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from console.http.common import (
    BodyRefused,
    HttpService,
    client_address,
    english,
    in_page_language,
    read_body,
)
from console.http.guard import Buckets
from console.http.limits import HttpLimits
from console.http.security import Failure, address_source
from store.db import Database
from store.errors import InvalidInput, InvalidTransition, NotFound
from store.i18n import N_
from uplink import field
from uplink.field import FieldView, LinkClaim, LinkInvalid
from uplink.field_rules import FieldRules
from uplink.photos import (
    Photo,
    PhotoLimits,
    find_photo,
    ingest,
    photo_folder,
    photo_path,
    save,
)

TEMPLATES = Path(__file__).with_name("templates")
FORM_LIMIT = 16 * 1024
MULTIPART_OVERHEAD = 64 * 1024
MAX_PARTS = 8
INGESTS_AT_ONCE = 2
PHOTO_BODY_DEADLINE_S = 60.0  # at least; a photo from a phone on a weak link takes longer
SLOWEST_UPLOAD = HttpLimits().body_rate_bytes_s  # bytes a second, as the listener allows


def photo_deadline(request: Request) -> float:
    """Seconds to read a photo upload: a minute, or its declared length at the slowest rate
    the listener allows (:attr:`~console.http.limits.HttpLimits.body_rate_bytes_s`)."""
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else 0
    return max(PHOTO_BODY_DEADLINE_S, size / SLOWEST_UPLOAD)


TOKEN_RATE = 1.0  # requests per second per link, sustained
TOKEN_BURST = 30  # a page with a dozen photos loads them at once
ACTIONS = ("accept", "decline", "progress", "photo", "feedback")

# Every word of the page, marked for the catalog and shown in the reader's language.
WORDS: dict[str, str] = {
    "what": N_("What happened"),
    "where": N_("Where"),
    "map": N_("Open the map"),
    "deadline": N_("Deadline"),
    "instructions": N_("Instructions from the duty office"),
    "accept_by": N_("Accept by"),
    "accept": N_("Accept the case"),
    "decline_open": N_("Cannot take it?"),
    "decline_reason": N_("Reason"),
    "decline": N_("Decline"),
    "progress": N_("Progress note"),
    "progress_hint": N_("What has been done, what is happening"),
    "progress_send": N_("Send the note"),
    "photo": N_("Photos"),
    "photo_kind": N_("Photo of"),
    "photo_send": N_("Upload the photo"),
    "feedback": N_("Handling result"),
    "feedback_hint": N_("What was done and how it ended"),
    "feedback_send": N_("Submit the result"),
    "feedback_after_accept": N_("Accept the case first; then you can report the result."),
    "updates": N_("Field updates"),
    "no_updates": N_("Nothing reported yet."),
    "upload_failed": N_("The upload failed. Check the connection and try again."),
}
FLASH: dict[str, str] = {
    "accept": N_("Accepted. The duty office has been told."),
    "decline": N_("Declined. The duty office has been told."),
    "progress": N_("Progress note recorded."),
    "photo": N_("Photo recorded."),
    "feedback": N_("Result submitted. The duty office will verify it."),
    "again": N_("This form was already sent: nothing changed."),
}
UPDATE_KINDS: dict[str, str] = {
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "progress": N_("progress"),
    "photo": N_("photo"),
    "feedback": N_("result"),
}
PHOTO_KINDS: dict[str, str] = {
    "before": N_("before handling"),
    "progress": N_("during handling"),
    "after": N_("after handling"),
}
ROLES: dict[str, str] = {
    "leader": N_("leader"),
    "member": N_("member"),
    "alternate": N_("alternate"),
    "duty": N_("duty person"),
    "person": N_("handler"),
}


@dataclass(frozen=True)
class Form:
    """The hidden fields of one rendered form."""

    form_id: str
    csrf: str


class _Refused(Exception):
    """The request is refused with ``response`` (already counted where it must be)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["j2", "html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _security_headers(nonce: str) -> dict[str, str]:
    # The link is a bearer secret in the URL: no Referer may carry it anywhere, no cache keep it.
    return {
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "content-security-policy": (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
            f"script-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
    }


def render(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(12)
    text = _environment().get_template(template).render(nonce=nonce, **values)
    return HTMLResponse(text, status, headers=_security_headers(nonce))


def refused_page(en: bool) -> HTMLResponse:
    """403: the link is not (or no longer) valid. Says nothing about why."""
    return render(
        "refused.html.j2",
        403,
        lang="en" if en else "zh",
        title="403",
        heading=in_page_language(N_("This link cannot be used"), en),
        text=in_page_language(
            N_("The link is not valid: it expired, the case was handed on, or it was altered."), en
        ),
    )


def photo_limits(rules: FieldRules) -> PhotoLimits:
    return PhotoLimits(max_bytes=rules.photo_max_bytes, max_pixels=rules.photo_max_pixels)


class CasePages:
    """The handlers of one server, with their per-link rate limit and ingest limiter."""

    def __init__(self, service: HttpService) -> None:
        self.service = service
        self.per_link = Buckets(TOKEN_RATE, TOKEN_BURST, 10_000)
        self._ingesting: anyio.CapacityLimiter | None = None

    @property
    def ingesting(self) -> anyio.CapacityLimiter:
        # Made on first use: a limiter belongs to the event loop that serves the requests.
        if self._ingesting is None:
            self._ingesting = anyio.CapacityLimiter(INGESTS_AT_ONCE)
        return self._ingesting

    @property
    def rules(self) -> FieldRules:
        return self.service.config.field_rules

    # --- plumbing

    def _now(self) -> datetime:
        return self.service.clock.now()

    def _throttle(self, request: Request, token: str) -> None:
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]
        wait = self.per_link.take(key, time.monotonic())
        if wait > 0:
            self.service.refused(address_source(client_address(request)), Failure.RATE_LIMITED)
            raise _Refused(
                Response(
                    "too many requests",
                    429,
                    {"retry-after": str(max(1, int(wait) + 1))},
                    media_type="text/plain",
                )
            )

    def _bad_link(self, request: Request) -> _Refused:
        self.service.refused(address_source(client_address(request)), Failure.BAD_LINK)
        return _Refused(refused_page(english(request)))

    def _claim(self, db: Database, token: str) -> LinkClaim:
        claim = field.read_link(self.service.keys, token, self._now(), self.rules)
        field.check_claim(db, claim)
        return claim

    async def _call(self, request: Request, fn: Callable[[Database], Any]) -> Any:
        """``fn(db)`` on the service's connection; a bad link becomes the counted 403."""
        try:
            return await self.service.db_call(fn)
        except LinkInvalid:
            raise self._bad_link(request) from None

    # --- the page

    def _forms(self, claim: LinkClaim, now: datetime) -> dict[str, Form]:
        keys = self.service.keys
        forms = {}
        for action in ACTIONS:
            form_id = field.new_form_id()
            forms[action] = Form(form_id, field.make_csrf(keys, claim, form_id, now))
        return forms

    def _look(self, db: Database, token: str) -> tuple[LinkClaim, FieldView, dict[str, Form]]:
        now = self._now()
        claim = field.read_link(self.service.keys, token, now, self.rules)
        view = field.field_view(db, claim, now, self.rules)
        return claim, view, self._forms(claim, now)

    async def show(
        self,
        request: Request,
        token: str,
        *,
        status: int = 200,
        error: str | None = None,
    ) -> Response:
        _claim, view, forms = await self._call(request, lambda db: self._look(db, token))
        en = english(request)
        done = request.query_params.get("done", "") if status == 200 else ""
        flash = in_page_language(FLASH[done], en) if done in FLASH else None
        return render(
            "case.html.j2",
            status,
            **page_values(view, forms, token, self._now(), self.service.config.zone, en),
            flash=flash,
            error=error,
        )

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            self._throttle(request, token)
            return await self.show(request, token)
        except _Refused as refused:
            return refused.response

    # --- the actions

    async def act(self, action: str, request: Request) -> Response:
        token = request.path_params["token"]
        en = english(request)
        try:
            self._throttle(request, token)
            try:
                body = await read_body(request, FORM_LIMIT)
            except BodyRefused as exc:
                if exc.response.status_code == 413:
                    return await self.show(
                        request, token, status=413, error=_say(N_("The text is too long."), en)
                    )
                return exc.response
            values = _form_values(body)
            form_id, csrf = values.get("form_id", ""), values.get("csrf")

            def run(db: Database) -> bool:
                claim = self._claim(db, token)
                field.check_csrf(self.service.keys, claim, form_id, csrf, self._now())
                return _perform(db, self.service, claim, action, values, form_id)

            changed = await self._call(request, run)
        except _Refused as refused:
            return refused.response
        except (InvalidInput, InvalidTransition, NotFound) as exc:
            return await self._error(request, token, exc)
        if changed:
            self.service.answered()
        return _back(token, action if changed else "again")

    async def photo(self, request: Request) -> Response:
        token = request.path_params["token"]
        en = english(request)
        rules = self.rules
        try:
            self._throttle(request, token)
            # The link first: an unauthenticated upload is not read at all.
            await self._call(request, lambda db: self._claim(db, token))
            limit = rules.photo_max_bytes + MULTIPART_OVERHEAD
            try:
                body = await read_body(request, limit, photo_deadline(request))
            except BodyRefused as exc:
                if exc.response.status_code == 413:
                    message = _say(N_("The photo is larger than {limit} MB."), en).format(
                        limit=rules.photo_max_bytes // 1_000_000
                    )
                    response = await self.show(request, token, status=413, error=message)
                    response.headers["connection"] = "close"  # the rest of the body is unread
                    return response
                return exc.response
            parts = parse_multipart(body, request.headers.get("content-type", ""))
            form_id = _text(parts.get("form_id"))
            csrf = _text(parts.get("csrf")) or None
            kind = _text(parts.get("kind")) or "progress"

            def check(db: Database) -> int:
                claim = self._claim(db, token)
                field.check_csrf(self.service.keys, claim, form_id, csrf, self._now())
                return field.photos_left(db, claim, rules)

            if await self._call(request, check) <= 0:
                raise InvalidInput(_say(N_("No more photos can be added."), en), "photo")
            if kind not in PHOTO_KINDS:  # checked before anything is stored
                raise InvalidInput(
                    "must be one of {names}".format(names=", ".join(PHOTO_KINDS)), "kind"
                )
            data = parts.get("photo") or b""
            folder = photo_folder(self.service.db_path)
            photo = await anyio.to_thread.run_sync(
                partial(_ingest, data, rules), limiter=self.ingesting
            )

            def record(db: Database) -> bool:
                claim = self._claim(db, token)
                return _stored(
                    photo,
                    folder,
                    partial(
                        field.add_photo,
                        db,
                        self.service.clock,
                        self.service.config.policy,
                        claim,
                        photo=photo,
                        kind=kind,
                        form_id=form_id,
                        rules=rules,
                    ),
                )

            changed = await self._call(request, record)
        except _Refused as refused:
            return refused.response
        except (InvalidInput, InvalidTransition, NotFound) as exc:
            return await self._error(request, token, exc)
        if changed:
            self.service.answered()
        return _back(token, "photo" if changed else "again")

    async def _error(self, request: Request, token: str, exc: Exception) -> Response:
        status = (
            409 if isinstance(exc, InvalidTransition) else 404 if isinstance(exc, NotFound) else 400
        )
        reason = exc.reason if isinstance(exc, InvalidInput) else str(exc)
        try:
            return await self.show(
                request, token, status=status, error=in_page_language(reason, english(request))
            )
        except _Refused as refused:
            return refused.response

    async def photo_file(self, request: Request) -> Response:
        token = request.path_params["token"]
        sha = str(request.path_params["sha"]).lower()
        try:
            self._throttle(request, token)

            def mine(db: Database) -> bool:
                return field.has_photo(db, self._claim(db, token), sha)

            if not await self._call(request, mine):
                raise self._bad_link(request)  # another dispatch's photo: as a bad link
        except _Refused as refused:
            return refused.response
        path = find_photo(photo_folder(self.service.db_path), sha)
        if path is None:
            return Response("not found", 404, media_type="text/plain")
        return FileResponse(
            path,
            media_type="image/png" if path.suffix == ".png" else "image/jpeg",
            headers={
                "cache-control": "private, max-age=600",
                "referrer-policy": "no-referrer",
                "x-content-type-options": "nosniff",
            },
        )


def _say(message: str, en: bool) -> str:
    return in_page_language(message, en)


def _ingest(data: bytes, rules: FieldRules) -> Photo:
    return ingest(data, limits=photo_limits(rules), keep_location=rules.keep_photo_location)


def _stored(photo: Photo, folder: Path, record: Callable[[], bool]) -> bool:
    """Save ``photo``'s file, then ``record()`` its update; whether the update was taken.

    A file written here is removed again when the update is not taken (a replayed form with
    another photo, a case closed meanwhile): a refused upload leaves nothing behind. The caller
    holds the service's connection, so no other upload can come to rely on the file between
    its writing and its removal.
    """
    path = photo_path(folder, photo.sha256, photo.mime)
    new = not path.is_file()
    save(photo, folder)
    taken = False
    try:
        taken = record()
    finally:
        if new and not taken:
            path.unlink(missing_ok=True)
    return taken


def _perform(
    db: Database,
    service: HttpService,
    claim: LinkClaim,
    action: str,
    values: dict[str, str],
    form_id: str,
) -> bool:
    clock, policy = service.clock, service.config.policy
    if action == "accept":
        return field.accept(db, clock, policy, claim, form_id=form_id)
    if action == "decline":
        return field.decline(
            db, clock, policy, claim, reason=values.get("reason", ""), form_id=form_id
        )
    if action == "progress":
        return field.add_progress(
            db, clock, policy, claim, text=values.get("text", ""), form_id=form_id
        )
    return field.submit_feedback(
        db, clock, policy, claim, text=values.get("text", ""), form_id=form_id
    )


def _back(token: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/case/{quote(token, safe='')}?done={done}", 303)


def _form_values(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("must be UTF-8", "body") from exc
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _text(value: bytes | None) -> str:
    if not value:
        return ""
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise InvalidInput("must be UTF-8", "body") from exc


def parse_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body read whole (first value of each name).

    Raises:
        InvalidInput: not multipart, no boundary, more than :data:`MAX_PARTS` parts, or a part
            without a name.
    """
    header = email.message.Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise InvalidInput("must be multipart/form-data", "body")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise InvalidInput("is not complete", "body")
    if len(chunks) - 2 > MAX_PARTS:
        raise InvalidInput("has too many parts", "body")
    out: dict[str, bytes] = {}
    for chunk in chunks[1:-1]:
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise InvalidInput("is not complete", "body")
        part = email.message.Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                part[name.strip()] = value.strip()
        field_name = part.get_param("name", header="content-disposition")
        if not isinstance(field_name, str):
            raise InvalidInput("has a part without a name", "body")
        out.setdefault(field_name, content)
    return out


def _format_left(deadline: datetime, now: datetime, en: bool) -> tuple[str, bool]:
    """``25 min left`` / ``overdue by 1 h 05 min`` in the page's language; whether late."""
    late = now > deadline
    minutes = int(abs(deadline - now) / timedelta(minutes=1))
    hours, mins = divmod(minutes, 60)
    if hours:
        amount = _say(N_("{hours} h {minutes} min"), en).format(hours=hours, minutes=mins)
    else:
        amount = _say(N_("{minutes} min"), en).format(minutes=mins)
    if late:
        return _say(N_("overdue by {amount}"), en).format(amount=amount), True
    return _say(N_("{amount} left"), en).format(amount=amount), False


def page_values(
    view: FieldView,
    forms: dict[str, Form],
    token: str,
    now: datetime,
    zone: Any,
    en: bool,
) -> dict[str, Any]:
    """What the case template shows, every word in the page's language."""

    def at(when: datetime | None) -> str:
        return when.astimezone(zone).strftime("%m-%d %H:%M") if when else ""

    base = f"/case/{quote(token, safe='')}"
    words = {key: _say(text, en) for key, text in WORDS.items()}
    role = _say(ROLES.get(view.role, view.role), en)
    values: dict[str, Any] = {
        "lang": "en" if en else "zh",
        "title": f"{view.number} {view.title}",
        "v": view,
        "w": words,
        "forms": forms,
        "base": base,
        "category": _say(view.category_label, en),
        "urgency": _say(view.urgency_label, en),
        "urgent": view.urgency in ("urgent", "very_urgent"),
        "stage": _say(view.stage_label, en),
        "you": _say(N_("You: {name} ({role})"), en).format(name=view.person_name, role=role),
        "accept_by": at(view.accept_by),
        "photo_kinds": [(kind, _say(label, en)) for kind, label in PHOTO_KINDS.items()],
        "photos_left": _say(N_("JPEG, PNG or HEIC; {count} more can be added."), en).format(
            count=view.photos_left
        ),
    }
    values["accept_left"], values["accept_late"] = _format_left(view.accept_by, now, en)
    values["deadline"] = at(view.deadline)
    if view.deadline is not None:
        values["deadline_left"], values["deadline_late"] = _format_left(view.deadline, now, en)
    if view.accepted_at:
        values["accepted_text"] = _say(N_("You accepted this case at {time}."), en).format(
            time=at(view.accepted_at)
        )
    if view.declined_at:
        values["declined_text"] = _say(N_("You declined this case at {time}."), en).format(
            time=at(view.declined_at)
        )
    if view.dispatch_accepted_at:
        values["taken_text"] = _say(N_("{name} accepted this case at {time}."), en).format(
            name=view.dispatch_accepted_by or "-", time=at(view.dispatch_accepted_at)
        )
    values["updates"] = [
        {
            "at": at(update.at),
            "who": update.person_name,
            "kind": _say(UPDATE_KINDS.get(update.kind, update.kind), en)
            + (
                " · " + _say(PHOTO_KINDS[update.photo_kind], en)
                if update.photo_kind in PHOTO_KINDS
                else ""
            ),
            "text": update.text,
            "photo_url": f"{base}/photo/{update.photo_sha256}" if update.photo_sha256 else None,
            "photo_size": (
                f"{update.photo_width}×{update.photo_height},"
                f" {(update.photo_bytes or 0) // 1024} KB"
                if update.photo_sha256
                else ""
            ),
        }
        for update in view.updates
    ]
    return values


def routes(service: HttpService) -> list[Route]:
    pages = CasePages(service)
    return [
        Route("/case/{token}", pages.page, methods=["GET"]),
        Route("/case/{token}/photo", pages.photo, methods=["POST"]),
        Route("/case/{token}/photo/{sha}", pages.photo_file, methods=["GET"]),
        *(
            Route(f"/case/{{token}}/{action}", partial(pages.act, action), methods=["POST"])
            for action in ("accept", "decline", "progress", "feedback")
        ),
    ]
