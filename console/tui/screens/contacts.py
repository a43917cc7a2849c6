"""Provides the contacts screen: the jurisdiction tree, a unit's people and teams, grid check.

The unit tree (street → communities → grids) is on the left; the right side shows the selected
unit's facts and teams, its people (phones masked, as everywhere on screen) and the
violations of the four grid rules, each of which selects its unit when chosen. The search box
finds people by name or phone digits across the whole jurisdiction. Every read (the tree, a
unit, a search, the grid check: about a second on a county) runs in a thread worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Input, Static, Tree
from textual.widgets.tree import TreeNode

from console.timefmt import local
from console.tui.messages import DataChanged
from console.tui.screens.live import LiveScreen
from console.tui.widgets.keybar import KeyBar
from contacts.people import Person, list_people
from contacts.phones import mask_phone
from contacts.teams import Team, list_teams
from jurisdiction.gridcheck import rule_label
from jurisdiction.models import Level, Unit, Violation
from jurisdiction.units import addresses_of, list_units
from store.db import Database
from store.i18n import N_, _, ngettext

PEOPLE_LIMIT = 200  # people shown for one unit or search; the CLI lists more

PEOPLE_COLUMNS = (N_("name"), N_("unit"), N_("roles"), N_("phone"), N_("state"))
VIOLATION_COLUMNS = (N_("rule"), N_("units"), N_("problem"))


def team_text(team: Team) -> str:
    """``应急救援队 (rescue team, 2 members, leader 王伟)``."""
    kind = team.kind.label
    count = len(team.members)
    if team.leader is None:
        text = ngettext(
            "{team} ({kind}, {count} member)", "{team} ({kind}, {count} members)", count
        )
        return text.format(team=team.name, kind=kind, count=count)
    text = ngettext(
        "{team} ({kind}, {count} member, leader {leader})",
        "{team} ({kind}, {count} members, leader {leader})",
        count,
    )
    return text.format(team=team.name, kind=kind, count=count, leader=team.leader.name)


@dataclass(frozen=True)
class UnitView:
    """What one read of a unit found: its addresses, people and teams."""

    unit: Unit
    addresses: int
    people: list[Person]
    teams: list[Team]


def read_unit(db: Database, unit: Unit) -> UnitView:
    return UnitView(
        unit,
        len(addresses_of(db, unit.code)),
        list_people(db, unit=unit.code, limit=PEOPLE_LIMIT),
        list_teams(db, unit=unit.code),
    )


class ContactsScreen(LiveScreen):
    """通讯录 — who is where in the jurisdiction, and where the grid layout breaks the rules."""

    CSS_PATH = "contacts.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("/", "focus_search", N_("Search")),
        Binding("g", "grid_check", N_("Grid check")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._tree_nodes: dict[str, TreeNode[str]] = {}
        self._units: dict[str, Unit] = {}
        self._violations: list[Violation] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield Tree(_("Jurisdiction"), id="unit-tree")
            with Vertical(id="unit-side"):
                yield Static(id="unit-facts")
                yield Input(placeholder=_("Search people by name or phone (/)"), id="people-search")
                yield DataTable(id="people", cursor_type="row", zebra_stripes=True)
                yield Static(_("Grid check (g)"), classes="section-title")
                yield DataTable(id="violations", cursor_type="row")
        yield KeyBar()

    def on_mount(self) -> None:
        people = self.query_one("#people", DataTable)
        people.add_columns(*(_(name) for name in PEOPLE_COLUMNS))
        violations = self.query_one("#violations", DataTable)
        violations.add_columns(*(_(name) for name in VIOLATION_COLUMNS))
        self.load()
        self.action_grid_check()

    # ---- the tree ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="contacts-tree")
    def load(self) -> None:
        """Read the unit tree and the top unit (the whole jurisdiction until one is chosen)."""
        db = self.desk.ctx.db

        def read() -> tuple[list[Unit], UnitView | None]:
            units = list_units(db)
            top = min(units, key=lambda u: (u.level.rank, u.code), default=None)
            return units, read_unit(db, top) if top is not None else None

        self.read_and_show(read, self._show_tree)

    def _show_tree(self, read: tuple[list[Unit], UnitView | None]) -> None:
        if not self.is_attached:
            return
        units, top = read
        tree = self.query_one("#unit-tree", Tree)
        tree.clear()
        self._tree_nodes = {}
        by_code = {u.code: u for u in units}
        for unit in sorted(units, key=lambda u: (u.level.rank, u.code)):
            parent = self._tree_nodes.get(unit.parent_code or "") if unit.parent_code else None
            anchor = parent if parent is not None else tree.root
            node = anchor.add(
                f"{unit.code} {unit.name}" if unit.level is Level.GRID else unit.name,
                data=unit.code,
                expand=unit.level.rank < Level.COMMUNITY.rank,
                allow_expand=unit.level is not Level.GRID,
            )
            self._tree_nodes[unit.code] = node
        tree.root.expand()
        self._units = by_code
        if top is not None:
            self._show_unit(top)
        else:
            self.query_one("#unit-facts", Static).update(
                _("No units yet: `dutydesk unit add` or `dutydesk contacts import`.")
            )

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        code = event.node.data
        if code and code in self._units:
            self.show_unit(self._units[code])

    @work(thread=True, exclusive=True, exit_on_error=False, group="contacts-unit")
    def show_unit(self, unit: Unit) -> None:
        """Read and show one unit's facts, teams and people."""
        db = self.desk.ctx.db
        self.read_and_show(lambda: read_unit(db, unit), self._show_unit)

    def _show_unit(self, view: UnitView) -> None:
        if not self.is_attached:
            return
        unit, people, teams = view.unit, view.people, view.teams
        facts = [
            f"[b]{unit.name}[/b]  {unit.code}  {unit.level.label}",
            _("Parent: {parent}   since {since}").format(
                parent=unit.parent_code or "—",
                since=local(unit.valid_from, self.desk.ctx.config.zone),
            ),
        ]
        if unit.level is Level.GRID:
            facts.append(
                _(
                    "Households: {households}   population: {population}   "
                    "boundary: {boundary}   addresses: {addresses}"
                ).format(
                    households=unit.households if unit.households is not None else "—",
                    population=unit.population if unit.population is not None else "—",
                    boundary=_("drawn") if unit.boundary else _("none"),
                    addresses=view.addresses,
                )
            )
        facts.append(
            _("People: {count}{more}").format(
                count=len(people), more="+" if len(people) == PEOPLE_LIMIT else ""
            )
        )
        if teams:
            facts.append(_("Teams: {teams}").format(teams="  ".join(team_text(t) for t in teams)))
        self.query_one("#unit-facts", Static).update("\n".join(facts))
        self.show_people(people)

    def show_people(self, people: list[Person]) -> None:
        table = self.query_one("#people", DataTable)
        table.clear()
        for person in people:
            table.add_row(
                person.name,
                person.unit_code or "",
                ", ".join(role.label for role in person.roles),
                mask_phone(person.phone),
                "" if person.active else _("inactive"),
                key=str(person.id),
            )

    # ---- search -----------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one("#people-search", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.search(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="contacts-unit")
    def search(self, text: str) -> None:
        """Find people by name or phone digits across the whole jurisdiction."""
        db = self.desk.ctx.db
        self.read_and_show(
            lambda: (text, list_people(db, text=text, limit=PEOPLE_LIMIT)), self._show_found
        )

    def _show_found(self, found: tuple[str, list[Person]]) -> None:
        if not self.is_attached:
            return
        text, people = found
        self.query_one("#unit-facts", Static).update(
            _("Search “{text}”: {count}").format(text=text, count=len(people))
        )
        self.show_people(people)

    # ---- grid check -------------------------------------------------------------------------

    def action_grid_check(self) -> None:
        """Check the four grid rules and list what breaks them."""
        self.check_grids()

    @work(thread=True, exclusive=True, exit_on_error=False, group="grid-check")
    def check_grids(self) -> None:
        """The grid check, in a worker: about a second on a county."""
        # Here, not at the top: the check needs shapely and numpy (~130 ms of every start).
        from jurisdiction.gridcheck import check_grids

        ctx = self.desk.ctx
        self.read_and_show(
            lambda: check_grids(ctx.db, ctx.config.grid_rules), self._show_violations
        )

    def _show_violations(self, violations: list[Violation]) -> None:
        if not self.is_attached:
            return
        self._violations = violations
        table = self.query_one("#violations", DataTable)
        table.clear()
        for index, violation in enumerate(violations):
            table.add_row(
                rule_label(violation.rule),
                ", ".join(violation.units),
                violation.message,
                key=str(index),
            )
        if not violations:
            table.add_row("✓", "", _("All four rules hold"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "violations" or event.row_key.value is None:
            return
        if not event.row_key.value.isdigit():
            return
        violation = self._violations[int(event.row_key.value)]
        code = violation.units[-1] if violation.units else None
        node = self._tree_nodes.get(code or "")
        if node is not None:
            tree = self.query_one("#unit-tree", Tree)
            node_parent = node.parent
            while node_parent is not None:
                node_parent.expand()
                node_parent = node_parent.parent
            tree.select_node(node)
            tree.move_cursor(node)
            self.show_unit(self._units[code or ""])

    def on_data_changed(self, message: DataChanged) -> None:
        """Another process may have imported contacts: read the tree again. (Nothing this
        console writes changes the contacts.)"""
        if not message.own:
            super().on_data_changed(message)
