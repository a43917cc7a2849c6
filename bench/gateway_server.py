"""A stand-in SMS gateway for ``bench.mobilize``: answers every message 200 at once.

Runs in a process of its own, so the client being measured does not share its interpreter (and
GIL) with the server. Speaks the contract of :class:`mobilization.channels.SmsSender`:

* ``POST /send`` with one message ``{"id", "to", "text", ...}`` → ``200 {}``;
* ``POST /send`` with ``{"messages": [...]}`` → ``200 {"results": [{"id", "status": 200}]}``;
* ``GET /count`` → ``{"messages", "requests", "bytes"}`` received since the last reset;
* ``POST /reset`` → zeroes the counters.

A single message is counted without being parsed (the reply does not depend on it); a batch is
parsed, since its answer lists the ids. Not part of CI::

    python -m bench.gateway_server --port 8599
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

EMPTY = b"{}"
BATCH_PREFIX = b'{"messages"'


def make_app() -> web.Application:
    counts = {"messages": 0, "requests": 0, "bytes": 0}

    async def send(request: web.Request) -> web.Response:
        body = await request.read()
        counts["requests"] += 1
        counts["bytes"] += len(body)
        if body.startswith(BATCH_PREFIX):
            messages = json.loads(body)["messages"]
            counts["messages"] += len(messages)
            results = [{"id": m.get("id"), "status": 200} for m in messages]
            payload = json.dumps({"results": results}, separators=(",", ":")).encode()
            return web.Response(body=payload, content_type="application/json")
        counts["messages"] += 1
        return web.Response(body=EMPTY, content_type="application/json")

    async def count(_request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def reset(_request: web.Request) -> web.Response:
        for key in counts:
            counts[key] = 0
        return web.json_response(counts)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes([web.post("/send", send), web.get("/count", count), web.post("/reset", reset)])
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(
        make_app(), host=args.host, port=args.port, access_log=None, print=None, backlog=1024
    )


if __name__ == "__main__":
    main()
