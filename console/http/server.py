"""Provides ``dutydesk serve``: the engine headless, with the HTTP endpoints people answer through.

Endpoints (starlette on uvicorn, loopback by default):

* ``GET /ack/<token>`` — a small confirm page in the reader's language (Chinese unless the
  browser prefers English) with "coming" / "can't come" buttons;
  ``POST /ack/<token>`` — records the answer (form or JSON ``{"answer": "yes"|"no", "eta": 15}``).
  A forged, altered or expired token gets 403 and a security entry in the audit log.
* ``POST /inbound/sms`` — the SMS gateway forwards replies as JSON ``{"from", "text"}``
  (``4821 1`` yes, ``4821 2`` no, ``4821 收到``...).
* ``GET /healthz`` — the engine's state, for monitoring.

Bodies are size-limited (413 beyond); malformed input gets 400 and changes nothing. Every
answer wakes the engine so the next level of a cascade goes out at once. Handlers touch the
database on a worker thread through their own connection, never on the event loop the engine
and the server share.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from console.config import Config
from console.engine import Engine
from mobilization import (
    Answer,
    Routing,
    answer_by_sms,
    check_token,
    get_mobilization,
    record_answer,
)
from store.clock import Clock, SystemClock
from store.db import Database, connect
from store.errors import DutydeskError, InvalidInput, NotFound, PermissionDenied

ACK_BODY_LIMIT = 4 * 1024
SMS_BODY_LIMIT = 16 * 1024
T = TypeVar("T")


class BodyTooLarge(Exception):
    """A request body over its endpoint's limit: answered 413, never read further."""


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return body


def _english(request: Request) -> bool:
    accept = request.headers.get("accept-language", "").lower()
    return accept.startswith("en")


_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; }}
.drill {{ background: #fde68a; padding: .2rem .5rem; font-weight: bold; }}
button {{ font-size: 1.2rem; padding: .8rem 1.2rem; margin: .4rem .4rem .4rem 0; }}
.yes {{ background: #15803d; color: white; }} .no {{ background: #b91c1c; color: white; }}
</style></head><body>
{body}
</body></html>"""


def _page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(lang=lang, title=html.escape(title), body=body), status)


class AckService:
    """The endpoints over one database; build with :func:`create_app`."""

    def __init__(
        self,
        db_path: Path,
        config: Config,
        clock: Clock,
        engine: Engine | None,
    ) -> None:
        self.db_path = db_path
        self.config = config
        self.clock = clock
        self.engine = engine
        self._db: Database | None = None
        self._lock = threading.Lock()

    async def _db_call(self, fn: Callable[[Database], T]) -> T:
        def call() -> T:
            with self._lock:
                if self._db is None:
                    self._db = connect(self.db_path)
                return fn(self._db)

        return await anyio.to_thread.run_sync(call)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _answered(self, answer: Answer) -> None:
        if self.engine is not None:
            self.engine.wake()

    # --- /ack/<token>
    async def ack_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        en = _english(request)
        remote = request.client.host if request.client else ""

        def look(db: Database) -> dict[str, Any]:
            rid = check_token(db, self.clock, token, remote=remote)
            row = db.conn.execute(
                "SELECT name, mobilization_id, state, answered_at FROM recipients WHERE id = ?",
                (rid,),
            ).fetchone()
            mob = get_mobilization(db, int(row[1]))
            return {"name": row[0], "mob": mob, "state": row[2], "answered": row[3]}

        try:
            info = await self._db_call(look)
        except PermissionDenied:
            return self._refused(en)
        except NotFound:
            return _page("en" if en else "zh", "Not found", "<p>Not found / 未找到</p>", 404)
        mob = info["mob"]
        drill = '<p class="drill">演练 EXERCISE</p>' if mob.exercise else ""
        name = html.escape(info["name"])
        message = html.escape(mob.message)
        if en:
            title, hello, prompt = "Mobilization", f"{name}, you are called:", "Can you come?"
            yes, no, eta = "Coming", "Can't come", "ETA (minutes, optional)"
            already = "Your answer so far: " if info["answered"] else ""
        else:
            title, hello, prompt = "动员通知", f"{name}，您收到动员：", "能否到岗？"
            yes, no, eta = "到岗", "不能到", "预计多少分钟到（可不填）"
            already = "您已回复：" if info["answered"] else ""
        shown = ""
        if already:
            shown = f"<p>{already}{html.escape(info['state'])}</p>"
        body = (
            f"{drill}<h1>{title}</h1><p>{hello}</p><p><strong>{message}</strong></p>{shown}"
            f"<form method='post'><p>{prompt}</p>"
            f"<label>{eta} <input name='eta' inputmode='numeric' size='4'></label><br>"
            f"<button class='yes' name='answer' value='yes'>{yes}</button>"
            f"<button class='no' name='answer' value='no'>{no}</button></form>"
        )
        return _page("en" if en else "zh", title, body)

    def _refused(self, en: bool) -> HTMLResponse:
        text = (
            "This link is not valid (expired or altered)."
            if en
            else "此链接无效（已过期或被修改）。"
        )
        return _page("en" if en else "zh", "403", f"<p>{text}</p>", 403)

    async def ack_post(self, request: Request) -> Response:
        token = request.path_params["token"]
        en = _english(request)
        wants_json = "json" in request.headers.get("content-type", "") or "json" in (
            request.headers.get("accept", "")
        )
        try:
            body = await _read_body(request, ACK_BODY_LIMIT)
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, 413)
        try:
            yes, eta = _parse_ack_body(body, request.headers.get("content-type", ""))
        except InvalidInput as exc:
            return JSONResponse({"error": str(exc), "field": exc.field}, 400)
        remote = request.client.host if request.client else ""

        def answer(db: Database) -> Answer:
            rid = check_token(db, self.clock, token, remote=remote)
            return record_answer(
                db, self.clock, "ack-link", yes=yes, via="link", recipient_id=rid, eta_min=eta
            )

        try:
            result = await self._db_call(answer)
        except PermissionDenied:
            if wants_json:
                return JSONResponse({"error": "invalid or expired token"}, 403)
            return self._refused(en)
        except NotFound as exc:
            return JSONResponse({"error": str(exc)}, 404)
        except InvalidInput as exc:
            return JSONResponse({"error": str(exc), "field": exc.field}, 400)
        self._answered(result)
        if wants_json:
            return JSONResponse(_answer_json(result))
        if en:
            text = "Recorded: coming. Thank you." if yes else "Recorded: you can't come."
        else:
            text = "已记录：到岗。谢谢！" if yes else "已记录：不能到。"
        return _page("en" if en else "zh", "OK", f"<h1>{text}</h1>")

    # --- /inbound/sms
    async def inbound_sms(self, request: Request) -> Response:
        try:
            body = await _read_body(request, SMS_BODY_LIMIT)
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
        region = self.config.phone_region

        def answer(db: Database) -> Answer:
            return answer_by_sms(db, self.clock, str(sender), str(text), region=region)

        try:
            result = await self._db_call(answer)
        except InvalidInput as exc:
            return JSONResponse({"error": str(exc), "field": exc.field}, 400)
        except NotFound as exc:
            return JSONResponse({"error": str(exc)}, 404)
        self._answered(result)
        return JSONResponse(_answer_json(result))

    async def healthz(self, request: Request) -> Response:
        state = self.engine.state if self.engine is not None else "none"
        return JSONResponse({"ok": True, "engine": state})


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {"ok": True, **answer.to_json()}


def _parse_ack_body(body: bytes, content_type: str) -> tuple[bool, int | None]:
    """``answer`` (yes/no/1/2) and an optional ``eta`` in minutes, from a form or JSON body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("must be UTF-8", "body") from exc
    if "json" in content_type:
        try:
            data = json.loads(text) if text else {}
        except ValueError as exc:
            raise InvalidInput("is not valid JSON", "body") from exc
        if not isinstance(data, dict):
            raise InvalidInput("must be a JSON object", "body")
    else:
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


def _lifespan(service: AckService):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            service.close()

    return lifespan


def create_app(
    db_path: Path, config: Config, clock: Clock | None = None, engine: Engine | None = None
) -> Starlette:
    """The ASGI app of the endpoints; ``app.state.service`` is its :class:`AckService`."""
    service = AckService(db_path, config, clock or SystemClock(), engine)
    app = Starlette(
        routes=[
            Route("/ack/{token}", service.ack_page, methods=["GET"]),
            Route("/ack/{token}", service.ack_post, methods=["POST"]),
            Route("/inbound/sms", service.inbound_sms, methods=["POST"]),
            Route("/healthz", service.healthz, methods=["GET"]),
        ],
        lifespan=_lifespan(service),
    )
    app.state.service = service
    return app


async def serve(
    db_path: Path,
    config: Config,
    *,
    host: str,
    port: int,
    clock: Clock | None = None,
    engine: Engine | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the engine and the HTTP endpoints until SIGINT/SIGTERM; the engine stops cleanly."""
    clock = clock or SystemClock()
    # Ack links point at this server unless the office set a public address for it.
    base_url = config.public_url or f"http://{host}:{port}"
    routing = Routing(configured=config.channels.configured, base_url=base_url)
    engine = engine or Engine(db_path, config, clock=clock, routing=routing)
    app = create_app(db_path, config, clock, engine)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", ws="none")
    )
    stop = asyncio.Event()
    runner = asyncio.ensure_future(engine.run(stop))
    if announce is not None:
        announce(f"dutydesk serve: http://{host}:{port}  (engine {engine.holder})")
    try:
        await server.serve()
    finally:
        stop.set()
        await runner
    if server.started is False and not server.should_exit:
        raise DutydeskError(f"could not listen on {host}:{port}")
