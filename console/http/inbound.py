"""Provides ``POST /inbound/sms``: the SMS gateway forwards the replies people send.

The body is JSON ``{"from", "text"}`` (``4821 1`` yes, ``4821 2`` no, ``4821 收到``...); the
code must belong to the number that sent it (:func:`mobilization.answer_by_sms`). A malformed
body gets 400 and changes nothing; the answer comes back in its one JSON form.
"""

from __future__ import annotations

import json
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.http.common import BodyTooLarge, HttpService, read_body
from mobilization import Answer, answer_by_sms
from store.db import Database
from store.errors import InvalidInput, NotFound

SMS_BODY_LIMIT = 16 * 1024


def routes(service: HttpService) -> list[Route]:
    return [
        Route("/inbound/sms", partial(inbound_sms, service), methods=["POST"]),
    ]


async def inbound_sms(service: HttpService, request: Request) -> Response:
    try:
        body = await read_body(request, SMS_BODY_LIMIT)
    except BodyTooLarge:
        return JSONResponse({"error": "body too large"}, 413)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"error": 'body must be JSON {"from", "text"}'}, 400)
    if not isinstance(data, dict):
        return JSONResponse({"error": "body must be a JSON object"}, 400)
    sender, text = data.get("from"), data.get("text")
    for field, value in (("from", sender), ("text", text)):
        if not isinstance(value, str) or not value.strip():
            return JSONResponse(
                {"error": f"{field}: must be a non-empty string", "field": field}, 400
            )
    region = service.config.phone_region

    def answer(db: Database) -> Answer:
        return answer_by_sms(db, service.clock, str(sender), str(text), region=region)

    try:
        result = await service.db_call(answer)
    except InvalidInput as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, 400)
    except NotFound as exc:
        return JSONResponse({"error": str(exc)}, 404)
    service.answered()
    return JSONResponse({"ok": True, **result.to_json()})
