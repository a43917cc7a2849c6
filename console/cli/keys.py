"""Provides ``dutydesk keys``: rotate the installation's signing key, show the keys' ids and dates.

The keys live in a file outside the database (:mod:`store.keys`). ``rotate`` adds a new key that
signs from now on; the older ones keep verifying what they signed for as long as it can be valid
(a link at most :data:`mobilization.acks.LINK_LIFE_MAX` after its key was retired), so links
already sent keep working and a link minted later with a stolen old key does not. ``show``
lists ids, creation and retirement dates, never a secret. A running ``dutydesk serve`` reads
the file when it starts: restart it after a rotation so it signs with the new key.
"""

from __future__ import annotations

from typing import Any

import click

from console.cli import render
from console.cli.common import State, emit_json, pass_state
from store.i18n import N_, _


@click.group("keys")
def keys_group() -> None:
    """The signing keys of ack links and audit checkpoints (a file outside the database)."""


def _rows(state: State) -> list[dict[str, Any]]:
    ring = state.ctx.keys
    rows = []
    for key in ring.keys:
        retired = ring.retired_at(key.kid)
        rows.append(
            {
                "id": key.kid,
                "created": render.iso(key.created),
                "retired": render.iso(retired) if retired is not None else None,
                "signing": key is ring.current,
            }
        )
    return rows


@keys_group.command("show")
@click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
@pass_state
def keys_show_cmd(state: State, as_json: bool) -> None:
    """List the keys: id, created, retired; the last one signs. Never shows a secret."""
    rows = _rows(state)
    path = state.ctx.config.key_path(state.ctx.db_path)
    if as_json:
        emit_json({"file": str(path), "keys": rows})
        return
    click.echo(_("key file: {path}").format(path=path))
    for row in rows:
        signs = row["signing"]
        status = _("signs") if signs else _("retired {at}").format(at=row["retired"])
        click.echo(f"{row['id']}  {row['created']}  {status}")


@keys_group.command("rotate")
@pass_state
def keys_rotate_cmd(state: State) -> None:
    """Add a new signing key; links signed with the older keys keep working while valid."""
    from store.audit import append_event
    from store.clock import to_iso
    from store.db import write
    from store.keys import rotate_keys

    ctx = state.ctx
    old = ctx.keys  # creates the file (and adopts an older secret) if there is none yet
    path = ctx.config.key_path(ctx.db_path)
    ring = rotate_keys(path, ctx.clock.now())
    with write(ctx.db):
        append_event(
            ctx.db,
            at=to_iso(ctx.clock.now()),
            operator=ctx.operator,
            kind="keys_rotated",
            data={"new": ring.current.kid, "retired": old.current.kid},
        )
    click.echo(
        _("new signing key {new}; {old} retired (it still verifies what it signed)").format(
            new=ring.current.kid, old=old.current.kid
        )
    )
    click.echo(_("restart dutydesk serve so that it signs with the new key"), err=True)
