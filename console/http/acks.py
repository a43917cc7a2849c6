"""Provides the signed acknowledgement links: ``GET /ack/<token>`` and ``POST /ack/<token>``.

The GET is a small confirm page in the reader's language (Chinese unless the browser prefers
English) with "coming" / "can't come" buttons; the POST records the answer from the form or
from JSON ``{"answer": "yes"|"no", "eta": 15}`` and answers with the one JSON form of an answer
(:meth:`mobilization.Answer.to_json`). A forged, altered or expired token gets 403 and is counted
in the security ledger (:mod:`console.http.security`: one audit summary a minute, never a row per
request); a link to a mobilization that was completed or cancelled gets 410 and a page saying
the call-out is over, on GET and POST alike.
"""

from __future__ import annotations

import html
from functools import partial
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from console.http.common import (
    BodyRefused,
    HttpService,
    client_address,
    english,
    in_page_language,
    page,
    parse_json,
    read_body,
)
from console.http.security import Failure, address_source
from mobilization import (
    RECIPIENT_STATE_NAMES,
    Answer,
    Called,
    CallOutOver,
    LinkRefused,
    called_by_token,
    check_token,
    record_answer,
)
from store.db import Database
from store.errors import InvalidInput, NotFound

ACK_BODY_LIMIT = 4 * 1024


def routes(service: HttpService) -> list[Route]:
    return [
        Route("/ack/{token}", partial(ack_page, service), methods=["GET"]),
        Route("/ack/{token}", partial(ack_post, service), methods=["POST"]),
    ]


async def ack_page(service: HttpService, request: Request) -> Response:
    token = request.path_params["token"]
    en = english(request)

    def look(db: Database) -> Called:
        return called_by_token(db, service.clock, service.keys, token)

    try:
        called = await service.db_call(look)
    except LinkRefused:
        service.refused(address_source(client_address(request)), Failure.BAD_LINK)
        return refused(en)
    except CallOutOver as exc:
        return over(en, exc.mobilization.exercise)
    except NotFound:
        return page("en" if en else "zh", "Not found", "<p>Not found / 未找到</p>", 404)
    mob = called.mobilization
    drill = '<p class="drill">演练 EXERCISE</p>' if mob.exercise else ""
    name = html.escape(called.name)
    message = html.escape(mob.message)
    if en:
        title, hello, prompt = "Mobilization", f"{name}, you are called:", "Can you come?"
        yes, no, eta = "Coming", "Can't come", "ETA (minutes, optional)"
        already = "Your answer so far: " if called.answered_at else ""
    else:
        title, hello, prompt = "动员通知", f"{name}，您收到动员：", "能否到岗？"
        yes, no, eta = "到岗", "不能到", "预计多少分钟到（可不填）"
        already = "您已回复：" if called.answered_at else ""
    shown = ""
    if already:
        label = in_page_language(RECIPIENT_STATE_NAMES[called.state], en)
        shown = f"<p>{already}{html.escape(label)}</p>"
    body = (
        f"{drill}<h1>{title}</h1><p>{hello}</p><p><strong>{message}</strong></p>{shown}"
        f"<form method='post'><p>{prompt}</p>"
        f"<label>{eta} <input name='eta' inputmode='numeric' size='4'></label><br>"
        f"<button class='yes' name='answer' value='yes'>{yes}</button>"
        f"<button class='no' name='answer' value='no'>{no}</button></form>"
    )
    return page("en" if en else "zh", title, body)


def refused(en: bool) -> HTMLResponse:
    text = (
        "This link is not valid (expired or altered)." if en else "此链接无效（已过期或被修改）。"
    )
    return page("en" if en else "zh", "403", f"<p>{text}</p>", 403)


def over(en: bool, exercise: bool = False) -> HTMLResponse:
    """410: the call-out this link belongs to was completed or cancelled."""
    drill = '<p class="drill">演练 EXERCISE</p>' if exercise else ""
    if en:
        title = "Call-out over"
        text = "This call-out is over: your answer is no longer needed and was not recorded."
    else:
        title = "动员已结束"
        text = "本次动员已结束，无需再回复，您的回复未被记录。"
    return page("en" if en else "zh", title, f"{drill}<h1>{title}</h1><p>{text}</p>", 410)


async def ack_post(service: HttpService, request: Request) -> Response:
    token = request.path_params["token"]
    en = english(request)
    wants_json = "json" in request.headers.get("content-type", "") or "json" in (
        request.headers.get("accept", "")
    )
    try:
        body = await read_body(request, ACK_BODY_LIMIT)
    except BodyRefused as exc:
        return exc.response
    try:
        yes, eta = parse_ack_body(body, request.headers.get("content-type", ""))
    except InvalidInput as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, 400)

    def answer(db: Database) -> Answer:
        rid = check_token(db, service.clock, service.keys, token)
        return record_answer(
            db,
            service.clock,
            "ack-link",
            yes=yes,
            via="link",
            recipient_id=rid,
            eta_min=eta,
            open_only=True,
        )

    try:
        result = await service.db_call(answer)
    except LinkRefused:
        service.refused(address_source(client_address(request)), Failure.BAD_LINK)
        if wants_json:
            return JSONResponse({"error": "invalid or expired token"}, 403)
        return refused(en)
    except CallOutOver as exc:
        if wants_json:
            return JSONResponse({"error": "the call-out is over", "over": True}, 410)
        return over(en, exc.mobilization.exercise)
    except NotFound as exc:
        return JSONResponse({"error": str(exc)}, 404)
    except InvalidInput as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, 400)
    service.answered()
    if wants_json:
        return JSONResponse({"ok": True, **result.to_json()})
    if en:
        text = "Recorded: coming. Thank you." if yes else "Recorded: you can't come."
    else:
        text = "已记录：到岗。谢谢！" if yes else "已记录：不能到。"
    return page("en" if en else "zh", "OK", f"<h1>{text}</h1>")


def parse_ack_body(body: bytes, content_type: str) -> tuple[bool, int | None]:
    """``answer`` (yes/no/1/2) and an optional ``eta`` in minutes, from a form or JSON body."""
    if "json" in content_type:
        data = parse_json(body) if body.strip() else {}
        if not isinstance(data, dict):
            raise InvalidInput("must be a JSON object", "body")
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("must be UTF-8", "body") from exc
        data = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    raw = str(data.get("answer", "")).strip().lower()
    if raw in ("yes", "1", "y", "true"):
        yes = True
    elif raw in ("no", "2", "n", "false"):
        yes = False
    else:
        raise InvalidInput("must be yes or no", "answer")
    eta_raw = data.get("eta")
    eta: int | None = None
    if eta_raw not in (None, ""):
        try:
            eta = int(str(eta_raw).strip())
        except ValueError as exc:
            raise InvalidInput("must be a whole number of minutes", "eta") from exc
        if not 0 <= eta <= 24 * 60:
            raise InvalidInput("must be between 0 and 1440 minutes", "eta")
    return yes, eta
