"""Provides ``dutydesk serve``: the engine headless, with the endpoints of :mod:`console.http`.

SIGTERM (a service manager's stop) and Ctrl-C stop it cleanly: the listeners, then the engine,
which gives its lease back; the command then exits 0, so a service manager records a clean
stop and a standby engine takes over at once.
"""

from __future__ import annotations

import asyncio

import click

from console.cli.common import State, pass_state
from store.i18n import N_


@click.command("serve")
@click.option("--host", help=N_("Address to listen on (default: [serve] host, else 127.0.0.1)."))
@click.option("--port", type=int, help=N_("Port (default: [serve] port, else 8470)."))
@pass_state
def serve_cmd(state: State, host: str | None, port: int | None) -> None:
    """Run the engine headless with the ack/inbound HTTP endpoints, until SIGTERM or Ctrl-C."""
    from console.http.server import serve

    ctx = state.ctx
    asyncio.run(
        serve(
            ctx.db_path,
            ctx.config,
            host=host or ctx.config.serve_host,
            port=port if port is not None else ctx.config.serve_port,
            clock=ctx.clock,
            announce=lambda line: click.echo(line, err=True),
        )
    )
