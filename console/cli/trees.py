"""Provides ``dutydesk tree ...``: contact trees (call trees) — build, show, check, edit, files.

References are written ``KIND:REF`` (``person:P0001``, ``post:DO``, ``role:grid_leader@G01``,
``role:team_member@T-RESCUE``); ``--kind`` may be given instead of the prefix. ``tree show``
resolves every node at a moment (now, or ``--at``) and shows the people with masked phones.
``tree check`` exits 1 when it finds problems, one per line, so a cron job can warn the office.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from console.cli import render
from console.cli.common import State, emit_json, parse_time, pass_state
from console.timefmt import local
from contacts.people import Person
from contacts.phones import mask_phone
from mobilization import (
    DEFAULT_TREE,
    NodeRef,
    TreeNode,
    add_node,
    build_default_tree,
    check_tree,
    edit_node,
    export_tree,
    get_tree,
    import_tree,
    remove_node,
    resolve,
    shown_ref,
    subtree,
)
from mobilization.trees import problem_label
from store.clock import to_iso
from store.errors import InvalidInput, NotFound
from store.i18n import N_, _

JSON = click.option("--json", "as_json", is_flag=True, help=N_("Print JSON."))
TREE = click.option(
    "--tree", "tree", default=DEFAULT_TREE, show_default=True, help=N_("Which contact tree.")
)
SHOWN_PEOPLE = 5  # a node naming more people shows the first few and a count


def _ref(kind: str | None, ref: str, field: str = "ref") -> NodeRef:
    if kind is None:
        return NodeRef.parse(ref, field)
    if ref.strip().lower().startswith(f"{kind}:"):
        return NodeRef.parse(ref, field)
    return NodeRef(kind, ref.strip())


def _person_json(person: Person, region: str) -> dict[str, Any]:
    return {
        "id": person.id,
        "key": person.shown_key(region=region),
        "name": person.name,
        "phone": mask_phone(person.phone, region) or None,
    }


@click.group("tree")
def tree_group() -> None:
    """Contact trees (call trees) that mobilizations send down."""


@tree_group.command("build")
@TREE
@click.option("--replace", is_flag=True, help=N_("Rebuild the tree if it exists."))
@click.option("--timeout", type=int, default=300, show_default=True, help=N_("Ack timeout (s)."))
@click.option("--repeats", type=int, default=1, show_default=True, help=N_("Resends when silent."))
@JSON
@pass_state
def build_cmd(
    state: State, tree: str, replace: bool, timeout: int, repeats: int, as_json: bool
) -> None:
    """Derive the default tree from the jurisdiction, the teams and the duty posts."""
    ctx = state.ctx
    nodes = build_default_tree(
        ctx.db, ctx.clock, ctx.operator, tree, timeout_s=timeout, repeats=repeats, replace=replace
    )
    if as_json:
        emit_json({"tree": tree, "nodes": len(nodes)})
        return
    click.echo(_("contact tree {tree} built: {count} node(s)").format(tree=tree, count=len(nodes)))


def _node_json(
    node: TreeNode, depth: int, people: list[Person], region: str, full: bool
) -> dict[str, Any]:
    return {
        "code": node.code,
        "parent": node.parent_code,
        "depth": depth,
        "kind": node.kind,
        "ref": shown_ref(node.node_ref, region).partition(":")[2],
        "label": node.label,
        "timeout_s": node.timeout_s,
        "repeats": node.repeats,
        "alternates": [shown_ref(a, region) for a in node.alternates],
        "count": len(people),
        "people": [_person_json(p, region) for p in (people if full else people[:SHOWN_PEOPLE])],
    }


@tree_group.command("show")
@click.argument("node", required=False)
@TREE
@click.option("--at", "when", help=N_("Resolve posts and roles at this time (default: now)."))
@JSON
@pass_state
def show_cmd(state: State, node: str | None, tree: str, when: str | None, as_json: bool) -> None:
    """Print the tree (or the branch under NODE) with the people each node reaches."""
    ctx = state.ctx
    zone, region = ctx.config.zone, ctx.config.phone_region
    at = parse_time(when, ctx.clock.now(), zone, "at") if when else ctx.clock.now()
    nodes = get_tree(ctx.db, tree)
    if not nodes:
        raise NotFound(
            _("no contact tree {tree} (build one with: dutydesk tree build)").format(tree=tree)
        )
    if node is None:
        roots = [n for n in nodes if n.parent_id is None]
        start = min(roots, key=lambda n: (n.position, n.id)).code if roots else nodes[0].code
    else:
        start = node
    walked = subtree(nodes, start)
    resolved = [(depth, n, resolve(ctx.db, n, at)) for depth, n in walked]
    if as_json:
        emit_json(
            {
                "tree": tree,
                "at": to_iso(at),
                "nodes": [_node_json(n, d, people, region, True) for d, n, people in resolved],
            }
        )
        return
    click.echo(_("contact tree {tree} at {time}").format(tree=tree, time=local(at, zone)))
    for depth, n, people in resolved:
        pad = "  " * depth
        alternates = (
            "  "
            + _("alt: {refs}").format(refs=", ".join(shown_ref(a, region) for a in n.alternates))
            if n.alternates
            else ""
        )
        timing = _("{seconds}s x{repeats}").format(seconds=n.timeout_s, repeats=n.repeats)
        click.echo(
            f"{pad}{n.code}  {n.label}  [{shown_ref(n.node_ref, region)}]  {timing}{alternates}"
        )
        if not people:
            click.echo(f"{pad}    → " + _("nobody"))
            continue
        shown = ", ".join(
            f"{p.name} {mask_phone(p.phone, region) or _('(no phone)')}"
            for p in people[:SHOWN_PEOPLE]
        )
        more = (
            " " + _("… {count} people").format(count=len(people))
            if len(people) > SHOWN_PEOPLE
            else ""
        )
        click.echo(f"{pad}    → {shown}{more}")


@tree_group.command("check")
@TREE
@click.option("--at", "when", help=N_("Resolve at this time (default: now)."))
@JSON
@pass_state
def check_cmd(state: State, tree: str, when: str | None, as_json: bool) -> int:
    """Report nodes that reach nobody, people with no channel, cycles. Exit 1 on problems."""
    ctx = state.ctx
    at = parse_time(when, ctx.clock.now(), ctx.config.zone, "at") if when else ctx.clock.now()
    problems = check_tree(ctx.db, tree, at)
    if as_json:
        emit_json(
            render.check_json(render.problem_json(p.kind, p.message, p.node_code) for p in problems)
        )
    else:
        for p in problems:
            click.echo(f"{problem_label(p.kind)}: {p.message}")
        if not problems:
            click.echo(_("contact tree {tree}: no problems").format(tree=tree))
    return 1 if problems else 0


def _check_numbers(timeout: int | None, repeats: int | None) -> None:
    # Click's IntRange would report a usage error; the domain names the field the same way.
    for value, field in ((timeout, "timeout"), (repeats, "repeats")):
        if value is not None and value < (1 if field == "timeout" else 0):
            raise InvalidInput(
                _("must be at least {minimum}").format(minimum=1 if field == "timeout" else 0),
                field,
            )


@tree_group.command("add")
@click.argument("node")
@click.option("--parent", help=N_("The parent node (omit only for the root of a new tree)."))
@click.option("--kind", type=click.Choice(["person", "post", "role"]), help=N_("Kind of --ref."))
@click.option("--ref", required=True, help=N_("person:KEY, post:CODE or role:ROLE@UNIT."))
@click.option("--label", help=N_("What the node is called (default: from the reference)."))
@click.option("--timeout", type=int, default=300, show_default=True, help=N_("Ack timeout (s)."))
@click.option("--repeats", type=int, default=1, show_default=True, help=N_("Resends when silent."))
@click.option("--alternate", "alternates", multiple=True, help=N_("An alternate, in order."))
@TREE
@JSON
@pass_state
def add_cmd(
    state: State,
    node: str,
    parent: str | None,
    kind: str | None,
    ref: str,
    label: str | None,
    timeout: int,
    repeats: int,
    alternates: tuple[str, ...],
    tree: str,
    as_json: bool,
) -> None:
    """Add NODE under --parent."""
    ctx = state.ctx
    _check_numbers(timeout, repeats)
    added = add_node(
        ctx.db,
        ctx.clock,
        ctx.operator,
        tree,
        node,
        _ref(kind, ref),
        parent=parent,
        label=label,
        alternates=list(alternates),
        timeout_s=timeout,
        repeats=repeats,
    )
    if as_json:
        emit_json({"code": added.code, "parent": added.parent_code, "label": added.label})
        return
    click.echo(
        _("node {code} ({label}) added under {parent}").format(
            code=added.code, label=added.label, parent=added.parent_code or _("(root)")
        )
    )


@tree_group.command("edit")
@click.argument("node")
@click.option("--parent", help=N_("Move the node under this one."))
@click.option("--kind", type=click.Choice(["person", "post", "role"]), help=N_("Kind of --ref."))
@click.option("--ref", help=N_("A new reference."))
@click.option("--label", help=N_("A new label."))
@click.option("--timeout", type=int, help=N_("A new ack timeout (s)."))
@click.option("--repeats", type=int, help=N_("A new resend count."))
@click.option("--alternate", "alternates", multiple=True, help=N_("Alternates (replace the list)."))
@click.option("--no-alternates", is_flag=True, help=N_("Remove every alternate."))
@TREE
@pass_state
def edit_cmd(
    state: State,
    node: str,
    parent: str | None,
    kind: str | None,
    ref: str | None,
    label: str | None,
    timeout: int | None,
    repeats: int | None,
    alternates: tuple[str, ...],
    no_alternates: bool,
    tree: str,
) -> None:
    """Change NODE: its reference, label, timeout, repeats, alternates or parent."""
    ctx = state.ctx
    if alternates and no_alternates:
        raise InvalidInput(_("give --alternate or --no-alternates, not both"), "alternate")
    _check_numbers(timeout, repeats)
    edited = edit_node(
        ctx.db,
        ctx.clock,
        ctx.operator,
        tree,
        node,
        ref=_ref(kind, ref) if ref is not None else None,
        label=label,
        alternates=[] if no_alternates else (list(alternates) if alternates else None),
        timeout_s=timeout,
        repeats=repeats,
        parent=parent,
    )
    click.echo(_("node {code} updated").format(code=edited.code))


@tree_group.command("remove")
@click.argument("node")
@click.option("--cascade", is_flag=True, help=N_("Also remove everything below NODE."))
@TREE
@pass_state
def remove_cmd(state: State, node: str, cascade: bool, tree: str) -> None:
    """Remove NODE (refused while it has children, unless --cascade)."""
    ctx = state.ctx
    codes = remove_node(ctx.db, ctx.clock, ctx.operator, tree, node, cascade=cascade)
    click.echo(
        _("{count} node(s) removed: {codes}").format(count=len(codes), codes=", ".join(codes))
    )


@tree_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@TREE
@click.option("--replace", is_flag=True, help=N_("Replace the tree if it exists."))
@pass_state
def import_cmd(state: State, file: Path, tree: str, replace: bool) -> None:
    """Read a tree from a nested JSON FILE (the form `tree export` writes); all or nothing."""
    ctx = state.ctx
    nodes = import_tree(ctx.db, ctx.clock, ctx.operator, tree, file, replace=replace)
    click.echo(
        _("contact tree {tree} imported: {count} node(s)").format(tree=tree, count=len(nodes))
    )


@tree_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@TREE
@pass_state
def export_cmd(state: State, file: Path, tree: str) -> None:
    """Write the tree to FILE as nested JSON."""
    count = export_tree(state.ctx.db, tree, file)
    click.echo(
        _("contact tree {tree}: {count} node(s) written to {file}").format(
            tree=tree, count=count, file=file
        )
    )
