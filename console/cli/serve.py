"""Provides ``dutydesk serve``: the engine headless, with the endpoints of :mod:`console.http`.

SIGTERM (a service manager's stop) and Ctrl-C stop it cleanly: the listeners, then the engine,
which gives its lease back; the command then exits 0, so a service manager records a clean
stop and a standby engine takes over at once.

``--hub`` serves the hub's routes for the units below whatever ``[hub] enabled`` says (the
engine then runs the hub's timers too): :func:`run_serve` is also what ``dutydesk hub serve``
runs.
"""

from __future__ import annotations

import asyncio
import dataclasses

import click

from console.cli.common import State, pass_state
from store.i18n import N_


@click.command("serve")
@click.option("--host", help=N_("Address to listen on (default: [serve] host, else 127.0.0.1)."))
@click.option("--port", type=int, help=N_("Port (default: [serve] port, else 8470)."))
@click.option(
    "--hub",
    is_flag=True,
    help=N_("Also receive from the units below (as [hub] enabled = true)."),
)
@pass_state
def serve_cmd(state: State, host: str | None, port: int | None, hub: bool) -> None:
    """Run the engine headless with the ack/inbound HTTP endpoints, until SIGTERM or Ctrl-C."""
    run_serve(state, host, port, hub=hub)


def run_serve(state: State, host: str | None, port: int | None, *, hub: bool = False) -> None:
    """Serve until a signal; ``hub`` turns the hub's routes on whatever the configuration says."""
    from console.http.server import serve

    ctx = state.ctx
    config = ctx.config
    if hub and not config.hub.enabled:
        config = dataclasses.replace(config, hub=dataclasses.replace(config.hub, enabled=True))
    asyncio.run(
        serve(
            ctx.db_path,
            config,
            host=host or config.serve_host,
            port=port if port is not None else config.serve_port,
            clock=ctx.clock,
            announce=lambda line: click.echo(line, err=True),
        )
    )
